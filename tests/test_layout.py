"""Layout math against numpy and torch strides, CANN format definitions, and view properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import layout as L
from engine.core.errors import BudgetError, EngineError, ShapeError

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=5).map(tuple)
shapes4 = st.tuples(*[st.integers(1, 5)] * 4)


@given(shapes)
def test_row_and_col_major_strides_match_numpy(shape):
    a = np.empty(shape, dtype=np.float32)
    assert L.strides(shape) == tuple(s // 4 for s in a.strides)
    f = np.empty(shape, dtype=np.float32, order="F")
    assert L.strides(shape, "col_major") == tuple(s // 4 for s in f.strides)


@settings(max_examples=40, deadline=None)
@given(shapes4)
def test_channels_last_strides_match_torch(shape):
    import torch

    t = torch.empty(shape).to(memory_format=torch.channels_last)
    ours = L.strides(shape, "NHWC")
    # torch may pick any stride for a size-1 dim; compare only where the size is > 1
    assert all(o == s for o, s, d in zip(ours, t.stride(), shape) if d > 1)
    assert L.strides(shape, "NCHW") == torch.empty(shape).stride()


def test_channels_last_exact_example():
    import torch

    assert (
        L.strides((2, 3, 4, 5), "NHWC")
        == torch.empty(2, 3, 4, 5).to(memory_format=torch.channels_last).stride()
        == (60, 1, 15, 3)
    )


@given(shapes, st.data())
def test_index_position_round_trip(shape, data):
    pos = data.draw(st.integers(0, int(np.prod(shape)) - 1))
    idx = L.position_to_index(pos, shape)
    assert idx == np.unravel_index(pos, shape)
    assert L.index_to_position(idx, L.strides_from_shape(shape)) == pos


def _numpy_view(base: np.ndarray, view: L.View) -> np.ndarray:
    item = base.itemsize
    return np.lib.stride_tricks.as_strided(
        base[view.offset :], view.shape, tuple(s * item for s in view.strides)
    )


@settings(max_examples=60, deadline=None)
@given(shapes, st.data())
def test_transpose_and_slice_views_equal_numpy(shape, data):
    base = np.arange(int(np.prod(shape)), dtype=np.int64)
    arr = base.reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    v = L.transpose_view(L.contiguous_view(shape), perm)
    expected = arr.transpose(perm)
    assert v.strides == tuple(s // 8 for s in expected.strides)
    assert np.array_equal(L.materialize(v, base), expected)
    dim = data.draw(st.integers(0, len(shape) - 1))
    start = data.draw(st.integers(0, v.shape[dim] - 1))
    stop = data.draw(st.integers(start + 1, v.shape[dim]))
    step = data.draw(st.integers(1, 3))
    sv = L.slice_view(v, dim, start, stop, step)
    sl = [slice(None)] * len(shape)
    sl[dim] = slice(start, stop, step)
    np_slice = expected[tuple(sl)]
    assert np.array_equal(L.materialize(sv, base), np_slice)
    # the view really shares the storage: as_strided over base aliases numpy's own slice
    ours = _numpy_view(base, sv)
    assert np.shares_memory(ours, base) and np.shares_memory(np_slice, base)
    assert np.array_equal(ours, np_slice)


@settings(max_examples=60, deadline=None)
@given(shapes, st.data())
def test_reshape_view_rule_agrees_with_numpy(shape, data):
    """Our no-copy rule says 'view' exactly when numpy can reshape without copying."""
    base = np.arange(int(np.prod(shape)), dtype=np.int64)
    perm = data.draw(st.permutations(range(len(shape))))
    v = L.transpose_view(L.contiguous_view(shape), perm)
    arr = base.reshape(shape).transpose(perm)
    n = int(np.prod(shape))
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    first = data.draw(st.sampled_from(divisors))
    new_shape = (first, n // first)
    ours = L.reshape_view(v, new_shape)
    probe = arr.view()
    try:
        probe.shape = new_shape  # numpy refuses when a copy would be needed
        numpy_can_view = True
    except AttributeError:
        numpy_can_view = False
    assert (ours is not None) == numpy_can_view
    expected = arr.reshape(new_shape)
    if ours is not None:
        assert np.array_equal(L.materialize(ours, base), expected)
        assert np.shares_memory(_numpy_view(base, ours), base)


def test_expand_has_stride_zero_and_matches_broadcast():
    base = np.arange(3)
    v = L.expand_view(L.contiguous_view((3, 1)), (2, 3, 4))
    assert v.strides == (0, 1, 0)
    assert np.array_equal(L.materialize(v, base), np.broadcast_to(base.reshape(3, 1), (2, 3, 4)))
    with pytest.raises(ShapeError, match="only size-1"):
        L.expand_view(L.contiguous_view((3,)), (4,))


def test_contiguity_reason():
    v = L.contiguous_view((2, 3))
    assert L.is_contiguous(v)[0]
    ok, why = L.is_contiguous(L.transpose_view(v, (1, 0)))
    assert not ok and "stride" in why


@settings(max_examples=30, deadline=None)
@given(shapes4, st.sampled_from([4, 16, 32]))
def test_nc1hwc0_definition_and_round_trip(shape, c0):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = L.to_nc1hwc0(x, c0)
    n, c, h, w = shape
    c1 = -(-c // c0)
    assert y.shape == (n, c1, h, w, c0)
    # CANN definition: element (n, c, h, w) goes to (n, c // C0, h, w, c % C0); the rest is zero
    for cc in range(c):
        assert np.array_equal(y[:, cc // c0, :, :, cc % c0], x[:, cc])
    assert np.count_nonzero(y) == np.count_nonzero(x)  # padding slots are zero
    assert np.array_equal(L.from_nc1hwc0(y, c), x)


def test_nc1hwc0_c0_by_dtype_and_padding_waste():
    assert L.C0_FOR_DTYPE["fp16"] == 16 and L.C0_FOR_DTYPE["int8"] == 32
    # 3 channels padded to 16: 13/16 of the slots are padding
    assert L.padding_waste((1, 3, 2, 2), "NC1HWC0", 16) == pytest.approx(100 * 13 / 16)
    assert L.padding_waste((1, 3, 2, 2), "NC4HW4") == pytest.approx(25.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([(16, 16), (4, 8), (16, 32)]))
def test_fractal_nz_definition_and_round_trip(m, n, blk):
    m0, n0 = blk
    x = np.arange(m * n).reshape(m, n) + 1
    y = L.fractal_nz(x, m0, n0)
    n1, m1 = -(-n // n0), -(-m // m0)
    assert y.shape == (n1, m1, m0, n0)
    # column-major fractals, row-major inside: walking memory, the first M0*N0 values are the
    # top-left fractal row by row, the next fractal is the one *below* it
    flat = y.reshape(-1)
    assert np.array_equal(flat[:n0][: min(n0, n)], x[0, : min(n0, n)])
    if m1 > 1:
        assert flat[m0 * n0] == x[m0, 0]
    assert np.array_equal(L.from_fractal_nz(y, m, n), x)
    assert np.count_nonzero(y) == m * n


def test_fractal_z_conv_weights():
    w = np.random.default_rng(1).standard_normal((20, 5, 3, 3))
    z = L.fractal_z(w, c0=16, n0=16)
    assert z.shape == (1 * 3 * 3, 2, 16, 16)
    assert z[(0 * 3 + 1) * 3 + 2, 1, 3, 4] == w[16 + 3, 4, 1, 2]
    assert np.count_nonzero(z) == w.size


def test_address_order_nhwc_and_padding():
    order = L.address_order((1, 2, 1, 2), "NHWC")
    assert order == [(0, 0, 0, 0), (0, 1, 0, 0), (0, 0, 0, 1), (0, 1, 0, 1)]
    nz = L.address_order((3, 2), "FRACTAL_NZ", 2)
    assert nz[:4] == [(0, 0), (0, 1), (1, 0), (1, 1)] and nz[4:6] == [(2, 0), (2, 1)]
    assert nz[6:] == [None, None]


def test_alignment_bytes_and_endianness():
    assert L.align(100, 32) == (128, 28)
    assert L.byte_view([1.0], "fp32", "little") == [["00", "00", "80", "3F"]]
    assert L.byte_view([1.0], "fp32", "big") == [["3F", "80", "00", "00"]]
    assert L.byte_view([1.0], "fp16", "big") == [["3C", "00"]]
    assert L.byte_view([-1], "int8") == [["FF"]]
    assert bytes.fromhex("".join(L.byte_view([3.5], "fp32", "little")[0])) == np.array([3.5], "<f4").tobytes()


def test_conversion_steps_bytes():
    steps = L.conversion_steps((1, 3, 4, 4), "NCHW", "NC1HWC0", "fp16")
    assert [s.op for s in steps] == ["pad", "reshape", "transpose"]
    assert steps[-1].shape == (1, 1, 4, 4, 16)
    assert steps[1].bytes_moved == 0
    assert steps[-1].bytes_moved == 2 * 16 * 16 * 2
    nhwc = L.conversion_steps((2, 3, 4, 5), "NCHW", "NHWC", "fp32")
    assert len(nhwc) == 1 and nhwc[0].bytes_moved == 2 * 120 * 4


@pytest.mark.parametrize("text", ["-1,2", "2.5,3", "a,b", "", "1,2,3,4,5,6,7,8,9", "99999,99999"])
def test_bad_shapes_are_clear_errors(text):
    with pytest.raises(EngineError):
        L.parse_shape(text)


def test_bad_shape_messages_name_the_value():
    with pytest.raises(ShapeError, match="-3"):
        L.strides((2, -3))
    with pytest.raises(ShapeError, match="whole number"):
        L.strides((2, 2.5))
    with pytest.raises(BudgetError):
        L.strides((1 << 13, 1 << 13))
    with pytest.raises(ShapeError, match="4-D"):
        L.strides((2, 3), "NHWC")


def test_fractal_z_memory_order_matches_the_array():
    shape = (3, 5, 2, 2)
    order = L.memory_order(shape, "FRACTAL_Z", 4)
    w = np.arange(int(np.prod(shape))).reshape(shape)
    z = L.fractal_z(w, 4, 16, pad_value=-1).reshape(-1)
    assert np.array_equal(order, z)
    assert L.padding_waste(shape, "FRACTAL_Z", 4) == pytest.approx(100 * (1 - 60 / (2 * 2 * 2 * 16 * 4)))


@settings(max_examples=40, deadline=None)
@given(shapes4, st.sampled_from(list(L.LAYOUTS)), st.sampled_from([4, 16]))
def test_stored_slots_agree_with_memory_order(shape, layout, c0):
    order = L.memory_order(shape, layout, c0)
    assert L.stored_slots(shape, layout, c0) == order.size
    assert sorted(order[order >= 0]) == list(range(int(np.prod(shape))))  # every element once
    assert L.padding_waste(shape, layout, c0) == pytest.approx(100 * np.mean(order < 0))


def test_padding_waste_of_a_huge_shape_needs_no_listing():
    assert L.padding_waste((64, 3, 224, 224), "NC1HWC0", 16) == pytest.approx(100 * 13 / 16)
    with pytest.raises(BudgetError, match="slots"):
        L.memory_order((64, 3, 224, 224), "NC1HWC0", 16)


def _apply(steps, x):
    for s in steps:
        if s.op == "pad":
            x = np.pad(x, [(0, t - d) for d, t in zip(x.shape, s.shape)])
        elif s.op == "reshape":
            x = x.reshape(s.shape)
        else:
            x = x.transpose(s.perm)
        assert x.shape == s.shape
    return x


@settings(max_examples=30, deadline=None)
@given(shapes4, st.sampled_from(["fp16", "int8", "fp32"]))
def test_conversion_steps_reproduce_the_layouts(shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape)
    assert np.array_equal(
        _apply(L.conversion_steps(shape, "NCHW", "NC1HWC0", dtype), x), L.to_nc1hwc0(x, L.C0_FOR_DTYPE[dtype])
    )
    assert np.array_equal(_apply(L.conversion_steps(shape, "NCHW", "NC4HW4", dtype), x), L.to_nc4hw4(x))
    nhwc = _apply(L.conversion_steps(shape, "NCHW", "NHWC", dtype), x)
    assert np.array_equal(nhwc, x.transpose(0, 2, 3, 1))
    assert np.array_equal(_apply(L.conversion_steps(shape, "NHWC", "NCHW", dtype), nhwc), x)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=4, max_size=4), st.sampled_from(["row_major", "col_major", "NHWC"])
)
def test_numpy_badge_strides_equal_ours(shape, layout):
    """The page's "matches numpy" badge: numpy's strides of an int8 array stored that way."""
    assert L.numpy_strides(shape, layout) == L.strides(shape, layout)
    assert L.numpy_strides(shape, "NC1HWC0") is None
    assert L.numpy_strides([1 << 11, 1 << 10], "row_major") is None  # too big to allocate
