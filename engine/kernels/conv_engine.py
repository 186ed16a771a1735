"""Convolution kernels an inference engine chooses between, per layer: float32 on BLAS.

The teaching kernels of :mod:`engine.kernels.conv` compute in float64 with einsum (readable,
~1 GMAC/s); an engine runs float32 on BLAS. These four compute the same cross-correlation (plus bias)
the way an engine would, in stages per call (:func:`engine_conv`): check that the kernel can run the
layer, check the work and memory budget (:func:`engine_workspace`: what numpy really allocates,
checked with tracemalloc in tests), then compute:
  1. direct: KH*KW GEMMs (K/g x C/g) @ (C/g x OH*OW), one per kernel tap, added into the output: no
     column matrix, but the input is copied once per tap;
  2. im2col: one column matrix (C*KH*KW x OH*OW) per image, then one GEMM per group;
  3. winograd: F(2x2, 3x3) with the filter transform kept per read-only weight array (the
     interpreter's fast path, :mod:`engine.core.ops.winograd`); 3x3, stride 1, groups 1 only;
  4. depthwise: groups = C = K: KH*KW multiply-adds of shifted input planes, no GEMM at all.
Not handled: dilation (the interpreter's kernel runs such layers), asymmetric padding, int8.
"""

from __future__ import annotations

import numpy as np

from ..core import budget
from ..core.errors import ShapeError

ENGINE_ALGORITHMS = ("direct", "im2col", "winograd", "depthwise")


def _hw2(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))


def engine_candidates(x_shape, w_shape, stride=1, pad=0, dilation=1, groups: int = 1) -> tuple[str, ...]:
    """The float32 kernels that can run this conv layer (none with dilation: the interpreter's does)."""
    c, (k, _, kh, kw) = x_shape[1], w_shape
    if _hw2(dilation) != (1, 1):
        return ()
    algorithms = ["direct", "im2col"]
    if (kh, kw) == (3, 3) and _hw2(stride) == (1, 1) and groups == 1:
        algorithms.append("winograd")
    if groups == c == k:
        algorithms.append("depthwise")
    return tuple(algorithms)


def _engine_geometry(x, w, stride, pad):
    (sh, sw), (ph, pw) = _hw2(stride), _hw2(pad)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    oh, ow = (xp.shape[2] - w.shape[2]) // sh + 1, (xp.shape[3] - w.shape[3]) // sw + 1
    return xp, sh, sw, oh, ow


def _taps(xp, kh, kw, sh, sw, oh, ow):
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]


def _engine_direct(x, w, stride, pad, groups):
    xp, sh, sw, oh, ow = _engine_geometry(x, w, stride, pad)
    n, (k, cg, kh, kw) = x.shape[0], w.shape
    # per tap a contiguous (groups, K/g, C/g) slice: a strided one would miss BLAS
    wt = np.ascontiguousarray(w.reshape(groups, k // groups, cg, kh, kw).transpose(3, 4, 0, 1, 2))
    out = np.zeros((n, groups, k // groups, oh * ow), np.float32)
    for i, j, patch in _taps(xp, kh, kw, sh, sw, oh, ow):
        out += np.matmul(wt[i, j], patch.reshape(n, groups, cg, oh * ow))
    return out.reshape(n, k, oh, ow)


def _engine_im2col(x, w, stride, pad, groups):
    xp, sh, sw, oh, ow = _engine_geometry(x, w, stride, pad)
    n, c, (k, cg, kh, kw) = x.shape[0], x.shape[1], w.shape
    cols = np.empty((n, c, kh, kw, oh, ow), np.float32)
    for i, j, patch in _taps(xp, kh, kw, sh, sw, oh, ow):
        cols[:, :, i, j] = patch
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    return np.matmul(w.reshape(groups, k // groups, -1), cols).reshape(n, k, oh, ow)


def _engine_depthwise(x, w, stride, pad, groups):
    xp, sh, sw, oh, ow = _engine_geometry(x, w, stride, pad)
    out = np.zeros((x.shape[0], x.shape[1], oh, ow), np.float32)
    for i, j, patch in _taps(xp, w.shape[2], w.shape[3], sh, sw, oh, ow):
        out += patch * w[:, 0, i, j][None, :, None, None]
    return out


def engine_workspace(x_shape, w_shape, stride, pad, groups: int, algorithm: str) -> int:
    """float32 elements a kernel allocates besides its input, weights and output (padded copy included)."""
    n, c, h, wd = x_shape
    k, _, kh, kw = w_shape
    (sh, sw), (ph, pw) = _hw2(stride), _hw2(pad)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    padded = n * c * (h + 2 * ph) * (wd + 2 * pw) if ph or pw else 0
    if algorithm == "im2col":
        return padded + n * c * kh * kw * oh * ow
    if algorithm == "winograd":
        th, tw = -(-(h + 2 * ph - 2) // 2), -(-(wd + 2 * pw - 2) // 2)
        return 4 * n * c * (th + 1) * (tw + 1) + 16 * n * th * tw * (c + k) + 16 * k * c
    patch = n * c * oh * ow
    if algorithm == "direct":  # the weights laid out tap by tap, a tap's patch copy, the GEMM's result
        return padded + k * w_shape[1] * kh * kw + patch + n * k * oh * ow
    return padded + 3 * patch  # depthwise: numpy's temporaries of one strided multiply


def engine_conv(x, w, bias=None, stride=1, pad=0, groups: int = 1, algorithm: str = "im2col") -> np.ndarray:
    """One conv layer in float32 with the chosen engine kernel (see :data:`ENGINE_ALGORITHMS`)."""
    x, w = np.asarray(x, np.float32), np.asarray(w, np.float32)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ShapeError(
            f"conv2d: x {list(np.shape(x))} and w {list(np.shape(w))} do not fit with groups = {groups}"
        )
    if algorithm not in engine_candidates(x.shape, w.shape, stride, pad, 1, groups):
        allowed = ", ".join(engine_candidates(x.shape, w.shape, stride, pad, 1, groups))
        raise ShapeError(f"the {algorithm!r} kernel cannot run this layer; it can run: {allowed}")
    (sh, sw), (ph, pw) = _hw2(stride), _hw2(pad)
    oh, ow = (x.shape[2] + 2 * ph - w.shape[2]) // sh + 1, (x.shape[3] + 2 * pw - w.shape[3]) // sw + 1
    what = f"conv2d ({algorithm}) of x {list(x.shape)} with w {list(w.shape)}"
    budget.check_work(x.shape[0] * w.shape[0] * oh * ow * w.shape[1] * w.shape[2] * w.shape[3], what)
    budget.check_memory(engine_workspace(x.shape, w.shape, stride, pad, groups, algorithm), what)
    if algorithm == "winograd":
        from ..core.ops.winograd import winograd_conv

        return winograd_conv(x, w, (ph, pw), None if bias is None else np.asarray(bias, np.float32))
    kernel = {"direct": _engine_direct, "im2col": _engine_im2col, "depthwise": _engine_depthwise}[algorithm]
    out = kernel(x, w, stride, pad, groups)
    if bias is not None:
        out += np.asarray(bias, np.float32)[None, :, None, None]
    return out
