"""The safe program language: a small, whitelisted subset of Python syntax that builds a Graph.

A program is plain text such as::

    x = input([4, 8])                 # an input of shape 4x8, values drawn from the seed
    W = param([8, 16], init="normal") # a trainable weight
    y = relu(x @ W + 1.0)             # operators and calls to registered ops
    output(y)                         # optional: name the outputs (default: the last assignment)

Stages of :func:`parse_program`:
  1. size check (:data:`engine.core.budget.MAX_PROGRAM_CHARS`), then ``ast.parse`` — the text is only ever
     parsed, never compiled or executed; syntax errors keep their line and column;
  2. a depth check over the tree (iterative, so hostile nesting cannot exhaust the stack);
  3. a walk over the statements, each checked against the whitelist: assignments, augmented
     assignments, tuple unpacking of ``split`` and one ``output(...)`` statement. Expressions may only
     be names, numeric literals, ``+ - * / ** @``, unary ``-``/``+`` and calls to the sources
     (``input``, ``param``, ``constant``) or to registered ops; keyword arguments are op attributes
     whose values are literals;
  4. every call goes through :class:`~engine.core.ir.GraphBuilder`, which infers shapes and checks the
     budgets *before* anything is allocated; its errors come back as :class:`ProgramError` located at
     the offending expression.

Rules for sources: ``input([4, 8])`` is a shape (values drawn from the seed), ``input(2.0)`` is a
scalar with the given value, ``input(value=[[1, 2]])`` is a tensor with the given value; ``param``
takes a shape and ``init="normal"|"uniform"|"ones"|"zeros"``; ``constant(3.0)`` or a bare number is a
constant node. Positional arguments of an op fill its tensor inputs first; extra positional literals
fill its attributes in declaration order (``split(x, 2, axis=1)``, ``reshape(x, [2, 8])``).

Not handled (refused with a message): attribute access, subscripts, imports, functions, classes,
loops, conditionals, comprehensions, f-strings, starred arguments, chained assignment.
:func:`engine.core.program_format.format_program` writes a graph back as a program.
"""

from __future__ import annotations

import ast
import difflib
import math
import warnings
from typing import Any

import numpy as np

from . import budget
from .errors import EngineError, ProgramError
from .ir import Graph, GraphBuilder
from .registry import all_ops

SOURCES = ("input", "param", "constant")
STATEMENT_FUNCS = ("output",)
INITS = ("normal", "uniform", "ones", "zeros")
MAX_DEPTH = 100  # nesting depth of the syntax tree
MAX_LITERAL_ELEMENTS = 4096  # numbers in one list literal (values, not shapes)
_BINOPS = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.Pow: "pow",
    ast.MatMult: "matmul",
}
_SYMBOL = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}
_FORBIDDEN_CALLS = {
    "print",
    "eval",
    "exec",
    "open",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "globals",
    "locals",
    "vars",
    "dir",
    "type",
    "help",
    "exit",
    "quit",
    "breakpoint",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access (like x.shape)",
    ast.Subscript: "indexing with [...]",
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.FunctionDef: "def (defining functions)",
    ast.AsyncFunctionDef: "def (defining functions)",
    ast.ClassDef: "class",
    ast.For: "for loops",
    ast.AsyncFor: "for loops",
    ast.While: "while loops",
    ast.If: "if",
    ast.IfExp: "if-expressions",
    ast.With: "with",
    ast.AsyncWith: "with",
    ast.Try: "try",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.Starred: "starred arguments (*x)",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Return: "return",
    ast.Delete: "del",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.Assert: "assert",
    ast.Raise: "raise",
    ast.NamedExpr: "the := operator",
    ast.Slice: "slices",
    ast.AnnAssign: "type annotations",
}


def _where(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0) or 0, (getattr(node, "col_offset", -1) or 0) + 1


def _fail(node: ast.AST, message: str) -> ProgramError:
    return ProgramError(message, *_where(node))


def _describe(node: ast.AST) -> str:
    return _NODE_NAMES.get(type(node), type(node).__name__)


def _callable_names() -> list[str]:
    return sorted({*SOURCES, *STATEMENT_FUNCS, *all_ops()})


# -- stage 1 and 2: parse and check depth ---------------------------------------------------------
def parse_source(text: Any, max_depth: int = MAX_DEPTH, hint: bool = False) -> ast.Module:
    """Stages 1 and 2 of every safe language here (the graph language, the CFG language, the
    custom-function language): a size check, ``ast.parse`` (never compiled or run) with located
    syntax errors, then an iterative depth check. ``hint`` adds the graph language's advice (name the
    parts of a long expression)."""
    if not isinstance(text, str):
        raise ProgramError(f"a program must be text, not {type(text).__name__}")
    if len(text) > budget.MAX_PROGRAM_CHARS:
        raise ProgramError(
            f"the program has {len(text):,} characters; the limit is {budget.MAX_PROGRAM_CHARS:,}"
        )
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence": not the student's concern
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="exec")
    except SyntaxError as exc:
        raise ProgramError(f"syntax error: {exc.msg}", exc.lineno or 0, exc.offset or 0) from None
    except (RecursionError, MemoryError):
        if hint:
            raise ProgramError(
                f"the program is nested too deeply to read; the limit is {max_depth} "
                "levels — give parts of the expression their own names"
            ) from None
        raise ProgramError(
            f"the program is nested too deeply to read; the limit is {max_depth} levels"
        ) from None
    except ValueError as exc:  # e.g. a NUL character in the source
        raise ProgramError(f"the program text cannot be read: {exc}") from None
    _check_depth(tree, max_depth, hint)
    return tree


def _parse(text: Any) -> ast.Module:
    return parse_source(text, MAX_DEPTH, hint=True)


def _check_depth(tree: ast.AST, max_depth: int = MAX_DEPTH, hint: bool = True) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            if hint:
                raise _fail(
                    node,
                    f"this expression is nested more than {max_depth} levels deep; "
                    "give parts of it their own names",
                )
            raise _fail(node, f"this code is nested more than {max_depth} levels deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# -- stage 3: literals ----------------------------------------------------------------------------
def _number(node: ast.AST) -> float | int | None:
    """The value of a numeric literal (``3``, ``-2.5``, ``+1``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        if isinstance(value, int) and abs(value) > 2**63:
            raise _fail(node, f"the number {_short(value)} is too large (keep numbers within ±1e38)")
        if not math.isfinite(value) or abs(value) > 3.4e38:
            raise _fail(node, f"the number {_short(value)} is too large for float32 (limit ±3.4e38)")
        return sign * value
    return None


def _suggest(name: str, choices: list[str], n: int, cutoff: float = 0.6) -> str:
    """'; did you mean 'a' or 'b'?' from difflib's nearest matches, or ''."""
    near = difflib.get_close_matches(name, choices, n=n, cutoff=cutoff)
    if not near:
        return ""
    return "; did you mean " + " or ".join(repr(x) for x in near) + "?"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:10] + "…" + text[-6:]


def _literal(node: ast.AST) -> Any:
    """An attribute value: number, string, True/False/None, or (nested) list/tuple of them."""
    num = _number(node)
    if num is not None:
        return num
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, str))):
        if isinstance(node.value, str) and len(node.value) > 200:
            raise _fail(node, "a text value is longer than 200 characters")
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > MAX_LITERAL_ELEMENTS:
            raise _fail(
                node, f"a list literal has {len(node.elts):,} items; the limit is {MAX_LITERAL_ELEMENTS:,}"
            )
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Constant):
        raise _fail(
            node,
            f"the value {_short(node.value)} is not allowed here; use numbers, "
            "lists of numbers, text, True, False or None",
        )
    raise _fail(
        node,
        f"an attribute value must be a literal (a number, a list of numbers, text, "
        f"True/False/None), not {_describe(node)}",
    )


def _shape(node: ast.AST, what: str) -> tuple[int, ...]:
    value = _literal(node)
    if isinstance(value, bool) or isinstance(value, (int, float)):
        value = [value]
    if not isinstance(value, list):
        raise _fail(node, f"{what} must be a list of sizes like [4, 8], not {value!r}")
    for d in value:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise _fail(
                node, f"{what} {_short(value)}: every size must be a positive whole number, not {d!r}"
            )
    shape = tuple(value)
    if len(shape) > 8:
        raise _fail(node, f"{what} has {len(shape)} dimensions; the limit is 8")
    try:
        budget.check_tensor(shape, "a tensor")
    except EngineError as exc:
        raise _fail(node, str(exc)) from None
    return shape


def _value_array(node: ast.AST, what: str) -> np.ndarray:
    value = _literal(node)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(
            node, f"{what} must be a number or a rectangular list of numbers, not {_short(value)}"
        ) from None
    if arr.dtype == object or arr.size > MAX_LITERAL_ELEMENTS:
        raise _fail(node, f"{what} must be a rectangular list of at most {MAX_LITERAL_ELEMENTS} numbers")
    if any(isinstance(v, (str, bool)) or v is None for v in _flat(value)):
        raise _fail(node, f"{what} must contain numbers only")
    return arr.astype(np.float32)


def _flat(value: Any):
    if isinstance(value, list):
        for v in value:
            yield from _flat(v)
    else:
        yield value


# -- stage 3 and 4: statements and expressions ----------------------------------------------------
class _Compiler:
    """Walks the tree and drives a GraphBuilder; every error becomes a located ProgramError."""

    def __init__(self, title: str):
        self.b = GraphBuilder(title)
        self.names: dict[str, str] = {}  # program variable -> provisional ref
        self.last: str | None = None
        self.outputs: list[str] | None = None
        self.ops = all_ops()

    # statements
    def statement(self, st: ast.stmt) -> None:
        if isinstance(st, ast.Assign):
            self.assign(st)
        elif isinstance(st, ast.AugAssign):
            self.aug_assign(st)
        elif isinstance(st, ast.Expr):
            self.expression_statement(st)
        elif isinstance(st, ast.Pass):
            return
        else:
            raise _fail(
                st,
                f"{_describe(st)} is not part of this language; write assignments "
                "like y = relu(x @ W) and at most one output(...)",
            )

    def assign(self, st: ast.Assign) -> None:
        if len(st.targets) != 1:
            raise _fail(st, "chained assignment (a = b = ...) is not allowed; assign one name at a time")
        target = st.targets[0]
        if isinstance(target, (ast.Tuple, ast.List)):
            self.unpack_split(target, st.value)
            return
        self.check_target(target)
        ref = self.expr(st.value)
        self.bind(target.id, ref)

    def aug_assign(self, st: ast.AugAssign) -> None:
        self.check_target(st.target)
        op = self.binop_name(st.op, st)
        left = self.lookup(st.target.id, st.target)
        right = self.expr(st.value)
        self.bind(st.target.id, self.call_op(op, [left, right], {}, st))

    def expression_statement(self, st: ast.Expr) -> None:
        call = st.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "output":
            if self.outputs is not None:
                raise _fail(st, "output(...) may appear only once; list every output in one call")
            if call.keywords or not call.args:
                raise _fail(st, "output(...) takes one or more tensors, like output(y) or output(a, b)")
            self.outputs = [self.expr(a) for a in call.args]
            return
        self.expr(st.value)  # report a forbidden call or name first: it is the bigger problem
        raise _fail(
            st,
            "an expression on its own line does nothing; assign it to a name "
            "(y = ...) or list it in output(...)",
        )

    def check_target(self, target: ast.AST) -> None:
        if not isinstance(target, ast.Name):
            raise _fail(target, f"you can only assign to a plain name, not to {_describe(target)}")
        name = target.id
        if name.startswith("__") or "__" in name:
            raise _fail(target, f"names with double underscores like {name!r} are not allowed")
        if name in self.ops or name in SOURCES or name in STATEMENT_FUNCS:
            raise _fail(target, f"{name!r} is the name of a function; choose another variable name")

    def bind(self, name: str, ref: str) -> None:
        self.b.bind(name, ref)
        self.names[name] = self.b.variable(name)
        self.last = self.names[name]

    def unpack_split(self, target: ast.Tuple | ast.List, value: ast.AST) -> None:
        call = value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "split"):
            raise _fail(
                target, "unpacking a, b = ... works only with split(...), like a, b = split(x, 2, axis=1)"
            )
        for t in target.elts:
            self.check_target(t)
        args, attrs = self.call_arguments("split", call)
        if "index" in attrs:
            raise _fail(call, "with a, b = split(...) the pieces are numbered for you; drop index=")
        parts = attrs.get("parts", self.ops["split"].attrs.get("parts", 2))
        if parts != len(target.elts):
            raise _fail(
                target,
                f"split(...) makes {parts} piece(s) but there are {len(target.elts)} names on the left",
            )
        refs = [
            self.call_op("split", args, {**attrs, "parts": parts, "index": k}, call)
            for k in range(len(target.elts))
        ]
        for t, ref in zip(target.elts, refs):
            self.bind(t.id, ref)

    # expressions
    def expr(self, node: ast.AST) -> str:
        num = _number(node)
        if num is not None:
            return self.guard(node, lambda: self.b.constant(float(num)))
        if isinstance(node, ast.Name):
            return self.lookup(node.id, node)
        if isinstance(node, ast.BinOp):
            op = self.binop_name(node.op, node)
            left, right = self.expr(node.left), self.expr(node.right)
            return self.call_op(op, [left, right], {}, node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return self.call_op("neg", [self.expr(node.operand)], {}, node)
            raise _fail(node, "only the unary operators - and + are allowed")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            arr = _value_array(node, "a list used as a tensor")
            return self.guard(node, lambda: self.b.constant(arr))
        if isinstance(node, ast.Constant):
            raise _fail(
                node, f"the value {_short(node.value)} cannot be used as a tensor; use a number like 2.0"
            )
        raise _fail(node, f"{_describe(node)} is not part of this language")

    def binop_name(self, op: ast.operator, node: ast.AST) -> str:
        name = _BINOPS.get(type(op))
        if name is None:
            sym = _SYMBOL.get(type(op), type(op).__name__)
            raise _fail(node, f"the operator {sym} is not supported; use + - * / ** or @")
        return name

    def lookup(self, name: str, node: ast.AST) -> str:
        ref = self.names.get(name)
        if ref is not None:
            return ref
        if name in self.ops or name in SOURCES:
            raise _fail(node, f"{name!r} is a function; call it, like {name}(x)")
        if name.startswith("__"):
            raise _fail(node, f"names with double underscores like {name!r} are not allowed")
        raise _fail(node, f"name {name!r} is not defined{_suggest(name, list(self.names), 1, 0.5)}")

    def call(self, node: ast.Call) -> str:
        if not isinstance(node.func, ast.Name):
            raise _fail(node, f"only functions called by name are allowed, not {_describe(node.func)}")
        name = node.func.id
        if name in SOURCES:
            return self.source(name, node)
        if name in self.ops:
            args, attrs = self.call_arguments(name, node)
            return self.call_op(name, args, attrs, node)
        if name == "output":
            raise _fail(node, "output(...) must stand on its own line, like output(y)")
        if name.startswith("__") or name in _FORBIDDEN_CALLS:
            raise _fail(
                node,
                f"calling {name!r} is not allowed: only the ops of the engine "
                "(like relu, matmul, conv2d) and input/param/constant can be called",
            )
        raise _fail(node, f"unknown function {name!r}{_suggest(name, _callable_names(), 2)}")

    def call_arguments(self, name: str, node: ast.Call) -> tuple[list[str], dict[str, Any]]:
        op = self.ops[name]
        attr_names = list(op.attrs)
        attrs: dict[str, Any] = {}
        args: list[str] = []
        for k, a in enumerate(node.args):
            if isinstance(a, ast.Starred):
                raise _fail(a, "starred arguments (*x) are not allowed")
            if k < op.max_inputs:
                args.append(self.expr(a))
                continue
            slot = k - op.max_inputs
            if slot >= len(attr_names):
                raise _fail(
                    a,
                    f"{name}() takes at most {op.max_inputs} tensor(s) and "
                    f"{len(attr_names)} attribute(s); too many arguments",
                )
            attrs[attr_names[slot]] = _literal(a)
        for kw in node.keywords:
            if kw.arg is None:
                raise _fail(kw.value, "**keyword unpacking is not allowed")
            if kw.arg not in op.attrs:
                near = difflib.get_close_matches(kw.arg, attr_names, n=1)
                allowed = ", ".join(attr_names) or "none"
                hint = f"; did you mean {near[0]!r}?" if near else f" (allowed: {allowed})"
                raise _fail(kw, f"{name}() has no attribute {kw.arg!r}{hint}")
            if kw.arg in attrs:
                raise _fail(kw, f"{name}() got {kw.arg!r} twice")
            attrs[kw.arg] = _literal(kw.value)
        return args, attrs

    def source(self, name: str, node: ast.Call) -> str:
        allowed = {"input": ("shape", "value"), "param": ("shape", "init", "value"), "constant": ("value",)}[
            name
        ]
        given: dict[str, ast.AST] = {}
        if len(node.args) > 1:
            raise _fail(node, f"{name}() takes one positional argument, like {name}([4, 8])")
        for kw in node.keywords:
            if kw.arg not in allowed:
                raise _fail(
                    kw.value if kw.arg is None else kw,
                    f"{name}() accepts only {', '.join(a + '=' for a in allowed)}",
                )
            given[kw.arg] = kw.value
        if node.args:
            first = node.args[0]
            if isinstance(first, ast.Starred):
                raise _fail(first, "starred arguments (*x) are not allowed")
            key = "value" if name == "constant" or _number(first) is not None else "shape"
            if name == "param" and key == "value":
                key = "shape"
            if key in given:
                raise _fail(node, f"{name}() got {key}= twice")
            given[key] = first
        if "shape" in given and "value" in given:
            raise _fail(node, f"give {name}() either a shape or a value, not both")
        if name == "constant" and "value" not in given:
            raise _fail(node, "constant() needs a value, like constant(3.0)")
        if name == "param" and "shape" not in given and "value" not in given:
            raise _fail(node, "param() needs a shape, like param([8, 16])")
        if "value" in given:
            arr = _value_array(given["value"], f"the value of {name}()")
            return self.guard(node, lambda: self.make_source(name, arr, None, given))
        shape = _shape(given["shape"], f"the shape of {name}()") if "shape" in given else ()
        return self.guard(node, lambda: self.make_source(name, None, shape, given))

    def make_source(self, name: str, arr, shape, given: dict[str, ast.AST]) -> str:
        if name == "constant":
            return self.b.constant(arr)
        if name == "input":
            return self.b.input(shape or (), value=arr)
        init = "normal"
        if "init" in given:
            init = _literal(given["init"])
            if init not in INITS:
                raise _fail(
                    given["init"],
                    f"init={init!r} is not known; use one of {', '.join(repr(i) for i in INITS)}",
                )
        return self.b.param(shape or (), init=init, value=arr)

    def call_op(self, name: str, args: list[str], attrs: dict, node: ast.AST) -> str:
        return self.guard(node, lambda: self.b.op(name, *args, **attrs))

    def guard(self, node: ast.AST, fn):
        try:
            return fn()
        except ProgramError:
            raise
        except EngineError as exc:
            raise _fail(node, str(exc)) from None
        except (TypeError, ValueError, OverflowError, ZeroDivisionError, IndexError, KeyError) as exc:
            raise _fail(node, f"this call cannot be built: {exc}") from None

    def finish(self) -> Graph:
        outputs = self.outputs
        if outputs is None:
            if self.last is None:
                raise ProgramError(
                    "the program assigns nothing; write at least one line like x = input([4, 8])", 1, 1
                )
            outputs = [self.last]
        return self.b.build(outputs)


def parse_program(text: str, title: str = "") -> Graph:
    """Parse a program of the safe language into a :class:`Graph` (see the module docstring).

    Raises :class:`ProgramError` (with ``line``/``col``) for anything it refuses.
    """
    tree = _parse(text)
    comp = _Compiler(title)
    try:
        for st in tree.body:
            comp.statement(st)
        return comp.finish()
    except ProgramError:
        raise
    except RecursionError:
        raise ProgramError(f"the program is nested too deeply; the limit is {MAX_DEPTH} levels") from None
    except EngineError as exc:
        raise ProgramError(str(exc)) from None
