"""FLOP and byte conventions per op: ours beside NVIDIA's Deep Learning Performance Guide and fvcore.

A FLOP count is a convention, not a measurement. Stages:
  1. :data:`FAMILIES`: per op family, three conventions as formulas a student can recompute: ours
     (the registry's ``flops``, stated in :mod:`engine.core.ops`), NVIDIA's (Deep Learning
     Performance Guide, *GPU Performance Background User's Guide*: "Understanding Performance",
     whose table gives FP16 arithmetic intensities, and "DNN Operation Categories", which puts
     elementwise ops, pooling, normalisation and softmax among the memory-limited ones without a
     FLOP count) and fvcore's ``FlopCountAnalysis`` (facebookresearch/fvcore,
     ``fvcore/nn/flop_count.py`` and ``jit_handles.py``: "We count one fused multiply-add as one
     flop"); "" where a source gives none. :data:`CONVENTIONS` maps every registered op to its family;
  2. :func:`flop_counts`: the three numbers for one op and its input shapes (None where a source
     gives no count), so a page can state both when they differ;
  3. :data:`NVIDIA_EXAMPLES` and :func:`arithmetic_intensity`: the guide's worked intensities,
     recomputed from our FLOPs and our cost model's bytes (:func:`engine.core.cost_model.cost`: every
     input read once, the output written once) at the guide's 2-byte FP16 elements.
Where ours and NVIDIA's differ: a bias adds 1 FLOP per output for us, while the guide's linear layer
counts the multiply-adds only (with a bias its example gives 315.04 FLOPS/B ours, 314.89 NVIDIA's,
both the table's "315"); bytes are at the tensor's own width, 4 for float32, so our roofline's
intensities are half the guide's FP16 figures. fvcore counts MACs (half our dot-product FLOPs),
5 FLOPs per LayerNorm element (ours 7 with γ and β), and nothing for elementwise ops, max pooling,
softmax or reductions.
Not handled: training-mode normalisation (two passes over the input), integer ops costing less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import EngineError
from .registry import SOURCE_OPS, get_op, op_names

NVIDIA_GUIDE = (
    "NVIDIA Deep Learning Performance Guide, GPU Performance Background User's Guide "
    "(docs.nvidia.com/deeplearning/performance/dl-performance-gpu-background), "
    "sections Understanding Performance and DNN Operation Categories"
)
FVCORE = "fvcore FlopCountAnalysis (github.com/facebookresearch/fvcore, fvcore/nn/jit_handles.py)"


@dataclass(frozen=True)
class Convention:
    """One op family's FLOP formulas: ours, NVIDIA's and fvcore's ("" where a source gives none)."""

    family: str
    ours: str
    nvidia: str
    fvcore: str
    source: str


FAMILIES: dict[str, Convention] = {
    c.family: c
    for c in (
        Convention(
            "dot-product",
            "2 × MACs, + 1 per output element for a bias (MACs = M·N·K; conv: N·Cout·Ho·Wo·Cin/g·KH·KW)",
            "2 × M·N·K: 'each multiply-add comprises two operations'; the bias is not counted",
            "MACs: one fused multiply-add counted as one flop (half of ours)",
            NVIDIA_GUIDE,
        ),
        Convention(
            "attention",
            "2 × MACs of q·kᵀ and P·v (B·Lq·Lk·(d + dv)) + 6 per score (1 scale, 5 softmax)",
            "2 × MACs of the two products (dot-product ops); the softmax is a memory-limited reduction",
            "MACs of the two products",
            NVIDIA_GUIDE,
        ),
        Convention(
            "elementwise",
            "1 per output element, transcendental ones (exp, erf, tanh, ...) included",
            "1 per element: ReLU is 0.25 FLOPS/B in FP16 (one FLOP per 2-byte read and 2-byte write)",
            "0: elementwise ops have no handle",
            NVIDIA_GUIDE,
        ),
        Convention(
            "pooling",
            "KH·KW per output element (compares or adds; the average's divide not counted)",
            "KH·KW per output element: 3×3 max pooling with unit stride is 2.25 FLOPS/B in FP16",
            "0: max and average pooling have no handle",
            NVIDIA_GUIDE,
        ),
        Convention(
            "global pooling",
            "1 per input element",
            "1 per input element (pooling whose window is the whole plane)",
            "1 per input element (adaptive_avg_pool2d)",
            NVIDIA_GUIDE,
        ),
        Convention(
            "batchnorm",
            "2 per element: inference batch norm folded to x·a + b",
            "",
            "2 per element with γ, β (1 without), inference",
            FVCORE,
        ),
        Convention(
            "layernorm",
            "5 per element (mean, subtract, square, sum, scale by 1/σ) + 1 each for γ and β",
            "no count; its arithmetic intensity is below 10 FLOPS/B in FP16 (ours gives 1.75)",
            "5 per element with γ, β (4 without)",
            NVIDIA_GUIDE,
        ),
        Convention(
            "softmax",
            "5 per element (max, subtract, exp, sum, divide)",
            "",
            "0: softmax has no handle",
            NVIDIA_GUIDE,
        ),
        Convention(
            "reduction",
            "1 per input element (the mean's final divide not counted)",
            "",
            "0: reductions have no handle",
            NVIDIA_GUIDE,
        ),
        Convention("data movement", "0", "", "0", FVCORE),
        Convention("quantisation", "2 per output element (scale and round, or shift and scale)", "", "", ""),
    )
}

_FAMILY_OF = {
    "matmul": "dot-product",
    "gemm": "dot-product",
    "conv2d": "dot-product",
    "attention": "attention",
    "maxpool": "pooling",
    "avgpool": "pooling",
    "global_avgpool": "global pooling",
    "batchnorm": "batchnorm",
    "layernorm": "layernorm",
    "softmax": "softmax",
    "quantize_linear": "quantisation",
    "dequantize_linear": "quantisation",
}
_KIND_FAMILY = {"elemwise": "elementwise", "broadcast": "elementwise", "reduce": "reduction"}

#: every registered op -> its family's conventions
CONVENTIONS: dict[str, Convention] = {
    name: FAMILIES[_FAMILY_OF.get(name) or _KIND_FAMILY.get(get_op(name).kind, "data movement")]
    for name in op_names()
    if name not in SOURCE_OPS
}


@dataclass(frozen=True)
class FlopCounts:
    """One op's FLOPs by each convention (None where the source gives no count)."""

    op: str
    ours: int
    macs: int
    nvidia: int | None
    fvcore: int | None


def _op_call(op: str, in_shapes, attrs) -> tuple[dict, tuple[int, ...], int, int]:
    if op not in CONVENTIONS:
        raise EngineError(f"no FLOP convention for {op!r}; ops with one are {', '.join(CONVENTIONS)}")
    spec = get_op(op)
    full = {**spec.attrs, **(attrs or {})}
    out, _ = spec.infer([tuple(s) for s in in_shapes], ["float32"] * len(in_shapes), full)
    flops, macs = spec.flops([tuple(s) for s in in_shapes], tuple(out), full)
    return full, tuple(out), int(flops), int(macs)


def flop_counts(op: str, in_shapes, attrs: dict | None = None) -> FlopCounts:
    """Our FLOPs and MACs for ``op`` on ``in_shapes``, and NVIDIA's and fvcore's counts."""
    _, out, flops, macs = _op_call(op, in_shapes, attrs)
    family = CONVENTIONS[op].family
    n_out, n_in = math.prod(out), math.prod(in_shapes[0])
    nvidia = fvcore = None
    if family in ("dot-product", "attention"):
        nvidia, fvcore = 2 * macs, macs
    elif family == "elementwise":
        nvidia, fvcore = n_out, 0
    elif family == "pooling":
        nvidia, fvcore = flops, 0
    elif family == "global pooling":
        nvidia = fvcore = n_in
    elif family == "batchnorm":
        fvcore = 2 * n_in
    elif family == "layernorm":
        fvcore = (5 if len(in_shapes) > 1 else 4) * n_in
    elif family in ("softmax", "reduction", "data movement"):
        fvcore = 0
    return FlopCounts(op, flops, macs, nvidia, fvcore)


#: the guide's worked examples: (what, op, input shapes, attrs, FP16 FLOPS/B as the table prints it)
NVIDIA_EXAMPLES: tuple[tuple[str, str, tuple, dict, str], ...] = (
    (
        "Linear layer (4096 outputs, 1024 inputs, batch size 512)",
        "matmul",
        ((512, 1024), (1024, 4096)),
        {},
        "315",
    ),
    ("Linear layer (4096 outputs, 1024 inputs, batch size 1)", "matmul", ((1, 1024), (1024, 4096)), {}, "1"),
    (
        "Max pooling with 3x3 window and unit stride",
        "maxpool",
        ((8, 64, 56, 56),),
        {"kernel": 3, "stride": 1, "pad": 1},
        "2.25",
    ),
    ("ReLU activation", "relu", ((8, 64, 56, 56),), {}, "0.25"),
    ("Layer normalization", "layernorm", ((512, 1024), (1024,), (1024,)), {}, "< 10"),
)


def arithmetic_intensity(
    op: str, in_shapes, attrs: dict | None = None, dtype_bytes: int = 2, count: str = "ours"
) -> float:
    """FLOPs per byte moved, with the bytes of our cost model (every input read once, the output
    written once) at ``dtype_bytes`` per element (2: the guide's FP16) and the FLOPs of convention
    ``count`` ("ours" or "nvidia")."""
    from .cost_model import cost
    from .ir import GraphBuilder

    if count not in ("ours", "nvidia"):
        raise EngineError(f"count must be 'ours' or 'nvidia', got {count!r}")
    counts = flop_counts(op, in_shapes, attrs)
    flops = counts.ours if count == "ours" else counts.nvidia
    if flops is None:
        raise EngineError(f"the NVIDIA guide gives no FLOP count for {op}; use count='ours'")
    b = GraphBuilder(f"one {op}")
    node = cost(b.build([b.op(op, *[b.input(s) for s in in_shapes], **(attrs or {}))])).nodes[0]
    elements = (node.bytes_read + node.bytes_written) // 4  # the cost model counts float32
    return flops / (elements * dtype_bytes)
