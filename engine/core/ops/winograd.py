"""The fast path of the ``conv2d`` op for 3x3 stride-1 convolutions: Winograd F(2x2, 3x3).

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks", section 4.1: for every 4x4
input tile d (stride 2) and 3x3 filter g, the 2x2 output tile is Y = A^T [(G g G^T) * (B^T d B)] A,
16 multiplies per output tile and channel pair instead of 36. Same cross-correlation as the
reference im2col kernel in :mod:`engine.core.ops.nn` (which stays the readable definition); the
matrices are those of the teaching kernel :mod:`engine.kernels.conv`.

Stages of :func:`winograd_conv` (numpy calls on long contiguous runs, never per-element strides):
  1. **phases**: the zero-padded input, channels last, split by row and column parity:
     (2, 2, N, th+1, tw+1, C) for th x tw output tiles, so row (column) 2*t + i of every tile is a
     whole slice of one phase;
  2. **input transform** V = B^T d B: rows (4 subtract/add calls), then columns (4 more), giving
     V of shape (16, N*th*tw, C): one tile per row, channels along it;
  3. **product**: 16 batched BLAS matmuls V[k] (N*th*tw, C) @ U[k] (C, Cout), U = G g G^T;
  4. **output transform** Y = A^T M A (rows, then columns), written back to NCHW into the output's
     2x2 phases and cropped to an odd output size. The bias is added to M[1, 1] before it: that
     product enters each of a tile's four outputs exactly once.
The filter transform U = G g G^T of a read-only weight array that owns its data (the interpreter's
cached parameter values are such arrays) is kept until that array is collected, so a graph's weights
are transformed once, as onnxruntime pre-packs them, at 16/9 of their memory (the least recently used
are dropped beyond 128 MiB in all); a writeable weight is transformed on every call (the caller may
change it).
:func:`winograd_applies` picks this path where it measured faster than im2col + one GEMM (enough
channels and work). Accuracy: about the direct sum's in float32 (tested against torch in
tests/test_fast_kernels.py). Not handled: stride > 1, dilation, groups, other kernel sizes; inputs
near the float32 limit (the transforms add four values, so |x| > ~8e37 can overflow where the direct
sum would not) and inf/nan inputs (they spread over whole 2x2 tiles, not only the windows they are
in); a cached weight array made writeable again and changed in place (its stale U is used).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np

from ..opdef import Workspace

# measured crossovers (one thread): with 16-24 channels the transforms cost what the 16 thin GEMMs
# save; under ~8 M multiply-adds numpy's per-call overheads eat the gain
MIN_CHANNELS = 32
MIN_MACS = 1 << 23
MAX_CACHED = 1 << 22  # transformed-filter elements kept per weight array (16 MiB)
MAX_CACHE_TOTAL = 1 << 25  # all kept filters together (128 MiB: ResNet-18's take 64 MiB); LRU beyond

_CACHE: OrderedDict[int, tuple[weakref.ref, np.ndarray]] = OrderedDict()  # id(weight) -> (weight, U)
_LOCK = threading.Lock()


def winograd_applies(x_shape, w_shape, stride, pad, dil, groups) -> bool:
    """Whether ``conv2d`` takes this path: 3x3, stride 1, no dilation or groups, big enough."""
    n, c, h, w = x_shape
    cout, _, kh, kw = w_shape
    ho, wo = h + 2 * pad[0] - 2, w + 2 * pad[1] - 2
    return (
        (kh, kw, *stride, *dil, groups) == (3, 3, 1, 1, 1, 1, 1)
        and min(c, cout) >= MIN_CHANNELS
        and n * cout * c * 9 * ho * wo >= MIN_MACS
    )


def filter_transform(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every filter, laid out (16, C, Cout) for stage 3 (float32).

    G's rows are (1, 0, 0), (1/2)(1, 1, 1), (1/2)(1, -1, 1), (0, 0, 1): each side of the product is
    two sums and a halving, done on whole (C, Cout) planes, each contiguous (one copy of the weights
    to (3, 3, C, Cout) first: ResNet-18's 512x512 filters 14 -> 9 ms, the same bits)."""
    g = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (3, 3, C, Cout)

    def expand(rows):  # the 4 G-combinations of 3 planes
        a = rows[0] + rows[2]
        return rows[0], (a + rows[1]) * np.float32(0.5), (a - rows[1]) * np.float32(0.5), rows[2]

    gw = [expand([g[i, j] for j in range(3)]) for i in range(3)]  # gw[i][l] = (g G^T)[i, l]
    u = np.empty((4, 4) + g.shape[2:], np.float32)
    for l in range(4):
        for k, plane in enumerate(expand([gw[i][l] for i in range(3)])):
            u[k, l] = plane
    return u.reshape(16, *g.shape[2:])


def _transformed(w: np.ndarray) -> np.ndarray:
    """:func:`filter_transform`, remembered for read-only arrays that own their data (least recently
    used ones are dropped beyond :data:`MAX_CACHE_TOTAL` elements)."""
    if w.flags.writeable or not w.flags.owndata or 16 * w.shape[0] * w.shape[1] > MAX_CACHED:
        return filter_transform(w)
    key = id(w)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is w:
            _CACHE.move_to_end(key)
            return hit[1]
    u = filter_transform(w)
    u.setflags(write=False)
    with _LOCK:
        _CACHE[key] = (weakref.ref(w), u)
        total = sum(v[1].size for v in _CACHE.values())
        while total > MAX_CACHE_TOTAL:
            total -= _CACHE.popitem(last=False)[1][1].size
    weakref.finalize(w, _forget, key)
    return u


def _forget(key: int) -> None:
    with _LOCK:
        _CACHE.pop(key, None)


def _tiles(shape, pad) -> tuple[int, int, int, int]:
    n, c, h, w = shape
    ho, wo = h + 2 * pad[0] - 2, w + 2 * pad[1] - 2
    return ho, wo, (ho + 1) // 2, (wo + 1) // 2


def _phases(x: np.ndarray, pad, th: int, tw: int) -> np.ndarray:
    """Stage 1: the zero-padded input, channels last, split by parity: (2, 2, N, th+1, tw+1, C).

    Padded pixel (r, c) lands at [r % 2, c % 2, :, r // 2, c // 2], so row 2*ty + i of tile ty is
    row ty + i // 2 of phase i % 2 (and the same for columns)."""
    n, c, h, w = x.shape
    q = np.zeros((2, 2, n, th + 1, tw + 1, c), np.float32)
    xt = x.transpose(0, 2, 3, 1)
    for pr in range(2):
        r0 = (pr - pad[0]) % 2  # first input row on this row parity
        rows, top = len(range(r0, h, 2)), (r0 + pad[0]) // 2
        for pc in range(2):
            c0 = (pc - pad[1]) % 2
            cols, left = len(range(c0, w, 2)), (c0 + pad[1]) // 2
            q[pr, pc, :, top : top + rows, left : left + cols] = xt[:, r0::2, c0::2]
    return q


def _input_transform(q: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Stage 2: V = B^T d B for every tile, shape (16, N*th*tw, C)."""
    n, c = q.shape[2], q.shape[5]
    r = [q[i % 2, :, :, i // 2 : i // 2 + th] for i in range(4)]  # tile row i: (2, N, th, tw+1, C)
    t = np.empty((4,) + r[0].shape, np.float32)
    np.subtract(r[0], r[2], out=t[0])
    np.add(r[1], r[2], out=t[1])
    np.subtract(r[2], r[1], out=t[2])
    np.subtract(r[1], r[3], out=t[3])
    s = [t[:, j % 2, :, :, j // 2 : j // 2 + tw] for j in range(4)]  # tile column j: (4, N, th, tw, C)
    v = np.empty((4, 4, n, th, tw, c), np.float32)
    np.subtract(s[0], s[2], out=v[:, 0])
    np.add(s[1], s[2], out=v[:, 1])
    np.subtract(s[2], s[1], out=v[:, 2])
    np.subtract(s[1], s[3], out=v[:, 3])
    return v.reshape(16, n * th * tw, c)


def _output_transform(m: np.ndarray) -> np.ndarray:
    """Stage 4: A^T M A of the 16 products (16, ...) -> the 2x2 output phases (2, 2, ...)."""
    m = m.reshape(4, 4, -1)
    p = np.empty((2,) + m.shape[1:], np.float32)  # A^T M: rows
    np.add(m[0], m[1], out=p[0])
    p[0] += m[2]
    np.subtract(m[1], m[2], out=p[1])
    p[1] -= m[3]
    y = np.empty((2, 2) + m.shape[2:], np.float32)  # (A^T M) A: columns
    np.add(p[:, 0], p[:, 1], out=y[:, 0])
    y[:, 0] += p[:, 2]
    np.subtract(p[:, 1], p[:, 2], out=y[:, 1])
    y[:, 1] -= p[:, 3]
    return y


def winograd_conv(x: np.ndarray, w: np.ndarray, pad, bias: np.ndarray | None = None) -> np.ndarray:
    """3x3 stride-1 cross-correlation of x (N, C, H, W) with w (Cout, C, 3, 3), symmetric ``pad``."""
    n, cout = x.shape[0], w.shape[0]
    ho, wo, th, tw = _tiles(x.shape, pad)
    v = _input_transform(_phases(x, pad, th, tw), th, tw)
    m = np.matmul(v, _transformed(w))  # stage 3: (16, N*th*tw, Cout)
    del v
    if bias is not None:  # A^T M A adds M[1, 1] to all four outputs of a tile exactly once
        m[5] += bias
    y = _output_transform(m).reshape(2, 2, n, th, tw, cout).transpose(0, 1, 2, 5, 3, 4)
    del m
    out = np.empty((n, cout, ho, wo), np.float32)
    for a in range(2):
        for b in range(2):
            phase = out[:, :, a::2, b::2]
            phase[...] = y[a, b, :, :, : phase.shape[2], : phase.shape[3]]
    return out


def winograd_workspace(x_shape, w_shape, pad) -> Workspace:
    """Peak temporaries of :func:`winograd_conv`: the transformed filter (unless cached) and the
    larger of the input stage (phases + rows + V), V + M, and the output stage (M + A^T M + Y)."""
    n, c = x_shape[:2]
    cout = w_shape[0]
    _, _, th, tw = _tiles(x_shape, pad)
    phases = 4 * n * c * (th + 1) * (tw + 1)
    rows = 8 * n * c * th * (tw + 1)
    v, m = 16 * n * c * th * tw, 16 * n * cout * th * tw
    # U, g G^T (12 planes) with two expansion temporaries, and the (3, 3, C, Cout) copy of the weights
    filt = (16 + 14 + 9) * cout * c
    temp = filt + max(phases + rows + v, v + m, m + m // 2 + m // 4)
    return Workspace(temp=temp, loops=4, streamed=3 * (phases + rows + v) + 3 * m)
