"""Layered (Sugiyama-style) layout of a computation graph, in pure Python.

Stages (:func:`compute_layout`):
  1. **Side nodes.** A ``param`` or ``constant`` that some op consumes is not given a layer of its own:
     it is drawn small beside the op that consumes it first (the consumer on the earliest layer).
  2. **Layering.** Longest path from the sources: ``layer(v) = 1 + max(layer(u))`` over the main
     inputs ``u`` of ``v`` (the graph is already in topological order, so one pass). A source (an
     ``input``) is then pulled down to one layer above its earliest consumer, so a late input such as
     the labels of a loss does not draw a long edge from the top.
  3. **Dummy nodes.** An edge that spans ``k > 1`` layers is split by ``k - 1`` dummy points so the
     ordering stage can route it between nodes (bounded: at most ``4 N + 500`` dummies; longer
     edges beyond the budget are drawn straight).
  4. **Ordering.** A few barycentric sweeps (down using predecessors, up using successors): each node
     moves to the mean position of its neighbours on the adjacent layer, which removes most crossings.
  5. **Coordinates.** Each layer is placed by isotonic regression (pool-adjacent-violators): nodes
     want to sit at the mean coordinate of their neighbours, subject to keeping the order and a
     minimum gap; alternating down and up passes straighten chains.
  6. **Side nodes** go in small columns right of (TB) or below (LR) their consumer, a little before it
     along the flow, so every edge still points forward.

Cost: O((N + D) log N) per sweep for N nodes and D dummies; a 2,000-node graph lays out in well under
a second. Not handled: minimising crossings exactly (NP-hard), folding repeated blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SIDE_OPS = ("param", "constant")
_SIDE_COL = 2  # side nodes per column beside a consumer
_SIDE_DX = 0.8  # column spacing of side nodes
_SIDE_OFFSET = 0.9  # distance from a consumer to its first column of side nodes
_NODE_GAP = 2.6  # minimum gap between neighbouring main nodes on a layer (room for a label)
_DUMMY_GAP = 0.5  # minimum gap between two dummy (edge bend) points
_MIXED_GAP = 1.0  # minimum gap between a dummy point and a node
_ALONG = {"TB": 1.0, "LR": 3.0}  # layer spacing in plot units (LR labels sit above the nodes)
_DIRECTIONS = ("TB", "LR")


@dataclass(frozen=True)
class GraphLayout:
    """Where everything goes. ``positions`` are plot coordinates (x, y).

    TB: layers go down (y = -layer), LR: layers go right (x = layer).
    ``edge_paths[(src, dst)]`` lists the points of the polyline from src to dst (ends included).
    """

    positions: dict
    layers: dict  # main node name -> layer index
    side: frozenset  # names of side nodes (params/constants beside a consumer)
    edge_paths: dict = field(default_factory=dict)
    direction: str = "TB"
    n_layers: int = 0
    width: float = 0.0  # extent across the flow (in node gaps)


def _users(graph) -> dict[str, list[str]]:
    """Node name -> its consumers; inputs that name no node of the graph are ignored, so a partial
    graph (a stepper's snapshot) still draws."""
    out: dict[str, list[str]] = {n.name: [] for n in graph.nodes}
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            if i in out:
                out[i].append(n.name)
    return out


def _side_nodes(graph) -> dict[str, str]:
    """Side node name -> the consumer it sits beside (filled in after layering)."""
    outputs = set(graph.outputs)
    users = _users(graph)
    return {
        n.name: "" for n in graph.nodes if n.op in SIDE_OPS and users.get(n.name) and n.name not in outputs
    }


def _layering(graph, side: dict[str, str]) -> dict[str, int]:
    layer: dict[str, int] = {}
    for n in graph.nodes:
        if n.name in side:
            continue
        preds = [layer[i] for i in n.inputs if i in layer]
        layer[n.name] = 1 + max(preds) if preds else 0
    users = _users(graph)
    for n in reversed(graph.nodes):  # pull sources down next to their first consumer
        if n.name in layer and not any(i in layer for i in n.inputs):
            below = [layer[u] for u in users.get(n.name, ()) if u in layer]
            if below:
                layer[n.name] = min(below) - 1
    low = min(layer.values(), default=0)
    return {k: v - low for k, v in layer.items()}


def _attach_sides(graph, side: dict[str, str], layer: dict[str, int]) -> None:
    users = _users(graph)
    for name in side:
        main_users = [u for u in users[name] if u in layer]
        if main_users:
            side[name] = min(main_users, key=lambda u: layer[u])
        else:  # consumed only by other side nodes cannot happen (sources have no inputs)
            side[name] = users[name][0]


def _build_levels(graph, side, layer):
    """Layers as lists of keys (node names or dummy tuples) plus neighbour maps."""
    n_layers = max(layer.values(), default=-1) + 1
    levels: list[list] = [[] for _ in range(n_layers)]
    for n in graph.nodes:
        if n.name in layer:
            levels[layer[n.name]].append(n.name)
    preds: dict = {k: [] for k in layer}
    succs: dict = {k: [] for k in layer}
    chains: dict = {}
    edges = [
        (i, n.name) for n in graph.nodes if n.name in layer for i in dict.fromkeys(n.inputs) if i in layer
    ]
    budget = 4 * len(layer) + 500
    for src, dst in sorted(edges, key=lambda e: layer[e[1]] - layer[e[0]]):
        span = layer[dst] - layer[src]
        if span - 1 > budget:
            chains[(src, dst)] = []
            continue
        budget -= span - 1
        chain = [("dummy", src, dst, k) for k in range(1, span)]
        for k, d in enumerate(chain):
            levels[layer[src] + k + 1].append(d)
            preds[d], succs[d] = [], []
        path = [src, *chain, dst]
        for a, b in zip(path, path[1:]):
            succs[a].append(b)
            preds[b].append(a)
        chains[(src, dst)] = chain
    return levels, preds, succs, chains


def _sweep(levels, preds, succs, rounds: int = 3) -> None:
    index = {k: i for lv in levels for i, k in enumerate(lv)}
    for _ in range(rounds):
        for order, nbrs in ((range(1, len(levels)), preds), (range(len(levels) - 2, -1, -1), succs)):
            for li in order:
                lv = levels[li]
                keyed = []
                for i, k in enumerate(lv):
                    ns = nbrs[k]
                    bary = sum(index[m] for m in ns) / len(ns) if ns else float(i)
                    keyed.append((bary, i, k))
                keyed.sort()
                levels[li] = [k for _, _, k in keyed]
                for i, k in enumerate(levels[li]):
                    index[k] = i


def _isotonic(values: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    out: list[float] = []
    for mean, count in blocks:
        out.extend([mean] * int(count))
    return out


def _place_level(lv, want: dict, width: dict) -> dict:
    offsets, acc = [], 0.0
    for i, k in enumerate(lv):
        if i:
            acc += _gap(lv[i - 1], k, width)
        offsets.append(acc)
    fitted = _isotonic([want[k] - o for k, o in zip(lv, offsets)])
    return {k: f + o for k, f, o in zip(lv, fitted, offsets)}


def _gap(a, b, width: dict) -> float:
    """Minimum distance from ``a`` to its right neighbour ``b`` (room for a's side nodes)."""
    a_dummy, b_dummy = isinstance(a, tuple), isinstance(b, tuple)
    if a_dummy and b_dummy:
        return _DUMMY_GAP
    room = 0.0 if a_dummy else width.get(a, 0.0)
    return room + (_MIXED_GAP if a_dummy or b_dummy else _NODE_GAP)


def _coordinates(levels, preds, succs, width: dict, rounds: int = 4) -> dict:
    pos: dict = {}
    for lv in levels:
        pos.update(_place_level(lv, {k: 0.0 for k in lv}, width))
    for r in range(rounds):
        down = r % 2 == 0
        order = range(1, len(levels)) if down else range(len(levels) - 2, -1, -1)
        nbrs = preds if down else succs
        for li in order:
            lv = levels[li]
            want = {k: (sum(pos[m] for m in nbrs[k]) / len(nbrs[k]) if nbrs[k] else pos[k]) for k in lv}
            pos.update(_place_level(lv, want, width))
    low = min(pos.values(), default=0.0)
    return {k: v - low for k, v in pos.items()}


def compute_layout(graph, direction: str = "TB") -> GraphLayout:
    """Lay ``graph`` out in layers; see the module docstring for the stages."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    side = _side_nodes(graph)
    layer = _layering(graph, side)
    _attach_sides(graph, side, layer)
    by_consumer: dict[str, list[str]] = {}
    for s, c in side.items():
        by_consumer.setdefault(c, []).append(s)
    width = {c: _SIDE_OFFSET + _SIDE_DX * ((len(v) - 1) // _SIDE_COL) for c, v in by_consumer.items()}
    levels, preds, succs, chains = _build_levels(graph, side, layer)
    _sweep(levels, preds, succs)
    across = _coordinates(levels, preds, succs, width)

    logical: dict = {k: (across[k], float(layer[k])) for k in layer}  # (across, along)
    for consumer, names in by_consumer.items():
        a, l = logical[consumer]
        for j, s in enumerate(names):
            col, row = divmod(j, _SIDE_COL)
            logical[s] = (a + _SIDE_OFFSET + _SIDE_DX * col, l - 0.42 + 0.3 * row)

    def to_xy(p):
        a, l = p
        return (a, -l) if direction == "TB" else (l * _ALONG["LR"], -a)

    positions = {k: to_xy(v) for k, v in logical.items()}
    paths = {}
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            if i not in positions:
                continue
            chain = chains.get((i, n.name), [])
            mids = [to_xy((across[d], float(layer[i] + d[3]))) for d in chain]
            paths[(i, n.name)] = [positions[i], *mids, positions[n.name]]
    extent = max((p[0] for p in logical.values()), default=0.0)
    return GraphLayout(
        positions, dict(layer), frozenset(side), paths, direction, max(layer.values(), default=-1) + 1, extent
    )


def layout_graph(graph, direction: str = "TB") -> dict[str, tuple[float, float]]:
    """Node name -> (x, y) plot position: pure, deterministic, every edge points forward.

    TB: forward = downward (y decreases); LR: forward = rightward (x increases).
    """
    return compute_layout(graph, direction).positions
