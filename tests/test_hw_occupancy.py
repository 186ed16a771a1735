"""CUDA occupancy against NVIDIA's worked examples and the occupancy-calculator logic.

CUDA C++ Best Practices Guide, "Occupancy" (Calculating Occupancy): on a device of compute capability
7.0, a kernel with 128-thread blocks using 37 registers per thread has 75 % occupancy with 12 active
blocks per SM; with 320-thread blocks and the same 37 registers, four blocks fit and occupancy is 63 %.
The guide also notes that 100 % occupancy on cc 7.0 (65,536 registers, 2048 threads) allows at most
32 registers per thread.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.hw import SPECS, mma_vs_fma, occupancy, occupancy_curve


def test_best_practices_guide_128_threads_37_regs():
    r = occupancy("7.0", 128, 37)
    assert r["blocks_per_sm"] == 12 and r["occupancy"] == pytest.approx(0.75)
    assert r["limiter"] == "registers"


def test_best_practices_guide_320_threads_37_regs():
    r = occupancy("7.0", 320, 37)
    assert r["blocks_per_sm"] == 4 and r["occupancy"] == pytest.approx(0.63, abs=0.006)  # 40/64


def test_best_practices_guide_32_registers_is_the_full_occupancy_limit():
    assert occupancy("7.0", 256, 32)["occupancy"] == 1.0
    assert occupancy("7.0", 256, 33)["occupancy"] < 1.0


def test_programming_guide_table_values():
    want = {
        "7.0": (64, 32, 96),
        "7.5": (32, 16, 64),
        "8.0": (64, 32, 164),
        "8.6": (48, 16, 100),
        "8.9": (48, 24, 100),
        "9.0": (64, 32, 228),
    }
    for cc, (warps, blocks, smem_kb) in want.items():
        s = SPECS[cc]
        assert (s.max_warps, s.max_blocks, s.smem_per_sm // 1024) == (warps, blocks, smem_kb)
        assert s.smem_reserved == (1024 if float(cc) >= 8.0 else 0)


def test_each_limiter_can_bind():
    assert occupancy("8.6", 1024, 16)["limiter"] == "warps"  # 48 warps // 32 = 1 block
    assert occupancy("7.5", 32, 16)["limiter"] == "blocks"  # 16 blocks × 1 warp
    assert occupancy("9.0", 256, 128)["limiter"] == "registers"
    r = occupancy("8.0", 256, 32, 48 * 1024)
    # (48 KB + 1 KB reserved) rounded to 128 B = 50176 B; 164 KB // 50176 = 3 blocks
    assert (r["limiter"], r["blocks_per_sm"], r["smem_allocated_per_block"]) == ("shared_memory", 3, 50176)


def test_register_rounding_per_warp_and_subpartitions():
    # 33 regs × 32 = 1056 -> 1280 per warp; 16384 // 1280 = 12 warps per sub-partition -> 48 warps
    r = occupancy("9.0", 64, 33)
    assert r["regs_per_warp"] == 1280 and r["blocks_by_registers"] == 48 // 2


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SPECS)), st.integers(1, 1024), st.integers(1, 255), st.integers(0, 48 * 1024))
def test_property_occupancy_is_consistent(cc, threads, regs, smem):
    try:
        r = occupancy(cc, threads, regs, smem)
    except EngineError as e:
        assert "registers" in str(e)
        return
    assert 0 < r["occupancy"] <= 1
    assert r["blocks_per_sm"] == min(
        r[f"blocks_by_{k}"] for k in ("warps", "blocks", "registers", "shared_memory")
    )
    assert r["active_warps"] <= SPECS[cc].max_warps


def test_curves_cover_block_sizes_and_registers():
    by_t = occupancy_curve("8.0", 64, by="threads")
    assert len(by_t) == 32 and all(0 <= row["occupancy"] <= 1 for row in by_t)
    by_r = occupancy_curve("8.0", 0, by="registers", threads_per_block=256)
    occ = [row["occupancy"] for row in by_r]
    assert occ == sorted(occ, reverse=True)  # more registers never raise occupancy


def test_tensor_core_vs_simt_instruction_counts():
    r = mma_vs_fma(1024, 1024, 1024)
    assert r["mma_instructions"] == 1024**3 // (16 * 8 * 16)
    assert r["fma_instructions"] == 1024**3 // 32
    assert r["ratio"] == 64


@pytest.mark.parametrize(
    "args, msg",
    [
        (("7.0", 0, 32), "0 threads"),
        (("7.0", 2048, 32), "2048"),
        (("7.0", 128, 256), "256 registers"),
        (("6.1", 128, 32), "6.1"),
        (("8.0", 128, 32, 200 * 1024), "shared memory"),
    ],
)
def test_bad_inputs(args, msg):
    with pytest.raises(EngineError, match=msg):
        occupancy(*args)
