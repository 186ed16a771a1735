"""Quantisation: grids and qparams, observers (min-max, moving average, percentile, MSE, entropy),
quantize / dequantize / fake quantisation, PTQ, QAT and integer-only inference.

See :mod:`engine.compression.quant.observers`, :mod:`engine.compression.quant.entropy`,
:mod:`engine.compression.quant.qat` (PTQ, QAT, observer comparison) and
:mod:`engine.compression.quant.integer` (integer-only inference).
"""

from __future__ import annotations

from .entropy import abs_histogram, entropy_amax, entropy_divergences
from .observers import (
    METHODS,
    Observation,
    dequantize,
    fake_quant,
    observe,
    qparams,
    qparams_from_range,
    qrange,
    quantize,
    ste_mask,
)

__all__ = [
    "METHODS",
    "Observation",
    "abs_histogram",
    "dequantize",
    "entropy_amax",
    "entropy_divergences",
    "fake_quant",
    "observe",
    "qparams",
    "qparams_from_range",
    "qrange",
    "quantize",
    "ste_mask",
]
