"""Control flow in graphs: the student's function with ``if``/``while`` on data, converted to graph ops.

The function is written in the function language (function_language.py) and runs eagerly in our
interpreter. :func:`to_graph_ops` is the dynamic-to-static conversion of PaddlePaddle's
``@to_static`` and MindSpore's graph mode (and TensorFlow's AutoGraph): it reads the syntax tree,
not a run, so both branches and the whole loop become part of one graph. Stages:
  1. straight-line code becomes one op per value, in SSA form (every assignment a new name:
     ``y_4``); a name reassigned later simply gets a newer version;
  2. an ``if`` becomes one ``cond(pred, then_k, else_k, operands)`` op: the names either branch
     assigns are its outputs; each branch becomes a region (a small graph) taking the values it
     reads as parameters and returning the outputs. A name assigned in one branch only, with no
     value before the ``if``, has nothing to return on the other path: refused, as Paddle does;
  3. a ``while`` becomes one ``while_loop(cond_k, body_k, loop values, captured values)`` op: the
     names the body assigns are the loop-carried values and must exist before the loop; the test
     and the body are regions over them (a value first made inside the loop is refused);
  4. :func:`run_graph` interprets the graph: ``cond`` runs the region its predicate picks (and, on
     request, the other one too, to check that both give the same shapes, as a static graph's type
     check would); ``while_loop`` runs its body region while its test region says so, checking
     that every trip keeps the carried values' shapes (TensorFlow's shape invariants).
control_flow_lab.py prints the graph as code and draws it. Not handled: ``return`` inside a branch (the
language allows one ``return`` at the end), nested functions, ``break``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

from ..core.errors import BudgetError, EngineError, ProgramError, ShapeError
from .function_checker import BIN_SYMBOL, CMP_SYMBOL, literal_number
from .function_eval import NUMPY
from .function_language import Function
from .function_ops import BINARY_SYMBOLS, COMPARE_SYMBOLS
from .function_ops import NUMPY as NUMPY_OPS

MAX_GRAPH_STEPS = 50_000  # ops one graph run may execute


@dataclass(frozen=True)
class GOp:
    outs: tuple[str, ...]
    op: str
    args: tuple[str, ...]  # value names or number literals as text
    attrs: tuple = ()
    regions: tuple = ()  # cond: (then, else); while_loop: (test, body)
    line: int = 0


@dataclass(frozen=True)
class Region:
    name: str
    params: tuple[str, ...]
    ops: tuple[GOp, ...]
    results: tuple[str, ...]


@dataclass(frozen=True)
class GraphProgram:
    name: str
    main: Region

    def count(self, op: str) -> int:
        """How many ops named ``op`` the graph holds, regions included."""
        return sum(1 for g in _walk(self.main) if g.op == op)


def _walk(region: Region):
    for g in region.ops:
        yield g
        for r in g.regions:
            yield from _walk(r)


def _assigned(stmts) -> list[str]:
    names: list[str] = []
    for st in stmts:
        for node in ast.walk(st):
            if isinstance(node, ast.Assign):
                names.append(node.targets[0].id)
            elif isinstance(node, ast.AugAssign):
                names.append(node.target.id)
    return sorted(set(names))


def _reads(nodes) -> set[str]:
    out = set()
    for n in nodes:
        for node in ast.walk(n):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                out.add(node.id)
            elif isinstance(node, ast.AugAssign):
                out.add(node.target.id)
    return out


class _Convert:
    """Stages 1-3: statements to ops, with a counter for fresh names."""

    def __init__(self):
        self.n = 0

    def fresh(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def value(self, node: ast.AST, env: dict, ops: list, name: str = "t") -> str:
        num = literal_number(node)
        if num is not None:
            return repr(num)
        if isinstance(node, ast.Name):
            return env[node.id]
        op, args, attrs = self.parts(node, env, ops)
        out = self.fresh(name)
        ops.append(
            GOp((out,), op, tuple(args), tuple(sorted(attrs.items())), line=getattr(node, "lineno", 0))
        )
        return out

    def parts(self, node, env, ops):
        if isinstance(node, ast.BinOp):
            args = [self.value(node.left, env, ops), self.value(node.right, env, ops)]
            return BINARY_SYMBOLS[BIN_SYMBOL[type(node.op)]], args, {}
        if isinstance(node, ast.UnaryOp):
            inner = self.value(node.operand, env, ops)
            if isinstance(node.op, ast.UAdd):
                return "add", [inner, "0.0"], {}
            return ("neg" if isinstance(node.op, ast.USub) else "logical_not"), [inner], {}
        if isinstance(node, ast.Compare):
            args = [self.value(node.left, env, ops), self.value(node.comparators[0], env, ops)]
            return COMPARE_SYMBOLS[CMP_SYMBOL[type(node.ops[0])]], args, {}
        if isinstance(node, ast.BoolOp):
            name = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
            value = self.value(node.values[0], env, ops)
            for other in node.values[1:-1]:
                out = self.fresh("t")
                ops.append(GOp((out,), name, (value, self.value(other, env, ops))))
                value = out
            return name, [value, self.value(node.values[-1], env, ops)], {}
        attrs = {k.arg: _axis(k.value) for k in node.keywords}
        return node.func.id, [self.value(a, env, ops) for a in node.args], attrs

    def block(self, stmts, env: dict, ops: list) -> None:
        for st in stmts:
            if isinstance(st, (ast.Assign, ast.AugAssign)):
                target = st.targets[0].id if isinstance(st, ast.Assign) else st.target.id
                value = st.value
                if isinstance(st, ast.AugAssign):
                    value = ast.BinOp(ast.Name(target, ast.Load()), st.op, st.value)
                if isinstance(value, ast.Name):
                    env[target] = env[value.id]
                else:
                    env[target] = self.value(value, env, ops, target)
            elif isinstance(st, ast.If):
                self.cond(st, env, ops)
            elif isinstance(st, ast.While):
                self.loop(st, env, ops)

    def region(self, name: str, stmts, env: dict, inputs: list[str], results: list[str], test=None):
        inner = {v: self.fresh(v) for v in inputs}
        local = {**env, **inner}
        ops: list = []
        self.block(stmts, local, ops)
        out = [self.value(test, local, ops, "pred")] if test is not None else [local[v] for v in results]
        return Region(name, tuple(inner[v] for v in inputs), tuple(ops), tuple(out))

    def cond(self, st: ast.If, env: dict, ops: list) -> None:
        pred = self.value(st.test, env, ops, "pred")
        outs = _assigned(st.body + st.orelse)
        for v in outs:
            missing = [b for b, body in (("then", st.body), ("else", st.orelse)) if v not in _assigned(body)]
            if v not in env and missing:
                raise ProgramError(
                    f"{v!r} is assigned only in one branch of this if and has no value before it: "
                    f"a cond op must give {v!r} a value on both paths (assign it before the if)",
                    st.lineno,
                    st.col_offset + 1,
                )
        inputs = sorted((_reads(st.body + st.orelse) | set(outs)) & set(env))
        k = self.fresh("")[1:]
        then = self.region(f"then_{k}", st.body, {}, inputs, outs)
        other = self.region(f"else_{k}", st.orelse, {}, inputs, outs)
        new = tuple(self.fresh(v) for v in outs)
        ops.append(GOp(new, "cond", (pred, *(env[v] for v in inputs)), regions=(then, other), line=st.lineno))
        env.update(zip(outs, new))

    def loop(self, st: ast.While, env: dict, ops: list) -> None:
        carried = _assigned(st.body)
        for v in carried:
            if v not in env:
                raise ProgramError(
                    f"{v!r} is first assigned inside this while loop: a while_loop op carries values "
                    f"from one trip to the next, so {v!r} needs a value before the loop",
                    st.lineno,
                    st.col_offset + 1,
                )
        captured = sorted((_reads([st.test, *st.body]) & set(env)) - set(carried))
        inputs = [*carried, *captured]
        k = self.fresh("")[1:]
        test = self.region(f"cond_{k}", [], {}, inputs, [], test=st.test)
        body = self.region(f"body_{k}", st.body, {}, inputs, carried)
        new = tuple(self.fresh(v) for v in carried)
        args = tuple(env[v] for v in inputs)
        ops.append(GOp(new, "while_loop", args, (("carried", len(carried)),), (test, body), st.lineno))
        env.update(zip(carried, new))


def _axis(node: ast.AST):
    return -node.operand.value if isinstance(node, ast.UnaryOp) else node.value


def to_graph_ops(fn: Function) -> GraphProgram:
    """The AST-based conversion of ``fn`` to a graph with cond and while_loop ops (module docstring)."""
    conv = _Convert()
    env = {p: p for p in fn.params}
    ops: list = []
    conv.block(fn.body[:-1], env, ops)
    ret = fn.body[-1].value
    values = ret.elts if isinstance(ret, ast.Tuple) else [ret]
    results = tuple(conv.value(v, env, ops, "out") for v in values)
    return GraphProgram(fn.name, Region(fn.name, fn.params, tuple(ops), results))


# -- stage 4: running the graph -----------------------------------------------------------------------
class _Runner:
    def __init__(self, check_both: bool):
        self.check_both = check_both
        self.steps = 0
        self.picks: list[tuple[int, bool]] = []

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_GRAPH_STEPS:
            raise BudgetError(f"the graph ran {MAX_GRAPH_STEPS:,} ops; the limit is {MAX_GRAPH_STEPS:,}")

    def region(self, region: Region, args: list) -> list:
        env = dict(zip(region.params, args))

        def get(a: str):
            return env[a] if a in env else float(a)

        for g in region.ops:
            self.tick()
            ins = [get(a) for a in g.args]
            if g.op == "cond":
                env.update(zip(g.outs, self.cond(g, ins)))
            elif g.op == "while_loop":
                env.update(zip(g.outs, self.loop(g, ins)))
            else:
                env[g.outs[0]] = NUMPY_OPS[g.op](*ins, **dict(g.attrs))
        return [env[r] for r in region.results]

    def cond(self, g: GOp, ins: list) -> list:
        taken = NUMPY.truth(ins[0])
        self.picks.append((g.line, taken))
        out = self.region(g.regions[0 if taken else 1], ins[1:])
        if self.check_both:
            other = self.region(g.regions[1 if taken else 0], ins[1:])
            for name, a, b in zip(g.outs, out, other):
                if np.shape(a) != np.shape(b):
                    raise ShapeError(
                        f"line {g.line}: the two branches give {name.rsplit('_', 1)[0]!r} the shapes "
                        f"{list(np.shape(a))} and {list(np.shape(b))}; a cond op needs one shape for "
                        "both (a static graph types both branches before it runs)"
                    )
        return out

    def loop(self, g: GOp, ins: list) -> list:
        n = dict(g.attrs)["carried"]
        carried, captured = ins[:n], ins[n:]
        test, body = g.regions
        while NUMPY.truth(self.region(test, carried + captured)[0]):
            self.picks.append((g.line, True))
            new = self.region(body, carried + captured)
            for name, a, b in zip(g.outs, carried, new):
                if np.shape(a) != np.shape(b):
                    raise ShapeError(
                        f"line {g.line}: a trip changes {name.rsplit('_', 1)[0]!r} from shape "
                        f"{list(np.shape(a))} to {list(np.shape(b))}; a while_loop op needs the same "
                        "shape on every trip"
                    )
            carried = new
        self.picks.append((g.line, False))
        return carried


def run_graph(program: GraphProgram, inputs: dict, check_both: bool = False) -> tuple:
    """The converted graph's outputs on ``inputs`` (numpy), computed op by op."""
    runner = _Runner(check_both)
    try:
        with np.errstate(all="ignore"):
            out = runner.region(program.main, [inputs[p] for p in program.main.params])
    except EngineError:
        raise
    except (ValueError, TypeError, KeyError, ZeroDivisionError) as exc:
        raise EngineError(f"the converted graph cannot run: {exc}") from None
    return tuple(out)
