""" "Your graph" in the compression labs: the quantisation lens (engine.quantize + quant_report, an
onnxruntime check on demand) and the pruning lens (engine.prune + prune_report) on the workspace graph.

The engine's numbers are checked against torch and onnxruntime in tests/test_graph_quant.py and
tests/test_graph_prune.py; here each page must show exactly the engine's result for the graph the URL
names (``g``) with the lab's settings, fall back to the default graph on a bad ``g``, show the engine's
one-sentence message where the lens does not apply, and keep its own sections (models trained here)
working below it.
"""

from __future__ import annotations

import json

import pytest
from apptables import tables

import engine
from engine.compression.lab import prune_rows, size_text
from ui import workspace as ws
from ui.i18n import Translator, load_catalog

ZEBRA = "x = input([1, 3, 16, 16])\nW = param([8, 3, 3, 3])\nzebra = conv2d(x, W, pad=1)\ny = relu(zebra)"
PAGES = ["quantization", "pruning"]
NO_LAYER = "preset:autodiff_example"  # no conv2d / matmul / gemm: neither lens applies
BAD = {
    "preset:nope": "unknown preset 'nope'",
    "onnx:" + "0" * 64: "",
    "x = input([2, 3])\ny = relu(x": "line",
}


def graph(g: str):
    return ws.graph_of(ws.parse_g(g))[0]


def quant_oracle(g: str, bits=8, scheme="symmetric", gran="per_tensor"):
    graph_ = graph(g)
    return engine.quant_report(graph_, engine.quantize(graph_, bits, scheme, gran))


def prune_oracle(g: str, sparsity=0.5, method="magnitude"):
    graph_ = graph(g)
    return engine.prune_report(graph_, engine.prune(graph_, sparsity, method))


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def sensitivity(at) -> dict:
    """The quantisation lens's bar chart (the page's first figure) as plotly JSON."""
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def assert_quant_shows(at, report, bits: int = 8) -> None:
    fig = sensitivity(at)
    assert fig["data"][0]["x"] == [ly.layer for ly in report.layers]
    assert fig["data"][0]["y"] == pytest.approx([100 * ly.alone for ly in report.layers], rel=1e-12)
    assert fig["data"][1]["y"] == pytest.approx([100 * ly.with_all for ly in report.layers], rel=1e-12)
    assert metric(at, "model size, float") == size_text(report.bytes_before)
    assert metric(at, f"model size, int{bits}") == size_text(report.bytes_after)
    assert metric(at, "Q / DQ nodes") == f"{report.quantize_nodes} / {report.dequantize_nodes}"
    assert metric(at, "output error, all quantised") == f"{max(e for _, e in report.outputs):.2%}"


def prune_table(at):
    return next(d for d in tables(at) if "skippable_flops" in d.columns)


def assert_prune_shows(at, report) -> None:
    table = prune_table(at)
    rows = prune_rows(report)
    assert table["layer"].tolist() == [r["layer"] for r in rows]
    assert table["nonzero"].tolist() == [r["nonzero"] for r in rows]
    assert table["skippable_flops"].tolist() == [r["skippable_flops"] for r in rows]
    assert metric(at, "nonzero weights") == f"{report.nonzero:,} / {report.total:,}"
    assert metric(at, "weights zeroed") == f"{report.sparsity:.1%}"
    assert metric(at, "skippable FLOPs") == f"{report.skippable_fraction:.1%}"
    assert metric(at, "output drift ‖ŷ − y‖/‖y‖") == f"{report.drift:.1%}"


def assert_shows(at, page: str, g: str) -> None:
    if page == "quantization":
        assert_quant_shows(at, quant_oracle(g))
    else:
        assert_prune_shows(at, prune_oracle(g))


# -- 1. a program link ------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_a_program_link_shows_that_graph(lab, page):
    at = lab(page, strict=True, g=ZEBRA)
    assert any("Your graph: **program**" in c.value for c in at.caption)
    if page == "quantization":
        assert sensitivity(at)["data"][0]["x"] == ["zebra"]
    else:
        assert prune_table(at)["layer"].tolist() == ["zebra"]
    assert_shows(at, page, ZEBRA)


# -- 2. presets and the zoo -------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", ["preset:conv_bn_relu", "preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_preset_and_zoo_links(lab, page, g):
    at = lab(page, strict=True, g=g)
    assert_shows(at, page, g)


@pytest.mark.parametrize("page", PAGES)
def test_the_lab_examples_include_resnet18(lab, page):
    at = lab(page, g=ZEBRA)
    key = "qz_graph" if page == "quantization" else "pr_graph"
    at.selectbox(key=key).set_value("resnet18").run()
    assert not at.exception and not at.error
    assert_shows(at, page, "zoo:resnet18")
    assert not any("Your graph: **" in c.value for c in at.caption)  # the chip is for your graph only


# -- 3. a link whose g cannot be read ---------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", list(BAD))
def test_an_unusable_link_falls_back_to_the_default_graph(lab, page, g):
    at = lab(page, g=g)
    assert at.error and "cannot be used" in at.error[0].value
    assert BAD[g] in at.error[0].value
    assert len(at.error) == 1  # the lens and the rest of the page work on the default graph
    assert_shows(at, page, ws.DEFAULT)


# -- 4. a graph the lens cannot apply to ------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_a_graph_without_layers_shows_one_sentence(lab, page):
    at = lab(page, g=NO_LAYER)
    assert len(at.error) == 1 and "no conv2d, matmul or gemm layer" in at.error[0].value
    # the lab's own sections still draw
    assert metric(at, "grid" if page == "quantization" else "dense fp32")


def test_two_four_pruning_on_a_graph_without_groups_of_four(lab):
    at = lab("pruning", g="preset:conv_bn_relu", pr_gmethod="2:4")
    assert len(at.error) == 1 and "multiple of 4" in at.error[0].value
    at.selectbox(key="pr_gmethod").set_value("structured").run()
    assert not at.error
    assert_prune_shows(at, prune_oracle("preset:conv_bn_relu", 0.5, "structured"))


# -- 5. the lab's controls reach the engine ---------------------------------------------------------
def test_quantization_controls(lab):
    g = "preset:conv_bn_relu"
    at = lab("quantization", g=g)
    at.slider(key="qz_gbits").set_value(4).run()
    at.selectbox(key="qz_gscheme").set_value("affine").run()
    at.selectbox(key="qz_ggran").set_value("per_channel").run()
    assert not at.exception and not at.error
    assert_quant_shows(at, quant_oracle(g, 4, "affine", "per_channel"), bits=4)


def test_quantization_onnxruntime_check_on_demand(lab):
    pytest.importorskip("onnxruntime")
    at = lab("quantization", g="preset:conv_bn_relu", qz_gbits="4")
    assert not any("onnxruntime vs our interpreter" in c.value for c in at.caption)
    at.button(key="qz_gort").click().run()
    assert not at.exception and not at.error
    said = next(c.value for c in at.caption if "onnxruntime vs our interpreter" in c.value)
    assert "they agree within one step" in said


def test_pruning_controls(lab):
    g = "zoo:tiny_cnn"
    at = lab("pruning", g=g)
    at.slider(key="pr_gsparsity").set_value(0.8).run()
    assert_prune_shows(at, prune_oracle(g, 0.8, "magnitude"))
    at.selectbox(key="pr_gmethod").set_value("2:4").run()  # 2:4 ignores the slider: always half
    assert not at.exception and not at.error
    assert_prune_shows(at, prune_oracle(g, 0.5, "2:4"))


# -- 6. Chinese -------------------------------------------------------------------------------------
ZH = load_catalog("zh")


@pytest.mark.parametrize("page", PAGES)
def test_chinese(lab, page):
    at = lab(page, strict=True, g="preset:conv_bn_relu", lang="zh")
    title = "Quantize your graph" if page == "quantization" else "Prune your graph"
    assert ZH.strings[title] in [s.value for s in at.subheader]
    labels = {m.label for m in at.metric}
    words = ["Q / DQ nodes", "output error, all quantised"] if page == "quantization" else ["skippable FLOPs"]
    assert all(ZH.strings[w] in labels for w in words)
    fig = json.dumps(json.loads(at.get("plotly_chart")[0].proto.spec), ensure_ascii=False)
    tr = Translator("zh")
    assert tr("layer (graph order)") in fig and tr("layer (graph order)") != "layer (graph order)"


def test_chinese_onnxruntime_sentence(lab):
    pytest.importorskip("onnxruntime")
    at = lab("quantization", g="preset:conv_bn_relu", lang="zh")
    at.button(key="qz_gort").click().run()
    said = [c.value for c in at.caption if "onnxruntime 与我们的解释器" in c.value]
    assert said and "两者相差不超过一个步长" in said[0]
