"""Graph passes: a registry, :func:`optimize`, and :func:`pipeline_trace` for stepping a pipeline.

Each pass lives in its own file and is a pure function ``Graph -> (Graph, log lines)``; the new
graph keeps the input and output names, so ``engine.run`` accepts it with the same arguments.

Stages of :func:`pipeline_trace` (``optimize`` runs it to the end):
  1. check the request: a Graph, known pass names (an unknown name is an EngineError listing the
     valid ones), the node budget;
  2. step 0 is the input graph with its cost ledger;
  3. for each pass in order: run it, diff the graphs (added/changed/removed nodes to highlight),
     and compute the ledger of the new graph — ops, kernels (fused groups once ``fusion`` has run,
     else one per op), bytes moved to/from memory by those kernels, the planned peak activation
     memory and its lower bound, FLOPs, and a roofline time estimate on a device.
Pass names: ``constant_folding``, ``simplify``, ``cse``, ``dce``, ``fusion``, ``layout`` (target NHWC)
and ``layout:NC1HWC0``. After ``constant_folding`` or Conv+BN folding, weights are frozen at their
seed-0 values (see those passes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from ...core import budget
from ...core.errors import EngineError, GraphError
from ...core.ir import Graph
from ...core.registry import get_op
from ...core.trace import Step
from .common import diff
from .constant_folding import constant_folding
from .cse import common_subexpression_elimination
from .dce import dead_code_elimination
from .fusion import analyse, fusion_pass
from .layout_transform import kernel_views, layout_transform
from .simplify import simplify


@dataclass(frozen=True)
class PassInfo:
    name: str
    run: Callable[[Graph], tuple[Graph, list[str]]]
    family: str
    title_en: str
    title_zh: str


PASSES: dict[str, PassInfo] = {p.name: p for p in (
    PassInfo("constant_folding", constant_folding, "folding", "Constant folding", "常量折叠"),
    PassInfo("simplify", simplify, "algebraic", "Algebraic simplification", "代数化简"),
    PassInfo("cse", common_subexpression_elimination, "redundancy",
             "Common-subexpression elimination", "公共子表达式消除"),
    PassInfo("dce", dead_code_elimination, "redundancy", "Dead-code elimination", "死代码消除"),
    PassInfo("fusion", fusion_pass, "fusion", "Operator fusion (TVM FuseOps)", "算子融合"),
    PassInfo("layout", layout_transform, "layout", "Layout transform to NHWC", "布局转换为 NHWC"),
    PassInfo("layout:NC1HWC0", lambda g: layout_transform(g, "NC1HWC0"), "layout",
             "Layout transform to NC1HWC0", "布局转换为 NC1HWC0"),
)}

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
    groups = ([list(g) for g in analyse(graph).groups] if fused
              else [[n.name] for n in graph.nodes if not n.is_source])
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
    from ..memory_plan import plan_graph

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
            flops += int(op.flops([by_name[i].shape for i in node.inputs], node.shape,
                                  {**op.attrs, **node.attr_dict})[0])
        moved += nbytes
        flops_total += flops
        time_s += max(flops / peak, nbytes / bandwidth)
    plan = plan_graph(graph, "greedy_by_size")
    return Ledger(len(graph.nodes), sum(1 for n in graph.nodes if not n.is_source), len(groups),
                  moved, plan.arena, plan.lower_bound, flops_total, time_s)


def _check(graph: Graph, passes) -> list[str]:
    if not isinstance(graph, Graph):
        raise GraphError(f"optimize() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    if isinstance(passes, str) or not all(isinstance(p, str) for p in passes):
        raise EngineError(f"passes must be a list of pass names, got {passes!r}")
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise EngineError(f"unknown pass {unknown[0]!r}; valid passes are {', '.join(PASSES)}")
    return list(passes)


def pipeline_trace(graph: Graph, passes: list[str],
                   device: tuple[float, float] = DEFAULT_DEVICE) -> Iterator[Step]:
    """Step 0 = the input graph, then one :class:`Step` per pass (see the module docstring).

    ``Step.data`` holds ``before``, ``removed``, ``ledger``, ``ledger_before``, ``fused`` and, once
    fusion has run, ``groups``.
    """
    names = _check(graph, passes)
    fused = False
    current = graph
    current_ledger = ledger(graph, False, device)
    yield Step("input graph", (), f"{len(graph.nodes)} nodes", graph,
               dict(before=graph, removed=(), ledger=current_ledger, ledger_before=current_ledger,
                    fused=False, groups=None, pass_name=None))
    for name in names:
        after, log = PASSES[name].run(current)
        fused = fused or name == "fusion"
        change = diff(current, after)
        new_ledger = ledger(after, fused, device)
        groups = [list(g) for g in analyse(after).groups] if fused else None
        highlight = change.touched
        yield Step(PASSES[name].title_en, highlight, "\n".join(log), after,
                   dict(before=current, removed=change.removed, ledger=new_ledger,
                        ledger_before=current_ledger, fused=fused, groups=groups,
                        pass_name=name))
        current, current_ledger = after, new_ledger


def optimize(graph: Graph, passes: list[str]) -> tuple[Graph, list[str]]:
    """Run ``passes`` in order; the new graph (same input and output names) and the per-pass log."""
    names = _check(graph, passes)
    log: list[str] = []
    current = graph
    for name in names:
        current, lines = PASSES[name].run(current)
        log.extend(lines)
    return current, log


__all__ = ["PASSES", "Ledger", "PassInfo", "ledger", "optimize", "pipeline_trace"]
