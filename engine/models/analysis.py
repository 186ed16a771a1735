"""Lenses on a lightweight network: where its parameters sit, which layers wait on memory, and why
MACs are not latency.

Stages:
  1. :func:`param_breakdown` sorts every parameter by what reads it (conv/linear weights, biases,
     BN scale+shift, LayerNorm) so a paper's count convention can be matched like with like;
  2. :func:`layer_points` classifies each conv/matmul (depthwise, pointwise, group, standard,
     linear, attention) and places it on a roofline: FLOPs and bytes from :func:`engine.cost`
     (fp32, every tensor read and written once), attainable FLOP/s = min(peak, AI x bandwidth);
  3. :func:`roofline_time` sums max(FLOPs/peak, bytes/bandwidth) over *all* nodes, elementwise ones
     included — a first-order latency that, unlike MACs, charges memory traffic (ShuffleNet V2 G4);
  4. :func:`g1_curve`: ShuffleNet V2 guideline G1 — for a 1x1 conv with fixed FLOPs B = hw·c1·c2,
     the memory access cost MAC = hw(c1 + c2) + c1·c2 is smallest at c1 = c2, where it equals the
     bound 2·sqrt(hw·B) + B/hw (Ma et al. 2018, eq. 1);
  5. :func:`width_sweep`: MobileNetV1 at each (α, resolution) of the paper's Tables 6 and 7;
  6. :func:`summarize` bundles 1-3 for one network (what the lab's first screen shows);
  7. :func:`block_study`: one block of the explorer, counted by engine.core.cost_model and by its closed form.
Not handled: caches and fusion (a fused depthwise+pointwise kernel moves fewer bytes), int8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.cost_model import cost
from ..core.errors import ShapeError
from ..core.ir import Graph
from ..kernels.roofline_model import Hardware, hardware_presets
from .blocks import BlockCost, block_cost, build_block, check_int, memory_access_cost, standard_conv_cost
from .networks import MOBILENET_V1_SWEEP, NETWORKS, NetworkCost, build_network, network_cost


def param_breakdown(graph: Graph) -> dict[str, int]:
    """Parameters by role: each param node is attributed to the first node that reads it."""
    out = {"conv/linear weights": 0, "biases": 0, "BN scale+shift": 0, "LayerNorm": 0}
    seen: set[str] = set()
    for n in graph.op_nodes:
        for pos, name in enumerate(n.inputs):
            src = graph.node(name)
            if src.op != "param" or name in seen:
                continue
            seen.add(name)
            size = math.prod(src.shape)
            if n.op == "batchnorm":
                out["BN scale+shift"] += size
            elif n.op == "layernorm":
                out["LayerNorm"] += size
            elif n.op in ("conv2d", "gemm", "matmul") and pos == 1:
                out["conv/linear weights"] += size
            else:
                out["biases"] += size
    return out


def layer_kind(graph: Graph, node) -> str:
    """depthwise / pointwise / group / standard conv, linear, or attention (QK^T, AV)."""
    if node.op == "conv2d":
        w = graph.node(node.inputs[1]).shape
        groups = node.attr("groups", 1)
        if groups > 1 and w[1] == 1:
            return "depthwise"
        if groups > 1:
            return "group"
        return "pointwise" if w[2] == w[3] == 1 else "standard"
    if node.op == "matmul" and graph.node(node.inputs[1]).op != "param":
        return "attention"
    return "linear"


@dataclass(frozen=True)
class LayerPoint:
    name: str
    kind: str
    flops: int
    bytes: int
    intensity: float  # FLOPs per byte
    attainable: float  # FLOP/s on the chosen hardware
    bound: str  # memory_bound / compute_bound
    time_s: float


def _peak(hw: Hardware) -> float:
    return hw.peak_fp32 or hw.peak_flops  # fp32 bytes, so the fp32 peak where one is published


def _hardware(hw_name: str) -> Hardware:
    presets = hardware_presets()
    if hw_name not in presets:
        raise ShapeError(f"unknown hardware {hw_name!r}; choose one of {', '.join(presets)}")
    return presets[hw_name]


def layer_points(graph: Graph, hw_name: str) -> list[LayerPoint]:
    """Every conv/matmul/gemm of ``graph`` on the roofline of ``hw_name`` (fp32 peak)."""
    hw = _hardware(hw_name)
    peak, bw = _peak(hw), hw.bandwidth
    points = []
    for row in cost(graph).nodes:
        if row.op not in ("conv2d", "matmul", "gemm"):
            continue
        moved = row.bytes_read + row.bytes_written
        ai = row.flops / moved
        attainable = min(peak, ai * bw)
        points.append(
            LayerPoint(
                row.name,
                layer_kind(graph, graph.node(row.name)),
                row.flops,
                moved,
                ai,
                attainable,
                "compute_bound" if ai >= peak / bw else "memory_bound",
                row.flops / attainable,
            )
        )
    return points


def roofline_time(graph: Graph, hw_name: str) -> dict[str, float]:
    """Roofline time of every node (elementwise and shape ops included), split by layer kind."""
    hw = _hardware(hw_name)
    peak, bw = _peak(hw), hw.bandwidth
    out: dict[str, float] = {}
    for row in cost(graph).nodes:
        moved = row.bytes_read + row.bytes_written
        t = max(row.flops / peak, moved / bw)
        kind = (
            layer_kind(graph, graph.node(row.name))
            if row.op in ("conv2d", "matmul", "gemm")
            else "elementwise & other"
        )
        out[kind] = out.get(kind, 0.0) + t
    return out


@dataclass(frozen=True)
class G1Point:
    ratio: float  # c1 / c2
    c1: float
    c2: float
    mac: float  # memory access cost in elements


def g1_curve(h: int, w: int, flops: int, ratios: tuple[float, ...] | None = None) -> list[G1Point]:
    """MAC of a 1x1 conv with B = ``flops`` = hw·c1·c2 fixed, over c1/c2 ratios."""
    check_int("feature-map height", h, 1, 4096)
    check_int("feature-map width", w, 1, 4096)
    check_int("FLOPs budget B", flops, h * w, 1 << 40)
    ratios = ratios or tuple(2 ** (k / 4) for k in range(-24, 25))
    prod = flops / (h * w)  # c1 * c2
    pts = []
    for r in ratios:
        if not r > 0:
            raise ShapeError(f"channel ratio c1/c2 = {r} must be positive")
        c1 = math.sqrt(prod * r)
        c2 = prod / c1
        pts.append(G1Point(r, c1, c2, h * w * (c1 + c2) + c1 * c2))
    return pts


def g1_bound(h: int, w: int, flops: int) -> float:
    """Ma et al. 2018, eq. 1: MAC >= 2·sqrt(hw·B) + B/hw, equality at c1 = c2."""
    return 2 * math.sqrt(h * w * flops) + flops / (h * w)


def g1_check(h: int, w: int, c1: int, c2: int) -> tuple[int, float]:
    """(MAC of this layer, the bound for its FLOPs): equal exactly when c1 == c2."""
    return memory_access_cost(h, w, c1, c2), g1_bound(h, w, h * w * c1 * c2)


@dataclass(frozen=True)
class SweepRow:
    alpha: float
    resolution: int
    params: int
    macs: int
    paper_params_m: float
    paper_macs_m: float


def width_sweep() -> list[SweepRow]:
    """MobileNetV1 at every (α, resolution) of Howard et al. 2017, Tables 6 and 7."""
    rows = []
    for (a, r), (macs_m, params_m) in MOBILENET_V1_SWEEP.items():
        c = network_cost("MobileNetV1", a, r)
        rows.append(SweepRow(a, r, c.params, c.macs, params_m, macs_m))
    return rows


@dataclass(frozen=True)
class NetworkSummary:
    cost: NetworkCost
    points: tuple[LayerPoint, ...]
    times: dict[str, float]  # roofline seconds by layer kind
    parts: dict[str, int]  # parameters by role

    @property
    def time_s(self) -> float:
        return sum(self.times.values())


def summarize(name: str, hw_name: str, alpha: float = 1.0, resolution: int | None = None) -> NetworkSummary:
    """Counts, paper comparison, layer roofline and time of one network on one chip."""
    graph = build_network(name, alpha, resolution)
    return NetworkSummary(
        network_cost(name, alpha, resolution),
        tuple(layer_points(graph, hw_name)),
        roofline_time(graph, hw_name),
        param_breakdown(graph),
    )


def summarize_all(hw_name: str) -> list[NetworkSummary]:
    """:func:`summarize` for every network at its paper's α and resolution."""
    return [summarize(name, hw_name) for name in NETWORKS]


@dataclass(frozen=True)
class BlockStudy:
    """One block of the block explorer: its graph, the engine's count and the closed form."""

    kind: str
    n: int  # output channels actually used (some blocks keep N = M)
    graph: Graph
    engine: object  # engine.core.cost_model.GraphCost of the graph
    formula: BlockCost  # the paper's closed form
    standard: BlockCost  # a standard k x k conv with the same M, N

    @property
    def saving(self) -> float:
        """How many times fewer MACs than the standard conv."""
        return self.standard.macs / max(self.engine.macs, 1)

    def rows(self) -> list[dict]:
        """Per-node table: MACs, params and FLOP/byte of every node that has either."""
        return [
            dict(node=r.name, MACs=r.macs, params=r.params, **{"FLOP/B": round(r.arithmetic_intensity, 2)})
            for r in self.engine.nodes
            if r.macs or r.params
        ]


KEEPS_WIDTH = ("shuffle_unit", "mobilevit")


def block_study(
    kind: str, c: int, n: int, k: int, side: int, t: int = 6, s: int = 2, d: int = 96
) -> BlockStudy:
    """Build one block, count it with :func:`engine.cost` and with its closed form.

    The ShuffleNet unit and the MobileViT block keep their input width, so ``n`` is replaced by
    ``c`` for them (the study's ``n`` says which was used).
    """
    n = c if kind in KEEPS_WIDTH else n
    graph = build_block(kind, c, n, k, side, t=t, s=s, d=d)
    return BlockStudy(
        kind,
        n,
        graph,
        cost(graph),
        block_cost(kind, c, n, k, side, t=t, s=s, d=d),
        standard_conv_cost(c, n, k, side, side),
    )
