"""The tensor-expression level: what one output element is, as a formula over iteration axes.

A :class:`Compute` is TVM's ``te.compute`` in miniature: the output buffer is indexed by the
*spatial* axes; an optional reduction (sum or max over the *reduce* axes) folds the ``body``; the
``epilogue`` then maps the folded value (:class:`AccRef`) to what is stored — fused elementwise
consumers, a bias, gemm's ``alpha``/``beta``. Stages of building one (:mod:`.from_graph` does it):
  1. buffers: every operand tensor and the output, by name, with their (row-major) shapes;
  2. axes: one per output dimension, plus the reduction axes with their extents;
  3. the body: loads of the operands indexed by :class:`~.index.Idx` over the axes; a load whose
     index may leave its buffer (conv padding) carries the dimensions to check and reads 0 there;
  4. the epilogue over the folded value.
Value expressions (:data:`FExpr`) are float32 scalars; :class:`LaneSum` appears only after the
loop level vectorises a reduction axis (a horizontal sum of the vector lanes).
Not handled: integer tensors, multi-output computations, reductions other than sum and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .index import Idx

UNARY_OPS = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "abs")
BINARY_OPS = ("add", "sub", "mul", "div", "pow", "max", "min")
COMPARE_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Load:
    """``buffer[indices]``; for each dimension in ``checks`` the index is tested against the buffer
    size and the load yields ``pad`` outside (padding that is never materialised)."""

    buffer: str
    indices: tuple[Idx, ...]
    checks: tuple[int, ...] = ()
    pad: float = 0.0


@dataclass(frozen=True)
class Unary:
    op: str
    a: FExpr


@dataclass(frozen=True)
class Binary:
    op: str
    a: FExpr
    b: FExpr


@dataclass(frozen=True)
class Compare:
    op: str
    a: FExpr
    b: FExpr


@dataclass(frozen=True)
class Select:
    cond: Compare
    a: FExpr
    b: FExpr


@dataclass(frozen=True)
class AccRef:
    """The folded value of the reduction (or the body, when there is none) inside the epilogue."""

    name: str = "acc"


@dataclass(frozen=True)
class LaneSum:
    """Combine the lanes of a vector value into one scalar (``combiner`` is sum or max)."""

    combiner: str
    value: FExpr


FExpr = Const | Load | Unary | Binary | Select | AccRef | LaneSum


@dataclass(frozen=True)
class Buffer:
    name: str
    shape: tuple[Idx | int, ...]
    role: str  # input | output
    graph_shape: tuple[int, ...] | None = None  # the tensor's own shape when read as a view (reshape)

    @property
    def static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def numel(self) -> int:
        return math.prod(int(d) for d in self.shape)


@dataclass(frozen=True)
class Axis:
    name: str
    extent: Idx | int
    reduce: bool = False


@dataclass(frozen=True)
class Compute:
    """One kernel at the tensor-expression level (see the module docstring)."""

    output: str
    axes: tuple[Axis, ...]  # spatial: one per output dimension
    reduce_axes: tuple[Axis, ...]
    body: FExpr
    combiner: str | None  # "sum" | "max" | None (no reduction)
    init: float
    epilogue: FExpr  # over AccRef()
    buffers: tuple[Buffer, ...]  # inputs first, the output last
    source: str  # the op (or fused ops) it came from

    @property
    def all_axes(self) -> tuple[Axis, ...]:
        return self.axes + self.reduce_axes

    def buffer(self, name: str) -> Buffer:
        return next(b for b in self.buffers if b.name == name)

    @property
    def inputs(self) -> tuple[Buffer, ...]:
        return tuple(b for b in self.buffers if b.role == "input")

    @property
    def static(self) -> bool:
        return all(b.static for b in self.buffers)


# -- printing -----------------------------------------------------------------------------------------
def fmt_number(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    return repr(float(value)) if abs(value) < 1e6 else f"{value:.6g}"


def format_load(load: Load, shapes: dict[str, tuple]) -> str:
    text = f"{load.buffer}[{', '.join(str(i) for i in load.indices)}]"
    if not load.checks:
        return text
    tests = " and ".join(f"0 <= {load.indices[d]} < {shapes[load.buffer][d]}" for d in load.checks)
    return f"({text} if {tests} else {fmt_number(load.pad)})"


def format_expr(e: FExpr, shapes: dict[str, tuple], acc: str = "acc") -> str:
    """Python-like text of a value expression."""
    if isinstance(e, Const):
        return fmt_number(e.value)
    if isinstance(e, Load):
        return format_load(e, shapes)
    if isinstance(e, AccRef):
        return acc
    if isinstance(e, Unary):
        inner = format_expr(e.a, shapes, acc)
        return f"-({inner})" if e.op == "neg" else f"{e.op}({inner})"
    if isinstance(e, Binary):
        a, b = format_expr(e.a, shapes, acc), format_expr(e.b, shapes, acc)
        if e.op in _SYMBOL:
            return f"({a} {_SYMBOL[e.op]} {b})"
        return f"{e.op}({a}, {b})"
    if isinstance(e, Compare):
        return f"{format_expr(e.a, shapes, acc)} {_CMP[e.op]} {format_expr(e.b, shapes, acc)}"
    if isinstance(e, Select):
        cond = format_expr(e.cond, shapes, acc)
        return f"({format_expr(e.a, shapes, acc)} if {cond} else {format_expr(e.b, shapes, acc)})"
    if isinstance(e, LaneSum):
        return f"{e.combiner}_lanes({format_expr(e.value, shapes, acc)})"
    raise TypeError(f"not a value expression: {e!r}")


def strip_outer(text: str) -> str:
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for pos, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and pos < len(text) - 1:
                return text
        return text[1:-1]
    return text


def format_compute(c: Compute) -> str:
    """The compute definition, e.g. ``y[i, j] = sum over k < 8 of (x[i, k] * W[k, j])``."""
    shapes = {b.name: b.shape for b in c.buffers}
    lines = [f"# {c.source}"]
    for b in c.buffers:
        dims = ", ".join(str(d) for d in b.shape) or "scalar"
        lines.append(f"{b.role} {b.name}: float32[{dims}]")
    out = f"{c.output}[{', '.join(a.name for a in c.axes)}]"
    ranges = ", ".join(f"{a.name} < {a.extent}" for a in c.axes)
    if ranges:
        lines.append(f"for all {ranges}:")
    pad = "    " if ranges else ""
    body = strip_outer(format_expr(c.body, shapes))
    if c.combiner is None:
        value = strip_outer(format_expr(c.epilogue, shapes, acc=f"({body})"))
        lines.append(f"{pad}{out} = {value}")
        return "\n".join(lines)
    red = ", ".join(f"{a.name} < {a.extent}" for a in c.reduce_axes)
    lines.append(f"{pad}acc = {c.combiner} over {red} of {body}   (starting from {fmt_number(c.init)})")
    lines.append(f"{pad}{out} = {strip_outer(format_expr(c.epilogue, shapes))}")
    return "\n".join(lines)
