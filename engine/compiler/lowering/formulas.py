"""Elementwise formulas: what each unary, binary and broadcasting op computes, as a tensor expression.

Stages of :func:`elementwise_value`: (1) the op's operands arrive as value expressions (loads with
numpy broadcasting from :func:`broadcast_load`, batchnorm's per-channel vectors on axis 1 from
:func:`operand_load`, or the values of earlier members of a fused group); (2) the op's formula is
written with the same operation order as the engine's numpy kernel — e.g. ``sigmoid`` in its
overflow-free form, ``erf`` as the Abramowitz & Stegun polynomial of
:func:`engine.core.ops.elementwise.erf`, batchnorm folded to ``x*a + b`` — so the compiled kernel
rounds like the interpreter. ``max``/``min`` become LLVM's NaN-propagating ``maximum``/``minimum``.
Not handled: integer ops, ops with several outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...core.errors import EngineError
from ...core.ops import elementwise as ew
from .index import idx
from .texpr import Binary, Compare, Const, FExpr, Load, Select, Unary

UNARY = (
    "neg",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sqrt",
    "abs",
    "sigmoid",
    "relu",
    "relu6",
    "gelu",
    "hswish",
    "square",
    "erf",
    "leaky_relu",
    "clip",
    "identity",
)
BINARY = ("add", "sub", "mul", "div", "pow", "max", "min")
ELEMENTWISE = UNARY + BINARY + ("batchnorm",)


def _c(v: float) -> Const:
    return Const(float(v))


def _max(a: FExpr, b: FExpr) -> FExpr:
    return Binary("max", a, b)


def _min(a: FExpr, b: FExpr) -> FExpr:
    return Binary("min", a, b)


def _erf(z: FExpr) -> FExpr:
    """Abramowitz & Stegun 7.1.26, the formula of :func:`engine.core.ops.elementwise.erf`."""
    t = Binary("div", _c(1.0), Binary("add", _c(1.0), Binary("mul", _c(ew._AS_P), Unary("abs", z))))
    a1, a2, a3, a4, a5 = ew._AS_A
    poly: FExpr = _c(a5)
    for a in (a4, a3, a2, a1):
        poly = Binary("add", _c(a), Binary("mul", t, poly))
    poly = Binary("mul", t, poly)
    y = Binary("sub", _c(1.0), Binary("mul", poly, Unary("exp", Unary("neg", Binary("mul", z, z)))))
    return Select(Compare("lt", z, _c(0.0)), Unary("neg", y), y)


def _clip(x: FExpr, lo: float, hi: float) -> FExpr:
    if lo > -math.inf:
        x = _max(x, _c(lo))
    if hi < math.inf:
        x = _min(x, _c(hi))
    return x


def elementwise_value(op: str, attrs: dict, xs: Sequence[FExpr]) -> FExpr:
    """The formula of one elementwise/broadcast op applied to operand values ``xs``."""
    if op in BINARY:
        return Binary(op, xs[0], xs[1])
    x = xs[0]
    if op in ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "abs"):
        return Unary(op, x)
    if op == "identity":
        return x
    if op == "square":
        return Binary("mul", x, x)
    if op == "relu":
        return _max(x, _c(0.0))
    if op == "relu6":
        return _clip(x, 0.0, 6.0)
    if op == "clip":
        return _clip(x, float(attrs["min"]), float(attrs["max"]))
    if op == "leaky_relu":
        return Select(Compare("ge", x, _c(0.0)), x, Binary("mul", x, _c(attrs["alpha"])))
    if op == "hswish":
        return Binary("div", Binary("mul", x, _clip(Binary("add", x, _c(3.0)), 0.0, 6.0)), _c(6.0))
    if op == "sigmoid":  # the engine's overflow-free form: e = exp(-|x|)
        e = Unary("exp", Unary("neg", Unary("abs", x)))
        one_plus = Binary("add", _c(1.0), e)
        return Select(Compare("ge", x, _c(0.0)), Binary("div", _c(1.0), one_plus), Binary("div", e, one_plus))
    if op == "erf":
        return _erf(x)
    if op == "gelu":
        y = Binary("add", _erf(Binary("mul", x, _c(1 / math.sqrt(2)))), _c(1.0))
        return Binary("mul", Binary("mul", y, x), _c(0.5))
    if op == "batchnorm":
        scale, bias, mean, var = xs[1:]
        a = Binary("div", scale, Unary("sqrt", Binary("add", var, _c(attrs["epsilon"]))))
        return Binary("add", Binary("mul", x, a), Binary("sub", bias, Binary("mul", mean, a)))
    raise EngineError(f"no elementwise formula for {op}")


def broadcast_load(name: str, shape: tuple, out_axes: Sequence[str], out_shape: tuple) -> Load:
    """Load ``name`` at the output position with numpy broadcasting (right-aligned dims)."""
    lead = len(out_shape) - len(shape)
    indices = []
    for d, size in enumerate(shape):
        stretched = isinstance(size, int) and size == 1 and out_shape[lead + d] != 1
        indices.append(idx(0) if stretched else idx(out_axes[lead + d]))
    return Load(name, tuple(indices))


def operand_load(
    op: str, pos: int, name: str, shape: tuple, out_axes: Sequence[str], out_shape: tuple
) -> Load:
    """An operand at the output position: batchnorm's per-channel vectors follow axis 1, every
    other operand numpy broadcasting."""
    if op == "batchnorm" and pos >= 1:
        return Load(name, (idx(out_axes[1]),))
    return broadcast_load(name, shape, out_axes, out_shape)
