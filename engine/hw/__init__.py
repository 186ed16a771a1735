"""Hardware lab: execution models (SISD/SIMD/SIMT/SPMD), GPU occupancy, the Ascend DaVinci AI Core and
systolic arrays. Each simulator is the executable definition of its machine and is checked against
numpy (arithmetic) and the primary sources (SCALE-Sim v2, the CUDA guides, Huawei's DaVinci papers).
"""

from __future__ import annotations

from .davinci import CubeResult, cube_conv2d, cube_matmul
from .execution import (
    ModelRun,
    bank_conflicts,
    coalescing,
    divergence_utilization,
    kernel_reference,
    simd,
    simt,
    sisd,
    spmd,
    stride_conflict_degree,
    warp_addresses,
)
from .occupancy import SPECS, mma_vs_fma, occupancy, occupancy_curve
from .systolic import PEState, conv_to_gemm, simulate_systolic, spatial_dims, systolic, systolic_trace

__all__ = [
    "CubeResult",
    "ModelRun",
    "PEState",
    "SPECS",
    "bank_conflicts",
    "coalescing",
    "conv_to_gemm",
    "cube_conv2d",
    "cube_matmul",
    "divergence_utilization",
    "kernel_reference",
    "mma_vs_fma",
    "occupancy",
    "occupancy_curve",
    "simd",
    "simt",
    "simulate_systolic",
    "sisd",
    "spatial_dims",
    "spmd",
    "stride_conflict_degree",
    "systolic",
    "systolic_trace",
    "warp_addresses",
]
