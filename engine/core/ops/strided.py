"""Fast paths for windowed kernels beside the reference ones in :mod:`engine.core.ops.nn`.

Both give bit-identical results to their reference (they copy and compare the same numbers, in a
different order of memory accesses):
  * :func:`im2col_phases`, for convolutions with stride > 1 and many taps (ResNet's 7x7 stride-2
    stem): (1) the zero-padded input is split once into its stride x stride *phases*
    (phase (r, c) holds padded rows r, r+s, ... and columns c, c+s, ...); (2) each kernel tap
    (i, j) is then a plain slice of phase (i*d % s, j*d % s) at offset (i*d // s, j*d // s), so the
    KH*KW column copies read contiguous rows instead of every s-th element;
  * :func:`maxpool_separable`: a KHxKW max is a max over KW columns followed by a max over KH rows,
    so the padded input is reduced along its width first (KW strided maxima into an
    (N, C, Hp, Wo) buffer) and then along its height (KH row slices): KH+KW passes instead of
    KH*KW, the second half over a buffer Wo/W the size of the input.
Not handled: what the reference kernels do not handle (asymmetric pads, ceil_mode).
"""

from __future__ import annotations

import numpy as np

from ..opdef import Workspace

MIN_TAPS = 16  # im2col_phases pays a padded copy; below ~16 taps the reference is faster


def phases_apply(kh: int, kw: int, stride) -> bool:
    """Whether ``conv2d``'s im2col takes :func:`im2col_phases`."""
    return max(stride) > 1 and kh * kw >= MIN_TAPS


def _padded_extent(size: int, pad: int, out: int, stride: int, reach: int) -> int:
    """Padded length covering both the input and every tap, rounded up to a multiple of stride."""
    n = max(size + 2 * pad, (out - 1) * stride + reach)
    return n + (-n % stride)


def im2col_phases(x: np.ndarray, kh: int, kw: int, stride, pad, dil, ho: int, wo: int) -> np.ndarray:
    """Columns (N, C, KH, KW, Ho, Wo), as the reference ``_im2col``, via the input's phases."""
    n, c, h, w = x.shape
    (s0, s1), (d0, d1) = stride, dil
    hp = _padded_extent(h, pad[0], ho, s0, d0 * (kh - 1) + 1)
    wp = _padded_extent(w, pad[1], wo, s1, d1 * (kw - 1) + 1)
    padded = np.zeros((n, c, hp, wp), np.float32)
    padded[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    # phase[r, q, n, c, a, b] = padded[n, c, a*s0 + r, b*s1 + q]
    phase = padded.reshape(n, c, hp // s0, s0, wp // s1, s1).transpose(3, 5, 0, 1, 2, 4).copy()
    del padded
    cols = np.empty((n, c, kh, kw, ho, wo), np.float32)
    for i in range(kh):
        a, r = divmod(i * d0, s0)
        for j in range(kw):
            b, q = divmod(j * d1, s1)
            cols[:, :, i, j] = phase[r, q, :, :, a : a + ho, b : b + wo]
    return cols


def im2col_phases_workspace(x_shape, kh, kw, stride, pad, dil, ho, wo) -> int:
    """Peak temporary elements of :func:`im2col_phases`: padded input + phases, then + columns."""
    n, c, h, w = x_shape
    hp = _padded_extent(h, pad[0], ho, stride[0], dil[0] * (kh - 1) + 1)
    wp = _padded_extent(w, pad[1], wo, stride[1], dil[1] * (kw - 1) + 1)
    return 2 * n * c * hp * wp + n * c * kh * kw * ho * wo


def maxpool_separable(x: np.ndarray, k, s, p, out_shape) -> np.ndarray:
    """Max pooling as the reference ``_maxpool_kernel``: a max along the width, then the height."""
    ho, wo = out_shape[2], out_shape[3]
    padded = np.pad(x, ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2), constant_values=-np.inf)
    rows = None  # (N, C, Hp, Wo): the max over each window's columns, for every padded row
    for j in range(k[1]):
        v = padded[..., j : j + s[1] * (wo - 1) + 1 : s[1]]
        rows = v.copy() if rows is None else np.maximum(rows, v, out=rows)
    del padded
    out = None
    for i in range(k[0]):
        v = rows[:, :, i : i + s[0] * (ho - 1) + 1 : s[0]]
        out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out


def maxpool_workspace(in_shape, out_shape, k, p) -> Workspace:
    """Padded copy and the row buffer (the accumulator is the output). The loops are declared as
    the reference kernel's KH*KW (this path makes KH + KW), so the budget holds for either kernel."""
    n, c, h, w = in_shape
    hp = h + 2 * p[0]
    padded, rows = n * c * hp * (w + 2 * p[1]), n * c * hp * out_shape[3]
    out = n * c * out_shape[2] * out_shape[3]
    taps = k[0] * k[1]
    return Workspace(temp=padded + max(rows, out), loops=taps, streamed=2 * taps * out + 2 * k[1] * rows)
