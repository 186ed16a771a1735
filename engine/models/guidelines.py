"""ShuffleNet V2's guidelines G2–G4 (Ma et al. 2018, section 2) as micro-experiments run on this machine.

Each experiment builds small graphs whose multiply-adds are (nearly) equal, counts them with
:func:`engine.cost` (MACs and bytes moved, every tensor read and written once), and times
:func:`engine.run` on them (the fastest of ``repeats`` interleaved runs after a warm-up; fixed weights):
  G2 :func:`g2_groups` — a stack of 10 1x1 group convolutions with c1 = c2 = c, c chosen per group
     count g so that hw·c²/g stays fixed (the paper's Table 2: c = 128, 180, 256, 360 for g = 1, 2, 4,
     8). Memory access cost (eq. 2) MAC = hw(c1 + c2) + c1·c2/g = hw·c1 + B·g/c1 + B/hw grows with g;
  G3 :func:`g3_fragments` — 10 blocks of 1x1 convs as 1 fragment, 2 or 4 in series, or 2 or 4 in
     parallel (the paper's appendix Fig. 1 and Table 3); parallel branches each produce c/k channels
     and are concatenated, series fragments narrow to a width m with c·m·2 + (k−2)·m² = c² (rounded),
     so the multiply-adds stay within 1 % at c = 128 (2.3 % at c = 64);
  G4 :func:`g4_elementwise` — 10 ResNet bottleneck units (1x1 to c/4, 3x3, 1x1 back to c) with and
     without their ReLUs and shortcut additions (the paper's Table 4): the same MACs, fewer bytes.
Times are this server's numpy kernels, not a phone or a GPU: they show the direction of each
guideline (per-op overhead here plays the part of kernel-launch and synchronisation cost), not the
paper's numbers. Not handled: caches (a real CPU reuses what fits), multi-threading differences.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import ShapeError
from ..core.interpreter import run
from ..core.ir import Graph, GraphBuilder
from .blocks import check_int

G2_CHANNELS = {1: 128, 2: 180, 4: 256, 8: 360}  # Ma et al. 2018, Table 2
BLOCKS = 10


@dataclass(frozen=True)
class Trial:
    label: str
    macs: int
    bytes: int  # engine.cost bytes read + written (fp32)
    mac_elements: int  # the paper's memory access cost formula, in elements (G2 only; else 0)
    ms: float  # the fastest measured engine.run of this graph on this machine


def _feeds(graph: Graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {n.name: rng.standard_normal(n.shape).astype(np.float32) * 0.1 for n in graph.params}
    feeds["x"] = rng.standard_normal(graph.node("x").shape).astype(np.float32)
    return feeds


def _times(graphs: list[Graph], repeats: int) -> list[float]:
    """Fastest of ``repeats`` timed runs per graph, in ms; runs interleaved round-robin after one
    warm-up each, so a burst of other load on the server hits every variant alike."""
    feeds = [_feeds(g) for g in graphs]
    for g, f in zip(graphs, feeds):
        run(g, f)  # warm-up (and the budget check)
    best = [math.inf] * len(graphs)
    for _ in range(repeats):
        for i, (g, f) in enumerate(zip(graphs, feeds)):
            t0 = time.perf_counter()
            run(g, f)
            best[i] = min(best[i], time.perf_counter() - t0)
    return [1e3 * t for t in best]


def _trials(what: str, graphs: list[tuple[str, Graph, int]], repeats: int) -> list[Trial]:
    """Count every graph, check the whole experiment's multiply-adds against the work budget, time them."""
    costs = [cost(g) for _, g, _ in graphs]
    budget.check_work(sum(c.macs for c in costs) * (repeats + 1), what)
    times = _times([g for _, g, _ in graphs], repeats)
    return [
        Trial(label, c.macs, c.bytes_read + c.bytes_written, mac, ms)
        for (label, _, mac), c, ms in zip(graphs, costs, times)
    ]


def _conv(b: GraphBuilder, x: str, cout: int, k: int = 1, groups: int = 1) -> str:
    cin = b.shape_of(x)[1]
    return b.op("conv2d", x, b.param((cout, cin // groups, k, k)), pad=k // 2, groups=groups)


def _check(side: int, repeats: int) -> None:
    check_int("feature-map side", side, 4, 56)
    check_int("repeats", repeats, 1, 9)


def g2_graph(groups: int, side: int) -> Graph:
    c = G2_CHANNELS[groups]
    b = GraphBuilder(f"G2 g={groups}")
    x = b.input((1, c, side, side), name="x")
    for _ in range(BLOCKS):
        x = _conv(b, x, c, groups=groups)
    return b.build([x])


def g2_groups(side: int = 16, repeats: int = 3) -> list[Trial]:
    """G2: equal FLOPs, more groups → more memory access (eq. 2) and, here, more time."""
    _check(side, repeats)
    hw = side * side
    graphs = [
        (f"g = {g}", g2_graph(g, side), BLOCKS * (hw * 2 * c + c * c // g)) for g, c in G2_CHANNELS.items()
    ]
    return _trials("the G2 experiment", graphs, repeats)


def series_width(c: int, k: int) -> int:
    """m with 2·c·m + (k − 2)·m² = c² (k ≥ 2): the inner width that keeps a k-conv series at c² MACs/pixel."""
    if k == 2:
        return c // 2
    return round((-2 * c + math.sqrt(4 * c * c + 4 * (k - 2) * c * c)) / (2 * (k - 2)))


G3_LAYOUTS = (
    "1-fragment",
    "2-fragment-series",
    "4-fragment-series",
    "2-fragment-parallel",
    "4-fragment-parallel",
)


def g3_graph(layout: str, c: int, side: int) -> Graph:
    if layout not in G3_LAYOUTS:
        raise ShapeError(f"unknown layout {layout!r}; choose one of {', '.join(G3_LAYOUTS)}")
    k = int(layout[0])
    b = GraphBuilder(layout)
    x = b.input((1, c, side, side), name="x")
    for _ in range(BLOCKS):
        if k == 1:
            x = _conv(b, x, c)
        elif layout.endswith("parallel"):
            x = b.op("concat", *[_conv(b, x, c // k) for _ in range(k)], axis=1)
        else:
            m = series_width(c, k)
            for _ in range(k - 1):
                x = _conv(b, x, m)
            x = _conv(b, x, c)
    return b.build([x])


def g3_fragments(c: int = 128, side: int = 16, repeats: int = 3) -> list[Trial]:
    """G3: the same MACs split into more, smaller operators run slower."""
    _check(side, repeats)
    check_int("channels c", c, 16, 256)
    if c % 4:
        raise ShapeError(f"channels c = {c} must be divisible by 4 (four parallel branches)")
    graphs = [(layout, g3_graph(layout, c, side), 0) for layout in G3_LAYOUTS]
    return _trials("the G3 experiment", graphs, repeats)


G4_VARIANTS = ("ReLU + shortcut", "no ReLU", "no shortcut", "neither")


def g4_graph(variant: str, c: int, side: int) -> Graph:
    if variant not in G4_VARIANTS:
        raise ShapeError(f"unknown variant {variant!r}; choose one of {', '.join(G4_VARIANTS)}")
    relu = variant in ("ReLU + shortcut", "no shortcut")
    short = variant in ("ReLU + shortcut", "no ReLU")
    b = GraphBuilder(variant)
    x = b.input((1, c, side, side), name="x")
    for _ in range(BLOCKS):
        y = x
        for cout, k in ((c // 4, 1), (c // 4, 3), (c, 1)):
            y = _conv(b, y, cout, k)
            y = b.op("relu", y) if relu else y
        x = b.op("add", x, y) if short else y
    return b.build([x])


def g4_elementwise(c: int = 128, side: int = 16, repeats: int = 3) -> list[Trial]:
    """G4: ReLU and the shortcut add cost no MACs but move memory; removing them saves time."""
    _check(side, repeats)
    check_int("channels c", c, 16, 256)
    if c % 4:
        raise ShapeError(f"channels c = {c} must be divisible by 4 (the bottleneck is c/4)")
    return _trials("the G4 experiment", [(v, g4_graph(v, c, side), 0) for v in G4_VARIANTS], repeats)
