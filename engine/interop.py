"""ONNX and torch interop: write a Graph as ONNX, read ONNX (or a torch module) into a Graph.

:func:`to_onnx`, in stages:
  1. every ``input`` becomes a graph input; every ``param`` and ``constant`` an initializer holding
     the value the interpreter uses (:func:`engine.interpreter.source_value`, seed 0) unless
     ``values`` overrides it — so onnxruntime and :func:`engine.run` see the same numbers;
  2. each op node becomes one or a few ONNX nodes (opset 17): ``split`` -> ``Slice``, ``gelu`` -> its
     erf form, ``relu6`` -> ``Clip(0, 6)``, ``square`` -> ``Mul(x, x)``;
  3. the model passes ``onnx.checker.check_model(full_check=True)``.

:func:`from_onnx` treats its input as hostile (anonymous students upload it), in stages:
  1. size check (:data:`engine.budget.MAX_ONNX_BYTES`); a wire-format scan counts the protobuf
     messages the bytes would decode into and refuses a "decompression bomb" before protobuf
     allocates them; then protobuf alone parses (no onnx loader: nothing reads external data);
  2. guards on the decoded model: every tensor anywhere (initializers, attributes, subgraphs,
     functions) must hold its data in the file — external data is refused before any file is
     touched; a default-domain opset in 7..newest; no model-local functions; no value defined twice;
     one pass over the node types: every op we cannot map is listed in ONE error;
  3. constants (initializers, ``Constant`` nodes, and small integer sub-graphs such as
     ``Shape -> Gather -> Unsqueeze -> Concat``) are folded with numpy, so ``Reshape`` targets and
     ``Slice`` bounds become attributes;
  4. every other node is added through :class:`~engine.ir.GraphBuilder` (shape inference checks it);
     float initializers that feed computations become ``param`` nodes *with their values*, so
     running the graph gives the model's real outputs. Names are sanitised and made unique.
Every failure is an EngineError; tensors are size-checked before numpy allocates them, and the
constants folded at import together stay under 64 MiB. Symbolic dimensions (a dynamic batch) are
read as 1. :func:`from_torch` exports a module with ``torch.onnx.export(..., dynamo=False)`` into
memory and reads it back.
Not handled: control flow (If/Loop), asymmetric pads, ``auto_pad``, ``ceil_mode``, 1-D/3-D
convolutions, training-mode BatchNormalization, integer tensors in the computation.
"""
from __future__ import annotations

import functools
import math
import os
import re
from typing import Any, Mapping

import numpy as np

from . import budget
from .errors import EngineError
from .ir import Graph, GraphBuilder, Node

OPSET = 17
_SIMPLE = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "max": "Max",
           "min": "Min", "neg": "Neg", "exp": "Exp", "log": "Log", "sin": "Sin", "cos": "Cos",
           "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "sqrt": "Sqrt", "abs": "Abs",
           "erf": "Erf", "identity": "Identity", "hswish": "HardSwish",
           "global_avgpool": "GlobalAveragePool", "matmul": "MatMul"}


# == to_onnx =======================================================================================
class _OnnxWriter:
    def __init__(self, helper, numpy_helper):
        self.h, self.nh = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def const(self, base: str, value, dtype=np.float32) -> str:
        self.count += 1
        name = f"{base}__c{self.count}"
        self.inits.append(self.nh.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def add(self, op_type: str, inputs, output: str, **attrs) -> str:
        self.count += 1
        self.nodes.append(self.h.make_node(op_type, list(inputs), [output],
                                           name=f"{output}__n{self.count}", **attrs))
        return output


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, (int, np.integer)) else [int(x) for x in v]


def _emit(w: _OnnxWriter, n: Node, shapes: Mapping[str, tuple]) -> None:
    a, ins, out = n.attr_dict, list(n.inputs), n.name
    from .registry import get_op
    a = {**get_op(n.op).attrs, **a}
    if n.op in _SIMPLE:
        w.add(_SIMPLE[n.op], ins, out)
    elif n.op == "square":
        w.add("Mul", [ins[0], ins[0]], out)
    elif n.op == "relu6":
        w.add("Clip", [ins[0], w.const(out, 0.0), w.const(out, 6.0)], out)
    elif n.op == "clip":
        lo, hi = (np.clip(float(a[k]), -3.4e38, 3.4e38) for k in ("min", "max"))
        w.add("Clip", [ins[0], w.const(out, lo), w.const(out, hi)], out)
    elif n.op == "leaky_relu":
        w.add("LeakyRelu", ins, out, alpha=float(a["alpha"]))
    elif n.op == "gelu":        # x * 0.5 * (1 + erf(x / sqrt 2)), the exact form
        t = w.add("Div", [ins[0], w.const(out, math.sqrt(2.0))], out + "__div")
        t = w.add("Erf", [t], out + "__erf")
        t = w.add("Add", [t, w.const(out, 1.0)], out + "__add")
        t = w.add("Mul", [ins[0], t], out + "__mul")
        w.add("Mul", [t, w.const(out, 0.5)], out)
    elif n.op == "gemm":
        w.add("Gemm", ins, out, alpha=float(a["alpha"]), beta=float(a["beta"]),
              transA=int(a["trans_a"]), transB=int(a["trans_b"]))
    elif n.op == "conv2d":
        ph, pw = _pair(a["pad"])
        k = list(shapes[ins[1]][2:])
        w.add("Conv", ins, out, kernel_shape=k, strides=_pair(a["stride"]), pads=[ph, pw, ph, pw],
              dilations=_pair(a["dilation"]), group=int(a["groups"]))
    elif n.op == "batchnorm":
        w.add("BatchNormalization", ins, out, epsilon=float(a["epsilon"]))
    elif n.op in ("maxpool", "avgpool"):
        k = _pair(a["kernel"])
        s = k if a["stride"] in (0, None) else _pair(a["stride"])
        ph, pw = _pair(a["pad"])
        extra = {"count_include_pad": 0} if n.op == "avgpool" else {}
        w.add("MaxPool" if n.op == "maxpool" else "AveragePool", ins, out, kernel_shape=k,
              strides=s, pads=[ph, pw, ph, pw], **extra)
    elif n.op == "reshape":
        w.add("Reshape", [ins[0], w.const(out, list(n.shape), np.int64)], out)
    elif n.op == "flatten":
        w.add("Flatten", ins, out, axis=int(a["axis"]))
    elif n.op == "transpose":
        perm = a["perm"] if a["perm"] is not None else range(len(shapes[ins[0]]) - 1, -1, -1)
        w.add("Transpose", ins, out, perm=[int(p) for p in perm])
    elif n.op == "concat":
        w.add("Concat", ins, out, axis=int(a["axis"]))
    elif n.op == "split":
        axis = int(a["axis"]) % len(shapes[ins[0]])
        size = shapes[ins[0]][axis] // int(a["parts"])
        lo = int(a["index"]) * size
        w.add("Slice", [ins[0], w.const(out, [lo], np.int64), w.const(out, [lo + size], np.int64),
                        w.const(out, [axis], np.int64)], out)
    elif n.op == "slice":
        extra = [w.const(out, list(a[k]), np.int64) for k in ("axes", "steps") if a[k] is not None]
        if a["axes"] is None and a["steps"] is not None:
            extra.insert(0, w.const(out, list(range(len(a["starts"]))), np.int64))
        w.add("Slice", [ins[0], w.const(out, list(a["starts"]), np.int64),
                        w.const(out, list(a["ends"]), np.int64), *extra], out)
    elif n.op == "softmax":
        w.add("Softmax", ins, out, axis=int(a["axis"]))
    elif n.op == "layernorm":
        axis = int(a["axis"]) % len(shapes[ins[0]])
        if len(ins) == 1:
            ins.append(w.const(out, np.ones(shapes[ins[0]][axis:])))
        w.add("LayerNormalization", ins, out, axis=axis, epsilon=float(a["epsilon"]))
    elif n.op in ("reduce_sum", "reduce_mean", "reduce_max"):
        kind = {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean", "reduce_max": "ReduceMax"}
        axes = None if a["axes"] is None else [int(x) for x in a["axes"]]
        keep = int(bool(a["keepdims"]))
        if n.op == "reduce_sum":       # opset 13+: axes is an input
            w.add("ReduceSum", ins + ([w.const(out, axes, np.int64)] if axes else []), out,
                  keepdims=keep)
        else:                          # opset 17: axes is still an attribute
            w.add(kind[n.op], ins, out, keepdims=keep, **({"axes": axes} if axes else {}))
    else:
        raise EngineError(f"to_onnx: the op {n.op!r} (node {n.name!r}) has no ONNX mapping yet")


def to_onnx(graph: Graph, values: Mapping[str, Any] | None = None, seed: int = 0) -> bytes:
    """Serialise ``graph`` as an ONNX model (opset 17); params/constants become initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .interpreter import source_value
    if not isinstance(graph, Graph):
        raise EngineError(f"to_onnx() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    values = dict(values or {})
    w = _OnnxWriter(helper, numpy_helper)
    shapes = {n.name: n.shape for n in graph.nodes}
    inputs = []
    for n in graph.nodes:
        if n.op == "input":
            inputs.append(helper.make_tensor_value_info(n.name, TensorProto.FLOAT, list(n.shape)))
        elif n.is_source:
            arr = np.asarray(values[n.name] if n.name in values else source_value(n, seed))
            w.inits.append(numpy_helper.from_array(arr.astype(np.float32), n.name))
        else:
            _emit(w, n, shapes)
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(graph.node(o).shape))
               for o in graph.outputs]
    g = helper.make_graph(w.nodes, _safe_title(graph.title), inputs, outputs, w.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ai-system-lab")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _safe_title(title: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", title or "graph") or "graph"


# == from_onnx =====================================================================================
_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log",
          "Sin": "sin", "Cos": "cos", "Neg": "neg", "Sqrt": "sqrt", "Abs": "abs", "Erf": "erf",
          "HardSwish": "hswish", "GlobalAveragePool": "global_avgpool", "Identity": "identity",
          "Dropout": "identity"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "MatMul": "matmul",
           "Max": "max", "Min": "min"}
_FOLDABLE = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Identity", "Add", "Sub",
             "Mul", "Div", "Reshape", "Range", "ConstantOfShape", "Slice"}
_OTHER = {"Conv", "Gemm", "Clip", "Gelu", "LeakyRelu", "BatchNormalization", "MaxPool",
          "AveragePool", "Reshape", "Flatten", "Transpose", "Concat", "Split", "Slice", "Softmax",
          "LayerNormalization", "ReduceSum", "ReduceMean", "ReduceMax", "Constant", "Squeeze",
          "Unsqueeze", "Shape", "Cast", "Gather", "ConstantOfShape", "Range"}
SUPPORTED_ONNX_OPS = sorted({*_UNARY, *_BINARY, *_OTHER})


_MIN_OPSET = 7  # before opset 7 binary ops broadcast only with broadcast=1: we would misread them
_WIRE_MAX_FIELDS = 800_000     # protobuf fields scanned before decoding (40 a node at MAX_NODES)
_WIRE_MAX_MESSAGES = 200_000   # 10 a node; ~200 bytes each once decoded however small on disk
_WIRE_MAX_PACKED = 8_000_000   # packed varints (a 1-byte varint decodes into 8 bytes): 64 MiB
_WIRE_MAX_DEPTH = 64           # nested messages (protobuf gives up at 100 with a vaguer error)
_FOLDED_BYTES = budget.MAX_TENSOR_ELEMENTS * 4  # constants computed at import, all together (64 MiB)


def _not_onnx() -> EngineError:
    return EngineError("from_onnx: these bytes are not an ONNX model (the file could not be "
                       "decoded; is it really a .onnx file?)")


def _load_model(model: Any):
    import onnx
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise EngineError(f"from_onnx: there is no file {path!r}")
        size = os.path.getsize(path)
        _check_size(size)
        with open(path, "rb") as f:
            model = f.read()
    if not isinstance(model, (bytes, bytearray, memoryview)):
        raise EngineError(f"from_onnx() needs ONNX bytes or a file path, got {type(model).__name__}")
    _check_size(len(model))
    data = bytes(model)
    _check_wire(data)
    proto = onnx.ModelProto()
    try:  # protobuf only: onnx.load* would also resolve external data against the server's disk
        proto.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf raises several types for garbage
        raise _not_onnx() from None
    if not proto.graph.node and not proto.graph.output:
        raise EngineError("from_onnx: the file decodes to an empty model (no nodes, no outputs); "
                          "it is probably not an ONNX model")
    return proto


def _check_size(size: int) -> None:
    if size > budget.MAX_ONNX_BYTES:
        raise EngineError(f"the ONNX model is {size / 2**20:,.1f} MiB; the limit is "
                          f"{budget.MAX_ONNX_BYTES / 2**20:,.0f} MiB")


# -- wire-format scan: 20 MiB of empty NodeProtos decode into ~1.5 GiB, so count them first -----
@functools.lru_cache(maxsize=None)
def _wire_fields(descriptor) -> dict[int, tuple[str, Any]]:
    """field number -> ("message", its descriptor) or ("varints", None) for repeated varints."""
    from google.protobuf.descriptor import FieldDescriptor as F
    varint_types = {F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32,
                    F.TYPE_SINT64, F.TYPE_BOOL, F.TYPE_ENUM}
    out: dict[int, tuple[str, Any]] = {}
    for f in descriptor.fields:
        if f.type == F.TYPE_MESSAGE:
            out[f.number] = ("message", f.message_type)
        elif f.type in varint_types:
            out[f.number] = ("varints", None)
    return out


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end and shift < 70:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise _not_onnx()


def _check_wire(data: bytes) -> None:
    """Walk the protobuf wire format of a ModelProto, counting fields, sub-messages, nodes (in all
    graphs and functions) and packed varints; refuse the bytes once a count passes its cap (the
    walk stops there too, so a flood costs at most one cap's worth of work)."""
    import onnx
    fields = messages = packed = nodes = 0
    node_desc = onnx.NodeProto.DESCRIPTOR
    stack = [(0, len(data), onnx.ModelProto.DESCRIPTOR, 1)]
    while stack:
        pos, end, desc, depth = stack.pop()
        if depth > _WIRE_MAX_DEPTH:
            raise EngineError(f"from_onnx: the model nests messages (sub-graphs, types) over "
                              f"{_WIRE_MAX_DEPTH} levels deep; the limit is {_WIRE_MAX_DEPTH}")
        known = _wire_fields(desc)
        while pos < end:
            tag = data[pos]
            pos += 1
            if tag >= 0x80:   # most tags are one byte; the rest take the slow path
                tag, pos = _varint(data, pos - 1, end)
            fields += 1
            wire = tag & 7
            if wire == 2:
                size, pos = _varint(data, pos, end)
                kind, child = known.get(tag >> 3, (None, None))
                if kind == "message" and pos + size <= end:
                    stack.append((pos, pos + size, child, depth + 1))
                    messages += 1
                    nodes += child is node_desc
                elif kind == "varints" and pos + size <= end:  # a packed run: count its last bytes
                    packed += int(np.count_nonzero(np.frombuffer(data, np.uint8, size, pos) < 0x80))
                pos += size
            elif wire == 0:
                pos = _varint(data, pos, end)[1]
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:  # groups (3, 4) and wire types 6, 7 never occur in an ONNX file
                raise _not_onnx()
            if pos > end:
                raise _not_onnx()
            if nodes > budget.MAX_NODES:
                raise budget.BudgetError(f"from_onnx: the model has over {budget.MAX_NODES:,} nodes "
                                         f"(in all its graphs); the limit is {budget.MAX_NODES:,}")
            if fields > _WIRE_MAX_FIELDS or messages > _WIRE_MAX_MESSAGES or packed > _WIRE_MAX_PACKED:
                raise _wire_bomb(fields, messages)


def _wire_bomb(fields: int, messages: int) -> budget.BudgetError:
    kind, cap = (("fields", _WIRE_MAX_FIELDS) if fields > _WIRE_MAX_FIELDS else
                 ("sub-messages", _WIRE_MAX_MESSAGES) if messages > _WIRE_MAX_MESSAGES else
                 ("packed integers", _WIRE_MAX_PACKED))
    return budget.BudgetError(f"from_onnx: the model holds over {cap:,} protobuf {kind}, the limit "
                              f"(a model of {budget.MAX_NODES:,} nodes needs far fewer); it would "
                              "take too much memory to decode")


# -- guards on the decoded model -------------------------------------------------------------------
def _check_upload(proto) -> None:
    """Refuse what the reader must never see: see stage 2 of the module docstring."""
    g = proto.graph
    budget.check_nodes(len(g.node), "the ONNX model")
    _refuse_external_data(proto)
    if g.sparse_initializer:
        raise EngineError(f"from_onnx: the sparse initializer {g.sparse_initializer[0].values.name!r}"
                          " is not supported; store it as a dense initializer")
    _check_opset(proto)
    local = {(f.domain, f.name) for f in proto.functions}
    calls = sorted({f"{n.domain}::{n.op_type}" for n in g.node if (n.domain, n.op_type) in local})
    if calls:
        raise EngineError("from_onnx: the model calls functions it defines itself (" + ", ".join(calls)
                          + "), which are not supported; export with functions inlined")


def _tensor_homes(proto):
    """(tensor, where) for every TensorProto of the model: initializers, sparse initializers, and
    the tensor attributes of every node, in every subgraph, training graph and local function."""
    stack = [(proto.graph, "the graph")]
    stack += [(t.initialization, "a training graph") for t in proto.training_info]
    stack += [(t.algorithm, "a training graph") for t in proto.training_info]
    stack += [(f, f"the function {f.name!r}") for f in proto.functions]
    while stack:
        owner, where = stack.pop()
        attrs = [(a, f"the default of attribute {a.name!r} in {where}")
                 for a in getattr(owner, "attribute_proto", ())]      # a FunctionProto's defaults
        for t in getattr(owner, "initializer", ()):                   # a GraphProto's
            yield t, f"the initializer {t.name!r} in {where}"
        for s in getattr(owner, "sparse_initializer", ()):
            yield s.values, f"the sparse initializer {s.values.name!r} in {where}"
            yield s.indices, f"the indices of sparse initializer {s.values.name!r} in {where}"
        for node in owner.node:
            label = f"node {node.name or node.op_type!r}"
            attrs += [(a, f"the attribute {a.name!r} of {label} in {where}") for a in node.attribute]
        for a, what in attrs:
            sparse = [a.sparse_tensor] if a.HasField("sparse_tensor") else []
            tensors = ([a.t] if a.HasField("t") else []) + list(a.tensors)
            tensors += [x for s in [*sparse, *a.sparse_tensors] for x in (s.values, s.indices)]
            yield from ((t, f"{what} (tensor {t.name!r})") for t in tensors)
            graphs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
            stack += [(sub, f"a subgraph of {what}") for sub in graphs]


def _refuse_external_data(proto) -> None:
    """Refuse any tensor whose bytes live in another file: resolving its ``location`` would read
    files of the server (``.git/config``, ``/etc/passwd``...) and hand them back as tensor values."""
    from onnx import TensorProto
    for t, where in _tensor_homes(proto):
        if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            loc = next((e.value for e in t.external_data if e.key == "location"), "?")
            raise EngineError(f"from_onnx: {where} keeps its data in an external file "
                              f"({loc[:80]!r}); upload a model that holds every tensor inside the "
                              ".onnx file (onnx.save(..., save_as_external_data=False))")


def _check_opset(proto) -> None:
    import onnx
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise EngineError("from_onnx: the model declares no opset for the standard ONNX operators "
                          f"(opset_import is missing); re-export it with an opset {_MIN_OPSET} to "
                          f"{newest}")
    if len(versions) > 1 or not _MIN_OPSET <= versions[0] <= newest:
        raise EngineError(f"from_onnx: the model declares ONNX opset {', '.join(map(str, versions))}"
                          f"; we read one opset from {_MIN_OPSET} to {newest}")


def _index_values(g) -> set[str]:
    """One pass over the graph: refuse a value defined twice (ONNX graphs are single-assignment)
    and return the names something consumes (node inputs and graph outputs)."""
    from .errors import GraphError
    inits = [t.name for t in g.initializer]
    defined = set(inits)
    if len(defined) != len(inits):
        raise GraphError(f"from_onnx: two initializers are named {_first_repeat(inits)!r}")
    inputs = [vi.name for vi in g.input]
    if len(set(inputs)) != len(inputs):
        raise GraphError(f"from_onnx: two graph inputs are named {_first_repeat(inputs)!r}")
    defined.update(inputs)   # an input may repeat an initializer (older exporters list both)
    consumed = {o.name for o in g.output}
    for node in g.node:
        consumed.update(node.input)
        for o in node.output:
            if o in defined:
                raise GraphError(f"from_onnx: the value {o!r} is defined twice (again by node "
                                 f"{node.name or node.op_type!r}); ONNX values have one producer")
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
            raise EngineError(f"from_onnx: {what} declares shape {dims} ({want:,} bytes) but its "
                              f"raw_data holds {len(t.raw_data):,} bytes")
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
            raise EngineError(f"from_onnx: the attribute {a.name!r} of {node.op_type} node "
                              f"{node.name!r} is {got}; ONNX defines it as {names.Name(want)}")
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
        self.refs: dict[str, str] = {}           # onnx value name -> builder ref
        self.consts: dict[str, np.ndarray] = {}  # folded constant values
        self.folded_bytes = 0                    # size of those computed here (not in the file)
        self.is_init: set[str] = set()
        self.taken: set[str] = set()
        self.suffix: dict[str, int] = {}         # base name -> last suffix tried (keeps naming linear)
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                          OPSET)
        for t in proto.graph.initializer:
            what = f"the initializer {t.name!r}"
            self.consts[t.name] = _tensor_array(t, what)   # in the file: bounded by its size
            self.is_init.add(t.name)

    def keep_folded(self, onnx_name: str, value: np.ndarray, what: str, inputs: list) -> None:
        """Record a folded constant; tiny inputs can fold into giants, so the arrays a fold
        allocates share one budget (views and pass-throughs such as Identity allocate nothing)."""
        value = np.asarray(value)
        if value.base is None and not any(value is x for x in inputs):
            self.folded_bytes += value.nbytes
        if self.folded_bytes > _FOLDED_BYTES:
            raise budget.BudgetError(f"from_onnx: with {what} the constants folded at import hold "
                                     f"{self.folded_bytes / 2**20:,.1f} MiB; the limit is "
                                     f"{_FOLDED_BYTES / 2**20:,.0f} MiB")
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
            raise EngineError(f"from_onnx: the {what} input {onnx_name!r} is computed at run time; "
                              "only constant values are supported here")
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
        raise EngineError(f"from_onnx: {op} with pads {pads} is not supported (only 2-D, symmetric "
                          "padding)")
    return _hw(pads[:2])


def _check_plain(op: str, at: dict) -> None:
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise EngineError(f"from_onnx: {op} with auto_pad={at['auto_pad']!r} is not supported; "
                          "export with explicit pads")
    if at.get("ceil_mode", 0):
        raise EngineError(f"from_onnx: {op} with ceil_mode=1 is not supported")


def _fold(r: _Reader, node, at: dict) -> bool:
    """Evaluate ``node`` with numpy if all its inputs are known constants; True when folded."""
    op, ins = node.op_type, [i for i in node.input]
    if op == "Constant":
        from onnx import TensorProto
        if "value" not in at or not isinstance(at["value"], TensorProto):
            raise EngineError(f"from_onnx: Constant {node.output[0]!r} uses an attribute other "
                              "than 'value', which is not supported")
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
        fill = (_tensor_array(fill, "the ConstantOfShape value").reshape(-1)[0] if fill is not None
                else np.float32(0))
        nbytes = budget.numel(dims) * np.asarray(fill).itemsize
        if nbytes > _FOLDED_BYTES:   # a wide fill type (complex128) would pass the element check
            raise budget.BudgetError(f"from_onnx: ConstantOfShape {dims} of {np.asarray(fill).dtype}"
                                     f" takes {nbytes / 2**20:,.0f} MiB; the limit is "
                                     f"{_FOLDED_BYTES / 2**20:,.0f} MiB")
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
        shape = (*src[:ax], *np.shape(v[1]), *src[ax + 1:])
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
        r.put(out, b.op("conv2d", *[T(i) for i in ins if i], stride=_hw(at.get("strides", [1, 1])),
                        pad=_sym_pads(op, at.get("pads")), dilation=_hw(at.get("dilations", [1, 1])),
                        groups=int(at.get("group", 1))))
    elif op == "Gemm":
        r.put(out, b.op("gemm", *[T(i) for i in ins if i], alpha=float(at.get("alpha", 1.0)),
                        beta=float(at.get("beta", 1.0)), trans_a=int(at.get("transA", 0)),
                        trans_b=int(at.get("transB", 0))))
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
        r.put(out, b.op("batchnorm", *[T(i) for i in ins[:5]],
                        epsilon=float(at.get("epsilon", 1e-5))))
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
        r.put(out, b.op("maxpool" if op == "MaxPool" else "avgpool", T(ins[0]), kernel=kernel,
                        stride=_hw(at.get("strides", [1, 1])), pad=pads))
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
            raise EngineError("from_onnx: Softmax before opset 13 over a non-last axis is not "
                              "supported")
        r.put(out, b.op("softmax", T(ins[0]), axis=axis))
    elif op == "LayerNormalization":
        r.put(out, b.op("layernorm", *[T(i) for i in ins if i], axis=int(at.get("axis", -1)),
                        epsilon=float(at.get("epsilon", 1e-5))))
    elif op in ("ReduceSum", "ReduceMean", "ReduceMax"):
        axes = at.get("axes")
        if len(ins) > 1 and ins[1]:
            axes = r.ints(ins[1], "axes")
        if not axes and at.get("noop_with_empty_axes", 0):
            r.put(out, b.op("identity", T(ins[0])))
            return
        name = {"ReduceSum": "reduce_sum", "ReduceMean": "reduce_mean", "ReduceMax": "reduce_max"}
        r.put(out, b.op(name[op], T(ins[0]), axes=list(axes) if axes else None,
                        keepdims=int(at.get("keepdims", 1))))
    elif op == "Cast":
        r.put(out, b.op("identity", T(ins[0])))
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
        raise EngineError(f"from_onnx: the model is malformed and cannot be read "
                          f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _read(proto) -> Graph:
    g = proto.graph
    unsupported = sorted({str(n.op_type) for n in g.node if n.domain not in ("", "ai.onnx")
                          or n.op_type not in SUPPORTED_ONNX_OPS})
    if unsupported:
        raise EngineError("this model uses ops we don't support yet: " + ", ".join(unsupported))
    consumed = _index_values(g)
    r = _Reader(proto)
    for vi in g.input:
        if vi.name in r.consts:
            continue
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in vi.type.tensor_type.shape.dim]
        budget.check_tensor(dims, f"the model input {vi.name!r}")
        r.put(vi.name, r.b.input(dims))
    for node in g.node:
        at = _attrs(node, r.opset)
        used = [o for o in node.output[1:] if o and o in consumed]
        if used and node.op_type != "Split":
            raise EngineError(f"from_onnx: {node.op_type} node {node.name!r} uses its extra output "
                              f"{used[0]!r}, which is not supported")
        try:
            if _fold(r, node, at):
                continue
            _convert(r, node, at)
        except EngineError as exc:
            raise type(exc)(f"{exc} (in ONNX node {node.name or node.op_type!r})") from None
        except (KeyError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
            raise EngineError(f"from_onnx: cannot read {node.op_type} node {node.name!r}: "
                              f"{str(exc)[:200]}") from None
    if not g.output:
        raise EngineError("from_onnx: the model declares no outputs")
    outputs = [r.tensor(o.name) for o in g.output]
    return r.b.build(outputs)


# == from_torch ====================================================================================
def from_torch(module: Any, example_input: Any, opset: int = OPSET) -> Graph:
    """Export a torch ``nn.Module`` to ONNX in memory (``dynamo=False``) and read it back."""
    import torch
    if not isinstance(module, torch.nn.Module):
        raise EngineError(f"from_torch() needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise EngineError("from_torch() needs one example input tensor, got "
                          f"{type(example_input).__name__}")
    budget.check_tensor(tuple(example_input.shape), "the example input")
    return from_onnx(torch_to_onnx_bytes(module, example_input, opset))


def torch_to_onnx_bytes(module: Any, example_input: Any, opset: int = OPSET) -> bytes:
    """The ONNX bytes of ``module`` traced on ``example_input`` (eval mode, constants folded)."""
    import io
    import warnings

    import torch
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example_input,), buf, dynamo=False, opset_version=opset,
                              input_names=["x"], output_names=["y"], do_constant_folding=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types when tracing fails
        raise EngineError(f"from_torch: torch could not export this module to ONNX: "
                          f"{str(exc).splitlines()[0][:300]}") from None
    finally:
        module.train(was_training)
    return buf.getvalue()

