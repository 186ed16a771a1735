"""MobileNetV4 (Qin et al. 2024): the Universal Inverted Bottleneck, Mobile MQA, and the Conv-S/M and
Hybrid-M networks as graphs.

Stages of :func:`mobilenet_v4`:
  1. a 3x3 stride-2 stem (32 channels, BN, ReLU);
  2. the rows of the architecture tables, each one of four block kinds:
       ``cn``  conv-BN-ReLU (k x k),
       ``er``  Fused IB: a k x k conv expanding to make_divisible(c_in · e), then a 1x1 projection,
       ``uib`` the Universal Inverted Bottleneck (:func:`uib`): an optional depthwise conv *before*
               the expansion (kernel ``a``), a 1x1 expansion, an optional depthwise conv *after* it
               (kernel ``k``), a 1x1 projection. a and k switch it between four instances:
               IB (a = 0, k > 0), ConvNext-like (a > 0, k = 0), ExtraDW (a > 0, k > 0), FFN (a = k = 0),
       ``mqa`` Mobile MQA (:func:`mobile_mqa`): multi-query attention — every head has its own
               query projection but all heads share one key and one value projection, optionally on a
               feature map shrunk by a stride-2 depthwise conv (``kv_stride``);
     the hybrid model scales every UIB and MQA output by a learned per-channel layer scale;
  3. the MobileNetV3 head: 1x1 conv to 960, global average pool, 1x1 conv to 1280 (BN, ReLU), a
     1000-class linear layer.
The block rows follow the authors' released code (tensorflow/models official/vision/modeling/backbones/
mobilenet.py, the same rows as the paper's appendix tables); keys and values use separate stride-2
depthwise convs, as that code does.
Not handled: MNv4-Conv-L / Hybrid-L (384x384 inputs, over the graph element budget when executed),
width multipliers (the paper defines none), dropout and stochastic depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .blocks import Layers
from .networks import _divisible

# row kinds: ("cn", k, s, c) ("er", k, s, e, c) ("uib", a, k, s, e, c) ("mqa", heads, key_dim, kv_stride, c)
_S = [
    ("cn", 3, 2, 32),
    ("cn", 1, 1, 32),
    ("cn", 3, 2, 96),
    ("cn", 1, 1, 64),
    ("uib", 5, 5, 2, 3.0, 96),
    *[("uib", 0, 3, 1, 2.0, 96)] * 4,
    ("uib", 3, 0, 1, 4.0, 96),
    ("uib", 3, 3, 2, 6.0, 128),
    ("uib", 5, 5, 1, 4.0, 128),
    ("uib", 0, 5, 1, 4.0, 128),
    ("uib", 0, 5, 1, 3.0, 128),
    *[("uib", 0, 3, 1, 4.0, 128)] * 2,
    ("cn", 1, 1, 960),
]
_M_HEAD = [("er", 3, 2, 4.0, 48), ("uib", 3, 5, 2, 4.0, 80), ("uib", 3, 3, 1, 2.0, 80)]
_M = [
    *_M_HEAD,
    ("uib", 3, 5, 2, 6.0, 160),
    *[("uib", 3, 3, 1, 4.0, 160)] * 2,
    ("uib", 3, 5, 1, 4.0, 160),
    ("uib", 3, 3, 1, 4.0, 160),
    ("uib", 3, 0, 1, 4.0, 160),
    ("uib", 0, 0, 1, 2.0, 160),
    ("uib", 3, 0, 1, 4.0, 160),
    ("uib", 5, 5, 2, 6.0, 256),
    ("uib", 5, 5, 1, 4.0, 256),
    *[("uib", 3, 5, 1, 4.0, 256)] * 2,
    ("uib", 0, 0, 1, 4.0, 256),
    ("uib", 3, 0, 1, 4.0, 256),
    ("uib", 3, 5, 1, 2.0, 256),
    ("uib", 5, 5, 1, 4.0, 256),
    *[("uib", 0, 0, 1, 4.0, 256)] * 2,
    ("uib", 5, 0, 1, 2.0, 256),
    ("cn", 1, 1, 960),
]
_Q2, _Q3 = ("mqa", 4, 64, 2, 160), ("mqa", 4, 64, 1, 256)  # kv shrunk 2x on the 1/16 map, not on 1/32
_HM = [
    *_M_HEAD,
    ("uib", 3, 5, 2, 6.0, 160),
    ("uib", 0, 0, 1, 2.0, 160),
    ("uib", 3, 3, 1, 4.0, 160),
    ("uib", 3, 5, 1, 4.0, 160),
    _Q2,
    ("uib", 3, 3, 1, 4.0, 160),
    _Q2,
    ("uib", 3, 0, 1, 4.0, 160),
    _Q2,
    ("uib", 3, 3, 1, 4.0, 160),
    _Q2,
    ("uib", 3, 0, 1, 4.0, 160),
    ("uib", 5, 5, 2, 6.0, 256),
    ("uib", 5, 5, 1, 4.0, 256),
    *[("uib", 3, 5, 1, 4.0, 256)] * 2,
    ("uib", 0, 0, 1, 2.0, 256),
    ("uib", 3, 5, 1, 2.0, 256),
    ("uib", 0, 0, 1, 2.0, 256),
    ("uib", 0, 0, 1, 4.0, 256),
    _Q3,
    ("uib", 3, 0, 1, 4.0, 256),
    _Q3,
    ("uib", 5, 5, 1, 4.0, 256),
    _Q3,
    ("uib", 5, 0, 1, 4.0, 256),
    _Q3,
    ("uib", 5, 0, 1, 4.0, 256),
    ("cn", 1, 1, 960),
]
MNV4_ROWS = {"MobileNetV4-Conv-S": _S, "MobileNetV4-Conv-M": _M, "MobileNetV4-Hybrid-M": _HM}

UIB_KINDS = {  # (start depthwise kernel a, middle depthwise kernel k) of each UIB instance
    "IB": (0, 3),
    "ConvNext": (3, 0),
    "ExtraDW": (3, 3),
    "FFN": (0, 0),
}


def _scale(L: Layers, y: str) -> str:
    """Layer scale: y · γ with one learned γ per channel (the hybrid model's blocks)."""
    return L.b.op("mul", y, L.b.param((L.channels(y), 1, 1)))


def _residual(L: Layers, x: str, y: str, stride: int) -> str:
    return L.b.op("add", x, y) if stride == 1 and L.channels(x) == L.channels(y) else y


def fused_ib(L: Layers, x: str, cout: int, k: int, stride: int, e: float) -> str:
    y = L.cba(x, _divisible(L.channels(x) * e), k, stride, tag="fused_expand")
    return _residual(L, x, L.bn(L.conv(y, cout, 1, tag="project")), stride)


def uib(
    L: Layers, x: str, cout: int, a: int, k: int, stride: int, e: float, scale: bool = False, act="relu"
) -> str:
    """Universal Inverted Bottleneck: [dw a×a] → 1x1 expand → [dw k×k] → 1x1 project (+ residual).

    The stride sits on the middle depthwise conv, or on the first one when there is no middle one."""
    cin = L.channels(x)
    y = x
    if a:
        y = L.bn(L.conv(y, cin, a, 1 if k else stride, groups=cin, tag="dw_start"))
    mid = _divisible(cin * e)
    y = L.cba(y, mid, 1, act=act, tag="expand")
    if k:
        y = L.cba(y, mid, k, stride, groups=mid, act=act, tag="dw_mid")
    y = L.bn(L.conv(y, cout, 1, tag="project"))
    return _residual(L, x, _scale(L, y) if scale else y, stride)


def _kv(L: Layers, y: str, dim: int, stride: int, k: int, tag: str) -> str:
    c = L.channels(y)
    if stride > 1:
        y = L.bn(L.conv(y, c, k, stride, groups=c, tag=f"{tag}_down"))
    return L.conv(y, dim, 1, tag=f"{tag}_proj")


def mobile_mqa(
    L: Layers, x: str, heads: int, key_dim: int, kv_stride: int, scale: bool = True, dw_k: int = 3
) -> str:
    """BN → multi-query attention (heads queries, one shared key and value) → 1x1 output projection,
    layer scale, residual. Keys/values come from a map shrunk ``kv_stride`` times by a depthwise conv."""
    _, c, h, w = L.b.shape_of(x)
    y = L.bn(x)
    q = L.conv(y, heads * key_dim, 1, tag="query")
    q = L.b.op("transpose", L.b.op("reshape", q, shape=(1, heads, key_dim, h * w)), perm=(0, 1, 3, 2))
    kt = _kv(L, y, key_dim, kv_stride, dw_k, "key")
    n = L.b.shape_of(kt)[2] * L.b.shape_of(kt)[3]
    kt = L.b.op("reshape", kt, shape=(1, 1, key_dim, n))
    v = L.b.op("reshape", _kv(L, y, key_dim, kv_stride, dw_k, "value"), shape=(1, 1, key_dim, n))
    v = L.b.op("transpose", v, perm=(0, 1, 3, 2))
    q = L.b.op("mul", q, L.b.constant(1.0 / np.sqrt(key_dim)))
    att = L.b.op("softmax", L.b.op("matmul", q, kt, name=L.name("scores")), axis=-1)
    o = L.b.op("matmul", att, v, name=L.name("attend"))  # (1, heads, hw, key_dim)
    o = L.b.op("reshape", L.b.op("transpose", o, perm=(0, 1, 3, 2)), shape=(1, heads * key_dim, h, w))
    o = L.conv(o, c, 1, tag="attn_out")
    return L.b.op("add", x, _scale(L, o) if scale else o)


def mobilenet_v4(L: Layers, name: str) -> str:
    hybrid = "Hybrid" in name
    x = L.cba(L.x, 32, 3, 2, tag="stem")
    for row in MNV4_ROWS[name]:
        kind = row[0]
        if kind == "cn":
            x = L.cba(x, row[3], row[1], row[2], tag="conv")
        elif kind == "er":
            x = fused_ib(L, x, row[4], row[1], row[2], row[3])
        elif kind == "uib":
            x = uib(L, x, row[5], row[1], row[2], row[3], row[4], scale=hybrid)
        else:
            x = mobile_mqa(L, x, row[1], row[2], row[3])
    x = L.b.op("global_avgpool", x)
    x = L.cba(x, 1280, 1, tag="head")
    x = L.b.op("reshape", x, shape=(1, 1280))
    return L.b.op(
        "gemm", x, L.b.param((1000, 1280)), L.b.param((1000,)), trans_b=1, name=L.name("classifier")
    )


@dataclass(frozen=True)
class AttentionTraffic:
    """Bytes one attention layer moves (fp32): what Mobile MQA saves over multi-head attention."""

    heads: int
    mha_bytes: int
    mqa_bytes: int
    macs: int  # the same for both: QKᵀ and AV


def attention_traffic(
    c: int, h: int, w: int, heads: int, key_dim: int, kv_stride: int = 1
) -> AttentionTraffic:
    """Memory traffic of the projections and the two attention matmuls of one layer on a c x h x w map:
    MHA reads and writes ``heads`` keys and values, MQA one of each (Shazeer 2019; MNv4 section 4).
    Every tensor is read or written once; weights included."""
    n, m = h * w, -(-h // kv_stride) * -(-w // kv_stride)
    q = n * heads * key_dim

    def total(kv_heads: int) -> int:
        weights = c * heads * key_dim + 2 * c * kv_heads * key_dim + heads * key_dim * c
        kv = 2 * m * kv_heads * key_dim
        scores = heads * n * m
        moved = (n * c + q) + (m * c + kv) + (q + kv // 2 + scores) + (scores + kv // 2 + q) + (q + n * c)
        return 4 * (moved + weights)

    return AttentionTraffic(heads, total(heads), total(1), 2 * heads * n * m * key_dim)
