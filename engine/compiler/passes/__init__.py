"""Graph passes: a registry, :func:`optimize`, and :func:`pipeline_trace` for stepping a pipeline.

Each pass lives in its own file and is a pure function ``Graph -> (Graph, log lines)``; the new
graph keeps the input and output names, so ``engine.run`` accepts it with the same arguments.

Stages of :func:`pipeline_trace` (``optimize`` runs it to the end):
  1. check the request: a Graph, known pass names (an unknown name is an EngineError listing the
     valid ones), the node budget;
  2. step 0 is the input graph (with its cost, when a ``ledger`` function is given: the compiler
     lab's ledger lives in :mod:`engine.compiler.lab`);
  3. for each pass in order: run it, diff the graphs (added/changed/removed nodes to highlight) and,
     once ``fusion`` has run, record the fused groups.
Pass names: ``constant_folding``, ``simplify``, ``cse``, ``dce``, ``pattern_fuse`` (decomposed
LayerNorm/GELU/softmax/attention -> the fused op), ``fusion``, ``layout`` (target NHWC) and
``layout:NC1HWC0``. After ``constant_folding`` or Conv+BN folding, weights are frozen at their
seed-0 values (see those passes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...core import budget
from ...core.errors import EngineError, GraphError
from ...core.ir import Graph
from ...core.trace import Step
from .common import diff
from .constant_folding import constant_folding
from .cse import common_subexpression_elimination
from .dce import dead_code_elimination
from .fusion import analyse, fusion_pass
from .layout_transform import layout_transform
from .pattern_fuse import pattern_fuse
from .simplify import simplify


@dataclass(frozen=True)
class PassInfo:
    name: str
    run: Callable[[Graph], tuple[Graph, list[str]]]
    family: str
    title: str


PASSES: dict[str, PassInfo] = {
    p.name: p
    for p in (
        PassInfo("constant_folding", constant_folding, "folding", "Constant folding"),
        PassInfo("simplify", simplify, "algebraic", "Algebraic simplification"),
        PassInfo("cse", common_subexpression_elimination, "redundancy", "Common-subexpression elimination"),
        PassInfo("dce", dead_code_elimination, "redundancy", "Dead-code elimination"),
        PassInfo(
            "pattern_fuse",
            pattern_fuse,
            "substitution",
            "Pattern fusion (LayerNorm, GELU, softmax, attention)",
        ),
        PassInfo("fusion", fusion_pass, "fusion", "Operator fusion (TVM FuseOps)"),
        PassInfo("layout", layout_transform, "layout", "Layout transform to NHWC"),
        PassInfo(
            "layout:NC1HWC0",
            lambda g: layout_transform(g, "NC1HWC0"),
            "layout",
            "Layout transform to NC1HWC0",
        ),
    )
}


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


def pipeline_trace(
    graph: Graph, passes: list[str], ledger: Callable[[Graph, bool], Any] | None = None
) -> Iterator[Step]:
    """Step 0 = the input graph, then one :class:`Step` per pass (see the module docstring).

    ``Step.data`` holds ``before``, ``removed``, ``fused``, ``pass_name`` and, once fusion has run,
    ``groups``; with ``ledger(graph, fused)`` (the compiler lab's cost ledger,
    :func:`engine.compiler.lab.pass_trace`) also ``ledger`` and ``ledger_before``.
    """
    names = _check(graph, passes)
    measure = ledger or (lambda g, fused: None)
    fused = False
    current = graph
    current_ledger = measure(graph, False)
    yield Step(
        "input graph",
        (),
        f"{len(graph.nodes)} nodes",
        graph,
        dict(
            before=graph,
            removed=(),
            ledger=current_ledger,
            ledger_before=current_ledger,
            fused=False,
            groups=None,
            pass_name=None,
        ),
    )
    for name in names:
        after, log = PASSES[name].run(current)
        fused = fused or name == "fusion"
        change = diff(current, after)
        new_ledger = measure(after, fused)
        groups = [list(g) for g in analyse(after).groups] if fused else None
        highlight = change.touched
        yield Step(
            PASSES[name].title,
            highlight,
            "\n".join(log),
            after,
            dict(
                before=current,
                removed=change.removed,
                ledger=new_ledger,
                ledger_before=current_ledger,
                fused=fused,
                groups=groups,
                pass_name=name,
            ),
        )
        current, current_ledger = after, new_ledger


def optimize(graph: Graph, passes: list[str]) -> tuple[Graph, list[str]]:
    """Run ``passes`` in order; the new graph (same input and output names) and the per-pass log."""
    log: list[str] = []
    current = graph
    for step in pipeline_trace(graph, passes):
        current = step.graph
        if step.data["pass_name"]:
            log.extend(step.log.split("\n") if step.log else [])
    return current, log


__all__ = ["PASSES", "PassInfo", "optimize", "pipeline_trace"]
