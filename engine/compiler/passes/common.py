"""Shared machinery of the graph passes: a forward rewriter, output-name keeping, dead-node sweeping.

A pass walks the graph once in topological order with a :class:`Rewriter`:
  1. ``emit(node)`` copies a node into the new graph, with its inputs redirected through the aliases
     recorded so far (so a chain of rewrites collapses in one sweep);
  2. ``alias(name, target)`` drops ``name`` and sends all its uses to ``target``;
  3. ``finish()`` keeps the graph's output names: an output that was aliased away either takes over
     its replacement's name (when the replacement is an op node nobody else calls an output) or is
     kept as an ``identity`` of it; then nodes that lost their last user to this pass are swept
     (graph inputs always stay, so ``engine.run`` accepts the same inputs).
Also :func:`diff` (which nodes a pass added, changed or removed) for highlighting.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...core.ir import Graph, Node, fresh_name, rebuild


class Rewriter:
    """Builds the rewritten node list of ``graph``; see the module docstring."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: dict[str, Node] = {}
        self.aliases: dict[str, str] = {}
        self.taken: set[str] = set(graph.by_name)

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def get(self, name: str) -> Node:
        """The new node that now stands for ``name``."""
        return self.nodes[self.resolve(name)]

    def emit(self, node: Node) -> str:
        if self.aliases and any(i in self.aliases for i in node.inputs):
            node = node.replace(inputs=tuple(self.resolve(i) for i in node.inputs))
        self.nodes[node.name] = node
        self.taken.add(node.name)
        return node.name

    def alias(self, name: str, target: str) -> None:
        target = self.resolve(target)
        if target != name:
            self.aliases[name] = target
            self.nodes.pop(name, None)

    def fresh(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def finish(self) -> Graph:
        outputs = self.graph.outputs
        rename: dict[str, str] = {}
        extra: list[Node] = []
        for o in outputs:
            r = self.resolve(o)
            if r == o:
                continue
            target = self.nodes[r]
            if not target.is_source and r not in outputs and r not in rename:
                rename[r] = o
            else:
                src = rename.get(r, r)
                extra.append(Node(o, "identity", (src,), (), target.shape, target.dtype))
        nodes = list(self.nodes.values())
        if rename:
            nodes = [
                n.replace(name=rename.get(n.name, n.name), inputs=tuple(rename.get(i, i) for i in n.inputs))
                if n.name in rename or any(i in rename for i in n.inputs)
                else n
                for n in nodes
            ]
        return sweep_orphans(self.graph, rebuild(nodes + extra, outputs, self.graph.title))


def sweep_orphans(before: Graph, after: Graph) -> Graph:
    """Drop nodes of ``after`` that nobody uses now but that had a user before (or are new).

    Nodes that were already unused in ``before`` are left for the dead-code pass to explain.
    """
    uses: dict[str, int] = {n.name: 0 for n in after.nodes}
    for n in after.nodes:
        for i in set(n.inputs):
            uses[i] += 1
    keep_always = set(after.outputs)
    old_users = before.users
    dropped: set[str] = set()
    for n in reversed(after.nodes):
        orphan = uses[n.name] == 0 and n.name not in keep_always and n.op != "input"
        if orphan and (n.name not in old_users or old_users[n.name]):
            dropped.add(n.name)
            for i in set(n.inputs):
                uses[i] -= 1
    if not dropped:
        return after
    return rebuild([n for n in after.nodes if n.name not in dropped], after.outputs, after.title)


@dataclass(frozen=True)
class GraphDiff:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def touched(self) -> tuple[str, ...]:
        return self.added + self.changed


def diff(before: Graph, after: Graph) -> GraphDiff:
    """Names added, changed (op, inputs or attributes differ) and removed by a pass."""
    old = before.by_name
    added, changed = [], []
    for n in after.nodes:
        o = old.get(n.name)
        if o is None:
            added.append(n.name)
        elif (o.op, o.inputs, o.attrs, o.shape) != (n.op, n.inputs, n.attrs, n.shape):
            changed.append(n.name)
    new = after.by_name
    removed = [n.name for n in before.nodes if n.name not in new]
    return GraphDiff(tuple(added), tuple(changed), tuple(removed))


def names_preview(names, limit: int = 6) -> str:
    """``a, b, c`` or ``a, b, c, … (+7 more)`` for log lines."""
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f", … (+{len(names) - limit} more)" if len(names) > limit else "")
