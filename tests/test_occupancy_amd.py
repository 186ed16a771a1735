"""AMD CDNA occupancy (engine/hw/occupancy_amd.py) against AMD's own numbers, the MI300X/MI250X roofline
presets against the ROCm docs, and wave64 vs warp32 divergence against a closed form.

Oracles:
* AMD lab notes, "Register pressure in AMD CDNA2 GPUs" (gfx90a, ROCm 5.4, no launch bounds, so the
  compiler assumes 1,024 work-items): the compiler's "Occupancy [waves/SIMD]" for four kernels.
* llvm-calc-occupancy's documented example (gfx90a, 512 work-items, 50 VGPRs, 30 SGPRs: 8 waves/EU).
* ROCm Compute Profiler (Omniperf) "occupancy limiters" tutorial, measured on an MI250 GCD (104 CUs,
  peak 3,328 waves): the VGPR-bound kernel reaches 49.92 %, the LDS-bound one 12.49 %, the third one
  98.91 % with the compiler's occupancy 8; its SGPRs are allocated as 80 for 76 requested.
* ROCm GPU specifications: CUs, 64 KiB LDS, the 512 KiB VGPR file and 12.5 KiB SGPR file per CU.
* ROCm MI300 / MI250 microarchitecture pages: FLOPS/clock/CU x CUs x clock = the peak TFLOPS.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.hw import occupancy_amd as oa
from engine.inference.kv_cache import CARD_MEMORY_GIB
from engine.kernels.roofline_model import hardware_presets


# -- AMD's worked numbers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "vgprs, sgprs, waves",
    [(102, 98, 4), (100, 98, 4), (96, 94, 5), (94, 86, 5), (96, 78, 5)],
)
def test_register_pressure_blog_occupancy(vgprs, sgprs, waves):
    r = oa.occupancy_amd("gfx90a", 1024, vgprs, sgprs)
    assert r["waves_per_simd"] == waves
    assert r["limiter"] == "vgprs"


def test_register_pressure_blog_threshold_96_vgprs():
    """'reduce the number of used VGPRs from 102 to 96 or below to reach 5 waves/SIMD'."""
    assert oa.waves_by_vgprs(96) == 5 and oa.waves_by_vgprs(97) == 4


def test_llvm_calc_occupancy_documented_example():
    r = oa.occupancy_amd("gfx90a", 512, 50, 30)
    assert (r["waves_per_simd"], r["waves_per_cu"]) == (8, 32)
    assert {"workgroups", "vgprs", "sgprs"} <= set(r["limiters"])


OMNIPERF_PEAK = 3328  # wavefronts: one MI250 GCD, 104 CUs x 32


@pytest.mark.parametrize(
    "wg, vgprs, sgprs, lds, measured_pct, limiter",
    [
        (256, 124 + 4, 80, 0, 49.92, "vgprs"),  # AccumOffset 124 + 4 AGPRs: one 128-register pool
        (256, 96, 80, 65536, 12.49, "lds"),
        (1024, 64, 80, 0, 98.91, "waves"),
    ],
)
def test_omniperf_measured_occupancy_on_mi250(wg, vgprs, sgprs, lds, measured_pct, limiter):
    r = oa.occupancy_amd("gfx90a", wg, vgprs, sgprs, lds)
    assert r["waves_per_cu"] * 104 == pytest.approx(OMNIPERF_PEAK * measured_pct / 100, rel=0.02)
    assert r["limiter"] == limiter


def test_omniperf_sgpr_allocation_granularity():
    assert oa.occupancy_amd("gfx90a", 1024, 64, 76)["sgprs_allocated"] == 80


def test_register_files_match_the_rocm_spec_table():
    bytes_per_register = 4
    vgpr_file = oa.SIMDS_PER_CU * oa.WAVE * oa.VGPRS_PER_LANE * bytes_per_register
    sgpr_file = oa.SIMDS_PER_CU * oa.SGPRS_PER_SIMD * bytes_per_register
    assert (vgpr_file, sgpr_file) == (512 * 1024, 12.5 * 1024)
    assert oa.LDS_PER_CU == 64 * 1024
    assert {k: s.cus for k, s in oa.SPECS_AMD.items()} == {"gfx942": 304, "gfx90a": 220}


@pytest.mark.parametrize("sgprs", range(1, oa.MAX_SGPRS + 1))
def test_sgpr_table_is_the_800_register_file_shared(sgprs):
    """LLVM's GFX9 table and the ROCm SGPR file size agree: waves = 800 // SGPRs, capped at 8."""
    assert oa.waves_by_sgprs(sgprs) == min(oa.SGPRS_PER_SIMD // sgprs, oa.MAX_WAVES_PER_SIMD)


# -- properties ----------------------------------------------------------------------------------------
resources = st.tuples(
    st.sampled_from(list(oa.SPECS_AMD)),
    st.integers(1, 1024),
    st.integers(1, 128),
    st.integers(0, oa.MAX_SGPRS),
    st.integers(0, oa.LDS_PER_CU),
)


def _waves(arch, wg, v, s, lds):
    try:
        return oa.occupancy_amd(arch, wg, v, s, lds)["waves_per_simd"]
    except EngineError:
        return 0


@settings(max_examples=150, deadline=None)
@given(resources, st.integers(1, 64), st.integers(0, 8), st.integers(0, 4096))
def test_more_of_any_resource_never_raises_occupancy(res, dv, ds, dl):
    arch, wg, v, s, lds = res
    base = _waves(arch, wg, v, s, lds)
    assert _waves(arch, wg, min(v + dv, 512), s, lds) <= base
    assert _waves(arch, wg, v, min(s + ds, oa.MAX_SGPRS), lds) <= base
    assert _waves(arch, wg, v, s, min(lds + dl, oa.LDS_PER_CU)) <= base


@settings(max_examples=150, deadline=None)
@given(resources)
def test_resident_work_fits_the_cu(res):
    arch, wg, v, s, lds = res
    r = oa.occupancy_amd(arch, wg, v, s, lds)
    assert 1 <= r["waves_per_simd"] <= 8 and r["waves_per_cu"] == 4 * r["waves_per_simd"]
    assert r["waves_per_simd"] * r["vgprs_allocated"] <= oa.VGPRS_PER_LANE or r["vgprs_allocated"] < 8
    assert r["workgroups_per_cu"] * r["lds_allocated"] <= oa.LDS_PER_CU
    assert r["waves_by_" + r["limiter"]] == r["waves_per_simd"]


def test_a_workgroup_that_cannot_fit_is_refused():
    with pytest.raises(EngineError, match="launch would fail"):
        oa.occupancy_amd("gfx942", 1024, 256)  # 4 waves per SIMD needed, 2 fit


@pytest.mark.parametrize(
    "args",
    [("gfx1100", 64, 32), ("gfx942", 0, 32), ("gfx942", 64, 513), ("gfx942", 64, 32, 109),
     ("gfx942", 64, 32, 0, 65537), ("gfx942", 64.0, 32), ("gfx942", True, 32)],
)  # fmt: skip
def test_bad_inputs_are_refused(args):
    with pytest.raises(EngineError):
        oa.occupancy_amd(*args)


@pytest.mark.parametrize("by", oa.CURVE_AXES)
def test_curves_agree_with_single_calls(by):
    rows = oa.occupancy_amd_curve("gfx942", 256, 64, 30, 8192, by=by)
    for row in rows[:: max(1, len(rows) // 20)]:
        assert row["waves_per_simd"] == _waves("gfx942", row["workgroup"], row["vgprs"], 30, row["lds"])
    with pytest.raises(EngineError):
        oa.occupancy_amd_curve("gfx942", 256, 64, by="threads")


# -- roofline presets ------------------------------------------------------------------------------------
def test_mi300x_preset_matches_the_rocm_table():
    hw = hardware_presets()["MI300X"]
    assert hw.peak_flops == pytest.approx(304 * 2048 * 2.1e9, rel=1e-4)  # CUs x FLOPS/clock/CU x clock
    assert hw.peak_flops == pytest.approx(1307.4e12) and hw.bandwidth == pytest.approx(5.3e12)
    assert hw.peak_fp32 == pytest.approx(163.4e12)
    assert hw.ridge_point == pytest.approx(246.7, abs=0.1)
    assert CARD_MEMORY_GIB["MI300X"] == 192 and "5.3 TB/s" in hw.source


def test_mi250x_preset_follows_from_the_rocm_tables():
    hw = hardware_presets()["MI250X"]
    assert hw.peak_flops == pytest.approx(220 * 1024 * 1.7e9, rel=1e-3)
    assert hw.peak_fp32 == pytest.approx(220 * 128 * 1.7e9, rel=1e-3)
    # the MI250 row of the same page (208 CUs) is 362.1 TFLOPS: same CU, fewer of them
    assert hw.peak_flops * 208 / 220 == pytest.approx(362.1e12, rel=1e-3)
    assert CARD_MEMORY_GIB["MI250X"] == 128 and hw.bandwidth == pytest.approx(3.2e12)


# -- wave64 vs warp32 ------------------------------------------------------------------------------------
def _closed_form_utilization(a, width):
    """2 useful lane-instructions per element over width x (setp + one row per live path) per group."""
    taken = a > 0
    rows = sum(1 + int(g.any()) + int((~g).any()) for g in np.array_split(taken, range(width, a.size, width)))
    return 2 * a.size / (width * rows)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(oa.BRANCH_PATTERNS), st.integers(1, 512), st.integers(0, 3))
def test_wave64_never_beats_warp32_and_both_compute_the_kernel(pattern, n, seed):
    a, b = oa.branch_operands(pattern, n, seed)
    warp, wave = oa.wave_vs_warp(a, b)
    for row in (warp, wave):
        np.testing.assert_array_equal(row["result"], np.where(a > 0, a + b, a - b))
        assert row["utilization"] == pytest.approx(_closed_form_utilization(a, row["width"]))
    assert wave["utilization"] <= warp["utilization"] + 1e-12


def test_runs_of_32_diverge_only_in_wave64():
    a, b = oa.branch_operands("runs of 32", 256)
    warp, wave = oa.wave_vs_warp(a, b)
    assert (warp["divergent"], wave["divergent"]) == (0, 4)
    assert (warp["utilization"], wave["utilization"]) == (1.0, pytest.approx(2 / 3))


def test_unknown_pattern_is_refused():
    with pytest.raises(EngineError, match="unknown"):
        oa.branch_operands("zigzag", 64)
