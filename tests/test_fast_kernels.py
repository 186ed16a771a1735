"""The interpreter's fast kernel paths and the reference kernels beside them, both against torch.

Oracles: torch.nn.functional (conv2d, max_pool2d) in float64 for the values; the reference kernels
themselves for the bit-identical rearrangements (phase im2col, separable max pooling); tracemalloc for
the declared workspaces; onnxruntime-free: the end-to-end check runs ResNet-18 against torch.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.core import registry
from engine.core.ops import nn, strided, winograd

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _torch_conv(x, w, b, stride, pad, dil=1, groups=1):
    t = [None if a is None else torch.from_numpy(np.asarray(a, np.float64)) for a in (x, w, b)]
    return F.conv2d(t[0], t[1], t[2], stride=stride, padding=pad, dilation=dil, groups=groups).numpy()


def _conv_attrs(stride=1, pad=1, dilation=1, groups=1):
    return {"stride": stride, "pad": pad, "dilation": dilation, "groups": groups}


def _tolerance(c, k):
    """float32 error of a c*k*k-term sum of unit-scale products (a few ulps of sqrt(terms))."""
    return 2e-6 * math.sqrt(c * k * k) + 1e-6


# -- Winograd F(2x2, 3x3) --------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 20),
    cout=st.integers(1, 20),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    bias=st.booleans(),
    seed=st.integers(0, 999),
)
def test_winograd_matches_torch_on_any_shape(n, c, cout, h, w, pad, bias, seed):
    if h + 2 * pad[0] < 3 or w + 2 * pad[1] < 3:
        return
    rng = np.random.default_rng(seed)
    x, wt = _rand(rng, n, c, h, w), _rand(rng, cout, c, 3, 3, scale=1 / math.sqrt(9 * c))
    b = _rand(rng, cout) if bias else None
    got = winograd.winograd_conv(x, wt, pad, b)
    want = _torch_conv(x, wt, b, 1, pad)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=_tolerance(c, 3))


@pytest.mark.parametrize("c, hw", [(64, 56), (128, 28), (256, 14), (512, 7)])
def test_winograd_on_resnet18_layers_is_as_accurate_as_the_reference(c, hw):
    """ResNet-18's 3x3 layers: the fast path's error vs torch (float64) is within 2x the reference's."""
    rng = np.random.default_rng(c)
    x, wt, b = _rand(rng, 1, c, hw, hw), _rand(rng, c, c, 3, 3, scale=1 / math.sqrt(9 * c)), _rand(rng, c)
    assert winograd.winograd_applies(x.shape, wt.shape, (1, 1), (1, 1), (1, 1), 1)
    want = _torch_conv(x, wt, b, 1, 1)
    fast = nn._conv_kernel([x, wt, b], _conv_attrs())
    ref = nn._conv_reference([x, wt, b], _conv_attrs())
    fast_err, ref_err = np.abs(fast - want).max(), np.abs(ref - want).max()
    assert fast_err <= max(2 * ref_err, 2e-6), (fast_err, ref_err)
    assert fast_err < 1e-5


def test_filter_transform_is_g_g_gt():
    """U = G g G^T, checked against the teaching kernel's float64 transform (Lavin & Gray 4.1)."""
    from engine.kernels.conv import winograd_filter_transform

    rng = np.random.default_rng(0)
    w = _rand(rng, 5, 3, 3, 3)
    want = winograd_filter_transform(w.astype(np.float64))  # (Cout, C, 4, 4)
    got = winograd.filter_transform(w).reshape(4, 4, 3, 5).transpose(3, 2, 0, 1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_read_only_weights_are_transformed_once_and_forgotten_with_them():
    rng = np.random.default_rng(1)
    x, w = _rand(rng, 1, 16, 12, 12), _rand(rng, 16, 16, 3, 3)
    w.setflags(write=False)
    first = winograd._transformed(w)
    assert winograd._transformed(w) is first and not first.flags.writeable
    key = id(w)
    np.testing.assert_allclose(winograd.winograd_conv(x, w, (1, 1)), _torch_conv(x, w, None, 1, 1), atol=1e-5)
    del w, first
    gc.collect()
    assert key not in winograd._CACHE


def test_the_filter_cache_drops_the_least_recently_used_beyond_its_total(monkeypatch):
    monkeypatch.setattr(winograd, "MAX_CACHE_TOTAL", 16 * 32 * 32 * 2)  # room for two 32x32 filters
    rng = np.random.default_rng(6)
    ws = [_rand(rng, 32, 32, 3, 3) for _ in range(3)]
    for w in ws:
        w.setflags(write=False)
    first = winograd._transformed(ws[0])
    winograd._transformed(ws[1])
    assert winograd._transformed(ws[0]) is first  # a hit: ws[0] is now the most recent
    winograd._transformed(ws[2])  # evicts ws[1]
    assert id(ws[0]) in winograd._CACHE and id(ws[2]) in winograd._CACHE
    assert id(ws[1]) not in winograd._CACHE


def test_writeable_weights_are_never_cached():
    """A weight the caller may change is transformed on every call: changing it changes the result."""
    rng = np.random.default_rng(2)
    x, w = _rand(rng, 1, 16, 10, 10), _rand(rng, 16, 16, 3, 3)
    before = winograd.winograd_conv(x, w, (1, 1))
    w *= 2
    after = winograd.winograd_conv(x, w, (1, 1))
    np.testing.assert_allclose(after, 2 * before, rtol=1e-5, atol=1e-5)
    assert id(w) not in winograd._CACHE


def test_winograd_applies_only_where_it_is_defined_and_pays():
    ok = dict(stride=(1, 1), pad=(1, 1), dil=(1, 1), groups=1)
    assert winograd.winograd_applies((1, 64, 56, 56), (64, 64, 3, 3), **ok)
    assert not winograd.winograd_applies((1, 64, 56, 56), (64, 64, 3, 3), **{**ok, "stride": (2, 2)})
    assert not winograd.winograd_applies((1, 64, 56, 56), (64, 64, 3, 3), **{**ok, "dil": (2, 2)})
    assert not winograd.winograd_applies((1, 64, 56, 56), (64, 32, 3, 3), **{**ok, "groups": 2})
    assert not winograd.winograd_applies((1, 64, 56, 56), (64, 64, 5, 5), **ok)
    assert not winograd.winograd_applies((1, 16, 56, 56), (64, 16, 3, 3), **ok)  # too few channels
    assert not winograd.winograd_applies((1, 64, 6, 6), (64, 64, 3, 3), **ok)  # too little work


def test_thread_count_does_not_change_the_result():
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    xs = [_rand(rng, 2, 32, 20, 20), _rand(rng, 48, 32, 3, 3, scale=0.06), _rand(rng, 48)]
    with threadpool_limits(limits=1):
        one = nn._conv_kernel(xs, _conv_attrs())
    many = nn._conv_kernel(xs, _conv_attrs())
    np.testing.assert_allclose(one, many, rtol=0, atol=1e-6)


# -- the reference conv and the registered kernel, every geometry ------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 2),
    groups=st.sampled_from([1, 2, 4]),
    cg=st.integers(1, 6),
    og=st.integers(1, 6),
    hw=st.tuples(st.integers(5, 14), st.integers(5, 14)),
    k=st.sampled_from([(1, 1), (3, 3), (5, 5), (7, 7), (3, 1)]),
    stride=st.integers(1, 3),
    pad=st.integers(0, 3),
    dil=st.integers(1, 2),
    bias=st.booleans(),
    seed=st.integers(0, 999),
)
def test_reference_and_fast_conv_match_torch(n, groups, cg, og, hw, k, stride, pad, dil, bias, seed):
    reach = [dil * (kk - 1) + 1 for kk in k]
    if any(size + 2 * pad < r for size, r in zip(hw, reach)):
        return
    rng = np.random.default_rng(seed)
    c, cout = groups * cg, groups * og
    x, w = _rand(rng, n, c, *hw), _rand(rng, cout, cg, *k, scale=1 / math.sqrt(cg * k[0] * k[1]))
    b = _rand(rng, cout) if bias else None
    xs = [x, w] + ([b] if bias else [])
    at = _conv_attrs(stride, pad, dil, groups)
    want = _torch_conv(x, w, b, stride, pad, dil, groups)
    for kernel in (nn._conv_reference, nn._conv_kernel):
        np.testing.assert_allclose(kernel(xs, at), want, rtol=0, atol=_tolerance(cg, max(k)))


@settings(max_examples=40, deadline=None)
@given(
    c=st.integers(1, 4),
    hw=st.tuples(st.integers(4, 30), st.integers(4, 30)),
    k=st.integers(1, 7),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad=st.integers(0, 3),
    dil=st.integers(1, 2),
    seed=st.integers(0, 999),
)
def test_phase_im2col_equals_the_reference_im2col(c, hw, k, stride, pad, dil, seed):
    reach = dil * (k - 1) + 1
    if min(hw) + 2 * pad < reach:
        return
    ho = (hw[0] + 2 * pad - reach) // stride[0] + 1
    wo = (hw[1] + 2 * pad - reach) // stride[1] + 1
    x = _rand(np.random.default_rng(seed), 2, c, *hw)
    args = (x, k, k, stride, (pad, pad), (dil, dil), ho, wo)
    np.testing.assert_array_equal(strided.im2col_phases(*args), nn._im2col(*args))


def test_the_stem_takes_the_phase_path_and_matches_torch():
    rng = np.random.default_rng(4)
    x, w, b = _rand(rng, 1, 3, 64, 64), _rand(rng, 16, 3, 7, 7, scale=0.08), _rand(rng, 16)
    assert strided.phases_apply(7, 7, (2, 2)) and not strided.phases_apply(3, 3, (2, 2))
    got = nn._conv_kernel([x, w, b], _conv_attrs(stride=2, pad=3))
    np.testing.assert_allclose(got, _torch_conv(x, w, b, 2, 3), rtol=0, atol=_tolerance(3, 7))


# -- max pooling ------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    hw=st.tuples(st.integers(2, 20), st.integers(2, 20)),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    pad=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    seed=st.integers(0, 999),
)
def test_separable_and_reference_maxpool_match_torch(hw, k, stride, pad, seed):
    if any(2 * p > kk for p, kk in zip(pad, k)) or any(s + 2 * p < kk for s, p, kk in zip(hw, pad, k)):
        return
    x = _rand(np.random.default_rng(seed), 2, 3, *hw)
    at = {"kernel": k, "stride": stride, "pad": pad}
    want = F.max_pool2d(torch.from_numpy(x), k, stride, pad).numpy()
    ref = nn._maxpool_reference([x], at)
    np.testing.assert_array_equal(ref, want)
    np.testing.assert_array_equal(registry.get_op("maxpool").kernel([x], at), want)


# -- declared workspaces bound what the fast paths allocate ------------------------------------------
@pytest.mark.parametrize(
    "shapes, attrs",
    [
        ([(2, 32, 32, 32), (32, 32, 3, 3), (32,)], {"pad": 1}),  # Winograd, weights transformed here
        ([(1, 64, 21, 21), (64, 64, 3, 3)], {"pad": 0}),  # Winograd, odd output
        ([(1, 3, 64, 64), (16, 3, 7, 7), (16,)], {"stride": 2, "pad": 3}),  # phase im2col
    ],
)
def test_declared_conv_workspace_bounds_the_traced_peak(shapes, attrs):
    _check_workspace("conv2d", shapes, attrs)


def test_declared_maxpool_workspace_bounds_the_traced_peak():
    _check_workspace("maxpool", [(2, 32, 40, 40)], {"kernel": 3, "stride": 2, "pad": 1})


def _check_workspace(name, shapes, attrs):
    op = registry.get_op(name)
    if name == "conv2d":  # the cases are chosen to take a fast path
        pad, stride = (attrs.get("pad", 0),) * 2, (attrs.get("stride", 1),) * 2
        x, w = shapes[0], shapes[1]
        assert winograd.winograd_applies(x, w, stride, pad, (1, 1), 1) or strided.phases_apply(
            w[2], w[3], stride
        )
    at = {**op.attrs, **attrs}
    xs = [np.random.default_rng(0).uniform(0.5, 1.5, s).astype(np.float32) for s in shapes]
    out_shape, _ = op.infer(shapes, ["float32"] * len(shapes), at)
    tracemalloc.start()
    op.kernel(xs, at)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    declared = op.workspace(shapes, out_shape, at)
    assert peak <= 4 * (math.prod(out_shape) + declared.temp) * 1.05 + (64 << 10), (peak, declared)


# -- end to end ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_resnet18_through_the_fast_paths_matches_torch_within_1e5():
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_module

    graph = zoo_graph("resnet18", 1)
    x = example_input("resnet18", 1)
    with torch.no_grad():
        want = zoo_module("resnet18")(x).numpy()
    got = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]
    assert np.abs(got - want).max() < 1e-5
    again = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]  # cached filters
    np.testing.assert_array_equal(again, got)


def test_non_finite_values_take_the_reference_path():
    """inf/nan spread over whole Winograd tiles; the kernel then answers as the reference does."""
    rng = np.random.default_rng(5)
    x, w = _rand(rng, 1, 32, 24, 24), _rand(rng, 32, 32, 3, 3, scale=0.06)
    x[0, 3, 5, 7] = np.inf
    x[0, 9, 12, 12] = np.nan
    huge = _rand(rng, 1, 32, 24, 24) * np.float32(3e37)  # finite, but the transforms' sums overflow
    for data in (x, huge):
        with np.errstate(all="ignore"):
            got = nn._conv_kernel([data, w], _conv_attrs())
            want = nn._conv_reference([data, w], _conv_attrs())
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-5)
