"""ONNX opset conversion with ``onnx.version_converter``, checked on our engine against torch.

Stages of :func:`opset_table`:
  1. export the model at opset 17 (the TorchScript exporter) and run torch on its example (the
     oracle); import the opset-17 model once (a model with an op we do not read still converts);
  2. per target opset: list the ops whose definition differs between 17 and the target (their
     ``since_version`` in ``onnx.defs``), then convert; a failure names the op the converter has no
     adapter for (:func:`adapter_reason`). The converter rewrites nodes, never a weight's bytes, so
     it is handed a copy whose large initializers are held aside (:func:`strip_weights`) and they
     are put back by name afterwards (:func:`restore_weights`): copying ResNet-18's 45 MB through
     it twice per target was 60 % of the table's time. Should the stripped copy fail, the full
     model is converted, so a failure's reason is always the converter's own;
  3. import the converted model: a graph identical to the opset-17 import gives identical outputs,
     so only a graph that differs is run again and compared with torch;
  4. convert back to 17 (the round trip) and check the import is the same graph again.
Not handled: targets above the installed onnx's newest opset or below 7; models with several inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError
from ..core.interpreter import run
from .conversion import export_onnx
from .conversion_models import build
from .onnx_export import OPSET

OPSET_TARGETS = (11, 13, 14, 15, 18, 21)


@dataclass(frozen=True)
class OpsetRow:
    """One target opset: did the converter get there (else the op it stopped at), and does it run?"""

    target: int
    converted: bool
    reason: str = ""  # why the conversion failed, naming the op
    changed: tuple[str, ...] = ()  # ops whose definition differs: "Relu 14 -> 6"
    imported: bool = False
    import_error: str = ""
    max_diff: float | None = None  # largest |ours - torch| of the converted model on our engine
    same_graph: bool = False  # imported into exactly the graph of the opset-17 model
    round_trip: bool | None = None  # converted back to the source opset: the same graph again


_NO_ADAPTER = re.compile(r"No Adapter (From|To) Version \$?(\d+) for (\w+)")  # onnx's own wording


def adapter_reason(exc: Exception) -> str:
    """onnx.version_converter's failure in words, naming the op it has no adapter for."""
    text = str(exc)
    m = _NO_ADAPTER.search(text)
    if m:
        return f"no adapter {m.group(1).lower()} version {m.group(2)} for {m.group(3)}"
    return f"{type(exc).__name__}: {text.strip().splitlines()[-1][:200] if text.strip() else ''}"


def _changed(ops: list[str], source: int, target: int) -> tuple[str, ...]:
    import onnx

    out = []
    for op in ops:
        try:
            a = onnx.defs.get_schema(op, source).since_version
            b = onnx.defs.get_schema(op, target).since_version
        except Exception:  # noqa: BLE001 - SchemaError: the op does not exist at that opset
            out.append(f"{op} missing at opset {target}")
            continue
        if a != b:
            out.append(f"{op} {a} -> {b}")
    return tuple(out)


STRIP_BYTES = 1024  # initializers larger than this are held aside while the converter runs


def strip_weights(proto):
    """(a copy of ``proto`` whose initializers over :data:`STRIP_BYTES` hold no bytes, the bytes by
    name). The emptied tensors are marked as external data, which the converter carries through
    untouched and never reads."""
    from onnx import ModelProto, TensorProto

    copy, kept = ModelProto(), {}
    copy.CopyFrom(proto)
    for t in copy.graph.initializer:
        if t.HasField("raw_data") and len(t.raw_data) > STRIP_BYTES and t.name not in kept:
            kept[t.name] = t.raw_data
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", "held-aside"
    return copy, kept


def restore_weights(model, kept: dict[str, bytes]):
    """Put the bytes :func:`strip_weights` held aside back into ``model`` (in place; returned).
    A held-aside initializer the conversion dropped or renamed is an error, never a silent hole."""
    from onnx import TensorProto

    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            name = t.name
            if name not in kept:
                raise EngineError(f"opset conversion lost the bytes of initializer {name!r}")
            t.ClearField("external_data")
            t.data_location = TensorProto.DEFAULT
            t.raw_data = kept[name]
    return model


def opset_table(name: str, targets: tuple[int, ...] = OPSET_TARGETS) -> tuple[OpsetRow, ...]:
    """Model ``name`` exported at opset 17 and converted to each target (see the module docstring)."""
    import onnx
    import torch
    from onnx import version_converter

    from .onnx_import import from_onnx

    if not targets or any(
        not isinstance(t, int) or not 7 <= t <= onnx.defs.onnx_opset_version() for t in targets
    ):
        raise EngineError(f"target opsets must be whole numbers from 7 to {onnx.defs.onnx_opset_version()}")
    module, example = build(name)
    with torch.no_grad():
        want = module(example).numpy()
    proto = onnx.load_from_string(export_onnx(module, example))
    ops = sorted({n.op_type for n in proto.graph.node})
    light, kept = strip_weights(proto)

    def convert(model, light_model, target: int):
        """(``model`` at opset ``target``, its weight-stripped twin for the next conversion), converted
        through ``light_model``; the twin is None when only the whole model converted."""
        try:
            out = version_converter.convert_version(light_model, target)
            twin = onnx.ModelProto()
            twin.CopyFrom(out)  # cheap: no weights in it yet
            return restore_weights(out, kept), twin
        except Exception:  # noqa: BLE001 - retried whole, so the failure reported is the converter's
            return version_converter.convert_version(model, target), None

    try:
        base, base_error = from_onnx(proto), ""
    except EngineError as exc:  # an op we do not read: every conversion is still tried
        base, base_error = None, str(exc)

    def check(model) -> tuple[float, bool]:
        """(largest |ours - torch|, same graph as the opset-17 import): an identical graph gives
        identical outputs, so only a graph that differs is run again."""
        graph = from_onnx(model)
        same = graph == base
        if same and check.base_diff is not None:
            return check.base_diff, True
        out = run(graph, {"x": example.numpy()})[graph.outputs[0]]
        return float(np.abs(out - want).max()), same

    check.base_diff = None
    check.base_diff = check(proto)[0] if base is not None else None
    rows = []
    for target in targets[:8]:
        changed = _changed(ops, OPSET, target)
        try:
            converted, twin = convert(proto, light, target)
        except Exception as exc:  # noqa: BLE001 - the converter raises RuntimeError/ValueError/...
            rows.append(OpsetRow(target, False, adapter_reason(exc), changed))
            continue
        if base_error:
            rows.append(OpsetRow(target, True, "", changed, False, base_error))
            continue
        try:
            error, same = check(converted)
        except EngineError as exc:
            rows.append(OpsetRow(target, True, "", changed, False, str(exc)))
            continue
        try:
            twin = twin if twin is not None else strip_weights(converted)[0]
            back = from_onnx(convert(converted, twin, OPSET)[0]) == base
        except Exception:  # noqa: BLE001 - no adapter back (or it no longer imports): no round trip
            back = False
        rows.append(OpsetRow(target, True, "", changed, True, "", error, same, back))
    return tuple(rows)
