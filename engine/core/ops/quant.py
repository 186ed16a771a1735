"""Quantisation ops: ONNX ``QuantizeLinear`` and ``DequantizeLinear`` (opset 13+ semantics).

  quantize_linear(x, scale, zero_point)   q = saturate(round_half_even(x / scale) + zero_point)
  dequantize_linear(q, scale, zero_point)  x^ = (q - zero_point) * scale

In stages:
  1. the integer type: ``dtype`` is ``int8`` or ``uint8`` (``dequantize_linear`` also reads ``int32``,
     the type of a quantised bias). When the attribute is left ``None`` it is the zero point's (or
     the quantised input's) integer type, else ``uint8`` as in ONNX; a contradiction is a ShapeError;
  2. the grid: [qmin, qmax] is the type's whole range unless the attributes narrow it (an int4 grid
     -8..7 held in int8: how bit widths below 8 are simulated); saturation clamps to [qmin, qmax];
  3. the parameters: a scalar ``scale`` (0-D, or 1-D with one value as onnxruntime allows)
     quantises per tensor; a 1-D ``scale`` of length ``x.shape[axis]`` quantises per channel along
     ``axis`` (ONNX default 1; negative counts from the end); ``zero_point`` (optional, default 0)
     has the scale's shape;
  4. the kernels compute in float32 as ONNX and onnxruntime do: ``x / scale`` (a division, not a
     multiplication by 1/scale), ``numpy.rint`` (round half to even), add the zero point, clamp,
     then cast to the integer type. The output of ``quantize_linear`` really is ``int8``/``uint8``.

Costs (a convention, like the other elementwise ops): 2 FLOPs per element for each op (divide and
add the zero point; subtract and multiply) — rounding and saturation are not counted as arithmetic.
The kernels allocate one float32 output-sized temporary besides the output.
Not handled: block quantisation and float8/int4/int16 types (opset 21), ``saturate`` for float8.
A NaN is quantised to the zero point (ONNX leaves it undefined); a scale that is not positive and
finite is refused when the kernel runs (shape inference cannot see values).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..opdef import OpDef, OpTable
from .common import integer, numel

OPS = OpTable()  # this module's ops, in order; engine.core.registry collects them
register = OPS.register

F32 = "float32"
#: integer types and their whole range
RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-(2**31), 2**31 - 1)}
QUANTIZE_TYPES = ("int8", "uint8")  # what QuantizeLinear (opset 17) can produce
DEQUANTIZE_TYPES = ("int8", "uint8", "int32")


def quant_dtype(op: str, in_dtypes, attrs, allowed: tuple[str, ...]) -> str:
    """The integer type of the quantised values (stage 1 of the module docstring)."""
    given = attrs.get("dtype")
    if given is not None and given not in allowed:
        raise ShapeError(f"{op}: dtype must be one of {', '.join(allowed)}, got {given!r}")
    typed = [d for d in in_dtypes if d in RANGES]  # the inputs that carry an integer type
    if len(set(typed)) > 1:
        raise ShapeError(
            f"{op}: the quantised value and the zero point have different types ({' and '.join(typed)})"
        )
    if given is not None and typed and typed[0] != given:
        raise ShapeError(f"{op}: dtype={given!r} but the integer input is {typed[0]}")
    found = given or (typed[0] if typed else "uint8")
    if found not in allowed:
        raise ShapeError(
            f"{op}: an input of type {found} cannot be used here; use one of {', '.join(allowed)}"
        )
    return found


def grid(op: str, dtype: str, attrs) -> tuple[int, int]:
    """[qmin, qmax]: the type's range, narrowed by the ``qmin``/``qmax`` attributes if given."""
    lo, hi = RANGES[dtype]
    qmin = lo if attrs.get("qmin") is None else integer(op, "qmin", attrs["qmin"])
    qmax = hi if attrs.get("qmax") is None else integer(op, "qmax", attrs["qmax"])
    if not lo <= qmin < qmax <= hi:
        raise ShapeError(
            f"{op}: the grid [{qmin}, {qmax}] must be non-empty and lie inside {dtype}'s range [{lo}, {hi}]"
        )
    return qmin, qmax


def channel_axis(op: str, x_shape, scale_shape, attrs) -> int | None:
    """None for per-tensor parameters, else the normalised axis they run along (stage 3)."""
    scale_shape = tuple(scale_shape)
    if len(scale_shape) == 0 or scale_shape == (1,):  # one value: per tensor (as onnxruntime)
        return None
    rank = len(x_shape)
    axis = integer(op, "axis", attrs["axis"])
    if len(scale_shape) != 1 or rank == 0:
        raise ShapeError(
            f"{op}: scale of shape {list(scale_shape)} does not fit x of shape "
            f"{list(x_shape)}: use a scalar (per tensor) or a 1-D scale with one "
            "value per channel"
        )
    if not -rank <= axis < rank:
        raise ShapeError(f"{op}: axis {axis} is out of range for x of rank {rank}")
    axis %= rank
    if scale_shape[0] != x_shape[axis]:
        raise ShapeError(
            f"{op}: scale has {scale_shape[0]} values but x of shape {list(x_shape)} "
            f"has {x_shape[axis]} channels along axis {axis}"
        )
    return axis


def _infer(op: str, allowed: tuple[str, ...], out_float: bool):
    def infer(in_shapes, in_dtypes, attrs):
        x, scale = tuple(in_shapes[0]), tuple(in_shapes[1])
        channel_axis(op, x, scale, attrs)
        if (
            len(in_shapes) > 2
            and tuple(in_shapes[2]) != scale
            and not numel(in_shapes[2]) == numel(scale) == 1 >= max(len(in_shapes[2]), len(scale))
        ):
            raise ShapeError(
                f"{op}: zero_point of shape {list(in_shapes[2])} should have the scale's shape {list(scale)}"
            )
        typed = [in_dtypes[0]] if out_float else []  # quantize reads a float x
        dtype = quant_dtype(op, typed + list(in_dtypes[2:3]), attrs, allowed)
        grid(op, dtype, attrs)
        return x, (F32 if out_float else dtype)

    infer.__name__ = f"infer_{op}"
    return infer


def along(v: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """A per-channel vector shaped to broadcast along ``axis`` of an ``ndim``-D tensor."""
    if axis is None:
        return v.reshape(()) if v.size == 1 else v
    if v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def params(op: str, xs, attrs) -> tuple[np.ndarray, np.ndarray]:
    """(scale, zero_point) as float32, shaped to broadcast against x."""
    x = xs[0]
    axis = channel_axis(op, x.shape, np.shape(xs[1]), attrs)
    scale = np.asarray(xs[1], np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ShapeError(
            f"{op}: scale must be positive and finite, got {np.array2string(scale.ravel()[:4], precision=4)}"
        )
    zero = np.asarray(xs[2], np.float32) if len(xs) > 2 else np.zeros_like(scale)
    return along(scale, x.ndim, axis), along(zero, x.ndim, axis)


def _quantize(xs, at):
    x = np.asarray(xs[0]).astype(np.float32, copy=False)
    scale, zero = params("quantize_linear", [x, *xs[1:]], at)
    dtype = at.get("dtype") or _typed(xs[2:3]) or "uint8"
    qmin, qmax = grid("quantize_linear", dtype, at)
    q = x / scale
    np.rint(q, out=q)
    q += zero
    np.clip(q, qmin, qmax, out=q)
    nan = np.isnan(q)
    if nan.any():
        q[nan] = np.broadcast_to(zero, q.shape)[nan]
    return q.astype(dtype)


def _dequantize(xs, at):
    scale, zero = params("dequantize_linear", xs, at)
    out = np.asarray(xs[0]).astype(np.float32)  # a fresh array: the output itself
    if len(xs) > 2:
        out -= zero
    out *= scale
    return out


def _typed(arrays) -> str | None:
    for a in arrays:
        name = np.asarray(a).dtype.name
        if name in RANGES:
            return name
    return None


def _two_flops(in_shapes, out_shape, attrs) -> tuple[int, int]:
    return 2 * numel(out_shape), 0


register(
    OpDef(
        "quantize_linear",
        "broadcast",
        2,
        3,
        _infer("quantize_linear", QUANTIZE_TYPES, out_float=False),
        _quantize,
        _two_flops,
        attrs={"axis": 1, "dtype": None, "qmin": None, "qmax": None},
        doc="q = saturate(round_half_even(x / scale) + zero_point) to int8/uint8 (ONNX QuantizeLinear)",
        onnx="QuantizeLinear",
    )
)
register(
    OpDef(
        "dequantize_linear",
        "broadcast",
        2,
        3,
        _infer("dequantize_linear", DEQUANTIZE_TYPES, out_float=True),
        _dequantize,
        _two_flops,
        attrs={"axis": 1, "dtype": None},
        doc="x = (q - zero_point) * scale (ONNX DequantizeLinear)",
        onnx="DequantizeLinear",
    )
)
