"""Automatic differentiation on the graph IR: forward mode (JVP) and reverse mode (VJP), steppable.

Both modes are generators of :class:`~engine.core.trace.Step` — the single place each algorithm lives;
the plain API (:func:`grad`, :func:`jacobian`) runs the same generator to its end.

Forward mode (:func:`forward_trace`), Baydin et al. (2018) Table 2:
  1. seed the tangents: ``dx = direction[x]`` for the chosen sources, zero elsewhere;
  2. for every node in topological order compute the primal ``v = op(inputs)`` *and* the tangent
     ``dv = sum_i (dv/du_i) du_i`` with the op's JVP rule — one step per node (one table row).
Reverse mode (:func:`reverse_trace`), Baydin et al. (2018) Table 3:
  1. forward sweep: evaluate every primal, one step per node;
  2. seed the output's adjoint ``y_bar = 1``;
  3. backward sweep in reverse topological order: a node hands ``v_bar * dv/du`` to each input ``u``
     (its VJP rule); contributions from several consumers (fan-out) are *added* into ``u_bar`` —
     each step lists which consumer contributed what to which adjoint.
Gradients: :func:`grad` with ``mode="reverse"`` is one backward sweep (:func:`value_and_grad_fn`: the
same sweep made once for a training loop, returning the output's value too); ``mode="forward"`` runs one
JVP sweep per element of the ``wrt`` tensors (bounded by the step budget). :func:`jacobian` does
either for a non-scalar output and counts the sweeps and rule applications.
Budget: before any sweep, :func:`engine.core.cost_model.check_run` checks the graph's FLOPs times the sweeps
(a JVP or VJP sweep costs about two primal sweeps: ``1 + 2 * sweeps``) and its memory times
:data:`AD_MEMORY_SCALE` (primal values, tangents or adjoints, and a rule's temporaries, which are
about its kernel's; the injective rules' int64 index arrays fit in the same allowance). A
``MemoryError`` inside a kernel or rule becomes a BudgetError naming the node.
Not handled: higher derivatives, in-place ops, control flow (the graph is already straight-line).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import budget
from ..core.cost_model import check_run
from ..core.errors import EngineError, GraphError, ShapeError
from ..core.interpreter import out_of_memory, run, source_value
from ..core.ir import Graph, Node
from ..core.registry import get_op
from ..core.trace import Step, Trace
from .autodiff_rules import DifferentiationError, kink_note, rule_for

DIFFERENTIABLE_SOURCES = ("input", "param")
AD_MEMORY_SCALE = 3  # primal values + tangents/adjoints + rule temporaries


@dataclass(frozen=True)
class JacobianResult:
    matrix: np.ndarray  # (m, n): rows = output elements, columns = wrt elements
    mode: str
    sweeps: int  # forward: n (columns), reverse: m (rows)
    rule_calls: int  # JVP or VJP rule applications measured while sweeping
    primal_evals: int  # op evaluations of the (shared) primal pass


# -- validation ---------------------------------------------------------------------------------
def _check_graph(graph: Any) -> Graph:
    if not isinstance(graph, Graph):
        raise GraphError(f"autodiff needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    budget.check_steps(2 * len(graph.nodes), "the trace")
    _check_work(graph, 1)
    return graph


def _check_work(graph: Graph, sweeps: int) -> None:
    """Refuse differentiating ``graph`` with ``sweeps`` JVP/VJP sweeps over the budget."""
    check_run(
        graph,
        f"differentiating the graph ({sweeps:,} sweep{'s' if sweeps > 1 else ''})",
        flops_scale=1 + 2 * sweeps,
        memory_scale=AD_MEMORY_SCALE,
    )


def _check_output(graph: Graph, output: Any, scalar: bool) -> Node:
    if not isinstance(output, str) or output not in graph:
        names = ", ".join(graph.outputs) or "none"
        raise GraphError(
            f"there is no node named {output!r} to differentiate (the graph's outputs are: {names})"
        )
    node = graph.node(output)
    if scalar and budget.numel(node.shape) != 1:
        raise ShapeError(
            f"reverse mode starts from a scalar: {output!r} has shape {list(node.shape)} "
            f"({budget.numel(node.shape)} elements); reduce it first, e.g. "
            f"reduce_sum({output}), or use jacobian() for a vector output"
        )
    return node


def _check_wrt(graph: Graph, wrt: Any) -> list[str]:
    if isinstance(wrt, str) or not isinstance(wrt, (list, tuple)) or not wrt:
        raise EngineError(f"wrt must be a non-empty list of input or param names, got {wrt!r}")
    sources = [n.name for n in graph.nodes if n.op in DIFFERENTIABLE_SOURCES]
    for name in wrt:
        if name not in graph or graph.node(name).op not in DIFFERENTIABLE_SOURCES:
            what = f"a {graph.node(name).op} node" if name in graph else "not in the graph"
            raise GraphError(
                f"cannot differentiate with respect to {name!r}: it is {what}; "
                f"choose among the inputs and params: {', '.join(sources) or 'none'}"
            )
    return list(dict.fromkeys(wrt))


def _sources(graph: Graph, inputs: Mapping[str, Any] | None, seed: int) -> dict[str, np.ndarray]:
    """Values of the input/param nodes (validated by the interpreter), constants included."""
    if inputs:
        run_values = run(_sources_only(graph), inputs, seed)
        return {k: v for k, v in run_values.items()}
    return {n.name: source_value(n, seed) for n in graph.nodes if n.is_source}


def _sources_only(graph: Graph) -> Graph:
    nodes = tuple(n for n in graph.nodes if n.is_source)
    return Graph(nodes, (nodes[-1].name,) if nodes else (), graph.title)


# -- what a table row shows ---------------------------------------------------------------------
def show(x: np.ndarray | None) -> Any:
    """A scalar as a float, a tensor as a short description (the trace table is for people)."""
    if x is None:
        return 0.0
    x = np.asarray(x)
    if x.size == 1:
        return float(x.reshape(()))
    return f"{list(x.shape)} mean {float(x.mean()):.4g}, max|.| {float(np.abs(x).max()):.4g}"


def _expression(node: Node) -> str:
    attrs = ", ".join(f"{k}={v!r}" for k, v in node.attrs)
    args = ", ".join(node.inputs + ((attrs,) if attrs else ()))
    return f"{node.name} = {node.op}({args})"


def _apply(node: Node, fn, xs, *args):
    """Call a kernel or rule; a non-differentiable point is re-raised with the node's name."""
    try:
        return fn(xs, *args)
    except DifferentiationError as e:
        raise DifferentiationError(f"node {node.name!r} ({_expression(node)}): {e}") from None
    except MemoryError:
        raise out_of_memory(node, xs) from None


def baydin_labels(graph: Graph) -> dict[str, str]:
    """Names in the survey's style: n sources are v_(1-n) .. v_0, op nodes v_1, v_2, ...

    Constants are c_1, c_2, ... (they carry no derivative).
    """
    sources = [n.name for n in graph.nodes if n.op in DIFFERENTIABLE_SOURCES]
    labels = {name: f"v{k - len(sources) + 1}" for k, name in enumerate(sources)}
    consts = [n.name for n in graph.nodes if n.op == "constant"]
    labels.update({name: f"c{k + 1}" for k, name in enumerate(consts)})
    ops = [n.name for n in graph.nodes if not n.is_source]
    labels.update({name: f"v{k + 1}" for k, name in enumerate(ops)})
    return labels


# -- forward mode: the JVP sweep (one generator, used by forward_trace and grad) ---------------
def _jvp_sweep(
    graph: Graph, sources: dict, tangents: dict, record: bool, values: dict | None = None
) -> Generator[Step | None, None, tuple[dict, dict]]:
    """Primal and tangent of every node in topological order; returns (values, tangents)."""
    vals = dict(values) if values is not None else {}
    dots: dict[str, np.ndarray | None] = dict(tangents)
    labels = baydin_labels(graph) if record else {}
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.is_source:
                vals.setdefault(node.name, sources[node.name])
                dot = dots.get(node.name)
                if record:
                    tangent = f", tangent {_fmt(show(dot))}" if tangents else ""
                    yield Step(
                        f"{node.name} = {node.op}",
                        (node.name,),
                        f"{node.name} is a source: value {_fmt(show(vals[node.name]))}{tangent}",
                        data=dict(
                            node=node.name,
                            v=labels[node.name],
                            op=node.op,
                            expression=node.name,
                            value=show(vals[node.name]),
                            tangent=show(dot) if tangents else None,
                            rule="seed",
                        ),
                    )
                else:
                    yield None
                continue
            op = get_op(node.op)
            attrs = {**op.attrs, **node.attr_dict}
            xs = [vals[i] for i in node.inputs]
            if node.name not in vals:
                vals[node.name] = _apply(node, op.kernel, xs, attrs)
            y = vals[node.name]
            in_dots = [dots.get(i) for i in node.inputs]
            dot = None
            if any(d is not None for d in in_dots):
                rule = rule_for(node.op)
                dot = _apply(node, rule.jvp, xs, y, in_dots, attrs)
            dots[node.name] = dot
            if record:
                note = kink_note(node.op, xs[0]) if xs else ""
                tangent = f", tangent {_fmt(show(dot))}" if tangents else ""
                yield Step(
                    f"{node.name} = {node.op}({', '.join(node.inputs)})",
                    (node.name,),
                    f"{_expression(node)} -> value {_fmt(show(y))}{tangent}" + (f". {note}" if note else ""),
                    data=dict(
                        node=node.name,
                        v=labels[node.name],
                        op=node.op,
                        expression=_expression(node),
                        value=show(y),
                        tangent=show(dot) if tangents else None,
                        rule=rule_for(node.op).formula,
                    ),
                )
            else:
                yield None
    return vals, dots


def forward_trace(graph: Graph, direction: Mapping[str, Any], inputs=None, seed: int = 0) -> Trace:
    """Forward mode, one step per node; ``direction`` seeds the tangents of some inputs/params."""
    graph = _check_graph(graph)
    if not isinstance(direction, Mapping) or not direction:
        raise EngineError("direction must name at least one input, e.g. {'x1': 1.0}")
    names = _check_wrt(graph, list(direction))
    sources = _sources(graph, inputs, seed)
    tangents = {}
    for name in names:
        node = graph.node(name)
        d = np.asarray(direction[name], dtype=sources[name].dtype)
        if d.shape != node.shape:
            try:
                d = np.broadcast_to(d, node.shape).copy()
            except ValueError:
                raise ShapeError(
                    f"the direction for {name!r} has shape {list(d.shape)} but "
                    f"{name!r} has shape {list(node.shape)}"
                ) from None
        tangents[name] = d
    gen = _jvp_sweep(graph, sources, tangents, record=True)
    steps, (vals, dots) = _drain(gen)
    summary = dict(
        values={k: v for k, v in vals.items()},
        tangents={k: v for k, v in dots.items() if v is not None},
        outputs={o: dots.get(o) for o in graph.outputs},
    )
    return Trace(tuple(steps), f"Forward mode on {graph.title or 'the graph'}", summary)


# -- reverse mode: forward sweep, then the backward sweep ---------------------------------------
def _needs_grad(graph: Graph, wrt: list[str] | None) -> set[str]:
    """Nodes whose adjoint matters: those that depend on a ``wrt`` source (all sources if None)."""
    if wrt is None:
        need = {n.name for n in graph.nodes if n.op in DIFFERENTIABLE_SOURCES}
    else:
        need = set(wrt)
    for node in graph.nodes:
        if not node.is_source and any(i in need for i in node.inputs):
            need.add(node.name)
    return need


def _vjp_sweep(
    graph: Graph,
    output: str,
    vals: dict,
    need: set[str],
    record: bool,
    seed_adjoint: np.ndarray | None = None,
    counter: list | None = None,
) -> Generator[Step | None, None, dict]:
    """Adjoints of every node the output depends on, in reverse topological order."""
    y = vals[output]
    adj: dict[str, np.ndarray] = {
        output: np.ones_like(y)
        if seed_adjoint is None
        else np.asarray(seed_adjoint, y.dtype).reshape(y.shape)
    }
    if record:
        yield Step(
            f"seed {output}_bar = 1",
            (output,),
            f"the output's adjoint is d{output}/d{output} = 1",
            data=dict(node=output, adjoint=show(adj[output]), contributions=[]),
        )
    index = {n.name: k for k, n in enumerate(graph.nodes)}
    with np.errstate(all="ignore"):
        for node in reversed(graph.nodes[: index[output] + 1]):
            g = adj.get(node.name)
            if node.is_source or g is None or node.name not in need:
                continue
            needs = tuple(i in need for i in node.inputs)
            if not any(needs):
                continue
            op = get_op(node.op)
            attrs = {**op.attrs, **node.attr_dict}
            xs = [vals[i] for i in node.inputs]
            rule = rule_for(node.op)
            grads = _apply(node, rule.vjp, xs, vals[node.name], g, attrs, needs)
            if counter is not None:
                counter[0] += 1
            rows = []
            for u, gu in zip(node.inputs, grads):
                if gu is None:
                    continue
                before = adj.get(u)
                adj[u] = gu if before is None else before + gu
                if record:
                    rows.append(
                        dict(
                            to=u,
                            source=node.name,
                            contribution=show(gu),
                            adjoint=show(adj[u]),
                            accumulated=before is not None,
                        )
                    )
            if record:
                log = "; ".join(
                    f"{r['to']}_bar {'+' if r['accumulated'] else ''}= "
                    f"{node.name}_bar * d{node.name}/d{r['to']} = {_fmt(r['contribution'])}"
                    for r in rows
                )
                yield Step(
                    f"back through {node.name} = {node.op}({', '.join(node.inputs)})",
                    (node.name, *dict.fromkeys(r["to"] for r in rows)),
                    log,
                    data=dict(node=node.name, adjoint=show(g), rule=rule.formula, contributions=rows),
                )
            else:
                yield None
    return adj


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _reverse(graph: Graph, output: str, sources: dict, wrt: list[str] | None, record: bool):
    vals, _ = yield from _jvp_sweep(graph, sources, {}, record)
    finite = bool(np.all(np.isfinite(vals[output])))
    # a rule names the exact non-differentiable point (e.g. log at -1) during the backward sweep
    adj = yield from _vjp_sweep(graph, output, vals, _needs_grad(graph, wrt), record)
    if not finite:
        raise DifferentiationError(
            f"the output {output!r} is {show(vals[output])}, not a finite "
            "number, so it has no derivative here"
        )
    return vals, adj


def reverse_trace(graph: Graph, output: str, inputs=None, seed: int = 0) -> Trace:
    """Reverse mode: forward sweep (one step per node), then backward sweep with contributions."""
    graph = _check_graph(graph)
    _check_output(graph, output, scalar=True)
    sources = _sources(graph, inputs, seed)
    steps, (vals, adj) = _drain(_reverse(graph, output, sources, None, record=True))
    summary = dict(
        values=vals,
        adjoints=adj,
        forward_steps=len(graph.nodes),
        saved_bytes=saved_bytes(graph, adj),
        gradients={
            n.name: adj.get(n.name, np.zeros_like(vals[n.name]))
            for n in graph.nodes
            if n.op in DIFFERENTIABLE_SOURCES
        },
    )
    return Trace(tuple(steps), f"Reverse mode on {graph.title or 'the graph'}", summary)


def scalarize(graph: Graph, output: str) -> tuple[Graph, str]:
    """``graph`` plus a node ``sum(output)`` = reduce_sum of ``output`` (reverse mode needs a scalar)."""
    node = _check_output(graph, output, scalar=False)
    if budget.numel(node.shape) == 1 and node.shape == ():
        return graph, output
    name = f"sum({output})"
    total = Node(name, "reduce_sum", (output,), (), ())
    return Graph(graph.nodes + (total,), (name,), graph.title), name


def saved_bytes(graph: Graph, adjoints: dict) -> int:
    """Bytes of the forward values the backward sweep read: the price of reverse mode."""
    read = {i for n in graph.nodes if n.name in adjoints and not n.is_source for i in n.inputs}
    read |= {n.name for n in graph.nodes if n.name in adjoints and not n.is_source}
    return sum(budget.numel(graph.node(k).shape) * 4 for k in read)


def _drain(gen) -> tuple[list, Any]:
    steps = []
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return steps, stop.value
        if step is not None:
            steps.append(step)


# -- the plain API --------------------------------------------------------------------------------
def grad(
    graph: Graph, output: str, wrt: list[str], inputs=None, seed: int = 0, mode: str = "reverse"
) -> dict[str, np.ndarray]:
    """d output / d w for every w in ``wrt`` (``output`` must be a scalar); arrays shaped like w."""
    graph = _check_graph(graph)
    _check_output(graph, output, scalar=True)
    wrt = _check_wrt(graph, wrt)
    if mode == "forward":
        _forward_sweeps(graph, wrt)
    sources = _sources(graph, inputs, seed)
    if mode == "reverse":
        _, (vals, adj) = _drain(_reverse(graph, output, sources, wrt, record=False))
        return {w: np.asarray(adj[w]) if w in adj else np.zeros_like(vals[w]) for w in wrt}
    if mode == "forward":
        columns, _, _ = _forward_columns(graph, output, sources, wrt)
        return {w: columns[w].reshape(graph.node(w).shape).astype(sources[w].dtype) for w in wrt}
    raise EngineError(f"mode must be 'forward' or 'reverse', got {mode!r}")


def value_and_grad_fn(graph: Graph, output: str, wrt: list[str], fed: list[str], seed: int = 0):
    """A function ``feed -> (output value, {w: d output / d w})`` for a training loop.

    One reverse sweep gives both (its forward sweep has the loss already, so a loop needs no second
    forward run for it). Everything that does not change between steps is done here, once: the
    graph, output and ``wrt`` are checked, the budget (:func:`_check_graph`) is checked for one
    sweep, and the values of the sources not in ``fed`` (constants, defaults) are made, read-only.
    Each call then checks only that ``feed`` gives exactly the ``fed`` names with their nodes'
    shapes (as :func:`~engine.core.interpreter.run` would), so the work of every call is the one
    that was checked. Values are those of :func:`grad` with ``inputs=feed`` and ``seed``.
    """
    graph = _check_graph(graph)
    _check_output(graph, output, scalar=True)
    wrt = _check_wrt(graph, wrt)
    names = list(dict.fromkeys(fed))
    for name in names:
        if name not in graph or graph.node(name).op not in DIFFERENTIABLE_SOURCES:
            raise GraphError(f"{name!r} is not an input or param of the graph; only those can be fed values")
    shapes = {name: graph.node(name).shape for name in names}
    fixed = {n.name: source_value(n, seed) for n in graph.nodes if n.is_source and n.name not in shapes}
    for value in fixed.values():
        value.setflags(write=False)  # shared by every call

    def step(feed: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if set(feed) != set(shapes):
            raise GraphError(
                f"the step was made for the values {sorted(shapes)}, but the feed gives {sorted(feed)}"
            )
        sources = dict(fixed)
        for name, shape in shapes.items():
            try:
                arr = np.asarray(feed[name], dtype=np.float32)
            except (TypeError, ValueError):
                raise ShapeError(f"the value given for {name!r} is not an array of numbers") from None
            if arr.shape != shape:
                raise ShapeError(
                    f"{graph.node(name).op} {name!r} has shape {list(shape)} but the given value has "
                    f"shape {list(arr.shape)}"
                )
            sources[name] = arr
        _, (vals, adj) = _drain(_reverse(graph, output, sources, wrt, record=False))
        grads = {w: np.asarray(adj[w]) if w in adj else np.zeros_like(vals[w]) for w in wrt}
        return np.asarray(vals[output]), grads

    return step


def _forward_sweeps(graph: Graph, wrt: list[str]) -> int:
    """One JVP sweep per element of the wrt tensors, refused over budget before any runs."""
    sweeps = sum(budget.numel(graph.node(w).shape) for w in wrt)
    budget.check_steps(sweeps * len(graph.nodes), f"forward mode ({sweeps} sweeps)")
    _check_work(graph, sweeps)
    return sweeps


def _reverse_sweeps(graph: Graph, output: str) -> int:
    """One VJP sweep per element of the output (a Jacobian by rows), refused over budget."""
    m = budget.numel(graph.node(output).shape)
    budget.check_steps(m * len(graph.nodes), f"reverse mode ({m} sweeps)")
    _check_work(graph, m)
    return m


def _forward_columns(graph: Graph, output: str, sources: dict, wrt: list[str]):
    """One JVP sweep per element of the wrt tensors; returns ({w: (m, size_w)}, sweeps, rule calls)."""
    sweeps = _forward_sweeps(graph, wrt)
    _, (vals, _) = _drain(_jvp_sweep(graph, sources, {}, record=False))
    calls = 0
    columns = {}
    m = budget.numel(graph.node(output).shape)
    for w in wrt:
        size = budget.numel(graph.node(w).shape)
        cols = np.zeros((m, size), dtype=np.float64)
        for k in range(size):
            seed = np.zeros(size, vals[w].dtype)
            seed[k] = 1
            _, (_, dots) = _drain(
                _jvp_sweep(graph, sources, {w: seed.reshape(vals[w].shape)}, record=False, values=vals)
            )
            calls += sum(1 for n in graph.nodes if not n.is_source and dots.get(n.name) is not None)
            d = dots.get(output)
            cols[:, k] = 0.0 if d is None else np.asarray(d, np.float64).ravel()
        columns[w] = cols
    return columns, sweeps, calls


def jacobian(
    graph: Graph, output: str, wrt: list[str], inputs=None, seed: int = 0, mode: str = "reverse"
) -> JacobianResult:
    """The (m, n) Jacobian of ``output`` (m elements) by the wrt elements (n), counting the work."""
    graph = _check_graph(graph)
    out = _check_output(graph, output, scalar=False)
    wrt = _check_wrt(graph, wrt)
    if mode == "forward":
        _forward_sweeps(graph, wrt)
    else:
        _reverse_sweeps(graph, output)
    sources = _sources(graph, inputs, seed)
    primal = sum(1 for n in graph.nodes if not n.is_source)
    if mode == "forward":
        cols, sweeps, calls = _forward_columns(graph, output, sources, wrt)
        return JacobianResult(np.concatenate([cols[w] for w in wrt], axis=1), mode, sweeps, calls, primal)
    if mode != "reverse":
        raise EngineError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    m = budget.numel(out.shape)
    _, (vals, _) = _drain(_jvp_sweep(graph, sources, {}, record=False))
    need = _needs_grad(graph, wrt)
    rows, counter = [], [0]
    for k in range(m):
        seed_adj = np.zeros(m)
        seed_adj[k] = 1
        _, adj = _drain(_vjp_sweep(graph, output, vals, need, False, seed_adj, counter))
        rows.append(
            np.concatenate([np.asarray(adj.get(w, np.zeros_like(vals[w])), np.float64).ravel() for w in wrt])
        )
    return JacobianResult(np.stack(rows), mode, m, counter[0], primal)
