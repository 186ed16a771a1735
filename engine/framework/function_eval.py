"""Running a parsed function (function_language.py): one instruction at a time, on any backend.

Stages of :func:`run_code`, the interpreter's loop:
  1. the inputs are bound to the parameter names;
  2. instructions run in order from a program counter: ``set`` evaluates an expression tree and
     binds the name, ``test`` jumps on a one-element value when it is false (Python's own ``if`` on
     it, as hand-written code would do; the decision is recorded in ``path``), ``jump`` moves the
     counter, ``save`` copies values aside for a custom backward, ``push``/``pop`` use a stack
     (generated derivative code), ``ret`` returns;
  3. every instruction counts against ``max_steps`` (a ``while`` that never ends is refused).
The loop is one flat Python frame on purpose: TorchDynamo compiles it like a hand-written function,
so a branch on a tensor's value shows up as one graph break there, with the same reason as in
hand-written code (a nested interpreter would add breaks of its own at every call). A ``while`` on
data is the exception: dynamo treats a break inside a hand-written loop differently (it may stop
compiling the rest of that function), so the number of graphs can differ from ours; the loop runs
in Python either way.

Backends decide what a value is: :data:`NUMPY` (float64 arrays), :func:`torch_backend` (torch
tensors, so eager autograd, jit.trace, fx, dynamo and export all see our interpreter run), and the
tape's ``Var`` (tape.py, operator overloading). Binary operators are applied with Python's own
operators for torch and the tape — that *is* operator overloading — and through function_ops for
numpy (which checks ``@`` on matrices). :func:`execute` wraps a numpy or tape run and turns Python
errors into located :class:`ProgramError`\\ s. Not handled: in-place updates, integer tensors.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import BudgetError, EngineError, ProgramError
from .function_checker import BIN_SYMBOL, CMP_SYMBOL
from .function_language import Function
from .function_ops import BINARY_SYMBOLS, COMPARE_SYMBOLS
from .function_ops import NUMPY as NUMPY_OPS

MAX_RUN_STEPS = 20_000  # instructions of one run
_PY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
    "@": operator.matmul,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class Backend:
    """What values are: numpy arrays here; ``extra`` adds callables (a custom op)."""

    name = "numpy"

    def __init__(self, extra: dict | None = None):
        self.extra = dict(extra or {})
        self.line = [0]  # the line being run (the interpreter keeps it current)

    def bind(self, name: str, value):
        """A value is assigned to ``name`` (the tape names its entry after it)."""
        return value

    def binary(self, sym: str, a, b):
        return NUMPY_OPS[BINARY_SYMBOLS[sym]](a, b)

    def compare(self, sym: str, a, b):
        return NUMPY_OPS[COMPARE_SYMBOLS[sym]](a, b)

    def call(self, name: str, args: list, axis=None, has_axis: bool = False):
        fn = self.extra.get(name) or NUMPY_OPS[name]
        return fn(*args, axis=axis) if has_axis else fn(*args)

    def condition(self, v):
        """The value an ``if``/``while`` jumps on: here a checked one-element boolean."""
        arr = np.asarray(v)
        if arr.size != 1:
            raise EngineError(
                f"a condition must be one number, but this one has shape {list(arr.shape)}; "
                "reduce it first, like sum(h) > 0"
            )
        return bool(arr.reshape(()) != 0)

    def truth(self, v) -> bool:
        return bool(self.condition(v))


NUMPY = Backend()


def evaluate(node: ast.AST, env: dict, be) -> Any:
    """The value of one checked expression tree on backend ``be``."""
    kind = type(node)
    if kind is ast.Name:
        return env[node.id]
    if kind is ast.Constant:
        return float(node.value)
    if kind is ast.BinOp:
        left, right = evaluate(node.left, env, be), evaluate(node.right, env, be)
        return be.binary(BIN_SYMBOL[type(node.op)], left, right)
    if kind is ast.UnaryOp:
        value = evaluate(node.operand, env, be)
        if isinstance(node.op, ast.USub):
            return -value
        return be.call("logical_not", [value]) if isinstance(node.op, ast.Not) else value
    if kind is ast.Compare:
        left, right = evaluate(node.left, env, be), evaluate(node.comparators[0], env, be)
        return be.compare(CMP_SYMBOL[type(node.ops[0])], left, right)
    if kind is ast.BoolOp:
        name = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        value = evaluate(node.values[0], env, be)
        for other in node.values[1:]:
            value = be.call(name, [value, evaluate(other, env, be)])
        return value
    args = [evaluate(a, env, be) for a in node.args]
    axis = [k.value for k in node.keywords]
    return be.call(node.func.id, args, _axis(axis[0]) if axis else None, bool(axis))


def _axis(node: ast.AST):
    if isinstance(node, ast.UnaryOp):
        return -node.operand.value
    return node.value


def run_code(code, names, be, max_steps, path, saved, line, *values):
    """The interpreter's loop (see the module docstring); returns the tuple of returned values.

    ``path`` collects (line, taken, is_loop) per test; ``saved`` the values ``save`` copies;
    ``line[0]`` the line being run (for error messages).
    """
    env = dict(zip(names, values))
    stack = []
    pc = 0
    steps = 0
    while True:
        steps += 1
        if steps > max_steps:
            raise BudgetError(
                f"the function ran {max_steps:,} steps without returning (a while loop that never ends?)"
            )
        ins = code[pc]
        line[0] = ins.line
        kind = ins.kind
        if kind == "set":
            env[ins.target] = be.bind(ins.target, evaluate(ins.expr, env, be))
            pc += 1
        elif kind == "test":
            if be.condition(evaluate(ins.expr, env, be)):  # a jump on the value itself, as Python's if
                path.append((ins.line, True, ins.loop))
                pc += 1
            else:
                path.append((ins.line, False, ins.loop))
                pc = ins.jump
        elif kind == "jump":
            pc = ins.jump
        elif kind == "save":
            for name in ins.expr:
                saved[name] = env[name]
            pc += 1
        elif kind == "push":
            stack.append(evaluate(ins.expr, env, be))
            pc += 1
        elif kind == "pop":
            env[ins.target] = stack.pop()
            pc += 1
        else:
            return tuple(evaluate(e, env, be) for e in ins.expr)


@dataclass(frozen=True)
class Execution:
    """One run: the returned values, the branch decisions and the values saved for backward."""

    outputs: tuple
    path: tuple[tuple[int, bool, bool], ...]
    saved: dict = field(default_factory=dict, hash=False)

    @property
    def value(self):
        return self.outputs[0]


def execute(
    fn: Function, inputs: dict, be=NUMPY, max_steps: int = MAX_RUN_STEPS, scope: dict | None = None
) -> Execution:
    """Run ``fn`` on ``inputs`` (name -> value) with numpy or the tape; ``scope`` adds names the body
    may read besides its parameters (a custom backward's saved values). Python errors become a
    :class:`ProgramError` at the line that raised them."""
    missing = [p for p in fn.params if p not in inputs]
    if missing:
        raise EngineError(f"{fn.name}() needs a value for {', '.join(missing)}")
    path: list = []
    saved: dict = {}
    line = be.line
    line[0] = fn.line
    try:
        with np.errstate(all="ignore"):
            scope = dict(scope or {})
            names = (*fn.params, *scope)
            values = [*(inputs[p] for p in fn.params), *scope.values()]
            out = run_code(fn.code, names, be, max_steps, path, saved, line, *values)
    except (ProgramError, BudgetError):
        raise
    except EngineError as exc:
        raise ProgramError(str(exc), line[0], 1) from None
    except KeyError as exc:
        name = exc.args[0]
        message = f"{name!r} has no value yet on this path through the function"
        raise ProgramError(message, line[0], 1) from None
    except (ValueError, TypeError, ZeroDivisionError, OverflowError, IndexError) as exc:
        raise ProgramError(f"this line cannot be computed: {exc}", line[0], 1) from None
    return Execution(out, tuple(path), saved)


def path_summary(path) -> tuple[str, ...]:
    """One phrase per branch point, in order of first use: ``if@4: True`` or ``while@8: 3 trips``."""
    seen: dict[int, list] = {}
    for line, taken, loop in path:
        seen.setdefault(line, [loop, []])[1].append(taken)
    out = []
    for line, (loop, takes) in seen.items():
        if loop:
            out.append(f"while@{line}: {sum(takes)} trips")
        else:
            shown = ", ".join(str(t) for t in takes[:4]) + (", …" if len(takes) > 4 else "")
            out.append(f"if@{line}: {shown}")
    return tuple(out)


# -- torch ------------------------------------------------------------------------------------------
class TorchBackend(Backend):
    """Values are torch tensors (float64): what autograd, jit.trace, fx, dynamo and export see."""

    name = "torch"

    def __init__(self, extra: dict | None = None):
        import torch

        super().__init__(extra)
        self.t = torch
        self.table = _torch_table(torch)

    def binary(self, sym: str, a, b):
        return _PY[sym](a, b)

    def compare(self, sym: str, a, b):
        return self.mask(_PY[sym](a, b))

    def mask(self, r):
        return float(r) if isinstance(r, bool) else r.to(self.t.float64)

    def call(self, name: str, args: list, axis=None, has_axis: bool = False):
        fn = self.extra.get(name) or self.table[name]
        return fn(*args, axis=axis) if has_axis else fn(*args)

    def condition(self, v):
        return v  # the tensor itself: Python's jump on it is what tracers and dynamo see

    def truth(self, v) -> bool:
        return bool(v)


def _torch_table(t) -> dict:
    def tensor(a):
        return a if not isinstance(a, (int, float)) else t.tensor(float(a), dtype=t.float64)

    def mask(r):
        return r.to(t.float64)

    def reduce(fn):
        return lambda a, axis=None: fn(tensor(a)) if axis is None else fn(tensor(a), dim=axis)

    def sum_like(g, a):
        return g if tuple(g.shape) == tuple(a.shape) else g.sum_to_size(a.shape)

    def expand_like(g, a, axis=None):
        return (g if axis is None else g.unsqueeze(axis)).expand_as(a)

    return {
        "logical_not": lambda a: mask(tensor(a) == 0),
        "logical_and": lambda a, b: mask((tensor(a) != 0) & (tensor(b) != 0)),
        "logical_or": lambda a, b: mask((tensor(a) != 0) | (tensor(b) != 0)),
        **{n: getattr(t, n) for n in ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu")},
        **{n: getattr(t, n) for n in ("sign", "round", "floor", "ones_like", "zeros_like")},
        "softplus": t.nn.functional.softplus,
        "transpose": lambda a: a.transpose(0, 1),
        "maximum": lambda a, b: t.maximum(tensor(a), tensor(b)),
        "minimum": lambda a, b: t.minimum(tensor(a), tensor(b)),
        "where": lambda c, a, b: t.where(tensor(c) != 0, a, b),
        "clip": lambda a, lo, hi: t.clamp(a, lo, hi),
        "sum": reduce(t.sum),
        "mean": reduce(t.mean),
        "sum_like": sum_like,
        "expand_like": expand_like,
        "size": lambda a: float(a.numel()),
    }


def torch_backend(extra: dict | None = None) -> TorchBackend:
    """A torch backend (imports torch: call it only where torch work is wanted)."""
    return TorchBackend(extra)


def grad_fn_dag(out, leaves: dict):
    """The autograd graph torch recorded for ``out``: its ``grad_fn`` chain walked through
    ``next_functions`` back to the leaves (``leaves`` maps ``id(tensor)`` to a name), as a
    graph_capture.Dag (data flows leaf -> result)."""
    from .graph_capture import Dag, DagNode

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

    stack, seen = [out.grad_fn] if out.grad_fn is not None else [], set()
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        here = node_of(fn)
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append((node_of(nxt).id, here.id))
                stack.append(nxt)
    return Dag(tuple(nodes.values()), tuple(dict.fromkeys(edges)), "autograd graph (grad_fn)")
