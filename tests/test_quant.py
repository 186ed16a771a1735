"""Quantisation oracles: torch observers / quantize / fake-quantize, onnxruntime QuantizeLinear,
TensorRT entropy calibration worked by hand, integer-only inference (Jacob et al. 2018)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compression.quant import (
    dequantize,
    entropy_amax,
    entropy_divergences,
    fake_quant,
    observe,
    qparams,
    qrange,
    quantize,
    ste_mask,
)
from engine.core.errors import EngineError

torch = pytest.importorskip("torch")
warnings.filterwarnings("ignore", category=UserWarning)

TDT = {"quint8": "quint8", "qint8": "qint8"}
SCHEME = {
    ("affine", False): "per_tensor_affine",
    ("symmetric", False): "per_tensor_symmetric",
    ("affine", True): "per_channel_affine",
    ("symmetric", True): "per_channel_symmetric",
}
CASES = [
    (dt, sch, rr)
    for dt in ("quint8", "qint8")
    for sch in ("affine", "symmetric")
    for rr in (False, True)
    if not (dt == "quint8" and sch == "symmetric" and rr)
]


def _tensor(seed: int, shape=(4, 6, 5)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.01, 20)
    return (rng.standard_normal(shape) * scale + rng.uniform(-2, 2) * scale).astype(np.float32)


def _torch_observer(x, dt, sch, rr, axis=None, **custom):
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

    qscheme = getattr(torch, SCHEME[(sch, axis is not None)])
    dtype = getattr(torch, TDT[dt])
    if axis is None:
        obs = MinMaxObserver(dtype=dtype, qscheme=qscheme, reduce_range=rr, **custom)
    else:
        obs = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, qscheme=qscheme, reduce_range=rr)
    obs(torch.from_numpy(x))
    s, z = obs.calculate_qparams()
    return s.numpy(), z.numpy()


def _same(s, z, s2, z2):
    np.testing.assert_array_equal(np.ravel(z), np.ravel(z2))
    np.testing.assert_allclose(np.ravel(s), np.ravel(s2), rtol=1e-7, atol=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), case=st.sampled_from(CASES))
def test_qparams_match_torch_minmax(seed, case):
    dt, sch, rr = case
    x = _tensor(seed)
    _same(*qparams(x, dt, sch, rr), *_torch_observer(x, dt, sch, rr))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), case=st.sampled_from(CASES), axis=st.sampled_from([0, 1, 2]))
def test_qparams_per_channel_match_torch(seed, case, axis):
    dt, sch, rr = case
    x = _tensor(seed)
    _same(*qparams(x, dt, sch, rr, axis=axis), *_torch_observer(x, dt, sch, rr, axis=axis))


@pytest.mark.parametrize(
    "dt,lo,hi,sch,rr",
    [
        ("quint4", 0, 15, "symmetric", False),
        ("qint4", -8, 7, "affine", True),
        ("qint4", -8, 7, "symmetric", False),
        ("quint4", 0, 15, "affine", False),
    ],
)
def test_int4_matches_torch_custom_range(dt, lo, hi, sch, rr):
    x = _tensor(3)
    base = "quint8" if dt.startswith("quint") else "qint8"
    _same(*qparams(x, dt, sch, rr), *_torch_observer(x, base, sch, rr, quant_min=lo, quant_max=hi))


def test_moving_average_matches_torch():
    from torch.ao.quantization import MovingAverageMinMaxObserver

    batches = [_tensor(s, (50,)) for s in range(6)]
    obs = MovingAverageMinMaxObserver(dtype=torch.quint8, averaging_constant=0.01)
    for b in batches:
        obs(torch.from_numpy(b))
    s, z = obs.calculate_qparams()
    got = observe(batches, "moving_average")
    _same(got.scale, got.zero_point, s.numpy(), z.numpy())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), case=st.sampled_from(CASES))
def test_quantize_matches_torch_and_fake_quant(seed, case):
    dt, sch, rr = case
    x = _tensor(seed)
    s, z = qparams(x, dt, sch, rr)
    tq = torch.quantize_per_tensor(torch.from_numpy(x), float(s), int(z), getattr(torch, dt))
    # torch clamps a quantized tensor to its dtype's full range; reduce_range only shaped (s, z)
    np.testing.assert_array_equal(quantize(x, s, z, dt, rounding="fma"), tq.int_repr().numpy())
    np.testing.assert_array_equal(dequantize(tq.int_repr().numpy(), s, z), tq.dequantize().numpy())
    qmin, qmax = qrange(dt, rr)
    xt = torch.from_numpy(x).requires_grad_()
    fq = torch.fake_quantize_per_tensor_affine(xt, float(s), int(z), qmin, qmax)
    fq.sum().backward()
    np.testing.assert_array_equal(
        fake_quant(x, s, z, dt, reduce_range=rr, rounding="reciprocal"), fq.detach().numpy()
    )
    np.testing.assert_array_equal(
        ste_mask(x * 1.5, s, z, dt, reduce_range=rr, rounding="reciprocal"),
        _torch_ste(x * 1.5, s, z, qmin, qmax),
    )


def _torch_ste(x, s, z, qmin, qmax):
    xt = torch.from_numpy(x).requires_grad_()
    torch.fake_quantize_per_tensor_affine(xt, float(s), int(z), qmin, qmax).sum().backward()
    return xt.grad.numpy()


def test_quantize_per_channel_matches_torch():
    for seed in range(10):
        x = _tensor(seed)
        for dt, sch in (("qint8", "symmetric"), ("quint8", "affine")):
            s, z = qparams(x, dt, sch, axis=1)
            tq = torch.quantize_per_channel(
                torch.from_numpy(x),
                torch.from_numpy(s.astype(np.float64)),
                torch.from_numpy(z),
                1,
                getattr(torch, dt),
            )
            np.testing.assert_array_equal(
                quantize(x, s, z, dt, axis=1, rounding="fma"), tq.int_repr().numpy()
            )


def _ort_quantize(x, s, z, dt):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    t = TensorProto.UINT8 if dt == "quint8" else TensorProto.INT8
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", t, list(x.shape))],
        initializer=[
            helper.make_tensor("s", TensorProto.FLOAT, [], [float(s)]),
            helper.make_tensor("z", t, [], [int(z)]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_quantize_matches_onnxruntime_quantizelinear():
    for seed in range(15):
        x = _tensor(seed)
        for dt in ("quint8", "qint8"):
            for sch in ("affine", "symmetric"):
                s, z = qparams(x, dt, sch)
                np.testing.assert_array_equal(quantize(x, s, z, dt), _ort_quantize(x, s, z, dt))


def test_round_half_to_even_and_saturation():
    # x / s = 0.5, 1.5, 2.5, -0.5 -> 0, 2, 2, -0 (banker's rounding), far values saturate
    q = quantize(np.array([0.5, 1.5, 2.5, -0.5, 1e6, -1e6], np.float32), 1.0, 10, "quint8")
    assert q.tolist() == [10, 12, 12, 10, 255, 0]
    # the zero point's sign: q = round(x/s) + z, x = s (q - z); zero is exactly representable
    s, z = qparams(np.array([-1.0, 3.0], np.float32), "quint8")
    assert dequantize(quantize(np.zeros(1, np.float32), s, z), s, z)[0] == 0.0
    assert z == 64  # 0 - round(-1 / (4/255)) = round(63.75) = 64


def test_constant_and_degenerate_inputs():
    s, z = qparams(np.zeros(7, np.float32), "quint8")  # all zero: torch gives eps and qmin
    assert s == np.finfo(np.float32).eps and z == 0
    s, z = qparams(np.full(5, 2.0, np.float32), "quint8")  # constant: range widened to [0, 2]
    np.testing.assert_allclose(s, 2 / 255, rtol=1e-7)
    with pytest.raises(EngineError, match="empty"):
        qparams(np.array([], np.float32))
    with pytest.raises(EngineError, match="NaN"):
        qparams(np.array([1.0, np.nan], np.float32))
    with pytest.raises(EngineError, match="dtype"):
        qparams(np.ones(3, np.float32), "int9")
    with pytest.raises(EngineError, match="every value is 0"):
        observe(np.zeros(10, np.float32), "entropy")
    with pytest.raises(EngineError, match="reduce_range"):
        qparams(np.ones(3, np.float32), "quint8", "symmetric", reduce_range=True)


# -- entropy calibration ------------------------------------------------------------------------
def test_entropy_divergences_worked_by_hand():
    # bins [3,2,5,1,5] after bin 0 := bin 1; 2 levels (num_bits 2, signed); candidates i = 2..5.
    # i=4: P = [2,2,5,1+5]/15, Q = [2,2,3,3]/10 -> KL = 0.042069;
    # i=5: P = [2,2,5,1,5]/15, Q = uniform 1/5  -> KL = 0.159186 (see the module docstring).
    cand, div = entropy_divergences([3, 2, 5, 1, 5], np.arange(6.0), num_bits=2, start_bin=2)
    assert cand.tolist() == [2, 3, 4, 5]
    np.testing.assert_allclose(div[2:], [0.042069, 0.159186], atol=2e-6)
    assert entropy_amax([3, 2, 5, 1, 5], np.arange(6.0), num_bits=2, start_bin=2) == 4.0
    # [9,3,1,2] -> bins [3,3,1,2]: i=2 KL = 1/3 ln(2/3) + 2/3 ln(4/3), i=4 KL = 1/9 ln(2/3) + 2/9 ln(4/3)
    _, div = entropy_divergences([9, 3, 1, 2], np.arange(5.0), num_bits=2, start_bin=2)
    np.testing.assert_allclose(
        div[[0, 2]],
        [np.log(2 / 3) / 3 + 2 * np.log(4 / 3) / 3, np.log(2 / 3) / 9 + 2 * np.log(4 / 3) / 9],
        rtol=1e-12,
    )


def test_entropy_uniform_keeps_full_range_and_clips_long_tail():
    edges = np.linspace(0, 2.0, 2049)
    assert entropy_amax(np.full(2048, 10), edges) == 2.0  # only i = 2048 has KL = 0
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(100_000), [40.0]]).astype(np.float32)
    obs = observe(x, "entropy", "qint8", "symmetric")
    assert 2.0 < float(obs.max_val) < 10.0  # far below the 40.0 outlier


def test_entropy_matches_literal_reference_with_scipy():
    from scipy.stats import entropy as scipy_kl

    rng = np.random.default_rng(5)
    hist = np.concatenate([rng.integers(0, 50, 160), rng.integers(0, 3, 140)]).astype(float)
    edges = np.linspace(0, 3, len(hist) + 1)
    bins = hist.copy()
    bins[0] = bins[1]
    best, best_i = np.inf, None
    for i in range(128, len(bins) + 1):  # a literal reading of pytorch-quantization's loop
        space = np.linspace(0, i, 129)
        dig = np.digitize(range(i), space) - 1
        dig[bins[:i] == 0] = -1
        q = np.zeros(i)
        for level in set(dig) - {-1}:
            members = dig == level
            q[members] = bins[:i][members].sum() / members.sum()
        p = bins[:i].copy()
        p[-1] += bins[i:].sum()
        kl = scipy_kl(p, q)
        if kl <= best:
            best, best_i = kl, i
    assert entropy_amax(hist, edges) == edges[best_i]


def test_observers_pick_different_ranges_on_outliers():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(20_000), [25.0]]).astype(np.float32)
    got = {
        m: float(observe(x, m, "qint8", "symmetric").max_val)
        for m in ("minmax", "percentile", "mse", "entropy")
    }
    assert got["minmax"] == 25.0
    assert got["percentile"] < 5 and got["mse"] < 25.0 and got["entropy"] < 25.0

    # the MSE observer's error is no worse than min-max's (it searched that candidate too)
    def err(m):
        o = observe(x, m, "qint8", "symmetric")
        return np.mean((fake_quant(x, o.scale, o.zero_point, "qint8") - x) ** 2)

    assert err("mse") <= err("minmax")


def test_moving_average_per_channel_matches_torch():
    from torch.ao.quantization import MovingAveragePerChannelMinMaxObserver

    batches = [_tensor(s, (6, 10)) for s in range(5)]
    obs = MovingAveragePerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric
    )
    for b in batches:
        obs(torch.from_numpy(b))
    s, z = obs.calculate_qparams()
    got = observe(batches, "moving_average", "qint8", "symmetric", axis=0)
    _same(got.scale, got.zero_point, s.numpy(), z.numpy())
