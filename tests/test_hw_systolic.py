"""Systolic array: agreement with SCALE-Sim v2's golden reports and formulas, and with numpy.

Golden numbers are from the scalesim-project/scale-sim-v2 repository:
* test/golden_trace/COMPUTE_REPORT.csv (run by test/scripts/function_test.sh: configs/scale.cfg with
  Dataflow ws, 32×32 array, CALC bandwidth = stall-free, topologies/conv_nets/alexnet_part.csv: Conv1
  224×224×3, 11×11 filter, 96 filters, stride 4): Total Cycles 112283, Stall 0, Overall Util
  91.68309650614964 %, Mapping Efficiency 94.53125 %, Compute Util 90.78000992063485 %.
* test/general/golden_trace/DETAILED_ACCESS_REPORT.csv (same run): SRAM IFMAP reads 3294225,
  filter reads 34848, OFMAP writes 3484800.
* test/general/golden_trace_user_{os,ws,is}/ (topologies/GEMM_mnk/test_mnk_input.csv M=256 N=128
  K=256, 32×32): mapping efficiency 100 %, compute util os 80.50314465408806, ws 67.19160104986877,
  is 50.59288537549407; SRAM reads/writes os 262144/262144/34816, ws 262144/32768/262144,
  is 65536/262144/262144. (Total cycles there include memory stalls, so they are not compared.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError, ShapeError
from engine.hw import conv_to_gemm, simulate_systolic, systolic, systolic_trace


def test_alexnet_conv1_ws_matches_scalesim_golden_compute_report():
    g = conv_to_gemm(224, 224, 11, 11, 3, 96, stride=4)
    assert (g["out_h"], g["M"], g["K"], g["N"]) == (55, 3025, 363, 96)
    r = systolic(g["M"], g["N"], g["K"], 32, 32, "ws")
    s = r["scalesim"]
    assert s["total_cycles"] == 112283
    assert s["overall_util"] == pytest.approx(91.68309650614964, rel=1e-12)
    assert s["mapping_efficiency"] == pytest.approx(94.53125, rel=1e-12)
    assert s["compute_util"] == pytest.approx(90.78000992063485, rel=1e-12)
    assert (r["ifmap_reads"], r["filter_reads"], s["ofmap_writes"]) == (3294225, 34848, 3484800)


@pytest.mark.parametrize(
    "df, util, reads",
    [
        ("os", 80.50314465408806, (262144, 262144, 34816)),
        ("ws", 67.19160104986877, (262144, 32768, 262144)),
        ("is", 50.59288537549407, (65536, 262144, 262144)),
    ],
)
def test_gemm_mnk_matches_scalesim_golden(df, util, reads):
    r = systolic(256, 128, 256, 32, 32, df)
    assert r["mapping_efficiency"] == pytest.approx(100.0)
    assert r["scalesim"]["compute_util"] == pytest.approx(util, rel=1e-12)
    assert (r["ifmap_reads"], r["filter_reads"], r["scalesim"]["ofmap_writes"]) == reads


def _scalesim_fold_rows(Sr, Sc, T, R, C, df):
    """Demand-matrix rows per fold, rebuilt from systolic_compute_*.py create_*_demand_mat():
    os ifmap: T rows + (C-1) drain rows, skewed over R columns (+R-1);
    ws/is: R preload rows + T + (C-1), skewed over R (+R-1)."""
    if df == "os":
        return (T + C - 1) + (R - 1)
    return (R + T + C - 1) + (R - 1)


@pytest.mark.parametrize(
    "M,N,K,R,C", [(100, 37, 19, 8, 16), (7, 7, 7, 4, 4), (64, 64, 64, 16, 8), (1, 500, 3, 32, 32)]
)
@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_cycles_and_mapping_follow_scalesim_formulas(M, N, K, R, C, df):
    Sr, Sc, T = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[df]
    folds = math.ceil(Sr / R) * math.ceil(Sc / C)
    r = systolic(M, N, K, R, C, df)
    assert r["cycles"] == folds * _scalesim_fold_rows(Sr, Sc, T, R, C, df)
    # mapping efficiency: per-fold used PEs / (R*C), averaged (get_avg_mapping_efficiency)
    used = [
        min(R, Sr - i * R) * min(C, Sc - j * C)
        for j in range(math.ceil(Sc / C))
        for i in range(math.ceil(Sr / R))
    ]
    assert r["mapping_efficiency"] == pytest.approx(100 * np.mean(used) / (R * C))
    assert 0 < r["utilization"] <= 100


def test_paper_example_os_single_fold():
    # One fold of an R×C array streaming T operands: os needs T + R + C - 2 cycles to finish all MACs.
    assert systolic(4, 4, 10, 4, 4, "os")["cycles"] == 10 + 4 + 4 - 2


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("M,K,N,R,C", [(5, 7, 3, 4, 4), (9, 4, 6, 3, 2), (1, 1, 1, 1, 1), (8, 8, 8, 8, 8)])
def test_register_simulation_equals_numpy_and_cycle_model(df, M, K, N, R, C):
    rng = np.random.default_rng(M * 100 + K * 10 + N)
    A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    prod, cycles = simulate_systolic(A, B, R, C, df)
    np.testing.assert_allclose(prod, A @ B, rtol=1e-12, atol=1e-12)
    assert cycles == systolic(M, N, K, R, C, df)["cycles"]


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 5),
    st.integers(1, 5),
    st.sampled_from(["os", "ws", "is"]),
)
def test_property_simulation_matches_numpy(M, K, N, R, C, df):
    rng = np.random.default_rng(0)
    A, B = rng.integers(-3, 4, (M, K)).astype(float), rng.integers(-3, 4, (K, N)).astype(float)
    prod, cycles = simulate_systolic(A, B, R, C, df)
    assert np.array_equal(prod, A @ B)
    assert cycles == systolic(M, N, K, R, C, df)["cycles"]


def test_trace_states_show_the_skewed_wavefront():
    A, B = np.ones((4, 3)), np.ones((3, 4))
    states = list(systolic_trace(A, B, 4, 4, "os"))
    assert states[0].active.sum() == 1 and states[0].active[0, 0]  # only the corner PE at cycle 0
    assert states[1].active.sum() == 3  # the anti-diagonal grows
    np.testing.assert_array_equal(states[-1].acc, A @ B)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(EngineError, match="dataflow"):
        systolic(4, 4, 4, 4, 4, "xs")
    with pytest.raises(EngineError, match="M = 0"):
        systolic(0, 4, 4, 4, 4, "os")
    with pytest.raises(ShapeError, match="empty"):
        simulate_systolic(np.zeros((0, 3)), np.zeros((3, 2)), 2, 2)
    with pytest.raises(ShapeError, match="cannot multiply"):
        simulate_systolic(np.zeros((2, 3)), np.zeros((4, 2)), 2, 2)
    with pytest.raises(EngineError, match="small sizes"):
        simulate_systolic(np.zeros((100, 3)), np.zeros((3, 2)), 2, 2)
    with pytest.raises(ShapeError, match="larger than"):
        conv_to_gemm(5, 5, 7, 7, 1, 1)
