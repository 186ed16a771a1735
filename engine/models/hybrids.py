"""Conv + attention hybrids after MobileViT v1: MobileViT v2 (separable self-attention), MobileViT v3
(the 1x1 fusion with a residual) and EfficientFormer-L1, as graphs; and attention cost vs sequence length.

MobileViT v2 (Mehta & Rastegari 2022b), stages of :func:`mobilevit_v2`:
  1. stem 3x3/2 to int(32α); MV2 blocks (expansion 2) to int(64α) and int(128α) (twice, stride 2);
  2. three stages of an MV2 block (stride 2) and a MobileViT v2 block with d = c/2 (rounded to 8),
     2 / 4 / 3 transformer layers on 2x2 patches; a v2 block is a 3x3 depthwise conv (BN, SiLU), a
     1x1 conv to d, the layers, a norm and a 1x1 conv back to c (BN) — no fusion, no concat;
  3. a v2 layer (:func:`separable_attention`): the input (d, P, N) is projected by a 1x1 conv to
     one context-score channel, keys and values (1 + 2d channels); the scores are a softmax over the
     N patches; the context vector is Σ_N score·key (d numbers per pixel position P); the output is
     ReLU(value) · context, projected by a 1x1 conv: O(N·d) work instead of O(N²·d); its FFN is two
     1x1 convs (2d, SiLU); norms are GroupNorm with one group (normalise over (d, P, N), per-channel
     scale and shift); global pool and a linear classifier on int(512α) channels.
MobileViT v3 (Wadekar & Chaurasia 2022), :func:`mobilevit_v3`: v1's network with wider stages (the
authors' configs) and a changed block: the local 3x3 conv becomes depthwise, the fusion takes the
local features and the global ones (not the input) through a 1x1 conv (not 3x3), and the input is
added back.
EfficientFormer-L1 (Li et al. 2022), :func:`efficientformer_l1`: a conv stem (two 3x3/2 convs with
bias, BN, ReLU), four stages of 4D blocks (token mixer = 3x3 average pool minus the input; a conv MLP
with BN and GELU; both scaled by a learned per-channel layer scale) at widths 48/96/224/448 with
depths 3/2/6/4, 3x3/2 conv + BN between stages; the last block is a 3D block: LayerNorm, attention
with 8 heads (key 32, value 128) and a learned bias per head and relative offset, a GELU MLP; a
classifier and a distillation classifier. The bias lookup table (8 x 49) is expanded to 8 x 49 x 49
by a matmul with a fixed one-hot matrix: the IR has no gather (this adds 0.94 M MACs, 0.07 %).
Not handled: MobileFormer (see the lab's lesson), dropout, training-only distillation tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocks import Layers, inverted_residual, mobilevit_block
from .networks import _classifier, _divisible


# -- MobileViT v2 -----------------------------------------------------------------------------------
def _group_norm1(L: Layers, x: str) -> str:
    """GroupNorm(1 group): normalise over all of (C, ...) then a per-channel scale and shift."""
    c = L.channels(x)
    y = L.b.op("layernorm", x, axis=1)
    ones = (1,) * (len(L.b.shape_of(x)) - 2)
    return L.b.op("add", L.b.op("mul", y, L.b.param((c, *ones))), L.b.param((c, *ones)))


def separable_attention(L: Layers, x: str) -> str:
    """x (1, d, P, N) → one score channel softmaxed over N, a context vector Σ score·key, ReLU(v)·context."""
    _, d, p, n = L.b.shape_of(x)
    qkv = L.conv(x, 1 + 2 * d, 1, bias=True, tag="qkv")
    q = L.b.op("slice", qkv, starts=(0,), ends=(1,), axes=(1,))
    k = L.b.op("slice", qkv, starts=(1,), ends=(1 + d,), axes=(1,))
    v = L.b.op("slice", qkv, starts=(1 + d,), ends=(1 + 2 * d,), axes=(1,))
    scores = L.b.op("softmax", q, axis=-1)
    context = L.b.op("reduce_sum", L.b.op("mul", k, scores), axes=(3,), keepdims=1)
    out = L.b.op("mul", L.act(v, "relu"), context)
    return L.conv(out, d, 1, bias=True, tag="attn_out")


def _v2_layer(L: Layers, x: str) -> str:
    d = L.channels(x)
    x = L.b.op("add", x, separable_attention(L, _group_norm1(L, x)))
    y = L.conv(L.act(L.conv(_group_norm1(L, x), 2 * d, 1, bias=True, tag="ffn1"), "swish"), d, 1, bias=True)
    return L.b.op("add", x, y)


def _unfold4(L: Layers, x: str, patch: int = 2) -> str:
    """(1, C, H, W) → (1, C, P, N): P pixel positions inside a patch, N patches."""
    _, c, h, w = L.b.shape_of(x)
    y = L.b.op("reshape", x, shape=(c, h // patch, patch, w // patch, patch))
    y = L.b.op("transpose", y, perm=(0, 2, 4, 1, 3))
    return L.b.op("reshape", y, shape=(1, c, patch * patch, h * w // (patch * patch)))


def _fold4(L: Layers, x: str, h: int, w: int, patch: int = 2) -> str:
    _, c, _, _ = L.b.shape_of(x)
    y = L.b.op("reshape", x, shape=(c, patch, patch, h // patch, w // patch))
    y = L.b.op("transpose", y, perm=(0, 3, 1, 4, 2))
    return L.b.op("reshape", y, shape=(1, c, h, w))


def mobilevit_v2_block(L: Layers, x: str, layers: int) -> str:
    _, c, h, w = L.b.shape_of(x)
    d = _divisible(c / 2)
    y = L.cba(x, c, 3, groups=c, act="swish", tag="local_dw")
    seq = _unfold4(L, L.conv(y, d, 1, tag="to_d"))
    for _ in range(layers):
        seq = _v2_layer(L, seq)
    y = _fold4(L, _group_norm1(L, seq), h, w)
    return L.bn(L.conv(y, c, 1, tag="to_c"))


def mobilevit_v2(L: Layers, alpha: float) -> str:
    ch = [int(c * alpha) for c in (64, 128, 256, 384, 512)]
    x = L.cba(L.x, int(32 * alpha), 3, 2, act="swish", tag="stem")
    x = inverted_residual(L, x, ch[0], 2, 3, 1, "swish")
    x = inverted_residual(L, x, ch[1], 2, 3, 2, "swish")
    x = inverted_residual(L, x, ch[1], 2, 3, 1, "swish")
    for c, layers in zip(ch[2:], (2, 4, 3)):
        x = inverted_residual(L, x, c, 2, 3, 2, "swish")
        x = mobilevit_v2_block(L, x, layers)
    return _classifier(L, x)


# -- MobileViT v3 -----------------------------------------------------------------------------------
#: (MV2 expansion, layer1, layer2, (layer3..5 channels), (transformer widths)); the authors' configs
#: (micronDLA/MobileViTv3, MobileViTv3-v1/cvnets/models/classification/config/mobilevit.py).
V3_CONFIGS = {
    "MobileViTv3-S": (4, 32, 64, (128, 256, 320), (144, 192, 240)),
    "MobileViTv3-XS": (4, 32, 48, (96, 160, 160), (96, 120, 144)),
    "MobileViTv3-XXS": (2, 16, 24, (64, 80, 128), (64, 80, 96)),
}


def mobilevit_v3_block(L: Layers, x: str, d: int, layers: int, heads: int = 4) -> str:
    _, c, h, w = L.b.shape_of(x)
    local = L.conv(L.cba(x, c, 3, groups=c, act="swish", tag="local_dw"), d, 1, tag="to_d")
    seq = L.unfold(local, 2)
    for _ in range(layers):
        seq = L.transformer(seq, 2 * d, heads)
    y = L.cba(L.fold(L.layernorm(seq), 2, h, w), c, 1, act="swish", tag="to_c")
    y = L.cba(L.b.op("concat", local, y, axis=1), c, 1, act="swish", tag="fusion1x1")
    return L.b.op("add", x, y)


def mobilevit_v3(L: Layers, name: str) -> str:
    t, c1, c2, stages, dims = V3_CONFIGS[name]
    x = L.cba(L.x, 16, 3, 2, act="swish", tag="stem")
    x = inverted_residual(L, x, c1, t, 3, 1, "swish")
    for i in range(3):
        x = inverted_residual(L, x, c2, t, 3, 2 if i == 0 else 1, "swish")
    for c, d, layers in zip(stages, dims, (2, 4, 3)):
        x = inverted_residual(L, x, c, t, 3, 2, "swish")
        x = mobilevit_v3_block(L, x, d, layers)
    return _classifier(L, L.cba(x, min(4 * stages[-1], 960), 1, act="swish", tag="head"))


def mobilevit_v1_block(L: Layers, x: str, d: int, layers: int) -> str:
    """v1's block (for the v1/v3 comparison): 3x3 conv, transformer, concat with the input, 3x3 fusion."""
    return mobilevit_block(L, x, d, layers, 2 * d)


# -- EfficientFormer-L1 -----------------------------------------------------------------------------
def _layer_scale(L: Layers, y: str) -> str:
    shape = L.b.shape_of(y)
    gamma = (shape[1], 1, 1) if len(shape) == 4 else (shape[-1],)
    return L.b.op("mul", y, L.b.param(gamma))


def _meta4d(L: Layers, x: str) -> str:
    c = L.channels(x)
    mix = L.b.op("sub", L.b.op("avgpool", x, kernel=3, stride=1, pad=1), x)
    x = L.b.op("add", x, _layer_scale(L, mix))
    y = L.act(L.bn(L.conv(x, 4 * c, 1, bias=True, tag="mlp1")), "gelu")
    y = L.bn(L.conv(y, c, 1, bias=True, tag="mlp2"))
    return L.b.op("add", x, _layer_scale(L, y))


def _bias_table(L: Layers, heads: int, side: int) -> str:
    """The (1, heads, n, n) attention bias, each entry the learned bias of its |Δy|, |Δx| offset."""
    n = side * side
    pts = [(i, j) for i in range(side) for j in range(side)]
    onehot = np.zeros((n, n * n), np.float32)
    for a, (y1, x1) in enumerate(pts):
        for b, (y2, x2) in enumerate(pts):
            onehot[abs(y1 - y2) * side + abs(x1 - x2), a * n + b] = 1.0
    full = L.b.op("matmul", L.b.param((heads, n)), L.b.constant(onehot), name=L.name("bias_lookup"))
    return L.b.op("reshape", full, shape=(1, heads, n, n))


def _meta3d(L: Layers, x: str, side: int, heads: int = 8, key: int = 32, ratio: int = 4) -> str:
    _, n, c = L.b.shape_of(x)
    val = key * ratio
    qkv = L.linear(L.layernorm(x), heads * (2 * key + val), tag="qkv")
    qkv = L.b.op("transpose", L.b.op("reshape", qkv, shape=(1, n, heads, 2 * key + val)), perm=(0, 2, 1, 3))
    q, k, v = (
        L.b.op("slice", qkv, starts=(a,), ends=(b,), axes=(3,))
        for a, b in ((0, key), (key, 2 * key), (2 * key, 2 * key + val))
    )
    q = L.b.op("mul", q, L.b.constant(1.0 / np.sqrt(key)))
    scores = L.b.op("matmul", q, L.b.op("transpose", k, perm=(0, 1, 3, 2)), name=L.name("scores"))
    att = L.b.op("softmax", L.b.op("add", scores, _bias_table(L, heads, side)), axis=-1)
    o = L.b.op("matmul", att, v, name=L.name("attend"))
    o = L.b.op("reshape", L.b.op("transpose", o, perm=(0, 2, 1, 3)), shape=(1, n, heads * val))
    x = L.b.op("add", x, _layer_scale(L, L.linear(o, c, tag="attn_out")))
    y = L.linear(L.act(L.linear(L.layernorm(x), 4 * c, tag="mlp1"), "gelu"), c, tag="mlp2")
    return L.b.op("add", x, _layer_scale(L, y))


def efficientformer_l1(L: Layers, alpha: float = 1.0) -> str:
    x = L.act(L.bn(L.conv(L.x, 24, 3, 2, bias=True, tag="stem1")), "relu")
    x = L.act(L.bn(L.conv(x, 48, 3, 2, bias=True, tag="stem2")), "relu")
    for i, (c, depth) in enumerate(zip((48, 96, 224, 448), (3, 2, 6, 4))):
        if i:
            x = L.bn(L.conv(x, c, 3, 2, bias=True, tag="downsample"))
        for _ in range(depth - (1 if i == 3 else 0)):
            x = _meta4d(L, x)
    _, c, h, w = L.b.shape_of(x)
    tokens = L.b.op("transpose", L.b.op("reshape", x, shape=(1, c, h * w)), perm=(0, 2, 1))
    tokens = L.layernorm(_meta3d(L, tokens, h))
    pooled = L.b.op("reshape", L.b.op("reduce_mean", tokens, axes=(1,)), shape=(1, c))
    heads = [
        L.b.op("gemm", pooled, L.b.param((1000, c)), L.b.param((1000,)), trans_b=1, name=L.name(tag))
        for tag in ("classifier", "classifier_dist")
    ]
    return L.b.op("mul", L.b.op("add", *heads), L.b.constant(0.5))


# -- attention cost vs sequence length --------------------------------------------------------------
@dataclass(frozen=True)
class AttentionCost:
    tokens: int
    mhsa_macs: int  # QKᵀ and AV: 2·N²·d
    separable_macs: int  # context vector and weighting: 2·N·d (+ N for the scores' projection)


def attention_costs(d: int, tokens: tuple[int, ...]) -> list[AttentionCost]:
    """Multiply-adds of the token-mixing part of one layer (projections excluded, equal for both)."""
    return [AttentionCost(n, 2 * n * n * d, 2 * n * d + n) for n in tokens]
