"""Uniform quantisation: integer grids, (scale, zero point) from a range, and the observers that pick it.

Stages:
  1. the grid: ``qrange(dtype, reduce_range)`` gives [qmin, qmax] — quint8 0..255, qint8 -128..127,
     and any ``quintN`` / ``qintN`` for N = 2..8 (int4 = qint4 -8..7); ``reduce_range`` halves both
     ends (torch: qint8 -> -64..63, quint8 -> 0..127, custom ranges qmin//2, qmax//2);
  2. :func:`qparams_from_range` (torch ``_calculate_qparams``, in float32 like torch): the range is
     widened to include 0 (min <= 0 <= max, so zero is exact);
       affine     s = (max - min) / (qmax - qmin),  z = clamp(qmin - round(min / s), qmin, qmax)
       symmetric  s = max(|min|, max) / ((qmax - qmin) / 2),  z = 0 (signed), 128 (quint8), or
                  (qmin + qmax) // 2 (other unsigned grids, torch's "custom range" rule)
     with s floored at float32 eps and round half to even;
  3. :func:`quantize` q = clamp(round(x / s) + z, qmin, qmax) and :func:`dequantize` x^ = s (q - z) —
     torch.quantize_per_tensor / per_channel and ONNX QuantizeLinear / DequantizeLinear.
     NB: the book's PTQ article writes the zero point with the wrong sign; the correct pair is
     q = round(x / s) + z and x = s (q - z) (Jacob et al. 2018 eq. 1);
  4. observers choose [min, max] from data: ``minmax`` (torch MinMaxObserver), ``moving_average``
     (torch MovingAverageMinMaxObserver, averaging constant 0.01 over a list of batches),
     ``percentile`` (clip at the p-th percentile), ``mse`` (the clip that minimises the
     quantise-dequantise squared error over a grid of 100 candidates), ``entropy`` (TensorRT's KL
     calibration, :mod:`engine.compression.quant.entropy`); per tensor, or per channel along ``axis``.
Not handled: float8, per-group scales, float zero points (torch's per_channel_affine_float_qparams).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...core import budget
from ...core.errors import EngineError

EPS32 = np.float32(np.finfo(np.float32).eps)
SCHEMES = ("affine", "symmetric")
METHODS = ("minmax", "moving_average", "percentile", "mse", "entropy")


def qrange(dtype: str = "quint8", reduce_range: bool = False) -> tuple[int, int]:
    """[qmin, qmax] of an integer grid (see stage 1)."""
    m = re.fullmatch(r"(q?u?int)(\d+)", str(dtype))
    if not m or m.group(1) not in ("quint", "qint") or not 2 <= int(m.group(2)) <= 8:
        raise EngineError(
            f"dtype {dtype!r} is not an integer grid I know; use quint8, qint8, "
            "qint4, quint4 or any qintN / quintN with N from 2 to 8"
        )
    bits = int(m.group(2))
    lo, hi = (0, 2**bits - 1) if m.group(1) == "quint" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if reduce_range:
        lo, hi = lo // 2, hi // 2
    return lo, hi


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise EngineError(f"scheme must be 'affine' or 'symmetric', got {scheme!r}")


def _as_finite(x, what: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    budget.check_tensor(arr.shape, what)
    if arr.size == 0:
        raise EngineError(f"{what} is empty: an observer needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise EngineError(f"{what} contains NaN or infinity; a quantisation range needs finite values")
    return arr


def _reduce_axes(arr: np.ndarray, axis: int | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer)) or not -arr.ndim <= axis < arr.ndim:
        raise EngineError(f"axis = {axis!r} is not an axis of a tensor of shape {list(arr.shape)}")
    axis = int(axis) % arr.ndim
    return tuple(d for d in range(arr.ndim) if d != axis)


def qparams_from_range(
    min_val, max_val, dtype: str = "quint8", scheme: str = "affine", reduce_range: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(scale float32, zero_point int64) from observed min/max, exactly as torch computes them."""
    _check_scheme(scheme)
    qmin, qmax = qrange(dtype, reduce_range)
    lo = np.minimum(np.asarray(min_val, np.float32), np.float32(0))
    hi = np.maximum(np.asarray(max_val, np.float32), np.float32(0))
    if np.any(lo > hi):
        raise EngineError(f"min {min_val} is above max {max_val}")
    if scheme == "symmetric" and reduce_range and dtype == "quint8":
        raise EngineError(
            "reduce_range with symmetric quint8 is refused (torch refuses it too: "
            "the zero point 128 would sit outside the reduced grid 0..127)"
        )
    if scheme == "symmetric":
        amax = np.maximum(-lo, hi)
        scale = np.maximum(amax / np.float32((qmax - qmin) / 2), EPS32).astype(np.float32)
        if dtype.startswith("quint"):
            zp_value = 128 if dtype == "quint8" else (qmin + qmax) // 2
        else:
            zp_value = 0
        zero_point = np.full(np.shape(scale), zp_value, np.int64)
    else:
        scale = np.maximum((hi - lo) / np.float32(qmax - qmin), EPS32).astype(np.float32)
        zero_point = qmin - np.round(lo / scale).astype(np.int64)
        zero_point = np.clip(zero_point, qmin, qmax).astype(np.int64)
    return scale, zero_point


def qparams(
    x: np.ndarray,
    dtype: str = "quint8",
    scheme: str = "affine",
    reduce_range: bool = False,
    axis: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Min-max (scale, zero_point) of ``x``, per tensor or per channel along ``axis`` (torch MinMax)."""
    arr = _as_finite(x)
    axes = _reduce_axes(arr, axis)
    return qparams_from_range(arr.min(axis=axes), arr.max(axis=axes), dtype, scheme, reduce_range)


def _broadcast(v: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    v = np.asarray(v)
    if axis is None or v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[int(axis) % ndim] = -1
    return v.reshape(shape)


def quantize(
    x: np.ndarray,
    scale,
    zero_point,
    dtype: str = "quint8",
    axis: int | None = None,
    reduce_range: bool = False,
    rounding: str = "divide",
) -> np.ndarray:
    """q = clamp(round_half_even(x / s) + z, qmin, qmax) as int64 (per channel along ``axis``).

    How x / s is formed (all three agree except on values a hair from a rounding tie):
      ``"divide"`` x / s, as ONNX QuantizeLinear and onnxruntime compute it;
      ``"fma"`` one fused multiply-add float32(x * (1/s) + z), as torch.quantize_per_tensor /
      per_channel compute it on x86 (FBGEMM);
      ``"reciprocal"`` float32(x * (1/s)), as torch.fake_quantize_per_tensor_affine computes it.
    """
    arr = np.asarray(x, np.float32)
    budget.check_tensor(arr.shape, "x")
    qmin, qmax = qrange(dtype, reduce_range)
    s = _broadcast(np.asarray(scale, np.float32), arr.ndim, axis)
    z = _broadcast(np.asarray(zero_point, np.int64), arr.ndim, axis)
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise EngineError(f"scale must be positive and finite, got {scale}")
    return np.clip(_round(arr, s, z, rounding), qmin, qmax)


def _round(arr: np.ndarray, s: np.ndarray, z: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "divide":
        return np.rint(arr / s).astype(np.int64) + z
    inv = np.float32(1) / s
    if rounding == "fma":
        exact = arr.astype(np.float64) * inv.astype(np.float64) + z
        return np.rint(exact.astype(np.float32)).astype(np.int64)
    if rounding == "reciprocal":
        return np.rint(arr * inv).astype(np.int64) + z
    raise EngineError(f"rounding must be 'divide', 'fma' or 'reciprocal', got {rounding!r}")


def dequantize(q: np.ndarray, scale, zero_point, axis: int | None = None) -> np.ndarray:
    """x^ = s (q - z) in float32."""
    q = np.asarray(q)
    budget.check_tensor(q.shape, "q")
    s = _broadcast(np.asarray(scale, np.float32), q.ndim, axis)
    z = _broadcast(np.asarray(zero_point, np.int64), q.ndim, axis)
    return (s * (q.astype(np.int64) - z).astype(np.float32)).astype(np.float32)


def fake_quant(
    x: np.ndarray,
    scale,
    zero_point,
    dtype: str = "quint8",
    axis: int | None = None,
    reduce_range: bool = False,
    rounding: str = "divide",
) -> np.ndarray:
    """dequantize(quantize(x)): the value the integer model really computes with."""
    q = quantize(x, scale, zero_point, dtype, axis, reduce_range, rounding)
    return dequantize(q, scale, zero_point, axis)


def ste_mask(
    x: np.ndarray,
    scale,
    zero_point,
    dtype: str = "quint8",
    axis: int | None = None,
    reduce_range: bool = False,
    rounding: str = "divide",
) -> np.ndarray:
    """The straight-through estimator's gradient: 1 where qmin <= round(x/s)+z <= qmax, else 0.

    Same rule as torch.fake_quantize_per_tensor_affine's backward.
    """
    arr = np.asarray(x, np.float32)
    qmin, qmax = qrange(dtype, reduce_range)
    s = _broadcast(np.asarray(scale, np.float32), arr.ndim, axis)
    z = _broadcast(np.asarray(zero_point, np.int64), arr.ndim, axis)
    q = _round(arr, s, z, rounding)
    return ((q >= qmin) & (q <= qmax)).astype(np.float32)


# -- observers ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Observation:
    method: str
    min_val: np.ndarray  # the chosen clipping range (before widening to include 0)
    max_val: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    qmin: int
    qmax: int
    note: str  # how this observer chose its range, in one sentence


def _range_minmax(arr, axes):
    return arr.min(axis=axes), arr.max(axis=axes)


def _range_moving_average(batches, axes, c: float):
    lo = hi = None
    for b in batches:
        bl, bh = b.min(axis=axes), b.max(axis=axes)
        if lo is None:
            lo, hi = bl, bh
        else:
            lo = lo + np.float32(c) * (bl - lo)
            hi = hi + np.float32(c) * (bh - hi)
    return lo.astype(np.float32), hi.astype(np.float32)


def _range_percentile(arr, axes, p: float, scheme: str):
    if not 50 < p <= 100:
        raise EngineError(f"percentile p = {p} must lie in (50, 100]")
    if scheme == "symmetric":
        a = np.percentile(np.abs(arr), p, axis=axes).astype(np.float32)
        return -a, a
    return (
        np.percentile(arr, 100 - p, axis=axes).astype(np.float32),
        np.percentile(arr, p, axis=axes).astype(np.float32),
    )


def _mse_one(v: np.ndarray, dtype, scheme, reduce_range, n_grid: int = 100):
    lo0, hi0 = float(min(v.min(), 0.0)), float(max(v.max(), 0.0))
    if hi0 - lo0 == 0:
        raise EngineError("the MSE observer needs values that are not all zero")
    best, best_err = (lo0, hi0), np.inf
    for f in np.linspace(0.01, 1.0, n_grid):
        lo, hi = np.float32(lo0 * f), np.float32(hi0 * f)
        s, z = qparams_from_range(lo, hi, dtype, scheme, reduce_range)
        err = float(np.mean((fake_quant(v, s, z, dtype, reduce_range=reduce_range) - v) ** 2))
        if err < best_err:
            best, best_err = (lo, hi), err
    return best


def _range_mse(arr, axis, dtype, scheme, reduce_range):
    if axis is None:
        lo, hi = _mse_one(arr.ravel(), dtype, scheme, reduce_range)
        return np.float32(lo), np.float32(hi)
    moved = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
    pairs = [_mse_one(row, dtype, scheme, reduce_range) for row in moved]
    return (np.array([p[0] for p in pairs], np.float32), np.array([p[1] for p in pairs], np.float32))


def _range_entropy(arr, axis, dtype, scheme):
    from .entropy import abs_histogram, entropy_amax

    unsigned = dtype.startswith("quint") and scheme == "affine" and float(arr.min()) >= 0
    bits = int(re.sub(r"\D", "", dtype))
    rows = [arr.ravel()] if axis is None else list(np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1))
    amax = []
    for row in rows:
        hist, edges = abs_histogram(row)
        amax.append(entropy_amax(hist, edges, num_bits=bits, unsigned=unsigned))
    a = np.float32(amax[0]) if axis is None else np.array(amax, np.float32)
    return (np.zeros_like(a) if unsigned else -a), a


def observe(
    x,
    method: str = "minmax",
    dtype: str = "quint8",
    scheme: str = "affine",
    reduce_range: bool = False,
    axis: int | None = None,
    percentile: float = 99.9,
    averaging_constant: float = 0.01,
) -> Observation:
    """Pick a clipping range for ``x`` with ``method`` and turn it into (scale, zero_point).

    ``x`` may be a list of batches (the moving-average observer walks them in order; the others
    see them concatenated along axis 0).
    """
    _check_scheme(scheme)
    qmin, qmax = qrange(dtype, reduce_range)
    batches = (
        [_as_finite(b, f"batch {i}") for i, b in enumerate(x)] if isinstance(x, list) else [_as_finite(x)]
    )
    if method == "moving_average" or len(batches) == 1:
        arr = batches[0]  # the moving average walks the batches; axes come from the first
    else:
        try:
            arr = np.concatenate(batches, axis=0)
        except ValueError:
            raise EngineError(
                f"the batches have different shapes beyond axis 0: {[list(b.shape) for b in batches[:3]]}"
            ) from None
    axes = _reduce_axes(arr, axis)
    if method == "minmax":
        lo, hi = _range_minmax(arr, axes)
        note = "the smallest and largest value seen"
    elif method == "moving_average":
        if not 0 < averaging_constant <= 1:
            raise EngineError(f"averaging constant {averaging_constant} must lie in (0, 1]")
        lo, hi = _range_moving_average(batches, axes, averaging_constant)
        note = (
            f"min and max of the first batch, then moved {averaging_constant:g} of the way "
            "towards each new batch's min and max"
        )
    elif method == "percentile":
        lo, hi = _range_percentile(arr, axes, percentile, scheme)
        note = f"the {percentile:g}th percentile: the rarest {100 - percentile:g}% of values are clipped"
    elif method == "mse":
        lo, hi = _range_mse(arr, None if axis is None else int(axis) % arr.ndim, dtype, scheme, reduce_range)
        note = "the clip (1% .. 100% of the full range) whose quantise-dequantise error is smallest"
    elif method == "entropy":
        lo, hi = _range_entropy(arr, None if axis is None else int(axis) % arr.ndim, dtype, scheme)
        note = (
            "the threshold whose quantised histogram is closest in KL divergence to the "
            "original (TensorRT calibration)"
        )
    else:
        raise EngineError(f"unknown observer {method!r}; choose one of: {', '.join(METHODS)}")
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    scale, zp = qparams_from_range(lo, hi, dtype, scheme, reduce_range)
    return Observation(method, lo, hi, scale, zp, qmin, qmax, note)
