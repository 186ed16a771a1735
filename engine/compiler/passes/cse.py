"""Common-subexpression elimination: compute each distinct expression once.

Stages (one forward sweep, the value-numbering of a basic block):
  1. give every node a key: ``(op, inputs after renaming, attributes, shape, dtype)``; inputs of
     commutative ops (add, mul, max, min) are sorted so ``a+b`` and ``b+a`` match; a ``constant``'s key
     includes its value's content hash;
  2. if the key was seen, alias the node to the first node with that key (its users now read that
     one); otherwise remember the key;
  3. nodes that lost their last user are swept, and output names are kept (see ``common``).
Graph inputs and ``param`` nodes are never merged: two weights of equal shape are different values.
Not handled: algebraic equivalence (``x*2`` vs ``x+x``), expressions across control flow.
"""

from __future__ import annotations

from ...core.ir import Graph
from .common import Rewriter, names_preview

COMMUTATIVE = frozenset({"add", "mul", "max", "min"})


def common_subexpression_elimination(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` with duplicate expressions merged, and a log."""
    rw = Rewriter(graph)
    seen: dict[tuple, str] = {}
    merged: list[tuple[str, str]] = []
    for node in graph.nodes:
        if node.op in ("input", "param"):
            rw.emit(node)
            continue
        ins = tuple(rw.resolve(i) for i in node.inputs)
        if node.op in COMMUTATIVE:
            ins = tuple(sorted(ins))
        key = (node.op, ins, node.attrs, node.shape, node.dtype)
        first = seen.get(key)
        if first is None:
            seen[key] = node.name
            rw.emit(node)
        else:
            rw.alias(node.name, first)
            merged.append((node.name, first))
    if not merged:
        return graph, ["cse: no repeated expressions"]
    pairs = names_preview(f"{a}→{b}" for a, b in merged)
    return rw.finish(), [f"cse: merged {len(merged)} repeated expression(s): {pairs}"]
