"""Opset conversion through a weight-stripped copy (engine/interop/opset_conversion.py).

The oracle is onnx's own converter run on the whole model: converting the stripped copy and putting
the weights back must give the same nodes, the same initializers (bit for bit) and the same opset.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, numpy_helper, version_converter  # noqa: E402

from engine.core.errors import EngineError  # noqa: E402
from engine.interop import opset_conversion as oc  # noqa: E402
from engine.interop.conversion import export_onnx  # noqa: E402
from engine.interop.conversion_models import build  # noqa: E402


def _proto(name: str):
    return onnx.load_from_string(export_onnx(*build(name)))


def _canon(model):
    nodes = [n.SerializeToString(deterministic=True) for n in model.graph.node]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return nodes, inits, [(o.domain, o.version) for o in model.opset_import]


def _same(a, b) -> bool:
    (na, ia, oa), (nb, ib, ob) = _canon(a), _canon(b)
    return na == nb and oa == ob and ia.keys() == ib.keys() and all(np.array_equal(ia[k], ib[k]) for k in ia)


@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2_block", "linear_gelu_3d"])
@pytest.mark.parametrize("target", [14, 18, 21])
def test_stripped_conversion_matches_the_converter_on_the_whole_model(name, target):
    proto = _proto(name)
    light, kept = oc.strip_weights(proto)
    assert kept, "the model has initializers over the threshold: the test would prove nothing"
    assert light.ByteSize() < proto.ByteSize() - sum(map(len, kept.values())) + 1024 * len(kept)
    ours = oc.restore_weights(version_converter.convert_version(light, target), kept)
    assert _same(ours, version_converter.convert_version(proto, target))


def test_strip_leaves_the_source_alone_and_small_tensors_in_place():
    proto = _proto("tiny_cnn")
    before = _canon(proto)
    light, kept = oc.strip_weights(proto)
    after = _canon(proto)  # the source keeps every byte (the strip works on a copy)
    assert after[0] == before[0] and all(np.array_equal(after[1][k], v) for k, v in before[1].items())
    for t in light.graph.initializer:
        big = t.name in kept
        assert (t.data_location == TensorProto.EXTERNAL) == big
        assert len(kept.get(t.name, b"")) > oc.STRIP_BYTES if big else len(t.raw_data) <= oc.STRIP_BYTES
    assert _same(oc.restore_weights(light, kept), proto)


def test_a_lost_weight_is_an_error_not_a_hole():
    light, kept = oc.strip_weights(_proto("tiny_cnn"))
    lost = next(iter(kept))
    with pytest.raises(EngineError, match=lost):
        oc.restore_weights(light, {k: v for k, v in kept.items() if k != lost})


def test_a_failure_on_the_stripped_copy_falls_back_to_the_whole_model(monkeypatch):
    real = version_converter.convert_version
    seen = []

    def picky(model, target):  # a converter that cannot handle held-aside weights
        stripped = any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
        seen.append(stripped)
        if stripped:
            raise RuntimeError("cannot read external data")
        return real(model, target)

    monkeypatch.setattr(version_converter, "convert_version", picky)
    rows = oc.opset_table("tiny_cnn", (14,))
    assert True in seen and False in seen  # tried light first, then whole
    r = rows[0]
    assert r.converted and r.imported and r.same_graph and r.round_trip and r.max_diff < 1e-5
