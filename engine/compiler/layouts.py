"""Memory layouts: how a logical tensor index becomes a linear address.

Stages, as a student meets them:
  1. strides: ``strides_from_shape`` (row-major), ``strides(shape, layout)`` for row_major, col_major,
     NCHW, NHWC (= torch's channels_last, strides returned in the *logical* NCHW order);
  2. index <-> address: ``index_to_position`` / ``position_to_index`` (minitorch names);
  3. views vs copies: a :class:`View` is (shape, strides, offset) over one storage; transpose, slice,
     expand (stride 0) never copy; ``reshape_view`` follows torch's rule (merged dimensions must be
     contiguous among themselves) and returns None when a copy is required;
  4. blocked layouts for accelerators: NC1HWC0 (CANN, C0 = 16 for fp16 / 32 for int8), NC4HW4 (MNN,
     C0 = 4), FRACTAL_Z (conv weights) and FRACTAL_NZ (matrices), each with zero padding;
  5. ``memory_order`` / ``address_order``: which logical element sits at each address (-1 / None =
     padding), padding waste, alignment, byte views, and conversions as transpose/reshape steps;
  6. ``graph_layouts``: every tensor of a graph in NCHW, NHWC, NC1HWC0 and FRACTAL_NZ, and the padding
     each layout costs the whole graph (how each rank is read: see the function).

Not handled: tiled layouts with arbitrary block shapes, sub-byte dtypes, strides in bytes (all strides
here are in elements).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import BudgetError, ShapeError

LAYOUTS = ("row_major", "col_major", "NCHW", "NHWC", "NC4HW4", "NC1HWC0", "FRACTAL_NZ", "FRACTAL_Z")
MAX_DIMS = 8
MAX_ORDER_ELEMENTS = 1 << 16  # address_order returns one tuple per element: keep it small
MAX_MEMORY_ORDER = 1 << 22  # memory_order builds an int64 array per slot (32 MiB at most)
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
C0_FOR_DTYPE = {"fp16": 16, "int8": 32, "fp32": 8}  # CANN: C0 * dtype bytes = 32 bytes


# ---------------------------------------------------------------- shapes and strides
def check_shape(shape, what: str = "shape") -> tuple[int, ...]:
    """Validate ``shape`` (positive integers, at most 8 dims, within the tensor budget)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = list(shape)
    except TypeError:
        raise ShapeError(f"{what} {shape!r} is not a list of sizes") from None
    if not 1 <= len(dims) <= MAX_DIMS:
        raise ShapeError(f"{what} {dims} has {len(dims)} dimensions; use 1 to {MAX_DIMS}")
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ShapeError(f"{what} {dims}: size {d!r} is not a whole number")
        if d <= 0:
            raise ShapeError(f"{what} {dims}: size {d} must be positive")
        out.append(int(d))
    budget.check_tensor(out, "a tensor" if what == "shape" else what)
    return tuple(out)


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse user text such as ``"2,3,4,5"`` (no eval) into a validated shape."""
    parts = [p.strip() for p in str(text).replace("x", ",").replace("×", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ShapeError("the shape is empty; write sizes separated by commas, e.g. 2,3,4,5")
    dims = []
    for p in parts:
        if not (p.isdigit() or (p.startswith("-") and p[1:].isdigit())) or len(p) > 12:
            raise ShapeError(f"shape {text!r}: {p!r} is not a whole number")
        dims.append(int(p))
    return check_shape(dims)


def strides_from_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major (C order) element strides: the last dimension moves fastest."""
    out, acc = [], 1
    for d in reversed(list(shape)):
        out.append(acc)
        acc *= int(d)
    return tuple(reversed(out))


def strides(shape, layout: str = "row_major") -> tuple[int, ...]:
    """Element strides of a dense tensor of logical ``shape`` stored in ``layout``.

    NCHW and NHWC take the logical shape (N, C, H, W) and return strides in that order, as torch
    reports them for ``memory_format=torch.channels_last``: (H*W*C, 1, W*C, C).
    """
    shape = check_shape(shape)
    if layout in ("row_major", "ND", "NCHW", "contiguous"):
        return strides_from_shape(shape)
    if layout in ("col_major", "F"):
        return tuple(reversed(strides_from_shape(tuple(reversed(shape)))))
    if layout in ("NHWC", "channels_last"):
        if len(shape) != 4:
            raise ShapeError(f"NHWC needs a 4-D shape (N, C, H, W); got {list(shape)}")
        n, c, h, w = shape
        return (h * w * c, 1, w * c, c)
    raise ShapeError(
        f"layout {layout!r} has no plain strides; choose row_major, col_major, NCHW "
        f"or NHWC (blocked layouts are described by memory_order)"
    )


def numpy_strides(shape, layout: str = "row_major") -> tuple[int, ...] | None:
    """The same strides as numpy reports them, for the page's "matches numpy" badge: a C- or
    F-ordered int8 array (strides in bytes = elements), or an (N, H, W, C) array viewed as
    (N, C, H, W). None for blocked layouts and for shapes over 2^20 elements (nothing allocated)."""
    shape = check_shape(shape)
    if budget.numel(shape) > 1 << 20:
        return None
    if layout in ("row_major", "NCHW", "col_major"):
        arr = np.empty(shape, np.int8, order="F" if layout == "col_major" else "C")
    elif layout == "NHWC" and len(shape) == 4:
        n, c, h, w = shape
        arr = np.empty((n, h, w, c), np.int8).transpose(0, 3, 1, 2)
    else:
        return None
    return tuple(int(v) for v in arr.strides)


def index_to_position(index: Sequence[int], strides_: Sequence[int], offset: int = 0) -> int:
    """Linear address of a logical index: offset + sum(index[i] * strides[i])."""
    return int(offset + sum(int(i) * int(s) for i, s in zip(index, strides_)))


def position_to_index(position: int, shape: Sequence[int]) -> tuple[int, ...]:
    """Logical index of element number ``position`` of a row-major tensor (inverse of the above)."""
    shape = check_shape(shape)
    total = budget.numel(shape)
    if not 0 <= int(position) < total:
        raise ShapeError(f"position {position} is outside a tensor of shape {list(shape)} ({total} elements)")
    out, rest = [], int(position)
    for d in reversed(shape):
        out.append(rest % d)
        rest //= d
    return tuple(reversed(out))


# ---------------------------------------------------------------- views vs copies
@dataclass(frozen=True)
class View:
    """A strided view: element ``index`` lives at ``offset + sum(index * strides)`` of the storage."""

    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int = 0

    def address(self, index: Sequence[int]) -> int:
        return index_to_position(index, self.strides, self.offset)


def contiguous_view(shape) -> View:
    shape = check_shape(shape)
    return View(shape, strides_from_shape(shape), 0)


def is_contiguous(view: View) -> tuple[bool, str]:
    """Whether the view is row-major dense, and why not (sizes of 1 may have any stride)."""
    expected = 1
    for dim in reversed(range(len(view.shape))):
        size, stride = view.shape[dim], view.strides[dim]
        if size == 1:
            continue
        if stride != expected:
            return False, (
                f"dimension {dim} has stride {stride} but row-major order needs "
                f"{expected} (the product of the sizes to its right)"
            )
        expected *= size
    return True, "every stride equals the product of the sizes to its right"


def transpose_view(view: View, perm: Sequence[int]) -> View:
    """Permute dimensions: shape and strides are permuted, no data moves."""
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(len(view.shape))):
        raise ShapeError(f"permutation {perm} is not a reordering of 0..{len(view.shape) - 1}")
    return View(tuple(view.shape[p] for p in perm), tuple(view.strides[p] for p in perm), view.offset)


def slice_view(view: View, dim: int, start: int, stop: int, step: int = 1) -> View:
    """``x[..., start:stop:step, ...]`` on ``dim``: the offset moves, the stride is multiplied."""
    if not 0 <= dim < len(view.shape):
        raise ShapeError(f"dimension {dim} does not exist in shape {list(view.shape)}")
    size = view.shape[dim]
    if step <= 0 or not 0 <= start < stop <= size:
        raise ShapeError(
            f"slice {start}:{stop}:{step} is not valid for size {size} "
            f"(need 0 <= start < stop <= size and step >= 1)"
        )
    new_size = len(range(start, stop, step))
    shape = list(view.shape)
    strides_ = list(view.strides)
    shape[dim] = new_size
    strides_[dim] = view.strides[dim] * step
    return View(tuple(shape), tuple(strides_), view.offset + start * view.strides[dim])


def expand_view(view: View, shape) -> View:
    """Broadcast size-1 dimensions (and new leading ones) to ``shape`` with stride 0."""
    shape = check_shape(shape)
    if len(shape) < len(view.shape):
        raise ShapeError(f"cannot expand shape {list(view.shape)} to fewer dimensions {list(shape)}")
    lead = len(shape) - len(view.shape)
    strides_ = [0] * lead
    for old, old_stride, new in zip(view.shape, view.strides, shape[lead:]):
        if old == new:
            strides_.append(old_stride)
        elif old == 1:
            strides_.append(0)
        else:
            raise ShapeError(
                f"cannot expand size {old} to {new}: only size-1 dimensions broadcast "
                f"({list(view.shape)} -> {list(shape)})"
            )
    return View(shape, tuple(strides_), view.offset)


def reshape_view(view: View, shape) -> View | None:
    """Reshape without copying when possible (torch's rule), else None (a copy is needed).

    Rule: walk the old dimensions from the right, grouping those that are contiguous among
    themselves (stride[i] == stride[i+1] * size[i+1]); each group must split exactly into a run of
    new dimensions. Merging dimensions that are not contiguous with each other needs a copy.
    """
    shape = check_shape(shape)
    if budget.numel(shape) != budget.numel(view.shape):
        raise ShapeError(
            f"cannot reshape {list(view.shape)} ({budget.numel(view.shape)} elements) "
            f"to {list(shape)} ({budget.numel(shape)} elements)"
        )
    old_shape, old_strides = view.shape, view.strides
    new_strides = [0] * len(shape)
    view_d = len(shape) - 1
    chunk_base = old_strides[-1]
    tensor_numel, view_numel = 1, 1
    for d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[d]
        chunk_ends = d == 0 or (old_shape[d - 1] != 1 and old_strides[d - 1] != tensor_numel * chunk_base)
        if not chunk_ends:
            continue
        while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
            new_strides[view_d] = view_numel * chunk_base
            view_numel *= shape[view_d]
            view_d -= 1
        if view_numel != tensor_numel:
            return None
        if d > 0:
            chunk_base, tensor_numel, view_numel = old_strides[d - 1], 1, 1
    if view_d != -1:
        return None
    return View(shape, tuple(new_strides), view.offset)


def materialize(view: View, storage: np.ndarray) -> np.ndarray:
    """The view's elements read from a 1-D ``storage`` (a copy), by the address formula."""
    budget.check_tensor(view.shape, "view")
    idx = np.indices(view.shape).reshape(len(view.shape), -1)
    addr = view.offset + (np.asarray(view.strides)[:, None] * idx).sum(axis=0)
    return np.asarray(storage).reshape(-1)[addr].reshape(view.shape)


# ---------------------------------------------------------------- blocked layouts
def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_block(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 256:
        raise ShapeError(f"{name} = {value!r} must be a whole number from 1 to 256")
    return int(value)


def to_nc1hwc0(x: np.ndarray, c0: int, pad_value=0) -> np.ndarray:
    """NCHW -> NC1HWC0 (CANN): C split into C1 = ceil(C/C0) blocks of C0, the last zero-padded.

    out[n, c1, h, w, c0_] = x[n, c1*C0 + c0_, h, w]  (or ``pad_value`` past C).
    C0 = 16 for fp16 and 32 for int8 (32 bytes per C0 vector).
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ShapeError(f"NC1HWC0 needs a 4-D NCHW tensor; got shape {list(x.shape)}")
    c0 = _check_block("C0", c0)
    n, c, h, w = x.shape
    c1 = _ceil_div(c, c0)
    budget.check_tensor((n, c1 * c0, h, w), "NC1HWC0 tensor")
    padded = np.full((n, c1 * c0, h, w), pad_value, dtype=x.dtype)
    padded[:, :c] = x
    return padded.reshape(n, c1, c0, h, w).transpose(0, 1, 3, 4, 2).copy()


def from_nc1hwc0(y: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of :func:`to_nc1hwc0`: drop the padding and return NCHW with ``channels``."""
    y = np.asarray(y)
    if y.ndim != 5:
        raise ShapeError(f"NC1HWC0 tensors are 5-D; got shape {list(y.shape)}")
    n, c1, h, w, c0 = y.shape
    if not 1 <= channels <= c1 * c0:
        raise ShapeError(f"{channels} channels do not fit C1*C0 = {c1 * c0}")
    return y.transpose(0, 1, 4, 2, 3).reshape(n, c1 * c0, h, w)[:, :channels].copy()


def to_nc4hw4(x: np.ndarray) -> np.ndarray:
    """NC4HW4 (MNN's packed layout): NC1HWC0 with C0 = 4."""
    return to_nc1hwc0(x, 4)


def fractal_nz(x: np.ndarray, m0: int = 16, n0: int = 16, pad_value=0) -> np.ndarray:
    """ND matrix (M, N) -> FRACTAL_NZ of shape (N1, M1, M0, N0), N1 = ceil(N/N0), M1 = ceil(M/M0).

    The matrix is cut into M0 x N0 fractals; fractals are stored column-major (walk down a column
    of fractals first: index n1 outer, m1 inner) and elements inside a fractal row-major:
    out[n1, m1, i, j] = x[m1*M0 + i, n1*N0 + j], zero-padded past M or N (CANN FRACTAL_NZ).
    Leading batch dimensions are kept: (..., M, N) -> (..., N1, M1, M0, N0).
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ShapeError(f"FRACTAL_NZ needs a matrix (at least 2-D); got shape {list(x.shape)}")
    m0, n0 = _check_block("M0", m0), _check_block("N0", n0)
    *batch, m, n = x.shape
    m1, n1 = _ceil_div(m, m0), _ceil_div(n, n0)
    budget.check_tensor((*batch, m1 * m0, n1 * n0), "FRACTAL_NZ tensor")
    padded = np.full((*batch, m1 * m0, n1 * n0), pad_value, dtype=x.dtype)
    padded[..., :m, :n] = x
    b = len(batch)
    blocks = padded.reshape(*batch, m1, m0, n1, n0)
    perm = list(range(b)) + [b + 2, b, b + 1, b + 3]
    return blocks.transpose(perm).copy()


def from_fractal_nz(y: np.ndarray, m: int, n: int) -> np.ndarray:
    """Inverse of :func:`fractal_nz`: back to the (..., m, n) matrix."""
    y = np.asarray(y)
    if y.ndim < 4:
        raise ShapeError(f"FRACTAL_NZ tensors are at least 4-D; got shape {list(y.shape)}")
    *batch, n1, m1, m0, n0 = y.shape
    b = len(batch)
    perm = list(range(b)) + [b + 1, b + 2, b, b + 3]
    full = y.transpose(perm).reshape(*batch, m1 * m0, n1 * n0)
    return full[..., :m, :n].copy()


def fractal_z(w: np.ndarray, c0: int = 16, n0: int = 16, pad_value=0) -> np.ndarray:
    """Conv weights (N=Cout, C=Cin, KH, KW) -> FRACTAL_Z of shape (C1*KH*KW, N1, N0, C0).

    out[(c1*KH + kh)*KW + kw, n1, i, j] = w[n1*N0 + i, c1*C0 + j, kh, kw], zero padded: each
    (N0 x C0) fractal is one Cube-unit operand; the output-channel blocks sit inside the
    (C1, KH, KW) blocks.
    """
    w = np.asarray(w)
    if w.ndim != 4:
        raise ShapeError(f"FRACTAL_Z takes 4-D conv weights (Cout, Cin, KH, KW); got {list(w.shape)}")
    c0, n0 = _check_block("C0", c0), _check_block("N0", n0)
    n, c, kh, kw = w.shape
    c1, n1 = _ceil_div(c, c0), _ceil_div(n, n0)
    budget.check_tensor((n1 * n0, c1 * c0, kh, kw), "FRACTAL_Z tensor")
    padded = np.full((n1 * n0, c1 * c0, kh, kw), pad_value, dtype=w.dtype)
    padded[:n, :c] = w
    blocks = padded.reshape(n1, n0, c1, c0, kh, kw).transpose(2, 4, 5, 0, 1, 3)
    return blocks.reshape(c1 * kh * kw, n1, n0, c0).copy()


# ---------------------------------------------------------------- memory order
def memory_order(shape, layout: str = "row_major", c0: int = 16) -> np.ndarray:
    """For each address 0, 1, 2, ...: the row-major flat number of the logical element stored
    there, or -1 for a padding slot. Blocked layouts take ``c0`` (C0, or M0 = N0 for FRACTAL_NZ);
    FRACTAL_Z reads the shape as conv weights (Cout, Cin, KH, KW) with N0 = 16."""
    shape = check_shape(shape)
    slots = stored_slots(shape, layout, c0)
    if slots > MAX_MEMORY_ORDER:
        raise BudgetError(
            f"layout {layout} of shape {list(shape)} has {slots:,} slots; listing them "
            f"is limited to {MAX_MEMORY_ORDER:,} (padding_waste works for any size)"
        )
    ids = np.arange(budget.numel(shape), dtype=np.int64).reshape(shape)
    if layout in ("row_major", "ND", "NCHW", "contiguous"):
        return ids.reshape(-1)
    if layout in ("col_major", "F"):
        return ids.reshape(-1, order="F")
    if layout in ("NHWC", "channels_last"):
        strides(shape, "NHWC")  # validates 4-D
        return ids.transpose(0, 2, 3, 1).reshape(-1)
    if layout in ("NC1HWC0", "NC4HW4"):
        block = 4 if layout == "NC4HW4" else c0
        return to_nc1hwc0(ids, block, pad_value=-1).reshape(-1)
    if layout == "FRACTAL_NZ":
        return fractal_nz(ids, c0, c0, pad_value=-1).reshape(-1)
    if layout == "FRACTAL_Z":
        return fractal_z(ids, c0, 16, pad_value=-1).reshape(-1)
    raise ShapeError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


def address_order(shape, layout: str = "row_major", c0: int = 16) -> list:
    """The logical indices in memory order: element k of the list sits at address k (None = pad)."""
    shape = check_shape(shape)
    order = memory_order(shape, layout, c0)
    if order.size > MAX_ORDER_ELEMENTS:
        raise BudgetError(
            f"address order of {order.size:,} slots is too long to list; the limit "
            f"is {MAX_ORDER_ELEMENTS:,} (try a smaller shape)"
        )
    return [None if k < 0 else tuple(int(v) for v in np.unravel_index(k, shape)) for k in order]


def stored_slots(shape, layout: str, c0: int = 16) -> int:
    """Elements stored, padding included, without building anything."""
    shape = check_shape(shape)
    if layout in ("row_major", "ND", "NCHW", "contiguous", "col_major", "F"):
        return budget.numel(shape)
    if layout in ("NHWC", "channels_last", "NC1HWC0", "NC4HW4", "FRACTAL_Z") and len(shape) != 4:
        raise ShapeError(f"{layout} needs a 4-D shape; got {list(shape)}")
    if layout in ("NHWC", "channels_last"):
        return budget.numel(shape)
    if layout in ("NC1HWC0", "NC4HW4"):
        block = 4 if layout == "NC4HW4" else _check_block("C0", c0)
        n, c, h, w = shape
        return n * _ceil_div(c, block) * block * h * w
    if layout == "FRACTAL_NZ":
        if len(shape) < 2:
            raise ShapeError(f"FRACTAL_NZ needs a matrix (at least 2-D); got shape {list(shape)}")
        blk = _check_block("M0", c0)
        *batch, m, n = shape
        return budget.numel(batch) * _ceil_div(m, blk) * blk * _ceil_div(n, blk) * blk
    if layout == "FRACTAL_Z":
        n, c, kh, kw = shape
        blk = _check_block("C0", c0)
        return _ceil_div(n, 16) * 16 * _ceil_div(c, blk) * blk * kh * kw
    raise ShapeError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


def padding_waste(shape, layout: str, c0: int = 16) -> float:
    """Percentage of the stored slots that are padding."""
    slots = stored_slots(shape, layout, c0)
    return 100.0 * (slots - budget.numel(check_shape(shape))) / slots


def align(nbytes: int, boundary: int) -> tuple[int, int]:
    """Round ``nbytes`` up to a multiple of ``boundary`` bytes: (aligned size, wasted bytes)."""
    if nbytes < 0 or boundary <= 0 or boundary & (boundary - 1):
        raise ShapeError(
            f"alignment needs nbytes >= 0 and a power-of-two boundary; got {nbytes} bytes to {boundary}"
        )
    aligned = _ceil_div(nbytes, boundary) * boundary
    return aligned, aligned - nbytes


def byte_view(values: Sequence[float], dtype: str = "fp32", endian: str = "little") -> list[list[str]]:
    """Each value's bytes, as hex strings, in address order for the given endianness."""
    np_types = {"fp32": "f4", "fp16": "f2", "int8": "i1"}
    if dtype not in np_types or endian not in ("little", "big"):
        raise ShapeError(
            f"byte view supports dtype fp32/fp16/int8 and endian little/big; got {dtype!r}, {endian!r}"
        )
    if len(values) > 4096:
        raise BudgetError(f"{len(values)} values is too many for a byte view (limit 4096)")
    arr = np.asarray(values, dtype=("<" if endian == "little" else ">") + np_types[dtype])
    # slicing keeps the array's byte order (a scalar taken out of it would be native-endian)
    return [[f"{b:02X}" for b in arr[i : i + 1].tobytes()] for i in range(arr.size)]


@dataclass(frozen=True)
class ConversionStep:
    op: str  # "pad", "reshape", "transpose"
    detail: str
    shape: tuple[int, ...]
    bytes_moved: int  # bytes read + written (0 for a free reshape of a contiguous tensor)
    perm: tuple[int, ...] = ()  # the transpose's axis order (empty for pad and reshape)


def conversion_steps(
    shape, src: str, dst: str, dtype: str = "fp16", c0: int | None = None
) -> list[ConversionStep]:
    """Convert a dense NCHW/NHWC tensor (logical N, C, H, W) between layouts as pad/reshape/transpose.

    A reshape of a contiguous array is free; a transpose or pad reads and writes every element.
    """
    shape = check_shape(shape)
    if len(shape) != 4:
        raise ShapeError(f"layout conversion works on 4-D (N, C, H, W) shapes; got {list(shape)}")
    if dtype not in DTYPE_BYTES:
        raise ShapeError(f"dtype {dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    nbytes = DTYPE_BYTES[dtype]
    n, c, h, w = shape
    c0 = C0_FOR_DTYPE[dtype] if c0 is None else _check_block("C0", c0)
    if dst == "NC4HW4":
        c0 = 4
    steps: list[ConversionStep] = []
    size = n * c * h * w
    if src == dst:
        return steps
    if src == "NHWC":
        steps.append(
            ConversionStep(
                "transpose",
                "(N,H,W,C) -> (N,C,H,W), perm (0,3,1,2)",
                (n, c, h, w),
                2 * size * nbytes,
                (0, 3, 1, 2),
            )
        )
    elif src != "NCHW":
        raise ShapeError(f"conversions start from NCHW or NHWC; got {src!r}")
    if dst == "NCHW":
        return steps
    if dst == "NHWC":
        steps.append(
            ConversionStep(
                "transpose",
                "(N,C,H,W) -> (N,H,W,C), perm (0,2,3,1)",
                (n, h, w, c),
                2 * size * nbytes,
                (0, 2, 3, 1),
            )
        )
        return steps
    if dst in ("NC1HWC0", "NC4HW4"):
        c1 = _ceil_div(c, c0)
        padded = n * c1 * c0 * h * w
        if c1 * c0 != c:
            steps.append(
                ConversionStep(
                    "pad",
                    f"C {c} -> C1*C0 = {c1}*{c0} = {c1 * c0} with zeros",
                    (n, c1 * c0, h, w),
                    (size + padded) * nbytes,
                )
            )
        steps.append(ConversionStep("reshape", f"split C into (C1, C0) = ({c1}, {c0})", (n, c1, c0, h, w), 0))
        steps.append(
            ConversionStep(
                "transpose",
                "(N,C1,C0,H,W) -> (N,C1,H,W,C0), perm (0,1,3,4,2)",
                (n, c1, h, w, c0),
                2 * padded * nbytes,
                (0, 1, 3, 4, 2),
            )
        )
        return steps
    raise ShapeError(f"unknown target layout {dst!r}; choose NCHW, NHWC, NC1HWC0 or NC4HW4")


# ---------------------------------------------------------------- a whole graph, every layout
GRAPH_LAYOUTS = ("NCHW", "NHWC", "NC1HWC0", "FRACTAL_NZ")
NZ_FRACTAL = 16  # FRACTAL_NZ cuts the last two dims into 16 x 16 fractals (the Cube unit's fp16 tile)


@dataclass(frozen=True)
class TensorLayouts:
    """One tensor of a graph stored in each of :data:`GRAPH_LAYOUTS` (tuples in that order)."""

    name: str
    role: str  # input, param, constant or activation (an op's output)
    shape: tuple[int, ...]
    dtype: str
    itemsize: int  # bytes per element
    rule: str  # how this rank was mapped onto the layouts
    applies: tuple[bool, ...]  # False: the layout does not apply, the tensor stays dense (ND)
    slots: tuple[int, ...]  # stored elements, padding included
    waste_pct: tuple[float, ...]  # share of the slots that are padding (padding_waste)

    @property
    def elements(self) -> int:
        return budget.numel(self.shape)

    @property
    def overhead_bytes(self) -> tuple[int, ...]:
        return tuple((s - self.elements) * self.itemsize for s in self.slots)


@dataclass(frozen=True)
class GraphLayouts:
    c0: int
    layouts: tuple[str, ...]
    tensors: tuple[TensorLayouts, ...]
    logical_bytes: int  # every tensor once, no padding
    overhead_bytes: tuple[int, ...]  # padding bytes over the graph, per layout

    def overhead(self, layout: str) -> int:
        """Padding bytes of the whole graph in ``layout``."""
        if layout not in self.layouts:
            raise ShapeError(f"layout {layout!r} is not one of {', '.join(self.layouts)}")
        return self.overhead_bytes[self.layouts.index(layout)]

    def rows(self) -> list[dict]:
        """One dict per tensor for a table: shape, rule, and slots / padding % per layout."""
        rows = []
        for t in self.tensors:
            row = {
                "tensor": t.name,
                "role": t.role,
                "shape": "×".join(map(str, t.shape)) or "scalar",
                "dtype": t.dtype,
                "elements": t.elements,
            }
            for lay, slots, pct in zip(self.layouts, t.slots, t.waste_pct):
                row[f"{lay} slots"], row[f"{lay} padding (%)"] = slots, round(pct, 2)
            rows.append({**row, "rule": t.rule})
        return rows


def _rank_rule(rank: int) -> tuple[str, tuple[bool, ...]]:
    """Which layouts apply to a tensor of this rank, and the sentence that says how it is read."""
    if rank == 4:
        return "4-D, read as (N, C, H, W)", (True, True, True, True)
    if rank == 2:
        return "2-D (M, N), read as (M, N, 1, 1) for NCHW/NHWC/NC1HWC0", (True, True, True, True)
    if 3 <= rank <= MAX_DIMS:
        rule = f"{rank}-D: FRACTAL_NZ on the last two dims, other layouts dense (ND)"
        return rule, (False, False, False, True)
    return f"{rank}-D: stays dense (ND) in every layout", (False, False, False, False)


def _tensor_layouts(node, c0: int) -> TensorLayouts:
    shape = tuple(int(d) for d in node.shape)
    try:
        itemsize = np.dtype(node.dtype).itemsize
    except TypeError:
        raise ShapeError(
            f"tensor {node.name!r} has dtype {node.dtype!r}, which has no size in bytes"
        ) from None
    rule, applies = _rank_rule(len(shape))
    if budget.numel(shape) == 0:
        rule, applies = "empty: nothing stored", (False, False, False, False)
    as4 = shape + (1, 1) if len(shape) == 2 else shape
    slots, waste = [], []
    for layout, ok in zip(GRAPH_LAYOUTS, applies):
        if not ok:
            slots.append(budget.numel(shape))
            waste.append(0.0)
            continue
        dims, block = (shape, NZ_FRACTAL) if layout == "FRACTAL_NZ" else (as4, c0)
        slots.append(stored_slots(dims, layout, block))
        waste.append(padding_waste(dims, layout, block))
    role = {"input": "input", "param": "param", "constant": "constant"}.get(node.op, "activation")
    return TensorLayouts(
        node.name, role, shape, str(node.dtype), itemsize, rule, applies, tuple(slots), tuple(waste)
    )


def graph_layouts(graph, c0: int = 16) -> GraphLayouts:
    """Every tensor of ``graph`` (one per node) in NCHW, NHWC, NC1HWC0 (C0 = ``c0``) and FRACTAL_NZ.

    Stages: (1) refuse non-graphs and graphs over the node budget, check C0; (2) per tensor, map its
    rank (4-D as N, C, H, W; 2-D (M, N) as (M, N, 1, 1), so C = N for NC1HWC0; FRACTAL_NZ on the last
    two dims of any tensor with two or more, leading dims kept as a batch; vectors, scalars and
    empty tensors stay dense); (3) :func:`stored_slots` and :func:`padding_waste` per layout;
    (4) padding bytes at each tensor's own dtype, summed over the graph per layout.
    """
    from ..core.errors import GraphError
    from ..core.ir import Graph

    if not isinstance(graph, Graph):
        raise GraphError(f"graph_layouts() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes), "the graph for the layout lens")
    c0 = _check_block("C0", c0)
    if not any(len(n.shape) >= 2 and budget.numel(n.shape) for n in graph.nodes):
        raise ShapeError(
            "this graph has no tensor with two or more dimensions, so every layout stores "
            "it densely and there is nothing to compare; try the conv_bn_relu preset"
        )
    tensors = tuple(_tensor_layouts(n, c0) for n in graph.nodes)
    overhead = tuple(sum(t.overhead_bytes[i] for t in tensors) for i in range(len(GRAPH_LAYOUTS)))
    logical = sum(t.elements * t.itemsize for t in tensors)
    return GraphLayouts(c0, GRAPH_LAYOUTS, tensors, logical, overhead)
