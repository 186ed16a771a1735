"""A tiny imperative language, parsed into a control-flow graph of three-address code.

A program is plain text with Python's syntax, for example::

    n = input(10)        # an input named n, 10 when not given (an int: 10.0 would make it a float)
    total = 0
    i = 0
    while i < n:
        if i > 3:
            total = total + i * 2
        else:
            total = total - 1
        i += 1
    output(total)        # the results; without it, every variable is an output

Stages of :func:`parse_cfg_program`:
  1. size check, then ``ast.parse`` — the text is only ever parsed, never compiled or run by Python;
     syntax errors keep their line and column; a depth check (iterative) refuses hostile nesting;
  2. types: a variable is ``float`` if any assignment to it can produce a float (a float literal or
     input, ``/``, or another float variable), else ``int`` — found by iterating to a fixed point;
  3. statements are checked against the whitelist while the graph is built: assignments (``x = e``,
     ``x += e`` with ``+ - * /``), ``if``/``elif``/``else``, ``while``, ``pass``, ``input`` (top level,
     once per name) and one ``output(...)`` (top level); expressions are names, int/float literals,
     ``+ - * /``, unary ``-``/``+``, ``not``, one comparison ``< <= > >= == !=`` and ``and``/``or``;
  4. each expression becomes three-address instructions with temporaries ``%1, %2, ...``; ``if``
     makes *then*/*else*/*end* blocks, ``while`` a *head* block testing the condition, a *body*
     block jumping back to it, and an *end* block;
  5. limits: :data:`MAX_STATEMENTS` statements; every used variable must be assigned somewhere.
``and``/``or`` evaluate both sides (expressions have no side effects and never fail, so this gives
Python's answer, as 1 or 0). Not handled (refused with a message): functions, calls other than
``input``/``output``, ``for`` loops, ``break``/``continue``, ``//``, ``%``, ``**``, strings, lists,
chained comparisons.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any

from ...core.errors import ProgramError
from ...core.language import parse_source
from .blocks import INT_MAX, INT_MIN, Block, Branch, CfgProgram, Instr, Jump, Operand, Return, result_type

MAX_STATEMENTS = 5_000
MAX_DEPTH = 100
_BIN = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
_CMP = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_NAMES = {
    ast.FunctionDef: "def (functions)",
    ast.For: "for loops (use while)",
    ast.Break: "break",
    ast.Continue: "continue",
    ast.Return: "return (use output(...))",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing with [...]",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dictionaries",
    ast.Lambda: "lambda",
    ast.IfExp: "if-expressions",
    ast.JoinedStr: "f-strings",
    ast.ClassDef: "class",
    ast.With: "with",
    ast.Try: "try",
}
_SYMBOL = {ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|"}


def _fail(node: ast.AST, message: str) -> ProgramError:
    return ProgramError(message, getattr(node, "lineno", 0) or 0, (getattr(node, "col_offset", -1) or 0) + 1)


def _describe(node: ast.AST) -> str:
    return _NAMES.get(type(node), type(node).__name__)


def _parse(text: Any) -> ast.Module:
    return parse_source(text, MAX_DEPTH)  # the graph language's bounded parse (engine/core/language.py)


def _literal(node: ast.AST) -> int | float | None:
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = sign * node.value
        if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
            raise _fail(node, f"the number {value} does not fit in 64 bits")
        return value
    return None


# -- stage 2: types ------------------------------------------------------------------------------------
def _assignments(body, out: list) -> None:
    for st in body:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            out.append((st.targets[0].id, st.value))
        elif isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
            out.append((st.target.id, ast.BinOp(ast.Name(st.target.id), st.op, st.value)))
        elif isinstance(st, (ast.If, ast.While)):
            _assignments(st.body, out)
            _assignments(st.orelse, out)


def _type(node: ast.AST, types: dict[str, str]) -> str:
    if isinstance(node, ast.Constant):
        return "float" if isinstance(node.value, float) else "int"
    if isinstance(node, ast.Name):
        return types.get(node.id, "int")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "input"
        and node.args
    ):
        return _type(node.args[0], types)
    if isinstance(node, ast.UnaryOp):
        return "int" if isinstance(node.op, ast.Not) else _type(node.operand, types)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Div):
            return "float"
        return result_type("add", (_type(node.left, types), _type(node.right, types)))
    return "int"


def infer_types(tree: ast.Module) -> dict[str, str]:
    pairs: list = []
    _assignments(tree.body, pairs)
    types = {name: "int" for name, _ in pairs}
    changed = True
    while changed:
        changed = False
        for name, value in pairs:
            if types[name] == "int" and _type(value, types) == "float":
                types[name] = "float"
                changed = True
    return types


# -- stages 3-4: the graph ------------------------------------------------------------------------------
class _Builder:
    def __init__(self, types: dict[str, str]):
        self.var_types = types
        self.temp_types: dict[str, str] = {}
        self.blocks: list[list] = []  # [name, instrs, term]
        self.counter = 0
        self.statements = 0
        self.inputs: dict[str, int | float] = {}
        self.outputs: tuple[str, ...] | None = None
        self.current = self.new_block("entry")

    def new_block(self, name: str) -> list:
        block = [name, [], None]
        self.blocks.append(block)
        return block

    def label(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}{self.counter}"

    def end(self, term) -> None:
        self.current[2] = term

    def type_of(self, x: Operand) -> str:
        if isinstance(x, str):
            return self.temp_types.get(x) or self.var_types[x]
        return "float" if isinstance(x, float) else "int"

    # expressions
    def expr(self, node: ast.AST, dest: str | None = None) -> Operand:
        value = _literal(node)
        if value is not None or isinstance(node, ast.Name):
            operand = value if value is not None else self.name(node)
            return self.emit(dest, "copy", (operand,), node) if dest else operand
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BIN:
                sym = _SYMBOL.get(type(node.op), type(node.op).__name__)
                raise _fail(node, f"the operator {sym} is not in this language; use + - * /")
            args = (self.expr(node.left), self.expr(node.right))
            return self.emit(dest, _BIN[type(node.op)], args, node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand, dest)
            op = "neg" if isinstance(node.op, ast.USub) else "not" if isinstance(node.op, ast.Not) else None
            if op is None:
                raise _fail(node, "the operator ~ is not in this language")
            return self.emit(dest, op, (self.expr(node.operand),), node)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _CMP:
                raise _fail(node, "write one comparison at a time (< <= > >= == !=), e.g. a < b and b < c")
            args = (self.expr(node.left), self.expr(node.comparators[0]))
            return self.emit(dest, _CMP[type(node.ops[0])], args, node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            acc = self.expr(node.values[0])
            for k, value in enumerate(node.values[1:], start=2):
                acc = self.emit(dest if k == len(node.values) else None, op, (acc, self.expr(value)), node)
            return acc
        if isinstance(node, ast.Constant):
            raise _fail(node, f"the value {node.value!r} is not allowed; use int or float numbers")
        if isinstance(node, ast.Call):
            raise _fail(
                node, "calls are not allowed inside expressions (input(...) is a statement: x = input(1))"
            )
        raise _fail(node, f"{_describe(node)} is not allowed in this language")

    def name(self, node: ast.Name) -> str:
        if node.id not in self.var_types:
            near = difflib.get_close_matches(node.id, list(self.var_types), n=2)
            hint = "; did you mean " + " or ".join(repr(x) for x in near) + "?" if near else ""
            raise _fail(node, f"{node.id!r} is used but never assigned{hint}")
        return node.id

    def emit(self, dest: str | None, op: str, args: tuple, node: ast.AST) -> str:
        if dest is None:
            self.counter += 1
            dest = f"%{self.counter}"
            self.temp_types[dest] = (
                "int" if op == "input" else result_type(op, tuple(self.type_of(a) for a in args))
            )
        self.current[1].append(Instr(dest, op, args, getattr(node, "lineno", 0)))
        return dest

    # statements
    def body(self, stmts, top: bool) -> None:
        for st in stmts:
            self.statement(st, top)

    def statement(self, st: ast.stmt, top: bool) -> None:
        self.statements += 1
        if self.statements > MAX_STATEMENTS:
            raise _fail(
                st,
                f"the program has more than {MAX_STATEMENTS:,} statements; the limit is {MAX_STATEMENTS:,}",
            )
        if self.outputs is not None:
            raise _fail(st, "output(...) must be the last statement")
        if isinstance(st, ast.Assign):
            if len(st.targets) != 1 or not isinstance(st.targets[0], ast.Name):
                raise _fail(st, "assign to one variable at a time: x = ...")
            target = st.targets[0].id
            self._check_target(st, target)
            if (
                isinstance(st.value, ast.Call)
                and isinstance(st.value.func, ast.Name)
                and st.value.func.id == "input"
            ):
                self.input(st, target, top)
            else:
                self.expr(st.value, dest=target)
        elif isinstance(st, ast.AugAssign):
            if not isinstance(st.target, ast.Name) or type(st.op) not in _BIN:
                raise _fail(st, "only x += e, x -= e, x *= e and x /= e are allowed")
            self._check_target(st, st.target.id)
            args = (st.target.id, self.expr(st.value))
            self.emit(st.target.id, _BIN[type(st.op)], args, st)
        elif isinstance(st, ast.If):
            self.if_(st)
        elif isinstance(st, ast.While):
            self.while_(st)
        elif (
            isinstance(st, ast.Expr)
            and isinstance(st.value, ast.Call)
            and getattr(st.value.func, "id", "") == "output"
        ):
            self.output(st, top)
        elif isinstance(st, ast.Pass):
            return
        else:
            raise _fail(
                st, f"{_describe(st)} is not allowed; use assignments, if/else, while and output(...)"
            )

    def _check_target(self, st, name: str) -> None:
        if name in ("input", "output"):
            raise _fail(st, f"{name!r} is a statement, not a variable name")

    def input(self, st: ast.Assign, target: str, top: bool) -> None:
        call = st.value
        if not top:
            raise _fail(st, "input(...) belongs at the top level, not inside if or while")
        if target in self.inputs:
            raise _fail(st, f"input {target!r} is declared twice")
        default = _literal(call.args[0]) if len(call.args) == 1 and not call.keywords else None
        if default is None:
            raise _fail(call, "input takes one number, its default value: n = input(10)")
        self.inputs[target] = float(default) if self.var_types[target] == "float" else default
        self.emit(target, "input", (target,), st)

    def output(self, st: ast.Expr, top: bool) -> None:
        call = st.value
        if not top:
            raise _fail(st, "output(...) belongs at the top level, after the loops")
        if call.keywords or not call.args or not all(isinstance(a, ast.Name) for a in call.args):
            raise _fail(call, "output takes variable names: output(total, i)")
        self.outputs = tuple(dict.fromkeys(self.name(a) for a in call.args))

    def if_(self, st: ast.If) -> None:
        cond = self.expr(st.test)
        k = self.label("")
        then, end = self.new_label("then", k), self.new_label("endif", k)
        other = self.new_label("else", k) if st.orelse else end
        self.end(Branch(cond, then, other))
        self.current = self.new_block(then)
        self.body(st.body, False)
        self.end(Jump(end))
        if st.orelse:
            self.current = self.new_block(other)
            self.body(st.orelse, False)
            self.end(Jump(end))
        self.current = self.new_block(end)

    def while_(self, st: ast.While) -> None:
        if st.orelse:
            raise _fail(st, "while ... else is not allowed")
        k = self.label("")
        head, body, end = (self.new_label(kind, k) for kind in ("while", "body", "endwhile"))
        self.end(Jump(head))
        self.current = self.new_block(head)
        self.end(Branch(self.expr(st.test), body, end))
        self.current = self.new_block(body)
        self.body(st.body, False)
        self.end(Jump(head))
        self.current = self.new_block(end)

    @staticmethod
    def new_label(kind: str, k: str) -> str:
        return f"{kind}{k}"


def parse_cfg_program(text: str) -> CfgProgram:
    """Parse ``text`` (see the module docstring) into a :class:`CfgProgram`; ProgramError if invalid."""
    tree = _parse(text)
    types = infer_types(tree)
    b = _Builder(types)
    b.body(tree.body, True)
    outputs = b.outputs if b.outputs is not None else tuple(types)
    b.end(Return(outputs))
    blocks = tuple(Block(name, tuple(instrs), term) for name, instrs, term in b.blocks)
    all_types = {**types, **b.temp_types}
    return CfgProgram(blocks, tuple(b.inputs.items()), outputs, tuple(all_types.items()), text)
