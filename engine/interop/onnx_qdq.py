"""ONNX QuantizeLinear / DequantizeLinear: how ``quantize_linear`` and ``dequantize_linear`` travel.

Export (called by :func:`engine.interop.onnx_export.to_onnx`), in stages:
  1. :func:`value_types`: the ONNX element type of every value. Op nodes keep their own dtype
     (``quantize_linear`` gives int8/uint8); a ``param``/``constant`` that is used only as a quantised
     value or a zero point becomes an int8/uint8/int32 initializer (:func:`initializer_array`
     checks that it holds whole numbers in the type's range); every other source stays float32;
  2. :func:`emit`: one ``QuantizeLinear``/``DequantizeLinear`` (opset 17), with a ``Cast`` where an
     input's type is not the one ONNX wants (a float zero point computed at run time, say) and
     ``axis`` for per-channel parameters;
  3. a grid narrower than the type (``qmin``/``qmax``, e.g. int4 -8..7 held in int8) has no ONNX
     attribute, so x is first clamped to the float interval [(qmin - z) s, (qmax - z) s] with
     ``Min``/``Max``: round(x / s) + z then never leaves [qmin, qmax] and equals our saturated value
     exactly (x / s is monotone, and the interval's ends divide back to within an ulp of
     qmin - z and qmax - z);
  4. :func:`float_inputs`: any other op that reads an integer value gets a ``Cast`` to float first
     (our kernels compute in float32).
Import (:func:`convert`, called by :mod:`engine.interop.onnx_import`): integer initializers feeding
the two ops become ``constant`` nodes of their own type (so a quantised weight stays int8), float
ones become constants; ``axis`` and the zero point's type carry over.
Not handled: block quantisation, ``output_dtype`` other than int8/uint8, int4/int16/float8 types.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import EngineError
from ..core.ir import Graph, Node
from ..core.ops.quant import DEQUANTIZE_TYPES, RANGES, channel_axis, grid, quant_dtype

OPS = ("quantize_linear", "dequantize_linear")
ONNX_OPS = ("QuantizeLinear", "DequantizeLinear")
_ONNX_NAME = dict(zip(OPS, ONNX_OPS))


def _integer_slots(graph: Graph, n: Node) -> dict[int, str]:
    """Input index -> integer type, for the inputs of ``n`` that ONNX wants as integers."""
    if n.op == "quantize_linear":
        return {2: n.dtype} if len(n.inputs) > 2 else {}
    if n.op == "dequantize_linear":
        dtypes = [graph.node(i).dtype for i in n.inputs]
        dtype = quant_dtype(n.op, dtypes[:1] + dtypes[2:], n.attr_dict, DEQUANTIZE_TYPES)
        return {k: dtype for k in (0, 2) if k < len(n.inputs)}
    return {}


def value_types(graph: Graph) -> dict[str, str]:
    """Stage 1: node name -> the numpy dtype name its ONNX value will have."""
    types = {n.name: "float32" if n.is_source else n.dtype for n in graph.nodes}
    wants: dict[str, set[str]] = {}
    for n in graph.op_nodes:
        slots = _integer_slots(graph, n)
        for k, name in enumerate(n.inputs):
            if graph.node(name).op in ("param", "constant"):
                wants.setdefault(name, set()).add(slots.get(k, "float32"))
    for name, want in wants.items():
        if len(want) == 1:
            types[name] = want.pop()
    return types


def initializer_array(node: Node, arr: np.ndarray, types: dict[str, str]) -> np.ndarray:
    """A source's value as the type :func:`value_types` gave it (whole numbers checked)."""
    dtype = types.get(node.name, "float32")
    if dtype not in RANGES:
        return arr.astype(np.float32)
    lo, hi = RANGES[dtype]
    bad = (arr != np.round(arr)) | (arr < lo) | (arr > hi)
    if np.any(bad):
        raise EngineError(
            f"to_onnx: {node.op} {node.name!r} is used as {dtype} data of a "
            f"quantisation node but holds {arr[bad].ravel()[0]!r}, which is not a "
            f"whole number in {dtype}'s range [{lo}, {hi}]"
        )
    return arr.astype(dtype)


def _onnx_type(dtype: str) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def tensor_type(dtype: str) -> int:
    """The TensorProto element type of a graph output of this dtype."""
    return _onnx_type(dtype if dtype in RANGES else "float32")


def _as_type(w, name: str, types: dict[str, str], dtype: str, tag: str) -> str:
    if types.get(name, "float32") == dtype:
        return name
    return w.add("Cast", [name], f"{tag}__cast_{dtype}", to=_onnx_type(dtype))


def float_inputs(w, n: Node, types: dict[str, str]) -> Node:
    """Stage 4: ``n`` reading float copies of its integer inputs."""
    if not any(types.get(i, "float32") in RANGES for i in n.inputs):
        return n
    ins = tuple(_as_type(w, i, types, "float32", f"{n.name}__in{k}") for k, i in enumerate(n.inputs))
    return n.replace(inputs=ins)


def emit(w, n: Node, graph: Graph, types: dict[str, str]) -> None:
    """Stages 2 and 3 for one ``quantize_linear``/``dequantize_linear`` node."""
    ins, out, at = list(n.inputs), n.name, {**n.attr_dict}
    shapes = [graph.node(i).shape for i in ins]
    axis = channel_axis(n.op, shapes[0], shapes[1], {"axis": 1, **at})
    slots = _integer_slots(graph, n)
    if n.op == "dequantize_linear":
        ins[0] = _as_type(w, ins[0], types, slots[0], f"{out}__q")
    else:
        ins[0] = _as_type(w, ins[0], types, "float32", f"{out}__x")
        if len(ins) < 3 and n.dtype != "uint8":  # ONNX reads the output type off the zero point
            ins.append(w.const(out, np.zeros(shapes[1]), np.dtype(n.dtype)))
            slots[2] = n.dtype
            types = {**types, ins[2]: n.dtype}
    if len(ins) > 2:
        ins[2] = _as_type(w, ins[2], types, slots[2], f"{out}__zp")
    if n.op == "quantize_linear" and grid(n.op, n.dtype, at) != RANGES[n.dtype]:
        ins[0] = _clamp_to_grid(w, n, ins, shapes, axis)
    w.add(_ONNX_NAME[n.op], ins, out, **({"axis": axis} if axis is not None else {}))


def _clamp_to_grid(w, n: Node, ins: list[str], shapes: list, axis: int | None) -> str:
    """Stage 3: Max(Min(x, (qmax - z) s), (qmin - z) s), the ends shaped along ``axis``."""
    out = n.name
    qmin, qmax = grid(n.op, n.dtype, n.attr_dict)
    zero = (
        w.add("Cast", [ins[2]], f"{out}__zf", to=_onnx_type("float32"))
        if len(ins) > 2
        else w.const(out, np.zeros(shapes[1]))
    )
    ends = []
    for tag, q in (("hi", qmax), ("lo", qmin)):
        t = w.add("Sub", [w.const(out, float(q)), zero], f"{out}__{tag}_steps")
        t = w.add("Mul", [t, ins[1]], f"{out}__{tag}")
        if axis is not None:
            shape = [1] * len(shapes[0])
            shape[axis] = -1
            t = w.add("Reshape", [t, w.const(out, shape, np.int64)], f"{out}__{tag}_along")
        ends.append(t)
    t = w.add("Min", [ins[0], ends[0]], f"{out}__min")
    return w.add("Max", [t, ends[1]], f"{out}__clamped")


# -- import -------------------------------------------------------------------------------------
def _typed_input(r, onnx_name: str, op: str) -> str:
    """Builder ref for an input of a Q/DQ node: integer initializers keep their type."""
    if onnx_name in r.refs or onnx_name not in r.consts:
        return r.tensor(onnx_name)
    arr = np.asarray(r.consts[onnx_name])
    if np.issubdtype(arr.dtype, np.floating):
        ref = r.b.constant(arr.astype(np.float32), name=r.name(onnx_name))
    elif arr.dtype.name in RANGES:
        ref = r.b.constant(arr, dtype=arr.dtype.name, name=r.name(onnx_name))
    else:
        raise EngineError(
            f"from_onnx: {op} reads {onnx_name!r} of type {arr.dtype.name}; only "
            f"int8, uint8 (and int32 for DequantizeLinear) are supported"
        )
    r.refs[onnx_name] = ref
    return ref


def convert(r, node, at: dict) -> None:
    """Add one ONNX QuantizeLinear/DequantizeLinear node to the reader's builder."""
    op, ins, out = node.op_type, [i for i in node.input], node.output[0]
    if int(at.get("block_size", 0)):
        raise EngineError(f"from_onnx: {op} {out!r} uses block quantisation, which is not supported")
    ours = OPS[ONNX_OPS.index(op)]
    refs = [_typed_input(r, i, op) for i in ins if i]
    attrs = {"axis": int(at.get("axis", 1))}
    want = int(at.get("output_dtype", 0))
    if want:
        from onnx import helper

        attrs["dtype"] = helper.tensor_dtype_to_np_dtype(want).name
    r.put(out, r.b.op(ours, *refs, **attrs))
