"""Dead-code elimination: drop every node no output depends on.

Stages:
  1. mark: start from the graph outputs and walk inputs backwards (one reverse sweep over the
     topological order: a node is live if a live node reads it);
  2. sweep: keep live nodes and every graph ``input`` (so the optimised graph accepts the same
     inputs even when one of them no longer matters); drop the rest — ops, params, constants;
  3. log which nodes went and how many bytes of parameters that saves.
Not handled: ops with side effects (the IR has none), partially dead multi-output nodes.
"""

from __future__ import annotations

from ...core import budget
from ...core.ir import Graph, rebuild
from .common import names_preview


def dead_code_elimination(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` without the nodes no output depends on, and a log."""
    live = set(graph.outputs)
    for n in reversed(graph.nodes):
        if n.name in live:
            live.update(n.inputs)
    dead = [n for n in graph.nodes if n.name not in live and n.op != "input"]
    if not dead:
        return graph, ["dce: every node feeds an output; nothing removed"]
    gone = {n.name for n in dead}
    kept = rebuild([n for n in graph.nodes if n.name not in gone], graph.outputs, graph.title)
    param_bytes = sum(4 * budget.numel(n.shape) for n in dead if n.is_source)
    log = [f"dce: removed {len(dead)} dead node(s): {names_preview(n.name for n in dead)}"]
    if param_bytes:
        log.append(f"dce: {param_bytes:,} bytes of weights/constants no longer stored")
    return kept, log
