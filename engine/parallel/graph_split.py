"""Parallel splits of a student's own graph: pipeline stages and Megatron-style tensor shards.

:func:`pipeline_split` (graph, stages, measure="flops", hardware="A100 80GB SXM"):
  1. cost every op node, in the graph's topological order (:func:`engine.core.cost_model.cost`):
     ``measure="flops"`` (default) -> its FLOPs; ``measure="time"`` -> the roofline time
     max(FLOPs / peak, bytes / bandwidth) on a :func:`~engine.kernels.roofline_model.hardware_presets`
     card, with peak = its fp32 FLOP/s (the graph computes in fp32 and bytes are counted at 4 bytes;
     the dense matrix peak where no fp32 figure is published) and bytes = read + written;
  2. cut the sequence into ``stages`` non-empty contiguous stages minimising the most expensive one
     (the linear-partition problem), exactly, by dynamic programming over prefix sums P:
     best[j][i] = min over s of max(best[j−1][s], P[i] − P[s]). The first term rises with s and
     the second falls, so the minimum sits where they cross: a binary search, O(stages · n · log n);
  3. per stage: node names, cost, FLOPs, parameters read (a weight read by two stages counts in
     both), and the activations live across the cut after it: values made at or before the stage
     (graph inputs live on stage 0) and read by a later stage; a skip connection crosses every cut
     it spans. ``PipelineSplit.timeline`` feeds the stage costs to ``pipeline_schedule``.
:func:`tensor_split` (graph, n), after Megatron-LM (Shoeybi et al. 2019):
  1. layers: ``matmul(x, W)`` and ``gemm(A, W[, C])`` whose weight W is a 2-D parameter;
  2. pairs: a layer whose output reaches a second layer's activation input through elementwise
     ops only (each value used once, none a graph output, the last axis kept) becomes column-parallel
     + row-parallel: the elementwise ops run on column shards (operands whose last axis has the full
     width, such as a bias, are sliced the same way) and one all-reduce sums the row layer's
     partial products (its gemm C is added once, after it);
  3. any other layer is column-parallel followed by an all-gather; a layer narrower than n devices
     stays replicated. Shards follow numpy.array_split (sizes differ by at most one);
  4. collectives carry the full output tensor's bytes as the message (a ring all-reduce sends
     2(n−1)/n of it per device, an all-gather (n−1)/n); per-device memory counts parameters (one
     that every user slices the same way is held as a shard, any other whole) and every op node's
     value as that device holds it (a gathering layer holds its shard and the gathered tensor).
Not handled: attention split by heads (q·kᵀ has no weight, so Wq/Wk/Wv gather), sequence
parallelism, convolutions (channel splits), communication time between pipeline stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.budget import check_nodes, check_steps, numel
from ..core.cost_model import cost
from ..core.errors import EngineError
from ..core.ir import Graph, Node
from ..core.registry import get_op
from ..core.trace import Timeline
from ..kernels.roofline_model import hardware_presets
from .collectives import ring_bytes_per_device
from .pipeline import pipeline_schedule

MEASURES = ("flops", "time")


def _nbytes(node: Node) -> int:
    return numel(node.shape) * np.dtype(node.dtype).itemsize


def _check_graph(graph) -> None:
    if not isinstance(graph, Graph):
        raise EngineError(f"a parallel split needs a Graph, got {type(graph).__name__}")
    check_nodes(len(graph.nodes))


def _count(value, what: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise EngineError(f"{what} must be a whole number ≥ 1, got {value!r}")
    return int(value)


# -- pipeline split ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineStage:
    index: int
    nodes: tuple[str, ...]
    cost: float  # in PipelineSplit.unit
    flops: int
    params: int  # elements of the parameters its nodes read
    param_bytes: int
    sends: tuple[str, ...]  # tensors live across the cut after this stage (none after the last)
    send_bytes: int


@dataclass(frozen=True)
class PipelineSplit:
    stages: tuple[PipelineStage, ...]
    measure: str  # "flops" or "time"
    unit: str  # "FLOPs" or "s"
    hardware: str  # the card of the time model ("" for FLOPs)
    bottleneck: float  # the most expensive stage: what the split minimises

    @property
    def costs(self) -> tuple[float, ...]:
        return tuple(s.cost for s in self.stages)

    @property
    def balance(self) -> float:
        """Mean stage cost / bottleneck: 1.0 is a perfect split."""
        return sum(self.costs) / (len(self.stages) * self.bottleneck) if self.bottleneck else 1.0

    @property
    def stage_times(self) -> tuple[float, ...]:
        """Forward times relative to the bottleneck stage (which takes 1.0)."""
        return tuple(c / self.bottleneck if self.bottleneck else 0.0 for c in self.costs)

    def timeline(self, micro_batches: int, schedule: str = "1f1b") -> Timeline:
        """The GPipe/1F1B timeline of these stages (backward = 2 × forward)."""
        return pipeline_schedule(len(self.stages), micro_batches, schedule, stage_times=self.stage_times)


def _node_costs(graph: Graph, measure: str, hardware: str) -> tuple[list, list[int]]:
    rows = cost(graph).nodes
    flops = [r.flops for r in rows]
    if measure == "flops":
        return list(flops), flops
    hw = hardware_presets()[hardware]
    peak = hw.peak_fp32 or hw.peak_flops
    return [max(r.flops / peak, (r.bytes_read + r.bytes_written) / hw.bandwidth) for r in rows], flops


def linear_partition(costs: Sequence[float], parts: int) -> tuple[int, ...]:
    """Start index of every stage after the first, minimising the largest stage sum (exact)."""
    n = len(costs)
    prefix = [0]
    for c in costs:
        prefix.append(prefix[-1] + c)
    best = list(prefix)  # one stage: best[i] = P[i]
    picks: list[list[int]] = []
    for j in range(2, parts + 1):
        new, pick = [float("inf")] * (n + 1), [0] * (n + 1)
        for i in range(j, n - (parts - j) + 1):
            lo, hi = j - 1, i - 1  # the last stage is nodes s..i−1
            while lo < hi:  # first s where best[s] ≥ P[i] − P[s]
                mid = (lo + hi) // 2
                if best[mid] >= prefix[i] - prefix[mid]:
                    hi = mid
                else:
                    lo = mid + 1
            for s in (lo, lo - 1):
                if s >= j - 1 and max(best[s], prefix[i] - prefix[s]) < new[i]:
                    new[i], pick[i] = max(best[s], prefix[i] - prefix[s]), s
        best = new
        picks.append(pick)
    cuts, i = [], n
    for pick in reversed(picks):
        i = pick[i]
        cuts.append(i)
    return tuple(reversed(cuts))


def pipeline_split(
    graph: Graph, stages: int, measure: str = "flops", hardware: str = "A100 80GB SXM"
) -> PipelineSplit:
    """Cut the op nodes into ``stages`` contiguous stages with the smallest bottleneck."""
    _check_graph(graph)
    stages = _count(stages, "the number of pipeline stages")
    if measure not in MEASURES:
        raise EngineError(f"measure must be 'flops' or 'time', got {measure!r}")
    if measure == "time" and hardware not in hardware_presets():
        raise EngineError(f"unknown hardware {hardware!r}; choose one of {', '.join(hardware_presets())}")
    ops = graph.op_nodes
    if not ops:
        raise EngineError(
            "this graph has only inputs, parameters and constants: there is no op node "
            "to place on pipeline stages; try the mlp preset"
        )
    if stages > len(ops):
        raise EngineError(
            f"cannot cut {len(ops)} op nodes into {stages} pipeline stages: every stage "
            f"needs at least one node; choose at most {len(ops)} stages"
        )
    check_steps(stages * len(ops), "the pipeline split")
    costs, flops = _node_costs(graph, measure, hardware)
    bounds = (0, *linear_partition(costs, stages), len(ops))
    stage_of = {n.name: 0 for n in graph.inputs}
    for k in range(stages):
        stage_of.update({n.name: k for n in ops[bounds[k] : bounds[k + 1]]})
    last_use: dict[str, int] = {}
    for n in ops:
        for i in n.inputs:
            last_use[i] = max(last_use.get(i, -1), stage_of[n.name])
    out = []
    for k in range(stages):
        members = ops[bounds[k] : bounds[k + 1]]
        weights = {i for n in members for i in n.inputs if graph.node(i).op == "param"}
        sends = tuple(v for v, home in stage_of.items() if home <= k < last_use.get(v, -1))
        out.append(
            PipelineStage(
                k,
                tuple(n.name for n in members),
                sum(costs[bounds[k] : bounds[k + 1]]),
                sum(flops[bounds[k] : bounds[k + 1]]),
                sum(numel(graph.node(w).shape) for w in weights),
                sum(_nbytes(graph.node(w)) for w in weights),
                sends,
                sum(_nbytes(graph.node(v)) for v in sends),
            )
        )
    return PipelineSplit(
        tuple(out),
        measure,
        "FLOPs" if measure == "flops" else "s",
        hardware if measure == "time" else "",
        max(s.cost for s in out),
    )


# -- tensor split --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Collective:
    kind: str  # "all-reduce" or "all-gather"
    after: str  # the node whose output it communicates
    shape: tuple[int, ...]
    message_bytes: int  # the full tensor
    sent_per_device_bytes: float


@dataclass(frozen=True)
class TensorLayer:
    node: str
    weight: str
    kind: str  # "column", "row", "column_gather" or "replicated"
    partner: str  # the other layer of a column/row pair ("" for none)
    weight_axis: int  # axis of the stored weight that is split (-1: replicated)
    ranges: tuple[tuple[int, int], ...]  # per device, along that axis
    weight_shards: tuple[tuple[int, ...], ...]  # per device, stored orientation
    output_shards: tuple[tuple[int, ...], ...]  # per device, before any collective
    chain: tuple[str, ...] = ()  # elementwise nodes run on shards (column)
    sliced: tuple[str, ...] = ()  # operands sliced along their last axis
    collective: Collective | None = None


@dataclass(frozen=True)
class TensorSplit:
    devices: int
    layers: tuple[TensorLayer, ...]
    param_bytes: tuple[int, ...]  # per device
    activation_bytes: tuple[int, ...]  # per device: every op node's value as held there
    unsplit_param_bytes: int
    unsplit_activation_bytes: int

    @property
    def collectives(self) -> tuple[Collective, ...]:
        return tuple(layer.collective for layer in self.layers if layer.collective)


def _layer_weight(graph: Graph, n: Node) -> Node | None:
    if n.op in ("matmul", "gemm") and len(n.inputs) >= 2:
        w = graph.node(n.inputs[1])
        if w.op == "param" and len(w.shape) == 2 and n.inputs[0] != w.name:
            return w
    return None


def _width(n: Node, w: Node, axis: str) -> tuple[int, int]:
    """(stored weight axis, size) of the output columns ("col") or contraction rows ("row")."""
    t = 1 if n.op == "gemm" and n.attr("trans_b", 0) else 0
    return (1 - t, w.shape[1 - t]) if axis == "col" else (t, w.shape[t])


def _chain(graph: Graph, start: Node, width: int, layers: dict) -> tuple[list[Node], Node | None]:
    """Elementwise nodes from ``start`` to the activation input of the next layer, if any."""
    chain, cur = [], start
    while cur.name not in graph.outputs and len(graph.users[cur.name]) == 1:
        nxt = graph.node(graph.users[cur.name][0])
        if nxt.name in layers:
            ok = nxt.inputs[0] == cur.name and not (nxt.op == "gemm" and nxt.attr("trans_a", 0))
            return chain, (nxt if ok and cur.name not in nxt.inputs[1:] else None)
        if get_op(nxt.op).kind not in ("elemwise", "broadcast") or nxt.shape[-1:] != (width,):
            break
        chain.append(nxt)
        cur = nxt
    return chain, None


def _ranges(size: int, n: int) -> tuple[tuple[int, int], ...]:
    edges = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(size), n)])
    return tuple((int(a), int(b)) for a, b in zip(edges, edges[1:]))


def _cut(shape, axis: int, ranges) -> tuple[tuple[int, ...], ...]:
    axis %= len(shape)
    return tuple(tuple(hi - lo if k == axis else d for k, d in enumerate(shape)) for lo, hi in ranges)


def _shard_bytes(node: Node, axis: int, ranges) -> list[int]:
    return [numel(s) * np.dtype(node.dtype).itemsize for s in _cut(node.shape, axis, ranges)]


def _param_bytes(graph: Graph, cuts: dict, n: int) -> list[int]:
    """Per device: a parameter every user slices the same way is held as a shard, others whole."""
    total = [0] * n
    for p in graph.params:
        used = cuts.get(p.name, {})
        keys = set(used.values())
        if len(keys) == 1 and set(used) == set(graph.users[p.name]):
            axis, ranges = keys.pop()
            per = _shard_bytes(p, axis, ranges)
        else:
            per = [_nbytes(p)] * n
        total = [a + b for a, b in zip(total, per)]
    return total


def _split_pair(graph, node, w, chain, partner, pw, n, cuts, held) -> list[TensorLayer]:
    """The column-parallel layer ``node`` (+ its row-parallel partner), noting slices and values held."""
    axis, width = _width(node, w, "col")
    ranges = _ranges(width, n)
    members = [node, *chain]
    inside = {x.name for x in members}
    uses = [
        (i, x.name)
        for x in members
        for i in x.inputs[1 if x is node else 0 :]
        if i != w.name and i not in inside and graph.node(i).shape[-1:] == (width,)
    ]
    cuts.setdefault(w.name, {})[node.name] = (axis, ranges)
    for i, user in uses:
        cuts.setdefault(i, {})[user] = (len(graph.node(i).shape) - 1, ranges)
    held.update({x.name: _shard_bytes(x, -1, ranges) for x in members})
    gather = None
    if partner is None:
        gather = Collective("all-gather", node.name, node.shape, _nbytes(node), (n - 1) / n * _nbytes(node))
        held[node.name] = [b + _nbytes(node) for b in held[node.name]]
    out = [
        TensorLayer(
            node.name,
            w.name,
            "column" if partner else "column_gather",
            partner.name if partner else "",
            axis,
            ranges,
            _cut(w.shape, axis, ranges),
            _cut(node.shape, -1, ranges),
            tuple(c.name for c in chain),
            tuple(dict.fromkeys(i for i, _ in uses)),
            gather,
        )
    ]
    if partner is not None:
        paxis, _ = _width(partner, pw, "row")
        cuts.setdefault(pw.name, {})[partner.name] = (paxis, ranges)
        reduce = Collective(
            "all-reduce",
            partner.name,
            partner.shape,
            _nbytes(partner),
            ring_bytes_per_device(_nbytes(partner), n),
        )
        out.append(
            TensorLayer(
                partner.name,
                pw.name,
                "row",
                node.name,
                paxis,
                ranges,
                _cut(pw.shape, paxis, ranges),
                (partner.shape,) * n,
                collective=reduce,
            )
        )
    return out


def tensor_split(graph: Graph, n: int) -> TensorSplit:
    """Megatron-style column/row splits of the matmul/gemm layers over ``n`` devices."""
    _check_graph(graph)
    n = _count(n, "the number of devices")
    layers = {x.name: w for x in graph.op_nodes if (w := _layer_weight(graph, x)) is not None}
    if not layers:
        raise EngineError(
            "this graph has no matmul or gemm layer with a 2-D weight parameter to split "
            "over devices; try the mlp preset"
        )
    check_steps(n * (len(layers) + len(graph.nodes)), "the tensor split")
    held: dict[str, list] = {}  # op node -> bytes on each device, when not whole
    cuts: dict[str, dict] = {}  # value -> {user: (axis, ranges)} of its sliced uses
    done: dict[str, TensorLayer] = {}
    for name, w in layers.items():
        if name in done:
            continue
        node = graph.node(name)
        width = _width(node, w, "col")[1]
        if width < n:
            done[name] = TensorLayer(
                name, w.name, "replicated", "", -1, (), (w.shape,) * n, (node.shape,) * n
            )
            continue
        chain, partner = _chain(graph, node, width, layers)
        pw = layers[partner.name] if partner is not None else None
        for layer in _split_pair(graph, node, w, chain if partner else [], partner, pw, n, cuts, held):
            done[layer.node] = layer
    acts = [sum(held.get(x.name, [_nbytes(x)] * n)[d] for x in graph.op_nodes) for d in range(n)]
    return TensorSplit(
        n,
        tuple(done[x] for x in layers),
        tuple(_param_bytes(graph, cuts, n)),
        tuple(acts),
        sum(_nbytes(p) for p in graph.params),
        sum(_nbytes(x) for x in graph.op_nodes),
    )
