"""The four ways to differentiate, side by side: manual, numeric, symbolic and automatic.

Stages:
  1. **expressions**: a tiny immutable expression tree (:class:`Expr`) with ``var``, ``const`` and the
     scalar ops add, sub, mul, div, neg, pow (constant exponent), exp, log, sin, cos, tanh.
     :func:`expr_from_graph` inlines a scalar graph into one tree (a value used twice is *copied*
     into both places — the tree view of a program);
  2. **symbolic differentiation** (:func:`diff`): the textbook rules applied to the tree, memoised on
     shared subtrees so the *work* stays linear, while the *tree size* of the result (what a computer
     algebra system prints) can grow exponentially with nesting — expression swell. :func:`simplify`
     folds constants and drops x*1, x+0, x*0; swell remains;
  3. **numeric differentiation** (:func:`difference_sweep`): forward (f(x+h)-f(x))/h and central
     (f(x+h)-f(x-h))/2h over a range of h; truncation error falls with h (O(h), O(h^2)) while
     round-off grows as eps/h, giving the U-shape on a log-log plot;
  4. **swell table** (:func:`swell_table`): for the logistic map l_(n+1) = 4 l_n (1 - l_n) of
     Baydin et al. (2018) Table 1, the tree sizes of l_n, of d l_n/dx (naive and simplified) and
     the size of the AD evaluation trace (3 ops per step: linear in n).
Not handled: tensors (scalar expressions only), symbolic simplification beyond the local rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph, GraphBuilder

UNARY = ("neg", "exp", "log", "sin", "cos", "tanh")
BINARY = ("add", "sub", "mul", "div", "pow")
MAX_SYMBOLIC_OPS = 200  # expression depth stays far below Python's recursion limit
MAX_DEPTH = 40


@dataclass(frozen=True)
class Expr:
    op: str  # var, const, or an op name
    args: tuple[Expr, ...] = ()
    name: str = ""  # for var
    value: float = 0.0  # for const


def var(name: str) -> Expr:
    return Expr("var", name=name)


def const(v: float) -> Expr:
    return Expr("const", value=float(v))


def call(op: str, *args: Expr) -> Expr:
    return Expr(op, tuple(args))


# -- sizes and printing ---------------------------------------------------------------------------
def tree_size(e: Expr) -> int:
    """Nodes of the expression written out as a tree (shared subtrees counted every time)."""
    memo: dict[int, int] = {}

    def go(x: Expr) -> int:
        k = id(x)
        if k not in memo:
            memo[k] = 1 + sum(go(a) for a in x.args)
        return memo[k]

    return go(e)


def dag_size(e: Expr) -> int:
    """Distinct nodes (shared subtrees counted once): what an AD trace or a CSE'd program stores."""
    seen: set[Expr] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if x not in seen:
            seen.add(x)
            stack.extend(x.args)
    return len(seen)


_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}


def to_text(e: Expr, limit: int = 400) -> str:
    """Infix text, cut at ``limit`` characters (a swollen tree does not fit on any page)."""
    parts: list[str] = []
    used = [0]

    def emit(s: str) -> None:
        if used[0] < limit:
            parts.append(s)
        used[0] += len(s)

    def go(x: Expr) -> None:
        if used[0] >= limit:
            return
        if x.op == "var":
            emit(x.name)
        elif x.op == "const":
            emit(f"{x.value:g}")
        elif x.op in _INFIX:
            emit("(")
            go(x.args[0])
            emit(f" {_INFIX[x.op]} ")
            go(x.args[1])
            emit(")")
        else:
            emit(f"{'-' if x.op == 'neg' else x.op}(")
            go(x.args[0])
            emit(")")

    go(e)
    text = "".join(parts)
    return text[:limit] + " ..." if used[0] > limit else text


# -- evaluation -------------------------------------------------------------------------------------
_FN = {
    "neg": np.negative,
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
}


def evaluate(e: Expr, env: dict[str, float], dtype: str = "float64") -> float:
    """Value of ``e`` with variables from ``env``, every operation rounded to ``dtype``."""
    t = np.dtype(dtype).type
    memo: dict[int, object] = {}

    def go(x: Expr):
        k = id(x)
        if k in memo:
            return memo[k]
        if x.op == "var":
            if x.name not in env:
                raise EngineError(f"no value given for variable {x.name!r}")
            v = t(env[x.name])
        elif x.op == "const":
            v = t(x.value)
        else:
            v = t(_FN[x.op](*[go(a) for a in x.args]))
        memo[k] = v
        return v

    with np.errstate(all="ignore"):
        return float(go(e))


# -- symbolic differentiation -------------------------------------------------------------------
ZERO, ONE = const(0.0), const(1.0)


def diff(e: Expr, wrt: str) -> Expr:
    """d e / d wrt by the textbook rules, no simplification (memoised on shared subtrees)."""
    memo: dict[int, Expr] = {}

    def d(x: Expr) -> Expr:
        k = id(x)
        if k in memo:
            return memo[k]
        memo[k] = out = _rule(x, d)
        return out

    def _rule(x: Expr, d) -> Expr:
        op, a = x.op, x.args
        if op == "var":
            return ONE if x.name == wrt else ZERO
        if op == "const":
            return ZERO
        if op in ("add", "sub"):
            return call(op, d(a[0]), d(a[1]))
        if op == "mul":  # product rule
            return call("add", call("mul", d(a[0]), a[1]), call("mul", a[0], d(a[1])))
        if op == "div":  # quotient rule
            num = call("sub", call("mul", d(a[0]), a[1]), call("mul", a[0], d(a[1])))
            return call("div", num, call("mul", a[1], a[1]))
        if op == "pow":  # constant exponent only
            if a[1].op != "const":
                raise EngineError("symbolic pow handles a constant exponent only")
            return call("mul", call("mul", a[1], call("pow", a[0], const(a[1].value - 1))), d(a[0]))
        if op == "neg":
            return call("neg", d(a[0]))
        inner = {
            "exp": lambda: x,
            "log": lambda: call("div", ONE, a[0]),
            "sin": lambda: call("cos", a[0]),
            "cos": lambda: call("neg", call("sin", a[0])),
            "tanh": lambda: call("sub", ONE, call("mul", x, x)),
        }[op]()
        return call("mul", inner, d(a[0]))  # chain rule

    return d(e)


def simplify(e: Expr) -> Expr:
    """Local rules only: constant folding, x*1 = x, x*0 = 0, x+0 = x, x-0 = x, --x = x."""
    memo: dict[int, Expr] = {}

    def s(x: Expr) -> Expr:
        k = id(x)
        if k in memo:
            return memo[k]
        if not x.args:
            memo[k] = x
            return x
        args = tuple(s(a) for a in x.args)
        out = _local(x.op, args)
        memo[k] = out
        return out

    return s(e)


def _is(x: Expr, v: float) -> bool:
    return x.op == "const" and x.value == v


def _local(op: str, a: tuple[Expr, ...]) -> Expr:
    if all(x.op == "const" for x in a):
        with np.errstate(all="ignore"):
            return const(float(_FN[op](*[x.value for x in a])))
    if op == "mul":
        if _is(a[0], 0) or _is(a[1], 0):
            return ZERO
        if _is(a[0], 1):
            return a[1]
        if _is(a[1], 1):
            return a[0]
    if op == "add":
        if _is(a[0], 0):
            return a[1]
        if _is(a[1], 0):
            return a[0]
    if op == "sub" and _is(a[1], 0):
        return a[0]
    if op == "sub" and _is(a[0], 0):
        return call("neg", a[1])
    if op == "neg" and a[0].op == "neg":
        return a[0].args[0]
    if op == "div" and _is(a[1], 1):
        return a[0]
    return Expr(op, a)


# -- graphs <-> expressions ---------------------------------------------------------------------
def expr_from_graph(graph: Graph, output: str | None = None) -> Expr:
    """Inline a scalar graph into one expression tree (inputs/params become variables)."""
    output = output or graph.outputs[0]
    if len(graph.op_nodes) > MAX_SYMBOLIC_OPS:  # the tree walks below recurse once per level
        raise EngineError(
            f"symbolic differentiation here takes programs of at most "
            f"{MAX_SYMBOLIC_OPS} ops; this one has {len(graph.op_nodes)}"
        )
    env: dict[str, Expr] = {}
    for node in graph.nodes:
        if node.shape not in ((), (1,)):
            raise EngineError(
                f"symbolic differentiation here takes scalar programs; {node.name!r} "
                f"has shape {list(node.shape)}"
            )
        if node.op in ("input", "param"):
            env[node.name] = var(node.name)
        elif node.op == "constant":
            env[node.name] = const(float(np.asarray(node.attr("value").array).ravel()[0]))
        elif node.op in UNARY + BINARY or node.op == "identity":
            args = [env[i] for i in node.inputs]
            env[node.name] = args[0] if node.op == "identity" else call(node.op, *args)
        else:
            raise EngineError(
                f"symbolic differentiation here knows {', '.join(UNARY + BINARY)}; "
                f"node {node.name!r} uses {node.op!r}"
            )
        if node.name == output:
            break
    if output not in env:
        raise EngineError(f"no node named {output!r}")
    return env[output]


def logistic_expr(n: int) -> Expr:
    """l_1 = x, l_(k+1) = 4 l_k (1 - l_k): Baydin et al. (2018) Table 1."""
    _check_depth(n)
    l_k = var("x")
    for _ in range(n - 1):
        l_k = call("mul", call("mul", const(4.0), l_k), call("sub", ONE, l_k))
    return l_k


def logistic_graph(n: int) -> Graph:
    """The same function as a graph: 3 ops per step (sub, mul, mul) — the AD evaluation trace."""
    _check_depth(n)
    b = GraphBuilder(f"logistic map, n={n}")
    x = b.input(value=0.3, name="x")
    four, one = b.constant(4.0, name="four"), b.constant(1.0, name="one")
    l_k = x
    for _ in range(n - 1):
        l_k = b.op("mul", b.op("mul", four, l_k), b.op("sub", one, l_k))
    if l_k != x:
        b.bind("y", l_k)
    return b.build([l_k])


def _check_depth(n: int) -> None:
    if not isinstance(n, int) or not 1 <= n <= MAX_DEPTH:
        raise EngineError(f"nesting depth must be an integer from 1 to {MAX_DEPTH}, got {n!r}")


@dataclass(frozen=True)
class SwellRow:
    n: int
    f_size: int  # tree size of l_n
    naive_size: int  # tree size of d l_n / dx, textbook rules
    simplified_size: int  # after local simplification
    ad_trace: int  # op nodes in the AD evaluation trace (forward sweep)


def swell_table(max_n: int = 8) -> tuple[SwellRow, ...]:
    """Expression sizes for the logistic map l_1 .. l_max_n (see the module docstring, stage 4)."""
    _check_depth(max_n)
    rows = []
    for n in range(1, max_n + 1):
        f = logistic_expr(n)
        d = diff(f, "x")
        rows.append(SwellRow(n, tree_size(f), tree_size(d), tree_size(simplify(d)), 3 * (n - 1)))
    return tuple(rows)


# -- numeric differentiation -------------------------------------------------------------------
@dataclass(frozen=True)
class DifferenceRow:
    h: float
    forward: float
    central: float
    forward_error: float
    central_error: float


def difference_sweep(
    e: Expr,
    wrt: str,
    point: dict[str, float],
    exact: float,
    hs: Iterable[float] | None = None,
    dtype: str = "float64",
) -> tuple[DifferenceRow, ...]:
    """Forward and central differences of ``e`` in ``wrt`` for each step ``h``, with their errors."""
    hs = list(hs) if hs is not None else [10.0 ** (-k / 2) for k in range(0, 33)]
    budget.check_steps(len(hs), "the h sweep")
    if wrt not in point:
        raise EngineError(f"the point gives no value for {wrt!r}")
    rows = []
    f0 = evaluate(e, point, dtype)
    for h in hs:
        if not h > 0:
            raise EngineError(f"a step h must be positive, got {h!r}")
        x = point[wrt]
        t = np.dtype(dtype).type
        hp = float(t(t(x) + t(h)) - t(x))  # the step the floating-point numbers really took
        hm = float(t(x) - t(t(x) - t(h)))
        fp = evaluate(e, {**point, wrt: float(t(x) + t(h))}, dtype)
        fm = evaluate(e, {**point, wrt: float(t(x) - t(h))}, dtype)
        fwd = (fp - f0) / h if hp else math.nan
        cen = (fp - fm) / (2 * h) if hp and hm else math.nan
        rows.append(DifferenceRow(h, fwd, cen, abs(fwd - exact), abs(cen - exact)))
    return tuple(rows)


def best_step(rows: tuple[DifferenceRow, ...], which: str = "central") -> DifferenceRow:
    """The row with the smallest error (the bottom of the U)."""
    key = (lambda r: r.central_error) if which == "central" else (lambda r: r.forward_error)
    finite = [r for r in rows if math.isfinite(key(r))]
    if not finite:
        raise EngineError("no step h gave a finite difference")
    return min(finite, key=key)


# -- the four ways on one program ---------------------------------------------------------------
@dataclass(frozen=True)
class FourWays:
    var: str  # the input differentiated by
    point: dict  # where (every input's value)
    derivative: str  # the simplified symbolic derivative (the closed form)
    exact: float  # its value (float64)
    differences: tuple[DifferenceRow, ...]
    swell: tuple[SwellRow, ...]
    trace_ops: int  # op nodes of the program: the AD trace length
    fallback: bool  # True if the program was not scalar and the example was used


def four_ways(graph: Graph, dtype: str = "float64", depth: int = 8) -> FourWays:
    """Manual/symbolic, numeric, swell and AD-trace numbers for ``graph``'s first input.

    A program that is not scalar and elementwise is replaced by the survey's example.
    """
    from ..core.interpreter import run
    from ..core.presets import preset

    fallback = False
    try:
        expr = expr_from_graph(graph)
    except EngineError:
        graph, fallback = preset("autodiff_example"), True
        expr = expr_from_graph(graph)
    inputs = [n.name for n in graph.nodes if n.op == "input"]
    if not inputs:
        raise EngineError("the program has no input to differentiate by")
    values = run(graph)
    point = {name: float(np.asarray(values[name]).ravel()[0]) for name in inputs}
    deriv = diff(expr, inputs[0])
    exact = evaluate(deriv, point)
    rows = difference_sweep(expr, inputs[0], point, exact, dtype=dtype)
    return FourWays(
        inputs[0],
        point,
        to_text(simplify(deriv)),
        exact,
        rows,
        swell_table(depth),
        len(graph.op_nodes),
        fallback,
    )


def four_ways_text(program: str, dtype: str = "float64", depth: int = 8) -> FourWays:
    """:func:`four_ways` of a program given as text (what the lab page caches)."""
    from ..core.language import parse_program

    return four_ways(parse_program(program, title="program"), dtype, depth)
