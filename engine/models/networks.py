"""Whole lightweight networks built from the papers' architecture tables, and those tables' numbers.

Stages of :func:`build_network`:
  1. validate the name, width multiplier α and input resolution;
  2. lay the network out with :class:`engine.models.blocks.Layers` (NCHW, batch 1, BN after every conv
     with its running mean/var as constants, a 1000-class linear classifier);
  3. return the Graph; :func:`network_cost` adds :func:`engine.cost` and the paper's row.

Architectures (channels before α):
  * MobileNetV1 (Howard et al. 2017, Table 1): 3x3 conv 32/2, 13 depthwise-separable layers
    64 … 1024; channels int(α·c).
  * MobileNetV2 (Sandler et al. 2018, Table 2): 3x3 conv 32/2, bottlenecks (t, c, n, s) =
    (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), 1x1 conv 1280;
    channels rounded to a multiple of 8 as in the authors' code.
  * ShuffleNetV2 (Ma et al. 2018, Tables 5 and 8): conv 24/2, maxpool, stages of 4/8/4 units with
    116/232/464 channels at 1x (48/96/192 at 0.5x, 176/352/704 at 1.5x, 244/488/976 at 2x), a 1x1
    conv 1024 (2048 at 2x); α picks one of these four widths.
  * MobileNetV3-Large / Small (Howard et al. 2019, Tables 1 and 2): bnecks given as (kernel,
    expanded width, output, SE, activation, stride); SE squeeze = expanded/4 rounded to 8 with a
    hard-sigmoid gate; h-swish in the later layers; a 1x1 conv, pool, then a 1280- (1024-) wide
    linear layer before the classifier.
  * GhostNet 1.0x (Han et al. 2020, Table 1): Ghost bottlenecks = Ghost module (1x1 primary conv
    to half the channels + 3x3 depthwise "cheap" conv for the other half), a stride-2 depthwise
    conv where the map shrinks, SE (hard-sigmoid gate, squeeze = expanded/4 rounded to 4), a
    second Ghost module without ReLU, and a depthwise+1x1 shortcut where the shape changes.
  * EfficientNet-B0 (Tan & Le 2019, Table 1): MBConv stages with SE (squeeze = input/4) and swish.
  * MobileViT-S / XS (Mehta & Rastegari 2022, Table 4 in the appendix): MV2 blocks (t = 4) and
    MobileViT blocks with d = 144/192/240 (S), 2x2 patches. The paper evaluates at 256x256, but that
    graph's tensors hold ~81 M elements, over the engine's 64 M-element graph budget, so the lab's
    default is 192x192 (a multiple of 64, as 2x2 patches on the 1/32 map need); parameter counts do
    not depend on the resolution, MACs do.
Conventions for comparing with the papers: the papers' "FLOPs"/"mult-adds" are multiply-adds, i.e.
the engine's MACs (conv + matmul; BN, activations, SE gating and additions are not counted).
Parameters count weights, BN's scale and shift, and biases (what ``torch`` counts); the papers'
tables give one or two significant digits, so the tolerance is stated per row in :data:`PAPER`.
Not handled: α for EfficientNet/MobileNetV3/GhostNet/MobileViT (other widths are separate models),
depth scaling (EfficientNet-B1…B7), dropout and other training-only layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.cost_model import CostReport, cost
from ..core.errors import ShapeError
from ..core.ir import Graph
from .blocks import Layers, check_int, inverted_residual, mobilevit_block


@dataclass(frozen=True)
class PaperRow:
    params_m: float  # millions
    macs_m: float | None  # millions of multiply-adds (None: not checked)
    resolution: int
    source: str
    tolerance: float  # relative tolerance of the comparison
    note: str = ""


PAPER = {
    "MobileNetV1": PaperRow(4.2, 569, 224, "Howard et al. 2017, Table 8 (1.0 MobileNet-224)", 0.02),
    "MobileNetV2": PaperRow(
        3.4,
        300,
        224,
        "Sandler et al. 2018, Table 4 (MobileNetV2 1.0)",
        0.04,
        "the authors' checkpoint table lists 3.47 M; the paper rounds down",
    ),
    "ShuffleNetV2": PaperRow(
        2.3,
        146,
        224,
        "Ma et al. 2018, Table 5 (ShuffleNet v2 1x)",
        0.03,
        "the paper's FLOPs are multiply-adds",
    ),
    "EfficientNet-B0": PaperRow(
        5.3, 390, 224, "Tan & Le 2019, Table 2 (EfficientNet-B0)", 0.03, "0.39 B FLOPs = multiply-adds"
    ),
    "MobileNetV3-Large": PaperRow(
        5.4,
        219,
        224,
        "Howard et al. 2019, Table 3 (Large 1.0)",
        0.03,
        "torchvision's layout: 5,483,032 params",
    ),
    "MobileNetV3-Small": PaperRow(2.5, 56, 224, "Howard et al. 2019, Table 3 (Small 1.0)", 0.03),
    "GhostNet": PaperRow(5.2, 141, 224, "Han et al. 2020, Table 7 (GhostNet 1.0x)", 0.03),
    "MobileViT-S": PaperRow(
        5.6,
        None,
        192,
        "Mehta & Rastegari 2022, Table 1 (MobileViT-S)",
        0.02,
        "MACs not compared: the paper evaluates at 256x256, the lab at 192",
    ),
    "MobileViT-XS": PaperRow(2.3, None, 192, "Mehta & Rastegari 2022, Table 1 (MobileViT-XS)", 0.03),
}
#: MobileNetV1 Tables 6 and 7: (alpha, resolution) -> (mult-adds in M, params in M).
MOBILENET_V1_SWEEP = {
    (1.0, 224): (569, 4.2),
    (0.75, 224): (325, 2.6),
    (0.5, 224): (149, 1.3),
    (0.25, 224): (41, 0.5),
    (1.0, 192): (418, 4.2),
    (1.0, 160): (290, 4.2),
    (1.0, 128): (186, 4.2),
}
#: The authors' MobileNetV2 checkpoint table (tensorflow/models, research/slim/nets/mobilenet/
#: README.md): (alpha, resolution) -> (MACs in M, params in M). Its params leave out BN's scale
#: and shift, so compare them with :func:`engine.models.analysis.param_breakdown`.
MOBILENET_V2_SLIM = {
    (1.4, 224): (582, 6.06),
    (1.3, 224): (509, 5.34),
    (1.0, 224): (300, 3.47),
    (1.0, 192): (221, 3.47),
    (1.0, 160): (154, 3.47),
    (1.0, 128): (99, 3.47),
    (1.0, 96): (56, 3.47),
    (0.75, 224): (209, 2.61),
    (0.5, 224): (97, 1.95),
    (0.35, 224): (59, 1.66),
}
#: ShuffleNet V2 Table 5: width -> (stage channels, last conv), (MFLOPs = MACs, params in M).
SHUFFLENET_V2_WIDTHS = {
    0.5: ((48, 96, 192), 1024, (41, 1.4)),
    1.0: ((116, 232, 464), 1024, (146, 2.3)),
    1.5: ((176, 352, 704), 1024, (299, 3.5)),
    2.0: ((244, 488, 976), 2048, (591, 7.4)),
}
NETWORKS = tuple(PAPER)
WIDTH_NETS = ("MobileNetV1", "MobileNetV2", "ShuffleNetV2")  # the nets whose papers define α


def _divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8, never below 90 % of v (MobileNetV2 reference code)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _classifier(L: Layers, x: str) -> str:
    c = L.channels(x)
    y = L.b.op("reshape", L.b.op("global_avgpool", x), shape=(1, c))
    return L.b.op("gemm", y, L.b.param((1000, c)), L.b.param((1000,)), trans_b=1, name=L.name("classifier"))


def mobilenet_v1(L: Layers, alpha: float) -> str:
    ch = lambda c: max(1, int(c * alpha))  # noqa: E731
    x = L.cba(L.x, ch(32), 3, 2, tag="stem")
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
    for c, s in plan:
        x = L.cba(x, L.channels(x), 3, s, groups=L.channels(x), tag="dw")
        x = L.cba(x, ch(c), 1, tag="pw")
    return _classifier(L, x)


def mobilenet_v2(L: Layers, alpha: float) -> str:
    x = L.cba(L.x, _divisible(32 * alpha), 3, 2, act="relu6", tag="stem")
    for t, c, n, s in (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ):
        for i in range(n):
            x = inverted_residual(L, x, _divisible(c * alpha), t, 3, s if i == 0 else 1, "relu6")
    x = L.cba(x, _divisible(1280 * max(1.0, alpha)), 1, act="relu6", tag="head")
    return _classifier(L, x)


def _shuffle_unit(L: Layers, x: str, cout: int, stride: int) -> str:
    half = cout // 2
    if stride == 1:
        keep = L.b.op("split", x, parts=2, axis=1, index=0)
        x2 = L.b.op("split", x, parts=2, axis=1, index=1)
    else:
        keep = L.cba(
            L.cba(x, L.channels(x), 3, 2, groups=L.channels(x), act="none", tag="dw"), half, 1, tag="pw"
        )
        x2 = x
    y = L.cba(x2, half, 1, tag="pw")
    y = L.cba(y, half, 3, stride, groups=half, act="none", tag="dw")
    y = L.cba(y, half, 1, tag="pw")
    return L.shuffle(L.b.op("concat", keep, y, axis=1), 2)


def shufflenet_v2(L: Layers, alpha: float) -> str:
    stages, last, _ = SHUFFLENET_V2_WIDTHS[alpha]
    x = L.cba(L.x, 24, 3, 2, tag="stem")
    x = L.b.op("maxpool", x, kernel=3, stride=2, pad=1)
    for c, n in zip(stages, (4, 8, 4)):
        for i in range(n):
            x = _shuffle_unit(L, x, c, 2 if i == 0 else 1)
    return _classifier(L, L.cba(x, last, 1, tag="head"))


def efficientnet_b0(L: Layers, alpha: float) -> str:
    x = L.cba(L.x, 32, 3, 2, act="swish", tag="stem")
    for t, k, s, c, n in (
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ):
        for i in range(n):
            x = inverted_residual(
                L, x, c, t, k, s if i == 0 else 1, "swish", se_squeeze=max(1, L.channels(x) // 4)
            )
    return _classifier(L, L.cba(x, 1280, 1, act="swish", tag="head"))


_V3 = {  # (kernel, expanded, out, SE, activation, stride) per bneck; last conv; hidden linear
    "MobileNetV3-Large": (
        (
            (3, 16, 16, 0, "relu", 1),
            (3, 64, 24, 0, "relu", 2),
            (3, 72, 24, 0, "relu", 1),
            (5, 72, 40, 1, "relu", 2),
            (5, 120, 40, 1, "relu", 1),
            (5, 120, 40, 1, "relu", 1),
            (3, 240, 80, 0, "hswish", 2),
            (3, 200, 80, 0, "hswish", 1),
            (3, 184, 80, 0, "hswish", 1),
            (3, 184, 80, 0, "hswish", 1),
            (3, 480, 112, 1, "hswish", 1),
            (3, 672, 112, 1, "hswish", 1),
            (5, 672, 160, 1, "hswish", 2),
            (5, 960, 160, 1, "hswish", 1),
            (5, 960, 160, 1, "hswish", 1),
        ),
        960,
        1280,
    ),
    "MobileNetV3-Small": (
        (
            (3, 16, 16, 1, "relu", 2),
            (3, 72, 24, 0, "relu", 2),
            (3, 88, 24, 0, "relu", 1),
            (5, 96, 40, 1, "hswish", 2),
            (5, 240, 40, 1, "hswish", 1),
            (5, 240, 40, 1, "hswish", 1),
            (5, 120, 48, 1, "hswish", 1),
            (5, 144, 48, 1, "hswish", 1),
            (5, 288, 96, 1, "hswish", 2),
            (5, 576, 96, 1, "hswish", 1),
            (5, 576, 96, 1, "hswish", 1),
        ),
        576,
        1024,
    ),
}


def mobilenet_v3(L: Layers, name: str) -> str:
    plan, last, hidden = _V3[name]
    x = L.cba(L.x, 16, 3, 2, act="hswish", tag="stem")
    for k, e, c, se, act, s in plan:
        cin = L.channels(x)
        y = L.cba(x, e, 1, act=act, tag="expand") if e != cin else x
        y = L.cba(y, e, k, s, groups=e, act=act, tag="dw")
        if se:
            y = L.se(y, _divisible(e / 4), act="relu", gate="hsigmoid")
        y = L.bn(L.conv(y, c, 1, tag="project"))
        x = L.b.op("add", x, y) if s == 1 and cin == c else y
    x = L.cba(x, last, 1, act="hswish", tag="head")
    y = L.b.op("reshape", L.b.op("global_avgpool", x), shape=(1, last))
    y = L.act(
        L.b.op("gemm", y, L.b.param((hidden, last)), L.b.param((hidden,)), trans_b=1, name=L.name("hidden")),
        "hswish",
    )
    return L.b.op(
        "gemm", y, L.b.param((1000, hidden)), L.b.param((1000,)), trans_b=1, name=L.name("classifier")
    )


_GHOST = (  # (kernel, expanded, out, SE, stride) per Ghost bottleneck (Han et al. 2020, Table 1)
    (3, 16, 16, 0, 1),
    (3, 48, 24, 0, 2),
    (3, 72, 24, 0, 1),
    (5, 72, 40, 1, 2),
    (5, 120, 40, 1, 1),
    (3, 240, 80, 0, 2),
    (3, 200, 80, 0, 1),
    (3, 184, 80, 0, 1),
    (3, 184, 80, 0, 1),
    (3, 480, 112, 1, 1),
    (3, 672, 112, 1, 1),
    (5, 672, 160, 1, 2),
    (5, 960, 160, 0, 1),
    (5, 960, 160, 1, 1),
    (5, 960, 160, 0, 1),
    (5, 960, 160, 1, 1),
)


def _ghost_module(L: Layers, x: str, out: int, relu: bool) -> str:
    act = "relu" if relu else "none"
    primary = L.cba(x, out // 2, 1, act=act, tag="ghost_primary")
    cheap = L.cba(primary, out // 2, 3, groups=out // 2, act=act, tag="ghost_cheap")
    return L.b.op("concat", primary, cheap, axis=1)


def ghostnet(L: Layers, alpha: float) -> str:
    x = L.cba(L.x, 16, 3, 2, tag="stem")
    for k, e, c, se, s in _GHOST:
        cin = L.channels(x)
        y = _ghost_module(L, x, e, relu=True)
        if s > 1:
            y = L.cba(y, e, k, s, groups=e, act="none", tag="dw")
        if se:
            y = L.se(y, _divisible(e / 4, 4), act="relu", gate="hsigmoid")
        y = _ghost_module(L, y, c, relu=False)
        if s == 1 and cin == c:
            short = x
        else:
            short = L.cba(L.cba(x, cin, k, s, groups=cin, act="none", tag="dw"), c, 1, act="none", tag="pw")
        x = L.b.op("add", y, short)
    x = L.b.op("global_avgpool", L.cba(x, 960, 1, tag="head"))
    x = L.act(L.conv(x, 1280, 1, bias=True, tag="conv_head"), "relu")
    x = L.b.op("reshape", x, shape=(1, 1280))
    return L.b.op(
        "gemm", x, L.b.param((1000, 1280)), L.b.param((1000,)), trans_b=1, name=L.name("classifier")
    )


_MOBILEVIT = {  # stem, layer1..5 channels, transformer widths, last conv
    "MobileViT-S": ((16, 32, 64, 96, 128, 160), (144, 192, 240), 640),
    "MobileViT-XS": ((16, 32, 48, 64, 80, 96), (96, 120, 144), 384),
}


def mobilevit(L: Layers, name: str) -> str:
    (c0, c1, c2, c3, c4, c5), dims, last = _MOBILEVIT[name]
    x = L.cba(L.x, c0, 3, 2, act="swish", tag="stem")
    x = inverted_residual(L, x, c1, 4, 3, 1, "swish")
    for i in range(3):
        x = inverted_residual(L, x, c2, 4, 3, 2 if i == 0 else 1, "swish")
    for c, d, layers in zip((c3, c4, c5), dims, (2, 4, 3)):
        x = inverted_residual(L, x, c, 4, 3, 2, "swish")
        x = mobilevit_block(L, x, d, layers, 2 * d)
    return _classifier(L, L.cba(x, last, 1, act="swish", tag="head"))


def build_network(name: str, alpha: float = 1.0, resolution: int | None = None) -> Graph:
    """The network ``name`` (one of :data:`NETWORKS`) for a (1, 3, r, r) image."""
    if name not in PAPER:
        raise ShapeError(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")
    r = PAPER[name].resolution if resolution is None else resolution
    r = check_int("resolution", r, 32, 512)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ShapeError(f"width multiplier α = {alpha!r} is not a number") from None
    if not 0.1 <= alpha <= 2.0:
        raise ShapeError(f"width multiplier α = {alpha} must be between 0.1 and 2.0")
    if name == "ShuffleNetV2" and alpha not in SHUFFLENET_V2_WIDTHS:
        raise ShapeError(
            f"ShuffleNetV2's paper defines the widths 0.5x, 1x, 1.5x and 2x (its Table 5), not α = {alpha}"
        )
    if alpha != 1.0 and name not in WIDTH_NETS:
        raise ShapeError(
            f"{name}'s paper defines its widths as separate models, not by α; "
            f"α = {alpha} applies only to {' and '.join(WIDTH_NETS)}"
        )
    if name.startswith("MobileViT") and r % 64:
        raise ShapeError(
            f"MobileViT needs a resolution divisible by 64 (2x2 patches on the "
            f"1/32-scale feature map); {r} is not"
        )
    L = Layers(f"{name} {alpha:g}-{r}", (1, 3, r, r))
    builders = {
        "MobileNetV1": mobilenet_v1,
        "MobileNetV2": mobilenet_v2,
        "ShuffleNetV2": shufflenet_v2,
        "EfficientNet-B0": efficientnet_b0,
        "GhostNet": ghostnet,
    }
    if name in builders:
        out = builders[name](L, alpha)
    else:
        out = mobilenet_v3(L, name) if name in _V3 else mobilevit(L, name)
    return L.build(out)


@dataclass(frozen=True)
class NetworkCost:
    name: str
    alpha: float
    resolution: int
    params: int
    macs: int
    flops: int
    nodes: int
    paper: PaperRow

    @property
    def params_diff(self) -> float:
        """Relative difference of the engine's parameter count from the paper's."""
        return self.params / 1e6 / self.paper.params_m - 1

    @property
    def macs_diff(self) -> float | None:
        return None if self.paper.macs_m is None else self.macs / 1e6 / self.paper.macs_m - 1

    @property
    def matches(self) -> bool:
        """Within tolerance of the paper (only at the paper's own α = 1 and resolution)."""
        tol = self.paper.tolerance
        ok = abs(self.params_diff) <= tol
        return ok and (self.macs_diff is None or abs(self.macs_diff) <= tol)


def network_cost(name: str, alpha: float = 1.0, resolution: int | None = None) -> NetworkCost:
    graph = build_network(name, alpha, resolution)
    report: CostReport = cost(graph)
    r = graph.node("image").shape[-1]
    return NetworkCost(
        name, float(alpha), r, report.params, report.macs, report.flops, len(graph.nodes), PAPER[name]
    )
