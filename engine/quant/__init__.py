"""Quantisation: grids and qparams, observers (min-max, moving average, percentile, MSE, entropy),
quantize / dequantize / fake quantisation, PTQ, QAT and integer-only inference.

See :mod:`engine.quant.observers`, :mod:`engine.quant.entropy`, :mod:`engine.quant.qat` (PTQ,
QAT, observer comparison) and :mod:`engine.quant.integer` (integer-only inference).
"""
from __future__ import annotations

from .entropy import abs_histogram, entropy_amax, entropy_divergences
from .observers import (METHODS, Observation, dequantize, fake_quant, observe, qparams,
                        qparams_from_range, qrange, quantize, ste_mask)

__all__ = ["METHODS", "Observation", "abs_histogram", "dequantize", "entropy_amax",
           "entropy_divergences", "fake_quant", "observe", "qparams", "qparams_from_range",
           "qrange", "quantize", "ste_mask"]
