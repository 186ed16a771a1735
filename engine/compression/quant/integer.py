"""Integer-only inference of one dense layer (Jacob et al. 2018, section 2.2).

Stages of :func:`integer_layer`:
  1. calibrate on 512 training images: input x ~ quint8 affine (s1, z1), weights ~ qint8 symmetric
     (s2, z2 = 0), layer output y = x W + b ~ quint8 affine (s3, z3);
  2. accumulate in integers: acc = sum_k (q1 - z1)(q2 - z2) + q_bias, q_bias = round(b / (s1 s2));
  3. requantise: M = s1 s2 / s3 always lies in (0, 1); write M = M0 * 2^-n with M0 in [0.5, 1)
     stored as the int32 Q31 number round(M0 * 2^31), then
       q3 = z3 + round(acc * M0_q31 / 2^(31 + n))   (one int64 multiply, one rounding shift)
     clamped to 0..255;
  4. compare with the float path round(acc * M) + z3 and with quantize(float layer output): both
     within 1 LSB (a test also checks torch.ops.quantized.linear gives the same integers).
``reduce_range=True`` calibrates both activations on the 7-bit grid 0..127, as torch's default
fbgemm / x86 qconfig does: fbgemm's AVX2 / AVX-512 kernels without VNNI multiply with vpmaddubsw,
which adds two u8 x s8 products in int16 *with saturation* (255 * 127 * 2 = 64770 > 32767), so a
full-range input silently clips there; with q1 <= 127 a pair is at most 32258 and never clips.
Not handled: gemmlowp's saturating doubling high multiply (int64 here makes saturation moot),
per-channel weight scales, fused ReLU clamping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import EngineError
from ..datasets import digits
from ..models import forward, model_spec
from .observers import qparams, quantize


# -- integer-only inference --------------------------------------------------------------------
@dataclass(frozen=True)
class IntegerLayer:
    s1: float
    z1: int
    s2: float
    z2: int
    s3: float
    z3: int
    multiplier: float  # M = s1 s2 / s3
    m0: float  # M = m0 * 2^-shift, m0 in [0.5, 1)
    shift: int
    m0_q31: int  # round(m0 * 2^31)
    q_in: np.ndarray  # (n, in) uint8 grid values
    q_w: np.ndarray  # (in, out) int8
    q_bias: np.ndarray  # (out,) int32
    acc: np.ndarray  # (n, out) int32 accumulators
    q_out_int: np.ndarray  # integer-only result
    q_out_float: np.ndarray  # round(acc * M) + z3, clamped
    q_out_reference: np.ndarray  # quantize(float layer output)
    max_lsb_diff_float: int
    max_lsb_diff_reference: int

    def rows(self, image: int = 0, n: int = 8) -> list[dict]:
        """The first ``n`` outputs of one image: accumulator and the three requantised results."""
        return [
            {
                "acc (int32)": int(a),
                "q3 integer": int(qi),
                "q3 float M": int(qf),
                "q3 from float layer": int(qr),
            }
            for a, qi, qf, qr in zip(
                self.acc[image][:n],
                self.q_out_int[image][:n],
                self.q_out_float[image][:n],
                self.q_out_reference[image][:n],
            )
        ]


def requant_multiplier(m: float) -> tuple[float, int, int]:
    """M = m0 * 2^-shift with m0 in [0.5, 1); returns (m0, shift, round(m0 * 2^31))."""
    if not 0 < m < 1:
        raise EngineError(
            f"the requantisation multiplier M = {m:g} must lie in (0, 1) "
            "(Jacob et al. 2018 observe it always does for real layers)"
        )
    m0, exp = math.frexp(m)
    q = int(round(m0 * (1 << 31)))
    if q == 1 << 31:  # m0 rounded up to 1.0: renormalise
        q //= 2
        exp += 1
    return m0, -exp, q


def rounding_shift(x: np.ndarray, shift: int) -> np.ndarray:
    """round(x / 2^shift), ties away from zero, in int64 (what gemmlowp's RoundingDivideByPOT does)."""
    x = np.asarray(x, np.int64)
    half = np.int64(1) << np.int64(shift - 1)
    return np.where(x >= 0, (x + half) >> shift, -((-x + half) >> shift))


def integer_layer(
    model: str = "mlp", seed: int = 0, layer: str = "fc1", n: int = 8, reduce_range: bool = False
) -> IntegerLayer:
    """One dense layer evaluated with integers only (stage 4) on ``n`` test images."""
    from ..training import train_model

    spec, trained = model_spec(model), train_model(model, seed)
    dense = {ly.name: i for i, ly in enumerate(spec.layers) if ly.kind == "dense"}
    if layer not in dense:
        raise EngineError(f"model {model!r} has no dense layer {layer!r} (dense: {', '.join(dense)})")
    if not 1 <= n <= 512:
        raise EngineError(f"n = {n} images must lie in 1 .. 512")
    split = digits(seed)
    idx = dense[layer]
    inputs = {}

    def grab(i, ly, h):
        inputs[i] = h
        return h

    forward(spec, trained.params, split.x_train[:512], grab)
    x_cal = inputs[idx]
    w, b = trained.params[f"{layer}.w"], trained.params[f"{layer}.b"]
    y_cal = x_cal @ w + b
    s1, z1 = qparams(x_cal, "quint8", "affine", reduce_range)
    s2, z2 = qparams(w, "qint8", "symmetric")
    s3, z3 = qparams(y_cal, "quint8", "affine", reduce_range)
    forward(spec, trained.params, split.x_test[:n], grab)
    x = inputs[idx]
    # clamp test inputs to the calibrated grid too: a value past it would bring back the saturation
    q_in, q_w = quantize(x, s1, z1, "quint8", reduce_range=reduce_range), quantize(w, s2, z2, "qint8")
    q_bias = np.rint(b / (np.float64(s1) * np.float64(s2))).astype(np.int64)
    acc = (q_in - int(z1)) @ (q_w - int(z2)) + q_bias
    m = float(s1) * float(s2) / float(s3)
    m0, shift, m0_q31 = requant_multiplier(m)
    q_int = np.clip(int(z3) + rounding_shift(acc * np.int64(m0_q31), 31 + shift), 0, 255)
    q_flt = np.clip(np.rint(acc * m).astype(np.int64) + int(z3), 0, 255)
    q_ref = quantize(x @ w + b, s3, z3, "quint8")
    return IntegerLayer(
        float(s1),
        int(z1),
        float(s2),
        int(z2),
        float(s3),
        int(z3),
        m,
        m0,
        shift,
        m0_q31,
        q_in,
        q_w,
        q_bias.astype(np.int32),
        acc.astype(np.int32),
        q_int,
        q_flt,
        q_ref,
        int(np.abs(q_int - q_flt).max()),
        int(np.abs(q_int - q_ref).max()),
    )
