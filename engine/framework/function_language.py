"""A small function language for the framework labs: ``def`` blocks with tensors, ``if`` and ``while``.

A program is plain text with Python's syntax, for example::

    def f(x: [4, 3], w: [3, 3]):      # shapes of the inputs (default [3])
        h = x @ w
        if sum(h) > 0:                 # a branch on the data
            y = sin(h)
        else:
            y = cos(h) * 2
        while sum(abs(y)) < 10:        # a loop whose trip count depends on the data
            y = y * 2
        return sum(y)

Stages of :func:`parse_functions`:
  1. size check, then ``ast.parse`` — the text is only ever parsed, never compiled or run by Python;
     syntax errors keep their line and column; an iterative depth check refuses hostile nesting;
  2. every top-level statement must be a ``def`` with plain parameters, each optionally annotated with
     a shape literal (``x: [4, 3]``);
  3. each body is checked against the whitelist: assignments to a name (``y = e``, ``y += e``),
     ``if``/``elif``/``else``, ``while`` (no ``else``), ``pass``, and one ``return e`` or
     ``return a, b`` as the last statement; ``save(x, y)`` where the caller allows it (the forward of
     a custom function); ``push(e)`` and ``v = pop()`` where it allows a stack (generated code).
     Expressions: names, int/float literals, ``+ - * / ** @``, unary ``-``/``+``/``not``, one
     comparison, ``and``/``or`` (both sides are evaluated: they are 0/1 masks) and calls to the
     functions of function_ops.py (plus the caller's own, e.g. a custom op) with ``axis=`` literals;
  4. every name read must be a parameter, assigned somewhere in the function, or one the caller
     declares (a custom backward's saved values); a misspelt name gets a suggestion;
  5. the body is lowered to a flat list of instructions (set, test-and-jump, jump, return, save,
     push, pop) — what function_eval.py runs, one instruction at a time.
Not handled: ``for``, ``break``/``continue``, early ``return``, indexing, attribute access
(``x.sum()``: write ``sum(x)``), strings, lists, calls of one function from another.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ProgramError
from .function_checker import (
    BIN_SYMBOL,
    CMP_SYMBOL,
    MAX_FUNCTIONS,
    Checker,
    describe,
    fail,
    parse_tree,
    signature,
)
from .function_ops import BINARY_SYMBOLS, COMPARE_SYMBOLS


@dataclass(frozen=True)
class Instr:
    """One step of a lowered body: ``set`` target = expr; ``test`` expr, jump if false; ``jump``;
    ``ret`` exprs; ``save`` names; ``push`` expr; ``pop`` into target."""

    kind: str
    target: str = ""
    expr: Any = None  # an ast expression; a tuple of them for ret; names for save
    jump: int = -1
    line: int = 0
    loop: bool = False  # a test that heads a while loop


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    body: tuple = field(repr=False)  # validated ast statements (never executed by Python)
    code: tuple[Instr, ...] = field(repr=False)
    assigned: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()  # every name an expression reads
    saved: tuple[str, ...] = ()
    returns: int = 1  # values in the return statement
    line: int = 1


@dataclass(frozen=True)
class Program:
    functions: tuple[Function, ...]
    text: str = field(repr=False, default="")

    def get(self, name: str) -> Function:
        for fn in self.functions:
            if fn.name == name:
                return fn
        names = ", ".join(f.name for f in self.functions) or "none"
        raise ProgramError(f"the program has no function named {name!r} (it defines: {names})")


# -- stage 5: lowering to instructions ---------------------------------------------------------------
def _lower(stmts: list[ast.stmt], code: list) -> None:
    for st in stmts:
        line = st.lineno
        if isinstance(st, ast.Assign):
            value = st.value
            is_pop = (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "pop"
            )
            code.append(
                Instr("pop" if is_pop else "set", st.targets[0].id, None if is_pop else value, line=line)
            )
        elif isinstance(st, ast.AugAssign):
            value = ast.copy_location(ast.BinOp(ast.Name(st.target.id, ast.Load()), st.op, st.value), st)
            code.append(Instr("set", st.target.id, value, line=line))
        elif isinstance(st, ast.If):
            test = len(code)
            code.append(None)
            _lower(st.body, code)
            if st.orelse:
                skip = len(code)
                code.append(None)
                code[test] = Instr("test", expr=st.test, jump=len(code), line=line)
                _lower(st.orelse, code)
                code[skip] = Instr("jump", jump=len(code), line=line)
            else:
                code[test] = Instr("test", expr=st.test, jump=len(code), line=line)
        elif isinstance(st, ast.While):
            head = len(code)
            code.append(None)
            _lower(st.body, code)
            code.append(Instr("jump", jump=head, line=line))
            code[head] = Instr("test", expr=st.test, jump=len(code), line=line, loop=True)
        elif isinstance(st, ast.Return):
            values = st.value.elts if isinstance(st.value, ast.Tuple) else [st.value]
            code.append(Instr("ret", expr=tuple(values), line=line))
        elif isinstance(st, ast.Expr):
            call = st.value
            if call.func.id == "save":
                code.append(Instr("save", expr=tuple(a.id for a in call.args), line=line))
            else:
                code.append(Instr("push", expr=call.args[0], line=line))


def parse_functions(
    text: str,
    *,
    allow_save: bool = False,
    allow_stack: bool = False,
    extra_calls: Mapping[str, tuple[int, int]] | None = None,
    known: Mapping[str, frozenset[str] | set[str]] | None = None,
) -> Program:
    """Parse ``text`` into checked, lowered functions (see the module docstring).

    ``extra_calls``: more callable names and their (fewest, most) arguments, e.g. a custom op;
    ``known``: per function name, names that count as defined without being assigned (a custom
    backward's view of its forward). Raises :class:`ProgramError` with line and column.
    """
    tree = parse_tree(text)
    functions, seen = [], set()
    for st in tree.body:
        if not isinstance(st, ast.FunctionDef):
            raise fail(st, f"the program is a list of def blocks; {describe(st)} cannot stand outside one")
        if st.name in seen or "__" in st.name:
            raise fail(st, f"the function name {st.name!r} is used twice or not allowed")
        seen.add(st.name)
        if len(seen) > MAX_FUNCTIONS:
            raise fail(st, f"the program defines more than {MAX_FUNCTIONS} functions")
        params, shapes = signature(st)
        checker = Checker(
            st, params, allow_save, allow_stack, dict(extra_calls or {}), (known or {}).get(st.name, ())
        )
        checker.body(st.body, True)
        checker.check_names()
        code: list = []
        _lower(st.body, code)
        ret = st.body[-1].value
        functions.append(
            Function(
                st.name,
                params,
                shapes,
                tuple(st.body),
                tuple(code),
                frozenset(checker.assigned),
                frozenset(checker.reads),
                tuple(dict.fromkeys(checker.saved)),
                len(ret.elts) if isinstance(ret, ast.Tuple) else 1,
                st.lineno,
            )
        )
    if not functions:
        raise ProgramError("the program defines no function; start with def f(x):", 1, 1)
    return Program(tuple(functions), text)


def parse_expression(text: str) -> ast.expr:
    """One expression of the language (a VJP rule), checked like a function body's."""
    tree = parse_tree(text)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        raise ProgramError(f"{text!r} is not one expression")
    return tree.body[0].value


def symbol_of(op: ast.AST) -> str:
    """The spelling of a binary or comparison operator node (``+``, ``<=``, ...)."""
    return BIN_SYMBOL.get(type(op)) or CMP_SYMBOL[type(op)]


def op_name(symbol: str) -> str:
    """The op name of an operator symbol (``+`` -> ``add``)."""
    return BINARY_SYMBOLS.get(symbol) or COMPARE_SYMBOLS[symbol]
