"""ONNX export: write a Graph as an ONNX model that onnxruntime runs to the same numbers.

:func:`to_onnx`, in stages:
  1. every ``input`` becomes a graph input; every ``param`` and ``constant`` an initializer holding
     the value the interpreter uses (:func:`engine.core.interpreter.source_value`, seed 0) unless
     ``values`` overrides it — so onnxruntime and :func:`engine.run` see the same numbers;
  2. each op node becomes one or a few ONNX nodes (opset 17): ``split`` -> ``Slice``, ``gelu`` -> its
     erf form, ``relu6`` -> ``Clip(0, 6)``, ``square`` -> ``Mul(x, x)``; ``quantize_linear`` /
     ``dequantize_linear`` -> ``QuantizeLinear`` / ``DequantizeLinear`` with integer initializers
     (:mod:`engine.interop.onnx_qdq`);
  3. the model passes ``onnx.checker.check_model(full_check=True)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph, Node

OPSET = 17
_SIMPLE = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "max": "Max",
    "min": "Min",
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "sin": "Sin",
    "cos": "Cos",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "Relu",
    "sqrt": "Sqrt",
    "abs": "Abs",
    "erf": "Erf",
    "identity": "Identity",
    "hswish": "HardSwish",
    "global_avgpool": "GlobalAveragePool",
    "matmul": "MatMul",
}


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
        self.nodes.append(
            self.h.make_node(op_type, list(inputs), [output], name=f"{output}__n{self.count}", **attrs)
        )
        return output


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, (int, np.integer)) else [int(x) for x in v]


def _emit(w: _OnnxWriter, n: Node, shapes: Mapping[str, tuple]) -> None:
    a, ins, out = n.attr_dict, list(n.inputs), n.name
    from ..core.registry import get_op

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
    elif n.op == "gelu":  # x * 0.5 * (1 + erf(x / sqrt 2)), the exact form
        t = w.add("Div", [ins[0], w.const(out, math.sqrt(2.0))], out + "__div")
        t = w.add("Erf", [t], out + "__erf")
        t = w.add("Add", [t, w.const(out, 1.0)], out + "__add")
        t = w.add("Mul", [ins[0], t], out + "__mul")
        w.add("Mul", [t, w.const(out, 0.5)], out)
    elif n.op == "gemm":
        w.add(
            "Gemm",
            ins,
            out,
            alpha=float(a["alpha"]),
            beta=float(a["beta"]),
            transA=int(a["trans_a"]),
            transB=int(a["trans_b"]),
        )
    elif n.op == "conv2d":
        ph, pw = _pair(a["pad"])
        k = list(shapes[ins[1]][2:])
        w.add(
            "Conv",
            ins,
            out,
            kernel_shape=k,
            strides=_pair(a["stride"]),
            pads=[ph, pw, ph, pw],
            dilations=_pair(a["dilation"]),
            group=int(a["groups"]),
        )
    elif n.op == "batchnorm":
        w.add("BatchNormalization", ins, out, epsilon=float(a["epsilon"]))
    elif n.op in ("maxpool", "avgpool"):
        k = _pair(a["kernel"])
        s = k if a["stride"] in (0, None) else _pair(a["stride"])
        ph, pw = _pair(a["pad"])
        extra = {"count_include_pad": 0} if n.op == "avgpool" else {}
        w.add(
            "MaxPool" if n.op == "maxpool" else "AveragePool",
            ins,
            out,
            kernel_shape=k,
            strides=s,
            pads=[ph, pw, ph, pw],
            **extra,
        )
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
        w.add(
            "Slice",
            [
                ins[0],
                w.const(out, [lo], np.int64),
                w.const(out, [lo + size], np.int64),
                w.const(out, [axis], np.int64),
            ],
            out,
        )
    elif n.op == "slice":
        extra = [w.const(out, list(a[k]), np.int64) for k in ("axes", "steps") if a[k] is not None]
        if a["axes"] is None and a["steps"] is not None:
            extra.insert(0, w.const(out, list(range(len(a["starts"]))), np.int64))
        w.add(
            "Slice",
            [
                ins[0],
                w.const(out, list(a["starts"]), np.int64),
                w.const(out, list(a["ends"]), np.int64),
                *extra,
            ],
            out,
        )
    elif n.op == "softmax":
        w.add("Softmax", ins, out, axis=int(a["axis"]))
    elif n.op == "layernorm":
        axis = int(a["axis"]) % len(shapes[ins[0]])
        if len(ins) == 1:
            ins.append(w.const(out, np.ones(shapes[ins[0]][axis:])))
        w.add("LayerNormalization", ins, out, axis=axis, epsilon=float(a["epsilon"]))
    elif n.op == "attention":  # decomposed: softmax(scale * q @ k^T) @ v (ONNX's Attention is opset 23)
        from ..core.ops.nn import attention_scale

        q, k, v = ins
        rank = len(shapes[k])
        kt = w.add("Transpose", [k], out + "__kT", perm=[*range(rank - 2), rank - 1, rank - 2])
        s = w.add("MatMul", [q, kt], out + "__scores")
        s = w.add("Mul", [s, w.const(out, attention_scale(a, shapes[q][-1]))], out + "__scaled")
        s = w.add("Softmax", [s], out + "__softmax", axis=-1)
        w.add("MatMul", [s, v], out)
    elif n.op in ("reduce_sum", "reduce_mean", "reduce_max"):
        kind = {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean", "reduce_max": "ReduceMax"}
        axes = None if a["axes"] is None else [int(x) for x in a["axes"]]
        keep = int(bool(a["keepdims"]))
        if n.op == "reduce_sum":  # opset 13+: axes is an input
            w.add("ReduceSum", ins + ([w.const(out, axes, np.int64)] if axes else []), out, keepdims=keep)
        else:  # opset 17: axes is still an attribute
            w.add(kind[n.op], ins, out, keepdims=keep, **({"axes": axes} if axes else {}))
    else:
        raise EngineError(f"to_onnx: the op {n.op!r} (node {n.name!r}) has no ONNX mapping yet")


def to_onnx(graph: Graph, values: Mapping[str, Any] | None = None, seed: int = 0) -> bytes:
    """Serialise ``graph`` as an ONNX model (opset 17); params/constants become initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..core.interpreter import source_value
    from . import onnx_qdq

    if not isinstance(graph, Graph):
        raise EngineError(f"to_onnx() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    values = dict(values or {})
    w = _OnnxWriter(helper, numpy_helper)
    shapes = {n.name: n.shape for n in graph.nodes}
    types = onnx_qdq.value_types(graph)  # int8/uint8 for quantised values and zero points
    inputs = []
    for n in graph.nodes:
        if n.op == "input":
            inputs.append(helper.make_tensor_value_info(n.name, TensorProto.FLOAT, list(n.shape)))
        elif n.is_source:
            arr = np.asarray(values[n.name] if n.name in values else source_value(n, seed))
            w.inits.append(numpy_helper.from_array(onnx_qdq.initializer_array(n, arr, types), n.name))
        elif n.op in onnx_qdq.OPS:
            onnx_qdq.emit(w, n, graph, types)
        else:
            _emit(w, onnx_qdq.float_inputs(w, n, types), shapes)
    outputs = [
        helper.make_tensor_value_info(o, onnx_qdq.tensor_type(types[o]), list(graph.node(o).shape))
        for o in graph.outputs
    ]
    g = helper.make_graph(w.nodes, _safe_title(graph.title), inputs, outputs, w.inits)
    model = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ai-system-lab"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _safe_title(title: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", title or "graph") or "graph"
