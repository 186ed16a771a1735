"""Shape ops: move or select data without arithmetic (TVM kind ``injective``) plus reductions.

* ``identity``, ``reshape``, ``flatten``, ``transpose``, ``concat``, ``split``, ``slice`` are
  ``kInjective`` in TVM's OpPatternKind: every output element is one input element. They cost 0 FLOPs.
* ``reduce_sum``, ``reduce_mean``, ``reduce_max`` are ``kCommReduce`` (our ``reduce``); they cost one
  FLOP per *input* element (the sum/compare that visits it; the mean's final division is not counted).

Semantics follow ONNX: ``reshape`` allows one -1 (sizes must be positive otherwise: ONNX's 0 = "copy
this dimension" is not supported); ``flatten(axis)`` gives the 2-D shape (prod(dims[:axis]),
prod(dims[axis:])); ``slice`` clamps out-of-range starts/ends and counts negative indices from the end;
``split`` returns piece ``index`` of ``parts`` equal pieces (one node per piece: the IR has
single-output nodes). Every bad shape or attribute raises :class:`ShapeError` naming the values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError
from ..opdef import OpDef, OpTable, Workspace
from .common import integer, numel

OPS = OpTable()  # this module's ops, in order; engine.core.registry collects them
register = OPS.register


def _zero_flops(in_shapes, out_shape, attrs) -> tuple[int, int]:
    return 0, 0


def _no_temporary(in_shapes, out_shape, attrs) -> Workspace:
    """A view of the input, or a copy that is the output itself: nothing else is allocated."""
    return Workspace()


def _axis(op: str, axis, rank: int, *, allow_end: bool = False) -> int:
    """Normalise a possibly negative axis; ``allow_end`` admits ``rank`` itself (for flatten)."""
    hi = rank + 1 if allow_end else rank
    if not isinstance(axis, (int, np.integer)) or not -rank <= int(axis) < hi:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for a tensor of rank {rank}")
    return int(axis) + rank if int(axis) < 0 else int(axis)


def _ints(op: str, name: str, value) -> tuple[int, ...]:
    if hasattr(value, "array"):  # an ndarray attribute is frozen into an ir.Tensor
        value = value.array
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)):
        return (integer(op, name, value),)
    return tuple(integer(op, name, v) for v in value)


# -- identity -------------------------------------------------------------------------------------
register(
    OpDef(
        "identity",
        "injective",
        1,
        1,
        lambda s, d, a: (tuple(s[0]), d[0]),
        lambda xs, a: xs[0].copy(),
        _zero_flops,
        doc="a copy of x (used when a program variable is aliased)",
        onnx="Identity",
        workspace=_no_temporary,
    )
)


# -- reshape / flatten ----------------------------------------------------------------------------
def _infer_reshape(in_shapes, in_dtypes, attrs):
    src = tuple(in_shapes[0])
    if attrs["shape"] is None:
        raise ShapeError("reshape: give the new shape, e.g. reshape(x, shape=(2, -1))")
    want = _ints("reshape", "shape", attrs["shape"])
    if sum(d == -1 for d in want) > 1:
        raise ShapeError(f"reshape: shape {list(want)} has more than one -1")
    if any(d == 0 or d < -1 for d in want):
        raise ShapeError(f"reshape: sizes in {list(want)} must be positive (or one -1)")
    known = numel(d for d in want if d != -1)
    total = numel(src)
    if -1 in want:
        if total % known:
            raise ShapeError(
                f"reshape: cannot reshape {list(src)} ({total} elements) into "
                f"{list(want)}: {total} is not divisible by {known}"
            )
        want = tuple(total // known if d == -1 else d for d in want)
    elif known != total:
        raise ShapeError(
            f"reshape: cannot reshape {list(src)} ({total} elements) into {list(want)} ({known} elements)"
        )
    return want, in_dtypes[0]


def _infer_flatten(in_shapes, in_dtypes, attrs):
    src = tuple(in_shapes[0])
    axis = _axis("flatten", attrs["axis"], len(src), allow_end=True)
    return (numel(src[:axis]), numel(src[axis:])), in_dtypes[0]


def _reshape_kernel(xs, attrs):
    return xs[0].reshape(_infer_reshape([xs[0].shape], [None], attrs)[0])


def _flatten_kernel(xs, attrs):
    return xs[0].reshape(_infer_flatten([xs[0].shape], [None], attrs)[0])


register(
    OpDef(
        "reshape",
        "injective",
        1,
        1,
        _infer_reshape,
        _reshape_kernel,
        _zero_flops,
        attrs={"shape": None},
        doc="same data, new shape (one -1 is inferred)",
        onnx="Reshape",
        workspace=_no_temporary,
    )
)
register(
    OpDef(
        "flatten",
        "injective",
        1,
        1,
        _infer_flatten,
        _flatten_kernel,
        _zero_flops,
        attrs={"axis": 1},
        doc="2-D view: (prod dims[:axis], prod dims[axis:])",
        onnx="Flatten",
        workspace=_no_temporary,
    )
)


# -- transpose -------------------------------------------------------------------------------------
def _perm(shape: Sequence[int], attrs) -> tuple[int, ...]:
    rank = len(shape)
    if attrs["perm"] is None:
        return tuple(reversed(range(rank)))
    perm = _ints("transpose", "perm", attrs["perm"])
    if sorted(perm) != list(range(rank)):
        raise ShapeError(
            f"transpose: perm {list(perm)} is not a permutation of the {rank} axes of {list(shape)}"
        )
    return perm


def _infer_transpose(in_shapes, in_dtypes, attrs):
    src = tuple(in_shapes[0])
    return tuple(src[p] for p in _perm(src, attrs)), in_dtypes[0]


register(
    OpDef(
        "transpose",
        "injective",
        1,
        1,
        _infer_transpose,
        lambda xs, a: np.transpose(xs[0], _perm(xs[0].shape, a)),
        _zero_flops,
        attrs={"perm": None},
        doc="permute axes (default: reverse them)",
        onnx="Transpose",
        workspace=_no_temporary,
    )
)


# -- concat / split --------------------------------------------------------------------------------
def _infer_concat(in_shapes, in_dtypes, attrs):
    first = tuple(in_shapes[0])
    if not first:
        raise ShapeError("concat: cannot concatenate scalars; reshape them to shape [1] first")
    axis = _axis("concat", attrs["axis"], len(first))
    total = 0
    for s in in_shapes:
        s = tuple(s)
        same = len(s) == len(first) and all(a == b for k, (a, b) in enumerate(zip(s, first)) if k != axis)
        if not same:
            raise ShapeError(
                f"concat: cannot join {list(first)} and {list(s)} along axis {axis}: "
                "all other sizes must match"
            )
        total += s[axis]
    return first[:axis] + (total,) + first[axis + 1 :], in_dtypes[0]


def _split_geometry(shape, attrs) -> tuple[int, int, int]:
    op = "split"
    if not shape:
        raise ShapeError("split: cannot split a scalar")
    axis = _axis(op, attrs["axis"], len(shape))
    parts, index = integer(op, "parts", attrs["parts"]), integer(op, "index", attrs["index"])
    if parts < 1:
        raise ShapeError(f"split: parts must be at least 1, got {parts}")
    if shape[axis] % parts:
        raise ShapeError(
            f"split: axis {axis} of {list(shape)} has size {shape[axis]}, which does "
            f"not split into {parts} equal parts"
        )
    if not 0 <= index < parts:
        raise ShapeError(f"split: index {index} is out of range for {parts} parts")
    return axis, shape[axis] // parts, index


def _infer_split(in_shapes, in_dtypes, attrs):
    shape = tuple(in_shapes[0])
    axis, size, _ = _split_geometry(shape, attrs)
    return shape[:axis] + (size,) + shape[axis + 1 :], in_dtypes[0]


def _split_kernel(xs, attrs):
    x = xs[0]
    axis, size, index = _split_geometry(x.shape, attrs)
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(index * size, (index + 1) * size)
    return x[tuple(sl)]


register(
    OpDef(
        "concat",
        "injective",
        1,
        64,
        _infer_concat,
        lambda xs, a: np.concatenate(xs, axis=int(a["axis"])),
        _zero_flops,
        attrs={"axis": 0},
        doc="join tensors along an axis",
        onnx="Concat",
        workspace=_no_temporary,
    )
)
register(
    OpDef(
        "split",
        "injective",
        1,
        1,
        _infer_split,
        _split_kernel,
        _zero_flops,
        attrs={"parts": 2, "axis": 0, "index": 0},
        doc="piece `index` of `parts` equal pieces along `axis`",
        onnx="Split",
        workspace=_no_temporary,
    )
)


# -- slice ---------------------------------------------------------------------------------------
def _slices(shape, attrs) -> tuple[slice, ...]:
    op = "slice"
    if attrs["starts"] is None or attrs["ends"] is None:
        raise ShapeError("slice: give starts=(...) and ends=(...)")
    starts = _ints(op, "starts", attrs["starts"])
    ends = _ints(op, "ends", attrs["ends"])
    axes = tuple(range(len(starts))) if attrs["axes"] is None else _ints(op, "axes", attrs["axes"])
    steps = (1,) * len(starts) if attrs["steps"] is None else _ints(op, "steps", attrs["steps"])
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(
            f"slice: starts {list(starts)}, ends {list(ends)}, axes {list(axes)} and "
            f"steps {list(steps)} must have the same length"
        )
    out = [slice(None)] * len(shape)
    seen = set()
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax = _axis(op, ax, len(shape))
        if ax in seen:
            raise ShapeError(f"slice: axis {ax} appears twice in axes {list(axes)}")
        seen.add(ax)
        if st == 0:
            raise ShapeError("slice: a step cannot be 0")
        start, stop, step = slice(s, e, st).indices(shape[ax])
        # Python's `indices` returns stop = -1 for "before index 0"; a literal -1 would wrap.
        out[ax] = slice(start, stop if stop >= 0 else None, step)
    return tuple(out)


def _infer_slice(in_shapes, in_dtypes, attrs):
    shape = tuple(in_shapes[0])
    sl = _slices(shape, attrs)
    out = tuple(len(range(*s.indices(d))) for s, d in zip(sl, shape))
    if 0 in out and 0 not in shape:
        raise ShapeError(f"slice: the slice of {list(shape)} is empty (result {list(out)})")
    return out, in_dtypes[0]


register(
    OpDef(
        "slice",
        "injective",
        1,
        1,
        _infer_slice,
        lambda xs, a: xs[0][_slices(xs[0].shape, a)],
        _zero_flops,
        attrs={"starts": None, "ends": None, "axes": None, "steps": None},
        doc="x[starts:ends:steps] on the given axes (ONNX clamping)",
        onnx="Slice",
        workspace=_no_temporary,
    )
)


# -- reductions ----------------------------------------------------------------------------------
def _reduce_axes(op: str, shape, attrs) -> tuple[int, ...]:
    if attrs["axes"] is None:
        return tuple(range(len(shape)))
    axes = tuple(_axis(op, a, len(shape)) for a in _ints(op, "axes", attrs["axes"]))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: axes {list(attrs['axes'])} name the same axis twice")
    return tuple(sorted(axes))


def _make_reduce(op: str, fn, doc: str, onnx: str) -> None:
    def infer(in_shapes, in_dtypes, attrs):
        shape = tuple(in_shapes[0])
        axes = _reduce_axes(op, shape, attrs)
        if attrs["keepdims"]:
            return tuple(1 if k in axes else d for k, d in enumerate(shape)), "float32"
        return tuple(d for k, d in enumerate(shape) if k not in axes), "float32"

    def kernel(xs, attrs):
        x = xs[0]
        axes = _reduce_axes(op, x.shape, attrs)
        out = fn(x, axis=axes, keepdims=bool(attrs["keepdims"]))
        return np.asarray(out, dtype=np.float32)

    def flops(in_shapes, out_shape, attrs):
        return numel(in_shapes[0]), 0

    register(
        OpDef(
            op, "reduce", 1, 1, infer, kernel, flops, attrs={"axes": None, "keepdims": 0}, doc=doc, onnx=onnx
        )
    )


_make_reduce("reduce_sum", np.sum, "sum over axes (all when axes=None)", "ReduceSum")
_make_reduce("reduce_mean", np.mean, "mean over axes (all when axes=None)", "ReduceMean")
_make_reduce("reduce_max", np.max, "maximum over axes (all when axes=None)", "ReduceMax")
