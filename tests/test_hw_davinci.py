"""DaVinci AI Core model: numpy agreement (fp16 in, fp32 accumulate), fractal formats, buffer checks,
timeline sanity (never two events on one engine at once) and img2col convolution against torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError, ShapeError
from engine.hw import cube_conv2d, cube_matmul
from engine.hw.davinci import ASCEND910_BUFFERS, LANES, from_nz, to_nz, to_zn, to_zz


def _ref(A, B):
    return A.astype(np.float16).astype(np.float32) @ B.astype(np.float16).astype(np.float32)


@pytest.mark.parametrize(
    "M,K,N,t",
    [
        (70, 50, 33, (32, 16, 16)),
        (16, 16, 16, (16, 16, 16)),
        (200, 130, 90, (64, 64, 32)),
        (1, 1, 1, (None, None, None)),
    ],
)
def test_product_equals_numpy(M, K, N, t):
    rng = np.random.default_rng(M)
    A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    r = cube_matmul(M, K, N, A=A, B=B, tile_m=t[0], tile_k=t[1], tile_n=t[2])
    assert r.product.shape == (M, N) and r.product.dtype == np.float32
    np.testing.assert_allclose(r.product, _ref(A, B), rtol=1e-5, atol=1e-4)
    assert r.timeline.lanes == LANES


def test_fractal_formats_pad_and_order():
    x = np.arange(20 * 40, dtype=np.float32).reshape(20, 40)
    zz, zn, nz = to_zz(x), to_zn(x), to_nz(x)
    assert zz.shape == (2, 3, 16, 16) and nz.shape == (3, 2, 16, 16)
    assert zz[0, 1, 0, 0] == x[0, 16] and zz[1, 0, 3, 2] == x[19, 2]
    assert zn[0, 1, 2, 0] == x[0, 18]  # column-major inside the fractal
    assert zz[1, 2, 4, 8] == 0  # padding rows/cols are zero
    np.testing.assert_array_equal(from_nz(nz, 20, 40), x)


def test_slot_check_catches_a_third_tile_in_flight():
    r = cube_matmul(
        256, 256, 256, tile_m=64, tile_k=64, tile_n=64, gm_bytes_per_cycle=4096, l1_bytes_per_cycle=4096
    )
    _check_dependencies_and_slots(r.timeline, 2)
    with pytest.raises(AssertionError):  # two tiles really are in flight when Cube-bound
        _check_dependencies_and_slots(r.timeline, 1)


def test_double_buffering_hides_transfers():
    on = cube_matmul(512, 512, 512)
    off = cube_matmul(512, 512, 512, double_buffer=False)
    assert on.cycles < off.cycles and on.cube_utilization > 0.9 > off.cube_utilization
    assert on.timeline.busy("Cube") == off.timeline.busy("Cube") == (512 // 16) ** 3


def test_tile_too_big_names_the_sizes():
    with pytest.raises(EngineError, match=r"256×256 fp16 needs 256 KB of L0A.*holds 64 KB"):
        cube_matmul(256, 256, 256, tile_m=256, tile_k=256)
    with pytest.raises(EngineError, match="L0C"):
        cube_matmul(256, 256, 256, tile_m=256, tile_n=256, tile_k=16, l0c=128 * 1024)


def test_buffer_defaults_are_ascend910():
    assert ASCEND910_BUFFERS == {
        "l1": 1 << 20,
        "l0a": 64 << 10,
        "l0b": 64 << 10,
        "l0c": 256 << 10,
        "ub": 256 << 10,
    }


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 80),
    st.integers(1, 80),
    st.integers(1, 80),
    st.sampled_from([16, 32, 48]),
    st.sampled_from([16, 32]),
    st.sampled_from([16, 64]),
    st.booleans(),
    st.sampled_from([32, 4096]),
)
def test_property_timeline_never_overlaps_and_product_is_right(M, K, N, tm, tk, tn, db, bw):
    r = cube_matmul(
        M,
        K,
        N,
        tile_m=tm,
        tile_k=tk,
        tile_n=tn,
        double_buffer=db,
        seed=M + K + N,
        gm_bytes_per_cycle=bw,
        l1_bytes_per_cycle=bw,
    )
    r.timeline.check_no_overlap()
    rng = np.random.default_rng(M + K + N)
    A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    np.testing.assert_allclose(r.product, _ref(A, B), rtol=1e-5, atol=1e-4)
    assert 0 < r.cube_utilization <= 1 and r.mac_utilization <= r.cube_utilization + 1e-12
    _check_dependencies_and_slots(r.timeline, 2 if db else 1)


def _check_dependencies_and_slots(timeline, nbuf):
    """Each stage starts after the one feeding it ends; at most nbuf tiles live in L0A/L0B at once."""
    by = {}
    for e in timeline.events:
        stage, tag = e.label.split(" ", 1)
        by[(stage, tag)] = e
    for (stage, tag), e in by.items():
        if stage == "L1→L0":
            assert by[("GM→L1", tag)].end <= e.start
        if stage == "mmad":
            assert by[("L1→L0", tag)].end <= e.start
        if stage == "L0C→UB":
            assert (
                max(x.end for (st_, t), x in by.items() if st_ == "mmad" and t.startswith(tag + " "))
                <= e.start
            )
        if stage == "UB→GM":
            assert by[("L0C→UB", tag)].end <= e.start
    # an L0A/L0B slot is held from the MTE1 copy's start until the Cube has used it
    spans = [(by[("L1→L0", t)].start, by[("mmad", t)].end) for (st_, t) in by if st_ == "mmad"]
    for t0, _ in spans:
        assert sum(1 for s, e in spans if s <= t0 < e) <= nbuf


def test_conv_through_img2col_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 12, 12)), rng.standard_normal((8, 3, 3, 3))
    y, res = cube_conv2d(x, w, stride=2, pad=1)
    x16 = torch.tensor(x.astype(np.float16).astype(np.float32))[None]
    w16 = torch.tensor(w.astype(np.float16).astype(np.float32))
    ref = torch.nn.functional.conv2d(x16, w16, stride=2, padding=1)[0].numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert res.padded == (48, 32, 16)  # 36 output pixels, K = 27, N = 8 padded to 16


def test_bad_inputs():
    with pytest.raises(ShapeError, match="zero-sized"):
        cube_matmul(0, 16, 16)
    with pytest.raises(EngineError, match="multiple of 16"):
        cube_matmul(32, 32, 32, tile_m=20)
    with pytest.raises(EngineError, match="unknown setting"):
        cube_matmul(32, 32, 32, l2=5)
    with pytest.raises(ShapeError, match="do not match"):
        cube_conv2d(np.zeros((3, 8, 8)), np.zeros((4, 2, 3, 3)))
