"""The GEMM micro-kernel model (engine/kernels/micro_kernel.py): the closed-form pick equals a brute-force
search, the counts of the well-known BLIS tiles, packing, and the blocked loop against numpy's A @ B."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError, ShapeError
from engine.kernels import micro_kernel as mk


@pytest.mark.parametrize("name", list(mk.ISAS))
def test_model_pick_equals_brute_force_search(name):
    assert mk.model_best(name) == mk.brute_force_best(name)
    assert mk.model_best(name).fits


@settings(max_examples=40, deadline=None)
@given(width=st.sampled_from([128, 256, 512, 1024]), registers=st.integers(4, 40),
       operand=st.sampled_from(["broadcast", "embedded", "by-element"]))  # fmt: skip
def test_closed_form_equals_brute_force_on_any_register_file(width, registers, operand):
    spec = mk.Isa("TEST", width, registers, operand, "test")
    old = dict(mk.ISAS)
    mk.ISAS["TEST"] = spec
    try:
        assert mk.model_best("TEST") == mk.brute_force_best("TEST")
    finally:
        mk.ISAS.clear()
        mk.ISAS.update(old)


def test_the_well_known_tiles_count_as_their_sources_say():
    # BLIS haswell 6x16: ymm4-ymm15 hold C (12), ymm0/1 B, a broadcast register: 15 of 16
    haswell = mk.tile("AVX2", 6, 16)
    assert (haswell.accumulators, haswell.b_registers, haswell.used, haswell.fits) == (12, 2, 15, True)
    assert (haswell.fmas, haswell.loads) == (12, 8)
    # BLIS armv8a 8x12: 24 accumulators, A in 2 and B in 3 q-registers: 29 of 32; by-element FMAs
    neon = mk.tile("NEON", 8, 12)
    assert (neon.accumulators, neon.a_registers, neon.b_registers, neon.used) == (24, 2, 3, 29)
    assert neon.fmas_per_load == pytest.approx(24 / 5)
    assert mk.model_best("NEON").mr == 8 and mk.model_best("NEON").nr == 12  # the model agrees here
    assert not mk.tile("AVX2", 7, 16).fits  # 14 + 2 + 1 = 17 registers
    assert mk.tile("AVX-512", 12, 32).used == 26  # embedded broadcast: no A register


def test_known_rows_report_model_brute_force_and_blis_alike():
    rows = {r["isa"]: r for r in mk.known_rows()}
    assert set(rows) == set(mk.ISAS)
    for r in rows.values():
        assert r["model"] == r["brute_force"]
    assert rows["NEON"]["model"] == rows["NEON"]["known_as_mr_x_nr"] == "8x12"
    assert rows["AVX2"]["known_as_mr_x_nr"] == "6x16" and rows["AVX2"]["model"] != "6x16"
    # where they differ, BLIS's tile moves fewer bytes per FLOP: the lesson's stated reason
    assert rows["AVX2"]["known_flops_per_byte"] > rows["AVX2"]["model_flops_per_byte"]


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 20), mr=st.integers(1, 9),
       nr=st.sampled_from([4, 8, 12, 16]), seed=st.integers(0, 100))  # fmt: skip
def test_blocked_loop_equals_numpy_matmul(m, n, k, mr, nr, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    np.testing.assert_allclose(mk.blocked_gemm(a, b, mr, nr), a @ b, rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 30), k=st.integers(1, 30), n=st.integers(1, 30), mr=st.integers(1, 8),
       nr=st.integers(1, 20))  # fmt: skip
def test_packed_index_is_where_packing_puts_each_element(m, k, n, mr, nr):
    a = np.arange(m * k, dtype=float).reshape(m, k)
    b = np.arange(k * n, dtype=float).reshape(k, n)
    np.testing.assert_array_equal(mk.pack_a(a, mr).ravel()[mk.packed_index_a(m, k, mr)], a)
    np.testing.assert_array_equal(mk.pack_b(b, nr).ravel()[mk.packed_index_b(k, n, nr)], b)
    # one k-step of the first tile reads mr (A) and nr (B) neighbours
    assert list(mk.packed_index_a(m, k, mr)[: min(m, mr), 0]) == list(range(min(m, mr)))
    assert list(mk.packed_index_b(k, n, nr)[0, : min(n, nr)]) == list(range(min(n, nr)))


def test_emulation_matches_blas_and_reports_padding():
    e = mk.emulate(97, 64, 33, 6, 16)
    assert e.max_abs_error < 1e-3
    assert e.padded_fraction == pytest.approx(1 - 97 / 102)
    assert e.emulated_s > 0 and e.blas_s > 0 and e.row()["emulated_gflops"] > 0


def test_bad_requests_are_refused_before_work():
    with pytest.raises(ShapeError, match="not a multiple of the 8 fp32 lanes"):
        mk.tile("AVX2", 6, 12)
    with pytest.raises(ShapeError, match="unknown SIMD"):
        mk.tile("SSE", 4, 4)
    with pytest.raises(ShapeError, match="whole number from 1 to 512"):
        mk.emulate(513, 8, 8, 4, 8)
    with pytest.raises(EngineError, match="mr"):
        mk.tile("NEON", 0, 4)
