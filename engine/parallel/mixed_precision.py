"""Mixed precision (Micikevicius et al. 2018): fp16 range, gradient underflow, dynamic loss scaling.

Stages:
  1. fp16 range: largest finite 65504, smallest normal 2^-14, smallest subnormal 2^-24; anything
     below half the smallest subnormal rounds to zero.
  2. Underflow: cast (gradient × scale) to fp16 with numpy and count the values that became zero —
     a histogram of log2|g| shows which part of the distribution the fp16 window cuts off.
  3. Dynamic loss scaling (as torch.amp.GradScaler does): if any scaled gradient overflows
     (inf/nan), skip the step and halve the scale; after ``interval`` good steps in a row, double it.
Not handled: bf16 (same range as fp32), per-tensor scaling, fp8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError

FP16_MAX = 65504.0
FP16_MIN_NORMAL = 2.0**-14
FP16_MIN_SUBNORMAL = 2.0**-24


@dataclass(frozen=True)
class Underflow:
    edges: tuple[float, ...]  # histogram bin edges in log2|g|
    counts: tuple[int, ...]
    zero_fraction: float  # share of non-zero gradients that became 0 in fp16
    overflow_fraction: float  # share that became inf
    scale: float


def synthetic_gradients(
    count: int = 20000, seed: int = 0, center_log2: float = -24.0, spread: float = 5.0
) -> np.ndarray:
    """Gradient magnitudes whose log2 is normal (a broad, mostly tiny distribution), signed."""
    check_tensor((count,), "gradient sample")
    rng = np.random.default_rng(seed)
    mags = 2.0 ** rng.normal(center_log2, spread, size=count)
    return mags * rng.choice([-1.0, 1.0], size=count)


def underflow(grads, scale: float = 1.0, bins: int = 40) -> Underflow:
    """How many gradients vanish (or overflow) when ``grads × scale`` is stored in fp16."""
    g = np.asarray(grads, dtype=np.float64).ravel()
    check_tensor(g.shape, "gradients")
    if not scale > 0:
        raise EngineError(f"loss scale must be positive, got {scale}")
    g = g[g != 0]
    if g.size == 0:
        raise EngineError("need at least one non-zero gradient")
    with np.errstate(over="ignore"):
        half = (g * scale).astype(np.float16)
    zero = float(np.mean(half == 0))
    over = float(np.mean(~np.isfinite(half)))
    counts, edges = np.histogram(np.log2(np.abs(g)), bins=bins)
    return Underflow(tuple(edges.tolist()), tuple(int(c) for c in counts), zero, over, float(scale))


@dataclass(frozen=True)
class ScaleHistory:
    scales: tuple[float, ...]  # scale used at each step
    skipped: tuple[bool, ...]  # step skipped because of an overflow
    grad_max: tuple[float, ...]  # the unscaled max |g| at each step


def loss_scale_steps(
    grad_max, init_scale: float = 2.0**16, interval: int = 2000, growth: float = 2.0, backoff: float = 0.5
) -> ScaleHistory:
    """Dynamic loss scaling over steps given each step's largest unscaled gradient magnitude."""
    gmax = [float(x) for x in grad_max]
    check_steps(len(gmax), "loss-scale simulation")
    if init_scale <= 0 or interval < 1 or growth <= 1 or not 0 < backoff < 1:
        raise EngineError(
            f"need init_scale > 0, interval ≥ 1, growth > 1, 0 < backoff < 1; got "
            f"{init_scale}, {interval}, {growth}, {backoff}"
        )
    scale, good = float(init_scale), 0
    scales, skipped = [], []
    for g in gmax:
        scales.append(scale)
        overflow = not np.isfinite(g) or g * scale > FP16_MAX
        skipped.append(overflow)
        if overflow:
            scale *= backoff
            good = 0
        else:
            good += 1
            if good == interval:
                scale *= growth
                good = 0
    return ScaleHistory(tuple(scales), tuple(skipped), tuple(gmax))


def synthetic_grad_max(steps: int = 300, seed: int = 0, spike_every: int = 97) -> np.ndarray:
    """Largest |gradient| per step: slowly shrinking, with occasional spikes."""
    check_steps(steps, "gradient trace")
    rng = np.random.default_rng(seed)
    base = 2.0 ** (-2 - 4 * np.arange(steps) / max(steps, 1)) * np.exp(rng.normal(0, 0.3, steps))
    base[spike_every::spike_every] *= 2.0**10
    return base
