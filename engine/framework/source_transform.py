"""Source transformation: write the derivative program's text from the function's syntax tree.

Where the tape (tape.py) records what *ran*, this reads what is *written* and produces a new program
in the same language, ``def f_grad(...)``, that computes the gradient — the way Tapenade, Tangent
and MindSpore's automatic differentiation work (reverse mode, "store all" with a stack). Stages of
:func:`reverse_program`:
  1. lower every expression to one op per statement (``h = x @ w`` stays; ``y = cos(h) * 2`` becomes
     ``t1 = cos(h)`` then ``y = t1 * 2``); tests of ``if``/``while`` get temporaries too;
  2. find which names are overwritten (assigned in a loop or in more than one place): only those need
     their old value kept — on a stack: ``push(v)`` before each assignment;
  3. forward sweep: the function itself, plus the pushes, one branch flag pushed per ``if`` and one
     trip counter pushed per ``while`` (the loop test is recomputed at the end of each trip);
  4. reverse sweep, statements in reverse order: for ``v = op(a, b)``, take ``v``'s adjoint, restore
     the old ``v`` with ``pop()`` (if it was pushed), then add each input's share
     ``d_a = d_a + rule`` using the VJP rule of function_ops.py with the names filled in; an ``if``
     pops its flag and reverses the branch that ran; a ``while`` pops its counter and reverses the
     body that many times; tests carry no gradient and are not reversed;
  5. seed the output's adjoint (1, or ones for a tensor: the gradient of its sum) and return
     ``d_p + zeros_like(p)`` for every parameter ``p`` (zeros where no gradient reached it).
The result is checked and run by the same parser and interpreter as the student's function.
Not handled: several returned values, functions that call custom ops.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..core.errors import EngineError
from .function_checker import BIN_SYMBOL, CMP_SYMBOL, literal_number
from .function_language import Function, parse_expression
from .function_ops import BINARY_SYMBOLS, COMPARE_SYMBOLS, OPS, rule_text


class SourceTransformError(EngineError):
    """A function the source transformation cannot differentiate."""


@dataclass(frozen=True)
class Simple:
    target: str
    op: str  # an op of function_ops, or "copy"
    args: tuple[str, ...]  # names or number literals as text
    attrs: tuple = ()
    line: int = 0


@dataclass(frozen=True)
class Branch:
    test: tuple[Simple, ...]
    flag: str  # the temporary holding the test's value
    then: tuple = ()
    orelse: tuple = ()
    loop: bool = False


@dataclass
class _Names:
    used: set[str]
    count: int = 0

    def fresh(self, base: str) -> str:
        while True:
            self.count += 1
            name = f"{base}{self.count}"
            if name not in self.used:
                self.used.add(name)
                return name

    def exact(self, base: str) -> str:
        name = base
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name


# -- stage 1: one op per statement -------------------------------------------------------------------
class _Lower:
    def __init__(self, names: _Names):
        self.names = names
        self.result = ""

    def expr(self, node: ast.AST, out: list, target: str | None = None) -> str:
        num = literal_number(node)
        if num is not None:
            return repr(num)
        if isinstance(node, ast.Name):
            return node.id
        op, args, attrs = self.parts(node, out)
        name = target or self.names.fresh("t")
        out.append(Simple(name, op, tuple(args), tuple(sorted(attrs.items())), getattr(node, "lineno", 0)))
        return name

    def parts(self, node: ast.AST, out: list):
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left, out), self.expr(node.right, out)
            return BINARY_SYMBOLS[BIN_SYMBOL[type(node.op)]], [left, right], {}
        if isinstance(node, ast.UnaryOp):
            inner = self.expr(node.operand, out)
            if isinstance(node.op, ast.UAdd):
                return "copy", [inner], {}
            return ("neg" if isinstance(node.op, ast.USub) else "logical_not"), [inner], {}
        if isinstance(node, ast.Compare):
            left, right = self.expr(node.left, out), self.expr(node.comparators[0], out)
            return COMPARE_SYMBOLS[CMP_SYMBOL[type(node.ops[0])]], [left, right], {}
        if isinstance(node, ast.BoolOp):
            name = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
            value = self.expr(node.values[0], out)
            for other in node.values[1:-1]:
                value = self.expr_op(name, [value, self.expr(other, out)], out)
            return name, [value, self.expr(node.values[-1], out)], {}
        call = node.func.id
        attrs = {k.arg: _axis_value(k.value) for k in node.keywords}
        if OPS[call].axis and "axis" not in attrs:
            attrs["axis"] = None
        return call, [self.expr(a, out) for a in node.args], attrs

    def expr_op(self, op: str, args: list, out: list) -> str:
        name = self.names.fresh("t")
        out.append(Simple(name, op, tuple(args)))
        return name

    def block(self, stmts, out: list) -> None:
        for st in stmts:
            if isinstance(st, (ast.Assign, ast.AugAssign)):
                target = st.targets[0].id if isinstance(st, ast.Assign) else st.target.id
                value = st.value
                if isinstance(st, ast.AugAssign):
                    value = ast.copy_location(ast.BinOp(ast.Name(target, ast.Load()), st.op, st.value), st)
                if isinstance(value, ast.Name) or literal_number(value) is not None:
                    out.append(Simple(target, "copy", (self.expr(value, out),), line=st.lineno))
                else:
                    self.expr(value, out, target)
            elif isinstance(st, (ast.If, ast.While)):
                test: list = []
                flag = self.expr(st.test, test)
                then, orelse = [], []
                self.block(st.body, then)
                self.block(st.orelse, orelse)
                out.append(Branch(tuple(test), flag, tuple(then), tuple(orelse), isinstance(st, ast.While)))
            elif isinstance(st, ast.Return):
                if isinstance(st.value, ast.Tuple):
                    raise SourceTransformError("the source transformation differentiates one returned value")
                self.result = self.expr(st.value, out)


def _axis_value(node: ast.AST):
    if isinstance(node, ast.UnaryOp):
        return -node.operand.value
    return node.value


# -- stages 2 to 5: the derivative program --------------------------------------------------------
def _count(block, in_loop: bool, counts: dict, loops: set) -> None:
    for s in block:
        if isinstance(s, Simple):
            counts[s.target] = counts.get(s.target, 0) + 1
            if in_loop:
                loops.add(s.target)
        else:
            _count(s.then, in_loop or s.loop, counts, loops)
            _count(s.orelse, in_loop or s.loop, counts, loops)


def _is_name(arg: str) -> bool:
    return arg.isidentifier()


def _op_text(s: Simple) -> str:
    spec, args = OPS.get(s.op), list(s.args)
    if s.op == "copy":
        return args[0]
    if s.op == "neg":
        return f"-{args[0]}"
    if s.op == "logical_not":
        return f"not {args[0]}"
    if spec.symbol:
        return f"{args[0]} {spec.symbol} {args[1]}"
    attrs = "".join(f", {k}={v}" for k, v in s.attrs if v is not None)
    return f"{s.op}({', '.join(args)}{attrs})"


class _Substitute(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name):
        if node.id not in self.mapping:
            return node
        value = self.mapping[node.id]
        return ast.Name(value, ast.Load()) if _is_name(value) else ast.Constant(float(value))


def _rule(text: str, mapping: dict[str, str]) -> str:
    return ast.unparse(_Substitute(mapping).visit(parse_expression(text)))


@dataclass
class _Writer:
    names: _Names
    pushed: set[str]
    adjoint: dict[str, str]
    g_name: str = "g_"
    y_name: str = "y_"
    lines: list[str] = field(default_factory=list)
    counters: dict[int, str] = field(default_factory=dict)

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def forward(self, block, depth: int) -> None:
        for s in block:
            if isinstance(s, Simple):
                if s.target in self.pushed:
                    self.emit(depth, f"push({s.target})")
                self.emit(depth, f"{s.target} = {_op_text(s)}")
            elif s.loop:
                counter = self.counters.setdefault(id(s), self.names.fresh("n"))
                self.emit(depth, f"{counter} = 0")
                self.tests(s, depth)
                self.emit(depth, f"while {s.flag}:")
                self.forward_body(s.then, depth + 1)
                self.tests(s, depth + 1)
                self.emit(depth + 1, f"{counter} = {counter} + 1")
                self.emit(depth, f"push({counter})")
            else:
                self.tests(s, depth)
                flag = s.flag
                if not s.test:  # a user's name or a number: copy it, the branch may change it
                    flag = self.names.fresh("c")
                    self.emit(depth, f"{flag} = {s.flag}")
                self.emit(depth, f"if {flag}:")
                self.forward_body(s.then, depth + 1)
                if s.orelse:
                    self.emit(depth, "else:")
                    self.forward_body(s.orelse, depth + 1)
                self.emit(depth, f"push({flag})")  # after the branch: popped before reversing it

    def tests(self, s: Branch, depth: int) -> None:
        for t in s.test:
            self.emit(depth, f"{t.target} = {_op_text(t)}")

    def forward_body(self, block, depth: int) -> None:
        before = len(self.lines)
        self.forward(block, depth)
        if len(self.lines) == before:
            self.emit(depth, "pass")

    def reverse(self, block, depth: int) -> None:
        for s in reversed(block):
            if isinstance(s, Simple):
                self.reverse_simple(s, depth)
            elif s.loop:
                counter = self.counters[id(s)]
                self.emit(depth, f"{counter} = pop()")
                self.emit(depth, f"while {counter} > 0:")
                self.reverse(s.then, depth + 1)
                self.emit(depth + 1, f"{counter} = {counter} - 1")
            else:
                flag = self.names.fresh("b")
                self.emit(depth, f"{flag} = pop()")
                self.emit(depth, f"if {flag}:")
                self.reverse_body(s.then, depth + 1)
                if s.orelse:
                    self.emit(depth, "else:")
                    self.reverse_body(s.orelse, depth + 1)

    def reverse_body(self, block, depth: int) -> None:
        before = len(self.lines)
        self.reverse(block, depth)
        if len(self.lines) == before:
            self.emit(depth, "pass")

    def reverse_simple(self, s: Simple, depth: int) -> None:
        attrs = dict(s.attrs)
        if s.op == "clip":
            attrs.update(lo=s.args[1], hi=s.args[2])
        rules = [
            (arg, "g" if s.op == "copy" else rule_text(s.op, k, attrs))
            for k, arg in enumerate(s.args)
            if _is_name(arg) and (s.op == "copy" or rule_text(s.op, k, attrs))
        ]
        g, y = self.adjoint[s.target], s.target
        if s.target in self.pushed:
            g, y = self.g_name, self.y_name
            self.emit(depth, f"{g} = {self.adjoint[s.target]}")
            if any("y" in _names_in(r) for _, r in rules):
                self.emit(depth, f"{y} = {s.target}")
            self.emit(depth, f"{self.adjoint[s.target]} = 0.0")
            self.emit(depth, f"{s.target} = pop()")
        mapping = {"g": g, "y": y, **dict(zip("abc", s.args))}
        for arg, rule in rules:
            d = self.adjoint[arg]
            self.emit(depth, f"{d} = {d} + {_rule(rule, mapping)}")


def _names_in(text: str) -> set[str]:
    return {n.id for n in ast.walk(parse_expression(text)) if isinstance(n, ast.Name)}


@dataclass(frozen=True)
class DerivativeProgram:
    """The generated program and what it keeps: its text is in the function language."""

    name: str
    text: str
    forward_lines: int  # lines of the forward sweep
    reverse_lines: int  # lines of the reverse sweep
    pushed: tuple[str, ...]  # names whose old values go on the stack


def reverse_program(fn: Function) -> DerivativeProgram:
    """The reverse-mode derivative of ``fn`` written as a program (see the module docstring)."""
    names = _Names(set(fn.params) | set(fn.assigned) | set(fn.reads))
    low = _Lower(names)
    block: list = []
    low.block(fn.body, block)
    counts = dict.fromkeys(fn.params, 1)
    loops: set[str] = set()
    _count(block, False, counts, loops)
    pushed = {v for v, c in counts.items() if c > 1 or v in loops}
    adjoint = {v: names.exact(f"d_{v}") for v in [*fn.params, *sorted(set(counts) - set(fn.params))]}
    w = _Writer(names, pushed, adjoint, names.exact("g_"), names.exact("y_"))
    w.emit(0, f"def {fn.name}_grad({', '.join(fn.params)}):")
    w.emit(1, "# forward sweep: the function, keeping overwritten values on a stack")
    for v in sorted(pushed - set(fn.params)):
        w.emit(1, f"{v} = 0.0")
    w.forward(block, 1)
    n_forward = len(w.lines) - 2
    w.emit(1, "# reverse sweep: adjoints, last statement first")
    for d in adjoint.values():
        w.emit(1, f"{d} = 0.0")
    if _is_name(low.result):
        w.emit(1, f"{adjoint[low.result]} = ones_like({low.result})")
    w.reverse(block, 1)
    w.emit(1, "return " + ", ".join(f"{adjoint[p]} + zeros_like({p})" for p in fn.params))
    n_reverse = len(w.lines) - n_forward - 3
    return DerivativeProgram(
        f"{fn.name}_grad", "\n".join(w.lines) + "\n", n_forward, n_reverse, tuple(sorted(pushed))
    )
