"""AMD CDNA occupancy: how many wavefronts a compute unit keeps resident, and which resource runs out first.

The CUDA counterpart is :mod:`engine.hw.occupancy`. An AMD Instinct compute unit (CU) has 4 SIMDs; a
wavefront (wave) is 64 work-items and lives on one SIMD; a workgroup's waves are spread over the 4
SIMDs of one CU and share its LDS. Occupancy is counted in *waves per SIMD* (AMD's "waves/EU"), as the
compiler reports it (``-Rpass-analysis=kernel-resource-usage``: "Occupancy [waves/SIMD]").

Follows the AMDGPU backend's occupancy math (LLVM ``AMDGPUBaseInfo.cpp`` / ``GCNSubtarget``:
``getNumWavesPerEUWithNumVGPRs``, ``getOccupancyWithNumSGPRs``, ``getMaxWorkGroupsPerCU``,
``getOccupancyWithLocalMemSize``), which is what ``llvm-calc-occupancy`` prints. Stages:

1. Waves per workgroup N = ceil(workgroup size / 64).
2. Wave slots: at most 8 waves per SIMD on gfx90a (CDNA2) and gfx942 (CDNA3) — 32 per CU.
3. Workgroup slots: a one-wave workgroup needs no barrier, so up to 32 fit; a bigger one takes a
   barrier, of which a CU has 16: workgroups = min(32 // N, 16); waves/SIMD = ceil(workgroups·N / 4).
4. VGPRs: each SIMD has 512 VGPRs per lane (the unified file: architected VGPRs and AccVGPRs together),
   handed out in granules of 8: waves = 512 // roundup(VGPRs, 8) (fewer than 8 VGPRs cost nothing).
5. SGPRs: 800 per SIMD; the GFX9 table (<= 80: 10, <= 88: 9, <= 100: 8, else 7 waves) capped at 8, so
   SGPRs bind only above 100 per wave.
6. LDS: 64 KiB per CU, allocated in blocks of 128 dwords (512 B) per workgroup:
   workgroups = 65536 // roundup(LDS, 512); waves/SIMD = ceil(workgroups·N / 4).
7. Occupancy = the smallest of these, capped at 8; a workgroup whose ceil(N/4) waves per SIMD do not
   fit the register limit cannot launch at all.

Also here, for the SIMT lab: the same branchy kernel run in warps of 32 lanes (NVIDIA) and wavefronts of
64 (AMD CDNA) on one branch pattern, through :func:`engine.hw.execution.simt`: a wave64 holds two
warps' lanes, so it diverges whenever either half diverges or the halves disagree.

The per-CU rules are the same on gfx90a and gfx942 (LLVM treats both as GFX90A-class); the chips differ
in the number of CUs, so the waves resident on the whole GPU differ. Not handled: scratch (private
memory) limits, CU masking, dynamic LDS granted at dispatch, wave32 (RDNA), CDNA4's 160 KiB LDS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError
from .execution import simt

KIB = 1024
WAVE = 64
SIMDS_PER_CU = 4
MAX_WAVES_PER_SIMD = 8
MAX_WORKGROUP = 1024
VGPRS_PER_LANE = 512  # per SIMD lane: 256 architected + 256 accumulation registers, one pool
VGPR_GRANULE = 8
SGPRS_PER_SIMD = 800
SGPR_GRANULE = 16
MAX_SGPRS = 108  # 102 addressable + VCC, FLAT_SCRATCH, XNACK_MASK (2 each)
LDS_PER_CU = 64 * KIB
LDS_GRANULE = 512  # bytes: 128 dwords
MAX_BARRIERS = 16  # workgroups of more than one wave per CU


@dataclass(frozen=True)
class CDNASpec:
    """One AMD Instinct target (the LLVM processor name is the key)."""

    name: str
    product: str
    cus: int  # compute units of the whole package
    source: str


SPECS_AMD = {
    "gfx942": CDNASpec(
        "CDNA3",
        "MI300X",
        304,
        "ROCm GPU specifications: MI300X, gfx942, 304 CUs (38 per XCD), wave 64, 64 KiB LDS, 512 KiB "
        "VGPR file and 12.5 KiB SGPR file per CU",
    ),
    "gfx90a": CDNASpec(
        "CDNA2",
        "MI250X",
        220,
        "ROCm GPU specifications: MI250X, gfx90a, 220 CUs (110 per GCD), wave 64, 64 KiB LDS, 512 KiB "
        "VGPR file and 12.5 KiB SGPR file per CU",
    ),
}
LIMITS_AMD = ("waves", "workgroups", "vgprs", "sgprs", "lds")
CURVE_AXES = ("vgprs", "workgroup", "lds")


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def _whole(name: str, value, low: int, high: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EngineError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise EngineError(f"{name} = {value} is out of range; CDNA allows {low} to {high} {unit}")
    return value


def _validate(arch: str, workgroup: int, vgprs: int, sgprs: int, lds: int) -> CDNASpec:
    if arch not in SPECS_AMD:
        raise EngineError(f"AMD target {arch!r} is not in the table; choose one of {', '.join(SPECS_AMD)}")
    _whole("workgroup size", workgroup, 1, MAX_WORKGROUP, "work-items")
    _whole("VGPRs per work-item", vgprs, 1, VGPRS_PER_LANE, "registers")
    _whole("SGPRs per wave", sgprs, 0, MAX_SGPRS, "registers")
    _whole("LDS per workgroup", lds, 0, LDS_PER_CU, "bytes")
    return SPECS_AMD[arch]


def waves_by_vgprs(vgprs: int) -> int:
    """Waves per SIMD the VGPR file allows (LLVM ``getNumWavesPerEUWithNumVGPRs``, gfx90a/gfx942)."""
    if vgprs < VGPR_GRANULE:
        return MAX_WAVES_PER_SIMD
    return min(max(VGPRS_PER_LANE // _round_up(vgprs, VGPR_GRANULE), 1), MAX_WAVES_PER_SIMD)


def waves_by_sgprs(sgprs: int) -> int:
    """Waves per SIMD the SGPR file allows (LLVM ``getOccupancyWithNumSGPRs``, GFX8/GFX9 family)."""
    if sgprs == 0:
        return MAX_WAVES_PER_SIMD
    table = 10 if sgprs <= 80 else 9 if sgprs <= 88 else 8 if sgprs <= 100 else 7
    return min(table, MAX_WAVES_PER_SIMD)


def workgroup_slots(waves_per_group: int) -> int:
    """Workgroups one CU can hold by wave slots and barriers (LLVM ``getMaxWorkGroupsPerCU``)."""
    per_cu = MAX_WAVES_PER_SIMD * SIMDS_PER_CU
    if waves_per_group == 1:
        return per_cu  # a single-wave workgroup takes no barrier
    return min(per_cu // waves_per_group, MAX_BARRIERS)


def _per_simd(groups: int, waves_per_group: int) -> int:
    return min(-(-(groups * waves_per_group) // SIMDS_PER_CU), MAX_WAVES_PER_SIMD)


def occupancy_amd(arch: str, workgroup_size: int, vgprs: int, sgprs: int = 0, lds_bytes: int = 0) -> dict:
    """Waves per SIMD, waves per CU, occupancy (0..1) and the binding limit of one kernel on CDNA."""
    spec = _validate(arch, workgroup_size, vgprs, sgprs, lds_bytes)
    check_steps(len(LIMITS_AMD), "the occupancy calculation")
    n = -(-workgroup_size // WAVE)
    lds_alloc = _round_up(lds_bytes, LDS_GRANULE)
    slots = workgroup_slots(n)
    lds_groups = LDS_PER_CU // lds_alloc if lds_alloc else None  # None: LDS takes no part
    per_limit = {
        "waves": MAX_WAVES_PER_SIMD,
        "workgroups": _per_simd(slots, n),
        "vgprs": waves_by_vgprs(vgprs),
        "sgprs": waves_by_sgprs(sgprs),
        "lds": _per_simd(lds_groups, n) if lds_groups else MAX_WAVES_PER_SIMD,
    }
    need = -(-n // SIMDS_PER_CU)
    if per_limit["vgprs"] < need:
        raise EngineError(
            f"a workgroup of {workgroup_size} work-items puts {need} waves on each SIMD, but at "
            f"{vgprs} VGPRs per work-item a SIMD holds only {per_limit['vgprs']}: the launch would fail"
        )
    waves = min(per_limit.values())
    limiters = tuple(k for k in LIMITS_AMD if per_limit[k] == waves)
    return {
        "waves_per_simd": waves,
        "waves_per_cu": waves * SIMDS_PER_CU,
        "occupancy": waves / MAX_WAVES_PER_SIMD,
        "limiter": limiters[0],  # "waves" (the hardware maximum) when nothing else binds
        "limiters": limiters,
        **{f"waves_by_{k}": v for k, v in per_limit.items()},
        "waves_per_workgroup": n,
        "workgroups_per_cu": min(slots, lds_groups or slots),
        "vgprs_allocated": _round_up(vgprs, VGPR_GRANULE),
        "sgprs_allocated": _round_up(sgprs, SGPR_GRANULE),
        "lds_allocated": lds_alloc,
        "resident_waves_gpu": waves * SIMDS_PER_CU * spec.cus,
        "max_waves_per_simd": MAX_WAVES_PER_SIMD,
        "cus": spec.cus,
        "arch": arch,
        "name": spec.name,
        "product": spec.product,
    }


def occupancy_amd_curve(
    arch: str,
    workgroup_size: int,
    vgprs: int,
    sgprs: int = 0,
    lds_bytes: int = 0,
    by: str = "vgprs",
) -> list[dict]:
    """Waves per SIMD over VGPRs 1..512, workgroup sizes 64..1024 or LDS 0..64 KiB (in 512 B steps)."""
    if by == "vgprs":
        calls = [(workgroup_size, v, lds_bytes) for v in range(1, VGPRS_PER_LANE + 1)]
    elif by == "workgroup":
        calls = [(w, vgprs, lds_bytes) for w in range(WAVE, MAX_WORKGROUP + 1, WAVE)]
    elif by == "lds":
        calls = [(workgroup_size, vgprs, b) for b in range(0, LDS_PER_CU + 1, LDS_GRANULE)]
    else:
        raise EngineError(f"curve by {by!r} is unknown; use one of {', '.join(CURVE_AXES)}")
    check_steps(len(calls), "the occupancy curve")
    rows = []
    for wg, v, lds in calls:
        row = {"workgroup": wg, "vgprs": v, "lds": lds}
        try:
            r = occupancy_amd(arch, wg, v, sgprs, lds)
            row.update(waves_per_simd=r["waves_per_simd"], occupancy=r["occupancy"], limiter=r["limiter"])
        except EngineError:  # the workgroup does not fit: nothing runs
            row.update(waves_per_simd=0, occupancy=0.0, limiter="vgprs")
        rows.append(row)
    return rows


def occupancy_amd_curves(
    arch: str, workgroup_size: int, vgprs: int, sgprs: int = 0, lds_bytes: int = 0
) -> dict[str, list[dict]]:
    """The three curves of :func:`occupancy_amd_curve` (VGPRs, workgroup size, LDS) for one kernel."""
    return {by: occupancy_amd_curve(arch, workgroup_size, vgprs, sgprs, lds_bytes, by) for by in CURVE_AXES}


# ------------------------------------------------------------------ wave64 vs warp32 divergence

BRANCH_PATTERNS = ("alternate", "runs of 32", "runs of 64", "random")


def branch_operands(pattern: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) for ``c = a + b if a > 0 else a - b``: the sign of a[i] is the branch lane i takes.

    'alternate': even lanes take the add; 'runs of 32' / 'runs of 64': lanes switch side every 32 / 64
    elements; 'random': each lane a coin flip (seeded).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 65536:
        raise EngineError(f"elements = {n!r} is out of range; use 1 to 65536")
    check_tensor((n,), "input vector")
    i = np.arange(n)
    rng = np.random.default_rng(seed)
    if pattern == "alternate":
        taken = i % 2 == 0
    elif pattern == "runs of 32":
        taken = (i // 32) % 2 == 0
    elif pattern == "runs of 64":
        taken = (i // 64) % 2 == 0
    elif pattern == "random":
        taken = rng.random(n) < 0.5
    else:
        raise EngineError(f"branch pattern {pattern!r} is unknown; use one of {', '.join(BRANCH_PATTERNS)}")
    magnitude = rng.integers(1, 9, n).astype(float)
    return np.where(taken, magnitude, -magnitude), rng.integers(1, 9, n).astype(float)


def wave_vs_warp(a, b, widths: tuple[int, ...] = (32, 64)) -> list[dict]:
    """The kernel under SIMT with each lock-step width: issue slots, divergent groups, lane utilisation.

    ``lane_slots`` = instructions issued × width (what the SIMD pays); ``useful`` = lane-instructions
    that did work; both paths of a divergent group are issued one after the other.
    """
    if not isinstance(widths, tuple) or not 1 <= len(widths) <= 8:
        raise EngineError(f"widths must be a tuple of 1 to 8 lane counts, got {widths!r}")
    check_steps(3 * len(widths) * np.asarray(a).size, "the lock-step runs")
    rows = []
    for width in widths:
        run = simt(a, b, width)
        taken = np.asarray(a, dtype=float) > 0
        groups = [taken[s : s + width] for s in range(0, taken.size, width)]
        rows.append(
            {
                "width": width,
                "model": f"{'wave' if width == 64 else 'warp'}{width}",
                "groups": len(groups),
                "divergent": sum(bool(g.any() and not g.all()) for g in groups),
                "instructions": run.cycles,
                "lane_slots": run.cycles * width,
                "useful": int(run.lanes.sum()),
                "utilization": run.utilization,
                "result": run.result,
            }
        )
    return rows
