"""Page glue for the hardware labs' "your graph" sections (English only, no streamlit).

1. :func:`layer_rows`: a :class:`~engine.hw.graph_sim.GraphSim` as one flat row per layer, in graph
   order, with the column names of :data:`COLUMNS` (English, units in the name; the labs translate the
   headers for display and export the rows as CSV as they are).
2. :func:`timeline_window`: the concatenated DaVinci pipeline of a big graph cut to its first
   ``max_events`` events for drawing (the last layer drawn may be cut short). The cut is reported —
   events drawn of all, layers drawn whole, the last layer reached — so the page can say so.
Not handled: choosing which part of a long pipeline to draw (always the start).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.trace import Timeline
from .graph_sim import GraphSim

_COMMON = ("layer", "op", "M", "N", "K", "GEMMs", "MACs")
COLUMNS = {
    "systolic": (
        *_COMMON,
        "layer cycles",
        "utilisation (%)",
        "mapping efficiency (%)",
        "folds",
        "GEMM mapping",
    ),
    "davinci": (
        *_COMMON,
        "padded M×K×N",
        "tile m×k×n",
        "tiles along M, K, N",
        "fractal products",
        "Cube busy (cycles)",
        "transfer busy (cycles)",
        "layer cycles",
        "Cube busy (%)",
        "GEMM mapping",
    ),
    "gpu": (
        *_COMMON,
        "GFLOP",
        "bytes moved (MB)",
        "arithmetic intensity (FLOP/byte)",
        "attainable (TFLOP/s)",
        "time (µs)",
        "bound",
        "thread blocks",
        "waves",
        "GEMM mapping",
    ),
}
BOUND_NAMES = {"memory_bound": "memory-bound", "compute_bound": "compute-bound"}


def _dims(values) -> str:
    return "×".join(str(int(v)) for v in values)


def _common(layer) -> list:
    g = layer.gemm
    return [g.node, g.op, g.M, g.N, g.K, g.count, g.macs]


def _target_values(sim: GraphSim, layer) -> list:
    if sim.target == "systolic":
        return [layer.cycles, layer.utilization, layer.mapping_efficiency, layer.folds]
    if sim.target == "davinci":
        return [
            _dims(layer.padded),
            _dims(layer.tile),
            _dims(layer.grid),
            layer.fractals,
            layer.cube_cycles,
            layer.transfer_cycles,
            layer.cycles,
            100.0 * layer.cube_utilization,
        ]
    return [
        layer.flops / 1e9,
        layer.bytes / 1e6,
        layer.intensity,
        layer.attainable / 1e12,
        layer.time_s * 1e6,
        BOUND_NAMES[layer.bound],
        layer.blocks,
        layer.waves,
    ]


def layer_rows(sim: GraphSim) -> list[dict]:
    """One dict per mapped layer, keys :data:`COLUMNS` of the target, layers in graph order."""
    names = COLUMNS[sim.target]
    return [
        dict(zip(names, [*_common(x), *_target_values(sim, x), x.gemm.mapping], strict=True))
        for x in sim.layers
    ]


@dataclass(frozen=True)
class Window:
    """The part of a pipeline that is drawn."""

    timeline: Timeline
    shown: int  # events drawn
    total: int  # events in the whole pipeline
    layers: int  # layers drawn whole
    last: str  # the last layer reached (drawn whole or in part)

    @property
    def cut(self) -> bool:
        return self.shown < self.total


def timeline_window(sim: GraphSim, max_events: int = 600) -> Window:
    """The first ``max_events`` events of ``sim``'s pipeline (see the module docstring)."""
    full = sim.timeline
    total = len(full.events)
    shown = min(total, max_events)
    whole, end, last = 0, 0, sim.layers[0].gemm.node
    for layer in sim.layers:
        if end >= shown:
            break
        end += len(layer.timeline.events)
        whole, last = whole + (end <= shown), layer.gemm.node
    timeline = full if shown == total else Timeline(full.events[:shown], full.units, full.time_unit)
    return Window(timeline, shown, total, whole, last)
