"""What only the compiler pages need: the cost ledger of a pass pipeline, and buffer lists to plan.

The ledger, in stages (:func:`ledger`):
  1. the graph's kernels: fused groups once ``fusion`` has run, else one per op, with a layout
     pass's kernel views merged into the op they serve;
  2. per kernel: bytes moved (each outside tensor read once, each value used outside written once)
     and FLOPs; its time is max(FLOPs / peak, bytes / bandwidth) (the roofline);
  3. the planned peak activation memory (greedy by size) and its lower bound.
:func:`pass_trace` steps a pipeline with that ledger; :func:`parse_buffers` and
:func:`random_buffers` make the memory-planning lab's buffer lists; :func:`layout_pass` runs the
layout pass on a graph for the layout lab and names the conversion nodes it inserted (a node of the
new graph that is a transpose or reshape and is not, unchanged, a node of the old one: the pass gives
an output's conversion back to NCHW the output's own name).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..core.registry import get_op
from ..core.trace import Step
from .memory_plan import check_buffers
from .passes import optimize, pipeline_trace
from .passes.fusion import analyse
from .passes.layout_transform import kernel_views

#: A default device for the time estimate: (peak FLOP/s, bytes/s) — NVIDIA A100 SXM dense FP32
#: (19.5 TFLOP/s) and HBM2e (2.039 TB/s), from NVIDIA's A100 datasheet.
DEFAULT_DEVICE = (19.5e12, 2.039e12)


@dataclass(frozen=True)
class Ledger:
    """What a graph costs, for the per-pass Δ table."""

    nodes: int
    ops: int
    kernels: int
    bytes_moved: int
    peak_bytes: int
    lower_bound: int
    flops: int
    time_s: float


def _kernel_groups(graph: Graph, fused: bool) -> list[list[str]]:
    """Fused groups (or one per op), with layout kernel views merged into their op's kernel."""
    groups = (
        [list(g) for g in analyse(graph).groups]
        if fused
        else [[n.name] for n in graph.nodes if not n.is_source]
    )
    views = kernel_views(graph)
    if not views:
        return groups
    where = {n: k for k, g in enumerate(groups) for n in g}
    target = list(range(len(groups)))

    def root(k: int) -> int:
        while target[k] != k:
            k = target[k]
        return k

    for view, core in views.items():
        a, b = root(where[view]), root(where[core])
        if a != b:
            target[a] = b
    merged: dict[int, list[str]] = {}
    for k, g in enumerate(groups):
        merged.setdefault(root(k), []).extend(g)
    return list(merged.values())


def ledger(graph: Graph, fused: bool = False, device: tuple[float, float] = DEFAULT_DEVICE) -> Ledger:
    """Cost of ``graph`` run as kernels (fused groups or one per op); see the module docstring.

    A kernel reads each outside tensor it needs once and writes each of its values read outside it
    (or a graph output) once; its time is max(FLOPs / peak, bytes / bandwidth) (the roofline).
    """
    from .memory_plan import plan_graph

    peak, bandwidth = (float(v) for v in device)
    if peak <= 0 or bandwidth <= 0:
        raise EngineError(f"device peak {peak:g} FLOP/s and bandwidth {bandwidth:g} B/s must be > 0")
    by_name, users, outs = graph.by_name, graph.users, set(graph.outputs)
    size = {n.name: budget.numel(n.shape) * 4 for n in graph.nodes}
    moved = flops_total = 0
    time_s = 0.0
    groups = _kernel_groups(graph, fused)
    for group in groups:
        members = set(group)
        reads = {i for m in group for i in by_name[m].inputs if i not in members}
        writes = {m for m in group if m in outs or any(u not in members for u in users[m])}
        nbytes = sum(size[i] for i in reads) + sum(size[w] for w in writes)
        flops = 0
        for m in group:
            node = by_name[m]
            op = get_op(node.op)
            flops += int(
                op.flops([by_name[i].shape for i in node.inputs], node.shape, {**op.attrs, **node.attr_dict})[
                    0
                ]
            )
        moved += nbytes
        flops_total += flops
        time_s += max(flops / peak, nbytes / bandwidth)
    plan = plan_graph(graph, "greedy_by_size")
    return Ledger(
        len(graph.nodes),
        sum(1 for n in graph.nodes if not n.is_source),
        len(groups),
        moved,
        plan.arena,
        plan.lower_bound,
        flops_total,
        time_s,
    )


def pass_trace(
    graph: Graph, passes: list[str], device: tuple[float, float] = DEFAULT_DEVICE
) -> Iterator[Step]:
    """:func:`engine.compiler.passes.pipeline_trace` with the ledger of every step on ``device``."""
    return pipeline_trace(graph, passes, lambda g, fused: ledger(g, fused, device))


def parse_buffers(text: str) -> list[tuple[int, int, int]]:
    """Buffers from text, one ``size first last`` per line (commas allowed; ``#`` comments)."""
    if len(text) > budget.MAX_PROGRAM_CHARS:
        raise EngineError(
            f"the buffer list has {len(text):,} characters; the limit is {budget.MAX_PROGRAM_CHARS:,}"
        )
    out = []
    for k, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        try:
            size, first, last = (int(v) for v in parts)
        except ValueError:
            raise EngineError(
                f"line {k}: expected three whole numbers 'size first_op last_op', got {line!r}"
            ) from None
        out.append((size, first, last))
    return check_buffers(out)


def random_buffers(
    count: int, seed: int = 0, ops: int | None = None, max_size: int = 64, max_life: int = 8
) -> list[tuple[int, int, int]]:
    """A reproducible random interval set (for the lab and the property tests)."""
    import numpy as np

    budget.check_nodes(count, "the random buffer set")
    if count < 0 or max_size < 1 or max_life < 1:
        raise EngineError(
            f"count={count}, max_size={max_size}, max_life={max_life}: need count >= 0 "
            "and sizes/lifetimes >= 1"
        )
    rng = np.random.default_rng(seed)
    horizon = ops or max(count, 1)
    firsts = rng.integers(0, horizon, count)
    lives = rng.integers(0, max_life, count)
    sizes = rng.integers(1, max_size + 1, count)
    return [(int(s), int(f), int(f + life)) for s, f, life in zip(sizes, firsts, lives)]


@dataclass(frozen=True)
class LayoutPass:
    """The layout pass on one graph (see :func:`layout_pass`)."""

    layout: str  # the target: NHWC or NC1HWC0
    graph: Graph  # the graph after the pass
    inserted: tuple[str, ...]  # conversion nodes (transpose / reshape) the pass added
    views: tuple[str, ...]  # of those, the views drawn around a layout-sensitive op's NCHW kernel
    sensitive: int  # layout-sensitive ops that now run in the target layout
    conversions: int  # layout conversions between kernels (one transpose each, + a reshape for NC1HWC0)
    log: tuple[str, ...]

    @property
    def between(self) -> tuple[str, ...]:
        """The inserted nodes that convert data between kernels (not a kernel's own views)."""
        return tuple(n for n in self.inserted if n not in self.views)


def layout_pass(graph: Graph, layout: str = "NHWC") -> LayoutPass:
    """``optimize(graph, ["layout"])`` (or ``"layout:NC1HWC0"``) and the conversions it inserted."""
    name = "layout" if layout == "NHWC" else f"layout:{layout}"
    after, log = optimize(graph, [name])
    before = graph.by_name
    inserted = tuple(
        n.name for n in after.nodes if n.op in ("transpose", "reshape") and before.get(n.name) != n
    )
    views = kernel_views(after)
    between = [n for n in inserted if n not in views]
    return LayoutPass(
        layout,
        after,
        inserted,
        tuple(n for n in inserted if n in views),
        len(set(views.values())),
        sum(after.by_name[n].op == "transpose" for n in between),
        tuple(log),
    )
