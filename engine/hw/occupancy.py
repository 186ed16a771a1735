"""CUDA occupancy: how many blocks of a kernel fit on one SM, and which resource runs out first.

Follows the logic of NVIDIA's occupancy calculator (``cuda_occupancy.h``,
``cudaOccMaxActiveBlocksPerMultiprocessor``) with the per-SM limits of the CUDA C++ Programming Guide
("Technical Specifications per Compute Capability"). Stages:

1. Warps per block = ceil(threads / 32).
2. Warp limit   = max warps per SM // warps per block.
3. Block limit  = max resident blocks per SM.
4. Register limit: registers per warp = roundup(regs/thread × 32, 256); the register file is split into
   4 sub-partitions of 16 K registers, so warps per SM = (16384 // regs per warp) × 4, and blocks =
   that // warps per block. A block also needs regs per warp × roundup(warps, 4) ≤ 64 K (the hardware
   check) or it cannot launch at all.
5. Shared-memory limit: per block = roundup(smem + reserved, granularity) with 1 KB reserved per block
   on cc ≥ 8.0 and a granularity of 256 B (cc 7.x) or 128 B (cc ≥ 8.0); blocks = smem per SM // that.
6. Blocks per SM = the smallest limit; occupancy = active warps / max warps per SM.

Assumes the largest shared-memory carveout (the default when a kernel asks for it). Not handled:
partitioned global caching (cc 6.x), cluster launch limits, the opt-out of the L1/shared split.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError

KB = 1024
WARP = 32
MAX_THREADS_PER_BLOCK = 1024
MAX_REGS_PER_THREAD = 255
REGS_PER_SM = 64 * KB
REG_UNIT = 256  # registers, allocated per warp
SUB_PARTITIONS = 4


@dataclass(frozen=True)
class CCSpec:
    """Per-SM limits of one compute capability."""

    name: str
    max_warps: int
    max_blocks: int
    smem_per_sm: int  # bytes (largest carveout)
    smem_per_block: int  # bytes (opt-in maximum)
    smem_reserved: int  # bytes reserved by the system per block
    smem_unit: int  # allocation granularity in bytes


SPECS = {
    "7.0": CCSpec("Volta (V100)", 64, 32, 96 * KB, 96 * KB, 0, 256),
    "7.5": CCSpec("Turing (T4, RTX 20)", 32, 16, 64 * KB, 64 * KB, 0, 256),
    "8.0": CCSpec("Ampere (A100)", 64, 32, 164 * KB, 163 * KB, KB, 128),
    "8.6": CCSpec("Ampere (RTX 30, A10)", 48, 16, 100 * KB, 99 * KB, KB, 128),
    "8.9": CCSpec("Ada (RTX 40, L4)", 48, 24, 100 * KB, 99 * KB, KB, 128),
    "9.0": CCSpec("Hopper (H100)", 64, 32, 228 * KB, 227 * KB, KB, 128),
}
LIMITS = ("warps", "blocks", "registers", "shared_memory")


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def _validate(cc: str, threads: int, regs: int, smem: int) -> CCSpec:
    if cc not in SPECS:
        raise EngineError(f"compute capability {cc!r} is not in the table; choose one of {', '.join(SPECS)}")
    for name, value in (
        ("threads per block", threads),
        ("registers per thread", regs),
        ("shared memory per block", smem),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EngineError(f"{name} must be a whole number, got {value!r}")
    if not 1 <= threads <= MAX_THREADS_PER_BLOCK:
        raise EngineError(f"a block has {threads} threads; CUDA allows 1 to {MAX_THREADS_PER_BLOCK}")
    if not 1 <= regs <= MAX_REGS_PER_THREAD:
        raise EngineError(
            f"{regs} registers per thread is out of range; a thread can use 1 to "
            f"{MAX_REGS_PER_THREAD} registers"
        )
    spec = SPECS[cc]
    if not 0 <= smem <= spec.smem_per_block:
        raise EngineError(
            f"{smem:,} bytes of shared memory per block is out of range; cc {cc} allows "
            f"0 to {spec.smem_per_block:,} bytes ({spec.smem_per_block // KB} KB) per block"
        )
    return spec


def occupancy(cc: str, threads_per_block: int, regs_per_thread: int, smem_per_block: int = 0) -> dict:
    """Blocks per SM, active warps, occupancy (0..1) and the binding limit for one kernel launch."""
    spec = _validate(cc, threads_per_block, regs_per_thread, smem_per_block)
    warps = -(-threads_per_block // WARP)
    regs_per_warp = _round_up(regs_per_thread * WARP, REG_UNIT)
    if regs_per_warp * _round_up(warps, SUB_PARTITIONS) > REGS_PER_SM:
        raise EngineError(
            f"a block of {threads_per_block} threads at {regs_per_thread} registers each "
            f"needs {regs_per_warp * _round_up(warps, SUB_PARTITIONS):,} registers, more "
            f"than the {REGS_PER_SM:,} of one SM: the launch would fail"
        )
    warps_by_regs = (REGS_PER_SM // SUB_PARTITIONS // regs_per_warp) * SUB_PARTITIONS
    smem_alloc = _round_up(smem_per_block + spec.smem_reserved, spec.smem_unit)
    per_limit = {
        "warps": spec.max_warps // warps,
        "blocks": spec.max_blocks,
        "registers": warps_by_regs // warps,
        "shared_memory": spec.smem_per_sm // smem_alloc if smem_alloc else spec.max_blocks,
    }
    blocks = min(per_limit.values())
    limiter = next(k for k in LIMITS if per_limit[k] == blocks)
    active = blocks * warps
    return {
        "blocks_per_sm": blocks,
        "active_warps": active,
        "occupancy": active / spec.max_warps,
        "limiter": limiter,
        "limiters": tuple(k for k in LIMITS if per_limit[k] == blocks),
        "blocks_by_warps": per_limit["warps"],
        "blocks_by_blocks": per_limit["blocks"],
        "blocks_by_registers": per_limit["registers"],
        "blocks_by_shared_memory": per_limit["shared_memory"],
        "warps_per_block": warps,
        "regs_per_warp": regs_per_warp,
        "smem_allocated_per_block": smem_alloc,
        "max_warps_per_sm": spec.max_warps,
        "cc": cc,
        "arch": spec.name,
    }


def occupancy_curve(
    cc: str, regs_per_thread: int, smem_per_block: int = 0, by: str = "threads", threads_per_block: int = 256
) -> list[dict]:
    """Occupancy over block sizes 32..1024 (by="threads") or registers 16..255 (by="registers")."""
    rows = []
    if by == "threads":
        xs = range(WARP, MAX_THREADS_PER_BLOCK + 1, WARP)
        calls = ((x, regs_per_thread) for x in xs)
    elif by == "registers":
        xs = range(8, MAX_REGS_PER_THREAD + 1, 1)
        calls = ((threads_per_block, x) for x in xs)
    else:
        raise EngineError(f"curve by {by!r} is unknown; use 'threads' or 'registers'")
    for threads, regs in calls:
        try:
            r = occupancy(cc, threads, regs, smem_per_block)
            rows.append(
                {
                    "threads": threads,
                    "regs": regs,
                    "occupancy": r["occupancy"],
                    "limiter": r["limiter"],
                    "blocks_per_sm": r["blocks_per_sm"],
                }
            )
        except EngineError:
            rows.append(
                {
                    "threads": threads,
                    "regs": regs,
                    "occupancy": 0.0,
                    "limiter": "registers",
                    "blocks_per_sm": 0,
                }
            )
    return rows


def mma_vs_fma(M: int, N: int, K: int, shape: tuple[int, int, int] = (16, 8, 16)) -> dict:
    """Warp-level instruction counts for C = A·B: Tensor Core mma.sync vs SIMT FMA.

    One ``mma.sync.m16n8k16`` (fp16 inputs) does 16·8·16 = 2048 MACs for a whole warp; a SIMT FMA
    instruction does 32 MACs (one per lane). Tiles are padded to the MMA shape.
    """
    for name, v in (("M", M), ("N", N), ("K", K)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1 << 20:
            raise EngineError(
                f"{name} = {v!r} is out of range; it must be a whole number from 1 to {1 << 20:,}"
            )
    mm, nn, kk = shape
    mma = (-(-M // mm)) * (-(-N // nn)) * (-(-K // kk))
    macs = M * N * K
    fma = -(-macs // WARP)
    return {
        "macs": macs,
        "mma_instructions": mma,
        "fma_instructions": fma,
        "ratio": fma / mma,
        "mma_shape": f"m{mm}n{nn}k{kk}",
        "macs_per_mma": mm * nn * kk,
    }
