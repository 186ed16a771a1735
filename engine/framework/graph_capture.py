"""Dynamic vs static graphs: what four PyTorch capture mechanisms see in the same Python function.

For a function from :data:`MENU` (some with data-dependent control flow), :func:`capture_all` runs
  1. **eager autograd** (define-by-run): call the function on tensors that require grad and walk the
     ``grad_fn`` chain (``next_functions``) from the result back to the leaves — the graph that was
     recorded *as the code ran*, for exactly the branch that was taken;
  2. **torch.fx.symbolic_trace**: run the function on Proxy objects; a Python ``if`` on a Proxy needs
     a concrete bool, so data-dependent control flow raises ``TraceError`` (caught and explained);
  3. **torch.jit.trace**: run once on an example and record the tensor ops; Python control flow is
     *not* recorded, so the taken branch is frozen — we run the traced graph on an input that takes
     the other branch and compare with eager (a wrong answer, or a silent fixed trip count);
  4. **torch._dynamo.explain** (the front end of ``torch.compile``): bytecode analysis splits the
     function into graphs at a *graph break* (reasons listed), and **torch.export** must produce one
     graph, so it either specialises with a guard or fails on the data-dependent branch (message
     caught).
Every captured graph becomes a small :class:`Dag` (nodes with op labels, edges) that
:meth:`Dag.to_graph` turns into an :class:`engine.core.ir.Graph` for the common graph figure.
torch is imported lazily (on the first capture). Not handled: modules with state, multiple outputs.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import EngineError
from ..core.ir import Graph, Node
from ..core.limits import one_torch_trace_at_a_time

torch = None  # bound by _torch() on first use, so the menu functions can name it as usual


def _torch():
    global torch
    if torch is None:
        import torch as _t

        torch = _t
    return torch


# -- the menu: small functions of (x, w) -----------------------------------------------------------
def mlp_layer(x, w):
    return torch.relu(x @ w).sum()


def branch_on_value(x, w):
    h = x @ w
    if h.sum() > 0:  # depends on the data, not on shapes
        return torch.sin(h).sum()
    return torch.cos(h).sum() * 2


def loop_until(x, w):
    h = x @ w
    while h.abs().sum() < 10:  # the trip count depends on the data
        h = h * 2
    return h.sum()


def fixed_loop(x, w):
    h = x
    for _ in range(3):  # a Python loop with a fixed count: simply unrolled
        h = torch.tanh(h @ w)
    return h.sum()


def shape_branch(x, w):
    if x.shape[0] > 2:  # depends on a shape only
        return (x @ w).sum()
    return (x @ w).mean()


@dataclass(frozen=True)
class MenuItem:
    fn: Callable
    en: str
    other: str  # how the "other" input is made: negate, scale, short


MENU: dict[str, MenuItem] = {
    "mlp_layer": MenuItem(mlp_layer, "straight-line code: one layer and a sum", "negate"),
    "branch_on_value": MenuItem(branch_on_value, "an if on a tensor's value", "negate"),
    "loop_until": MenuItem(loop_until, "a while loop whose trip count depends on the data", "scale"),
    "fixed_loop": MenuItem(fixed_loop, "a Python for loop with a fixed count", "negate"),
    "shape_branch": MenuItem(shape_branch, "an if on a tensor's shape", "short"),
}


def menu_source(name: str) -> str:
    return inspect.getsource(_item(name).fn)


def _item(name: str) -> MenuItem:
    if name not in MENU:
        raise EngineError(f"there is no function named {name!r}; choose one of {', '.join(MENU)}")
    return MENU[name]


# -- the common result types ---------------------------------------------------------------------
@dataclass(frozen=True)
class DagNode:
    id: str
    label: str
    kind: str = "op"  # input, op, output, constant


@dataclass(frozen=True)
class Dag:
    nodes: tuple[DagNode, ...]
    edges: tuple[tuple[str, str], ...]
    title: str = ""
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (label, member ids), e.g. dynamo graphs

    def to_graph(self) -> Graph:
        """An engine Graph (op = label) so the shared graph figure can draw it."""
        ins: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for a, b in self.edges:
            ins[b].append(a)
        ops = {
            n.id: ("input" if n.kind == "input" else "constant" if n.kind == "constant" else n.label)
            for n in self.nodes
        }
        nodes = tuple(Node(n.id, ops[n.id], tuple(ins[n.id])) for n in _topo(self))
        sinks = [n.id for n in self.nodes if not any(a == n.id for a, _ in self.edges)]
        return Graph(nodes, tuple(sinks), self.title)


def _topo(dag: Dag) -> list[DagNode]:
    order, seen = [], set()
    ins: dict[str, list[str]] = {n.id: [] for n in dag.nodes}
    for a, b in dag.edges:
        ins[b].append(a)
    by_id = {n.id: n for n in dag.nodes}

    def visit(k: str) -> None:
        stack = [(k, False)]
        while stack:
            node, expanded = stack.pop()
            if node in seen:
                continue
            if expanded:
                seen.add(node)
                order.append(by_id[node])
            else:
                stack.append((node, True))
                stack.extend((i, False) for i in reversed(ins[node]) if i not in seen)

    for n in dag.nodes:
        visit(n.id)
    return order


@dataclass(frozen=True)
class Capture:
    method: str
    ok: bool
    dag: Dag | None
    message: str  # what happened, in words (error text when not ok)
    details: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Captures:
    name: str
    source: str
    eager: Capture
    fx: Capture
    jit: Capture
    dynamo: Capture
    export: Capture

    def all(self) -> tuple[Capture, ...]:
        return (self.eager, self.fx, self.jit, self.dynamo, self.export)


# -- inputs ---------------------------------------------------------------------------------------
def example_inputs(name: str, seed: int = 0, other: bool = False):
    """(x, w) for ``name``; ``other=True`` gives an input that takes the other path."""
    t = _torch()
    item = _item(name)
    g = t.Generator().manual_seed(seed)
    x = t.randn(4, 3, generator=g)
    w = t.randn(3, 3, generator=g)
    if float((x @ w).sum()) < 0:  # the first example always takes the "if" branch
        x = -x
    if (x @ w).abs().sum() >= 10:  # and loops a few times in loop_until
        x = x * (5.0 / float((x @ w).abs().sum()))
    if other:
        x = {"negate": -x, "scale": x * 100.0, "short": x[:2]}[item.other]
    return x, w


# -- 1. eager autograd graph -------------------------------------------------------------------
@one_torch_trace_at_a_time
def eager_graph(name: str, seed: int = 0) -> Capture:
    _torch()
    x, w = (a.clone().requires_grad_(True) for a in example_inputs(name, seed))
    out = _item(name).fn(x, w)
    leaves = {id(x): "x", id(w): "w"}
    nodes: dict[int, DagNode] = {}
    edges: list[tuple[str, str]] = []

    def node_of(fn) -> DagNode:
        if id(fn) not in nodes:
            label = type(fn).__name__
            if label == "AccumulateGrad":
                var = leaves.get(id(fn.variable), "leaf")
                nodes[id(fn)] = DagNode(f"{var} (leaf)", f"{var}: AccumulateGrad", "input")
            else:
                nodes[id(fn)] = DagNode(f"{label}#{len(nodes)}", label)
        return nodes[id(fn)]

    stack, seen = [out.grad_fn], set()
    while stack:  # walk grad_fn.next_functions from the result to the leaves
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        here = node_of(fn)
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append((node_of(nxt).id, here.id))  # data flows leaf -> result
                stack.append(nxt)
    dag = Dag(tuple(nodes.values()), tuple(dict.fromkeys(edges)), "eager autograd graph (grad_fn)")
    return Capture(
        "eager",
        True,
        dag,
        f"the result has grad_fn={type(out.grad_fn).__name__}; "
        f"{len(nodes)} backward nodes were recorded while the code ran",
        {"value": float(out.detach()), "grad_fn": type(out.grad_fn).__name__, "nodes": len(nodes)},
    )


# -- 2. torch.fx symbolic trace -----------------------------------------------------------------
def _fx_dag(graph, title: str, prefix: str = "") -> Dag:
    nodes, edges = [], []
    for n in graph.nodes:
        if n.op == "placeholder":
            kind, label = "input", n.name
        elif n.op == "output":
            kind, label = "output", "output"
        elif n.op == "get_attr":
            kind, label = "constant", n.name
        else:
            target = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            kind, label = "op", str(target).replace("torch.ops.", "")
        nodes.append(DagNode(prefix + n.name, label, kind))
        for a in n.all_input_nodes:
            edges.append((prefix + a.name, prefix + n.name))
    return Dag(tuple(nodes), tuple(edges), title)


@one_torch_trace_at_a_time
def fx_graph(name: str) -> Capture:
    t = _torch()
    try:
        gm = t.fx.symbolic_trace(_item(name).fn)
    except Exception as e:  # noqa: BLE001 - TraceError and friends are the lesson
        return Capture(
            "fx",
            False,
            None,
            f"{type(e).__name__}: {e}",
            {
                "why": "symbolic tracing runs the code on Proxy objects; an if/while on a "
                "Proxy needs a real True/False, which does not exist yet"
            },
        )
    return Capture(
        "fx",
        True,
        _fx_dag(gm.graph, "torch.fx symbolic trace"),
        f"{sum(1 for n in gm.graph.nodes if n.op.startswith('call'))} calls recorded",
        {"code": gm.code, "calls": sum(1 for n in gm.graph.nodes if n.op.startswith("call"))},
    )


# -- 3. torch.jit.trace -------------------------------------------------------------------------
def _jit_dag(graph) -> Dag:
    nodes, edges, ids = [], [], {}
    for k, v in enumerate(graph.inputs()):
        ids[v.unique()] = f"in{k}"
        nodes.append(DagNode(f"in{k}", v.debugName() or f"in{k}", "input"))
    for k, n in enumerate(graph.nodes()):
        kind = n.kind()
        is_const = kind == "prim::Constant"
        nid = f"{(_const_text(n) or 'const') if is_const else kind.split('::')[-1]}#{k}"
        nodes.append(
            DagNode(
                nid, kind if not is_const else f"const {_const_text(n)}", "constant" if is_const else "op"
            )
        )
        for v in n.inputs():
            if v.unique() in ids:
                edges.append((ids[v.unique()], nid))
        for v in n.outputs():
            ids[v.unique()] = nid
    return Dag(tuple(nodes), tuple(edges), "torch.jit.trace graph")


def _const_text(n) -> str:
    try:
        return str(n.output().toIValue())[:20]
    except Exception:  # noqa: BLE001 - some constants have no printable value
        return ""


@one_torch_trace_at_a_time
def jit_graph(name: str, seed: int = 0) -> Capture:
    t = _torch()
    fn = _item(name).fn
    x, w = example_inputs(name, seed)
    x2, w2 = example_inputs(name, seed, other=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            traced = t.jit.trace(fn, (x, w), check_trace=False)
        except Exception as e:  # noqa: BLE001
            return Capture("jit", False, None, f"{type(e).__name__}: {e}")
    tracer = [str(c.message).split(". ")[0] for c in caught if "TracerWarning" in type(c.message).__name__]
    eager_other, traced_other = float(fn(x2, w2)), float(traced(x2, w2))
    same = abs(eager_other - traced_other) <= 1e-4 * max(1.0, abs(eager_other))
    msg = (
        "the traced graph also gives the right answer on the other input"
        if same
        else f"on an input taking the other path the traced graph returns "
        f"{traced_other:.4g} but eager Python returns {eager_other:.4g}: tracing froze the path "
        "of the example"
    )
    return Capture(
        "jit",
        True,
        _jit_dag(traced.graph),
        msg,
        {
            "warnings": tracer,
            "eager_other": eager_other,
            "traced_other": traced_other,
            "frozen": not same,
            "value": float(traced(x, w)),
        },
    )


# -- 4. dynamo and export -------------------------------------------------------------------------
def reset_dynamo(t) -> None:
    """``torch._dynamo.reset()`` plus what it leaves: torch 2.13 keeps each resume function's
    metadata (its rewritten bytecode, ~40 objects) in ``ContinueExecutionCache.generated_code_metadata``
    after a reset, so every ``explain`` of a function with a graph break added to it for as long as
    the process lived (measured: gc objects after repeated explain calls). Called before and after
    each explain; ~300 small objects per call still stay, held from torch's C++ side (not reachable
    from Python, so not ours to clear)."""
    t._dynamo.reset()
    resume = getattr(t._dynamo, "resume_execution", None)
    metadata = getattr(getattr(resume, "ContinueExecutionCache", None), "generated_code_metadata", None)
    if metadata is not None:
        metadata.clear()


@contextlib.contextmanager
def _quiet():
    """Dynamo and export log warnings through logging and stderr; keep the page clean."""
    loggers = [
        logging.getLogger(n) for n in ("torch", "torch._dynamo", "torch.fx", "torch._export", "torch.export")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _astuple(dag: Dag) -> tuple[list, list]:
    return list(dag.nodes), list(dag.edges)


def explained_dag(ex, part_of) -> tuple[Dag, list[str]]:
    """One Dag of the graphs ``torch._dynamo.explain`` split a function into (each graph a group,
    node ids prefixed ``g1:``, ``g2:`` ...) and the first line of each graph break's reason;
    ``part_of(graph_module, prefix)`` gives one graph's (nodes, edges)."""
    nodes, edges, groups = [], [], []
    for k, gm in enumerate(ex.graphs):
        part_nodes, part_edges = part_of(gm, f"g{k + 1}:")
        nodes += part_nodes
        edges += part_edges
        groups.append((f"graph {k + 1}", tuple(n.id for n in part_nodes)))
    reasons = [str(r.reason).splitlines()[0] for r in ex.break_reasons]
    return Dag(tuple(nodes), tuple(edges), "torch._dynamo graphs", tuple(groups)), reasons


@one_torch_trace_at_a_time
def dynamo_graph(name: str, seed: int = 0) -> Capture:
    t = _torch()
    x, w = example_inputs(name, seed)
    with _quiet():
        reset_dynamo(t)
        try:
            ex = t._dynamo.explain(_item(name).fn)(x, w)
        except Exception as e:  # noqa: BLE001
            return Capture("dynamo", False, None, f"{type(e).__name__}: {e}")
        finally:
            reset_dynamo(t)
    dag, reasons = explained_dag(ex, lambda gm, prefix: _astuple(_fx_dag(gm.graph, "", prefix=prefix)))
    msg = f"{ex.graph_count} graph(s), {ex.graph_break_count} graph break(s)" + (
        f": {'; '.join(reasons)} (a jump on a tensor's value cannot be decided while "
        "compiling, so the graph ends there and Python decides)"
        if reasons
        else ""
    )
    return Capture(
        "dynamo",
        True,
        dag,
        msg,
        {"graphs": ex.graph_count, "breaks": ex.graph_break_count, "reasons": reasons},
    )


@one_torch_trace_at_a_time
def export_graph(name: str, seed: int = 0) -> Capture:
    t = _torch()
    fn = _item(name).fn

    class Wrapped(t.nn.Module):
        def forward(self, x, w):
            return fn(x, w)

    x, w = example_inputs(name, seed)
    with _quiet():
        try:
            ep = t.export.export(Wrapped(), (x, w))
        except Exception as e:  # noqa: BLE001 - the guard / data-dependent error is the lesson
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return Capture(
                "export",
                False,
                None,
                f"{type(e).__name__}: {first}",
                {
                    "why": "export needs one graph for every input; the branch depends "
                    "on a value it cannot know at export time"
                },
            )
        x2, w2 = example_inputs(name, seed, other=True)
        try:
            ep.module()(x2, w2)
            other, other_ok = "the exported program also runs on the other input", True
        except Exception as e:  # noqa: BLE001 - a guard failing on the other input
            other = (
                f"the exported program refuses the other input (a guard on what it "
                f"specialised failed): {type(e).__name__}: "
                f"{str(e).strip().splitlines()[0][:200]}"
            )
            other_ok = False
    return Capture(
        "export",
        True,
        _fx_dag(ep.graph, "torch.export graph (ATen ops)"),
        f"one graph captured; {other}",
        {"other": other, "other_ok": other_ok},
    )


@one_torch_trace_at_a_time
def capture_all(name: str, seed: int = 0) -> Captures:
    """All four captures of ``name`` (slow the first time: dynamo compiles; cache the result)."""
    _item(name)
    return Captures(
        name,
        menu_source(name),
        eager_graph(name, seed),
        fx_graph(name),
        jit_graph(name, seed),
        dynamo_graph(name, seed),
        export_graph(name, seed),
    )
