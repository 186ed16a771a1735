"""Mobile-Former (Chen et al., "Mobile-Former: Bridging MobileNet and Transformer", CVPR 2022) as a graph.

A MobileNet (the *Mobile*: local features, 1x1 and depthwise convs) and a tiny transformer (the
*Former*: T = 6 learned global tokens of width 192 for the 294M model) run side by side and talk
through a two-way bridge in every block. Stages of :func:`mobile_former` (the authors' released
configs, AAboys/MobileFormer ``mobile_former.py`` and ``dna_blocks.py``):
  1. the tokens are a learned (T, d) parameter; the stem is a 3x3/2 conv, BN, ReLU6; the first block
     is a plain depthwise (multiplier e) + 1x1 conv pair, with no bridge;
  2. each later Mobile-Former block, in this order:
     a. Mobile→Former: the tokens attend to the feature map with 2 heads; only the query (from the
        tokens) is projected: keys = values = the raw feature map (C channels), so the bridge costs
        2·T·HW·C MACs and no conv; the result is scaled per channel by a token-driven gate
        (2·hsigmoid(Linear(tokens))), projected back to d, added, LayerNorm;
     b. the Former: one post-norm transformer layer on the T tokens: 4-head attention whose key and
        value are the tokens themselves (only q and the output are projected), then a GELU FFN of
        width 2d, each with a residual and a LayerNorm;
     c. the Mobile: a bottleneck (stride 1: 1x1 expand, 3x3 depthwise, 1x1 project; stride 2: a 3x3
        depthwise with multiplier e1, 1x1 project, a 3x3 depthwise with multiplier e2, 1x1 project,
        with a residual around the last pair), its activations *dynamic ReLU*: max(a1·x, a2·x) per
        channel, a1 and a2 computed from the first token by a small MLP (d → d/4 → 2C, hsigmoid);
     d. Former→Mobile: each pixel attends to the T tokens with 2 heads; keys and values are projected
        from the tokens (d → C), the pixels are the queries unprojected; the result is added;
  3. a last Mobile→Former bridge updates the tokens; the head is a 1x1 conv to 6C, BN, ReLU6, global
     pool, h-swish, concatenated with the first token, Linear to 1920 (BN1d, h-swish), Linear 1000.
Everything is exact in the IR (dynamic ReLU is slice, affine and an elementwise ``max``); tests run
it against a torch module written from the same description. Conventions: MACs = conv and matmul
multiply-adds (the papers' "FLOPs"), params = what torch's ``parameters()`` counts.
Not handled: Mobile-Former-26M (grouped 1x1 convs with channel shuffles), the DETR detector, dropout
and drop-path (training only), batch > 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blocks import Layers

#: The authors' configs: (stem, blocks (kind, e1, c, stride, e2), tokens, token width, head width).
#: kind "3" = the stride-2 block (dw-pw-dw-pw), "1" = the stride-1 block (pw-dw-pw); e2 = 0 marks
#: the first block that has no bridge.
CONFIGS: dict[str, tuple] = {
    "MobileFormer-508M": (
        24,
        (
            ("3", 2, 24, 1, 0),
            ("3", 6, 40, 2, 4),
            ("1", 3, 40, 1, 3),
            ("3", 6, 72, 2, 4),
            ("1", 3, 72, 1, 3),
            ("3", 6, 128, 2, 4),
            ("1", 4, 128, 1, 4),
            ("1", 6, 176, 1, 4),
            ("1", 6, 176, 1, 4),
            ("3", 6, 240, 2, 4),
            ("1", 6, 240, 1, 4),
            ("1", 6, 240, 1, 4),
        ),
        6,
        192,
        1920,
    ),  # fmt: skip
    "MobileFormer-294M": (
        16,
        (
            ("3", 2, 16, 1, 0),
            ("3", 6, 24, 2, 4),
            ("1", 4, 24, 1, 4),
            ("3", 6, 48, 2, 4),
            ("1", 4, 48, 1, 4),
            ("3", 6, 96, 2, 4),
            ("1", 4, 96, 1, 4),
            ("1", 6, 128, 1, 4),
            ("1", 6, 128, 1, 4),
            ("3", 6, 192, 2, 4),
            ("1", 6, 192, 1, 4),
            ("1", 6, 192, 1, 4),
        ),
        6,
        192,
        1920,
    ),  # fmt: skip
    "MobileFormer-214M": (
        12,
        (
            ("3", 2, 12, 1, 0),
            ("3", 6, 20, 2, 4),
            ("1", 3, 20, 1, 4),
            ("3", 6, 40, 2, 4),
            ("1", 4, 40, 1, 4),
            ("3", 6, 80, 2, 4),
            ("1", 4, 80, 1, 4),
            ("1", 6, 112, 1, 4),
            ("1", 6, 112, 1, 4),
            ("3", 6, 160, 2, 4),
            ("1", 6, 160, 1, 4),
            ("1", 6, 160, 1, 4),
        ),
        6,
        192,
        1600,
    ),  # fmt: skip
    "MobileFormer-151M": (
        12,
        (
            ("3", 2, 12, 1, 0),
            ("3", 6, 16, 2, 4),
            ("1", 3, 16, 1, 3),
            ("3", 6, 32, 2, 4),
            ("1", 3, 32, 1, 3),
            ("3", 6, 64, 2, 4),
            ("1", 4, 64, 1, 4),
            ("1", 6, 88, 1, 4),
            ("1", 6, 88, 1, 4),
            ("3", 6, 128, 2, 4),
            ("1", 6, 128, 1, 4),
            ("1", 6, 128, 1, 4),
        ),
        6,
        192,
        1280,
    ),  # fmt: skip
    "MobileFormer-96M": (
        12,
        (
            ("3", 2, 12, 1, 0),
            ("3", 6, 16, 2, 4),
            ("3", 6, 32, 2, 4),
            ("1", 3, 32, 1, 3),
            ("3", 6, 64, 2, 4),
            ("1", 4, 64, 1, 4),
            ("1", 6, 88, 1, 4),
            ("3", 6, 128, 2, 4),
            ("1", 6, 128, 1, 4),
        ),
        4,
        128,
        1280,
    ),  # fmt: skip
    "MobileFormer-52M": (
        8,
        (
            ("3", 3, 12, 2, 0),
            ("1", 3, 12, 1, 3),
            ("3", 6, 24, 2, 4),
            ("1", 3, 24, 1, 3),
            ("3", 6, 48, 2, 4),
            ("1", 4, 48, 1, 4),
            ("1", 6, 64, 1, 4),
            ("3", 6, 96, 2, 4),
            ("1", 6, 96, 1, 4),
        ),
        3,
        128,
        1024,
    ),  # fmt: skip
}
#: Published ImageNet-1k top-1 (%) of each config (Chen et al. 2022; the authors' README repeats them).
TOP1 = {
    "MobileFormer-508M": 79.3,
    "MobileFormer-294M": 77.9,
    "MobileFormer-214M": 76.7,
    "MobileFormer-151M": 75.2,
    "MobileFormer-96M": 72.8,
    "MobileFormer-52M": 68.7,
}
#: Relative tolerance against the paper's row: params match to the printed 0.1 M (within 1 %); the
#: printed MAdds are 1.9-5.2 % above our conv + matmul MACs, the gap growing as the model shrinks
#: (the dynamic ReLU's two multiplies per activation, 5.8 M of the 7.3 M gap at 294M, look counted).
MACS_TOLERANCE = {
    "MobileFormer-508M": 0.025,
    "MobileFormer-294M": 0.03,
    "MobileFormer-214M": 0.03,
    "MobileFormer-151M": 0.035,
    "MobileFormer-96M": 0.045,
    "MobileFormer-52M": 0.055,
}
BRIDGE_HEADS = 2  # Mobile→Former and Former→Mobile
FORMER_HEADS = 4
HEAD_EXPANSION = 6  # the head's 1x1 conv widens the last stage 6x


@dataclass(frozen=True)
class Tokens:
    """The Former's state: a (1, T, d) tensor."""

    ref: str


def _heads(L: Layers, x: str, heads: int, perm: tuple[int, ...]) -> str:
    """(1, T, C) → split C into heads → permuted (perm over (1, T, heads, C/heads))."""
    _, t, c = L.b.shape_of(x)
    return L.b.op("transpose", L.b.op("reshape", x, shape=(1, t, heads, c // heads)), perm=perm)


def _merge_heads(L: Layers, x: str) -> str:
    """(1, heads, T, C/heads) → (1, T, C)."""
    _, h, t, c = L.b.shape_of(x)
    return L.b.op("reshape", L.b.op("transpose", x, perm=(0, 2, 1, 3)), shape=(1, t, h * c))


def _attend(L: Layers, q: str, k: str, v: str, scale: float, tag: str) -> str:
    """softmax(q @ k · scale) @ v over the last axis."""
    scores = L.b.op("mul", L.b.op("matmul", q, k, name=L.name(f"{tag}_scores")), L.b.constant(scale))
    return L.b.op("matmul", L.b.op("softmax", scores, axis=-1), v, name=L.name(f"{tag}_attend"))


def _hsigmoid_gate(L: Layers, z: str, width: int, tag: str) -> str:
    """2·hsigmoid(Linear(z)): a per-channel gate in [0, 2] computed from the tokens."""
    return L.b.op("mul", L.act(L.linear(z, width, tag=tag), "hsigmoid"), L.b.constant(2.0))


def mobile_to_former(L: Layers, x: str, z: Tokens) -> Tokens:
    """Tokens attend to the pixels (keys = values = the raw map), gated, projected, added, LayerNorm."""
    _, c, h, w = L.b.shape_of(x)
    d = L.b.shape_of(z.ref)[-1]
    q = _heads(L, L.linear(z.ref, c, tag="m2f_q"), BRIDGE_HEADS, (0, 2, 1, 3))  # (1, 2, T, C/2)
    k = L.b.op("reshape", x, shape=(1, BRIDGE_HEADS, c // BRIDGE_HEADS, h * w))  # (1, 2, C/2, HW)
    kt = L.b.op("transpose", k, perm=(0, 1, 3, 2))
    out = _merge_heads(L, _attend(L, q, k, kt, (c // BRIDGE_HEADS) ** -0.5, "m2f"))  # (1, T, C)
    out = L.b.op("mul", out, _hsigmoid_gate(L, z.ref, c, "m2f_gate"))
    y = L.b.op("add", z.ref, L.linear(out, d, tag="m2f_proj"))
    return Tokens(L.layernorm(y))


def former(L: Layers, z: Tokens) -> Tokens:
    """One post-norm layer on the tokens: attention with k = v = the tokens, then a GELU FFN (2d)."""
    d = L.b.shape_of(z.ref)[-1]
    q = _heads(L, L.linear(z.ref, d, tag="former_q"), FORMER_HEADS, (0, 2, 1, 3))
    k = _heads(L, z.ref, FORMER_HEADS, (0, 2, 3, 1))  # (1, 4, d/4, T)
    kt = L.b.op("transpose", k, perm=(0, 1, 3, 2))
    out = _merge_heads(L, _attend(L, q, k, kt, (d // FORMER_HEADS) ** -0.5, "former"))
    y = L.layernorm(L.b.op("add", z.ref, L.linear(out, d, tag="former_mix")))
    f = L.linear(L.act(L.linear(y, 2 * d, tag="former_ffn1"), "gelu"), d, tag="former_ffn2")
    return Tokens(L.layernorm(L.b.op("add", y, f)))


def former_to_mobile(L: Layers, x: str, z: Tokens) -> str:
    """Pixels attend to the tokens (keys and values projected from the tokens); added to the map."""
    _, c, h, w = L.b.shape_of(x)
    v = _heads(L, L.linear(z.ref, c, tag="f2m_v"), BRIDGE_HEADS, (0, 2, 1, 3))  # (1, 2, T, C/2)
    k = _heads(L, L.linear(z.ref, c, tag="f2m_k"), BRIDGE_HEADS, (0, 2, 3, 1))  # (1, 2, C/2, T)
    q = L.b.op("reshape", x, shape=(1, BRIDGE_HEADS, c // BRIDGE_HEADS, h * w))
    q = L.b.op("transpose", q, perm=(0, 1, 3, 2))  # (1, 2, HW, C/2)
    out = _attend(L, q, k, v, (c // BRIDGE_HEADS) ** -0.5, "f2m")  # (1, 2, HW, C/2)
    out = L.b.op("reshape", L.b.op("transpose", out, perm=(0, 1, 3, 2)), shape=(1, c, h, w))
    return L.b.op("add", x, out)


def dynamic_relu(L: Layers, x: str, z: Tokens) -> str:
    """DY-ReLU-B: max(a1·x, a2·x) per channel, (a1, a2) = (2h1, 2h2 − 1), h = hsigmoid(MLP(token 0))."""
    c = L.channels(x)
    d = L.b.shape_of(z.ref)[-1]
    t0 = L.b.op("reshape", L.b.op("slice", z.ref, starts=(0,), ends=(1,), axes=(1,)), shape=(1, d))
    hidden = L.act(L.linear(t0, d // 4, tag="dyrelu_fc1"), "relu")
    coeffs = L.act(L.linear(hidden, 2 * c, tag="dyrelu_fc2"), "hsigmoid")
    coeffs = L.b.op("reshape", coeffs, shape=(1, 2 * c, 1, 1))
    half, two = L.b.constant(0.5), L.b.constant(2.0)
    a1 = L.b.op("slice", coeffs, starts=(0,), ends=(c,), axes=(1,))
    a2 = L.b.op("slice", coeffs, starts=(c,), ends=(2 * c,), axes=(1,))
    a1 = L.b.op("add", L.b.op("mul", L.b.op("sub", a1, half), two), L.b.constant(1.0))
    a2 = L.b.op("mul", L.b.op("sub", a2, half), two)
    return L.b.op("max", L.b.op("mul", x, a1), L.b.op("mul", x, a2))


def _conv_bn(
    L: Layers, x: str, cout: int, k: int, stride: int = 1, groups: int = 1, tag: str = "conv"
) -> str:
    return L.bn(L.conv(x, cout, k, stride, groups, tag=tag))


def _mobile(L: Layers, x: str, z: Tokens, kind: str, e1: int, cout: int, stride: int, e2: int) -> str:
    """The Mobile side of one block, its activations dynamic ReLUs driven by the tokens."""
    cin = L.channels(x)
    if kind == "1":  # 1x1 expand, 3x3 depthwise (stride), 1x1 project
        hid = round(cin * e1)
        y = dynamic_relu(L, _conv_bn(L, x, hid, 1, tag="expand"), z)
        y = dynamic_relu(L, _conv_bn(L, y, hid, 3, stride, hid, tag="dw"), z)
        return _conv_bn(L, y, cout, 1, tag="project")
    hid1, hid2 = round(cin * e1), round(cout * e2)
    y = dynamic_relu(L, _conv_bn(L, x, hid1, 3, stride, cin, tag="dw1"), z)
    y = _conv_bn(L, y, cout, 1, tag="project1")
    y2 = dynamic_relu(L, _conv_bn(L, y, hid2, 3, 1, cout, tag="dw2"), z)
    return L.b.op("add", _conv_bn(L, y2, cout, 1, tag="project2"), y)


def mobile_former_block(L: Layers, x: str, z: Tokens, block: tuple) -> tuple[str, Tokens]:
    kind, e1, cout, stride, e2 = block
    cin = L.channels(x)
    if e2 == 0:  # the first block: depthwise (multiplier e1) + 1x1, ReLU6, no bridge
        y = L.act(_conv_bn(L, x, cin * e1, 3, stride, cin, tag="dw"), "relu6")
        y = _conv_bn(L, y, cout, 1, tag="pw")
        return (L.b.op("add", x, y) if stride == 1 and cin == cout else y), z
    z = former(L, mobile_to_former(L, x, z))
    y = _mobile(L, x, z, kind, e1, cout, stride, e2)
    if stride == 1 and cin == cout:
        y = L.b.op("add", y, x)
    return former_to_mobile(L, y, z), z


def mobile_former(L: Layers, name: str) -> str:
    """The whole network (see the module docstring) on L's (1, 3, r, r) input; returns the logits."""
    stem, blocks, tokens, dim, features = CONFIGS[name]
    z = Tokens(L.b.op("reshape", L.b.param((tokens, dim)), shape=(1, tokens, dim)))
    x = L.act(_conv_bn(L, L.x, stem, 3, 2, tag="stem"), "relu6")
    for block in blocks:
        x, z = mobile_former_block(L, x, z, block)
    z = mobile_to_former(L, x, z)
    c = L.channels(x)
    y = L.act(_conv_bn(L, x, HEAD_EXPANSION * c, 1, tag="head"), "relu6")
    y = L.b.op("hswish", L.b.op("reshape", L.b.op("global_avgpool", y), shape=(1, HEAD_EXPANSION * c)))
    t0 = L.b.op("reshape", L.b.op("slice", z.ref, starts=(0,), ends=(1,), axes=(1,)), shape=(1, dim))
    y = L.linear(L.b.op("concat", y, t0, axis=1), features, tag="fc")
    y = L.b.op("hswish", L.bn(y))
    return L.linear(y, 1000, tag="classifier")


@dataclass(frozen=True)
class PartCost:
    part: str  # "Mobile", "Mobile→Former", "Former", "Former→Mobile", "dynamic ReLU", "head"
    macs: int


PARTS = (
    ("m2f", "Mobile→Former"),
    ("former", "Former"),
    ("f2m", "Former→Mobile"),
    ("dyrelu", "dynamic ReLU"),
    ("fc", "head"),
    ("classifier", "head"),
    ("head", "head"),
)


def part_costs(graph) -> list[PartCost]:
    """MACs of a Mobile-Former graph split by part, from its node names (the tags above); every
    other conv is the Mobile side."""
    from ..core.cost_model import cost

    totals = dict.fromkeys(["Mobile", *dict(PARTS).values()], 0)
    for row in cost(graph).nodes:
        if not row.macs:
            continue
        part = next((label for tag, label in PARTS if row.name.startswith(tag)), "Mobile")
        totals[part] += row.macs
    return [PartCost(p, m) for p, m in totals.items()]


def bridge_macs(t: int, c: int, hw: int, d: int) -> dict[str, int]:
    """Closed forms for one block's bridges (T tokens of width d, a C x HW map): the attention terms
    are linear in HW, and no projection touches the map."""
    return {
        "Mobile→Former": 2 * t * hw * c + 3 * t * d * c,  # q, gate, proj + scores, weighted sum
        "Former→Mobile": 2 * t * hw * c + 2 * t * d * c,  # k, v + scores, weighted sum
    }
