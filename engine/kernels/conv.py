"""Convolution algorithms: direct, im2col + GEMM, Winograd F(2x2, 3x3); grouped/depthwise/pointwise.

All compute the same cross-correlation as ``torch.nn.functional.conv2d`` (NCHW input x of shape
(N, C, H, W), weights w of shape (K, C/groups, KH, KW)):
  1. direct: for every kernel tap (kh, kw) add ``w[:, :, kh, kw] @ shifted input`` (the six-loop
     definition, vectorised over the output pixels);
  2. im2col: unroll every receptive field into one column of a (C*KH*KW, OH*OW) matrix, then one GEMM
     with the (K, C*KH*KW) weight matrix; the unrolled matrix is ~KH*KW times the input;
  3. Winograd F(2x2, 3x3) (Lavin & Gray 2016): per 4x4 input tile d and 3x3 filter g,
     Y = A^T [(G g G^T) * (B^T d B)] A, i.e. 16 multiplies per 2x2 output tile per channel pair
     instead of 36. Stride 1 and 3x3 only;
  4. groups: channels split into ``groups`` independent convolutions (groups = C: depthwise;
     a 1x1 kernel: pointwise).
Budget: :func:`conv2d` checks, before computing, its multiply-adds (einsum in float64, ~1 GMAC/s:
:data:`engine.core.budget.MAX_WORK`), the float64 buffers of the chosen algorithm (padded input, column
matrix or Winograd tiles) and its Python loops (one per group and kernel tap).
Not handled: dilation, asymmetric padding, Winograd for other tile sizes (F(4x4, 3x3)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import ShapeError

ALGORITHMS = ("direct", "im2col", "winograd")

# Lavin & Gray (2016), section 4.1, F(2x2, 3x3)
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def _int_param(name: str, value, low: int, high: int = 1 << 16) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ShapeError(f"{name} = {value!r} must be a whole number from {low} to {high}")
    return int(value)


def output_size(size: int, k: int, stride: int, pad: int) -> int:
    """floor((size + 2*pad - k) / stride) + 1."""
    return (size + 2 * pad - k) // stride + 1


def _check(x: np.ndarray, w: np.ndarray, stride, pad, groups) -> tuple[int, int, int]:
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(
            f"conv2d needs x of shape (N, C, H, W) and w of shape (K, C/groups, KH, "
            f"KW); got x {list(x.shape)} and w {list(w.shape)}"
        )
    stride = _int_param("stride", stride, 1, 64)
    pad = _int_param("pad", pad, 0, 64)
    groups = _int_param("groups", groups, 1, 1 << 14)
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    if c % groups or k % groups or cg != c // groups:
        raise ShapeError(
            f"with groups = {groups}, x has {c} channels and w {list(w.shape)}: need C "
            f"and K divisible by groups and w.shape[1] = C/groups = {c // groups}"
        )
    oh, ow = output_size(h, kh, stride, pad), output_size(wd, kw, stride, pad)
    if oh < 1 or ow < 1:
        raise ShapeError(f"kernel {kh}x{kw} does not fit input {h}x{wd} with pad {pad}")
    budget.check_tensor((n, k, oh, ow), "conv output")
    budget.check_tensor((n, c * kh * kw, oh * ow), "im2col matrix")
    return stride, pad, groups


def _check_work(x_shape, w_shape, stride: int, pad: int, groups: int, algorithm: str) -> None:
    """Refuse a call whose multiply-adds, float64 buffers or Python loops are over budget."""
    n, c, h, wd = x_shape
    k, cg, kh, kw = w_shape
    oh, ow = output_size(h, kh, stride, pad), output_size(wd, kw, stride, pad)
    what = f"conv2d ({algorithm}) of x {list(x_shape)} with w {list(w_shape)}"
    budget.check_work(n * k * oh * ow * cg * kh * kw, what)
    padded, out = n * c * (h + 2 * pad) * (wd + 2 * pad), n * k * oh * ow
    buffers = {
        "direct": padded + 2 * out,  # output + one einsum term
        "im2col": padded + n * c * kh * kw * oh * ow + out,
        "winograd": 10 * (padded + out),
    }[algorithm]  # tiles, B^T d B, m, y: 4x each
    budget.check_memory(2 * (n * c * h * wd + buffers), what)  # float64: 2 fp32 elements
    taps = 16 if algorithm == "winograd" else kh * kw
    budget.check_loops(groups * taps, 0, what)


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unrolled input of shape (N, C*KH*KW, OH*OW): column p holds the receptive field of pixel p.

    Row order is (c, kh, kw), matching ``w.reshape(K, -1)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ShapeError(f"im2col needs x of shape (N, C, H, W); got {list(x.shape)}")
    kh, kw = _int_param("KH", kh, 1, 64), _int_param("KW", kw, 1, 64)
    _check(x, np.zeros((1, x.shape[1], kh, kw)), stride, pad, 1)
    x = _pad(x, pad)
    n, c, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return cols.reshape(n, c * kh * kw, oh * ow)


def _direct(x, w, stride, pad):
    x = _pad(x, pad)
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, k, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            out += np.einsum("kc,nchw->nkhw", w[:, :, i, j], patch)
    return out


def _im2col(x, w, stride, pad):
    k, c, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, pad)
    oh = output_size(x.shape[2], kh, stride, pad)
    ow = output_size(x.shape[3], kw, stride, pad)
    out = np.einsum("kr,nrp->nkp", w.reshape(k, -1), cols)  # the GEMM
    return out.reshape(x.shape[0], k, oh, ow)


def winograd_filter_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (k, c): shape (K, C, 4, 4)."""
    return np.einsum("ai,kcij,bj->kcab", WINOGRAD_G, w, WINOGRAD_G)


def _winograd(x, w, stride, pad):
    k, c, kh, kw = w.shape
    if stride != 1 or (kh, kw) != (3, 3):
        raise ShapeError(
            f"Winograd F(2x2, 3x3) needs a 3x3 kernel and stride 1; got a {kh}x{kw} "
            f"kernel with stride {stride} (use direct or im2col)"
        )
    x = _pad(x, pad)
    n, _, h, wd = x.shape
    oh, ow = h - 2, wd - 2
    th, tw = -(-oh // 2), -(-ow // 2)  # 2x2 output tiles
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    xp[:, :, :h, :wd] = x
    tiles = np.empty((n, c, th, tw, 4, 4))
    for a in range(4):
        for b in range(4):
            tiles[..., a, b] = xp[:, :, a : a + 2 * th : 2, b : b + 2 * tw : 2]
    v = np.einsum("ai,nctuij,bj->nctuab", WINOGRAD_BT, tiles, WINOGRAD_BT)  # B^T d B
    u = winograd_filter_transform(w)  # G g G^T
    m = np.einsum("kcab,nctuab->nktuab", u, v)  # 16 multiplies per tile per (k, c)
    y = np.einsum("ia,nktuab,jb->nktuij", WINOGRAD_AT, m, WINOGRAD_AT)  # A^T m A
    out = y.transpose(0, 1, 2, 4, 3, 5).reshape(n, k, 2 * th, 2 * tw)
    return out[:, :, :oh, :ow]


_KERNELS = {"direct": _direct, "im2col": _im2col, "winograd": _winograd}


def conv2d(
    x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0, algorithm: str = "direct", groups: int = 1
) -> np.ndarray:
    """2-D cross-correlation (torch's conv2d, no bias) with the chosen algorithm; float64 result."""
    if algorithm not in _KERNELS:
        raise ShapeError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    stride, pad, groups = _check(x, w, stride, pad, groups)
    _check_work(x.shape, w.shape, stride, pad, groups, algorithm)
    kernel = _KERNELS[algorithm]
    if groups == 1:
        return kernel(x, w, stride, pad)
    cg, kg = x.shape[1] // groups, w.shape[0] // groups
    parts = [
        kernel(x[:, g * cg : (g + 1) * cg], w[g * kg : (g + 1) * kg], stride, pad) for g in range(groups)
    ]
    return np.concatenate(parts, axis=1)


def depthwise_conv2d(
    x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0, algorithm: str = "direct"
) -> np.ndarray:
    """One KH x KW filter per channel: weights (C, 1, KH, KW), groups = C."""
    return conv2d(x, w, stride, pad, algorithm, groups=np.asarray(x).shape[1] if np.ndim(x) == 4 else 1)


def pointwise_conv2d(x: np.ndarray, w: np.ndarray, algorithm: str = "im2col") -> np.ndarray:
    """A 1x1 convolution (weights (K, C, 1, 1)): a matrix product over channels at every pixel."""
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[2:] != (1, 1):
        raise ShapeError(f"pointwise weights must have shape (K, C, 1, 1); got {list(w.shape)}")
    return conv2d(x, w, 1, 0, algorithm)


@dataclass(frozen=True)
class ConvCost:
    algorithm: str
    multiplies: int  # multiplications in the main computation (transforms listed apart)
    flops: int  # 2 * multiply-adds of the main computation
    extra_bytes: int  # workspace beyond input, weights and output
    transform_flops: int  # Winograd input/output transform additions (approximate: 0 otherwise)
    note: str


def conv_costs(
    n: int,
    c: int,
    h: int,
    w: int,
    k: int,
    kh: int = 3,
    kw: int = 3,
    stride: int = 1,
    pad: int = 0,
    groups: int = 1,
    dtype_bytes: int = 4,
) -> list[ConvCost]:
    """Multiplies, FLOPs and extra memory of each algorithm for one conv layer, side by side."""
    for name, v in dict(n=n, c=c, h=h, w=w, k=k, kh=kh, kw=kw).items():
        _int_param(name, v, 1, 1 << 16)
    oh, ow = output_size(h, kh, stride, pad), output_size(w, kw, stride, pad)
    if oh < 1 or ow < 1 or c % groups or k % groups:
        raise ShapeError(
            f"layer does not fit: input {h}x{w}, kernel {kh}x{kw}, pad {pad}, "
            f"stride {stride}, C={c}, K={k}, groups={groups}"
        )
    cg = c // groups
    direct_mults = n * k * oh * ow * cg * kh * kw
    rows = [
        ConvCost(
            "direct", direct_mults, 2 * direct_mults, 0, 0, "no workspace; KH*KW shifted reads of the input"
        )
    ]
    im2col_elems = n * c * kh * kw * oh * ow
    rows.append(
        ConvCost(
            "im2col",
            direct_mults,
            2 * direct_mults,
            im2col_elems * dtype_bytes,
            0,
            f"unrolled matrix = {im2col_elems / (n * c * h * w):.2f}x the input",
        )
    )
    if (kh, kw) == (3, 3) and stride == 1:
        tiles = n * (-(-oh // 2)) * (-(-ow // 2))
        wino_mults = tiles * k * cg * 16
        extra = (k * cg * 16 + tiles * c * 16 + tiles * k * 16) * dtype_bytes
        # B^T d B: 32 adds per tile per channel; A^T m A: 24 adds per tile per output channel
        transform = tiles * c * 32 + tiles * k * 24
        rows.append(
            ConvCost(
                "winograd",
                wino_mults,
                2 * wino_mults,
                extra,
                transform,
                f"{direct_mults / wino_mults:.2f}x fewer multiplies (36 -> 16 per tile)",
            )
        )
    return rows
