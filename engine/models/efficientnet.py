"""EfficientNet's compound scaling (Tan & Le 2019) and EfficientNetV2's Fused-MBConv (Tan & Le 2021).

Stages of :func:`efficientnet`:
  1. scale B0 (its Table 1: MBConv stages (expansion t, kernel k, stride s, channels c, repeats n))
     by a width coefficient w and a depth coefficient d, with the authors' rounding:
       channels  round_filters(c, w) = c·w rounded to the nearest multiple of 8, never below 90 % of c·w,
       repeats   round_repeats(n, d) = ceil(d·n);
     the stem (32) and the head conv (1280) are scaled the same way; squeeze-and-excitation keeps a
     quarter of each block's *input* channels;
  2. B0–B7 are the (w, d, resolution) rows of the authors' code (tensorflow/tpu efficientnet_builder.py
     ``efficientnet_params``); the paper's rule d = α^φ, w = β^φ, r = γ^φ (α = 1.2, β = 1.1, γ = 1.15,
     chosen so that α·β²·γ² ≈ 2, hence FLOPs ≈ 2^φ) is :func:`compound_coefficients`; the published
     B1–B7 round those to hand-picked values.
:func:`efficientnet_v2_s` builds EfficientNetV2-S from its Table 4: Fused-MBConv (a 3x3 conv that
expands, then a 1x1 projection; with expansion 1 a single 3x3 conv) in the three early stages, MBConv
with SE in the rest, SiLU everywhere, head conv 1280.
Not handled: drop-connect and dropout (training only), progressive learning (training), V2-M/L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .blocks import Layers, inverted_residual
from .networks import _classifier, _divisible

B0_STAGES = (  # (t, k, s, c, n): Tan & Le 2019, Table 1
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
#: name -> (width w, depth d, resolution): the authors' efficientnet_params table.
COEFFICIENTS = {
    "EfficientNet-B0": (1.0, 1.0, 224),
    "EfficientNet-B1": (1.0, 1.1, 240),
    "EfficientNet-B2": (1.1, 1.2, 260),
    "EfficientNet-B3": (1.2, 1.4, 300),
    "EfficientNet-B4": (1.4, 1.8, 380),
    "EfficientNet-B5": (1.6, 2.2, 456),
    "EfficientNet-B6": (1.8, 2.6, 528),
    "EfficientNet-B7": (2.0, 3.1, 600),
}
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases found by the paper's grid search


def round_filters(c: int, width: float) -> int:
    return _divisible(c * width, 8)


def round_repeats(n: int, depth: float) -> int:
    return int(math.ceil(depth * n))


def efficientnet(L: Layers, width: float, depth: float) -> str:
    x = L.cba(L.x, round_filters(32, width), 3, 2, act="swish", tag="stem")
    for t, k, s, c, n in B0_STAGES:
        for i in range(round_repeats(n, depth)):
            squeeze = max(1, L.channels(x) // 4)
            x = inverted_residual(
                L, x, round_filters(c, width), t, k, s if i == 0 else 1, "swish", se_squeeze=squeeze
            )
    return _classifier(L, L.cba(x, round_filters(1280, width), 1, act="swish", tag="head"))


@dataclass(frozen=True)
class Compound:
    phi: float
    depth: float  # α^φ
    width: float  # β^φ
    resolution: int  # 224·γ^φ rounded to a multiple of 8
    flops_factor: float  # (α·β²·γ²)^φ: the predicted growth of FLOPs over B0


def compound_coefficients(
    phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA
) -> Compound:
    """The paper's eq. 3: d = α^φ, w = β^φ, r = γ^φ; FLOPs grow as d·w²·r² = (α·β²·γ²)^φ."""
    r = int(round(224 * gamma**phi / 8)) * 8
    return Compound(phi, alpha**phi, beta**phi, r, (alpha * beta**2 * gamma**2) ** phi)


V2_S_STAGES = (  # (block, k, s, e, c, n, se): Tan & Le 2021, Table 4
    ("fused", 3, 1, 1, 24, 2, False),
    ("fused", 3, 2, 4, 48, 4, False),
    ("fused", 3, 2, 4, 64, 4, False),
    ("mbconv", 3, 2, 4, 128, 6, True),
    ("mbconv", 3, 1, 6, 160, 9, True),
    ("mbconv", 3, 2, 6, 256, 15, True),
)


def fused_mbconv(L: Layers, x: str, cout: int, k: int, stride: int, e: int) -> str:
    """Fused-MBConv: k x k conv to e·c_in (BN, SiLU), 1x1 projection (BN) — or one k x k conv when e = 1."""
    cin = L.channels(x)
    if e == 1:
        y = L.cba(x, cout, k, stride, act="swish", tag="fused")
    else:
        y = L.cba(x, cin * e, k, stride, act="swish", tag="fused_expand")
        y = L.bn(L.conv(y, cout, 1, tag="project"))
    return L.b.op("add", x, y) if stride == 1 and cin == cout else y


def efficientnet_v2_s(L: Layers, alpha: float = 1.0) -> str:
    x = L.cba(L.x, 24, 3, 2, act="swish", tag="stem")
    for block, k, s, e, c, n, se in V2_S_STAGES:
        for i in range(n):
            stride = s if i == 0 else 1
            if block == "fused":
                x = fused_mbconv(L, x, c, k, stride, e)
            else:
                squeeze = max(1, L.channels(x) // 4) if se else 0
                x = inverted_residual(L, x, c, e, k, stride, "swish", se_squeeze=squeeze)
    return _classifier(L, L.cba(x, 1280, 1, act="swish", tag="head"))
