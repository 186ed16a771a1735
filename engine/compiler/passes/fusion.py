"""Operator fusion the TVM way (``relay/transforms/fuse_ops.cc``): pattern kinds + post-dominator tree.

Stages:
  1. **dataflow graph** of the op nodes (sources are kernel arguments, never fused). Each edge
     producer -> consumer gets the consumer's pattern kind (registry ``OpDef.kind``), except that a
     ``broadcast`` consumer whose input already has the output's shape makes an ``elemwise`` edge;
  2. **post-dominator tree**, built in reverse topological order: a node's parent is the least
     common ancestor (in the tree built so far) of all its consumers; graph outputs have no parent
     (like TVM's ``extern_ref``). Walking up to the LCA also folds the kinds met on the way into the
     node's *path kind* (the max = least fusable, in TVM's order elemwise < broadcast < injective <
     reduce < out_elemwise_fusable < opaque);
  3. **grouping** with union-find, nodes in topological order, in two phases (TVM's phase 2 only
     concerns tuples, which this IR has none of). A node is fused into its post-dominator's group
     when every path between them passes ``check_path``:
       * phase 0, ``out_elemwise_fusable`` (conv2d, matmul, pools): only if the path kind is
         ``elemwise`` and every node on the paths is at most ``broadcast``;
       * phases 0 and 1, ``elemwise``/``broadcast``: if the path kind is at most ``injective`` or is a
         ``reduce``; intermediate nodes at most ``injective``, the post-dominator itself anything
         but opaque (so ``relu`` joins a following reduction or an ``add`` that a conv already leads);
       * phase 1, ``injective``: if all nodes on the paths are at most ``injective``;
       * ``reduce`` and ``opaque`` never start a fusion;
     fusing merges every node on those paths (so groups stay convex) and the group's kind becomes
     the max of its members'; a group holds at most ``MAX_FUSE_DEPTH`` nodes (TVM's default 256);
  4. the groups, each in topological order, ordered by their last node (a valid kernel order,
     because only a group's last node is read from outside it).
The ``fusion`` pass of :func:`engine.optimize` leaves the graph as it is (our interpreter runs one op
at a time) and reports the groups in its log; the cost ledger counts one kernel per group and only
the bytes that cross group boundaries. Not handled: tuples, TVM's argument-count limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core import budget
from ...core.errors import GraphError
from ...core.ir import Graph
from ...core.registry import KINDS, get_op

MAX_FUSE_DEPTH = 256
RANK = {k: i for i, k in enumerate(KINDS)}
ELEMWISE, BROADCAST, INJECTIVE, REDUCE, OUT_EWISE, OPAQUE = range(6)


@dataclass(frozen=True)
class FusionResult:
    """Groups plus everything a figure needs to explain them."""

    groups: tuple[tuple[str, ...], ...]
    kinds: dict  # op node -> pattern kind
    postdom: dict  # op node -> post-dominator (None for a graph output)
    path_kind: dict  # op node -> max kind on the paths to its post-dominator
    group_of: dict  # op node -> index into groups
    log: tuple[str, ...]


def _edge_kind(graph: Graph, producer: str, consumer) -> int:
    kind = RANK[get_op(consumer.op).kind]
    if kind == BROADCAST and graph.by_name[producer].shape == consumer.shape:
        return ELEMWISE
    return kind


def post_dominators(graph: Graph) -> tuple[dict, dict, dict]:
    """Stage 2: (parent, depth, path kind) per op node; parent None = no post-dominator."""
    ops = [n for n in graph.nodes if not n.is_source]
    consumers: dict[str, list[tuple[str, int]]] = {n.name: [] for n in ops}
    for n in ops:
        for i in dict.fromkeys(n.inputs):
            if i in consumers:
                consumers[i].append((n.name, _edge_kind(graph, i, n)))
    parent: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    pkind: dict[str, int] = {}
    outputs = set(graph.outputs)
    for n in reversed(ops):
        name = n.name
        if name in outputs or not consumers[name]:
            parent[name], depth[name], pkind[name] = None, 1, OPAQUE
            continue
        kind, lca = ELEMWISE, None
        for k, (c, edge) in enumerate(consumers[name]):
            if k == 0:
                lca = c
            else:
                lca, kind = _lca(lca, c, kind, parent, depth, pkind)
            kind = max(kind, edge)
        parent[name] = lca
        depth[name] = depth[lca] + 1 if lca is not None else 1
        pkind[name] = kind
    return parent, depth, pkind


def _lca(a, b, kind, parent, depth, pkind):
    while a != b:
        if a is None or b is None:
            return None, kind
        if depth[a] < depth[b]:
            kind, b = max(kind, pkind[b]), parent[b]
        elif depth[a] > depth[b]:
            kind, a = max(kind, pkind[a]), parent[a]
        else:
            kind = max(kind, pkind[a], pkind[b])
            a, b = parent[a], parent[b]
    return a, kind


class _Partitioner:
    """Stage 3: union-find groups over the op nodes."""

    def __init__(self, graph: Graph, kinds: dict[str, int]):
        self.graph = graph
        self.up: dict[str, str] = {n: n for n in kinds}
        self.kind = dict(kinds)
        self.size = {n: 1 for n in kinds}
        self.consumers = {n: [c for c in graph.users[n] if c in kinds] for n in kinds}
        self.log: list[str] = []

    def root(self, n: str) -> str:
        while self.up[n] != n:
            self.up[n] = self.up[self.up[n]]
            n = self.up[n]
        return n

    def check_path(self, src: str, sink: str, ok) -> bool:
        seen: set[str] = set()
        stack = list(self.consumers[src])
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if not ok(self.kind[self.root(n)], n == sink):
                return False
            if n != sink:
                stack.extend(self.consumers[n])
        return True

    def commit(self, src: str, sink: str, why: str) -> None:
        target = self.root(sink)
        seen: set[str] = set()
        stack = [src]
        while stack:
            n = stack.pop()
            if n == sink or n in seen:
                continue
            seen.add(n)
            r = self.root(n)
            if r != target:
                self.up[r] = target
                self.size[target] += self.size[r]
                self.kind[target] = max(self.kind[target], self.kind[r])
            stack.extend(self.consumers[n])
        self.log.append(f"fuse {src} into {sink}'s group: {why}")


def _try_fuse(p: _Partitioner, name: str, parent, pkind, phase: int) -> None:
    kind = p.kind[p.root(name)]
    dom = parent[name]
    if kind == OPAQUE or dom is None or p.root(name) == p.root(dom):
        return
    if p.size[p.root(name)] + p.size[p.root(dom)] > MAX_FUSE_DEPTH:
        return
    path = pkind[name]
    if kind == OUT_EWISE:
        if phase == 0 and path == ELEMWISE and p.check_path(name, dom, lambda k, sink: k <= BROADCAST):
            p.commit(name, dom, "out-elemwise-fusable op followed only by elemwise/broadcast work")
    elif kind <= BROADCAST:
        if path <= INJECTIVE or path == REDUCE:

            def ok(k, sink):
                return (
                    k <= INJECTIVE if not sink else k in (ELEMWISE, BROADCAST, INJECTIVE, REDUCE, OUT_EWISE)
                )

            if p.check_path(name, dom, ok):
                p.commit(name, dom, f"{KINDS[kind]} op into its post-dominator ({KINDS[path]} path)")
    elif kind == INJECTIVE:
        if phase == 1 and p.check_path(name, dom, lambda k, sink: k <= INJECTIVE):
            p.commit(name, dom, "injective chain")


def analyse(graph: Graph) -> FusionResult:
    """Stages 1-4: the post-dominator tree, the groups and a log of every fusion decision."""
    if not isinstance(graph, Graph):
        raise GraphError(f"fuse() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    ops = [n for n in graph.nodes if not n.is_source]
    kinds = {n.name: RANK[get_op(n.op).kind] for n in ops}
    parent, _, pkind = post_dominators(graph)
    p = _Partitioner(graph, kinds)
    for phase in (0, 1):
        for n in ops:
            _try_fuse(p, n.name, parent, pkind, phase)
    members: dict[str, list[str]] = {}
    for n in ops:
        members.setdefault(p.root(n.name), []).append(n.name)
    groups = sorted(members.values(), key=lambda g: _position(graph, g[-1]))
    group_of = {n: k for k, g in enumerate(groups) for n in g}
    return FusionResult(
        tuple(tuple(g) for g in groups),
        {n: KINDS[k] for n, k in kinds.items()},
        dict(parent),
        {n: KINDS[k] for n, k in pkind.items()},
        group_of,
        tuple(p.log),
    )


def _position(graph: Graph, name: str) -> int:
    pos = graph.__dict__.get("_fusion_positions")
    if pos is None:
        pos = {n.name: k for k, n in enumerate(graph.nodes)}
        graph.__dict__["_fusion_positions"] = pos
    return pos[name]


def fuse(graph: Graph) -> list[list[str]]:
    """Fused groups as lists of op-node names, in topological order (see the module docstring)."""
    return [list(g) for g in analyse(graph).groups]


def fusion_pass(graph: Graph) -> tuple[Graph, list[str]]:
    """The ``fusion`` step of a pipeline: the graph unchanged, the groups in the log."""
    result = analyse(graph)
    n_ops = len(result.kinds)
    multi = [g for g in result.groups if len(g) > 1]
    log = [
        f"fusion: {n_ops} op(s) -> {len(result.groups)} kernel(s); "
        f"{len(multi)} group(s) hold more than one op"
    ]
    for g in multi[:8]:
        log.append("fusion: [" + " + ".join(g) + "]")
    if len(multi) > 8:
        log.append(f"fusion: … and {len(multi) - 8} more groups")
    return graph, log
