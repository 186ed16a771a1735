"""The roofline model (Williams, Waterman & Patterson, CACM 2009) and datasheet hardware presets.

Stages:
  1. a kernel's arithmetic intensity AI = FLOPs / bytes moved to and from off-chip memory;
  2. attainable FLOP/s = min(peak FLOP/s, AI * bandwidth);
  3. the ridge point AI* = peak / bandwidth: below it the kernel is memory-bound, above compute-bound;
  4. kernel points: a GEMM of any shape, attention prefill vs decode, elementwise ops, and every
     layer of a graph (via :func:`engine.cost`).
Peak numbers are dense (no 2:4 sparsity) vendor figures; real kernels reach a fraction of them.
Not handled: cache levels (one memory roof), overlap limits, clock throttling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import ShapeError

TERA, GIGA = 1e12, 1e9


@dataclass(frozen=True)
class Hardware:
    name: str
    peak_flops: float  # dense fp16/bf16 matrix (tensor-core / cube) FLOP/s
    bandwidth: float  # off-chip memory bytes/s
    peak_fp32: float | None  # plain fp32 FLOP/s (None: not published)
    source: str

    @property
    def ridge_point(self) -> float:
        return ridge_point(self.peak_flops, self.bandwidth)


_PRESETS = (
    Hardware(
        "V100 SXM2",
        125 * TERA,
        900 * GIGA,
        15.7 * TERA,
        "NVIDIA Tesla V100 datasheet: 125 TFLOPS tensor, 15.7 TFLOPS fp32, HBM2 900 GB/s",
    ),
    Hardware(
        "A100 40GB SXM",
        312 * TERA,
        1555 * GIGA,
        19.5 * TERA,
        "NVIDIA A100 datasheet: 312 TFLOPS fp16 tensor (dense; 624 with sparsity), "
        "19.5 TFLOPS fp32, HBM2 1,555 GB/s",
    ),
    Hardware(
        "A100 80GB SXM",
        312 * TERA,
        2039 * GIGA,
        19.5 * TERA,
        "NVIDIA A100 datasheet: 312 TFLOPS fp16 tensor (dense), HBM2e 2,039 GB/s",
    ),
    Hardware(
        "H100 SXM",
        989.4 * TERA,
        3350 * GIGA,
        67 * TERA,
        "NVIDIA H100 datasheet: 1,979 TFLOPS fp16 tensor with sparsity = 989.4 dense, "
        "67 TFLOPS fp32, HBM3 3.35 TB/s",
    ),
    Hardware(
        "RTX 4090",
        165.2 * TERA,
        1008 * GIGA,
        82.6 * TERA,
        "NVIDIA Ada Lovelace architecture whitepaper: 165.2 TFLOPS fp16 tensor with fp32 "
        "accumulate (330.3 with fp16 accumulate), 82.6 TFLOPS fp32, GDDR6X 1,008 GB/s",
    ),
    Hardware(
        "MI300X",
        1307.4 * TERA,
        5300 * GIGA,
        163.4 * TERA,
        "AMD ROCm docs, MI300 series microarchitecture: 1,307.4 TFLOPS matrix fp16/bf16 (dense; "
        "2,048 FLOPS/clock/CU x 304 CUs x 2.1 GHz), 163.4 TFLOPS vector fp32, HBM3 5.3 TB/s; 192 GB",
    ),
    Hardware(
        "MI250X",
        383.0 * TERA,
        3200 * GIGA,
        47.9 * TERA,
        "AMD ROCm docs: 220 CUs (GPU specifications) x 1,024 fp16 matrix FLOPS/clock/CU at 1.7 GHz "
        "(MI250 microarchitecture) = 383 TFLOPS, 128 x 1.7 GHz x 220 = 47.9 TFLOPS vector fp32, HBM2e "
        "3.2 TB/s (1.6 per GCD); 128 GB; its two GCDs are two devices to software",
    ),
    Hardware(
        "Ascend 910 (editable)",
        256 * TERA,
        1200 * GIGA,
        None,
        "Huawei Ascend 910 launch figures (2019): 256 TFLOPS fp16, 512 TOPS int8; 4 HBM2 "
        "stacks, ~1.2 TB/s as commonly reported (not a datasheet figure: edit it)",
    ),
    Hardware(
        "Phone CPU (assumed)",
        384 * GIGA,
        51.2 * GIGA,
        192 * GIGA,
        "Assumption, not a datasheet: 4 big Arm cores x 3.0 GHz x 2 NEON 128-bit FMA pipes "
        "= 192 GFLOPS fp32 (384 fp16); LPDDR5 64-bit x 6400 MT/s = 51.2 GB/s",
    ),
)


def hardware_presets() -> dict[str, Hardware]:
    """Datasheet presets by name (each carries its source string)."""
    return {hw.name: hw for hw in _PRESETS}


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ShapeError(f"{name} = {value!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise ShapeError(f"{name} = {value!r} must be a positive finite number")
    return v


def roofline(ai: float, peak_flops: float, bandwidth: float) -> float:
    """Attainable FLOP/s = min(peak_flops, ai * bandwidth)."""
    ai = _positive("arithmetic intensity", ai)
    return min(_positive("peak FLOP/s", peak_flops), ai * _positive("bandwidth", bandwidth))


def ridge_point(peak_flops: float, bandwidth: float) -> float:
    """The intensity (FLOP/byte) where the slanted and flat roofs meet."""
    return _positive("peak FLOP/s", peak_flops) / _positive("bandwidth", bandwidth)


def bound(ai: float, peak_flops: float, bandwidth: float) -> str:
    """'memory_bound' below the ridge point, 'compute_bound' at or above it."""
    return "compute_bound" if ai >= ridge_point(peak_flops, bandwidth) else "memory_bound"


@dataclass(frozen=True)
class KernelPoint:
    name: str
    kind: str  # gemm, attention, elementwise, layer
    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")


def _dims(**dims) -> None:
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1 << 24:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to {1 << 24:,}")


def gemm_point(m: int, n: int, k: int, dtype_bytes: int = 2) -> KernelPoint:
    """C[m,n] = A[m,k] B[k,n]: 2mnk FLOPs over (mk + kn + mn) elements moved once."""
    _dims(M=m, N=n, K=k, dtype_bytes=dtype_bytes)
    return KernelPoint(
        f"GEMM {m}x{n}x{k}", "gemm", 2.0 * m * n * k, float(dtype_bytes) * (m * k + k * n + m * n)
    )


def attention_points(
    seq: int, head_dim: int = 128, heads: int = 32, batch: int = 1, dtype_bytes: int = 2
) -> list[KernelPoint]:
    """Fused attention (Q, K, V read and O written once) for a prompt of ``seq`` tokens (prefill:
    4 N^2 d FLOPs per head) and for one new token reading a KV cache of ``seq`` tokens (decode)."""
    _dims(seq=seq, head_dim=head_dim, heads=heads, batch=batch, dtype_bytes=dtype_bytes)
    bh, n, d = batch * heads, seq, head_dim
    prefill = KernelPoint(
        f"attention prefill N={n}", "attention", 4.0 * bh * n * n * d, float(dtype_bytes) * bh * 4 * n * d
    )
    decode = KernelPoint(
        f"attention decode (KV {n})",
        "attention",
        4.0 * bh * n * d,
        float(dtype_bytes) * bh * (2 * n * d + 2 * d),
    )
    return [prefill, decode]


_ELEMENTWISE = {  # op: (FLOPs per element, tensors read + written per element)
    "add": (1, 3),
    "relu": (1, 2),
    "mul": (1, 3),
    "gelu (tanh)": (8, 2),
    "softmax": (5, 2),
}


def elementwise_points(numel: int = 1 << 20, dtype_bytes: int = 2) -> list[KernelPoint]:
    _dims(numel=numel, dtype_bytes=dtype_bytes)
    return [
        KernelPoint(op, "elementwise", float(f * numel), float(t * numel * dtype_bytes))
        for op, (f, t) in _ELEMENTWISE.items()
    ]


def graph_points(graph) -> list[KernelPoint]:
    """One point per layer of a graph, from :func:`engine.cost` (FLOPs, bytes read and written)."""
    from ..core.cost_model import cost  # lazy: the cost model is another lab's module

    report = cost(graph)
    points = []
    for node in report.nodes:
        moved = float(node.bytes_read + node.bytes_written)
        if node.flops <= 0 or moved <= 0:
            continue
        points.append(KernelPoint(f"{node.name} ({node.op})", "layer", float(node.flops), moved))
    return points
