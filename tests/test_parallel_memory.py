"""Model-state and activation memory against the ZeRO paper and Korthikanti et al. 2022."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.parallel import activation_memory, state_memory, zero_memory

GB = 1e9


def test_zero_figure1_example():
    # Rajbhandari et al. 2020, Figure 1: Ψ = 7.5B, N_d = 64, K = 12.
    got = [zero_memory(7.5e9, 64, stage)["total"] / GB for stage in (0, 1, 2, 3)]
    assert [round(g, 1) for g in got] == [120.0, 31.4, 16.6, 1.9]


# Rajbhandari et al. 2020, Table 1 (GB per device): the bold entries, i.e. the configurations
# that fit a 32 GB V100, and the DP = 1 row ((2 + 2 + K)Ψ).
TABLE1 = [
    (7.5e9, 4, 3, 30.0),
    (7.5e9, 16, 2, 21.6),
    (7.5e9, 64, 1, 31.4),
    (128e9, 64, 3, 32.0),
    (1e12, 1024, 3, 15.6),
    (7.5e9, 1, 1, 120.0),
    (128e9, 1, 2, 2048.0),
]


@pytest.mark.parametrize("psi, nd, stage, expected", TABLE1)
def test_zero_table1(psi, nd, stage, expected):
    got = zero_memory(psi, nd, stage)["total"] / GB
    assert round(got, 1) == expected
    if expected < 32:
        assert got * GB <= 32e9  # "fits into a cluster of 32GB V100 GPUs"


def test_zero_components_and_fsdp_offload():
    z = zero_memory(1e9, 8, 2)
    assert (z["params"], z["grads"], z["optimizer"]) == (2e9, 2e9 / 8, 12e9 / 8)
    assert state_memory(1e9, 8, "fsdp").total == zero_memory(1e9, 8, 3)["total"]
    off = state_memory(1e9, 8, "offload")
    assert off.total == 2e9 and off.cpu == pytest.approx(2e9 / 8 + 12e9 / 8)


@settings(max_examples=60, deadline=None)
@given(psi=st.floats(1e6, 1e13), nd=st.integers(1, 4096), k=st.integers(0, 16))
def test_zero_stages_never_increase_memory(psi, nd, k):
    totals = [zero_memory(psi, nd, s, k)["total"] for s in range(4)]
    assert all(a >= b - 1e-6 * a for a, b in zip(totals, totals[1:]))
    assert totals[0] == pytest.approx((4 + k) * psi)
    assert totals[3] == pytest.approx((4 + k) * psi / nd)


def _per_tensor_accounting(s, b, h, a, t):
    """Korthikanti et al. §4.1, tensor by tensor (bytes), with tensor parallel size t, no SP."""
    sbh = s * b * h
    attention = (
        2 * sbh  # QKV input (replicated)
        + 4 * sbh / t  # Q and K for QK^T
        + 2 * a * s * s * b / t  # softmax output
        + a * s * s * b / t  # softmax dropout mask (1 byte)
        + 2 * a * s * s * b / t  # dropout output (attention over V)
        + 2 * sbh / t  # V
        + 2 * sbh / t  # output projection input
        + sbh
    )  # attention dropout mask (replicated)
    mlp = 2 * sbh + 8 * sbh / t + 8 * sbh / t + sbh  # fc1 in, GeLU in, fc2 in, dropout mask
    norms = 4 * sbh
    return attention + mlp + norms


@pytest.mark.parametrize("s,b,h,a", [(2048, 1, 12288, 96), (2048, 4, 6144, 64), (512, 8, 1024, 16)])
@pytest.mark.parametrize("t", [1, 2, 4, 8])
def test_activation_matches_per_tensor_count(s, b, h, a, t):
    assert activation_memory(s, b, h, a, tp=t) == pytest.approx(_per_tensor_accounting(s, b, h, a, t))


def test_activation_table2_rows():
    # Korthikanti et al. 2022, Table 2, evaluated for GPT-3 (s=2048, h=12288, a=96), t=8, b=1.
    s, b, h, a, t = 2048, 1, 12288, 96, 8
    sbh = s * b * h
    assert activation_memory(s, b, h, a) == sbh * (34 + 5 * a * s / h)
    assert activation_memory(s, b, h, a, tp=t) == pytest.approx(sbh * (10 + 24 / t + 5 * a * s / (h * t)))
    assert activation_memory(s, b, h, a, tp=t, sp=True) == pytest.approx(sbh / t * (34 + 5 * a * s / h))
    assert activation_memory(s, b, h, a, tp=t, recompute="selective") == pytest.approx(sbh * (10 + 24 / t))
    assert activation_memory(s, b, h, a, tp=t, sp=True, recompute="selective") == pytest.approx(34 * sbh / t)
    assert activation_memory(s, b, h, a, tp=t, recompute="full") == 2 * sbh


@pytest.mark.parametrize("h, a, ratio, saving", [(12288, 96, 80, 0.70), (20480, 128, 64, 0.65)])
def test_paper_worked_numbers(h, a, ratio, saving):
    # §4.2/§5: 5as/h is 80 for GPT-3 and 64 for MT-NLG; selective recomputation then cuts the
    # TP+SP activation memory by 70% and 65%.
    s, b, t = 2048, 1, 8
    assert 5 * a * s / h == ratio
    full = activation_memory(s, b, h, a, tp=t, sp=True)
    sel = activation_memory(s, b, h, a, tp=t, sp=True, recompute="selective")
    assert 1 - sel / full == pytest.approx(saving, abs=0.005)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(s=2048, b=1, h=12288, a=96, tp=5), "divide"),
        (dict(s=2048, b=1, h=12288, a=96, recompute="some"), "recompute"),
        (dict(s=0, b=1, h=12288, a=96), "sequence"),
    ],
)
def test_activation_errors(kwargs, fragment):
    with pytest.raises(EngineError, match=fragment):
        activation_memory(**kwargs)


@pytest.mark.parametrize(
    "args, fragment", [((7.5e9, 0, 1), "devices"), ((7.5e9, 8, 4), "stage"), ((-1.0, 8, 1), "parameter")]
)
def test_zero_errors(args, fragment):
    with pytest.raises(EngineError, match=fragment):
        zero_memory(*args)


def _torch_saved_bytes(s, b, h, a, t):
    """Bytes autograd saves for one GPT layer on one tensor-parallel rank (torch as the oracle).

    The layer follows the paper's assumptions: 16-bit activations, 1-byte dropout masks, separate
    Q/K/V projections of the local a/t heads, the two all-reduces as identities (their outputs
    are what every rank holds). LayerNorm's per-token mean/rstd (s·b values) are left out, as the
    paper does.
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    dt, d, al = torch.bfloat16, h // a, a // t

    def w(*shape):
        return torch.randn(*shape, dtype=dt, requires_grad=True)

    def dropout(v):
        mask = torch.rand(v.shape) > 0.1  # bool: 1 byte per element
        return v * mask / 0.9

    saved = {}

    def pack(x):
        if x.numel() != s * b:  # skip LayerNorm statistics
            saved[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x

    params = [
        w(h),
        w(h),
        w(al * d, h),
        w(al * d, h),
        w(al * d, h),
        w(h, al * d),
        w(h),
        w(h),
        w(4 * h // t, h),
        w(h, 4 * h // t),
    ]
    ln1w, ln1b, wq, wk, wv, wo, ln2w, ln2b, w1, w2 = params
    x = torch.randn(s, b, h, dtype=dt, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        y = F.layer_norm(x, (h,), ln1w, ln1b)
        q, k, v = ((y @ m.t()).view(s, b * al, d).transpose(0, 1) for m in (wq, wk, wv))
        p = dropout(F.softmax(torch.bmm(q, k.transpose(1, 2)) * d**-0.5, dim=-1))
        ctx = torch.bmm(p, v).transpose(0, 1).reshape(s, b, al * d)
        x2 = x + dropout(ctx @ wo.t())  # row-parallel output after the all-reduce
        z = F.gelu(F.layer_norm(x2, (h,), ln2w, ln2b) @ w1.t())
        (x2 + dropout(z @ w2.t())).sum()
    ptrs = {m.untyped_storage().data_ptr() for m in params}
    return sum(n for ptr, n in saved.items() if ptr not in ptrs)


@pytest.mark.parametrize("t", [1, 2, 4])
def test_activation_formula_matches_torch_saved_tensors(t):
    s, b, h, a = 32, 2, 64, 8
    assert activation_memory(s, b, h, a, tp=t) == _torch_saved_bytes(s, b, h, a, t)
