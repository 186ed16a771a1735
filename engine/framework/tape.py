"""Operator overloading: a tape that records every op while the function runs (PyTorch's way).

Stages of :func:`grad_by_tape`:
  1. every input becomes a :class:`Var`; Python's operators (``+``, ``@``, ...) and the language's
     functions on a Var compute the value with numpy *and* append a :class:`TapeEntry` (op, input
     names, output name, the VJP rule of each input) — nothing else is recorded, so only the branch
     that ran and every trip of a loop appear, unrolled, in the order they ran;
  2. a value assigned to a name takes that name on the tape (``h``, then ``h#2`` when reassigned);
  3. backward walks the tape from the last entry to the first, starting from the output's adjoint
     (1 for a scalar; ones for a tensor: the gradient of its sum), and evaluates each entry's rule from
     function_ops.py on numbers, adding the result into each input's adjoint (a value used twice gets
     both contributions). A custom op's entry calls the student's backward instead of a rule.
Not handled: higher derivatives (the tape records values, not a differentiable backward), in-place
updates, gradients with respect to comparisons and masks (none flow there).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError
from .function_eval import Backend, evaluate, execute
from .function_language import Function, parse_expression
from .function_ops import BINARY_SYMBOLS, COMPARE_SYMBOLS, rule_text, sum_like
from .function_ops import NUMPY as NUMPY_OPS

MAX_TAPE = 5_000  # entries of one tape


@dataclass(frozen=True)
class TapeEntry:
    index: int
    op: str
    inputs: tuple[str, ...]  # value names, or numbers as text
    output: str
    shape: tuple[int, ...]
    rules: tuple[str, ...]  # the VJP rule per input ("" where no gradient flows)
    line: int


@dataclass(frozen=True)
class CustomOp:
    """A student's op on the tape: ``forward(values) -> (value, saved)``, ``backward(saved, g) ->
    one gradient per input``."""

    name: str
    forward: Callable
    backward: Callable
    arity: int


class Var:
    """A value on the tape. Python's operators on it are the recording (operator overloading)."""

    __array_ufunc__ = None  # numpy must hand ``array + var`` to Var.__radd__
    __slots__ = ("value", "name", "tape")

    def __init__(self, value, name: str, tape: Tape):
        self.value, self.name, self.tape = value, name, tape

    def _op(self, op, *args):
        return self.tape.apply(op, list(args))

    def __add__(self, o):
        return self._op("add", self, o)

    def __radd__(self, o):
        return self._op("add", o, self)

    def __sub__(self, o):
        return self._op("sub", self, o)

    def __rsub__(self, o):
        return self._op("sub", o, self)

    def __mul__(self, o):
        return self._op("mul", self, o)

    def __rmul__(self, o):
        return self._op("mul", o, self)

    def __truediv__(self, o):
        return self._op("div", self, o)

    def __rtruediv__(self, o):
        return self._op("div", o, self)

    def __pow__(self, o):
        return self._op("pow", self, o)

    def __rpow__(self, o):
        return self._op("pow", o, self)

    def __matmul__(self, o):
        return self._op("matmul", self, o)

    def __rmatmul__(self, o):
        return self._op("matmul", o, self)

    def __neg__(self):
        return self._op("neg", self)


def _value(v):
    return v.value if isinstance(v, Var) else v


def _label(a) -> str:
    """A tape input's name: a Var's, a number's value, or "const" for a constant tensor (a mask)."""
    if isinstance(a, Var):
        return a.name
    return f"{float(a):g}" if np.ndim(a) == 0 else "const"


class Tape(Backend):
    """The backend whose values are Vars: every op applied to one is recorded."""

    name = "tape"

    def __init__(self, custom: dict[str, CustomOp] | None = None):
        super().__init__()
        self.custom = dict(custom or {})
        self.entries: list[list] = []  # [op, input names, output Var, shape, rules, line, attrs, args]
        self.vars: list[Var] = []
        self.names: dict[str, int] = {}
        self.backwards: dict[int, tuple] = {}  # entry index -> (CustomOp, saved)

    def new_var(self, value, name: str) -> Var:
        var = Var(np.asarray(value, dtype=np.float64), name, self)
        self.vars.append(var)
        return var

    def binary(self, sym, a, b):
        return self.apply(BINARY_SYMBOLS[sym], [a, b])  # reached for two plain numbers only

    def compare(self, sym, a, b):
        return NUMPY_OPS[COMPARE_SYMBOLS[sym]](_value(a), _value(b))  # masks carry no gradient

    def condition(self, v):
        return super().condition(_value(v))

    def call(self, name, args, axis=None, has_axis=False):
        if name in self.custom:
            return self.apply_custom(self.custom[name], args)
        return self.apply(name, args, {"axis": axis} if has_axis else {})

    def apply(self, op: str, args: list, attrs: dict | None = None):
        attrs = attrs or {}
        values = [_value(a) for a in args]
        value = NUMPY_OPS[op](*values, **attrs)
        if not any(isinstance(a, Var) for a in args):
            return value
        if op == "clip":
            attrs = {"lo": values[1], "hi": values[2]}
        rules = tuple(
            (rule_text(op, k, attrs) or "") if isinstance(a, Var) else "" for k, a in enumerate(args)
        )
        return self._record(op, args, value, rules, attrs)

    def apply_custom(self, op: CustomOp, args: list):
        value, saved = op.forward([_value(a) for a in args])
        var = self._record(f"{op.name} (custom)", args, value, ("your backward",) * len(args), {})
        self.backwards[len(self.entries) - 1] = (op, saved)
        return var

    def _record(self, op, args, value, rules, attrs) -> Var:
        if len(self.entries) >= MAX_TAPE:
            raise EngineError(f"the tape has {MAX_TAPE:,} entries; the limit is {MAX_TAPE:,} (a long loop?)")
        var = self.new_var(value, f"%{len(self.entries) + 1}")
        names = tuple(_label(a) for a in args)
        self.entries.append([op, names, var, np.shape(value), rules, self.line[0], attrs, args])
        return var

    def bind(self, name: str, value):
        """A value assigned to a program variable takes its name on the tape."""
        if isinstance(value, Var) and value.name.startswith("%") and self.entries:
            if self.entries[-1][2] is value:
                count = self.names.get(name, 0) + 1
                self.names[name] = count
                value.name = name if count == 1 else f"{name}#{count}"
        return value


def _fit(grad, value, op: str, k: int):
    """A custom backward's gradient for input ``k``, summed to the input's shape where the input
    broadcasts to it (as PyTorch's engine does); any other shape is refused."""
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape == np.shape(value):
        return grad
    try:
        if np.broadcast_shapes(np.shape(value), grad.shape) == grad.shape:
            return sum_like(grad, value)
    except ValueError:
        pass
    raise EngineError(
        f"{op}'s backward returned a gradient of shape {list(grad.shape)} for input {k + 1}, which has "
        f"shape {list(np.shape(value))}"
    )


@functools.lru_cache(maxsize=256)
def _rule_tree(text: str):
    return parse_expression(text)


@dataclass(frozen=True)
class TapeResult:
    value: np.ndarray
    entries: tuple[TapeEntry, ...]
    grads: dict  # parameter name -> gradient array
    path: tuple


def _backward(tape: Tape, out: Var, seed) -> dict[int, np.ndarray]:
    """Stage 3: adjoints keyed by id(Var)."""
    adjoint = {id(out): np.asarray(seed, dtype=np.float64)}
    for k in range(len(tape.entries) - 1, -1, -1):
        op, _, _, _, rules, _, attrs, args = tape.entries[k]
        out_var = tape.entries[k][2]
        g = adjoint.get(id(out_var))
        if g is None:
            continue
        if k in tape.backwards:
            custom, saved = tape.backwards[k]
            grads = [
                _fit(grad, _value(a), custom.name, i)
                for i, (grad, a) in enumerate(zip(custom.backward(saved, g), args))
            ]
        else:
            env = {"g": g, "y": out_var.value, **dict(zip("abc", (_value(a) for a in args)))}
            grads = [evaluate(_rule_tree(r), env, Backend()) if r else None for r in rules]
        for a, grad in zip(args, grads):
            if isinstance(a, Var) and grad is not None:
                adjoint[id(a)] = adjoint.get(id(a), 0.0) + np.asarray(grad, dtype=np.float64)
    return adjoint


def _entries(tape: Tape) -> tuple[TapeEntry, ...]:
    out = []
    for k, (op, _, var, shape, rules, line, _, args) in enumerate(tape.entries):
        out.append(TapeEntry(k + 1, op, tuple(map(_label, args)), var.name, tuple(shape), rules, line))
    return tuple(out)


def grad_by_tape(fn: Function, inputs: dict, custom: dict[str, CustomOp] | None = None) -> TapeResult:
    """Run ``fn`` on Vars, then walk the tape back (see the module docstring); the gradient of the
    output (of its sum, for a tensor) with respect to every parameter."""
    tape = Tape(custom)
    leaves = {p: tape.new_var(inputs[p], p) for p in fn.params}
    run = execute(fn, leaves, tape)
    out = run.value
    if not isinstance(out, Var):
        zeros = {p: np.zeros(np.shape(inputs[p])) for p in fn.params}
        return TapeResult(np.asarray(out, dtype=np.float64), _entries(tape), zeros, run.path)
    with np.errstate(all="ignore"):
        adjoint = _backward(tape, out, np.ones(np.shape(out.value)))
    grads = {
        p: np.broadcast_to(adjoint.get(id(v), 0.0), np.shape(v.value)).astype(np.float64)
        for p, v in leaves.items()
    }
    return TapeResult(out.value, _entries(tape), grads, run.path)


def tape_dag(entries: tuple[TapeEntry, ...], params: tuple[str, ...]):
    """The tape as a graph_capture.Dag (values and ops; data flows input -> output) for drawing."""
    from .graph_capture import Dag, DagNode

    nodes = [DagNode(p, p, "input") for p in params]
    made = {p: p for p in params}  # value name -> node id
    edges = []
    for e in entries:
        nid = f"{e.index}: {e.output}"
        nodes.append(DagNode(nid, e.op))
        edges.extend((made[name], nid) for name in e.inputs if name in made)
        made[e.output] = nid
    return Dag(tuple(nodes), tuple(dict.fromkeys(edges)), "tape (operator overloading)")
