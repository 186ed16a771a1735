"""Elementwise ops: unary maps (TVM kind ``elemwise``) and numpy-broadcasting binary ops (``broadcast``).

Each op is one :func:`~engine.core.registry.register` call with
  1. shape inference: unary ops keep the shape; binary ops broadcast numpy-style (shapes are aligned
     on the right; a size-1 axis stretches; other unequal sizes are a :class:`ShapeError`);
  2. a numpy kernel working in float32;
  3. a cost: **1 FLOP per output element for every elementwise op**, transcendental ones (exp, log,
     sin, cos, tanh, sigmoid, erf, gelu, pow) included, and 0 MACs. Real hardware spends several
     instructions on a transcendental; the convention keeps the count simple and is the one used by
     fvcore/thop-style counters for activations.

The fusion kinds follow TVM's OpPatternKind (``include/tvm/relay/op_attr_types.h``): a unary map is
``kElemWise``, a broadcasting binary op is ``kBroadcast``.

``gelu`` is the exact erf form (PyTorch's default); numpy has no erf, so :func:`erf` implements the
Abramowitz & Stegun formula 7.1.26 (absolute error below 1.5e-7), evaluated in float64 chunk by chunk.
Each op declares its kernel's temporaries (``workspace``): one output-sized temporary unless stated.
Not handled: integer or complex arithmetic (everything computes in float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import ShapeError
from ..opdef import OpDef, OpTable, Workspace, one_temporary
from .common import broadcast_shape, number, numel

OPS = OpTable()  # this module's ops, in order; engine.core.registry collects them
register = OPS.register

F32 = "float32"


# -- helpers shared by the ops_* modules ------------------------------------------------------------
def elementwise_flops(in_shapes, out_shape, attrs) -> tuple[int, int]:
    """1 FLOP per output element, no MACs (the convention of this module)."""
    return numel(out_shape), 0


def _as_float(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.float32 else np.asarray(x, dtype=np.float32)


# -- erf and friends ------------------------------------------------------------------------------
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised, float32 result.

    Evaluated in float64 on chunks of :data:`ERF_CHUNK` elements, so that its ~10 float64
    temporaries stay small whatever the size of ``x`` (see :func:`erf_workspace`).
    """
    src = np.asarray(x)
    flat = src.reshape(-1)
    out = np.empty(flat.shape, np.float32)
    for lo in range(0, flat.size, ERF_CHUNK):
        out[lo : lo + ERF_CHUNK] = _erf64(flat[lo : lo + ERF_CHUNK])
    return out.reshape(src.shape)


def _erf64(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    t = 1.0 / (1.0 + _AS_P * np.abs(z))
    a1, a2, a3, a4, a5 = _AS_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    y = 1.0 - poly * np.exp(-z * z)
    return np.sign(z) * y


ERF_CHUNK = 1 << 16
_ERF_TEMPS = 12  # peak float64 temporaries of _erf64, counted in fp32 elements per element
_ERF_PASSES = 16  # numpy passes over each element


def erf_workspace(in_shapes, out_shape, attrs) -> Workspace:
    """One chunk of float64 temporaries; one loop iteration per chunk."""
    n = numel(out_shape)
    return Workspace(temp=_ERF_TEMPS * min(n, ERF_CHUNK), loops=-(-n // ERF_CHUNK), streamed=_ERF_PASSES * n)


def _gelu_workspace(in_shapes, out_shape, attrs) -> Workspace:
    w = erf_workspace(in_shapes, out_shape, attrs)  # plus the scaled copy of x
    return Workspace(w.temp + numel(out_shape), w.loops, w.streamed)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows; pick the algebraically equal form by sign.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu(x: np.ndarray) -> np.ndarray:
    y = erf(x * np.float32(1 / math.sqrt(2)))  # in place from here: one temporary, not four
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.5)
    return y


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def _hswish(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


# -- registration ------------------------------------------------------------------------------
def _unary_infer(name: str) -> Callable:
    def infer(in_shapes, in_dtypes, attrs):
        for key, value in attrs.items():  # unary ops' attributes are all numbers
            number(name, key, value)
        return tuple(in_shapes[0]), F32

    infer.__name__ = f"infer_{name}"
    return infer


def _binary_infer(name: str) -> Callable:
    def infer(in_shapes, in_dtypes, attrs):
        return broadcast_shape(name, in_shapes[0], in_shapes[1]), F32

    infer.__name__ = f"infer_{name}"
    return infer


def _temps(k: int) -> Callable:
    """Workspace of a kernel that holds at most ``k`` output-sized temporaries."""

    def workspace(in_shapes, out_shape, attrs) -> Workspace:
        return Workspace(temp=k * numel(out_shape))

    return workspace


def _unary(
    name: str,
    fn: Callable,
    doc: str,
    onnx: str = "",
    attrs: dict | None = None,
    workspace: Callable = one_temporary,
) -> None:
    if attrs:

        def kernel(xs, at):
            return _as_float(fn(_as_float(xs[0]), at))
    else:

        def kernel(xs, at):
            return _as_float(fn(_as_float(xs[0])))

    register(
        OpDef(
            name,
            "elemwise",
            1,
            1,
            _unary_infer(name),
            kernel,
            elementwise_flops,
            attrs=dict(attrs or {}),
            doc=doc,
            onnx=onnx,
            workspace=workspace,
        )
    )


def _binary(name: str, fn: Callable, doc: str, onnx: str = "") -> None:
    def kernel(xs, at):
        return _as_float(fn(_as_float(xs[0]), _as_float(xs[1])))

    register(
        OpDef(name, "broadcast", 2, 2, _binary_infer(name), kernel, elementwise_flops, doc=doc, onnx=onnx)
    )


def _check_clip(in_shapes, in_dtypes, attrs):
    if number("clip", "min", attrs["min"]) > number("clip", "max", attrs["max"]):
        raise ShapeError(f"clip: min={attrs['min']} is larger than max={attrs['max']}")
    return tuple(in_shapes[0]), F32


_binary("add", np.add, "a + b (numpy broadcasting)", "Add")
_binary("sub", np.subtract, "a - b (numpy broadcasting)", "Sub")
_binary("mul", np.multiply, "a * b (numpy broadcasting)", "Mul")
_binary("div", np.divide, "a / b (numpy broadcasting)", "Div")
_binary("pow", np.power, "a ** b (numpy broadcasting; a < 0 with a fractional b gives nan)", "Pow")
_binary("max", np.maximum, "elementwise maximum of a and b (broadcasting)", "Max")
_binary("min", np.minimum, "elementwise minimum of a and b (broadcasting)", "Min")

_unary("neg", np.negative, "-x", "Neg")
_unary("exp", np.exp, "e ** x", "Exp")
_unary("log", np.log, "natural logarithm ln x (nan for x < 0)", "Log")
_unary("sin", np.sin, "sin x", "Sin")
_unary("cos", np.cos, "cos x", "Cos")
_unary("tanh", np.tanh, "tanh x", "Tanh")
_unary("sigmoid", _sigmoid, "1 / (1 + e ** -x)", "Sigmoid", workspace=_temps(4))
_unary("relu", lambda x: np.maximum(x, 0.0), "max(x, 0)", "Relu")
_unary("relu6", _relu6, "min(max(x, 0), 6)", "Clip")
_unary(
    "gelu", _gelu, "x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)) (exact form)", "Gelu", workspace=_gelu_workspace
)
_unary("hswish", _hswish, "x * relu6(x + 3) / 6 (MobileNetV3)", "HardSwish", workspace=_temps(2))
_unary("sqrt", np.sqrt, "square root (nan for x < 0)", "Sqrt")
_unary("abs", np.abs, "|x|", "Abs")
_unary("square", np.square, "x * x", "")
_unary("erf", erf, "error function erf x", "Erf", workspace=erf_workspace)
_unary(
    "leaky_relu",
    lambda x, at: np.where(x >= 0, x, x * np.float32(at["alpha"])),
    "x if x >= 0 else alpha * x",
    "LeakyRelu",
    attrs={"alpha": 0.01},
    workspace=_temps(2),
)
register(
    OpDef(
        "clip",
        "elemwise",
        1,
        1,
        _check_clip,
        lambda xs, at: _as_float(np.clip(_as_float(xs[0]), at["min"], at["max"])),
        elementwise_flops,
        attrs={"min": -math.inf, "max": math.inf},
        doc="min(max(x, min), max)",
        onnx="Clip",
    )
)
