"""Autodiff rules: one VJP and one JVP per registered op, keyed by the op's registry name.

For an op ``y = f(x_1, ..., x_k)`` with attributes ``attrs``:
  * ``vjp(xs, y, g, attrs, needs) -> grads``: the vector-Jacobian product ``g^T J_i`` for every input
    ``i`` whose ``needs[i]`` is true (``None`` otherwise); each grad has the shape of ``x_i`` (a
    broadcast input gets its gradient summed back to its own shape);
  * ``jvp(xs, y, dxs, attrs) -> dy``: the Jacobian-vector product ``sum_i J_i dx_i``; a ``None``
    tangent stands for zeros.
Rules are written once per *family*:
  1. elementwise unary ops: only the local derivative ``f'(x)`` is stated (:data:`UNARY`);
  2. broadcasting binary ops: the two partials (:data:`BINARY`);
  3. injective ops (reshape, transpose, slice, concat ...): every output element *is* one input
     element, so the JVP is the op applied to the tangent and the VJP scatters ``g`` back by running
     the op on an array of element indices (one generic rule for all of them);
  4. the rest (matmul, gemm, conv2d, pools, norms, softmax, attention, reductions) by hand;
  5. quantize_linear by the straight-through estimator (its rounding has no useful derivative).

Non-differentiable points: a singularity (log/sqrt at x <= 0, division by zero, pow's base < 0 for
the exponent's derivative) raises :class:`DifferentiationError`. At a kink (relu, abs, clip, max at a
tie) the derivative does not exist either; like PyTorch we use a one-sided value (relu'(0) = 0,
abs'(0) = 0, ties split evenly) and :func:`kink_note` says so in the trace.
Not handled: integer inputs (no derivative), second derivatives (rules act on arrays, not graphs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import EngineError
from ..core.ops.elementwise import erf
from ..core.ops.nn import attention_scale
from ..core.ops.quant import RANGES, along, channel_axis, grid
from ..core.registry import get_op, op_names


class DifferentiationError(EngineError):
    """A derivative that does not exist at the given point, or an op without a rule."""


@dataclass(frozen=True)
class Rule:
    vjp: Callable
    jvp: Callable
    formula: str = ""  # the local derivative in words, shown in the trace table


# -- helpers ----------------------------------------------------------------------------------------
def sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo numpy broadcasting: sum ``g`` down to ``shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(k for k, d in enumerate(shape) if d == 1 and g.shape[k] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


def _zeros_for(dxs, xs):
    return [np.zeros_like(x) if d is None else d for d, x in zip(dxs, xs)]


def _fail(message: str) -> None:
    raise DifferentiationError(message)


def _first_bad(x: np.ndarray, bad: np.ndarray) -> float:
    return float(np.asarray(x)[bad].ravel()[0])


# -- 1. elementwise unary: local derivative f'(x) given x and y --------------------------------------
def _d_log(x, y, at):
    bad = x <= 0
    if bad.any():
        _fail(
            f"log is not differentiable at x = {_first_bad(x, bad):g}: ln x (and its "
            "derivative 1/x) needs x > 0"
        )
    return 1.0 / x


def _d_sqrt(x, y, at):
    bad = x <= 0
    if bad.any():
        _fail(
            f"sqrt is not differentiable at x = {_first_bad(x, bad):g}: its derivative "
            "1/(2 sqrt x) needs x > 0"
        )
    return 0.5 / y


def _d_gelu(x, y, at):
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    return cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _d_hswish(x, y, at):
    return np.where(x < -3, 0.0, np.where(x <= 3, x / 3 + 0.5, 1.0))


UNARY: dict[str, tuple[Callable, str]] = {
    "identity": (lambda x, y, a: np.ones_like(x), "1"),
    "neg": (lambda x, y, a: -np.ones_like(x), "-1"),
    "exp": (lambda x, y, a: y, "e^x = y"),
    "log": (_d_log, "1/x"),
    "sin": (lambda x, y, a: np.cos(x), "cos x"),
    "cos": (lambda x, y, a: -np.sin(x), "-sin x"),
    "tanh": (lambda x, y, a: 1.0 - y * y, "1 - y^2"),
    "sigmoid": (lambda x, y, a: y * (1.0 - y), "y (1 - y)"),
    "relu": (lambda x, y, a: (x > 0).astype(x.dtype), "1 if x > 0 else 0"),
    "relu6": (lambda x, y, a: ((x > 0) & (x < 6)).astype(x.dtype), "1 if 0 < x < 6 else 0"),
    "gelu": (_d_gelu, "Phi(x) + x phi(x)"),
    "hswish": (_d_hswish, "0 (x<-3), x/3 + 1/2 (|x|<=3), 1 (x>3)"),
    "sqrt": (_d_sqrt, "1 / (2 sqrt x)"),
    "abs": (lambda x, y, a: np.sign(x), "sign x"),
    "square": (lambda x, y, a: 2.0 * x, "2x"),
    "erf": (lambda x, y, a: 2.0 / math.sqrt(math.pi) * np.exp(-x * x), "2/sqrt(pi) e^(-x^2)"),
    "leaky_relu": (
        lambda x, y, a: np.where(x > 0, 1.0, float(a["alpha"])).astype(x.dtype),
        "1 if x > 0 else alpha",
    ),
    "clip": (
        lambda x, y, a: ((x >= a["min"]) & (x <= a["max"])).astype(x.dtype),
        "1 if min <= x <= max else 0",
    ),
}
#: where the derivative has a kink (the value used there is PyTorch's one-sided choice)
KINKS = {"relu": (0.0,), "relu6": (0.0, 6.0), "abs": (0.0,), "leaky_relu": (0.0,)}


def _unary_rule(d: Callable, formula: str) -> Rule:
    def vjp(xs, y, g, at, needs):
        return (g * d(xs[0], y, at).astype(g.dtype, copy=False),)

    def jvp(xs, y, dxs, at):
        return dxs[0] * d(xs[0], y, at).astype(dxs[0].dtype, copy=False)

    return Rule(vjp, jvp, f"dy/dx = {formula}")


# -- 2. broadcasting binary ops: the partials (da, db) -------------------------------------------
def _p_div(a, b, y, at, needs):
    bad = b == 0
    if bad.any():
        _fail("div is not differentiable where the divisor b = 0 (d(a/b)/db = -a/b^2)")
    return 1.0 / b, -y / b


def _p_pow(a, b, y, at, needs):
    da = db = None
    if needs[0]:
        bad = (a == 0) & (b < 1) & (b != 0)
        if bad.any():
            _fail(
                f"pow: the derivative b a^(b-1) is infinite at a = 0 with b = "
                f"{_first_bad(b * np.ones_like(a), bad):g} < 1"
            )
        da = b * np.power(a, b - 1)
    if needs[1]:
        bad = a < 0
        if bad.any():
            _fail(
                f"pow: the derivative with respect to the exponent is y ln a, undefined at "
                f"a = {_first_bad(a * np.ones_like(b), bad):g} < 0"
            )
        safe = np.where(a > 0, a, 1.0)
        db = np.where(a > 0, y * np.log(safe), 0.0)
    return da, db


def _p_max(a, b, y, at, needs):
    return (a > b) + 0.5 * (a == b), (b > a) + 0.5 * (a == b)


def _p_min(a, b, y, at, needs):
    return (a < b) + 0.5 * (a == b), (b < a) + 0.5 * (a == b)


BINARY: dict[str, tuple[Callable, str]] = {
    "add": (lambda a, b, y, at, n: (1.0, 1.0), "dy/da = 1, dy/db = 1"),
    "sub": (lambda a, b, y, at, n: (1.0, -1.0), "dy/da = 1, dy/db = -1"),
    "mul": (lambda a, b, y, at, n: (b, a), "dy/da = b, dy/db = a"),
    "div": (_p_div, "dy/da = 1/b, dy/db = -a/b^2"),
    "pow": (_p_pow, "dy/da = b a^(b-1), dy/db = y ln a"),
    "max": (_p_max, "1 to the larger input (ties split evenly)"),
    "min": (_p_min, "1 to the smaller input (ties split evenly)"),
}


def _binary_rule(partials: Callable, formula: str) -> Rule:
    def vjp(xs, y, g, at, needs):
        a, b = xs
        da, db = partials(a, b, y, at, needs)
        ga = sum_to(np.broadcast_to(g * da, g.shape), a.shape).astype(g.dtype) if needs[0] else None
        gb = sum_to(np.broadcast_to(g * db, g.shape), b.shape).astype(g.dtype) if needs[1] else None
        return ga, gb

    def jvp(xs, y, dxs, at):
        a, b = xs
        needs = (dxs[0] is not None, dxs[1] is not None)
        da, db = partials(a, b, y, at, needs)
        out = np.zeros(y.shape, dtype=y.dtype)
        if needs[0]:
            out = out + dxs[0] * da
        if needs[1]:
            out = out + dxs[1] * db
        return out.astype(y.dtype, copy=False)

    return Rule(vjp, jvp, formula)


# -- 3. injective ops: run the op on element indices ---------------------------------------------
def _injective_rule(op_name: str) -> Rule:
    def vjp(xs, y, g, at, needs):
        kernel = get_op(op_name).kernel
        sizes = [x.size for x in xs]
        offsets = np.cumsum([0] + sizes)
        index = [np.arange(o, o + x.size).reshape(x.shape) for o, x in zip(offsets, xs)]
        picked = np.asarray(kernel(index, at))
        flat = np.bincount(
            picked.ravel(), weights=np.asarray(g, np.float64).ravel(), minlength=int(offsets[-1])
        )
        return tuple(
            flat[o : o + x.size].reshape(x.shape).astype(g.dtype) if need else None
            for o, x, need in zip(offsets, xs, needs)
        )

    def jvp(xs, y, dxs, at):
        return np.asarray(get_op(op_name).kernel(_zeros_for(dxs, xs), at), dtype=y.dtype)

    return Rule(vjp, jvp, "each output element is one input element: gradients are scattered back")


# -- 4. hand-written rules ------------------------------------------------------------------------
def _reduce_axes(x: np.ndarray, at) -> tuple[int, ...]:
    if at.get("axes") is None:
        return tuple(range(x.ndim))
    axes = (at["axes"],) if isinstance(at["axes"], (int, np.integer)) else at["axes"]
    return tuple(sorted(int(a) % x.ndim for a in axes))


def _expand(g: np.ndarray, x: np.ndarray, at) -> np.ndarray:
    """Put the reduced axes back into ``g`` (size 1) so it broadcasts against ``x``."""
    axes = _reduce_axes(x, at)
    return g if at.get("keepdims") else np.expand_dims(g, axes) if axes else g


def _reduce_rule(kind: str) -> Rule:
    def weights(x, y, at):
        axes = _reduce_axes(x, at)
        if kind == "sum":
            return np.ones_like(x)
        if kind == "mean":
            return np.full_like(x, 1.0 / max(1, math.prod(x.shape[a] for a in axes)))
        hit = (x == _expand(y, x, at)).astype(x.dtype)  # max: ties share the gradient
        return hit / hit.sum(axis=axes, keepdims=True)

    def vjp(xs, y, g, at, needs):
        x = xs[0]
        return ((_expand(g, x, at) * weights(x, y, at)).astype(g.dtype),)

    def jvp(xs, y, dxs, at):
        x = xs[0]
        out = (dxs[0] * weights(x, y, at)).sum(axis=_reduce_axes(x, at), keepdims=bool(at.get("keepdims")))
        return np.asarray(out, dtype=y.dtype).reshape(y.shape)

    text = {
        "sum": "1 for every element",
        "mean": "1/count for every element",
        "max": "1 for the maximum (ties share it)",
    }[kind]
    return Rule(vjp, jvp, text)


def _as_matrices(a, b, g):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a.ndim == 1:
        g = np.expand_dims(g, -2)
    if b.ndim == 1:
        g = np.expand_dims(g, -1)
    return a2, b2, g


def _matmul_vjp(xs, y, g, at, needs):
    a, b = xs
    a2, b2, g2 = _as_matrices(a, b, g)
    ga = sum_to(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) if needs[0] else None
    gb = sum_to(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape) if needs[1] else None
    return ga, gb


def _matmul_jvp(xs, y, dxs, at):
    a, b = xs
    out = np.zeros(y.shape, y.dtype)
    if dxs[0] is not None:
        out = out + np.matmul(dxs[0], b)
    if dxs[1] is not None:
        out = out + np.matmul(a, dxs[1])
    return out


def _gemm_vjp(xs, y, g, at, needs):
    alpha, beta = float(at["alpha"]), float(at["beta"])
    a = xs[0].T if at["trans_a"] else xs[0]
    b = xs[1].T if at["trans_b"] else xs[1]
    ga = gb = gc = None
    if needs[0]:
        ga = alpha * (g @ b.T)
        ga = ga.T if at["trans_a"] else ga
    if needs[1]:
        gb = alpha * (a.T @ g)
        gb = gb.T if at["trans_b"] else gb
    if len(xs) > 2 and needs[2]:
        gc = sum_to(beta * g, xs[2].shape)
    grads = (ga, gb, gc)[: len(xs)]
    return tuple(None if x is None else np.asarray(x, g.dtype) for x in grads)


def _gemm_jvp(xs, y, dxs, at):
    a = xs[0].T if at["trans_a"] else xs[0]
    b = xs[1].T if at["trans_b"] else xs[1]
    out = np.zeros(y.shape, y.dtype)
    if dxs[0] is not None:
        out = out + float(at["alpha"]) * ((dxs[0].T if at["trans_a"] else dxs[0]) @ b)
    if dxs[1] is not None:
        out = out + float(at["alpha"]) * (a @ (dxs[1].T if at["trans_b"] else dxs[1]))
    if len(xs) > 2 and dxs[2] is not None:
        out = out + float(at["beta"]) * dxs[2]
    return out.astype(y.dtype, copy=False)


def _softmax_vjp(xs, y, g, at, needs):
    axis = int(at["axis"])
    return ((y * (g - (g * y).sum(axis=axis, keepdims=True))).astype(g.dtype),)


def _softmax_jvp(xs, y, dxs, at):
    axis = int(at["axis"])
    return (y * (dxs[0] - (dxs[0] * y).sum(axis=axis, keepdims=True))).astype(y.dtype)


def _layernorm_parts(x, at):
    axes = tuple(range(int(at["axis"]) % x.ndim, x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + float(at["epsilon"]))
    return axes, centred * inv, inv


def _layernorm_vjp(xs, y, g, at, needs):
    axes, xhat, inv = _layernorm_parts(xs[0], at)
    gx = g * xs[1] if len(xs) > 1 else g
    dx = inv * (gx - gx.mean(axis=axes, keepdims=True) - xhat * (gx * xhat).mean(axis=axes, keepdims=True))
    grads = [dx.astype(g.dtype)]
    if len(xs) > 1:
        grads.append(sum_to(g * xhat, xs[1].shape).astype(g.dtype) if needs[1] else None)
    if len(xs) > 2:
        grads.append(sum_to(g, xs[2].shape).astype(g.dtype) if needs[2] else None)
    return tuple(grads)


def _layernorm_jvp(xs, y, dxs, at):
    axes, xhat, inv = _layernorm_parts(xs[0], at)
    out = np.zeros_like(xhat)
    if dxs[0] is not None:
        d = dxs[0] - dxs[0].mean(axis=axes, keepdims=True)
        out = inv * (d - xhat * (xhat * d).mean(axis=axes, keepdims=True))
        out = out * xs[1] if len(xs) > 1 else out
    if len(xs) > 1 and dxs[1] is not None:
        out = out + xhat * dxs[1]
    if len(xs) > 2 and dxs[2] is not None:
        out = out + dxs[2]
    return out.astype(y.dtype)


def _attention_parts(xs, at):
    """(scale, P = softmax(scale q k^T)) of attention(q, k, v), in the inputs' precision."""
    q, k, _ = xs
    scale = attention_scale(at, q.shape[-1])
    s = scale * np.matmul(q, np.swapaxes(k, -1, -2))
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return scale, p / p.sum(axis=-1, keepdims=True)


def _softmax_back(p, dp):
    return p * (dp - (dp * p).sum(axis=-1, keepdims=True))


def _attention_vjp(xs, y, g, at, needs):
    q, k, v = xs
    scale, p = _attention_parts(xs, at)
    ds = scale * _softmax_back(p, np.matmul(g, np.swapaxes(v, -1, -2)))
    gq = sum_to(np.matmul(ds, k), q.shape) if needs[0] else None
    gk = sum_to(np.matmul(np.swapaxes(ds, -1, -2), q), k.shape) if needs[1] else None
    gv = sum_to(np.matmul(np.swapaxes(p, -1, -2), g), v.shape) if needs[2] else None
    return tuple(None if x is None else np.asarray(x, g.dtype) for x in (gq, gk, gv))


def _attention_jvp(xs, y, dxs, at):
    q, k, v = xs
    dq, dk, dv = _zeros_for(dxs, xs)
    scale, p = _attention_parts(xs, at)
    ds = scale * (np.matmul(dq, np.swapaxes(k, -1, -2)) + np.matmul(q, np.swapaxes(dk, -1, -2)))
    out = np.matmul(_softmax_back(p, ds), v) + np.matmul(p, dv)
    return out.astype(y.dtype, copy=False)


def _channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def _bn_partials(xs, at):
    x, scale, bias, mean, var = xs
    inv = 1.0 / np.sqrt(var + float(at["epsilon"]))
    xhat = (x - _channel(mean, x)) * _channel(inv, x)
    d_x = _channel(scale * inv, x)
    d_var = -0.5 * xhat * _channel(scale * inv * inv, x)
    return (d_x, xhat, 1.0, -d_x, d_var)


def _batchnorm_vjp(xs, y, g, at, needs):
    parts = _bn_partials(xs, at)
    x = xs[0]
    other = tuple(k for k in range(x.ndim) if k != 1)
    grads = [None] * 5
    if needs[0]:
        grads[0] = (g * parts[0]).astype(g.dtype)
    for k in range(1, 5):
        if needs[k]:
            grads[k] = np.asarray(np.broadcast_to(g * parts[k], x.shape).sum(axis=other), g.dtype)
    return tuple(grads)


def _batchnorm_jvp(xs, y, dxs, at):
    parts = _bn_partials(xs, at)
    out = np.zeros(y.shape, y.dtype)
    for k, d in enumerate(dxs):
        if d is not None:
            out = out + (d if k == 0 else _channel(d, xs[0])) * parts[k]
    return out.astype(y.dtype)


# conv2d: the columns of im2col; the VJP for x scatters columns back (col2im)
def _conv_setup(x, w, at):
    from ..core.ops.nn import _conv_geometry  # the op's own geometry, so the rule and kernel agree

    out, stride, pad, dil, groups = _conv_geometry([x.shape, w.shape], at)
    return out, stride, pad, dil, groups


def _conv_cols(x, w, at):
    (n, cout, ho, wo), (sh, sw), (ph, pw), (dh, dw), g = _conv_setup(x, w, at)
    c, (kh, kw) = x.shape[1], w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, g, (c // g) * kh * kw, ho * wo)


def _conv_vjp(xs, y, g, at, needs):
    x, w = xs[0], xs[1]
    (n, cout, ho, wo), (sh, sw), (ph, pw), (dh, dw), groups = _conv_setup(x, w, at)
    c, (kh, kw) = x.shape[1], w.shape[2:]
    g4 = g.reshape(n, groups, cout // groups, ho * wo)
    wg = w.reshape(groups, cout // groups, -1)
    gx = gw = gb = None
    if needs[1]:
        cols = _conv_cols(x, w, at)
        gw = np.einsum("ngoq,ngkq->gok", g4, cols).reshape(w.shape).astype(g.dtype)
    if needs[0]:
        gcols = np.matmul(np.swapaxes(wg, 1, 2), g4)  # (n, groups, K, Ho*Wo)
        gcols = gcols.reshape(n, c, kh, kw, ho, wo)
        gxp = np.zeros((n, c, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), g.dtype)
        for i in range(kh):
            for j in range(kw):
                r, s = i * dh, j * dw
                gxp[:, :, r : r + sh * (ho - 1) + 1 : sh, s : s + sw * (wo - 1) + 1 : sw] += gcols[:, :, i, j]
        gx = gxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    if len(xs) > 2 and needs[2]:
        gb = g.sum(axis=(0, 2, 3)).astype(g.dtype)
    return (gx, gw, gb)[: len(xs)]


def _conv_jvp(xs, y, dxs, at):
    kernel = get_op("conv2d").kernel
    out = np.zeros(y.shape, y.dtype)
    if dxs[0] is not None:
        out = out + kernel([dxs[0], xs[1]], at)
    if dxs[1] is not None:
        out = out + kernel([xs[0], dxs[1]], at)
    if len(xs) > 2 and dxs[2] is not None:
        out = out + dxs[2][None, :, None, None]
    return out


# pools: the window offsets of the op's own geometry
def _pool_setup(op, x, at):
    from ..core.ops.nn import _pool_geometry

    out, k, s, p = _pool_geometry(op, x.shape, at)
    return out, k, s, p


def _window_slices(k, s, out):
    ho, wo = out[2], out[3]
    for i in range(k[0]):
        for j in range(k[1]):
            yield (
                slice(None),
                slice(None),
                slice(i, i + s[0] * (ho - 1) + 1, s[0]),
                slice(j, j + s[1] * (wo - 1) + 1, s[1]),
            )


def _maxpool_choice(x, at):
    """Index (into the window offsets) of the first maximum of every window."""
    out, k, s, p = _pool_setup("maxpool", x, at)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2), constant_values=-np.inf)
    best = np.full(out, -np.inf, x.dtype)
    arg = np.zeros(out, np.int64)
    for t, sl in enumerate(_window_slices(k, s, out)):
        better = xp[sl] > best
        best = np.where(better, xp[sl], best)
        arg = np.where(better, t, arg)
    return arg, out, k, s, p


def _maxpool_vjp(xs, y, g, at, needs):
    x = xs[0]
    arg, out, k, s, p = _maxpool_choice(x, at)
    gp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]), g.dtype)
    for t, sl in enumerate(_window_slices(k, s, out)):
        gp[sl] += np.where(arg == t, g, 0)
    return (gp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]],)


def _maxpool_jvp(xs, y, dxs, at):
    x = xs[0]
    arg, out, k, s, p = _maxpool_choice(x, at)
    dp = np.pad(dxs[0], ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2))
    res = np.zeros(out, y.dtype)
    for t, sl in enumerate(_window_slices(k, s, out)):
        res += np.where(arg == t, dp[sl], 0)
    return res


def _avgpool_vjp(xs, y, g, at, needs):
    x = xs[0]
    out, k, s, p = _pool_setup("avgpool", x, at)
    pads = ((0, 0), (0, 0), (p[0],) * 2, (p[1],) * 2)
    ones = np.pad(np.ones((1, 1) + x.shape[2:], g.dtype), pads)
    count = sum(ones[sl] for sl in _window_slices(k, s, out))
    share = g / count
    gp = np.zeros((x.shape[0], x.shape[1]) + ones.shape[2:], g.dtype)
    for sl in _window_slices(k, s, out):
        gp[sl] += share
    return (gp[:, :, p[0] : p[0] + x.shape[2], p[1] : p[1] + x.shape[3]],)


def _linear_jvp(op_name: str) -> Callable:
    def jvp(xs, y, dxs, at):
        return np.asarray(get_op(op_name).kernel(_zeros_for(dxs, xs), at), y.dtype)

    return jvp


def _gap_vjp(xs, y, g, at, needs):
    x = xs[0]
    return (np.broadcast_to(g / math.prod(x.shape[2:]), x.shape).astype(g.dtype),)


# quantisation: quantize_linear's rounding has derivative 0 almost everywhere, so it uses the
# straight-through estimator (dq/dx = 1/scale inside the grid, 0 where it saturates; scale and zero
# point get 0: they are not learned); dequantize_linear is linear and gets its true derivative.
def _qdq_parts(op, xs, at):
    x = xs[0]
    axis = channel_axis(op, x.shape, np.shape(xs[1]), at)
    s = along(np.asarray(xs[1], np.float64), x.ndim, axis)
    z = along(np.asarray(xs[2], np.float64), x.ndim, axis) if len(xs) > 2 else np.float64(0)
    return axis, s, z


def _ste_slope(xs, at):
    _, s, z = _qdq_parts("quantize_linear", xs, at)
    typed = [np.asarray(v).dtype.name for v in xs[2:3] if np.asarray(v).dtype.name in RANGES]
    qmin, qmax = grid("quantize_linear", at.get("dtype") or (typed or ["uint8"])[0], at)
    q = np.rint(np.asarray(xs[0], np.float64) / s) + z
    return ((q >= qmin) & (q <= qmax)) / s


def _quantize_vjp(xs, y, g, at, needs):
    gx = (g * _ste_slope(xs, at)).astype(g.dtype) if needs[0] else None
    rest = [np.zeros(np.shape(x), g.dtype) if need else None for x, need in zip(xs[1:], needs[1:])]
    return (gx, *rest)


def _quantize_jvp(xs, y, dxs, at):
    if dxs[0] is None:
        return np.zeros(np.shape(y))
    return dxs[0] * _ste_slope(xs, at)


def _per_channel_sum(v, axis, shape):
    """Sum ``v`` down to a per-tensor scalar (axis None) or a per-channel vector along ``axis``."""
    if axis is None:
        return np.asarray(v.sum()).reshape(shape)
    return v.sum(axis=tuple(k for k in range(v.ndim) if k != axis)).reshape(shape)


def _dequantize_vjp(xs, y, g, at, needs):
    axis, s, z = _qdq_parts("dequantize_linear", xs, at)
    q = np.asarray(xs[0], np.float64)
    grads = [
        (g * s).astype(g.dtype) if needs[0] else None,
        _per_channel_sum(g * (q - z), axis, np.shape(xs[1])).astype(g.dtype) if needs[1] else None,
    ]
    if len(xs) > 2:
        grads.append(_per_channel_sum(-g * s, axis, np.shape(xs[2])).astype(g.dtype) if needs[2] else None)
    return tuple(grads)


def _dequantize_jvp(xs, y, dxs, at):
    axis, s, z = _qdq_parts("dequantize_linear", xs, at)
    q = np.asarray(xs[0], np.float64)
    out = np.zeros(q.shape)
    if dxs[0] is not None:
        out = out + dxs[0] * s
    if dxs[1] is not None:
        out = out + (q - z) * _qdq_parts("dequantize_linear", [q, dxs[1]], at)[1]
    if len(xs) > 2 and dxs[2] is not None:
        out = out - s * _qdq_parts("dequantize_linear", [q, xs[1], dxs[2]], at)[2]
    return out


# -- the table: one row per op ---------------------------------------------------------------------
RULES: dict[str, Rule] = {
    **{name: _unary_rule(d, text) for name, (d, text) in UNARY.items() if name != "identity"},
    **{name: _binary_rule(p, text) for name, (p, text) in BINARY.items()},
    **{
        name: _injective_rule(name)
        for name in ("identity", "reshape", "flatten", "transpose", "concat", "split", "slice")
    },
    "reduce_sum": _reduce_rule("sum"),
    "reduce_mean": _reduce_rule("mean"),
    "reduce_max": _reduce_rule("max"),
    "matmul": Rule(_matmul_vjp, _matmul_jvp, "dY/dA = G B^T, dY/dB = A^T G"),
    "gemm": Rule(_gemm_vjp, _gemm_jvp, "alpha G B'^T, alpha A'^T G, beta G"),
    "conv2d": Rule(_conv_vjp, _conv_jvp, "x: transposed convolution of G; w: correlation of x, G"),
    "batchnorm": Rule(_batchnorm_vjp, _batchnorm_jvp, "per channel: scale / sqrt(var + eps)"),
    "maxpool": Rule(_maxpool_vjp, _maxpool_jvp, "1 to each window's maximum"),
    "avgpool": Rule(_avgpool_vjp, _linear_jvp("avgpool"), "1/count to every window element"),
    "global_avgpool": Rule(_gap_vjp, _linear_jvp("global_avgpool"), "1/(H W) to every element"),
    "softmax": Rule(_softmax_vjp, _softmax_jvp, "y (g - sum g y)"),
    "layernorm": Rule(_layernorm_vjp, _layernorm_jvp, "(g - mean g - x^ mean(g x^)) / sigma"),
    "attention": Rule(
        _attention_vjp,
        _attention_jvp,
        "dS = scale P (G V^T - rowsum(G V^T P)); dQ = dS K, dK = dS^T Q, dV = P^T G",
    ),
    "quantize_linear": Rule(
        _quantize_vjp, _quantize_jvp, "straight-through: 1/scale inside the grid, 0 where it saturates"
    ),
    "dequantize_linear": Rule(_dequantize_vjp, _dequantize_jvp, "dx/dq = scale, dx/dscale = q - z"),
}


def rule_for(op_name: str) -> Rule:
    """The rule of ``op_name``, or a :class:`DifferentiationError` naming the op."""
    try:
        return RULES[op_name]
    except KeyError:
        raise DifferentiationError(
            f"op {op_name!r} has no derivative rule, so a graph using it cannot be "
            "differentiated (add a VJP/JVP row to engine/autodiff_rules.py)"
        ) from None


def missing_rules() -> list[str]:
    """Registered ops that have no rule (should be empty; a test checks it)."""
    return [name for name in op_names() if name not in RULES]


def kink_note(op_name: str, x: np.ndarray) -> str:
    """A sentence if ``x`` hits a kink of ``op_name`` (where a one-sided derivative is used)."""
    for point in KINKS.get(op_name, ()):
        if np.any(x == point):
            used = UNARY[op_name][0](np.array([point]), np.array([point]), {"alpha": 0.01})
            return (
                f"{op_name} is not differentiable at x = {point:g}; like PyTorch, the "
                f"one-sided value {float(np.asarray(used).ravel()[0]):g} is used there"
            )
    return ""
