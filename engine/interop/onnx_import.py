"""ONNX import: read an (untrusted) ONNX model into a Graph.

:func:`from_onnx`, in stages:
  1. :mod:`engine.interop.onnx_guard` decodes and checks the upload (size, decompression bombs,
     external data, opsets) before anything else reads it;
  2. one pass over the graph: no value defined twice; every op we cannot map is listed in ONE error;
  3. constants (initializers, ``Constant`` nodes, and small integer sub-graphs such as
     ``Shape -> Gather -> Unsqueeze -> Concat``) are folded with numpy, so ``Reshape`` targets and
     ``Slice`` bounds become attributes;
  4. every other node is added through :class:`~engine.core.ir.GraphBuilder` (shape inference checks
     it); float initializers that feed computations become ``param`` nodes *with their values*, so
     running the graph gives the model's real outputs. Names are sanitised and made unique.
Every failure is an EngineError; tensors are size-checked before numpy allocates them, and the
constants folded at import together stay under 64 MiB. Symbolic dimensions (a dynamic batch) are
read as 1.
Not handled: control flow (If/Loop), asymmetric pads, ``auto_pad``, ``ceil_mode``, 1-D/3-D
convolutions, training-mode BatchNormalization, integer tensors in the computation.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph, GraphBuilder
from . import onnx_qdq
from .onnx_export import OPSET, _safe_title
from .onnx_guard import _check_upload, _load_model

_UNARY = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Exp": "exp",
    "Log": "log",
    "Sin": "sin",
    "Cos": "cos",
    "Neg": "neg",
    "Sqrt": "sqrt",
    "Abs": "abs",
    "Erf": "erf",
    "HardSwish": "hswish",
    "GlobalAveragePool": "global_avgpool",
    "Identity": "identity",
    "Dropout": "identity",
}
_BINARY = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Pow": "pow",
    "MatMul": "matmul",
    "Max": "max",
    "Min": "min",
}
_FOLDABLE = {
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "Identity",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Reshape",
    "Range",
    "ConstantOfShape",
    "Slice",
}
_OTHER = {
    "Conv",
    "Gemm",
    "Clip",
    "Gelu",
    "LeakyRelu",
    "BatchNormalization",
    "MaxPool",
    "AveragePool",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Softmax",
    "LayerNormalization",
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "Constant",
    "Squeeze",
    "Unsqueeze",
    "Shape",
    "Cast",
    "Gather",
    "ConstantOfShape",
    "Range",
    *onnx_qdq.ONNX_OPS,
}
SUPPORTED_ONNX_OPS = sorted({*_UNARY, *_BINARY, *_OTHER})


_FOLDED_BYTES = budget.MAX_TENSOR_ELEMENTS * 4  # constants computed at import, all together (64 MiB)


def _index_values(g) -> set[str]:
    """One pass over the graph: refuse a value defined twice (ONNX graphs are single-assignment)
    and return the names something consumes (node inputs and graph outputs)."""
    from ..core.errors import GraphError

    inits = [t.name for t in g.initializer]
    defined = set(inits)
    if len(defined) != len(inits):
        raise GraphError(f"from_onnx: two initializers are named {_first_repeat(inits)!r}")
    inputs = [vi.name for vi in g.input]
    if len(set(inputs)) != len(inputs):
        raise GraphError(f"from_onnx: two graph inputs are named {_first_repeat(inputs)!r}")
    defined.update(inputs)  # an input may repeat an initializer (older exporters list both)
    consumed = {o.name for o in g.output}
    for node in g.node:
        consumed.update(node.input)
        for o in node.output:
            if o in defined:
                raise GraphError(
                    f"from_onnx: the value {o!r} is defined twice (again by node "
                    f"{node.name or node.op_type!r}); ONNX values have one producer"
                )
            if o:
                defined.add(o)
    return consumed


def _first_repeat(names: list[str]) -> str:
    seen: set[str] = set()
    return next(n for n in names if n in seen or seen.add(n))


def _tensor_array(t, what: str) -> np.ndarray:
    """numpy value of an in-file TensorProto, after checking its dims and data size (so numpy never
    allocates a declared-but-absent giant, and a short raw_data is named, not a reshape error)."""
    from onnx import TensorProto, helper, numpy_helper

    if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
        raise EngineError(f"from_onnx: {what} keeps its data in an external file")  # never read it
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise EngineError(f"from_onnx: {what} has a negative dimension in its shape {dims}")
    budget.check_tensor(dims, what)
    if t.data_type == TensorProto.STRING or t.data_type not in helper.get_all_tensor_dtypes():
        raise EngineError(f"from_onnx: {what} has data type {t.data_type}, which is not a number type")
    count = budget.numel(dims)
    if t.HasField("raw_data"):
        itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        packed4 = t.data_type in {getattr(TensorProto, k, -1) for k in ("INT4", "UINT4", "FLOAT4E2M1")}
        want = (count + 1) // 2 if packed4 else count * itemsize
        if len(t.raw_data) != want:
            raise EngineError(
                f"from_onnx: {what} declares shape {dims} ({want:,} bytes) but its "
                f"raw_data holds {len(t.raw_data):,} bytes"
            )
    try:
        return numpy_helper.to_array(t)
    except Exception as exc:  # noqa: BLE001 - onnx raises ValueError/TypeError/... on bad tensors
        raise EngineError(f"from_onnx: {what} cannot be decoded ({str(exc)[:160]})") from None


def _attrs(node, opset: int) -> dict[str, Any]:
    """A node's attributes, each of the type the ONNX schema gives it (``strides="22"`` would
    otherwise be read as the byte values [50, 50])."""
    from onnx import AttributeProto, helper

    types = _attr_types(node.op_type, opset)
    out = {}
    for a in node.attribute:
        want = types.get(a.name, a.type) if types is not None else a.type
        if want != a.type:
            names = AttributeProto.AttributeType
            got = names.Name(a.type) if a.type in names.values() else str(a.type)
            raise EngineError(
                f"from_onnx: the attribute {a.name!r} of {node.op_type} node "
                f"{node.name!r} is {got}; ONNX defines it as {names.Name(want)}"
            )
        out[a.name] = helper.get_attribute_value(a)
    return out


@functools.lru_cache(maxsize=256)
def _attr_types(op_type: str, opset: int) -> dict[str, int] | None:
    """attribute name -> AttributeProto type for ``op_type`` at ``opset``; None if no schema."""
    import onnx

    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except Exception:  # noqa: BLE001 - SchemaError: not defined at this opset; the reader decides
        return None
    return {name: int(a.type) for name, a in schema.attributes.items()}


class _Reader:
    """Holds the builder, the folded constants and the name map while reading one model."""

    def __init__(self, proto):
        self.b = GraphBuilder(_safe_title(proto.graph.name))
        self.refs: dict[str, str] = {}  # onnx value name -> builder ref
        self.consts: dict[str, np.ndarray] = {}  # folded constant values
        self.folded_bytes = 0  # size of those computed here (not in the file)
        self.is_init: set[str] = set()
        self.taken: set[str] = set()
        self.suffix: dict[str, int] = {}  # base name -> last suffix tried (keeps naming linear)
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)
        for t in proto.graph.initializer:
            what = f"the initializer {t.name!r}"
            self.consts[t.name] = _tensor_array(t, what)  # in the file: bounded by its size
            self.is_init.add(t.name)

    def keep_folded(self, onnx_name: str, value: np.ndarray, what: str, inputs: list) -> None:
        """Record a folded constant; tiny inputs can fold into giants, so the arrays a fold
        allocates share one budget (views and pass-throughs such as Identity allocate nothing)."""
        value = np.asarray(value)
        if value.base is None and not any(value is x for x in inputs):
            self.folded_bytes += value.nbytes
        if self.folded_bytes > _FOLDED_BYTES:
            raise budget.BudgetError(
                f"from_onnx: with {what} the constants folded at import hold "
                f"{self.folded_bytes / 2**20:,.1f} MiB; the limit is "
                f"{_FOLDED_BYTES / 2**20:,.0f} MiB"
            )
        self.consts[onnx_name] = value

    def name(self, onnx_name: str) -> str:
        base = re.sub(r"_output_0$", "", onnx_name.strip("/")).replace("/", ".")
        base = re.sub(r"[^0-9A-Za-z_.]", "_", base).strip("._") or "v"
        base = base.replace("#", "_")
        out, k = base, self.suffix.get(base, 1)
        if k > 1:
            out = f"{base}_{k}"
        while out in self.taken:
            k += 1
            out = f"{base}_{k}"
        self.suffix[base] = k
        self.taken.add(out)
        return out

    def tensor(self, onnx_name: str) -> str:
        """Builder ref for an ONNX value, materialising a folded constant as param/constant."""
        if onnx_name in self.refs:
            return self.refs[onnx_name]
        if onnx_name not in self.consts:
            raise EngineError(f"from_onnx: the value {onnx_name!r} is used before it is produced")
        arr = self.consts[onnx_name].astype(np.float32)
        nm = self.name(onnx_name)
        if onnx_name in self.is_init and arr.ndim >= 1:
            ref = self.b.param(arr.shape, name=nm, value=arr)
        else:
            ref = self.b.constant(arr, name=nm)
        self.refs[onnx_name] = ref
        return ref

    def ints(self, onnx_name: str, what: str) -> list[int]:
        if onnx_name not in self.consts:
            raise EngineError(
                f"from_onnx: the {what} input {onnx_name!r} is computed at run time; "
                "only constant values are supported here"
            )
        return [int(v) for v in np.asarray(self.consts[onnx_name]).reshape(-1)]

    def shape(self, onnx_name: str) -> tuple[int, ...]:
        if onnx_name in self.consts:
            return tuple(self.consts[onnx_name].shape)
        return self.b.shape_of(self.tensor(onnx_name))

    def put(self, onnx_name: str, ref: str) -> None:
        self.refs[onnx_name] = ref
        self.b.bind(self.name(onnx_name), ref)


def _hw(values) -> int | list[int]:
    """An (h, w) attribute as one int when both are equal (reads better: stride=2)."""
    values = [int(v) for v in values]
    return values[0] if len(values) == 2 and values[0] == values[1] else values


def _sym_pads(op: str, pads) -> int | list[int]:
    pads = list(pads or [0, 0, 0, 0])
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise EngineError(f"from_onnx: {op} with pads {pads} is not supported (only 2-D, symmetric padding)")
    return _hw(pads[:2])


def _check_plain(op: str, at: dict) -> None:
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise EngineError(
            f"from_onnx: {op} with auto_pad={at['auto_pad']!r} is not supported; export with explicit pads"
        )
    if at.get("ceil_mode", 0):
        raise EngineError(f"from_onnx: {op} with ceil_mode=1 is not supported")


def _fold(r: _Reader, node, at: dict) -> bool:
    """Evaluate ``node`` with numpy if all its inputs are known constants; True when folded."""
    op, ins = node.op_type, [i for i in node.input]
    if op == "Constant":
        from onnx import TensorProto

        if "value" not in at or not isinstance(at["value"], TensorProto):
            raise EngineError(
                f"from_onnx: Constant {node.output[0]!r} uses an attribute other "
                "than 'value', which is not supported"
            )
        what = f"the value of Constant {node.output[0]!r}"
        r.consts[node.output[0]] = _tensor_array(at["value"], what)  # in the file
        return True
    if op == "Shape" and ins[0] not in r.consts:
        r.consts[node.output[0]] = np.array(r.shape(ins[0]), np.int64)
        return True
    if op not in _FOLDABLE or not all(i in r.consts for i in ins if i):
        return False
    v = [r.consts[i] if i else None for i in ins]
    _check_fold_size(op, v, at)
    if op == "Shape":
        out = np.array(v[0].shape, np.int64)
    elif op == "Gather":
        out = np.take(v[0], v[1].astype(np.int64), axis=int(at.get("axis", 0)))
    elif op in ("Unsqueeze", "Squeeze"):
        axes = at.get("axes") if len(v) < 2 else [int(x) for x in v[1]]
        if op == "Squeeze":
            out = np.squeeze(v[0], axis=None if axes is None else tuple(axes))
        else:
            out = v[0]
            for ax in sorted(int(a) % (v[0].ndim + len(axes)) for a in axes):
                out = np.expand_dims(out, ax)
    elif op == "Concat":
        out = np.concatenate([np.atleast_1d(x) for x in v], axis=int(at.get("axis", 0)))
    elif op == "Cast":
        from onnx import helper

        out = v[0].astype(helper.tensor_dtype_to_np_dtype(int(at["to"])))
    elif op == "Identity":
        out = v[0]
    elif op in ("Add", "Sub", "Mul", "Div"):
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
        out = fn(v[0], v[1])
        if np.issubdtype(v[0].dtype, np.integer) and op == "Div":
            out = v[0] // v[1]
        out = out.astype(v[0].dtype)
    elif op == "Reshape":
        out = v[0].reshape([d if d != 0 else v[0].shape[k] for k, d in enumerate(v[1].tolist())])
    elif op == "Range":
        start, limit, delta = (float(x) for x in (v[0], v[1], v[2]))
        if delta == 0 or not all(map(math.isfinite, (start, limit, delta))):
            raise EngineError(f"from_onnx: Range({start}, {limit}, {delta}) is not a finite range")
        budget.check_tensor([max(0, math.ceil((limit - start) / delta))], "Range")
        out = np.arange(v[0], v[1], v[2]).astype(v[0].dtype)
    elif op == "ConstantOfShape":
        dims = [int(d) for d in np.asarray(v[0]).reshape(-1)]
        budget.check_tensor(dims, "ConstantOfShape")
        fill = at.get("value")
        fill = (
            _tensor_array(fill, "the ConstantOfShape value").reshape(-1)[0]
            if fill is not None
            else np.float32(0)
        )
        nbytes = budget.numel(dims) * np.asarray(fill).itemsize
        if nbytes > _FOLDED_BYTES:  # a wide fill type (complex128) would pass the element check
            raise budget.BudgetError(
                f"from_onnx: ConstantOfShape {dims} of {np.asarray(fill).dtype}"
                f" takes {nbytes / 2**20:,.0f} MiB; the limit is "
                f"{_FOLDED_BYTES / 2**20:,.0f} MiB"
            )
        out = np.full(dims, fill)
    else:  # Slice
        axes = [int(x) for x in v[3]] if len(v) > 3 and v[3] is not None else range(len(v[1]))
        steps = [int(x) for x in v[4]] if len(v) > 4 and v[4] is not None else [1] * len(v[1])
        sl = [slice(None)] * v[0].ndim
        for s, e, ax, st in zip(v[1], v[2], axes, steps):
            sl[ax] = slice(int(s), int(e), st)
        out = v[0][tuple(sl)]
    if np.asarray(out).size > budget.MAX_TENSOR_ELEMENTS:
        raise EngineError(f"from_onnx: folding {op} makes a constant over the size limit")
    r.keep_folded(node.output[0], out, f"the folded {op} {node.output[0]!r}", v)
    return True


def _check_fold_size(op: str, v: list, at: dict) -> None:
    """Refuse a fold whose result would pass the tensor budget before numpy allocates it: tiny
    constants can broadcast ([N, 1] + [1, N]), gather or concatenate into giants."""
    if op in ("Add", "Sub", "Mul", "Div"):
        shape = np.broadcast_shapes(np.shape(v[0]), np.shape(v[1]))
    elif op == "Gather":
        src = np.shape(v[0])
        ax = int(at.get("axis", 0)) % max(len(src), 1)
        shape = (*src[:ax], *np.shape(v[1]), *src[ax + 1 :])
    elif op == "Concat":
        shape = (sum(np.size(x) for x in v),)
    else:
        return
    budget.check_tensor(shape, f"folding {op}")


def _convert(r: _Reader, node, at: dict) -> None:
    op, ins, out = node.op_type, list(node.input), node.output[0]
    b, T = r.b, r.tensor
    if op in _UNARY:
        r.put(out, b.op(_UNARY[op], T(ins[0])))
    elif op in _BINARY:
        r.put(out, b.op(_BINARY[op], T(ins[0]), T(ins[1])))
    elif op == "Conv":
        _check_plain(op, at)
        if len(r.shape(ins[1])) != 4:
            raise EngineError(f"from_onnx: Conv {out!r} is not 2-D (weight {list(r.shape(ins[1]))})")
        r.put(
            out,
            b.op(
                "conv2d",
                *[T(i) for i in ins if i],
                stride=_hw(at.get("strides", [1, 1])),
                pad=_sym_pads(op, at.get("pads")),
                dilation=_hw(at.get("dilations", [1, 1])),
                groups=int(at.get("group", 1)),
            ),
        )
    elif op == "Gemm":
        r.put(
            out,
            b.op(
                "gemm",
                *[T(i) for i in ins if i],
                alpha=float(at.get("alpha", 1.0)),
                beta=float(at.get("beta", 1.0)),
                trans_a=int(at.get("transA", 0)),
                trans_b=int(at.get("transB", 0)),
            ),
        )
    elif op == "Clip":
        lo = float(r.consts[ins[1]]) if len(ins) > 1 and ins[1] else at.get("min", -math.inf)
        hi = float(r.consts[ins[2]]) if len(ins) > 2 and ins[2] else at.get("max", math.inf)
        if (lo, hi) == (0.0, 6.0):
            r.put(out, b.op("relu6", T(ins[0])))
        else:
            r.put(out, b.op("clip", T(ins[0]), min=float(lo), max=float(hi)))
    elif op == "Gelu":
        if at.get("approximate", b"none") not in (b"none", "none"):
            raise EngineError("from_onnx: Gelu with approximate='tanh' is not supported")
        r.put(out, b.op("gelu", T(ins[0])))
    elif op == "LeakyRelu":
        r.put(out, b.op("leaky_relu", T(ins[0]), alpha=float(at.get("alpha", 0.01))))
    elif op == "BatchNormalization":
        if at.get("training_mode", 0):
            raise EngineError("from_onnx: training-mode BatchNormalization is not supported")
        r.put(out, b.op("batchnorm", *[T(i) for i in ins[:5]], epsilon=float(at.get("epsilon", 1e-5))))
    elif op in ("MaxPool", "AveragePool"):
        _check_plain(op, at)
        pads = _sym_pads(op, at.get("pads"))
        if op == "AveragePool" and at.get("count_include_pad", 0) and any(pads):
            raise EngineError("from_onnx: AveragePool with count_include_pad=1 is not supported")
        if len(at["kernel_shape"]) != 2:
            raise EngineError(f"from_onnx: {op} {out!r} is not 2-D (kernel {list(at['kernel_shape'])})")
        if any(d != 1 for d in at.get("dilations", [1, 1])):
            raise EngineError(f"from_onnx: {op} with dilations is not supported")
        kernel = _hw(at["kernel_shape"])
        r.put(
            out,
            b.op(
                "maxpool" if op == "MaxPool" else "avgpool",
                T(ins[0]),
                kernel=kernel,
                stride=_hw(at.get("strides", [1, 1])),
                pad=pads,
            ),
        )
    elif op in ("Reshape", "Squeeze", "Unsqueeze"):
        r.put(out, b.op("reshape", T(ins[0]), shape=_target_shape(r, node, at)))
    elif op == "Flatten":
        r.put(out, b.op("flatten", T(ins[0]), axis=int(at.get("axis", 1))))
    elif op == "Transpose":
        perm = at.get("perm")
        r.put(out, b.op("transpose", T(ins[0]), perm=None if perm is None else list(perm)))
    elif op == "Concat":
        r.put(out, b.op("concat", *[T(i) for i in ins], axis=int(at["axis"])))
    elif op == "Split":
        _split(r, node, at)
    elif op == "Slice":
        st = r.ints(ins[1], "starts"), r.ints(ins[2], "ends")
        axes = r.ints(ins[3], "axes") if len(ins) > 3 and ins[3] else None
        steps = r.ints(ins[4], "steps") if len(ins) > 4 and ins[4] else None
        r.put(out, b.op("slice", T(ins[0]), starts=st[0], ends=st[1], axes=axes, steps=steps))
    elif op == "Softmax":
        rank = len(r.shape(ins[0]))
        axis = int(at.get("axis", -1 if r.opset >= 13 else 1))
        if r.opset < 13 and axis % rank != rank - 1:
            raise EngineError("from_onnx: Softmax before opset 13 over a non-last axis is not supported")
        r.put(out, b.op("softmax", T(ins[0]), axis=axis))
    elif op == "LayerNormalization":
        r.put(
            out,
            b.op(
                "layernorm",
                *[T(i) for i in ins if i],
                axis=int(at.get("axis", -1)),
                epsilon=float(at.get("epsilon", 1e-5)),
            ),
        )
    elif op in ("ReduceSum", "ReduceMean", "ReduceMax"):
        axes = at.get("axes")
        if len(ins) > 1 and ins[1]:
            axes = r.ints(ins[1], "axes")
        if not axes and at.get("noop_with_empty_axes", 0):
            r.put(out, b.op("identity", T(ins[0])))
            return
        name = {"ReduceSum": "reduce_sum", "ReduceMean": "reduce_mean", "ReduceMax": "reduce_max"}
        r.put(
            out,
            b.op(name[op], T(ins[0]), axes=list(axes) if axes else None, keepdims=int(at.get("keepdims", 1))),
        )
    elif op == "Cast":
        r.put(out, b.op("identity", T(ins[0])))
    elif op in onnx_qdq.ONNX_OPS:
        onnx_qdq.convert(r, node, at)
    else:
        raise EngineError(f"from_onnx: {op} with inputs computed at run time is not supported")


def _target_shape(r: _Reader, node, at: dict) -> list[int]:
    op, ins = node.op_type, list(node.input)
    src = list(r.shape(ins[0]))
    if op == "Reshape":
        want = r.ints(ins[1], "shape")
        return [src[k] if d == 0 else d for k, d in enumerate(want)]
    axes = r.ints(ins[1], "axes") if len(ins) > 1 and ins[1] else at.get("axes")
    if op == "Squeeze":
        axes = [a % len(src) for a in axes] if axes else [k for k, d in enumerate(src) if d == 1]
        return [d for k, d in enumerate(src) if k not in axes]
    rank = len(src) + len(axes)
    for ax in sorted(a % rank for a in axes):
        src.insert(ax, 1)
    return src


def _split(r: _Reader, node, at: dict) -> None:
    ins, outs = list(node.input), [o for o in node.output]
    shape = r.shape(ins[0])
    axis = int(at.get("axis", 0)) % len(shape)
    sizes = r.ints(ins[1], "split") if len(ins) > 1 and ins[1] else at.get("split")
    if not sizes:
        k = len(outs)
        sizes = [-(-shape[axis] // k)] * k
        sizes[-1] = shape[axis] - sum(sizes[:-1])
    x = r.tensor(ins[0])
    if len(set(sizes)) == 1:
        for k, o in enumerate(outs):
            r.put(o, r.b.op("split", x, parts=len(outs), axis=axis, index=k))
        return
    start = 0
    for o, size in zip(outs, sizes):
        r.put(o, r.b.op("slice", x, starts=[start], ends=[start + size], axes=[axis]))
        start += size


def from_onnx(model: Any) -> Graph:
    """Read an ONNX model (bytes, a file path or a ModelProto) into a :class:`Graph`."""
    try:
        proto = _load_model(model)
        _check_upload(proto)
        return _read(proto)
    except EngineError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx, protobuf and numpy raise many types on a hostile
        # model (onnx.checker.ValidationError, DecodeError, MemoryError, RecursionError...)
        raise EngineError(
            f"from_onnx: the model is malformed and cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def _read(proto) -> Graph:
    g = proto.graph
    unsupported = sorted(
        {
            str(n.op_type)
            for n in g.node
            if n.domain not in ("", "ai.onnx") or n.op_type not in SUPPORTED_ONNX_OPS
        }
    )
    if unsupported:
        raise EngineError("this model uses ops we don't support yet: " + ", ".join(unsupported))
    consumed = _index_values(g)
    r = _Reader(proto)
    for vi in g.input:
        if vi.name in r.consts:
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
            for d in vi.type.tensor_type.shape.dim
        ]
        budget.check_tensor(dims, f"the model input {vi.name!r}")
        r.put(vi.name, r.b.input(dims))
    for node in g.node:
        at = _attrs(node, r.opset)
        used = [o for o in node.output[1:] if o and o in consumed]
        if used and node.op_type != "Split":
            raise EngineError(
                f"from_onnx: {node.op_type} node {node.name!r} uses its extra output "
                f"{used[0]!r}, which is not supported"
            )
        try:
            if _fold(r, node, at):
                continue
            _convert(r, node, at)
        except EngineError as exc:
            raise type(exc)(f"{exc} (in ONNX node {node.name or node.op_type!r})") from None
        except (KeyError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
            raise EngineError(
                f"from_onnx: cannot read {node.op_type} node {node.name!r}: {str(exc)[:200]}"
            ) from None
    if not g.output:
        raise EngineError("from_onnx: the model declares no outputs")
    outputs = [r.tensor(o.name) for o in g.output]
    return r.b.build(outputs)
