"""What only the parallelism pages need: a student's own graph through the pipeline and tensor splits.

:func:`graph_pipeline` (graph, p, m, schedule, v, measure, hardware):
  1. cut the graph's op nodes into p·v contiguous stages with the smallest bottleneck
     (:func:`engine.parallel.graph_split.pipeline_split`); v > 1 only for the interleaved schedule,
     where virtual stage c·p + d is chunk c of device d, as in Megatron-LM;
  2. schedule m micro-batches on those measured stage costs (the slowest stage's forward takes one
     time unit, every backward twice its forward) and measure the bubble on that timeline;
  3. schedule the same total work cut into p·v equal stages (same p, m, v): its bubble is the
     textbook (p−1)/(m+p−1) (or (p−1)/(v·m+p−1)), and the ratio of the two makespans is the step
     time an uneven cut costs. As m grows the bubble tends to 1 − mean/max of the devices' work
     (the slowest device paces the steady state), which more micro-batches cannot remove.
:func:`tensor_view`: which nodes a tensor split marks on the graph drawing (split layers, the
column/row pairs with the elementwise ops between them) and the per-device memory beside the unsplit.
Not handled (as in graph_split): communication time between stages, attention split by heads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.trace import Timeline
from .graph_split import PipelineSplit, TensorSplit, pipeline_split
from .pipeline import measured_bubble, pipeline_schedule

KIND_WORDS = {
    "column": "column-parallel",
    "row": "row-parallel + all-reduce",
    "column_gather": "column-parallel + all-gather",
    "replicated": "replicated",
}


@dataclass(frozen=True)
class GraphPipeline:
    """A graph's pipeline: its stages, their schedule, and the same schedule with equal stages."""

    split: PipelineSplit
    timeline: Timeline  # lanes "stage 0".."stage p−1" (devices), the graph's stage costs
    equal: Timeline  # the same work in p·v equal stages
    p: int
    m: int
    schedule: str
    v: int

    @property
    def bubble(self) -> float:
        return measured_bubble(self.timeline)

    @property
    def equal_bubble(self) -> float:
        return measured_bubble(self.equal)

    @property
    def limit_bubble(self) -> float:
        """The bubble as m grows: 1 − mean/max of the devices' work (each device does its v chunks),
        what more micro-batches cannot remove."""
        times = self.split.stage_times
        loads = [sum(times[c * self.p + d] for c in range(self.v)) for d in range(self.p)]
        return 1 - sum(loads) / (self.p * max(loads)) if max(loads) else 0.0

    @property
    def slowdown(self) -> float:
        """Makespan on the graph's stages / makespan with equal stages of the same total work."""
        return self.timeline.makespan / self.equal.makespan if self.equal.makespan else 1.0


def graph_pipeline(
    graph,
    p: int,
    m: int,
    schedule: str = "1f1b",
    v: int = 1,
    measure: str = "flops",
    hardware: str = "A100 80GB SXM",
) -> GraphPipeline:
    """``graph`` on ``p`` devices (``v`` chunks each, interleaved only) with ``m`` micro-batches."""
    v = v if schedule == "interleaved" else 1
    split = pipeline_split(graph, p * v, measure, hardware)
    times = split.stage_times
    timeline = pipeline_schedule(p, m, schedule, v, stage_times=times)
    mean = sum(times) / len(times)
    equal = pipeline_schedule(p, m, schedule, v, t_f=v * mean, t_b=2 * v * mean)
    return GraphPipeline(split, timeline, equal, p, m, schedule, v)


def size_text(n: float) -> str:
    """Bytes in binary units: ``1.50 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"  # pragma: no cover


@dataclass(frozen=True)
class TensorView:
    """What the tensor-parallel page draws of a split."""

    split_layers: tuple[str, ...]  # every layer cut over devices (not replicated)
    pairs: tuple[tuple[str, ...], ...]  # column layer, its elementwise chain, its row partner
    labels: tuple[tuple[str, str], ...]  # node -> split kind words (English)
    max_param_bytes: int
    max_activation_bytes: int
    sent_per_device_bytes: float  # all collectives of one forward pass


def tensor_view(split: TensorSplit) -> TensorView:
    layers = split.layers
    pairs = tuple(
        (x.node, *x.chain, x.partner) if x.partner else (x.node, *x.chain)
        for x in layers
        if x.kind in ("column", "column_gather")
    )
    return TensorView(
        tuple(x.node for x in layers if x.kind != "replicated"),
        pairs,
        tuple((x.node, KIND_WORDS[x.kind]) for x in layers),
        max(split.param_bytes),
        max(split.activation_bytes),
        sum(c.sent_per_device_bytes for c in split.collectives),
    )
