"""Model conversion, direct (torch.fx / torch.export -> our IR) and canonical (torch -> ONNX -> our IR).

Oracles: torch's own outputs (every converted graph must equal them), the ONNX file itself (node
counts), the torch module's structure (BatchNorm and Linear counts), and from_onnx (the mapping pass
must build exactly its graph)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import engine
from engine.core import budget
from engine.core.errors import BudgetError, EngineError
from engine.interop import conversion as cv
from engine.interop.conversion_models import build, model_names
from engine.interop.opset_conversion import opset_table
from engine.interop.torch_direct import from_torch_direct
from engine.interop.torch_zoo import zoo_onnx

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def _run(graph, x) -> np.ndarray:
    return engine.run(graph, {"x": x.numpy()})[graph.outputs[0]]


def _torch(module, x) -> np.ndarray:
    with torch.no_grad():
        return module(x).numpy()


def _covers(graph, rows) -> None:
    """Every op node of the graph comes from exactly one row, and every row's nodes exist."""
    named = [n for r in rows for n in r.nodes]
    assert sorted(named) == sorted(n.name for n in graph.op_nodes)
    assert all(len(r.ours) == len(r.nodes) for r in rows)


@pytest.mark.parametrize("tracer", ["fx", "export"])
@pytest.mark.parametrize("name", ["tiny_cnn", "mlp", "mobilenetv2_block", "linear_gelu_3d", "view_by_size"])
def test_direct_conversion_equals_torch(name, tracer):
    module, x = build(name)
    graph, rows = from_torch_direct(module, x, tracer)
    assert np.abs(_run(graph, x) - _torch(module, x)).max() < 1e-5
    _covers(graph, rows)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())
    assert sum(r.ours.count("batchnorm") for r in rows) == n_bn  # kept, not folded


@pytest.mark.parametrize("name", ["tiny_cnn", "mlp", "mobilenetv2_block"])
def test_onnx_path_builds_exactly_from_onnx_graph_and_equals_torch(name):
    import onnx

    data = zoo_onnx(name)
    graph, rows = cv.onnx_with_mapping(data)
    assert graph == engine.from_onnx(data)
    proto = onnx.load_from_string(data)
    assert [r.source_op for r in rows] == [n.op_type for n in proto.graph.node]  # one row per ONNX node
    _covers(graph, rows)
    module, x = build(name)
    assert np.abs(_run(graph, x) - _torch(module, x)).max() < 1e-5


def test_resnet18_both_paths_equal_torch():
    module, x = build("resnet18")
    want = _torch(module, x)
    direct, rows = from_torch_direct(module, x, "fx")
    assert np.abs(_run(direct, x) - want).max() < 1e-4
    assert sum(r.ours.count("batchnorm") for r in rows) == 20
    onnx_graph, onnx_rows = cv.onnx_with_mapping(zoo_onnx("resnet18"))
    assert np.abs(_run(onnx_graph, x) - want).max() < 1e-4
    assert not any(n.op == "batchnorm" for n in onnx_graph.nodes)  # folded by the exporter
    _covers(onnx_graph, onnx_rows)


def test_the_comparison_explains_what_each_path_folds_or_adds():
    import onnx

    comp = cv.compare("view_by_size", "fx", dynamic_batch=True)
    module, x = build("view_by_size")
    proto = onnx.load_from_string(cv.export_onnx(module, x, dynamic_batch=True))
    kinds = [n.op_type for n in proto.graph.node]
    assert comp.direct.max_diff < 1e-5 and comp.onnx.max_diff < 1e-5
    assert comp.onnx.count("gemm") == kinds.count("Gemm") == 1
    assert comp.direct.count("matmul") == comp.direct.count("add") == 1  # Linear = matmul + add
    assert comp.direct.count("batchnorm") == 1 and comp.onnx.count("batchnorm") == kinds.count(
        "BatchNormalization"
    )
    shape_nodes = sum(k in cv.SHAPE_OPS for k in kinds)
    assert shape_nodes >= 4 and "Shape" in kinds  # the dynamic batch keeps the shape subgraph
    text = " ".join(comp.notes)
    assert "folded 1 batchnorm" in text and "1 Gemm" in text and f"{shape_nodes} ONNX nodes" in text
    # the parameter counts differ by BatchNorm's γ, β, mean and variance, which the exporter folded
    # into the conv's weight and its bias (this conv has a bias already, so none is added)
    assert module.conv.bias is not None
    assert comp.direct.params - comp.onnx.params == 4 * module.bn.num_features


def test_gelu_is_one_op_directly_and_five_through_onnx():
    comp = cv.compare("linear_gelu_3d", "export")
    assert comp.direct.count("gelu") == 1 and comp.onnx.count("erf") == 1
    assert comp.onnx.count("matmul") == 2 and comp.onnx.count("gemm") == 0  # 3-D input: MatMul + Add
    assert any("GELU" in n for n in comp.notes)


@pytest.mark.parametrize("tracer", ["fx", "export"])
def test_control_flow_is_refused_by_name_and_onnx_freezes_the_branch(tracer):
    comp = cv.compare("gated", tracer)
    assert not comp.direct.ok
    assert "Gated.forward" in comp.direct.error and "control flow" in comp.direct.error
    assert comp.onnx.max_diff < 1e-5  # the branch the example took...
    module, x = build("gated")
    assert _torch(module.fc, x).sum() > 0 > _torch(module.fc, -x).sum()  # -x takes the other branch
    assert comp.onnx.other_diff > 0.1  # ...is the only one the ONNX graph knows


@pytest.mark.parametrize("tracer, named", [("fx", "nn.PixelShuffle"), ("export", "aten.pixel_shuffle")])
def test_an_unsupported_op_is_named_on_both_paths(tracer, named):
    comp = cv.compare("pixel_shuffle", tracer)
    assert (
        named in comp.direct.error
        and "'shuffle'" in comp.direct.error
        or "pixel_shuffle" in comp.direct.error
    )
    assert "DepthToSpace" in comp.onnx.error


class _Mixed(nn.Module):
    """Many mapped spellings at once: functions, methods, shape arithmetic, pools, norms."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same", bias=False)
        self.ln = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y = F.avg_pool2d(F.silu(self.conv(x)), 2, count_include_pad=False)
        y = F.hardswish(torch.cat([y, F.leaky_relu(y, 0.2)], dim=1))  # (1, 16, 4, 4)
        n, c = y.shape[0], y.shape[1]
        z = y.reshape(n, c, -1).permute(0, 2, 1)  # (1, 16, 16)
        z = self.ln(z).transpose(1, 2).mean(dim=2)  # (1, 16)
        return torch.softmax(self.fc(z) * 2.0 - 1.0, dim=-1) + F.adaptive_avg_pool2d(x, 1).flatten(1).sum()


@pytest.mark.parametrize("tracer", ["fx", "export"])
def test_many_spellings_map_and_equal_torch(tracer):
    torch.manual_seed(0)
    module, x = _Mixed().eval(), torch.randn(1, 3, 8, 8)
    graph, rows = from_torch_direct(module, x, tracer)
    assert np.abs(_run(graph, x) - _torch(module, x)).max() < 1e-5
    _covers(graph, rows)


@pytest.mark.parametrize(
    "layer, words",
    [
        (nn.AvgPool2d(3, 1, 1), "count_include_pad"),
        (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
        (nn.AdaptiveAvgPool2d(2), "adaptive average pooling to [2, 2]"),
        (nn.ConvTranspose2d(3, 3, 2), "no mapping for nn.ConvTranspose2d"),
    ],
)
def test_unsupported_settings_are_named(layer, words):
    with pytest.raises(EngineError, match=words.replace("[", r"\[").replace("]", r"\]")):
        from_torch_direct(nn.Sequential(layer), torch.randn(1, 3, 6, 6), "fx")


def test_bad_requests_are_engine_errors(monkeypatch):
    module, x = build("mlp")
    with pytest.raises(EngineError, match="tracer"):
        from_torch_direct(module, x, "jit")
    with pytest.raises(EngineError, match="torch.nn.Module"):
        from_torch_direct("not a module", x)
    with pytest.raises(EngineError, match="floating-point"):
        from_torch_direct(module, torch.ones(1, 64, dtype=torch.int64))
    monkeypatch.setattr(budget, "MAX_GRAPH_ELEMENTS", 1000)
    with pytest.raises(BudgetError, match="weights"):
        from_torch_direct(module, x)  # refused before tracing


def test_convert_api_takes_a_module_or_onnx_bytes():
    module, x = build("tiny_cnn")
    want = _torch(module, x)
    for path in cv.PATHS:
        graph, rows = engine.convert(module, x, path=path)
        assert np.abs(_run(graph, x) - want).max() < 1e-5 and rows
    graph, rows = engine.convert(zoo_onnx("tiny_cnn"), path="onnx")
    assert graph == engine.from_onnx(zoo_onnx("tiny_cnn"))
    with pytest.raises(EngineError, match="path='onnx'"):
        engine.convert(zoo_onnx("tiny_cnn"), path="direct")
    with pytest.raises(EngineError, match="unknown conversion path"):
        engine.convert(module, x, path="tflite")
    with pytest.raises(EngineError, match="example input"):
        engine.convert(module)


def test_opset_conversion_names_the_op_it_stops_at_and_round_trips():
    import onnx
    from onnx import version_converter

    rows = {r.target: r for r in opset_table("tiny_cnn", (11, 13, 14, 18))}
    proto = onnx.load_from_string(cv.export_onnx(*build("tiny_cnn")))
    for target in (11, 13):
        with pytest.raises(Exception) as info:  # noqa: B017 - the converter's own failure is the oracle
            version_converter.convert_version(proto, target)
        assert not rows[target].converted and "Relu" in str(info.value) and "Relu" in rows[target].reason
    for target in (14, 18):
        r = rows[target]
        assert version_converter.convert_version(proto, target).opset_import[0].version == target
        assert r.converted and r.imported and r.max_diff < 1e-5 and r.same_graph and r.round_trip
    with pytest.raises(EngineError, match="target opsets"):
        opset_table("tiny_cnn", (3,))


def test_opset_table_of_a_model_we_cannot_read_still_converts():
    rows = opset_table("pixel_shuffle", (18,))
    assert rows[0].converted and not rows[0].imported and "DepthToSpace" in rows[0].import_error


def test_menu_and_lazy_torch():
    assert model_names()[:4] == ["resnet18", "tiny_cnn", "mlp", "mobilenetv2_block"]
    with pytest.raises(EngineError, match="no model named"):
        build("alexnet")
    code = "import sys, engine.interop.conversion, engine.interop.torch_direct; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(_root()))
    assert out.stdout.strip() == "False", out.stderr


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
