"""The guards an uploaded ONNX model passes before any of it is read (anonymous students upload it).

In stages:
  1. size check (:data:`engine.core.budget.MAX_ONNX_BYTES`); a wire-format scan counts the protobuf
     messages the bytes would decode into and refuses a "decompression bomb" before protobuf
     allocates them; then protobuf alone parses (no onnx loader: nothing reads external data);
  2. on the decoded model: every tensor anywhere (initializers, attributes, subgraphs, functions)
     must hold its data in the file — external data is refused before any file is touched; a
     default-domain opset in 7..newest; no model-local functions.
Every failure is an EngineError naming what is wrong.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from ..core import budget
from ..core.errors import EngineError

_MIN_OPSET = 7  # before opset 7 binary ops broadcast only with broadcast=1: we would misread them
_WIRE_MAX_FIELDS = 800_000  # protobuf fields scanned before decoding (40 a node at MAX_NODES)
_WIRE_MAX_MESSAGES = 200_000  # 10 a node; ~200 bytes each once decoded however small on disk
_WIRE_MAX_PACKED = 8_000_000  # packed varints (a 1-byte varint decodes into 8 bytes): 64 MiB
_WIRE_MAX_DEPTH = 64  # nested messages (protobuf gives up at 100 with a vaguer error)


def _not_onnx() -> EngineError:
    return EngineError(
        "from_onnx: these bytes are not an ONNX model (the file could not be "
        "decoded; is it really a .onnx file?)"
    )


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
        raise EngineError(
            "from_onnx: the file decodes to an empty model (no nodes, no outputs); "
            "it is probably not an ONNX model"
        )
    return proto


def _check_size(size: int) -> None:
    if size > budget.MAX_ONNX_BYTES:
        raise EngineError(
            f"the ONNX model is {size / 2**20:,.1f} MiB; the limit is "
            f"{budget.MAX_ONNX_BYTES / 2**20:,.0f} MiB"
        )


# -- wire-format scan: 20 MiB of empty NodeProtos decode into ~1.5 GiB, so count them first -----
@functools.cache
def _wire_fields(descriptor) -> dict[int, tuple[str, Any]]:
    """field number -> ("message", its descriptor) or ("varints", None) for repeated varints."""
    from google.protobuf.descriptor import FieldDescriptor as F

    varint_types = {
        F.TYPE_INT32,
        F.TYPE_INT64,
        F.TYPE_UINT32,
        F.TYPE_UINT64,
        F.TYPE_SINT32,
        F.TYPE_SINT64,
        F.TYPE_BOOL,
        F.TYPE_ENUM,
    }
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
            raise EngineError(
                f"from_onnx: the model nests messages (sub-graphs, types) over "
                f"{_WIRE_MAX_DEPTH} levels deep; the limit is {_WIRE_MAX_DEPTH}"
            )
        known = _wire_fields(desc)
        while pos < end:
            tag = data[pos]
            pos += 1
            if tag >= 0x80:  # most tags are one byte; the rest take the slow path
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
                raise budget.BudgetError(
                    f"from_onnx: the model has over {budget.MAX_NODES:,} nodes "
                    f"(in all its graphs); the limit is {budget.MAX_NODES:,}"
                )
            if fields > _WIRE_MAX_FIELDS or messages > _WIRE_MAX_MESSAGES or packed > _WIRE_MAX_PACKED:
                raise _wire_bomb(fields, messages)


def _wire_bomb(fields: int, messages: int) -> budget.BudgetError:
    kind, cap = (
        ("fields", _WIRE_MAX_FIELDS)
        if fields > _WIRE_MAX_FIELDS
        else ("sub-messages", _WIRE_MAX_MESSAGES)
        if messages > _WIRE_MAX_MESSAGES
        else ("packed integers", _WIRE_MAX_PACKED)
    )
    return budget.BudgetError(
        f"from_onnx: the model holds over {cap:,} protobuf {kind}, the limit "
        f"(a model of {budget.MAX_NODES:,} nodes needs far fewer); it would "
        "take too much memory to decode"
    )


# -- guards on the decoded model -------------------------------------------------------------------
def _check_upload(proto) -> None:
    """Refuse what the reader must never see: see stage 2 of the module docstring."""
    g = proto.graph
    budget.check_nodes(len(g.node), "the ONNX model")
    _refuse_external_data(proto)
    if g.sparse_initializer:
        raise EngineError(
            f"from_onnx: the sparse initializer {g.sparse_initializer[0].values.name!r}"
            " is not supported; store it as a dense initializer"
        )
    _check_opset(proto)
    local = {(f.domain, f.name) for f in proto.functions}
    calls = sorted({f"{n.domain}::{n.op_type}" for n in g.node if (n.domain, n.op_type) in local})
    if calls:
        raise EngineError(
            "from_onnx: the model calls functions it defines itself ("
            + ", ".join(calls)
            + "), which are not supported; export with functions inlined"
        )


def _tensor_homes(proto):
    """(tensor, where) for every TensorProto of the model: initializers, sparse initializers, and
    the tensor attributes of every node, in every subgraph, training graph and local function."""
    stack = [(proto.graph, "the graph")]
    stack += [(t.initialization, "a training graph") for t in proto.training_info]
    stack += [(t.algorithm, "a training graph") for t in proto.training_info]
    stack += [(f, f"the function {f.name!r}") for f in proto.functions]
    while stack:
        owner, where = stack.pop()
        attrs = [
            (a, f"the default of attribute {a.name!r} in {where}")
            for a in getattr(owner, "attribute_proto", ())
        ]  # a FunctionProto's defaults
        for t in getattr(owner, "initializer", ()):  # a GraphProto's
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
            raise EngineError(
                f"from_onnx: {where} keeps its data in an external file "
                f"({loc[:80]!r}); upload a model that holds every tensor inside the "
                ".onnx file (onnx.save(..., save_as_external_data=False))"
            )


def _check_opset(proto) -> None:
    import onnx

    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise EngineError(
            "from_onnx: the model declares no opset for the standard ONNX operators "
            f"(opset_import is missing); re-export it with an opset {_MIN_OPSET} to "
            f"{newest}"
        )
    if len(versions) > 1 or not _MIN_OPSET <= versions[0] <= newest:
        raise EngineError(
            f"from_onnx: the model declares ONNX opset {', '.join(map(str, versions))}"
            f"; we read one opset from {_MIN_OPSET} to {newest}"
        )
