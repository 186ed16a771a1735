"""The loop level: a tensor expression + a schedule -> nests of loops over buffers, loads and stores.

Stages of :func:`build_loops`:
  1. choose where the reduction lives: when every reduction loop lies inside every spatial loop the
     running value is a register (``acc = init`` before the reduction loops, ``acc = acc + body``
     inside, ``out[...] = epilogue(acc)`` after them); otherwise it lives in the output buffer,
     TVM-style, in three nests: ``init`` (``out = init``), ``main`` (``out = out + body``) and, if
     anything follows the reduction, ``epilogue``;
  2. write the main nest from the innermost statement outwards: each loop of the schedule becomes a
     :class:`For`; an axis split into several loops is rebuilt (``i = i_o*4 + i_i``) right inside its
     innermost piece; axes whose split overshoots get a :class:`Guard` around the statement that
     reads or writes (the store of a register sum is guarded by the spatial axes only);
  3. a vectorised loop over a reduction axis either keeps a vector accumulator (``acc`` has as many
     lanes as the vector, summed across lanes once at the end) or, with the sum in memory, sums
     the lanes of each vector product before adding it (``sum_lanes``);
  4. :func:`format_loops` prints the nests as Python-like text.
The level knows loop order, bounds, steps, vector width and which statements repeat; it no longer
knows the op's name or that the axes were dimensions of named tensors (buffers are flat arrays with
row-major strides from here on). Not handled: loops over symbolic bounds with a schedule, parallel
loops, loop fusion across nests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...core import budget
from ...core.errors import BudgetError
from ...kernels.gemm import Loop
from .index import Idx, idx
from .schedule import LoopSchedule
from .texpr import (
    AccRef,
    Binary,
    Compare,
    Compute,
    Const,
    FExpr,
    LaneSum,
    Load,
    Select,
    Unary,
    fmt_number,
    format_expr,
    strip_outer,
)

MAX_UNROLLED_COPIES = 256  # copies of the innermost statement made by unrolling (IR size)


@dataclass(frozen=True)
class For:
    loop: Loop
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class AxisLet:
    axis: str
    value: Idx


@dataclass(frozen=True)
class AccInit:
    acc: str
    value: float
    lanes: int = 1


@dataclass(frozen=True)
class AccUpdate:
    acc: str
    combiner: str
    value: FExpr


@dataclass(frozen=True)
class Store:
    buffer: str
    indices: tuple[Idx, ...]
    value: FExpr


@dataclass(frozen=True)
class Guard:
    conds: tuple[tuple[Idx, Idx | int], ...]  # all(index < bound)
    body: tuple[Stmt, ...]


Stmt = For | AxisLet | AccInit | AccUpdate | Store | Guard


@dataclass(frozen=True)
class Nest:
    name: str  # init | main | epilogue
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class LoopProgram:
    name: str
    compute: Compute
    schedule: LoopSchedule
    nests: tuple[Nest, ...]
    accumulation: str  # register | memory | none
    iterations: int | None  # of the main nest's innermost statement (None: symbolic)
    unrolled_copies: int

    @property
    def vector_width(self) -> int:
        return self.schedule.vector_width

    @property
    def sizes(self) -> tuple[str, ...]:
        """Symbolic sizes (function arguments of a shape-generic kernel), sorted."""
        names: set[str] = set()
        for b in self.compute.buffers:
            for d in b.shape:
                if not isinstance(d, int):
                    names |= idx(d).free_vars()
        return tuple(sorted(names))


def substitute_acc(e: FExpr, new: FExpr) -> FExpr:
    """``e`` with every :class:`AccRef` replaced by ``new``."""
    if isinstance(e, AccRef):
        return new
    if isinstance(e, Unary):
        return Unary(e.op, substitute_acc(e.a, new))
    if isinstance(e, Binary):
        return Binary(e.op, substitute_acc(e.a, new), substitute_acc(e.b, new))
    if isinstance(e, Compare):
        return Compare(e.op, substitute_acc(e.a, new), substitute_acc(e.b, new))
    if isinstance(e, Select):
        return Select(substitute_acc(e.cond, new), substitute_acc(e.a, new), substitute_acc(e.b, new))
    if isinstance(e, LaneSum):
        return LaneSum(e.combiner, substitute_acc(e.value, new))
    return e


def _combine(combiner: str, a: FExpr, b: FExpr) -> FExpr:
    return Binary("add" if combiner == "sum" else "max", a, b)


def _axis_value(s: LoopSchedule, axis: str) -> Idx:
    out = idx(0)
    for loop in s.loops:
        if loop.axis == axis:
            out = out + idx(loop.name) * loop.step
    return out


def _plain(s: LoopSchedule, axis: str) -> bool:
    parts = [l for l in s.loops if l.axis == axis]
    return len(parts) == 1 and parts[0].name == axis and parts[0].step == 1


def _guards(s: LoopSchedule, axes) -> tuple[tuple[Idx, Idx | int], ...]:
    out = []
    for a in axes:
        parts = [l for l in s.loops if l.axis == a.name]
        if isinstance(a.extent, int) and math.prod(l.extent for l in parts) != a.extent:
            out.append((idx(a.name), a.extent))
    return tuple(out)


def _wrap(
    s: LoopSchedule, loops: tuple[Loop, ...], inner: tuple[Stmt, ...], prefix: dict
) -> tuple[Stmt, ...]:
    """Nest ``inner`` in ``loops`` (outermost first); ``prefix[pos]`` goes first in loop pos's body."""
    body = inner
    for pos in range(len(loops) - 1, -1, -1):
        body = (For(loops[pos], prefix.get(pos, ()) + body),)
    return body


def _axis_lets(s: LoopSchedule, loops: tuple[Loop, ...]) -> dict[int, tuple[Stmt, ...]]:
    last: dict[str, int] = {}
    for pos, loop in enumerate(loops):
        last[loop.axis] = pos
    out: dict[int, tuple[Stmt, ...]] = {}
    for axis, pos in last.items():
        if not _plain(s, axis):
            out[pos] = out.get(pos, ()) + (AxisLet(axis, _axis_value(s, axis)),)
    return out


def _plain_nest(c: Compute, name: str, stmt_for) -> Nest:
    loops = tuple(Loop(a.name, a.name, a.extent, 1) for a in c.axes)
    out_index = tuple(idx(a.name) for a in c.axes)
    return Nest(name, _wrap(None, loops, (stmt_for(out_index),), {}))


def build_loops(c: Compute, s: LoopSchedule) -> LoopProgram:
    """The loop program of ``c`` under schedule ``s`` (see the module docstring)."""
    s.check()
    copies = math.prod(l.extent for l in s.loops if l.kind == "unroll")
    if copies > MAX_UNROLLED_COPIES:
        raise BudgetError(
            f"the unrolled loops copy the loop body {copies:,} times; the limit is {MAX_UNROLLED_COPIES}"
        )
    out_index = tuple(idx(a.name) for a in c.axes)
    lanes = s.vector_width
    vec_reduce = lanes > 1 and s.axis(s.loops[-1].axis).reduce
    lets = _axis_lets(s, s.loops)
    all_guards = _guards(s, c.all_axes)
    nests: list[Nest] = []
    if c.combiner is None:
        store = Store(c.output, out_index, substitute_acc(c.epilogue, c.body))
        inner = (Guard(all_guards, (store,)),) if all_guards else (store,)
        nests.append(Nest("main", _wrap(s, s.loops, inner, lets)))
        mode = "none"
    elif s.register_accumulation:
        split = next(p for p, l in enumerate(s.loops) if s.axis(l.axis).reduce)
        update = AccUpdate("acc", c.combiner, c.body)
        inner = (Guard(all_guards, (update,)),) if all_guards else (update,)
        red = s.loops[split:]
        red_lets = {p - split: v for p, v in lets.items() if p >= split}
        reduce_nest = _wrap(s, red, inner, red_lets)
        acc: FExpr = AccRef("acc") if not vec_reduce else LaneSum(c.combiner, AccRef("acc"))
        store = Store(c.output, out_index, substitute_acc(c.epilogue, acc))
        sp_guards = _guards(s, c.axes)
        tail = (Guard(sp_guards, (store,)),) if sp_guards else (store,)
        body = (AccInit("acc", c.init, lanes if vec_reduce else 1), *reduce_nest, *tail)
        spatial_lets = {p: v for p, v in lets.items() if p < split}
        nests.append(Nest("main", _wrap(s, s.loops[:split], body, spatial_lets)))
        mode = "register"
    else:
        nests.append(_plain_nest(c, "init", lambda ix: Store(c.output, ix, Const(c.init))))
        value = LaneSum(c.combiner, c.body) if vec_reduce else c.body
        update = Store(c.output, out_index, _combine(c.combiner, Load(c.output, out_index), value))
        inner = (Guard(all_guards, (update,)),) if all_guards else (update,)
        nests.append(Nest("main", _wrap(s, s.loops, inner, lets)))
        if not isinstance(c.epilogue, AccRef):
            nests.append(
                _plain_nest(
                    c,
                    "epilogue",
                    lambda ix: Store(c.output, ix, substitute_acc(c.epilogue, Load(c.output, ix))),
                )
            )
        mode = "memory"
    iterations = None
    if all(isinstance(l.extent, int) for l in s.loops):
        iterations = math.prod(l.extent for l in s.loops)
        budget.check_work(iterations, "the kernel's loop nest")
    return LoopProgram(c.output, c, s, tuple(nests), mode, iterations, copies)


# -- text ----------------------------------------------------------------------------------------------
def _loop_header(loop: Loop) -> str:
    if loop.kind == "vectorize":
        return f"for {loop.name} in vector({loop.extent}):  # one {loop.extent}-wide vector instruction"
    if loop.kind == "unroll":
        return f"for {loop.name} in unroll({loop.extent}):  # body copied {loop.extent} times"
    return f"for {loop.name} in range({loop.extent}):"


def _format_stmts(stmts, shapes, depth: int, lines: list[str]) -> None:
    pad = "    " * depth
    for st in stmts:
        if isinstance(st, For):
            lines.append(pad + _loop_header(st.loop))
            _format_stmts(st.body, shapes, depth + 1, lines)
        elif isinstance(st, AxisLet):
            lines.append(f"{pad}{st.axis} = {st.value}")
        elif isinstance(st, AccInit):
            init = fmt_number(st.value)
            text = f"[{init}] * {st.lanes}  # {st.lanes} lanes" if st.lanes > 1 else init
            lines.append(f"{pad}{st.acc} = {text}")
        elif isinstance(st, AccUpdate):
            value = strip_outer(format_expr(st.value, shapes))
            op = f"{st.acc} + {value}" if st.combiner == "sum" else f"max({st.acc}, {value})"
            lines.append(f"{pad}{st.acc} = {op}")
        elif isinstance(st, Store):
            target = f"{st.buffer}[{', '.join(str(i) for i in st.indices)}]"
            lines.append(f"{pad}{target} = {strip_outer(format_expr(st.value, shapes))}")
        elif isinstance(st, Guard):
            lines.append(pad + "if " + " and ".join(f"{i} < {b}" for i, b in st.conds) + ":")
            _format_stmts(st.body, shapes, depth + 1, lines)


def format_loops(p: LoopProgram) -> str:
    """The loop program as Python-like text, one block per nest."""
    c = p.compute
    shapes = {b.name: b.shape for b in c.buffers}
    lines = [f"# {c.source}: {p.accumulation} accumulation" if c.combiner else f"# {c.source}"]
    for b in c.buffers:
        dims = ", ".join(str(d) for d in b.shape) or "1"
        lines.append(f"# {b.role} {b.name}: float32[{dims}]")
    for nest in p.nests:
        if len(p.nests) > 1:
            lines.append(f"# -- {nest.name} --")
        _format_stmts(nest.body, shapes, 0, lines)
    return "\n".join(lines)
