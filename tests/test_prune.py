"""Pruning masks against torch.nn.utils.prune; N:M, the Zhu & Gupta schedule, SVD low rank."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compression.lowrank import factorise, lowrank_sweep
from engine.compression.prune import (
    global_unstructured,
    gradual_prune,
    l1_unstructured,
    ln_structured,
    model_masks,
    n_m_mask,
    n_to_prune,
    polynomial_sparsity,
    prune_model,
)
from engine.core.errors import EngineError

torch = pytest.importorskip("torch")
from torch.nn.utils import prune as tprune  # noqa: E402


# Random normal weights are tie-free (with probability 1), so any correct top-k gives one mask;
# our stable argsort and torch's topk can differ only on equal magnitudes.
def _weights(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _module(w: np.ndarray):
    lin = torch.nn.Module()
    lin.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
    return lin


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    amount=st.one_of(st.floats(0.0, 1.0), st.integers(0, 24)),
    shape=st.sampled_from([(4, 6), (8, 3, 3, 2), (24,)]),
)
def test_l1_unstructured_matches_torch(seed, amount, shape):
    w = _weights(seed, shape)
    m = _module(w)
    tprune.l1_unstructured(m, "weight", amount=amount)
    np.testing.assert_array_equal(l1_unstructured(w, amount), m.weight_mask.numpy())


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), amount=st.floats(0.0, 1.0))
def test_global_unstructured_matches_torch(seed, amount):
    ws = {"a": _weights(seed, (5, 7)), "b": _weights(seed + 1, (3, 3, 2)), "c": _weights(seed + 2, (11,))}
    mods = {k: _module(v) for k, v in ws.items()}
    tprune.global_unstructured(
        [(mods[k], "weight") for k in ws], pruning_method=tprune.L1Unstructured, amount=amount
    )
    ours = global_unstructured(ws, amount)
    for k in ws:
        np.testing.assert_array_equal(ours[k], mods[k].weight_mask.numpy())


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    amount=st.floats(0.0, 1.0),
    n=st.sampled_from([1, 2]),
    dim=st.sampled_from([0, 1, -1]),
)
def test_ln_structured_matches_torch(seed, amount, n, dim):
    w = _weights(seed, (6, 5, 3, 3))
    m = _module(w)
    tprune.ln_structured(m, "weight", amount=amount, n=n, dim=dim)
    np.testing.assert_array_equal(ln_structured(w, amount, n, dim), m.weight_mask.numpy())


def test_amount_rounding_is_pythons():
    assert n_to_prune(0.5, 5) == 2 and n_to_prune(0.3, 5) == 2 and n_to_prune(0.7, 5) == 4
    with pytest.raises(EngineError, match="between 0 and 1"):
        l1_unstructured(np.ones(4), 1.5)
    with pytest.raises(EngineError, match="cannot prune 9"):
        l1_unstructured(np.ones(4), 9)


def test_two_four_keeps_two_largest_in_every_group():
    w = np.array([[0.1, -3.0, 2.0, 0.5, 7.0, 0.0, -0.2, 1.0]], np.float32).T  # one column, axis 0
    assert n_m_mask(w, 2, 4, axis=0).ravel().tolist() == [0, 1, 1, 0, 1, 0, 0, 1]
    big = _weights(0, (64, 32))
    mask = n_m_mask(big, 2, 4, axis=0)
    assert mask.sum() == 1024
    assert np.all(mask.reshape(16, 4, 32).sum(axis=1) == 2)
    with pytest.raises(EngineError, match="multiple of M"):
        n_m_mask(_weights(0, (6, 3)), 2, 4)


def test_polynomial_schedule_zhu_gupta():
    assert polynomial_sparsity(0, 0.0, 0.9, 0, 10) == 0.0
    assert polynomial_sparsity(10, 0.0, 0.9, 0, 10) == pytest.approx(0.9)
    assert polynomial_sparsity(5, 0.0, 0.8, 0, 10) == pytest.approx(0.8 - 0.8 * 0.5**3)
    assert polynomial_sparsity(99, 0.0, 0.8, 0, 10) == pytest.approx(0.8)  # held after the end
    steps = [polynomial_sparsity(t, 0.0, 0.9, 0, 10) for t in range(11)]
    gains = np.diff(steps)
    assert np.all(gains > 0) and np.all(np.diff(gains) < 0)  # fast first, slow last


def test_degenerate_pruning_requests():
    from engine.compression.training import train_model

    params = train_model("mlp", 0).params
    with pytest.raises(EngineError, match="leaves none"):
        model_masks("mlp", params, "global_unstructured", 1.0)
    zero = np.zeros((4, 4), np.float32)
    assert l1_unstructured(zero, 0.5).sum() == 8  # all-zero weights: still a valid mask
    with pytest.raises(EngineError, match="finite"):
        l1_unstructured(np.array([np.nan, 1.0]), 0.5)


def test_pruning_on_the_trained_mlp():
    one_shot = prune_model("mlp", 0, "global_unstructured", 0.5)
    assert one_shot.sparsity == pytest.approx(0.5, abs=1e-3)
    assert one_shot.accuracy > 0.85
    heavy = prune_model("mlp", 0, "global_unstructured", 0.95)
    assert heavy.accuracy < one_shot.accuracy
    g = gradual_prune("mlp", 0, 0.9, n_steps=4)
    assert g.schedule[-1][1] == pytest.approx(0.9)
    assert g.accuracy > g.one_shot_accuracy + 0.1  # fine-tuning between steps pays


def test_svd_factorisation_is_eckart_young():
    w = _weights(3, (20, 12))
    f = factorise(w, 5)
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    assert f.rel_error == pytest.approx(np.sqrt(np.sum(s[5:] ** 2)) / np.linalg.norm(w), rel=1e-6)
    assert np.linalg.norm(w - f.a @ f.b) == pytest.approx(np.sqrt(np.sum(s[5:] ** 2)), rel=1e-4)
    assert f.params_lowrank == 5 * 32
    assert factorise(w, 12).rel_error < 1e-6
    with pytest.raises(EngineError, match="rank 0"):
        factorise(w, 0)
    with pytest.raises(EngineError, match="zero"):
        factorise(np.zeros((3, 3)), 1)


def test_lowrank_sweep_costs_come_from_the_graph():
    rows = lowrank_sweep("mlp", 0, "fc1")
    r8 = rows[7]
    assert r8["layer_params"] == 8 * (64 + 32)
    # engine.cost: matmul FLOPs = 2 MACs; the dense fc1 has 64*32 MACs, the factorised 64*8 + 8*32
    assert r8["dense_flops"] - r8["flops"] == 2 * (64 * 32 - (64 * 8 + 8 * 32))
    assert rows[-1]["accuracy"] == pytest.approx(rows[-1]["fp32_accuracy"], abs=0.006)
    assert rows[0]["accuracy"] < rows[-1]["accuracy"]
