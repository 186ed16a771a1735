"""Why lightweight blocks are cheap: closed-form cost algebra and the same blocks as real graphs.

Stages:
  1. closed-form counts (``*_cost`` functions) for one block on an h x w feature map, batch 1:
     parameters = conv/linear weights (+ the SE block's biases), MACs = multiply-accumulates of the
     convolutions and matmuls, exactly the conventions of :mod:`engine.core.cost_model` (BN, activations and
     additions cost 0 MACs);
  2. :class:`Layers`, a thin helper around :class:`~engine.core.ir.GraphBuilder` (conv, BN, activations,
     squeeze-and-excitation, channel shuffle, a pre-norm transformer layer) used by these blocks and
     by the whole networks in :mod:`engine.models.networks`;
  3. :func:`build_block` builds one block as a graph; tests check ``engine.cost(graph)`` against the
     closed forms, so the algebra the lesson quotes is the algebra the engine computes.

Formulas (k = kernel, M = input channels, N = output channels):
  * standard conv:            params k²MN,            MACs hw k²MN
  * depthwise-separable:      params k²M + MN,         MACs hw(k²M + MN);  ratio 1/N + 1/k²
    (Howard et al. 2017, eq. 5)
  * group conv (g groups):    params k²MN/g; ShuffleNet unit (Zhang et al. 2018) = 1x1 group conv,
    channel shuffle (0 MACs: a reshape and a transpose), 3x3 depthwise, 1x1 group conv
  * inverted residual (t):    hw·M·tM + h'w'·tM·k² + h'w'·tM·N (Sandler et al. 2018, Table 1)
  * squeeze-excitation (r):   2·C·C/r weights + C/r + C biases, 2·C·C/r MACs (Hu et al. 2018)
  * Ghost module (ratio s, cheap d x d depthwise): primary k x k conv to N/s channels, then
    (s-1)·N/s cheap channels; speed-up ≈ s (Han et al. 2020, eq. 4)
  * MobileViT block (Mehta & Rastegari 2022): 3x3 conv, 1x1 to d, L transformer layers on
    P = patch² sequences of hw/P tokens, 1x1 back to C, concat with the input, 3x3 fusion conv.
Not handled: batch > 1, bias terms of plain convs (these nets use BN instead), dilation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import ShapeError
from ..core.ir import Graph, GraphBuilder

MAX_CHANNELS = 4096
MAX_SIDE = 512


@dataclass(frozen=True)
class BlockCost:
    """Closed-form cost of one block: parameters and multiply-accumulates."""

    params: int
    macs: int


# -- validation ------------------------------------------------------------------------------
def check_int(name: str, value, lo: int, hi: int) -> int:
    """A whole number in [lo, hi], or a ShapeError that names it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ShapeError(f"{name} = {value!r} must be a whole number from {lo} to {hi}")
    return int(value)


def _divides(what: str, a: int, b: int, by: str) -> None:
    if a % b:
        raise ShapeError(f"{what} = {a} must be divisible by {by} = {b}")


def _out(side: int, stride: int) -> int:
    """Output side of a 'same'-padded conv: ceil(side / stride)."""
    return -(-side // stride)


# -- closed forms ----------------------------------------------------------------------------
def standard_conv_cost(m: int, n: int, k: int, h: int, w: int, stride: int = 1) -> BlockCost:
    p = k * k * m * n
    return BlockCost(p, p * _out(h, stride) * _out(w, stride))


def depthwise_separable_cost(m: int, n: int, k: int, h: int, w: int, stride: int = 1) -> BlockCost:
    ho, wo = _out(h, stride), _out(w, stride)
    return BlockCost(k * k * m + m * n, ho * wo * (k * k * m + m * n))


def separable_ratio(n: int, k: int) -> float:
    """Depthwise-separable / standard cost = 1/N + 1/k² (exact, independent of M, h, w)."""
    return 1.0 / n + 1.0 / (k * k)


def group_conv_cost(m: int, n: int, k: int, groups: int, h: int, w: int) -> BlockCost:
    p = k * k * (m // groups) * n
    return BlockCost(p, p * h * w)


def shuffle_unit_cost(c: int, bottleneck: int, groups: int, h: int, w: int) -> BlockCost:
    """ShuffleNet v1 unit (stride 1): hw(2·c·m/g + 9m) MACs (Zhang et al. 2018, section 3.3)."""
    p = 2 * c * bottleneck // groups + 9 * bottleneck
    return BlockCost(p, h * w * p)


def inverted_residual_cost(
    m: int, n: int, t: int, k: int, h: int, w: int, stride: int = 1, se_ratio: float = 0.0
) -> BlockCost:
    e = m * t
    ho, wo = _out(h, stride), _out(w, stride)
    expand = BlockCost(m * e, h * w * m * e) if t != 1 else BlockCost(0, 0)
    dw = BlockCost(k * k * e, ho * wo * k * k * e)
    proj = BlockCost(e * n, ho * wo * e * n)
    se = se_cost(e, max(1, int(m * se_ratio))) if se_ratio else BlockCost(0, 0)
    return BlockCost(
        expand.params + dw.params + proj.params + se.params, expand.macs + dw.macs + proj.macs + se.macs
    )


def se_cost(c: int, squeeze: int) -> BlockCost:
    """Squeeze-and-excitation on C channels with a ``squeeze``-wide bottleneck (biases included)."""
    return BlockCost(2 * c * squeeze + squeeze + c, 2 * c * squeeze)


def ghost_cost(m: int, n: int, k: int, h: int, w: int, s: int = 2, d: int = 3) -> BlockCost:
    intrinsic = n // s
    primary = k * k * m * intrinsic
    cheap = d * d * intrinsic * (s - 1)
    return BlockCost(primary + cheap, h * w * (primary + cheap))


def ghost_speedup(m: int, n: int, k: int, s: int, d: int) -> float:
    """Standard / Ghost MACs = s·M·k² / (M·k² + (s-1)·d²) ≈ s (Han et al. 2020, eq. 4)."""
    return (n * m * k * k) / (n / s * m * k * k + (s - 1) * n / s * d * d)


def transformer_cost(d: int, ffn: int, tokens: int, seqs: int = 1) -> BlockCost:
    """One pre-norm layer: qkv + out projections, QK^T and AV, a 2-layer FFN (biases, LN affine)."""
    params = 4 * d * d + 4 * d + 2 * d * ffn + ffn + d + 4 * d
    macs = seqs * (tokens * (4 * d * d + 2 * d * ffn) + 2 * tokens * tokens * d)
    return BlockCost(params, macs)


def mobilevit_block_cost(c: int, d: int, layers: int, ffn: int, h: int, w: int, patch: int = 2) -> BlockCost:
    p = patch * patch
    tokens = h * w // p
    tr = transformer_cost(d, ffn, tokens, p)
    convs = 9 * c * c + c * d + d * c + 9 * 2 * c * c
    return BlockCost(convs + layers * tr.params + 2 * d, h * w * convs + layers * tr.macs)


def memory_access_cost(h: int, w: int, c1: int, c2: int) -> int:
    """ShuffleNet V2 G1: a 1x1 conv reads hw·c1, writes hw·c2, and reads c1·c2 weights."""
    return h * w * (c1 + c2) + c1 * c2


# -- the graph helper -------------------------------------------------------------------------
class Layers:
    """Conv/BN/activation helpers on a GraphBuilder; BN running mean/var are constants (buffers),
    so ``engine.cost(...).params`` counts what ``torch`` counts in ``model.parameters()``."""

    def __init__(self, title: str, shape: tuple[int, ...], bn: bool = True, builder=None):
        self.b = builder if builder is not None else GraphBuilder(title)  # a counting builder: zoo.py
        self.use_bn = bn
        self.x = self.b.input(shape, name="image")
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}.{self._count}"

    def channels(self, x: str) -> int:
        return self.b.shape_of(x)[1]

    def conv(
        self,
        x: str,
        cout: int,
        k: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
        tag: str = "conv",
    ) -> str:
        cin = self.channels(x)
        w = self.b.param((cout, cin // groups, k, k))
        args = (x, w, self.b.param((cout,))) if bias else (x, w)
        return self.b.op("conv2d", *args, stride=stride, pad=k // 2, groups=groups, name=self.name(tag))

    def bn(self, x: str) -> str:
        if not self.use_bn:
            return x
        c = self.channels(x)
        mean, var = self.b.constant(np.zeros(c)), self.b.constant(np.ones(c))
        return self.b.op("batchnorm", x, self.b.param((c,)), self.b.param((c,)), mean, var)

    def act(self, x: str, kind: str) -> str:
        if kind == "none":
            return x
        if kind == "swish":  # x * sigmoid(x) (SiLU)
            return self.b.op("mul", x, self.b.op("sigmoid", x))
        if kind == "hsigmoid":  # relu6(x + 3) / 6 (MobileNetV3's cheap sigmoid)
            y = self.b.op("relu6", self.b.op("add", x, self.b.constant(3.0)))
            return self.b.op("mul", y, self.b.constant(1.0 / 6.0))
        return self.b.op(kind, x)

    def cba(
        self,
        x: str,
        cout: int,
        k: int,
        stride: int = 1,
        groups: int = 1,
        act: str = "relu",
        tag: str = "conv",
    ) -> str:
        return self.act(self.bn(self.conv(x, cout, k, stride, groups, tag=tag)), act)

    def se(self, x: str, squeeze: int, act: str = "relu", gate: str = "sigmoid") -> str:
        c = self.channels(x)
        s = self.b.op("global_avgpool", x)
        s = self.act(self.conv(s, squeeze, 1, bias=True, tag="se_reduce"), act)
        s = self.act(self.conv(s, c, 1, bias=True, tag="se_expand"), gate)
        return self.b.op("mul", x, s)

    def shuffle(self, x: str, groups: int) -> str:
        n, c, h, w = self.b.shape_of(x)
        y = self.b.op("reshape", x, shape=(n, groups, c // groups, h, w))
        y = self.b.op("transpose", y, perm=(0, 2, 1, 3, 4))
        return self.b.op("reshape", y, shape=(n, c, h, w))

    def linear(self, x: str, dout: int, tag: str = "linear") -> str:
        """x (..., d) @ W (d, dout) + b."""
        d = self.b.shape_of(x)[-1]
        y = self.b.op("matmul", x, self.b.param((d, dout)), name=self.name(tag))
        return self.b.op("add", y, self.b.param((dout,)))

    def layernorm(self, x: str) -> str:
        d = self.b.shape_of(x)[-1]
        return self.b.op("layernorm", x, self.b.param((d,)), self.b.param((d,)))

    def transformer(self, x: str, ffn: int, heads: int) -> str:
        """Pre-norm layer on x (P, N, d): MHA (softmax(q·kᵀ/√dh)·v) then a SiLU FFN, each with a
        residual — torch's ``TransformerEncoderLayer(norm_first=True, activation=silu)``."""
        p, n, d = self.b.shape_of(x)
        dh = d // heads
        qkv = self.linear(self.layernorm(x), 3 * d, tag="qkv")
        q, k, v = (
            self.b.op(
                "transpose",
                self.b.op(
                    "reshape", self.b.op("split", qkv, parts=3, axis=2, index=i), shape=(p, n, heads, dh)
                ),
                perm=(0, 2, 1, 3),
            )
            for i in range(3)
        )
        q = self.b.op("mul", q, self.b.constant(1.0 / np.sqrt(dh)))  # scaled dot product
        kt = self.b.op("transpose", k, perm=(0, 1, 3, 2))
        att = self.b.op("softmax", self.b.op("matmul", q, kt, name=self.name("scores")), axis=-1)
        o = self.b.op("matmul", att, v, name=self.name("attend"))
        o = self.b.op("reshape", self.b.op("transpose", o, perm=(0, 2, 1, 3)), shape=(p, n, d))
        x = self.b.op("add", x, self.linear(o, d, tag="out_proj"))
        f = self.linear(self.act(self.linear(self.layernorm(x), ffn, tag="ffn1"), "swish"), d, tag="ffn2")
        return self.b.op("add", x, f)

    def unfold(self, x: str, patch: int) -> str:
        """(1, d, H, W) -> (P, N, d): one sequence per pixel position inside a patch."""
        _, d, h, w = self.b.shape_of(x)
        y = self.b.op("reshape", x, shape=(d, h // patch, patch, w // patch, patch))
        y = self.b.op("transpose", y, perm=(2, 4, 1, 3, 0))
        return self.b.op("reshape", y, shape=(patch * patch, h * w // (patch * patch), d))

    def fold(self, x: str, patch: int, h: int, w: int) -> str:
        _, _, d = self.b.shape_of(x)
        y = self.b.op("reshape", x, shape=(patch, patch, h // patch, w // patch, d))
        y = self.b.op("transpose", y, perm=(4, 2, 0, 3, 1))
        return self.b.op("reshape", y, shape=(1, d, h, w))

    def build(self, out: str) -> Graph:
        return self.b.build([out])


# -- block builders ---------------------------------------------------------------------------
def inverted_residual(
    L: Layers, x: str, cout: int, t: int, k: int, stride: int, act: str, se_squeeze: int = 0
) -> str:
    cin = L.channels(x)
    y = L.cba(x, cin * t, 1, act=act, tag="expand") if t != 1 else x
    y = L.cba(y, cin * t, k, stride, groups=cin * t, act=act, tag="dw")
    if se_squeeze:
        y = L.se(y, se_squeeze, act="swish" if act == "swish" else "relu")
    y = L.bn(L.conv(y, cout, 1, tag="project"))
    return L.b.op("add", x, y) if stride == 1 and cin == cout else y


def mobilevit_block(L: Layers, x: str, d: int, layers: int, ffn: int, heads: int = 4, patch: int = 2) -> str:
    _, c, h, w = L.b.shape_of(x)
    y = L.cba(x, c, 3, act="swish", tag="local3x3")
    y = L.conv(y, d, 1, tag="to_d")
    seq = L.unfold(y, patch)
    for _ in range(layers):
        seq = L.transformer(seq, ffn, heads)
    y = L.fold(L.layernorm(seq), patch, h, w)
    y = L.cba(y, c, 1, act="swish", tag="to_c")
    return L.cba(L.b.op("concat", x, y, axis=1), c, 3, act="swish", tag="fusion")


BLOCKS = ("standard", "depthwise_separable", "shuffle_unit", "inverted_residual", "ghost", "mobilevit")


def block_cost(
    kind: str,
    c: int,
    n: int,
    k: int,
    side: int,
    t: int = 6,
    s: int = 2,
    groups: int = 4,
    d: int = 96,
    layers: int = 2,
) -> BlockCost:
    """The closed form for the block :func:`build_block` builds with the same arguments."""
    _check_block(kind, c, n, k, side, t, s, groups, d, layers)
    if kind == "standard":
        return standard_conv_cost(c, n, k, side, side)
    if kind == "depthwise_separable":
        return depthwise_separable_cost(c, n, k, side, side)
    if kind == "shuffle_unit":
        return shuffle_unit_cost(c, n // 4, groups, side, side)
    if kind == "inverted_residual":
        return inverted_residual_cost(c, n, t, k, side, side)
    if kind == "ghost":
        return ghost_cost(c, n, k, side, side, s, 3)
    return mobilevit_block_cost(c, d, layers, 2 * d, side, side)


def compare_blocks(
    c: int, n: int, k: int, side: int, t: int = 6, s: int = 2, d: int = 96
) -> list[tuple[str, BlockCost]]:
    """Closed-form cost of every block that fits (c, n, k, side); the ShuffleNet unit and the
    MobileViT block keep their input width, so they join only when c == n."""
    out = []
    for kind in BLOCKS:
        if kind in ("shuffle_unit", "mobilevit") and c != n:
            continue
        try:
            out.append((kind, block_cost(kind, c, n, k, side, t=t, s=s, d=d)))
        except ShapeError:
            continue  # e.g. a ghost ratio that does not divide n: that block is left out
    return out


def build_block(
    kind: str,
    c: int,
    n: int,
    k: int,
    side: int,
    t: int = 6,
    s: int = 2,
    groups: int = 4,
    d: int = 96,
    layers: int = 2,
    bn: bool = False,
) -> Graph:
    """One block on a (1, c, side, side) input as a graph; ``n`` output channels (the
    shuffle unit's bottleneck is n/4, the MobileViT block keeps c channels)."""
    _check_block(kind, c, n, k, side, t, s, groups, d, layers)
    L = Layers(f"{kind} block", (1, c, side, side), bn=bn)
    x = L.x
    if kind == "standard":
        y = L.act(L.bn(L.conv(x, n, k)), "relu")
    elif kind == "depthwise_separable":
        y = L.cba(L.cba(x, c, k, groups=c, tag="dw"), n, 1, tag="pw")
    elif kind == "shuffle_unit":
        m = n // 4
        y = L.shuffle(L.cba(x, m, 1, groups=groups, tag="gconv1"), groups)
        y = L.cba(y, m, 3, groups=m, act="none", tag="dw")
        y = L.act(L.b.op("add", x, L.cba(y, c, 1, groups=groups, act="none", tag="gconv2")), "relu")
    elif kind == "inverted_residual":
        y = inverted_residual(L, x, n, t, k, 1, "relu6")
    elif kind == "ghost":
        primary = L.cba(x, n // s, k, tag="primary")
        cheap = L.cba(primary, n // s * (s - 1), 3, groups=n // s, tag="cheap")
        y = L.b.op("concat", primary, cheap, axis=1)
    else:
        y = mobilevit_block(L, x, d, layers, 2 * d)
    return L.build(y)


def _check_block(kind, c, n, k, side, t, s, groups, d, layers) -> None:
    if kind not in BLOCKS:
        raise ShapeError(f"unknown block {kind!r}; choose one of {', '.join(BLOCKS)}")
    check_int("input channels", c, 1, MAX_CHANNELS)
    check_int("output channels", n, 1, MAX_CHANNELS)
    check_int("kernel size", k, 1, 11)
    check_int("feature-map side", side, 1, MAX_SIDE)
    check_int("expansion t", t, 1, 12)
    check_int("ghost ratio s", s, 2, 8)
    check_int("groups", groups, 1, MAX_CHANNELS)
    check_int("transformer width d", d, 4, 1024)
    check_int("transformer layers", layers, 1, 12)
    if k % 2 == 0:
        raise ShapeError(f"kernel size = {k} must be odd so that 'same' padding keeps the side")
    if kind == "shuffle_unit":
        if c != n:
            raise ShapeError(
                f"a stride-1 ShuffleNet unit adds its input back, so output channels "
                f"= {n} must equal input channels = {c}"
            )
        _divides("input channels", c, 4 * groups, "4 x groups")
    if kind == "ghost":
        _divides("output channels", n, s, "the ghost ratio s")
    if kind == "mobilevit":
        _divides("feature-map side", side, 2, "the patch size")
        _divides("transformer width d", d, 4, "the 4 attention heads")
