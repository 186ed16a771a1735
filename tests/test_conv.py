"""Every convolution algorithm against torch.nn.functional.conv2d, plus the cost table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.core.errors import EngineError, ShapeError
from engine.kernels import conv


def _torch_conv(x, w, stride, pad, groups=1):
    import torch

    return torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), stride=stride, padding=pad, groups=groups
    ).numpy()


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    g=st.integers(1, 3),
    cg=st.integers(1, 3),
    kg=st.integers(1, 3),
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    seed=st.integers(0, 99),
)
def test_direct_and_im2col_match_torch(n, g, cg, kg, h, w, kh, kw, stride, pad, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, g * cg, h, w))
    wt = rng.standard_normal((g * kg, cg, kh, kw))
    ref = _torch_conv(x, wt, stride, pad, g)
    for alg in ("direct", "im2col"):
        np.testing.assert_allclose(
            engine.conv2d(x, wt, stride, pad, alg, groups=g), ref, rtol=1e-10, atol=1e-10
        )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 4),
    k=st.integers(1, 4),
    h=st.integers(3, 10),
    w=st.integers(3, 10),
    pad=st.integers(0, 2),
    seed=st.integers(0, 99),
)
def test_winograd_matches_torch(n, c, k, h, w, pad, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((k, c, 3, 3))
    np.testing.assert_allclose(
        engine.conv2d(x, wt, 1, pad, "winograd"), _torch_conv(x, wt, 1, pad), rtol=1e-9, atol=1e-9
    )


def test_depthwise_and_pointwise_match_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 6, 8, 8))
    dw = rng.standard_normal((6, 1, 3, 3))
    pw = rng.standard_normal((4, 6, 1, 1))
    for alg in conv.ALGORITHMS:
        np.testing.assert_allclose(
            engine.conv2d(x, dw, 1, 1, alg, groups=6), _torch_conv(x, dw, 1, 1, 6), atol=1e-10
        )
    np.testing.assert_allclose(engine.conv2d(x, pw, algorithm="im2col"), _torch_conv(x, pw, 1, 0), atol=1e-10)


def test_winograd_matrices_are_lavin_gray():
    """F(2,3) in 1-D: A^T [(G g) * (B^T d)] equals the correlation of d with g (paper, eq. 5)."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    y = conv.WINOGRAD_AT @ ((conv.WINOGRAD_G @ g) * (conv.WINOGRAD_BT @ d))
    np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g])
    assert conv.WINOGRAD_BT.shape == (4, 4) and conv.WINOGRAD_G.shape == (4, 3)


def test_im2col_blow_up_is_about_kh_kw():
    x = np.zeros((1, 8, 32, 32))
    cols = conv.im2col(x, 3, 3, 1, 1)
    assert cols.shape == (1, 8 * 9, 32 * 32)
    assert cols.size / x.size == pytest.approx(9.0)


def test_cost_table_multiplies():
    rows = {r.algorithm: r for r in conv.conv_costs(1, 64, 56, 56, 64, 3, 3, 1, 1)}
    assert rows["direct"].multiplies == 56 * 56 * 64 * 64 * 9
    assert rows["im2col"].multiplies == rows["direct"].multiplies
    # Lavin & Gray: 16 instead of 36 multiplies per 2x2 output tile per channel pair -> 2.25x
    assert rows["direct"].multiplies / rows["winograd"].multiplies == pytest.approx(36 / 16)
    assert rows["im2col"].extra_bytes == 64 * 9 * 56 * 56 * 4
    assert "winograd" not in {r.algorithm for r in conv.conv_costs(1, 3, 8, 8, 4, 5, 5)}


def test_bad_inputs_are_clear_errors():
    x, w = np.zeros((1, 3, 8, 8)), np.zeros((4, 3, 5, 5))
    with pytest.raises(ShapeError, match="3x3 kernel and stride 1"):
        engine.conv2d(x, w, algorithm="winograd")
    with pytest.raises(ShapeError, match="stride"):
        engine.conv2d(x, np.zeros((4, 3, 3, 3)), stride=2, algorithm="winograd")
    with pytest.raises(ShapeError, match="unknown algorithm"):
        engine.conv2d(x, w, algorithm="fft")
    with pytest.raises(ShapeError, match="does not fit"):
        engine.conv2d(np.zeros((1, 3, 2, 2)), w)
    with pytest.raises(EngineError, match="stride"):
        engine.conv2d(x, w, stride=-1)
    with pytest.raises(ShapeError, match="groups"):
        engine.conv2d(x, w, groups=2)
    with pytest.raises(EngineError):
        engine.conv2d(np.zeros((1, 3, 4000, 4000)), np.zeros((1, 3, 3, 3)))


def test_im2col_validates():
    with pytest.raises(ShapeError, match="does not fit"):
        conv.im2col(np.zeros((1, 1, 2, 2)), 3, 3)
    with pytest.raises(ShapeError, match="KH"):
        conv.im2col(np.zeros((1, 1, 4, 4)), 0, 3)


def test_depthwise_and_pointwise_helpers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 6, 6))
    dw = rng.standard_normal((5, 1, 3, 3))
    np.testing.assert_allclose(
        conv.depthwise_conv2d(x, dw, 1, 1, "winograd"), _torch_conv(x, dw, 1, 1, 5), atol=1e-10
    )
    pw = rng.standard_normal((3, 5, 1, 1))
    np.testing.assert_allclose(
        conv.pointwise_conv2d(x, pw), np.einsum("kc,nchw->nkhw", pw[:, :, 0, 0], x), atol=1e-12
    )
    with pytest.raises(ShapeError, match="1, 1"):
        conv.pointwise_conv2d(x, dw)
