"""Entropy (KL) calibration, TensorRT style (Migacz 2017; NVIDIA pytorch-quantization's algorithm).

Stages of :func:`entropy_divergences` / :func:`entropy_amax`:
  1. a histogram of |x| with 2048 bins over [0, max|x|] (:func:`abs_histogram`); bin 0 is replaced
     by bin 1 (after a ReLU bin 0 is a huge spike of exact zeros that would dominate);
  2. for every candidate threshold bin i = start_bin .. n_bins (128 .. 2048):
       reference P = bins[0:i] with all the clipped mass bins[i:] added to the last kept bin;
       candidate Q = bins[0:i] merged into L = 2^(num_bits-1) levels (2^num_bits unsigned): bin j
       belongs to level floor-ish(j L / i) (np.digitize on linspace(0, i, L + 1)), each level's
       total is spread evenly over its *non-empty* bins, empty bins stay empty;
       divergence KL(P || Q) = sum p log(p / q) after normalising both (infinite when P has mass
       where Q has none);
  3. the threshold is the upper edge of the bin i with the smallest divergence; ties go to the
     largest i (the reference takes the last minimum).
Not handled: the smoothing of MXNet's variant (here as in pytorch-quantization: no smoothing, an
infinite divergence just loses); negative-side histograms (the range is symmetric, [-amax, amax],
or [0, amax] for unsigned data).
"""

from __future__ import annotations

import functools

import numpy as np

from ...core import budget
from ...core.errors import EngineError

N_BINS = 2048


def abs_histogram(x: np.ndarray, bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of |x| over [0, max|x|] with ``bins`` equal bins."""
    arr = np.abs(np.asarray(x, np.float32)).ravel()
    budget.check_tensor(arr.shape, "x")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise EngineError("entropy calibration needs a non-empty tensor of finite values")
    amax = float(arr.max())
    if amax == 0:
        raise EngineError(
            "every value is 0: there is no range to calibrate (any threshold quantises this tensor exactly)"
        )
    if not 2 <= int(bins) <= 1 << 16:
        raise EngineError(f"bins = {bins} must lie in 2 .. 65536")
    counts, edges = np.histogram(arr, bins=int(bins), range=(0.0, amax))
    return counts.astype(np.int64), edges


def _check(hist, bin_edges, num_bits, start_bin) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(hist, dtype=np.float64)
    e = np.asarray(bin_edges, dtype=np.float64)
    if h.ndim != 1 or e.shape != (len(h) + 1,):
        raise EngineError(f"a histogram with {h.size} counts needs {h.size + 1} bin edges, got {e.size}")
    if np.any(h < 0) or not np.all(np.isfinite(h)):
        raise EngineError("histogram counts must be finite and non-negative")
    if not 2 <= int(num_bits) <= 16:
        raise EngineError(f"num_bits = {num_bits} must lie in 2 .. 16")
    if not 1 <= start_bin <= len(h):
        raise EngineError(
            f"the histogram has {len(h)} bins, fewer than the first candidate threshold bin {start_bin}"
        )
    if len(h) < 2 or h[1:].sum() == 0:
        raise EngineError("the histogram is empty (all counts zero after bin 0): nothing to calibrate")
    return h, e


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    qs = q.sum()
    if qs == 0:
        return float("inf")
    q = q / qs
    mass = p > 0
    if np.any(q[mass] == 0):
        return float("inf")
    return float(np.sum(p[mass] * np.log(p[mass] / q[mass])))


@functools.lru_cache(maxsize=8192)
def _levels(i: int, levels: int) -> np.ndarray:
    """Which of ``levels`` quantisation levels each of the first ``i`` bins merges into (the same
    digitize-on-linspace as the reference loop; cached because every histogram of a per-channel
    calibration asks for the same candidates). Read-only."""
    level = np.digitize(np.arange(i), np.linspace(0, i, levels + 1)) - 1
    level.setflags(write=False)
    return level


def entropy_divergences(
    hist: np.ndarray, bin_edges: np.ndarray, num_bits: int = 8, unsigned: bool = False, start_bin: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate threshold bins i, KL(P_i || Q_i)) for every candidate (see stage 2)."""
    bins, _ = _check(hist, bin_edges, num_bits, start_bin)
    bins = bins.copy()
    bins[0] = bins[1]
    levels = 1 << (int(num_bits) - 1 + int(bool(unsigned)))
    candidates = np.arange(int(start_bin), len(bins) + 1)
    divergences = np.empty(len(candidates))
    for k, i in enumerate(candidates):
        kept = bins[:i]
        level = _levels(int(i), levels)
        filled = kept != 0
        totals = np.bincount(level[filled], weights=kept[filled], minlength=levels)
        members = np.bincount(level[filled], minlength=levels)
        avg = np.divide(totals, members, out=np.zeros(len(totals)), where=members > 0)
        q = np.where(filled, avg[level], 0.0)
        p = kept.copy()
        p[-1] += bins[i:].sum()
        divergences[k] = _kl(p, q)
    return candidates, divergences


def entropy_amax(
    hist: np.ndarray, bin_edges: np.ndarray, num_bits: int = 8, unsigned: bool = False, start_bin: int = 128
) -> float:
    """The clipping threshold whose quantised histogram is closest in KL divergence (stage 3)."""
    candidates, div = entropy_divergences(hist, bin_edges, num_bits, unsigned, start_bin)
    if not np.any(np.isfinite(div)):
        raise EngineError("every candidate threshold has an infinite KL divergence")
    last_min = len(div) - 1 - int(np.argmin(div[::-1]))
    return float(np.asarray(bin_edges, np.float64)[candidates[last_min]])
