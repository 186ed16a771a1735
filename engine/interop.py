"""ONNX and torch interop: write a Graph as ONNX, read ONNX (or a torch module) into a Graph.

:func:`to_onnx`, in stages:
  1. every ``input`` becomes a graph input; every ``param`` and ``constant`` an initializer holding
     the value the interpreter uses (:func:`engine.interpreter.source_value`, seed 0) unless
     ``values`` overrides it — so onnxruntime and :func:`engine.run` see the same numbers;
  2. each op node becomes one or a few ONNX nodes (opset 17): ``split`` -> ``Slice``, ``gelu`` -> its
     erf form, ``relu6`` -> ``Clip(0, 6)``, ``square`` -> ``Mul(x, x)``;
  3. the model passes ``onnx.checker.check_model(full_check=True)``.

:func:`from_onnx`, in stages:
  1. size check (:data:`engine.budget.MAX_ONNX_BYTES`) and parse; garbage is a clear EngineError;
  2. one pass over the node types: every op we cannot map is listed in ONE error;
  3. constants (initializers, ``Constant`` nodes, and small integer sub-graphs such as
     ``Shape -> Gather -> Unsqueeze -> Concat``) are folded with numpy, so ``Reshape`` targets and
     ``Slice`` bounds become attributes;
  4. every other node is added through :class:`~engine.ir.GraphBuilder` (shape inference checks it);
     float initializers that feed computations become ``param`` nodes *with their values*, so
     running the graph gives the model's real outputs. Names are sanitised and made unique.
Symbolic dimensions (a dynamic batch) are read as 1. :func:`from_torch` exports a module with
``torch.onnx.export(..., dynamo=False)`` into memory and reads it back.
Not handled: control flow (If/Loop), asymmetric pads, ``auto_pad``, ``ceil_mode``, 1-D/3-D
convolutions, training-mode BatchNormalization, integer tensors in the computation.
"""
from __future__ import annotations

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
    try:
        proto = onnx.load_model_from_string(bytes(model))
    except Exception:  # noqa: BLE001 - protobuf raises several types for garbage
        raise EngineError("from_onnx: these bytes are not an ONNX model (the file could not be "
                          "decoded; is it really a .onnx file?)") from None
    if not proto.graph.node and not proto.graph.output:
        raise EngineError("from_onnx: the file decodes to an empty model (no nodes, no outputs); "
                          "it is probably not an ONNX model")
    return proto


def _check_size(size: int) -> None:
    if size > budget.MAX_ONNX_BYTES:
        raise EngineError(f"the ONNX model is {size / 2**20:,.1f} MiB; the limit is "
                          f"{budget.MAX_ONNX_BYTES / 2**20:,.0f} MiB")


def _attrs(node) -> dict[str, Any]:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Reader:
    """Holds the builder, the folded constants and the name map while reading one model."""

    def __init__(self, proto):
        from onnx import numpy_helper
        self.b = GraphBuilder(_safe_title(proto.graph.name))
        self.refs: dict[str, str] = {}           # onnx value name -> builder ref
        self.consts: dict[str, np.ndarray] = {}  # folded constant values
        self.is_init: set[str] = set()
        self.taken: set[str] = set()
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                          OPSET)
        for t in proto.graph.initializer:
            self.consts[t.name] = numpy_helper.to_array(t)
            self.is_init.add(t.name)

    def name(self, onnx_name: str) -> str:
        base = re.sub(r"_output_0$", "", onnx_name.strip("/")).replace("/", ".")
        base = re.sub(r"[^0-9A-Za-z_.]", "_", base).strip("._") or "v"
        base = base.replace("#", "_")
        out, k = base, 1
        while out in self.taken:
            k += 1
            out = f"{base}_{k}"
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
        from onnx import numpy_helper
        if "value" not in at:
            raise EngineError(f"from_onnx: Constant {node.output[0]!r} uses an attribute other "
                              "than 'value', which is not supported")
        r.consts[node.output[0]] = numpy_helper.to_array(at["value"])
        return True
    if op == "Shape" and ins[0] not in r.consts:
        r.consts[node.output[0]] = np.array(r.shape(ins[0]), np.int64)
        return True
    if op not in _FOLDABLE or not all(i in r.consts for i in ins if i):
        return False
    v = [r.consts[i] if i else None for i in ins]
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
        budget.check_tensor(v[0].tolist(), "ConstantOfShape")
        fill = at.get("value")
        from onnx import numpy_helper
        fill = numpy_helper.to_array(fill).reshape(-1)[0] if fill is not None else np.float32(0)
        out = np.full([int(d) for d in v[0]], fill)
    else:  # Slice
        axes = [int(x) for x in v[3]] if len(v) > 3 and v[3] is not None else range(len(v[1]))
        steps = [int(x) for x in v[4]] if len(v) > 4 and v[4] is not None else [1] * len(v[1])
        sl = [slice(None)] * v[0].ndim
        for s, e, ax, st in zip(v[1], v[2], axes, steps):
            sl[ax] = slice(int(s), int(e), st)
        out = v[0][tuple(sl)]
    if np.asarray(out).size > budget.MAX_TENSOR_ELEMENTS:
        raise EngineError(f"from_onnx: folding {op} makes a constant over the size limit")
    r.consts[node.output[0]] = np.asarray(out)
    return True


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
    proto = _load_model(model)
    try:
        return _read(proto)
    except EngineError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise EngineError(f"from_onnx: the model is malformed and cannot be read "
                          f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _read(proto) -> Graph:
    g = proto.graph
    unsupported = sorted({str(n.op_type) for n in g.node if n.domain not in ("", "ai.onnx")
                          or n.op_type not in SUPPORTED_ONNX_OPS})
    if unsupported:
        raise EngineError("this model uses ops we don't support yet: " + ", ".join(unsupported))
    budget.check_nodes(len(g.node), "the ONNX model")
    for t in g.initializer:
        budget.check_tensor(tuple(t.dims), f"the initializer {t.name!r}")
    r = _Reader(proto)
    for vi in g.input:
        if vi.name in r.consts:
            continue
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in vi.type.tensor_type.shape.dim]
        budget.check_tensor(dims, f"the model input {vi.name!r}")
        r.put(vi.name, r.b.input(dims))
    for node in g.node:
        at = _attrs(node)
        used = [o for o in node.output[1:] if o and _is_used(g, o)]
        if used and node.op_type != "Split":
            raise EngineError(f"from_onnx: {node.op_type} node {node.name!r} uses its extra output "
                              f"{used[0]!r}, which is not supported")
        try:
            if _fold(r, node, at):
                continue
            _convert(r, node, at)
        except EngineError as exc:
            raise type(exc)(f"{exc} (in ONNX node {node.name or node.op_type!r})") from None
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EngineError(f"from_onnx: cannot read {node.op_type} node {node.name!r}: "
                              f"{exc}") from None
    if not g.output:
        raise EngineError("from_onnx: the model declares no outputs")
    outputs = [r.tensor(o.name) for o in g.output]
    return r.b.build(outputs)


def _is_used(g, name: str) -> bool:
    return any(name in n.input for n in g.node) or any(o.name == name for o in g.output)


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

