"""Fold a run of repeated blocks (ResNet stages, transformer layers) into one summary node, for drawing.

Stages of :func:`fold_repeats`:
  1. each op node gets a structural signature ``(op, attributes but weights, output shape)``; names are
     ignored, so ``layer1.0`` and ``layer1.1`` look alike;
  2. over the op nodes in topological order, find the period ``p`` (2..300) and start whose block of
     ``p`` signatures repeats back to back the most times (``s[i] == s[i + p]`` over a run of length
     ``>= p`` means at least two copies) — O(N · P) comparisons;
  3. keep the first copy and replace every later copy by one node of op ``"folded"`` whose inputs are
     the outside values the copies read (weights read only by them disappear) and whose consumers
     are re-pointed to it; it takes the place of the last folded node, so topological order holds.
It is a picture, not a program: the folded graph is not runnable. Not handled: repeats that are
interleaved with other ops (two parallel branches), or several different repeated runs (only the
one that hides the most nodes is folded).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.ir import Graph, Node

FOLDED_OP = "folded"
_MAX_PERIOD = 300
_MIN_HIDDEN = 3


@dataclass(frozen=True)
class FoldInfo:
    """What was folded: ``copies`` further copies of a ``period``-op block, into node ``name``."""

    name: str = ""
    period: int = 0
    copies: int = 0
    hidden: tuple[str, ...] = ()


def _signature(node: Node) -> tuple:
    return node.op, tuple((k, v) for k, v in node.attrs if k != "value"), node.shape


def _best_run(sig: list) -> tuple[int, int, int]:
    """(hidden nodes, period, start) of the best back-to-back repeat; hidden 0 if none."""
    n = len(sig)
    best = (0, 0, 0)
    for p in range(2, min(n // 2, _MAX_PERIOD) + 1):
        run = 0
        for i in range(n - p + 1):
            if i < n - p and sig[i] == sig[i + p]:
                run += 1
                continue
            if run >= p:
                copies = run // p
                best = max(best, (copies * p, p, i - run))
            run = 0
    return best


def fold_repeats(graph: Graph) -> tuple[Graph, FoldInfo]:
    """The graph with its longest back-to-back repeated block folded (see the module docstring)."""
    ops = [n for n in graph.nodes if not n.is_source]
    hidden_count, period, start = _best_run([_signature(n) for n in ops])
    if hidden_count < _MIN_HIDDEN:
        return graph, FoldInfo()
    folded = {n.name for n in ops[start + period : start + period + hidden_count]}
    readers: dict[str, set[str]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            readers.setdefault(i, set()).add(n.name)
    dropped = {
        n.name
        for n in graph.nodes
        if n.op in ("param", "constant") and readers.get(n.name) and readers[n.name] <= folded
    }
    copies = hidden_count // period
    name = f"{copies}× block"
    last = ops[start + period + hidden_count - 1]
    outside = tuple(
        dict.fromkeys(
            i
            for n in graph.nodes
            if n.name in folded
            for i in n.inputs
            if i not in folded and i not in dropped
        )
    )
    summary = Node(
        name, FOLDED_OP, outside, (("ops", hidden_count), ("period", period)), last.shape, last.dtype
    )
    nodes = []
    for n in graph.nodes:
        if n.name == last.name:
            nodes.append(summary)
        elif n.name not in folded and n.name not in dropped:
            inputs = tuple(dict.fromkeys(name if i in folded else i for i in n.inputs))
            nodes.append(n if inputs == n.inputs else n.replace(inputs=inputs))
    outputs = tuple(dict.fromkeys(name if o in folded else o for o in graph.outputs))
    info = FoldInfo(name, period, copies, tuple(sorted(folded | dropped)))
    return Graph(tuple(nodes), outputs, graph.title), info
