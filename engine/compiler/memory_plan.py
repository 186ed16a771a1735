"""Memory planning: pack tensor lifetimes into one arena (Pisarchyk & Lee 2020, offset calculation).

A buffer is ``(size, first_op, last_op)``: it must hold its bytes from op ``first_op`` to op
``last_op`` *inclusive*. Two buffers whose op ranges intersect must not share bytes.

Stages of :func:`plan_memory`:
  1. validate the records (non-negative sizes, ``first <= last``) and the budget;
  2. order the buffers by the strategy:
       * ``naive``: every buffer gets its own slot, offsets are running sums (no reuse at all);
       * ``greedy_by_size``: largest first (ties: lower index first) — the paper's "Greedy by Size for
         offset calculation", the algorithm of TFLite's GPU delegate ``GreedyBySizeAssignment``;
       * ``greedy_by_breadth``: ops in decreasing *breadth* (bytes live at that op), and within an op
         its not-yet-placed buffers largest first — the paper's breadth order, here combined with the
         same best-fit placement (our adaptation: the paper states breadth order for shared objects);
  3. place each buffer in that order: walk the already placed buffers whose lifetimes intersect it,
     in increasing offset, and take the *smallest gap* between them that fits (best fit); if no gap
     fits, put it just above the highest of them;
  4. the arena size is the largest ``offset + size``;
  5. chain rule: if the greedy arena is above the lower bound and at most two buffers are ever live
     at once (plain chains: tensor k written by op k, read by op k+1), re-place by two colours —
     the overlap graph of such lifetimes has no triangle, so (being an interval graph, hence chordal)
     it is a forest and 2-colourable; colour A sits at offset 0, colour B is top-aligned under the
     lower bound. Any two overlapping buffers have different colours and sizes summing to at most
     the bound, so nothing collides and the arena equals the bound: optimal. (Greedy alone misses
     it, e.g. on the chain 2, 1, 1, 2 bytes: arena 4 against a bound of 3.)

:func:`lower_bound` is the most bytes live at one op — no plan can do better. :func:`graph_buffers`
derives buffers from a graph (one per op output plus graph inputs; parameters and constants live in
their own read-only storage and are not planned), optionally with in-place reuse: an elementwise op
whose input dies at that op writes its output over the input (the two tensors become one buffer).

Speed: placed buffers are indexed in time buckets, so a buffer only looks at the placed buffers near
its lifetime — near-linear on the chain-like lifetimes of real networks (the algorithm itself is
quadratic when every lifetime overlaps every other).
Not handled: alignment padding, buffers whose size changes at run time, multiple arenas.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..core import budget
from ..core.errors import EngineError

STRATEGIES = ("naive", "greedy_by_size", "greedy_by_breadth")
_BUCKET = 32  # ops per time bucket of the placed-buffer index


@dataclass(frozen=True)
class MemoryPlan:
    """A packed arena: per buffer its name, size, lifetime and offset; totals for the ledger."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    firsts: tuple[int, ...]
    lasts: tuple[int, ...]
    offsets: tuple[int, ...]
    arena: int
    lower_bound: int
    naive: int
    strategy: str
    merged: tuple[tuple[str, str], ...] = ()  # in-place pairs (input, output) sharing a buffer


def check_buffers(buffers) -> list[tuple[int, int, int]]:
    if not isinstance(buffers, (list, tuple)):
        raise EngineError(
            f"buffers must be a list of (size, first_op, last_op), got {type(buffers).__name__}"
        )
    budget.check_nodes(len(buffers), "the buffer list")
    out = []
    for k, rec in enumerate(buffers):
        try:
            size, first, last = (int(v) for v in rec)
        except (TypeError, ValueError):
            raise EngineError(f"buffer {k} must be (size, first_op, last_op), got {rec!r}") from None
        if size < 0 or first < 0 or first > last:
            raise EngineError(
                f"buffer {k} = (size={size}, first_op={first}, last_op={last}): sizes "
                "and op indices must be >= 0 and first_op <= last_op"
            )
        out.append((size, first, last))
    # the planners walk every op of every lifetime (breadth, time buckets): bound that walk
    budget.check_steps(
        sum(last - first + 1 for _, first, last in out),
        "planning these lifetimes (op steps summed over the buffers)",
    )
    # best fit compares each buffer with every placed buffer its lifetime overlaps: bound those pairs
    budget.check_steps(overlapping_pairs(out), "planning these lifetimes (pairs of overlapping buffers)")
    return out


def overlapping_pairs(recs: list[tuple[int, int, int]]) -> int:
    """How many pairs of buffers are live at a common op, in O(n log n): buffer i overlaps every j
    with first_j <= last_i, except those with last_j < first_i (and itself)."""
    firsts = sorted(first for _, first, _ in recs)
    lasts = sorted(last for _, _, last in recs)
    total = sum(
        bisect.bisect_right(firsts, last) - bisect.bisect_left(lasts, first) - 1 for _, first, last in recs
    )
    return total // 2


def lower_bound(buffers: list[tuple[int, int, int]]) -> int:
    """The most bytes live at any one op (no arena can be smaller)."""
    events: list[tuple[int, int]] = []
    for size, first, last in check_buffers(buffers):
        events.append((first, size))
        events.append((last + 1, -size))
    events.sort(key=lambda e: (e[0], e[1]))  # frees before allocations at the same op
    live = best = 0
    for _, delta in events:
        live += delta
        best = max(best, live)
    return best


class _PlacedIndex:
    """Placed buffers bucketed by time, so a query sees only buffers near its lifetime."""

    def __init__(self):
        self.buckets: dict[int, list[int]] = {}

    def add(self, idx: int, first: int, last: int) -> None:
        for b in range(first // _BUCKET, last // _BUCKET + 1):
            self.buckets.setdefault(b, []).append(idx)

    def near(self, first: int, last: int) -> set[int]:
        found: set[int] = set()
        for b in range(first // _BUCKET, last // _BUCKET + 1):
            found.update(self.buckets.get(b, ()))
        return found


def _best_fit(rec, idx, recs, offsets, index: _PlacedIndex) -> int:
    """Stage 3: the smallest gap among overlapping placed buffers that fits, else above them all."""
    size, first, last = rec
    overlapping = [j for j in index.near(first, last) if not (recs[j][2] < first or recs[j][1] > last)]
    overlapping.sort(key=lambda j: offsets[j])
    prev = 0
    best_gap, best_offset = None, None
    for j in overlapping:
        gap = offsets[j] - prev
        if gap >= size and (best_gap is None or gap < best_gap):
            best_gap, best_offset = gap, prev
        prev = max(prev, offsets[j] + recs[j][0])
    return prev if best_offset is None else best_offset


def _breadth_order(recs) -> list[int]:
    """Buffers in the greedy-by-breadth order: widest op first, its buffers largest first."""
    if not recs:
        return []
    horizon = max(r[2] for r in recs) + 2
    delta = [0] * horizon
    for size, first, last in recs:
        delta[first] += size
        delta[last + 1] -= size
    breadth, live = [], 0
    for t in range(horizon - 1):
        live += delta[t]
        breadth.append(live)
    at_op: dict[int, list[int]] = {}
    for i, (_, first, last) in enumerate(recs):
        for t in range(first, last + 1):
            at_op.setdefault(t, []).append(i)
    order, seen = [], set()
    for t in sorted(at_op, key=lambda t: (-breadth[t], t)):
        for i in sorted(at_op[t], key=lambda i: (-recs[i][0], i)):
            if i not in seen:
                seen.add(i)
                order.append(i)
    return order


def plan_memory(
    buffers: list[tuple[int, int, int]], strategy: str = "greedy_by_size"
) -> tuple[list[int], int]:
    """Offsets of each ``(size, first_op, last_op)`` buffer in one arena, and the arena size."""
    recs = check_buffers(buffers)
    if strategy not in STRATEGIES:
        raise EngineError(f"unknown memory strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "naive":
        offsets, total = [], 0
        for size, _, _ in recs:
            offsets.append(total)
            total += size
        return offsets, total
    if strategy == "greedy_by_size":
        order = sorted(range(len(recs)), key=lambda i: (-recs[i][0], i))
    else:
        order = _breadth_order(recs)
    offsets = [0] * len(recs)
    index = _PlacedIndex()
    arena = 0
    for i in order:
        offsets[i] = _best_fit(recs[i], i, recs, offsets, index)
        index.add(i, recs[i][1], recs[i][2])
        arena = max(arena, offsets[i] + recs[i][0])
    bound = lower_bound(recs)
    if arena > bound:
        two = _two_colour_plan(recs, bound)
        if two is not None:
            return two, bound
    return offsets, arena


def _two_colour_plan(recs, bound: int) -> list[int] | None:
    """Stage 5: optimal offsets when at most two buffers are ever live at once, else None."""
    events = sorted(
        [(first, 1, i) for i, (_, first, _) in enumerate(recs)]
        + [(last + 1, 0, i) for i, (_, _, last) in enumerate(recs)]
    )
    live: list[int] = []
    colour: dict[int, int] = {}
    for _, is_start, i in events:
        if not is_start:
            live.remove(i)
            continue
        if len(live) >= 2:
            return None
        # the one live buffer (if any) is this buffer's only overlap right now: take the other colour;
        # later overlaps start after this one, so they will pick their colour against it in turn.
        colour[i] = 1 - colour[live[0]] if live else 0
        live.append(i)
    return [0 if colour[i] == 0 else bound - recs[i][0] for i in range(len(recs))]


def check_plan(buffers: list[tuple[int, int, int]], offsets: list[int]) -> None:
    """Raise if two buffers live at the same op share a byte (a planner bug, not user input)."""
    recs = check_buffers(buffers)
    order = sorted(range(len(recs)), key=lambda i: recs[i][1])
    active: list[int] = []
    for i in order:
        size, first, _ = recs[i]
        active = [j for j in active if recs[j][2] >= first]
        for j in active:
            lo, hi = offsets[i], offsets[i] + size
            if lo < offsets[j] + recs[j][0] and offsets[j] < hi and size and recs[j][0]:
                raise EngineError(f"buffers {j} and {i} are live together and overlap in memory")
        active.append(i)


# -- graphs -> buffers --------------------------------------------------------------------------
_ITEMSIZE = {
    "float32": 4,
    "float64": 8,
    "float16": 2,
    "int64": 8,
    "int32": 4,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}


def graph_buffers(
    graph, inplace: bool = False
) -> tuple[list[str], list[tuple[int, int, int]], list[tuple[str, str]]]:
    """Liveness of every planned tensor of ``graph``: names, (bytes, first_op, last_op), in-place pairs.

    Op index k is the k-th non-source node; a graph input is live from op 0; a graph output stays live
    to the last op. With ``inplace``, an elemwise/broadcast op whose same-shaped input (an op output
    or graph input, not a parameter) dies at that op reuses that input's buffer.
    """
    from ..core.registry import get_op

    ops = [n for n in graph.nodes if not n.is_source]
    step = {n.name: k for k, n in enumerate(ops)}
    end = max(len(ops) - 1, 0)
    planned = [n for n in graph.nodes if n.op == "input" or not n.is_source]
    last = {n.name: (step.get(n.name, 0)) for n in planned}
    for n in ops:
        for i in n.inputs:
            if i in last:
                last[i] = max(last[i], step[n.name])
    for o in graph.outputs:
        if o in last:
            last[o] = end
    owner = {n.name: n.name for n in planned}  # tensor -> buffer root
    merged: list[tuple[str, str]] = []
    if inplace:
        for n in ops:
            if get_op(n.op).kind not in ("elemwise", "broadcast"):
                continue
            for i in n.inputs:
                src = graph.by_name[i]
                if (
                    i in owner
                    and last[i] == step[n.name]
                    and src.shape == n.shape
                    and src.dtype == n.dtype
                    and i not in graph.outputs
                ):
                    owner[n.name] = owner[i]
                    merged.append((i, n.name))
                    break
    roots: dict[str, list] = {}
    for n in planned:
        size = budget.numel(n.shape) * _ITEMSIZE.get(n.dtype, 4)
        first = step.get(n.name, 0)
        r = owner[n.name]
        if r in roots:
            rec = roots[r]
            roots[r] = [max(rec[0], size), min(rec[1], first), max(rec[2], last[n.name])]
        else:
            roots[r] = [size, first, last[n.name]]
    names = list(roots)
    return names, [tuple(roots[r]) for r in names], merged


def plan_graph(graph, strategy: str = "greedy_by_size", inplace: bool = False) -> MemoryPlan:
    """Liveness of ``graph`` (see :func:`graph_buffers`) packed with ``strategy``."""
    names, bufs, merged = graph_buffers(graph, inplace)
    offsets, arena = plan_memory(bufs, strategy)
    return MemoryPlan(
        tuple(names),
        tuple(b[0] for b in bufs),
        tuple(b[1] for b in bufs),
        tuple(b[2] for b in bufs),
        tuple(offsets),
        arena,
        lower_bound(bufs),
        sum(b[0] for b in bufs),
        strategy,
        tuple(merged),
    )


def plan_buffers(
    buffers: list[tuple[int, int, int]], strategy: str = "greedy_by_size", names: list[str] | None = None
) -> MemoryPlan:
    """:func:`plan_memory` on a plain buffer list, as a :class:`MemoryPlan` (for the figures)."""
    recs = check_buffers(buffers)
    offsets, arena = plan_memory(recs, strategy)
    names = list(names) if names is not None else [f"t{k}" for k in range(len(recs))]
    return MemoryPlan(
        tuple(names),
        tuple(r[0] for r in recs),
        tuple(r[1] for r in recs),
        tuple(r[2] for r in recs),
        tuple(offsets),
        arena,
        lower_bound(recs),
        sum(r[0] for r in recs),
        strategy,
    )
