"""Execution models agree with numpy; divergence, coalescing and bank-conflict numbers follow the
CUDA C++ Programming Guide / Best Practices Guide rules (32-byte sectors and 128-byte lines per warp
request; 32 banks of 4 bytes, same-word reads broadcast; stride s gives a gcd(s, 32)-way conflict)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.core.errors import EngineError, ShapeError
from engine.hw import (
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

floats = st.floats(-100, 100, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 100), elements=floats), st.integers(1, 16))
def test_every_model_computes_the_kernel(a, width):
    b = np.linspace(-1, 1, a.size)
    ref = np.where(a > 0, a + b, a - b)
    for run in (sisd(a, b), simd(a, b, width), simt(a, b), spmd(a, b, width)):
        np.testing.assert_array_equal(run.result, ref)
        assert run.lanes.shape[1] == run.width and set(np.unique(run.lanes)) <= {0, 1}
        # each element does exactly 2 useful lane-slots (compare + one path) in every model
        assert run.lanes.sum() == 2 * a.size


def test_uniform_warp_does_not_diverge_and_mixed_warp_does():
    a = np.ones(32)
    assert simt(a, a).cycles == 2  # setp + add
    a[::2] = -1
    run = simt(a, np.ones(32))
    assert run.cycles == 3 and run.utilization == pytest.approx(64 / 96)
    assert any("diverges" in line for line in run.stack_log)


def test_simd_pays_for_both_paths():
    a = np.ones(8)
    assert simd(a, a, 8).cycles == 3 and simd(a, a, 8).utilization == pytest.approx(16 / 24)


def test_divergence_utilization():
    assert divergence_utilization(0.0)["utilization"] == 1.0
    assert divergence_utilization(1.0)["utilization"] == 1.0
    assert divergence_utilization(0.5)["utilization"] == 0.5


@pytest.mark.parametrize(
    "stride, sectors, lines", [(1, 4, 1), (2, 8, 2), (4, 16, 4), (8, 32, 8), (32, 32, 32)]
)
def test_coalescing_strided_float_loads(stride, sectors, lines):
    # Best Practices Guide: 32 consecutive 4-byte words = 128 bytes = four 32-byte sectors
    r = coalescing(warp_addresses("strided", stride))
    assert (r["sectors"], r["lines"]) == (sectors, lines)
    assert r["efficiency"] == pytest.approx(min(1.0, 1 / stride) if stride <= 8 else 0.125)


def test_misaligned_sequential_access_touches_five_sectors():
    r = coalescing(warp_addresses("strided", 1, offset=4))
    assert r["sectors"] == 5 and r["lines"] == 2


def test_random_access_is_one_sector_per_lane():
    r = coalescing(warp_addresses("random", seed=3))
    assert r["sectors"] == len(np.unique(warp_addresses("random", seed=3) // 32))


@pytest.mark.parametrize("stride", range(1, 65))
def test_bank_conflict_degree_is_gcd(stride):
    assert stride_conflict_degree(stride) == math.gcd(stride, 32)


def test_broadcast_same_word_is_conflict_free():
    assert bank_conflicts(np.zeros(32, dtype=int))["degree"] == 1
    assert bank_conflicts(np.array([0, 32] * 16))["degree"] == 2  # two distinct words, bank 0


def test_bad_inputs():
    with pytest.raises(ShapeError, match="empty"):
        sisd(np.array([]), np.array([]))
    with pytest.raises(ShapeError, match="same length"):
        simd(np.ones(3), np.ones(4))
    with pytest.raises(EngineError, match="pattern"):
        warp_addresses("zigzag")
    with pytest.raises(EngineError, match="between 0 and 1"):
        divergence_utilization(1.5)


def test_kernel_reference():
    np.testing.assert_array_equal(kernel_reference(np.array([1.0, -1.0]), np.array([2.0, 2.0])), [3.0, -3.0])
