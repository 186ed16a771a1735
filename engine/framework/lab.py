"""What only the framework pages need: the autodiff survey's printed tables beside our trace, and
the computations the autodiff and scheduling pages cache by their (hashable) inputs.

* :func:`survey_rows` / :func:`survey_check`: Baydin et al. (2018) Tables 2 and 3 next to our
  forward tangents and reverse adjoints, row by row;
* :func:`program_traces` / :func:`graph_traces`: trace a program (or any graph) in either mode;
* :func:`gradient_summary`: the gradients of a graph too large to step (one reverse sweep, under
  the autodiff budget), one row per input and parameter;
* :func:`jacobian_demo`: the full Jacobian of tanh(W x) by forward and by reverse mode, with the
  sweeps each needs;
* :func:`schedule_view`: the whole schedule of any graph with at most :data:`SCHEDULE_STEPS` of its
  decisions recorded for the stepper (a large graph is simulated in full, stepped in part).
Not handled: stepping a graph of more than :data:`STEP_LIMIT` nodes (a figure and a table row per
node stop being readable; :func:`gradient_summary` answers instead).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..core.errors import EngineError, ShapeError
from ..core.ir import Graph, GraphBuilder
from ..core.language import parse_program
from ..core.trace import Trace
from .autodiff import (
    DIFFERENTIABLE_SOURCES,
    JacobianResult,
    baydin_labels,
    forward_trace,
    grad,
    jacobian,
    reverse_trace,
    scalarize,
)
from .scheduling import Config, schedule_steps, schedule_trace, simulate

#: The autodiff stepper takes graphs of at most this many nodes (one figure node and table row each).
STEP_LIMIT = 60
#: The scheduling stepper records at most this many decisions; the rest are simulated unrecorded.
SCHEDULE_STEPS = 150

#: Baydin et al. (2018), JMLR 18(153), Tables 2 and 3, for f = ln x1 + x1 x2 - sin x2 at (2, 5),
#: as printed (3 decimals): the forward tangent of y with x1_dot = 1, and the reverse adjoints.
SURVEY_TABLES = {"forward_y_dot": 5.5, "adjoints": {"x1": 5.5, "x2": 1.716}}
#: The full tables, by the survey's v labels: Table 2 (primal, tangent with x1_dot = 1) and
#: Table 3 (each adjoint once the backward sweep is done).
SURVEY_TABLE2 = {
    "v-1": (2.0, 1.0),
    "v0": (5.0, 0.0),
    "v1": (0.693, 0.5),
    "v2": (10.0, 5.0),
    "v3": (-0.959, 0.0),
    "v4": (10.693, 5.5),
    "v5": (11.652, 5.5),
}
SURVEY_TABLE3 = {"v5": 1.0, "v4": 1.0, "v3": -1.0, "v2": 1.0, "v1": 1.0, "v0": 1.716, "v-1": 5.5}


def survey_rows(mode: str, graph: Graph, trace: Trace) -> list[dict]:
    """The survey's table next to ours, row by row: (v, source value, engine value, |difference|).

    Forward mode compares Table 2 (primal and tangent, for the seed x1_dot = 1); reverse mode
    Table 3 (final adjoints). Empty when ``graph`` is not the survey's example (7 nodes, v-1..v5).
    """
    labels = baydin_labels(graph)
    if sorted(labels.values()) != sorted(SURVEY_TABLE2) or len(graph.nodes) != 7:
        return []
    rows = []
    if mode == "forward":
        got = {labels[s.data["node"]]: (s.data["value"], s.data.get("tangent")) for s in trace.steps}
        if got.get("v-1", (0, 0))[1] != 1 or got.get("v0", (0, 1))[1] != 0:
            return []  # the survey seeds x1_dot = 1, x2_dot = 0
        for v, (primal, tangent) in SURVEY_TABLE2.items():
            value, dot = got.get(v, (None, None))
            if value is None or dot is None:
                return []
            rows.append(
                dict(
                    v=v,
                    source_value=primal,
                    value=float(value),
                    source_tangent=tangent,
                    tangent=float(dot),
                    diff=max(abs(primal - value), abs(tangent - dot)),
                )
            )
    else:
        adj = {
            labels[k]: float(np.asarray(a).ravel()[0])
            for k, a in ((trace.summary or {}).get("adjoints") or {}).items()
            if k in labels
        }
        for v, want in SURVEY_TABLE3.items():
            if v not in adj:
                return []
            rows.append(dict(v=v, source_adjoint=want, adjoint=adj[v], diff=abs(want - adj[v])))
    return rows


def survey_check(mode: str, trace: Trace) -> tuple[int, dict, float] | None:
    """(table number, engine values, largest difference) against :data:`SURVEY_TABLES`, for a
    trace of the survey's example (None when the trace has no comparable value)."""
    summary = trace.summary or {}
    if mode == "forward":
        dot = (summary.get("outputs") or {}).get("y")
        if dot is None:
            return None
        got, want, table = {"y": float(np.asarray(dot).ravel()[0])}, {"y": SURVEY_TABLES["forward_y_dot"]}, 2
    else:
        grads = summary.get("gradients") or {}
        if not all(k in grads for k in SURVEY_TABLES["adjoints"]):
            return None
        want, table = SURVEY_TABLES["adjoints"], 3
        got = {k: float(np.asarray(grads[k]).ravel()[0]) for k in want}
    return table, got, max(abs(got[k] - want[k]) for k in want)


def program_traces(program: str, mode: str, pick: str, total: bool = True) -> tuple[Graph, Trace]:
    """Parse ``program`` and trace it: forward mode seeded on source ``pick``, or reverse mode from
    output ``pick`` (a vector output is summed first when ``total``). Returns the traced graph."""
    return graph_traces(parse_program(program, title="program"), mode, pick, total)


def graph_traces(graph: Graph, mode: str, pick: str, total: bool = True) -> tuple[Graph, Trace]:
    """:func:`program_traces` on a graph already built (a preset, an upload, a zoo model)."""
    _differentiable(graph)
    if mode == "forward":
        return graph, forward_trace(graph, {pick: 1.0})
    if mode != "reverse":
        raise EngineError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    if total:
        graph, pick = scalarize(graph, pick)
    return graph, reverse_trace(graph, pick)


def jacobian_demo(n: int, m: int) -> tuple[JacobianResult, JacobianResult]:
    """f(x) = tanh(W x) with W of shape (m, n): the full Jacobian by forward and by reverse mode."""
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 256:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to 256")
    b = GraphBuilder(f"f: R^{n} -> R^{m}")
    x = b.input((n,), name="x")
    w = b.param((m, n), name="W")
    b.op("tanh", b.op("matmul", w, x), name="y")
    g = b.build()
    return jacobian(g, "y", ["x"], mode="forward"), jacobian(g, "y", ["x"], mode="reverse")


def _differentiable(graph: Graph) -> list[str]:
    """The inputs and params of ``graph``; an EngineError saying so when it has none."""
    wrt = [n.name for n in graph.nodes if n.op in DIFFERENTIABLE_SOURCES]
    if not wrt:
        raise EngineError("the graph has no input or param to differentiate by")
    return wrt


def gradient_summary(graph: Graph, output: str | None = None) -> tuple[str, list[dict]]:
    """The gradient of ``sum(output)`` (the first output by default) with respect to every input and
    parameter, by one reverse sweep (:func:`engine.framework.autodiff.grad`, which checks its budget
    first). Returns (the differentiated node, rows of name, op, shape, elements, mean |g|, max |g|,
    L2 norm)."""
    output = graph.outputs[0] if output is None and graph.outputs else output
    graph, total = scalarize(graph, output)
    wrt = _differentiable(graph)
    grads = grad(graph, total, wrt)
    rows = []
    for name in wrt:
        node, g = graph.node(name), np.abs(np.asarray(grads[name], dtype=np.float64))
        rows.append(
            dict(
                name=name,
                op=node.op,
                shape=str(list(node.shape)),
                elements=int(g.size),
                mean_abs=float(g.mean()) if g.size else 0.0,
                max_abs=float(g.max()) if g.size else 0.0,
                l2_norm=float(np.sqrt((g * g).sum())),
            )
        )
    return total, rows


def schedule_view(
    graph: Graph, mode: str, placement: str, config: Config, steps: int = SCHEDULE_STEPS
) -> Trace:
    """The schedule of ``graph`` as a trace for the stepper: every decision for a graph of at most
    ``steps`` ops; for a larger one the first ``steps`` decisions, with the whole schedule (simulated
    without recording, so memory stays linear in the graph) as the summary."""
    if not graph.op_nodes:
        raise EngineError(
            "the graph has no op to schedule, only inputs and params; add an op or pick an example"
        )
    if len(graph.op_nodes) <= steps:
        return schedule_trace(graph, mode, placement, config)
    schedule = simulate(graph, mode, placement, config)
    gen = schedule_steps(graph, mode, placement, config, record=True)
    first = tuple(itertools.islice(gen, steps))
    gen.close()
    return Trace(first, f"FIFO schedule ({mode}, {placement})", schedule)
