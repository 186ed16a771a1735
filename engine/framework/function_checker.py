"""The checks of the function language (function_language.py): what a program may contain.

Stages, each refusing with a located :class:`ProgramError`:
  1. :func:`parse_tree`: size check, then ``ast.parse`` (the text is only parsed, never compiled or run
     by Python); syntax errors keep their line and column; an iterative depth check;
  2. :func:`signature`: plain parameters, each optionally annotated with a shape literal;
  3. :class:`Checker`: the whitelist of statements and expressions (see function_language.py);
  4. :meth:`Checker.check_names`: every name read is defined somewhere (a misspelt one gets a
     suggestion).
Not handled here: lowering and running (function_language.py, function_eval.py).
"""

from __future__ import annotations

import ast
import difflib
import math
from typing import Any

from ..core.errors import ProgramError
from ..core.language import parse_source
from .function_ops import CALLABLE, OPS

MAX_DEPTH = 60
MAX_STATEMENTS = 400
MAX_FUNCTIONS = 4
MAX_INPUT_ELEMENTS = 4096  # elements of one declared input
DEFAULT_SHAPE = (3,)
BIN_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
CMP_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_NAMES = {
    ast.For: "for loops (use while)",
    ast.Break: "break",
    ast.Continue: "continue",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.Attribute: "attribute access (like x.sum(): write sum(x))",
    ast.Subscript: "indexing with [...]",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dictionaries",
    ast.Lambda: "lambda",
    ast.IfExp: "if-expressions (use where(c, a, b))",
    ast.JoinedStr: "f-strings",
    ast.ClassDef: "class",
    ast.With: "with",
    ast.Try: "try",
    ast.FunctionDef: "a def inside a def",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.Delete: "del",
    ast.Assert: "assert",
    ast.Raise: "raise",
    ast.Starred: "starred arguments (*x)",
    ast.NamedExpr: "the := operator",
    ast.AnnAssign: "type annotations",
}


def fail(node: ast.AST, message: str) -> ProgramError:
    return ProgramError(message, getattr(node, "lineno", 0) or 0, (getattr(node, "col_offset", -1) or 0) + 1)


def describe(node: ast.AST) -> str:
    return _NAMES.get(type(node), type(node).__name__)


def _suggest(name: str, choices) -> str:
    near = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def parse_tree(text: Any) -> ast.Module:
    """Stage 1: bounded ``ast.parse`` with located syntax errors and a depth check."""
    return parse_source(text, MAX_DEPTH)


def literal_number(node: ast.AST) -> float | None:
    """The value of ``3``, ``-2.5``, ``+1``; None for anything else."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = float(node.value) if abs(node.value) < 1e300 else math.inf
        if not math.isfinite(value) or abs(value) > 1e30:
            raise fail(node, f"the number {node.value!r} is too large (keep numbers within ±1e30)")
        return sign * value
    return None


# -- stage 2: the signature ------------------------------------------------------------------------
def _shape(node: ast.AST | None, name: str) -> tuple[int, ...]:
    if node is None:
        return DEFAULT_SHAPE
    if not isinstance(node, ast.List) or not node.elts or len(node.elts) > 4:
        raise fail(node, f"the shape of {name} must be a list of 1 to 4 sizes, like {name}: [4, 3]")
    dims = []
    for d in node.elts:
        if not (isinstance(d, ast.Constant) and type(d.value) is int and 1 <= d.value <= MAX_INPUT_ELEMENTS):
            raise fail(d, f"every size in the shape of {name} must be a whole number from 1 to 4096")
        dims.append(d.value)
    if math.prod(dims) > MAX_INPUT_ELEMENTS:
        raise fail(
            node, f"{name} would have {math.prod(dims):,} elements; the limit is {MAX_INPUT_ELEMENTS:,}"
        )
    return tuple(dims)


def signature(fn: ast.FunctionDef) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
        raise fail(fn, f"{fn.name}() may take plain parameters only (no defaults, *args or **kwargs)")
    if fn.decorator_list or fn.returns:
        raise fail(fn, f"{fn.name}() may not have decorators or a return annotation")
    names = [p.arg for p in a.args]
    for p in a.args:
        if "__" in p.arg or p.arg in OPS:
            raise fail(p, f"{p.arg!r} cannot be a parameter name")
    if len(set(names)) != len(names):
        raise fail(fn, f"{fn.name}() names a parameter twice")
    if len(names) > 6:
        raise fail(fn, f"{fn.name}() takes {len(names)} parameters; the limit is 6")
    return tuple(names), tuple(_shape(p.annotation, p.arg) for p in a.args)


# -- stage 3 and 4: statements and expressions ------------------------------------------------------
class Checker:
    """Walks one function body, refusing anything outside the whitelist."""

    def __init__(self, fn: ast.FunctionDef, params, allow_save: bool, allow_stack: bool, extra_calls, known):
        self.fn, self.params = fn, params
        self.allow_save, self.allow_stack = allow_save, allow_stack
        self.calls = {**{n: OPS[n].arity for n in CALLABLE}, **extra_calls}
        self.known = frozenset(known)
        self.assigned: set[str] = set()
        self.reads: dict[str, ast.AST] = {}
        self.saved: list[str] = []
        self.count = 0

    def body(self, stmts: list[ast.stmt], top: bool) -> None:
        for k, st in enumerate(stmts):
            self.count += 1
            if self.count > MAX_STATEMENTS:
                raise fail(st, f"the function has more than {MAX_STATEMENTS} statements")
            last = top and k == len(stmts) - 1
            self.statement(st, top, last)
        if top and not (stmts and isinstance(stmts[-1], ast.Return)):
            raise fail(self.fn, f"{self.fn.name}() must end with a return statement, like return y")

    def statement(self, st: ast.stmt, top: bool, last: bool) -> None:
        if isinstance(st, ast.Assign):
            if len(st.targets) != 1:
                raise fail(st, "assign one name at a time (no a = b = ...)")
            target = st.targets[0]
            if isinstance(target, ast.Tuple):
                raise fail(target, "unpacking (a, b = ...) is not part of this language")
            self.target(target)
            if self._is_pop(st.value):
                return
            self.expr(st.value)
        elif isinstance(st, ast.AugAssign):
            self.target(st.target)
            self.binop_symbol(st.op, st)
            self.read(st.target.id, st.target)
            self.expr(st.value)
        elif isinstance(st, (ast.If, ast.While)):
            if isinstance(st, ast.While) and st.orelse:
                raise fail(st, "while ... else is not part of this language")
            self.expr(st.test)
            self.body(st.body, False)
            self.body(st.orelse, False)
        elif isinstance(st, ast.Return):
            if not last:
                raise fail(
                    st,
                    "return may only be the last line of the function: give the result a "
                    "name in each branch and return it once at the end",
                )
            values = st.value.elts if isinstance(st.value, ast.Tuple) else [st.value]
            if st.value is None or not values:
                raise fail(st, "return needs a value, like return y")
            for v in values:
                self.expr(v)
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
            self.call_statement(st.value, top)
        elif not isinstance(st, ast.Pass):
            raise fail(
                st,
                f"{describe(st)} is not part of this language; write assignments, if, "
                "while and one return at the end",
            )

    def _is_pop(self, value: ast.AST) -> bool:
        is_pop = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "pop"
        if is_pop and not (self.allow_stack and not value.args and not value.keywords):
            raise fail(value, "pop() belongs to generated derivative code only")
        return is_pop

    def call_statement(self, call: ast.Call, top: bool) -> None:
        name = call.func.id if isinstance(call.func, ast.Name) else ""
        if name == "save" and self.allow_save:
            if not top:
                raise fail(call, "save(...) must stand at the top level of forward, not inside if/while")
            if call.keywords or not call.args or not all(isinstance(a, ast.Name) for a in call.args):
                raise fail(call, "save(...) takes names, like save(x, y)")
            for a in call.args:
                self.read(a.id, a)
                self.saved.append(a.id)
            return
        if name == "push" and self.allow_stack and len(call.args) == 1:
            self.expr(call.args[0])
            return
        self.expr(call)
        raise fail(call, "a call on its own line does nothing; assign its result to a name")

    def target(self, node: ast.AST) -> None:
        if not isinstance(node, ast.Name):
            raise fail(node, f"you can only assign to a plain name, not to {describe(node)}")
        if "__" in node.id or node.id in self.calls:
            raise fail(node, f"{node.id!r} cannot be used as a variable name")
        self.assigned.add(node.id)

    def read(self, name: str, node: ast.AST) -> None:
        if "__" in name:
            raise fail(node, f"names with double underscores like {name!r} are not allowed")
        if name in self.calls:
            raise fail(node, f"{name!r} is a function; call it, like {name}(x)")
        self.reads.setdefault(name, node)

    def binop_symbol(self, op: ast.operator, node: ast.AST) -> str:
        if type(op) not in BIN_SYMBOL:
            raise fail(node, "this operator is not supported; use + - * / ** or @")
        return BIN_SYMBOL[type(op)]

    def expr(self, node: ast.AST) -> None:
        if literal_number(node) is not None:
            return
        if isinstance(node, ast.Name):
            self.read(node.id, node)
        elif isinstance(node, ast.BinOp):
            self.binop_symbol(node.op, node)
            self.expr(node.left)
            self.expr(node.right)
        elif isinstance(node, ast.UnaryOp):
            self.expr(node.operand)
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in CMP_SYMBOL:
                raise fail(node, "write one comparison at a time (<, <=, >, >=, ==, !=), like a < b")
            self.expr(node.left)
            self.expr(node.comparators[0])
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                self.expr(v)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Constant):
            raise fail(node, f"the value {node.value!r} is not a number; only numbers and tensors exist here")
        else:
            raise fail(node, f"{describe(node)} is not part of this language")

    def call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            raise fail(node, f"only functions called by name are allowed, not {describe(node.func)}")
        name = node.func.id
        if name not in self.calls:
            raise fail(node, f"unknown function {name!r}{_suggest(name, self.calls)}")
        low, high = self.calls[name]
        if not low <= len(node.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise fail(node, f"{name}() takes {want} argument(s), not {len(node.args)}")
        spec = OPS.get(name)
        for k, a in enumerate(node.args):
            if spec is not None and k in spec.literal_args:
                if literal_number(a) is None:
                    raise fail(a, f"argument {k + 1} of {name}() must be a number, like {name}(x, -1, 1)")
            else:
                self.expr(a)
        for kw in node.keywords:
            ok = spec is not None and spec.axis and kw.arg == "axis"
            value = kw.value
            is_int = isinstance(value, ast.Constant) and (value.value is None or type(value.value) is int)
            if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
                is_int = isinstance(value.operand, ast.Constant) and type(value.operand.value) is int
            if not ok or not is_int:
                raise fail(
                    kw,
                    f"{name}() accepts only axis= with a whole number, like sum(x, axis=0)"
                    if spec is not None and spec.axis
                    else f"{name}() takes no keyword arguments",
                )

    def check_names(self) -> None:
        """Stage 4: every name read is a parameter, assigned in the body, or declared by the caller."""
        defined = set(self.params) | self.assigned | self.known
        for name, node in self.reads.items():
            if name not in defined:
                raise fail(node, f"name {name!r} is not defined{_suggest(name, defined)}")
