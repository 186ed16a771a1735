"""Megatron tensor parallelism on simulated devices vs unsplit numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.parallel import (
    attention_by_heads,
    comm_volume_per_layer,
    megatron_mlp,
    mesh_matmul,
    mlp_grads,
    vocab_parallel_cross_entropy,
    vocab_parallel_embedding,
)


@settings(max_examples=40, deadline=None)
@given(
    n=st.sampled_from([1, 2, 3, 4, 8]),
    rows=st.integers(1, 6),
    h=st.integers(1, 6),
    mult=st.integers(1, 3),
    seed=st.integers(0, 999),
)
def test_mlp_split_equals_unsplit(n, rows, h, mult, seed):
    rng = np.random.default_rng(seed)
    f = n * mult
    x, a, b = rng.normal(size=(rows, h)), rng.normal(size=(h, f)), rng.normal(size=(f, h))
    ba, bb = rng.normal(size=f), rng.normal(size=h)
    res = megatron_mlp(x, a, b, n, ba, bb)
    np.testing.assert_allclose(res.output, res.reference, atol=1e-10)
    assert len(res.a_shards) == n and res.a_shards[0].shape == (h, f // n)


def test_mlp_matches_torch_and_gradients_match_autograd():
    import torch

    rng = np.random.default_rng(0)
    x, a, b, dy = (rng.normal(size=s) for s in [(5, 6), (6, 24), (24, 6), (5, 6)])
    tx, ta, tb = (torch.tensor(v, requires_grad=True) for v in (x, a, b))
    y = torch.nn.functional.gelu(tx @ ta, approximate="tanh") @ tb
    y.backward(torch.tensor(dy))
    np.testing.assert_allclose(megatron_mlp(x, a, b, 4).output, y.detach().numpy(), atol=1e-10)
    for n in (1, 2, 4):
        g = mlp_grads(x, a, b, dy, n)
        np.testing.assert_allclose(g["dA"], ta.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(g["dB"], tb.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(g["dX"], tx.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("heads, n", [(4, 1), (4, 2), (4, 4), (6, 3), (8, 2)])
def test_attention_by_heads_matches_torch(heads, n):
    import torch

    rng = np.random.default_rng(heads * 10 + n)
    s, h = 7, 2 * heads
    x, wq, wk, wv, wo = (rng.normal(size=sh) for sh in [(s, h), (h, h), (h, h), (h, h), (h, h)])
    res = attention_by_heads(x, wq, wk, wv, wo, heads, n)
    q, k, v = (torch.tensor(x @ w).reshape(s, heads, h // heads).transpose(0, 1) for w in (wq, wk, wv))
    ctx = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    want = ctx.transpose(0, 1).reshape(s, h).numpy() @ wo
    np.testing.assert_allclose(res.output, want, atol=1e-10)
    np.testing.assert_allclose(res.reference, want, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(n=st.sampled_from([1, 2, 4]), per=st.integers(1, 5), seed=st.integers(0, 999))
def test_vocab_embedding(n, per, seed):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(n * per, 3))
    ids = rng.integers(0, n * per, size=9)
    res = vocab_parallel_embedding(ids, table, n)
    np.testing.assert_allclose(res["output"], table[ids])
    # every id is found on exactly one device
    nonzero = sum((np.abs(p).sum(axis=1) > 0).astype(int) for p in res["partials"])
    assert (nonzero <= 1).all()


@settings(max_examples=30, deadline=None)
@given(n=st.sampled_from([1, 2, 4, 8]), per=st.integers(1, 4), seed=st.integers(0, 999))
def test_vocab_parallel_cross_entropy_matches_torch(n, per, seed):
    import torch

    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3, size=(6, n * per))
    targets = rng.integers(0, n * per, size=6)
    res = vocab_parallel_cross_entropy(logits, targets, n)
    want = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(targets), reduction="none"
    ).numpy()
    np.testing.assert_allclose(res.loss, want, atol=1e-10)
    np.testing.assert_allclose(res.reference, want, atol=1e-10)


def test_max_all_reduce_for_the_exp_sum_is_wrong():
    # The book reduces the exp-sum with MAX; that keeps only one shard's softmax mass.
    rng = np.random.default_rng(1)
    logits, targets = rng.normal(size=(4, 8)), rng.integers(0, 8, size=4)
    res = vocab_parallel_cross_entropy(logits, targets, 2)
    assert np.all(res.wrong_max_loss < res.reference - 1e-3)


def test_mesh_matmul_and_groups():
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(5, 6))
    res = mesh_matmul(x, w, 2, 3)
    np.testing.assert_allclose(res["output"], x @ w)
    assert res["row_groups"] == ((0, 1, 2), (3, 4, 5)) and res["col_groups"][0] == (0, 3)


def test_comm_volume_per_layer():
    # Megatron: 4 all-reduces of s·b·h per layer (2 forward, 2 backward).
    v = comm_volume_per_layer(2048, 1, 12288, 8)
    assert v["allreduces"] == 4 and v["message_bytes"] == 2 * 2048 * 12288
    assert v["sent_per_device_bytes"] == pytest.approx(4 * 2 * 7 / 8 * v["message_bytes"])
    assert comm_volume_per_layer(2048, 1, 12288, 1)["sent_per_device_bytes"] == 0


def test_tp_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(EngineError, match="not divisible by 3"):
        megatron_mlp(rng.normal(size=(2, 4)), rng.normal(size=(4, 8)), rng.normal(size=(8, 4)), 3)
    with pytest.raises(EngineError, match="divide the 4 attention heads"):
        attention_by_heads(*(rng.normal(size=(8, 8)) for _ in range(5)), heads=4, n=3)
    with pytest.raises(EngineError, match="token ids"):
        vocab_parallel_embedding([9], np.ones((8, 2)), 2)
