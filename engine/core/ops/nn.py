"""Neural-network ops: matmul, gemm, conv2d, batchnorm, pools, softmax, layernorm, attention.

Fusion kinds follow TVM's OpPatternKind (``include/tvm/relay/op_attr_types.h``): matmul, gemm, conv2d
and the pools are ``kOutEWiseFusable`` (an elementwise consumer may be fused into their output loop);
inference batchnorm is a per-channel scale-and-shift, so ``kBroadcast``; softmax and layernorm are
``kOpaque`` here (they need a full reduction before they can write any output), and so is ``attention``
(softmax(scale * q k^T) v in one op: what engine.compiler.passes.pattern_fuse makes of the decomposed form).

Kernels, in stages:
  * ``conv2d``: (1) im2col: a (N, C, KH, KW, Ho, Wo) column buffer filled by one strided slice copy
    per kernel offset (the zero padding is never materialised: out-of-range rows stay zero);
    (2) one batched BLAS matmul of the weights viewed as (groups, Cout/g, Cin/g*KH*KW) with the
    columns viewed as (N, groups, Cin/g*KH*KW, Ho*Wo); (3) bias. Depthwise convolutions skip the
    column buffer and accumulate KH*KW shifted multiplies of a ``sliding_window_view`` instead.
  * pools loop over the KH*KW window offsets, each a strided slice of the padded input; ``avgpool``
    divides by the number of *real* (non-pad) elements in each window (ONNX ``count_include_pad=0``).
Those are the reference kernels (``_conv_reference``, ``_maxpool_reference``). The registered
kernels take a fast path where one applies, beside them and tested against torch with them
(tests/test_fast_kernels.py): 3x3 stride-1 convolutions with enough channels run Winograd F(2x2, 3x3)
(:mod:`engine.core.ops.winograd`); strided convolutions with many taps fill the columns from the
input's stride phases, and max pooling is separable (:mod:`engine.core.ops.strided`).

Workspace (what a kernel holds besides inputs and output, checked before a run): conv2d's column
buffer (N*C*KH*KW*Ho*Wo), Winograd's tiles or, depthwise, a padded copy; pools a padded copy (max
pooling also a row buffer); their loop iterations.

Cost conventions (``flops`` returns (FLOPs, MACs)):
  * matmul/gemm/conv2d: MACs = multiply-accumulates of the product; FLOPs = 2*MACs, plus 1 FLOP per
    output element for an added bias (conv ``b``, gemm ``c``); gemm's alpha/beta scalings are not counted.
  * batchnorm: 2 FLOPs per element (folded to x*a + b); pools: KH*KW per output element (compares or
    adds); global_avgpool: 1 per input element; softmax: 5 per element (max, subtract, exp, sum,
    divide); layernorm: 5 per element (mean, subtract, square, sum, scale by 1/std) + 1 each for scale
    and bias; attention: the two products' 2*MACs + 6 per score (1 scale + 5 softmax), the sum of its
    decomposed form. These are conventions, stated so that a student can recompute them by hand
    (engine.core.conventions compares them with NVIDIA's and fvcore's).
Not handled: asymmetric pads, ceil_mode, auto_pad, 1-D/3-D convolutions, training-mode batchnorm,
attention masks and dropout.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError
from ..opdef import OpDef, OpTable, Workspace
from .common import broadcast_shape, integer, number, numel
from .strided import (
    im2col_phases,
    im2col_phases_workspace,
    maxpool_separable,
    maxpool_workspace,
    phases_apply,
)
from .winograd import winograd_applies, winograd_conv, winograd_workspace

F32 = "float32"

OPS = OpTable()  # this module's ops, in order; engine.core.registry collects them
register = OPS.register


def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """An int or a 2-sequence of ints -> (h, w), each at least ``minimum``."""
    if not isinstance(value, (tuple, list)):
        pair = (integer(op, name, value),) * 2
    elif len(value) == 2:
        pair = tuple(integer(op, name, v) for v in value)
    else:
        raise ShapeError(f"{op}: {name} must be an integer or a pair (h, w), got {value!r}")
    if min(pair) < minimum:
        raise ShapeError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return pair


def _broadcasts_to(shape, target) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (ONNX unidirectional broadcasting)."""
    shape, target = tuple(shape), tuple(target)
    return len(shape) <= len(target) and all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def _rank(op: str, what: str, shape, rank: int) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{op}: {what} must have {rank} dimensions, got shape {list(shape)}")


# -- matmul / gemm -------------------------------------------------------------------------------
def _matmul_dims(a, b):
    a, b = tuple(a), tuple(b)
    if not a or not b:
        raise ShapeError(
            f"matmul: cannot multiply {list(a)} by {list(b)}: both need at least one "
            "dimension (use mul for scalars)"
        )
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: cannot multiply {list(a)} by {list(b)}: inner sizes {a2[-1]} and {b2[-2]} differ"
        )
    try:
        batch = broadcast_shape("matmul", a2[:-2], b2[:-2])
    except ShapeError:
        raise ShapeError(
            f"matmul: cannot multiply {list(a)} by {list(b)}: batch sizes "
            f"{list(a2[:-2])} and {list(b2[:-2])} do not broadcast"
        ) from None
    out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return out, batch, a2[-2], a2[-1], b2[-1]


def _matmul_flops(in_shapes, out_shape, attrs):
    _, batch, m, k, n = _matmul_dims(in_shapes[0], in_shapes[1])
    macs = numel(batch) * m * k * n
    return 2 * macs, macs


register(
    OpDef(
        "matmul",
        "out_elemwise_fusable",
        2,
        2,
        lambda s, d, a: (_matmul_dims(s[0], s[1])[0], F32),
        lambda xs, a: np.matmul(xs[0], xs[1]),
        _matmul_flops,
        doc="matrix product with numpy batch broadcasting",
        onnx="MatMul",
    )
)


def _gemm_dims(in_shapes, attrs):
    a, b = tuple(in_shapes[0]), tuple(in_shapes[1])
    number("gemm", "alpha", attrs["alpha"])
    number("gemm", "beta", attrs["beta"])
    _rank("gemm", "A", a, 2)
    _rank("gemm", "B", b, 2)
    m, k = a[::-1] if attrs["trans_a"] else a
    k2, n = b[::-1] if attrs["trans_b"] else b
    if k != k2:
        raise ShapeError(
            f"gemm: cannot multiply A {list(a)} (trans_a={attrs['trans_a']}) by "
            f"B {list(b)} (trans_b={attrs['trans_b']}): inner sizes {k} and {k2} differ"
        )
    if len(in_shapes) > 2:
        c = tuple(in_shapes[2])
        if not _broadcasts_to(c, (m, n)):
            raise ShapeError(f"gemm: C of shape {list(c)} does not broadcast to the product's shape {[m, n]}")
    return m, k, n


def _gemm_kernel(xs, at):
    a = xs[0].T if at["trans_a"] else xs[0]
    b = xs[1].T if at["trans_b"] else xs[1]
    out = a @ b
    if at["alpha"] != 1.0:
        out *= np.float32(at["alpha"])
    if len(xs) > 2:
        out += xs[2] if at["beta"] == 1.0 else np.float32(at["beta"]) * xs[2]
    return out


def _gemm_flops(in_shapes, out_shape, attrs):
    m, k, n = _gemm_dims(in_shapes, attrs)
    macs = m * k * n
    return 2 * macs + (m * n if len(in_shapes) > 2 else 0), macs


register(
    OpDef(
        "gemm",
        "out_elemwise_fusable",
        2,
        3,
        lambda s, d, a: (_gemm_dims(s, a)[::2], F32),
        _gemm_kernel,
        _gemm_flops,
        attrs={"alpha": 1.0, "beta": 1.0, "trans_a": 0, "trans_b": 0},
        doc="alpha * A' @ B' + beta * C (ONNX Gemm)",
        onnx="Gemm",
    )
)


# -- conv2d --------------------------------------------------------------------------------------
def _conv_geometry(in_shapes, attrs):
    x, w = tuple(in_shapes[0]), tuple(in_shapes[1])
    _rank("conv2d", "the input x (N, C, H, W)", x, 4)
    _rank("conv2d", "the weight w (Cout, Cin/groups, KH, KW)", w, 4)
    stride = _pair("conv2d", "stride", attrs["stride"], 1)
    pad = _pair("conv2d", "pad", attrs["pad"], 0)
    dil = _pair("conv2d", "dilation", attrs["dilation"], 1)
    groups = integer("conv2d", "groups", attrs["groups"])
    n, c, h, wd = x
    cout, cg, kh, kw = w
    if groups < 1 or c % groups or cout % groups:
        raise ShapeError(
            f"conv2d: groups={groups} must divide both the input channels {c} and the output channels {cout}"
        )
    if cg != c // groups:
        raise ShapeError(
            f"conv2d: weight {list(w)} expects {cg} input channels per group but "
            f"x {list(x)} with groups={groups} gives {c // groups}"
        )
    if len(in_shapes) > 2 and tuple(in_shapes[2]) != (cout,):
        raise ShapeError(
            f"conv2d: bias of shape {list(in_shapes[2])} should be [{cout}] for weight {list(w)}"
        )
    ext = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    padded = (h + 2 * pad[0], wd + 2 * pad[1])
    if ext[0] > padded[0] or ext[1] > padded[1]:
        raise ShapeError(
            f"conv2d: the kernel (effective size {ext[0]}x{ext[1]} with dilation "
            f"{list(dil)}) is larger than the padded input {padded[0]}x{padded[1]} "
            f"of x {list(x)}"
        )
    ho = (padded[0] - ext[0]) // stride[0] + 1
    wo = (padded[1] - ext[1]) // stride[1] + 1
    return (n, cout, ho, wo), stride, pad, dil, groups


def _valid_span(k: int, dil: int, pad: int, stride: int, size: int, out: int):
    """Output rows o in [lo, hi) whose input row o*stride + k*dil - pad lies inside [0, size)."""
    off = k * dil - pad
    lo = max(0, (-off + stride - 1) // stride)
    hi = min(out, (size - 1 - off) // stride + 1)
    return lo, hi, off


def _im2col(x, kh, kw, stride, pad, dil, ho, wo):
    """Columns (N, C, KH, KW, Ho, Wo): one strided copy per kernel offset; pads stay zero."""
    n, c, h, w = x.shape
    alloc = np.zeros if pad[0] or pad[1] else np.empty
    cols = alloc((n, c, kh, kw, ho, wo), np.float32)
    for i in range(kh):
        ylo, yhi, yoff = _valid_span(i, dil[0], pad[0], stride[0], h, ho)
        for j in range(kw):
            xlo, xhi, xoff = _valid_span(j, dil[1], pad[1], stride[1], w, wo)
            if ylo < yhi and xlo < xhi:
                cols[:, :, i, j, ylo:yhi, xlo:xhi] = x[
                    :,
                    :,
                    ylo * stride[0] + yoff : (yhi - 1) * stride[0] + yoff + 1 : stride[0],
                    xlo * stride[1] + xoff : (xhi - 1) * stride[1] + xoff + 1 : stride[1],
                ]
    return cols


def _depthwise(x, w, stride, pad, dil, ho, wo):
    """Depthwise conv (one filter per channel): KH*KW shifted multiply-adds, no column matrix."""
    (n, c), (kh, kw) = x.shape[:2], w.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    win = sliding_window_view(x, (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, :: stride[0], :: stride[1], :: dil[0], :: dil[1]][:, :, :ho, :wo]
    out = np.zeros((n, c, ho, wo), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            out += win[..., i, j] * w[:, 0, i, j][None, :, None, None]
    return out


def _conv_reference(xs, at):
    """The readable kernel: depthwise, or im2col + one batched GEMM (pointwise: x is the columns)."""
    x, w = xs[0], xs[1]
    (n, cout, ho, wo), stride, pad, dil, g = _conv_geometry([a.shape for a in xs], at)
    c, (kh, kw) = x.shape[1], w.shape[2:]
    if g == c and cout == c:
        out = _depthwise(x, w, stride, pad, dil, ho, wo)
    else:
        pointwise = (kh, kw, *stride, *pad) == (1, 1, 1, 1, 0, 0)
        cols = x if pointwise else _im2col(x, kh, kw, stride, pad, dil, ho, wo)  # 1x1: x itself
        cols = cols.reshape(n, g, (c // g) * kh * kw, ho * wo)
        out = np.matmul(w.reshape(g, cout // g, -1), cols).reshape(n, cout, ho, wo)
    if len(xs) > 2:
        out += xs[2][None, :, None, None]
    return out


def _conv_kernel(xs, at):
    """The registered kernel: the reference, or a fast path where one applies (same results)."""
    x, w = xs[0], xs[1]
    (n, cout, ho, wo), stride, pad, dil, g = _conv_geometry([a.shape for a in xs], at)
    c, (kh, kw) = x.shape[1], w.shape[2:]
    if winograd_applies(x.shape, w.shape, stride, pad, dil, g):
        with np.errstate(all="ignore"):
            out = winograd_conv(x, w, pad, xs[2] if len(xs) > 2 else None)
            finite = np.isfinite(out.sum())
        # inf/nan in the input (or an overflow in the transforms): the reference says where they go
        return out if finite else _conv_reference(xs, at)
    if (g == c and cout == c) or not phases_apply(kh, kw, stride):
        return _conv_reference(xs, at)
    cols = im2col_phases(x, kh, kw, stride, pad, dil, ho, wo).reshape(n, g, (c // g) * kh * kw, ho * wo)
    out = np.matmul(w.reshape(g, cout // g, -1), cols).reshape(n, cout, ho, wo)
    if len(xs) > 2:
        out += xs[2][None, :, None, None]
    return out


def _conv_workspace(in_shapes, out_shape, attrs) -> Workspace:
    """The path :func:`_conv_kernel` takes: Winograd, depthwise, pointwise or im2col, and what it holds."""
    x, w = tuple(in_shapes[0]), tuple(in_shapes[1])
    _, stride, pad, dil, g = _conv_geometry(in_shapes, attrs)
    n, c, h, wd = x
    out = numel(out_shape)
    taps = w[2] * w[3]
    cols = n * c * taps * out_shape[2] * out_shape[3]
    if winograd_applies(x, w, stride, pad, dil, g):  # then, on a non-finite result, the reference
        fast = winograd_workspace(x, w, pad)
        return Workspace(max(fast.temp, cols + 2 * out), fast.loops + taps, fast.streamed + 2 * cols)
    if g == c and w[0] == c:  # padded copy + one product temporary per tap
        padded = n * c * (h + 2 * pad[0]) * (wd + 2 * pad[1])
        return Workspace(temp=padded + 2 * out, loops=taps, streamed=3 * taps * out + padded)
    if (w[2], w[3], *stride, *pad) == (1, 1, 1, 1, 0, 0):
        return Workspace(temp=numel(x) + out)  # reshaping a non-contiguous x copies it
    if phases_apply(w[2], w[3], stride):
        temp = im2col_phases_workspace(x, w[2], w[3], stride, pad, dil, *out_shape[2:])
        return Workspace(temp=temp + out, loops=taps, streamed=2 * cols + temp)
    return Workspace(temp=cols + out, loops=taps, streamed=2 * cols)


def _conv_flops(in_shapes, out_shape, attrs):
    cg, kh, kw = in_shapes[1][1:]
    macs = numel(out_shape) * cg * kh * kw
    return 2 * macs + (numel(out_shape) if len(in_shapes) > 2 else 0), macs


register(
    OpDef(
        "conv2d",
        "out_elemwise_fusable",
        2,
        3,
        lambda s, d, a: (_conv_geometry(s, a)[0], F32),
        _conv_kernel,
        _conv_flops,
        attrs={"stride": 1, "pad": 0, "dilation": 1, "groups": 1},
        doc="2-D convolution, NCHW, w (Cout, Cin/groups, KH, KW), symmetric pads",
        onnx="Conv",
        workspace=_conv_workspace,
    )
)


# -- batchnorm -----------------------------------------------------------------------------------
def _infer_batchnorm(in_shapes, in_dtypes, attrs):
    x = tuple(in_shapes[0])
    if len(x) < 2:
        raise ShapeError(f"batchnorm: x must have a channel axis 1, got shape {list(x)}")
    for name, s in zip(("scale", "bias", "mean", "var"), in_shapes[1:]):
        if tuple(s) != (x[1],):
            raise ShapeError(
                f"batchnorm: {name} of shape {list(s)} should be [{x[1]}], the channels of x {list(x)}"
            )
    if number("batchnorm", "epsilon", attrs["epsilon"]) < 0:
        raise ShapeError(f"batchnorm: epsilon must be >= 0, got {attrs['epsilon']}")
    return x, F32


def _batchnorm_kernel(xs, at):
    x, scale, bias, mean, var = xs
    a = scale / np.sqrt(var + np.float32(at["epsilon"]))
    b = bias - mean * a
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = x * a.reshape(shape)
    y += b.reshape(shape)  # in place: no second output-sized temporary
    return y


register(
    OpDef(
        "batchnorm",
        "broadcast",
        5,
        5,
        _infer_batchnorm,
        _batchnorm_kernel,
        lambda s, o, a: (2 * numel(o), 0),
        attrs={"epsilon": 1e-5},
        doc="inference batch norm: scale * (x - mean) / sqrt(var + eps) + bias, channel axis 1",
        onnx="BatchNormalization",
    )
)


# -- pools ---------------------------------------------------------------------------------------
def _pool_geometry(op: str, shape, attrs):
    x = tuple(shape)
    _rank(op, "the input x (N, C, H, W)", x, 4)
    k = _pair(op, "kernel", attrs["kernel"], 1)
    s = k if attrs["stride"] is None or attrs["stride"] == 0 else _pair(op, "stride", attrs["stride"], 1)
    p = _pair(op, "pad", attrs["pad"], 0)
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ShapeError(f"{op}: pad {list(p)} must be at most half the kernel {list(k)}")
    padded = (x[2] + 2 * p[0], x[3] + 2 * p[1])
    if k[0] > padded[0] or k[1] > padded[1]:
        raise ShapeError(
            f"{op}: the kernel {k[0]}x{k[1]} is larger than the padded input "
            f"{padded[0]}x{padded[1]} of x {list(x)}"
        )
    out = (x[0], x[1], (padded[0] - k[0]) // s[0] + 1, (padded[1] - k[1]) // s[1] + 1)
    return out, k, s, p


def _windows(x, k, s, out):
    """Yield the KH*KW strided slices of x, one per window offset."""
    ho, wo = out[2], out[3]
    for i in range(k[0]):
        for j in range(k[1]):
            yield x[:, :, i : i + s[0] * (ho - 1) + 1 : s[0], j : j + s[1] * (wo - 1) + 1 : s[1]]


def _maxpool_reference(xs, at):
    """The readable kernel: the max over the KH*KW window offsets of the -inf padded input."""
    out, k, s, p = _pool_geometry("maxpool", xs[0].shape, at)
    x = np.pad(xs[0], ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2), constant_values=-np.inf)
    acc = None
    for v in _windows(x, k, s, out):
        acc = v.copy() if acc is None else np.maximum(acc, v, out=acc)
    return acc


def _maxpool_kernel(xs, at):
    """The registered kernel: the separable fast path (a max over columns, then over rows)."""
    out, k, s, p = _pool_geometry("maxpool", xs[0].shape, at)
    return maxpool_separable(xs[0], k, s, p, out)


def _avgpool_kernel(xs, at):
    out, k, s, p = _pool_geometry("avgpool", xs[0].shape, at)
    pads = ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2)
    x = np.pad(xs[0], pads)
    ones = np.pad(np.ones((1, 1) + xs[0].shape[2:], np.float32), pads)
    acc = np.zeros(out, np.float32)
    count = np.zeros((1, 1) + out[2:], np.float32)
    for v, m in zip(_windows(x, k, s, out), _windows(ones, k, s, out)):
        acc += v
        count += m
    return acc / count


def _pool_workspace(op):
    def workspace(in_shapes, out_shape, attrs) -> Workspace:
        _, k, _, p = _pool_geometry(op, in_shapes[0], attrs)
        n, c, h, w = in_shapes[0]
        plane = (h + 2 * p[0]) * (w + 2 * p[1])
        taps, out = k[0] * k[1], numel(out_shape)
        if op == "maxpool":  # the separable fast path; the reference holds less
            return maxpool_workspace(in_shapes[0], out_shape, k, p)
        # padded copy, padded ones, count, accumulator; the division writes the output
        spatial = out_shape[2] * out_shape[3]
        return Workspace(
            temp=n * c * plane + plane + spatial + 2 * out, loops=taps, streamed=2 * taps * (out + spatial)
        )

    return workspace


def _pool_flops(op):
    def flops(in_shapes, out_shape, attrs):
        _, k, _, _ = _pool_geometry(op, in_shapes[0], attrs)
        return numel(out_shape) * k[0] * k[1], 0

    return flops


for _name, _kernel, _onnx in (
    ("maxpool", _maxpool_kernel, "MaxPool"),
    ("avgpool", _avgpool_kernel, "AveragePool"),
):
    register(
        OpDef(
            _name,
            "out_elemwise_fusable",
            1,
            1,
            lambda s, d, a, _n=_name: (_pool_geometry(_n, s[0], a)[0], F32),
            _kernel,
            _pool_flops(_name),
            attrs={"kernel": 2, "stride": 0, "pad": 0},
            doc=f"{_name[:3]} over kernel windows (stride 0 means stride = kernel)",
            onnx=_onnx,
            workspace=_pool_workspace(_name),
        )
    )


def _infer_global_avgpool(in_shapes, in_dtypes, attrs):
    x = tuple(in_shapes[0])
    if len(x) < 3:
        raise ShapeError(f"global_avgpool: x must be (N, C, spatial...), got shape {list(x)}")
    return x[:2] + (1,) * (len(x) - 2), F32


register(
    OpDef(
        "global_avgpool",
        "out_elemwise_fusable",
        1,
        1,
        _infer_global_avgpool,
        lambda xs, a: xs[0].mean(axis=tuple(range(2, xs[0].ndim)), keepdims=True, dtype=np.float32),
        lambda s, o, a: (numel(s[0]), 0),
        doc="mean over all spatial axes -> (N, C, 1, 1)",
        onnx="GlobalAveragePool",
    )
)


# -- softmax / layernorm -------------------------------------------------------------------------
def _norm_axis(op: str, axis, rank: int) -> int:
    if not isinstance(axis, (int, np.integer)) or not -rank <= int(axis) < rank:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for a tensor of rank {rank}")
    return int(axis) + rank if int(axis) < 0 else int(axis)


def _softmax_kernel(xs, at):
    x = xs[0]
    axis = _norm_axis("softmax", at["axis"], x.ndim)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _infer_softmax(in_shapes, in_dtypes, attrs):
    x = tuple(in_shapes[0])
    if not x:
        _raise_scalar("softmax", x)
    _norm_axis("softmax", attrs["axis"], len(x))
    return x, F32


def _two_temporaries(in_shapes, out_shape, attrs) -> Workspace:
    return Workspace(temp=2 * numel(out_shape))


register(
    OpDef(
        "softmax",
        "opaque",
        1,
        1,
        _infer_softmax,
        _softmax_kernel,
        lambda s, o, a: (5 * numel(o), 0),
        attrs={"axis": -1},
        doc="exp(x - max) / sum exp(x - max) along axis (numerically stable)",
        onnx="Softmax",
        workspace=_two_temporaries,
    )
)


def _raise_scalar(op: str, shape):
    raise ShapeError(f"{op}: needs at least one axis, got a scalar of shape {list(shape)}")


def _infer_layernorm(in_shapes, in_dtypes, attrs):
    x = tuple(in_shapes[0])
    if not x:
        _raise_scalar("layernorm", x)
    axis = _norm_axis("layernorm", attrs["axis"], len(x))
    norm = x[axis:]
    for name, s in zip(("scale", "bias"), in_shapes[1:]):
        s = tuple(s)
        if not _broadcasts_to(s, norm):
            raise ShapeError(
                f"layernorm: {name} of shape {list(s)} does not broadcast to the "
                f"normalised shape {list(norm)} of x {list(x)}"
            )
    if number("layernorm", "epsilon", attrs["epsilon"]) < 0:
        raise ShapeError(f"layernorm: epsilon must be >= 0, got {attrs['epsilon']}")
    return x, F32


def _layernorm_kernel(xs, at):
    x = xs[0]
    axes = tuple(range(_norm_axis("layernorm", at["axis"], x.ndim), x.ndim))
    y = x - x.mean(axis=axes, keepdims=True)  # the output, updated in place from here
    var = np.mean(y * y, axis=axes, keepdims=True)  # the one output-sized temporary
    y /= np.sqrt(var + np.float32(at["epsilon"]))
    if len(xs) > 1:
        y *= xs[1]
    if len(xs) > 2:
        y += xs[2]
    return y


register(
    OpDef(
        "layernorm",
        "opaque",
        1,
        3,
        _infer_layernorm,
        _layernorm_kernel,
        lambda s, o, a: ((5 + len(s) - 1) * numel(o), 0),
        attrs={"axis": -1, "epsilon": 1e-5},
        doc="(x - mean) / sqrt(var + eps) * scale + bias over axes [axis..last]",
        onnx="LayerNormalization",
        workspace=_two_temporaries,
    )
)


# -- attention -----------------------------------------------------------------------------------
def _attention_dims(in_shapes, attrs) -> tuple[tuple[int, ...], int, int, int, int]:
    """(batch, Lq, d, Lk, dv) of attention(q, k, v); batch axes broadcast like matmul's."""
    q, k, v = (tuple(s) for s in in_shapes)
    for name, s in zip(("q", "k", "v"), (q, k, v)):
        if len(s) < 2:
            raise ShapeError(
                f"attention: {name} must have at least 2 dimensions (..., tokens, width), got shape {list(s)}"
            )
    if q[-1] != k[-1]:
        raise ShapeError(
            f"attention: q {list(q)} and k {list(k)} must have the same width (last axis), "
            f"got {q[-1]} and {k[-1]}"
        )
    if k[-2] != v[-2]:
        raise ShapeError(
            f"attention: k {list(k)} and v {list(v)} must hold the same number of tokens (axis -2), "
            f"got {k[-2]} and {v[-2]}"
        )
    if attrs["scale"] is not None:
        number("attention", "scale", attrs["scale"])
    batch = broadcast_shape("attention", broadcast_shape("attention", q[:-2], k[:-2]), v[:-2])
    return batch, q[-2], q[-1], k[-2], v[-1]


def attention_scale(attrs, width: int) -> float:
    """The scale of the scores: ``attrs['scale']``, or 1/sqrt(width) when it is None."""
    return 1.0 / float(np.sqrt(width)) if attrs["scale"] is None else float(attrs["scale"])


def _attention_kernel(xs, at):
    q, k, v = xs
    _, _, d, _, _ = _attention_dims([x.shape for x in xs], at)
    s = np.matmul(q, np.swapaxes(k, -1, -2))  # the scores: the one (..., Lq, Lk) temporary
    s *= np.asarray(attention_scale(at, d), s.dtype)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s, v)


def _attention_flops(in_shapes, out_shape, attrs):
    batch, lq, d, lk, dv = _attention_dims(in_shapes, attrs)
    scores = numel(batch) * lq * lk
    macs = scores * (d + dv)
    return 2 * macs + 6 * scores, macs  # + 1 scale and 5 softmax FLOPs per score


def _attention_workspace(in_shapes, out_shape, attrs) -> Workspace:
    batch, lq, _, lk, _ = _attention_dims(in_shapes, attrs)
    return Workspace(temp=numel(batch) * lq * (lk + 2))  # scores + row max and row sum


register(
    OpDef(
        "attention",
        "opaque",
        3,
        3,
        lambda s, d, a: (_attention_dims(s, a)[0] + (s[0][-2], s[2][-1]), F32),
        _attention_kernel,
        _attention_flops,
        attrs={"scale": None},
        doc="softmax(scale * q @ k^T) @ v over the last axis; scale None means 1/sqrt(width of q)",
        onnx="Attention",
        workspace=_attention_workspace,
    )
)
