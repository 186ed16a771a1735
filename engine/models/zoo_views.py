"""What the model-zoo lab shows besides one network: EfficientNet's compound scaling sweep, ShuffleNet
V1's group-count table, the families side by side with their published ImageNet accuracy, and the
attention cost curves (MobileViT v1 vs v2, multi-head vs Mobile MQA traffic).

Stages:
  1. :func:`efficientnet_sweep`: B0–B7 counted at their own resolutions (shapes only, see
     :class:`engine.models.zoo.CountingBuilder`) beside Table 2 of Tan & Le 2019 and beside the
     compound rule's prediction FLOPs(Bφ)/FLOPs(B0) = (α·β²·γ²)^φ ≈ 2^φ;
  2. :func:`scaled_efficientnet`: any (φ, α, β, γ) applied to B0 by the paper's eq. 3, counted;
  3. :func:`shufflenet_groups`: ShuffleNet V1 1x for g = 1, 2, 3, 4, 8 against Table 1;
  4. :func:`comparison`: one row per network with its published top-1 (:data:`TOP1`, each sourced);
  5. :func:`attention_curves` and :func:`mqa_curves`: counted attention MACs and traffic;
  6. :func:`network_view`: one network's graph, stage costs and program text for the lab.
Not handled: measured accuracy (nothing is trained here), latency on real phones.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.cost_model import cost
from ..core.errors import ShapeError
from . import efficientnet as ef
from . import mobileformer as mf
from .blocks import Layers
from .hybrids import AttentionCost, attention_costs
from .mobilenetv4 import AttentionTraffic, attention_traffic
from .shufflenet_v1 import STAGE_CHANNELS, TABLE1_MFLOPS, TABLE2_ERROR_1X, widths
from .zoo import (
    CountingBuilder,
    build_network,
    count_network,
    family_of,
    paper_row,
    program_text,
    stage_costs,
    zoo_cost,
)

#: Published ImageNet-1k top-1 (%), single crop, each from the same paper as the network's counts.
TOP1 = {
    "MobileNetV1": (70.6, "Howard et al. 2017, Table 8"),
    "MobileNetV2": (72.0, "Sandler et al. 2018, Table 4"),
    "MobileNetV3-Large": (75.2, "Howard et al. 2019, Table 3"),
    "MobileNetV3-Small": (67.4, "Howard et al. 2019, Table 3"),
    "ShuffleNetV2": (69.4, "Ma et al. 2018, Table 5 (error 30.6 %)"),
    "GhostNet": (73.9, "Han et al. 2020, Table 7"),
    "MobileViT-S": (78.4, "Mehta & Rastegari 2022, Table 1"),
    "MobileViT-XS": (74.8, "Mehta & Rastegari 2022, Table 1"),
    **{
        f"EfficientNet-B{i}": (a, "Tan & Le 2019, Table 2")
        for i, a in enumerate((77.1, 79.1, 80.1, 81.6, 82.9, 83.6, 84.0, 84.3))
    },
    "EfficientNetV2-S": (83.9, "Tan & Le 2021, Table 7"),
    "MobileNetV4-Conv-S": (73.8, "Qin et al. 2024, ImageNet-1k results"),
    "MobileNetV4-Conv-M": (79.9, "Qin et al. 2024, ImageNet-1k results"),
    "MobileNetV4-Hybrid-M": (80.7, "Qin et al. 2024, ImageNet-1k results"),
    **{
        f"ShuffleNetV1-g{g}": (round(100 - e, 1), "Zhang et al. 2018, Table 2 (1x)")
        for g, e in TABLE2_ERROR_1X.items()
    },
    "MobileViTv2-0.5": (70.2, "Mehta & Rastegari 2022b"),
    "MobileViTv2-0.75": (75.6, "Mehta & Rastegari 2022b"),
    "MobileViTv2-1": (78.1, "Mehta & Rastegari 2022b"),
    "MobileViTv2-2": (81.2, "Mehta & Rastegari 2022b"),
    "MobileViTv3-S": (79.3, "Wadekar & Chaurasia 2022 (authors' README)"),
    "MobileViTv3-XS": (76.7, "Wadekar & Chaurasia 2022 (authors' README)"),
    "MobileViTv3-XXS": (70.98, "Wadekar & Chaurasia 2022 (authors' README)"),
    "EfficientFormer-L1": (79.2, "Li et al. 2022, Table 1"),
    **{n: (a, "Chen et al. 2022, ImageNet-1k results") for n, a in mf.TOP1.items()},
}


@dataclass(frozen=True)
class SweepRow:
    name: str
    phi: int
    width: float
    depth: float
    resolution: int
    params: int
    macs: int
    paper_params_m: float
    paper_macs_m: float
    rule: float  # (α·β²·γ²)^φ with the paper's α, β, γ


def efficientnet_sweep() -> list[SweepRow]:
    """B0–B7 from B0 by the authors' (w, d, r) rows, counted at each one's resolution."""
    rows = []
    for phi, (name, (w, d, r)) in enumerate(ef.COEFFICIENTS.items()):
        params, macs = count_network(name) if name != "EfficientNet-B0" else _count_b(w, d, r)
        paper = paper_row(name)
        rows.append(
            SweepRow(
                name,
                phi,
                w,
                d,
                r,
                params,
                macs,
                paper.params_m,
                paper.macs_m,
                ef.compound_coefficients(phi).flops_factor,
            )
        )
    return rows


def _count_b(width: float, depth: float, resolution: int) -> tuple[int, int]:
    builder = CountingBuilder("EfficientNet")
    ef.efficientnet(Layers("EfficientNet", (1, 3, resolution, resolution), builder=builder), width, depth)
    return builder.params, builder.macs


@dataclass(frozen=True)
class Scaled:
    compound: ef.Compound
    params: int
    macs: int
    b0_macs: int

    @property
    def growth(self) -> float:
        return self.macs / self.b0_macs


def scaled_efficientnet(
    phi: float, alpha: float = ef.ALPHA, beta: float = ef.BETA, gamma: float = ef.GAMMA
) -> Scaled:
    """B0 scaled by d = α^φ, w = β^φ, r = 224·γ^φ (eq. 3), counted, and its MAC growth over B0."""
    for label, v, lo, hi in (("φ", phi, 0, 8), ("α", alpha, 1, 2), ("β", beta, 1, 2), ("γ", gamma, 1, 2)):
        if not lo <= v <= hi:
            raise ShapeError(f"{label} = {v} must be between {lo} and {hi}")
    comp = ef.compound_coefficients(phi, alpha, beta, gamma)
    if comp.resolution > 1024 or comp.depth > 8:
        raise ShapeError(f"φ = {phi} scales B0 past 1024 pixels or 8x depth; choose a smaller φ")
    params, macs = _count_b(comp.width, comp.depth, comp.resolution)
    return Scaled(comp, params, macs, _count_b(1.0, 1.0, 224)[1])


@dataclass(frozen=True)
class GroupRow:
    groups: int
    channels: tuple[int, int, int]
    params: int
    macs_without_fc: int
    paper_mflops: int
    top1: float


def shufflenet_groups() -> list[GroupRow]:
    rows = []
    for g in STAGE_CHANNELS:
        c = zoo_cost(f"ShuffleNetV1-g{g}")
        rows.append(
            GroupRow(g, widths(g, 1.0), c.params, c.paper_macs, TABLE1_MFLOPS[g], 100 - TABLE2_ERROR_1X[g])
        )
    return rows


@dataclass(frozen=True)
class CompareRow:
    name: str
    family: str
    params: int
    macs: int
    resolution: int
    top1: float
    source: str


def comparison() -> list[CompareRow]:
    """Every network with a published top-1: counted params/MACs at its paper's resolution."""
    rows = []
    for name, (top1, source) in TOP1.items():
        r = paper_row(name).resolution
        params, macs = count_network(name, 1.0, r)
        rows.append(CompareRow(name, family_of(name), params, macs, r, top1, source))
    return rows


def attention_curves(d: int = 144) -> list[AttentionCost]:
    """Token-mixing MACs of MHSA (v1) and separable attention (v2) for 16 … 4096 tokens."""
    return attention_costs(d, tuple(4**k for k in range(2, 7)))


def mqa_curves(c: int = 256, side: int = 16, key_dim: int = 64) -> list[AttentionTraffic]:
    """Bytes moved by one multi-head vs Mobile MQA layer for 1 … 16 heads."""
    return [attention_traffic(c, side, side, h, key_dim) for h in (1, 2, 4, 8, 16)]


@dataclass(frozen=True)
class NetworkView:
    """One network as the lab shows it: the executable graph, its cost per stage, and whether it can
    become the student's workspace graph (as program text)."""

    graph: object  # engine Graph
    params: int
    macs: int  # at the graph's resolution
    stages: tuple
    program: str | None
    program_note: str


def network_view(name: str, alpha: float = 1.0, resolution: int | None = None) -> NetworkView:
    graph = build_network(name, alpha, resolution)
    report = cost(graph)
    text, why = program_text(graph)
    return NetworkView(graph, report.params, report.macs, tuple(stage_costs(graph)), text, why)
