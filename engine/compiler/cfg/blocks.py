"""Control-flow graphs of three-address code: the data, its meaning, its printout, its interpreter.

A :class:`CfgProgram` is a tuple of :class:`Block` (the entry first); a block is a list of
:class:`Instr` (``dest = op(args)``, args are variable names or int/float constants) ending in one
terminator: :class:`Jump`, :class:`Branch` (on the truth of an operand) or :class:`Return` (the
program's outputs). Every variable has a static type, ``int`` (64-bit, wrapping) or ``float``
(IEEE double), and starts at 0.

Meaning of one instruction (:func:`evaluate`), shared by the interpreter and constant folding:
  1. ``+ - *`` of two ints is an int, wrapped to 64 bits; with a float operand both become floats;
  2. ``/`` is true division on floats, IEEE style: ``x / 0`` is ``inf``, ``-inf`` or ``nan``, never
     an error; ``neg`` negates;
  3. comparisons, ``not``, ``and``, ``or`` give int 1 or 0 (an int compared with a float is
     converted to float first, as LLVM's ``sitofp`` does); a value is true when it is not 0
     (``nan`` is true);
  4. the result is converted to the destination's type on assignment (int -> float).
Stages of :func:`run_cfg`: check the inputs (names, numbers, types), set every variable to 0, run
block by block from the entry counting executed instructions against :data:`budget.MAX_STEPS`
(a loop that does not end is a BudgetError), and return the outputs by name.
Not handled: function calls, arrays, integer division, strings, exceptions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core import budget
from ...core.errors import EngineError

Operand = str | int | float
ARITH = ("add", "sub", "mul", "div")
COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")
LOGIC = ("and", "or")
UNARY = ("neg", "not", "copy")
COMMUTATIVE = frozenset({"add", "mul", "eq", "ne", "and", "or"})
SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
    "and": "and",
    "or": "or",
}
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1


@dataclass(frozen=True)
class Instr:
    dest: str
    op: str  # add sub mul div | lt le gt ge eq ne | and or | neg not copy | input
    args: tuple[Operand, ...]
    line: int = 0  # source line, 0 when made by a pass


@dataclass(frozen=True)
class Jump:
    target: str


@dataclass(frozen=True)
class Branch:
    cond: Operand
    then: str
    other: str


@dataclass(frozen=True)
class Return:
    values: tuple[str, ...]


Terminator = Jump | Branch | Return


@dataclass(frozen=True)
class Block:
    name: str
    instrs: tuple[Instr, ...]
    term: Terminator

    @property
    def successors(self) -> tuple[str, ...]:
        if isinstance(self.term, Jump):
            return (self.term.target,)
        if isinstance(self.term, Branch):
            return (
                (self.term.then,) if self.term.then == self.term.other else (self.term.then, self.term.other)
            )
        return ()


@dataclass(frozen=True)
class CfgProgram:
    blocks: tuple[Block, ...]  # the entry first
    inputs: tuple[tuple[str, int | float], ...]  # name, default value
    outputs: tuple[str, ...]
    types: tuple[tuple[str, str], ...]  # variable -> "int" | "float", every variable and temporary
    source: str = ""

    @property
    def entry(self) -> str:
        return self.blocks[0].name

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise EngineError(f"no block named {name!r}")

    @property
    def type_of(self) -> dict[str, str]:
        return dict(self.types)

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple((b.name, s) for b in self.blocks for s in b.successors)

    @property
    def instruction_count(self) -> int:
        return sum(len(b.instrs) + 1 for b in self.blocks)

    def replace_blocks(self, blocks) -> CfgProgram:
        return CfgProgram(tuple(blocks), self.inputs, self.outputs, self.types, self.source)

    def __str__(self) -> str:
        return format_cfg(self)


# -- meaning -----------------------------------------------------------------------------------------
def wrap(value: int) -> int:
    """Two's-complement 64-bit wrap-around, like LLVM's ``add``/``mul`` on i64."""
    return ((value - INT_MIN) & ((1 << 64) - 1)) + INT_MIN


def truth(value: int | float) -> bool:
    return value != 0 or (isinstance(value, float) and math.isnan(value))


def _fdiv(a: float, b: float) -> float:
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def evaluate(op: str, args: tuple[int | float, ...]) -> int | float:
    """The value of ``op`` on constant ``args`` (before conversion to the destination's type)."""
    if op == "copy":
        return args[0]
    if op == "neg":
        a = args[0]
        return wrap(-a) if isinstance(a, int) else -a
    if op == "not":
        return int(not truth(args[0]))
    a, b = args
    if op in LOGIC:
        return int(truth(a) and truth(b)) if op == "and" else int(truth(a) or truth(b))
    both_int = isinstance(a, int) and isinstance(b, int)
    if op in COMPARE:
        if not both_int:
            a, b = float(a), float(b)
        return int({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b, "ne": a != b}[op])
    if op == "div":
        return _fdiv(float(a), float(b))
    if both_int:
        return wrap({"add": a + b, "sub": a - b, "mul": a * b}[op])
    a, b = float(a), float(b)
    return {"add": a + b, "sub": a - b, "mul": a * b}[op]


def convert(value: int | float, kind: str) -> int | float:
    """A value stored into a variable of type ``kind``."""
    return float(value) if kind == "float" else value


def result_type(op: str, arg_types: tuple[str, ...]) -> str:
    if op in COMPARE or op in LOGIC or op == "not":
        return "int"
    if op == "div":
        return "float"
    return "float" if "float" in arg_types else "int"


def same_value(a: Any, b: Any) -> bool:
    """Equal as stored values: same type, same bits (so 0.0 and -0.0 differ, nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


# -- text ----------------------------------------------------------------------------------------------
def fmt_operand(x: Operand) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, float):
        return repr(x)
    return str(x)


def format_instr(ins: Instr) -> str:
    a = [fmt_operand(x) for x in ins.args]
    if ins.op == "copy":
        rhs = a[0]
    elif ins.op == "input":
        rhs = f'input("{a[0]}")'
    elif ins.op == "neg":
        rhs = f"-{a[0]}"
    elif ins.op == "not":
        rhs = f"not {a[0]}"
    else:
        rhs = f"{a[0]} {SYMBOLS[ins.op]} {a[1]}"
    return f"{ins.dest} = {rhs}"


def format_term(t: Terminator) -> str:
    if isinstance(t, Jump):
        return f"jump {t.target}"
    if isinstance(t, Branch):
        return f"branch {fmt_operand(t.cond)} ? {t.then} : {t.other}"
    return "return " + ", ".join(t.values)


def format_cfg(p: CfgProgram) -> str:
    lines = []
    for b in p.blocks:
        lines.append(f"{b.name}:")
        lines.extend(f"    {format_instr(i)}" for i in b.instrs)
        lines.append(f"    {format_term(b.term)}")
    return "\n".join(lines)


# -- the interpreter -----------------------------------------------------------------------------------
def check_inputs(p: CfgProgram, inputs: Mapping[str, Any] | None) -> dict[str, int | float]:
    """The input values by name (defaults filled in), checked and converted to their types."""
    defaults = dict(p.inputs)
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        names = ", ".join(defaults) or "none"
        raise EngineError(f"the program has no input named {unknown[0]!r} (its inputs: {names})")
    types = p.type_of
    out = {}
    for name, default in defaults.items():
        value = given.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if hasattr(value, "item") and not isinstance(value, (str, bytes)):
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EngineError(f"input {name!r} must be a number, got {value!r}")
        if types[name] == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise EngineError(f"input {name!r} is an int; got {value!r}")
                value = int(value)
            if not INT_MIN <= value <= INT_MAX:
                raise EngineError(f"input {name!r} = {value} does not fit in 64 bits")
        out[name] = convert(value, types[name])
    return out


def _value(x: Operand, env: dict) -> int | float:
    return env[x] if isinstance(x, str) else x


def run_cfg(program: CfgProgram, inputs: Mapping[str, Any] | None = None) -> dict[str, int | float]:
    """Run ``program`` on ``inputs`` (missing inputs take their defaults); the outputs by name."""
    if not isinstance(program, CfgProgram):
        raise EngineError(f"run_cfg() needs a program from parse_cfg_program, got {type(program).__name__}")
    values = check_inputs(program, inputs)
    types = program.type_of
    env: dict[str, int | float] = {v: convert(0, t) for v, t in types.items()}
    blocks = {b.name: b for b in program.blocks}
    block = program.blocks[0]
    steps = 0
    while True:
        steps += len(block.instrs) + 1
        budget.check_steps(steps, "the program (a loop that does not end?)")
        for ins in block.instrs:
            if ins.op == "input":
                result = values[ins.args[0]]
            else:
                result = evaluate(ins.op, tuple(_value(a, env) for a in ins.args))
            env[ins.dest] = convert(result, types[ins.dest])
        term = block.term
        if isinstance(term, Return):
            return {name: env[name] for name in term.values}
        if isinstance(term, Jump):
            block = blocks[term.target]
        else:
            block = blocks[term.then if truth(_value(term.cond, env)) else term.other]
