"""The lightweight model zoo: every network the chapter teaches, by name, built as a graph and counted
at the paper's resolution.

Stages of :func:`zoo_cost`:
  1. look the name up in :data:`SPECS` (the new families) or :data:`engine.models.networks.PAPER`
     (MobileNet V1–V3, ShuffleNetV2, GhostNet, EfficientNet-B0, MobileViT v1); check α and resolution
     (Mobile-Former: :mod:`engine.models.mobileformer`);
  2. count parameters and MACs at the paper's resolution with :class:`CountingBuilder` — the same
     builder code as the graph, but shapes only: no tensor is materialised, so an EfficientNet-B7 at
     600x600 (whose graph would hold ~1 G activation elements, over the 64 M graph budget) is counted
     exactly; tests check that it gives engine.cost's numbers wherever the graph itself fits;
  3. build the executable graph at :func:`run_resolution` (the paper's, or the largest multiple of 32
     (64 for patch-based models) whose graph fits the element budget), for every lens of the app;
  4. compare with the paper's row (:class:`engine.models.networks.PaperRow`).
Conventions: MACs = multiply-accumulates of convolutions and matmuls (the papers' "FLOPs"/"MAdds"
are these); parameters = every learned tensor (weights, biases, BN scale and shift, norms' affine,
layer scales), what ``sum(p.numel() for p in model.parameters())`` counts in torch.
Not handled: Mobile-Former-26M, MNv4-Conv-L/Hybrid-L, EfficientNetV2-M/L, batch > 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import BudgetError, ShapeError
from ..core.ir import Graph, GraphBuilder
from ..core.registry import get_op
from . import networks as nets
from .blocks import Layers, check_int
from .networks import PaperRow
from .shufflenet_v1 import widths
from .zoo_specs import SPECS, Spec


class CountingBuilder(GraphBuilder):
    """A GraphBuilder that keeps shapes and running totals (params, MACs) but no element budget: it
    never allocates, so it can count a network at any resolution (nodes stay bounded)."""

    def __init__(self, title: str = ""):
        super().__init__(title)
        self.params = 0
        self.macs = 0

    def _add(self, op, inputs, attrs, shape, dtype, name) -> str:
        if op == "param":
            self.params += budget.numel(shape)
        elif op not in ("input", "constant"):
            opdef = get_op(op)
            full = {**opdef.attrs, **attrs}
            self.macs += int(opdef.flops([self.shape_of(i) for i in inputs], shape, full)[1])
        budget.check_nodes(len(self._nodes) + 1)
        ref = f"%{len(self._nodes)}"
        self._nodes.append(ref)  # only the count matters here
        self._shape[ref], self._dtype[ref] = tuple(shape), dtype
        return ref


OLD_FAMILY = {
    "MobileNetV1": "MobileNet",
    "MobileNetV2": "MobileNet",
    "MobileNetV3-Large": "MobileNet",
    "MobileNetV3-Small": "MobileNet",
    "ShuffleNetV2": "ShuffleNetV2",
    "EfficientNet-B0": "EfficientNet",
    "GhostNet": "GhostNet",
    "MobileViT-S": "MobileViT",
    "MobileViT-XS": "MobileViT",
}


def network_names() -> list[str]:
    """Every network of the zoo, variants included (the older networks first)."""
    return [*nets.NETWORKS, *SPECS]


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in network_names():
        out.setdefault(family_of(name), []).append(name)
    return out


def family_of(name: str) -> str:
    return OLD_FAMILY[name] if name in OLD_FAMILY else _spec(name).family


def _spec(name: str) -> Spec:
    if name not in SPECS:
        raise ShapeError(f"unknown network {name!r}; choose one of {', '.join(network_names())}")
    return SPECS[name]


def paper_row(name: str) -> PaperRow:
    return nets.PAPER[name] if name in nets.PAPER else _spec(name).paper


def _check(name: str, alpha: float, resolution: int | None) -> tuple[float, int]:
    spec = _spec(name)
    alpha = float(alpha)
    if alpha not in spec.alphas:
        allowed = ", ".join(f"{a:g}" for a in spec.alphas)
        raise ShapeError(f"{name} is defined at the scale factors {allowed}, not α = {alpha:g}")
    r = spec.paper.resolution if resolution is None else resolution
    r = check_int("resolution", r, 32, 1024)
    if r % spec.patch:
        raise ShapeError(f"{name} needs a resolution divisible by {spec.patch}; {r} is not")
    return alpha, r


def count_network(name: str, alpha: float = 1.0, resolution: int | None = None) -> tuple[int, int]:
    """(params, MACs) at any resolution, from shapes alone (:class:`CountingBuilder`)."""
    if name in nets.PAPER:
        c = cost(nets.build_network(name, alpha, resolution))
        return c.params, c.macs
    alpha, r = _check(name, alpha, resolution)
    builder = CountingBuilder(name)
    L = Layers(name, (1, 3, r, r), builder=builder)
    _spec(name).build(L, alpha)
    return builder.params, builder.macs


def build_network(name: str, alpha: float = 1.0, resolution: int | None = None) -> Graph:
    """The network ``name`` (see :func:`network_names`) as a graph on a (1, 3, r, r) image; r defaults
    to :func:`run_resolution` (the paper's where the graph fits the element budget)."""
    if name in nets.PAPER:
        return nets.build_network(name, alpha, resolution)
    r = run_resolution(name, float(alpha)) if resolution is None else resolution
    if r is None:
        raise BudgetError(
            f"{name}'s graph does not fit the budget of {budget.MAX_GRAPH_ELEMENTS:,} elements at any "
            f"resolution (its parameters alone are {count_network(name, alpha, 32)[0]:,}); "
            "it is counted, not built"
        )
    alpha, r = _check(name, alpha, r)
    L = Layers(f"{name} {alpha:g}-{r}", (1, 3, r, r))
    return L.build(_spec(name).build(L, alpha))


@functools.lru_cache(maxsize=256)
def run_resolution(name: str, alpha: float = 1.0) -> int | None:
    """The paper's resolution, or the largest smaller multiple of 32 (64 for 2x2 patches on the 1/32
    map) whose graph fits the element budget; None when none does (EfficientNet-B7's 66 M parameters
    alone are over the 64 M-element budget)."""
    if name in nets.PAPER:
        return nets.PAPER[name].resolution
    spec = _spec(name)
    r, step = spec.paper.resolution, max(32, spec.patch)
    while r >= step:
        try:
            builder = _ElementCounter(name)
            spec.build(Layers(name, (1, 3, r, r), builder=builder), float(alpha))
            return r
        except BudgetError:
            r = (r - 1) // step * step
    return None


class _ElementCounter(CountingBuilder):
    """Adds up the elements every tensor would hold, refusing over the graph budget (as GraphBuilder)."""

    def _add(self, op, inputs, attrs, shape, dtype, name) -> str:
        self._elements += budget.numel(shape)
        if self._elements > budget.MAX_GRAPH_ELEMENTS:
            raise BudgetError(f"{self.title} needs {self._elements:,} elements at this resolution")
        return super()._add(op, inputs, attrs, shape, dtype, name)


@dataclass(frozen=True)
class ZooCost:
    name: str
    family: str
    alpha: float
    resolution: int  # the paper's: params and macs are counted here
    params: int
    macs: int
    paper_macs: int  # MACs in the paper's convention (ShuffleNet V1's Table 1 leaves out the classifier)
    graph_resolution: int | None  # the executable graph's (None: too large to build)
    paper: PaperRow
    oracle: int | None

    @property
    def params_diff(self) -> float | None:
        return self.params / 1e6 / self.paper.params_m - 1 if self.paper.params_m else None

    @property
    def macs_diff(self) -> float | None:
        return None if self.paper.macs_m is None else self.paper_macs / 1e6 / self.paper.macs_m - 1

    @property
    def matches(self) -> bool:
        """Within the row's tolerance of the paper (only at the paper's own α)."""
        if self.alpha != 1.0:
            return False
        diffs = [d for d in (self.params_diff, self.macs_diff) if d is not None]
        return all(abs(d) <= self.paper.tolerance for d in diffs)


def zoo_cost(name: str, alpha: float = 1.0) -> ZooCost:
    """Params and MACs at the paper's resolution, the executable graph's resolution, the paper's row."""
    paper = paper_row(name)
    params, macs = count_network(name, alpha, paper.resolution)
    paper_macs = macs
    if family_of(name) == "ShuffleNetV1":
        paper_macs -= 1000 * widths(int(name.rsplit("g", 1)[1]), alpha)[-1]  # the classifier's MACs
    oracle = SPECS[name].oracle if name in SPECS else None
    graph_r = run_resolution(name, float(alpha))
    return ZooCost(
        name,
        family_of(name),
        float(alpha),
        paper.resolution,
        params,
        macs,
        paper_macs,
        graph_r,
        paper,
        oracle,
    )


@dataclass(frozen=True)
class StageCost:
    stage: str  # "1/2" … "1/32" (output stride of the feature map), or "head"
    macs: int
    params: int


def stage_costs(graph: Graph) -> list[StageCost]:
    """MACs and parameters per stage: a stage is the output stride of the latest convolution with a
    square spatial output (SE's 1x1 convs and convs on unfolded patches do not start one); every node
    from the last pooling on is the head (pooling, head convs, classifier)."""
    side = graph.inputs[0].shape[-1] if graph.inputs else 1
    rows = cost(graph).nodes
    pools = [i for i, r in enumerate(rows) if r.op in ("global_avgpool", "reduce_mean")]
    head = pools[-1] if pools else len(rows)
    order: dict[str, list[int]] = {}
    stage = "1/1"
    for i, row in enumerate(rows):
        h = row.shape[2] if len(row.shape) == 4 else 0
        if row.op == "conv2d" and h > 1 and h == row.shape[3] and side % h == 0:
            stage = f"1/{side // h}"
        acc = order.setdefault("head" if i >= head else stage, [0, 0])
        acc[0] += row.macs
        acc[1] += row.params
    return [StageCost(s, m, p) for s, (m, p) in order.items()]


def program_text(graph: Graph) -> tuple[str | None, str]:
    """The graph as a program of the Graph Builder's language, or (None, why not)."""
    from ..core.program_format import format_program

    text = format_program(graph)
    if len(text) > budget.MAX_PROGRAM_CHARS:
        return None, (
            f"its program would have {len(text):,} characters (every BN's running mean and variance "
            f"are written out); the limit is {budget.MAX_PROGRAM_CHARS:,}"
        )
    return text, ""
