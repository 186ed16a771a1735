"""What the control-flow lab needs besides the conversion (control_flow.py): the example functions,
the inputs every lens runs on, the side-by-side table of eager vs converted graph, the converted
graph as code and as a drawing, and the two ways to implement autodiff on the same function.

* :data:`EXAMPLES`: functions with an ``if``/``while`` on data (and two without: a plain counter
  loop, a per-element ``where``), plus one mistake the conversion refuses;
* :func:`sample_inputs`: one random draw, its first parameter scaled by :data:`SCALES` (x1 is the
  example tracing sees; x-1 flips the sign of everything linear in it, so it usually takes the
  other branch);
* :func:`compare`: for each input, the path eager Python took and the values of eager and of the
  converted graph;
* :func:`converted_text`, :func:`graph_dag`: the graph as code and as a picture (regions shaded);
* :func:`autodiff_ways`: the tape (operator overloading) and the generated derivative program
  (source transformation) on the same input, with their gradients.
Not handled: functions returning several values in :func:`autodiff_ways` (the source
transformation differentiates one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from .control_flow import GOp, GraphProgram, Region, run_graph, to_graph_ops
from .function_eval import execute, path_summary
from .function_language import Function, parse_functions
from .function_ops import OPS
from .source_transform import DerivativeProgram, reverse_program
from .tape import TapeResult, grad_by_tape

SCALES = (1.0, -1.0, 0.2, 3.0, -0.2, -3.0)


@dataclass(frozen=True)
class Example:
    title: str
    text: str


EXAMPLES = {
    "branch_on_value": Example(
        "an if on a tensor's value",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x @ w\n    if sum(h) > 0:\n        y = sin(h)\n"
        "    else:\n        y = cos(h) * 2\n    return sum(y)\n",
    ),
    "loop_until": Example(
        "a while loop whose trip count depends on the data",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x @ w\n    while sum(abs(h)) < 10:\n        h = h * 2\n"
        "    return sum(h)\n",
    ),
    "newton_sqrt": Example(
        "Newton's square root: loop until it converges",
        "def f(x: [3]):\n    a = abs(x) + 1\n    y = a\n    while sum(abs(y * y - a)) > 0.000001:\n"
        "        y = 0.5 * (y + a / y)\n    return sum(y)\n",
    ),
    "loop_with_branch": Example(
        "an if inside a while",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x @ w\n    while sum(h * h) < 20:\n        if sum(h) > 0:\n"
        "            h = h * 2\n        else:\n            h = h - 1\n    return sum(tanh(h))\n",
    ),
    "fixed_loop": Example(
        "a loop on a plain counter (no tensor in the test)",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x\n    k = 0\n    while k < 3:\n        h = tanh(h @ w)\n"
        "        k = k + 1\n    return sum(h)\n",
    ),
    "select_not_branch": Example(
        "where(): a choice per element, not control flow",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x @ w\n    y = where(h > 0, h, 0.1 * h)\n"
        "    return sum(y * y)\n",
    ),
    "one_branch_mistake": Example(
        "mistake: a name assigned in one branch only",
        "def f(x: [4, 3], w: [3, 3]):\n    h = x @ w\n    if sum(h) > 0:\n        y = relu(h)\n"
        "    return sum(y)\n",
    ),
}


def example_text(name: str) -> str:
    if name not in EXAMPLES:
        raise EngineError(f"there is no example named {name!r}; choose one of {', '.join(EXAMPLES)}")
    return EXAMPLES[name].text


def parse(text: str) -> Function:
    """The first function of ``text`` (the one every lens looks at)."""
    return parse_functions(text).functions[0]


def sample_inputs(fn: Function, seed: int = 0) -> list[dict]:
    """One draw per parameter (float64); the first parameter scaled by each of :data:`SCALES`."""
    budget.check_work(sum(budget.numel(s) for s in fn.shapes) * len(SCALES), "the sample inputs")
    rng = np.random.default_rng(seed)
    base = {p: rng.normal(size=s) for p, s in zip(fn.params, fn.shapes)}
    first = fn.params[0] if fn.params else ""
    return [{p: v * scale if p == first else v for p, v in base.items()} for scale in SCALES]


def _number(value) -> float:
    return float(np.sum(value))


@dataclass(frozen=True)
class Row:
    scale: float
    path: tuple[str, ...]
    eager: float | None
    graph: float | None
    error: str = ""  # eager's error on this input

    @property
    def same(self) -> bool:
        return self.eager is not None and self.graph is not None and np.isclose(self.eager, self.graph)


@dataclass(frozen=True)
class Comparison:
    graph: GraphProgram | None
    conversion_error: str
    rows: tuple[Row, ...]


def compare(text: str, seed: int = 0) -> Comparison:
    """Eager runs and the converted graph on every sample input (stage by stage, see the module)."""
    fn = parse(text)
    try:
        graph, problem = to_graph_ops(fn), ""
    except EngineError as exc:
        graph, problem = None, str(exc)
    rows = []
    for k, inputs in enumerate(sample_inputs(fn, seed)):
        try:
            run = execute(fn, inputs)
            eager, path, error = _number(run.value), path_summary(run.path), ""
        except EngineError as exc:
            eager, path, error = None, (), str(exc)
        value = None
        if graph is not None and not problem:
            try:
                value = _number(run_graph(graph, inputs, check_both=k == 0)[0])
            except EngineError as exc:
                problem = str(exc)
        rows.append(Row(SCALES[k], path, eager, value, error))
    return Comparison(graph if not problem else None, problem, tuple(rows))


# -- printing and drawing -----------------------------------------------------------------------------
def _call_text(g: GOp) -> str:
    spec = OPS.get(g.op)
    args = list(g.args)
    if g.op in ("cond", "while_loop"):
        head, operands = (args[:1], args[1:]) if g.op == "cond" else ([], args)
        packed = "(" + ", ".join(operands) + ("," if len(operands) == 1 else "") + ")"
        return f"{g.op}({', '.join([*head, g.regions[0].name, g.regions[1].name, packed])})"
    if spec is not None and spec.symbol and len(args) == 2:
        return f"{args[0]} {spec.symbol} {args[1]}"
    attrs = "".join(f", {k}={v}" for k, v in g.attrs if v is not None)
    return f"{g.op}({', '.join(args)}{attrs})"


def _region_lines(region: Region, depth: int, lines: list[str]) -> None:
    pad = "    " * depth
    for g in region.ops:
        for r in g.regions:
            lines.append(f"{pad}def {r.name}({', '.join(r.params)}):")
            _region_lines(r, depth + 1, lines)
        outs = g.outs[0] if len(g.outs) == 1 else "(" + ", ".join(g.outs) + ")" if g.outs else "_"
        lines.append(f"{pad}{outs} = {_call_text(g)}")
    lines.append(f"{pad}return {', '.join(region.results)}")


def converted_text(program: GraphProgram) -> str:
    """The graph as code: nested defs are the regions, each cond/while_loop an op that takes them."""
    lines = [f"def {program.name}({', '.join(program.main.params)}):"]
    _region_lines(program.main, 1, lines)
    return "\n".join(lines) + "\n"


def graph_dag(program: GraphProgram):
    """The converted graph as a graph_capture.Dag: one node per op, each region's ops grouped; a
    region's parameters are drawn as the outer values they stand for."""
    from .graph_capture import Dag, DagNode

    nodes = [DagNode(p, p, "input") for p in program.main.params]
    made = {p: p for p in program.main.params}  # value -> node that makes it
    edges: list[tuple[str, str]] = []
    groups: list[tuple[str, tuple[str, ...]]] = []

    def link(value: str, alias: dict, nid: str) -> None:
        while value in alias:  # a region parameter stands for the outer value passed in
            value = alias[value]
        if value in made:
            edges.append((made[value], nid))

    def add(region: Region, alias: dict) -> list[str]:
        ids = []
        for g in region.ops:
            nid = f"{g.op}:{'/'.join(g.outs)}"
            nodes.append(DagNode(nid, g.op))
            ids.append(nid)
            if g.op == "cond":
                link(g.args[0], alias, nid)
            for r in g.regions:
                inner = {**alias, **dict(zip(r.params, _region_args(g, r)))}
                groups.append((r.name, tuple(add(r, inner))))
                for res in r.results:
                    link(res, inner, nid)
            if not g.regions:
                for a in g.args:
                    link(a, alias, nid)
            made.update(dict.fromkeys(g.outs, nid))
        return ids

    add(program.main, {})
    edges = list(dict.fromkeys(e for e in edges if e[0] != e[1]))
    return Dag(tuple(nodes), tuple(edges), "converted graph", tuple(groups))


def _region_args(g: GOp, r: Region) -> tuple[str, ...]:
    return g.args[1:] if g.op == "cond" else g.args


@dataclass(frozen=True)
class Ways:
    """The same gradient by the two implementation techniques (and their sizes)."""

    tape: TapeResult
    program: DerivativeProgram
    by_program: dict  # parameter -> gradient from running the generated program
    max_difference: float


def autodiff_ways(text: str, seed: int = 0, which: int = 0) -> Ways:
    """Tape and source transformation of the function on sample input ``which``."""
    fn = parse(text)
    inputs = sample_inputs(fn, seed)[which % len(SCALES)]
    tape = grad_by_tape(fn, inputs)
    derived = reverse_program(fn)
    generated = parse_functions(derived.text, allow_stack=True).functions[0]
    out = execute(generated, inputs, max_steps=8 * 20_000).outputs
    grads = {p: np.asarray(g, dtype=np.float64) for p, g in zip(fn.params, out)}
    diff = max((float(np.max(np.abs(grads[p] - tape.grads[p]), initial=0.0)) for p in fn.params), default=0.0)
    return Ways(tape, derived, grads, diff)
