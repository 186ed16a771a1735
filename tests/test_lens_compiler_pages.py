"""Your graph through the compiler and kernels lenses (graph_passes, fusion, memory_planning,
layout_explorer, roofline): each lab opens on the link's ``g``, shows that graph, falls back to the
default with the engine's message when ``g`` cannot be used, says so when the lens cannot apply, and
shows the engine function's own numbers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import engine
from engine.compiler import memory_plan as mp
from engine.compiler.lab import layout_pass, ledger
from engine.compiler.passes.fusion import analyse
from engine.kernels import roofline_model as R

PAGES = ("graph_passes", "fusion", "memory_planning", "layout_explorer", "roofline")
ZEBRA = "x = input([1, 3, 16, 16])\nW = param([8, 3, 3, 3])\nzebra = relu(conv2d(x, W, pad=1))"
BAD = {
    "preset:nope": "unknown preset 'nope'",
    "onnx:" + "0" * 64: "upload the file again",
    "x = input([2, 3])\ny = relu(x, z)": "cannot be used",
}


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def charts(at) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def chip(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Your graph"))


# -- 1. the link's g is the graph the lab shows ------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_your_program_is_the_graph_the_lab_shows(lab, page):
    at = lab(page, g=ZEBRA, strict=True)
    assert "**program** · 4 nodes" in chip(at)
    shown = charts(at) + [df.value.to_csv() for df in at.dataframe]
    if page != "memory_planning":  # the arena figure names no tensor; its numbers are checked below
        assert any("zebra" in s for s in shown), page


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", ["preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_presets_and_zoo_models_open_in_every_lens(lab, page, g):
    at = lab(page, g=g, strict=True)
    assert g.partition(":")[2] in chip(at)


# -- 2. a g that cannot be used: the engine's message, then the default graph ------------------------
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", list(BAD))
def test_an_unusable_g_shows_the_message_and_falls_back(lab, page, g):
    at = lab(page, g=g)
    assert any(BAD[g] in e.value for e in at.error), [e.value for e in at.error]
    assert "**mlp**" in chip(at)  # the default graph
    assert at.get("plotly_chart")


def _reveal(at) -> None:
    """Press the checkpoint's "Reveal the answer" (ui/checkpoint.py)."""
    next(b for b in at.button if b.label == "Reveal the answer").click().run()


def test_the_teaching_examples_become_your_graph(lab):
    at = lab("fusion", g="preset:mlp", fu_model="conv_bn_relu")
    at.button(key="fu_example").click().run()
    assert not at.exception and at.selectbox(key="fu_model").value == "Your graph"
    assert "**program** · 13 nodes" in chip(at)
    _reveal(at)  # the kernel table answers the page's checkpoint: hidden until then
    assert len(at.dataframe[0].value) == 4  # TVM's test_conv2d_fuse: four kernels
    at = lab("graph_passes", g="preset:mlp")
    at.button(key="gp_example").click().run()
    assert not at.exception and "transpose(transpose(" in at.session_state["workspace_g"]
    assert "**program** · 17 nodes" in chip(at)


# -- 3. a graph the lens cannot apply to: one sentence, the lab goes on ------------------------------
def test_layout_lens_on_a_graph_of_vectors_says_why(lab):
    at = lab("layout_explorer", g="x = input([8])\ny = relu(x)")
    assert any("no tensor with two or more dimensions" in e.value for e in at.error)
    assert len(charts(at)) == 2  # the single-tensor walk still draws


def test_layout_pass_on_a_graph_without_conv_says_so(lab):
    at = lab("layout_explorer", g="preset:mlp", strict=True)
    assert "no layout-sensitive op on 4-D data" in at.code[0].value
    assert len(charts(at)) == 3  # padding bars, then the walk; no layout-pass drawing


def test_roofline_of_a_graph_without_flops_says_so(lab):
    at = lab("roofline", g="x = input([2, 3])\ny = transpose(x, perm=[1, 0])", strict=True)
    assert any("none of its layers lands on the roofline" in i.value for i in at.info)
    assert len(at.dataframe[0].value) == 8  # GEMM, 2 attention, 5 elementwise points: nothing else


@pytest.mark.parametrize("page", ["graph_passes", "fusion", "memory_planning"])
def test_a_one_op_graph_goes_through_the_lenses_that_always_apply(lab, page):
    lab(page, g="x = input([4])\ny = relu(x)", strict=True)


# -- 4. the page shows the engine function's numbers -------------------------------------------------
def test_graph_passes_ledger_and_optimised_graph_exports(lab):
    graph = engine.parse_program(ZEBRA)
    at = lab("graph_passes", g=ZEBRA, strict=True)
    row = at.dataframe[0].value.iloc[0]
    want = ledger(graph)
    assert (row["ops"], row["kernels"], row["bytes moved"]) == (want.ops, want.kernels, want.bytes_moved)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"DOT", "Mermaid", "JSON"} <= set(labels) and "graph.onnx" not in labels  # not exported yet
    at.session_state["gp_opt_onnx_pop"] = True  # a click on the ONNX popover exports the optimised graph
    at.run()
    assert "graph.onnx" in [b.proto.label for b in at.get("download_button")]
    assert not any("ONNX export unavailable" in w.value for w in at.warning)
    at.selectbox(key="gp_model").set_value("conv_bn_relu").run()  # the old presets are examples
    assert not at.exception and "conv_bn_relu" in at.selectbox(key="gp_model").value


def test_an_uploaded_model_goes_through_the_pipeline_and_onnxruntime(lab, tmp_path, monkeypatch):
    from ui.uploads import STORE

    monkeypatch.setattr(STORE, "root", tmp_path)
    key = STORE.put(engine.to_onnx(engine.preset("conv_bn_relu")))
    at = lab("graph_passes", g=f"onnx:{key}", strict=True)
    assert f"ONNX {key[:8]}" in chip(at)
    assert not [d for d in at.dataframe if "side" in d.value.columns]  # folded: no session made
    at = lab("graph_passes", g=f"onnx:{key}", gp_ort_box="true", strict=True)  # a link that opens it
    ort = at.dataframe[-1].value  # onnxruntime's own optimisation of the uploaded bytes
    assert list(ort[ort["side"] == "onnxruntime"]["nodes"]) == [3, 2, 1]  # conv, bn, relu -> FusedConv
    assert "FusedConv(Relu)" in list(ort["fused"])


def test_fusion_groups_are_the_engines(lab):
    graph = engine.preset("resnet_basic_block")
    at = lab("fusion", g="preset:resnet_basic_block", strict=True)
    result = analyse(graph)
    assert metrics(at)["ops"] == str(len(result.kinds))
    _reveal(at)
    assert list(at.dataframe[0].value["ops"]) == [" + ".join(g) for g in result.groups]


def test_memory_plan_is_the_engines(lab):
    at = lab("memory_planning", g=ZEBRA, strict=True)
    plan = mp.plan_graph(engine.parse_program(ZEBRA), "greedy_by_size")
    assert metrics(at)["arena (bytes)"] == f"{plan.arena:,}"
    assert metrics(at)["naive: no reuse (bytes)"] == f"{plan.naive:,}"


def test_layout_table_bars_and_pass_are_the_engines(lab):
    graph = engine.preset("conv_bn_relu")
    at = lab("layout_explorer", g="preset:conv_bn_relu", strict=True)
    want = engine.graph_layouts(graph)
    shown = at.dataframe[0].value
    assert list(shown["tensor"]) == [t.name for t in want.tensors]
    assert list(shown["NC1HWC0 slots"]) == [t.slots[2] for t in want.tensors]
    bars = json.loads(charts(at)[0])["data"][0]
    assert tuple(bars["y"]) == want.overhead_bytes
    passed = layout_pass(graph, "NHWC")
    assert passed.inserted and "layout NHWC" in at.code[0].value
    rings = {tr.get("name"): len(tr["x"]) for tr in json.loads(charts(at)[1])["data"]}
    assert rings["highlighted"] == len(passed.between) and rings["changed"] == len(passed.views)
    at.selectbox(key="le_pass").set_value("NC1HWC0").run()
    assert not at.exception and "layout NC1HWC0" in at.code[0].value


@pytest.mark.parametrize("name", ["conv_bn_relu", "resnet_basic_block", "mobilenetv2_inverted_residual"])
@pytest.mark.parametrize("target", ["NHWC", "NC1HWC0"])
def test_layout_pass_glue_counts_what_the_pass_reports(name, target):
    graph = engine.preset(name)
    lp = layout_pass(graph, target)
    ops, conversions = (
        int(v) for v in re.findall(r"(\d+) (?:layout-sensitive op|conversion)", " ".join(lp.log))
    )
    assert (lp.sensitive, lp.conversions) == (ops, conversions)  # the pass's own log
    assert set(lp.views) <= set(lp.inserted) and set(lp.between) == set(lp.inserted) - set(lp.views)
    new = {n.name for n in lp.graph.nodes} - {n.name for n in graph.nodes}
    assert new <= set(lp.inserted) | {n.name for n in lp.graph.nodes if n.op not in ("transpose", "reshape")}
    before, after = engine.run(graph), engine.run(lp.graph)  # conversions keep every output's values
    for out in graph.outputs:
        np.testing.assert_allclose(after[out], before[out], rtol=1e-5, atol=1e-6)


def test_roofline_points_are_the_graphs_layers(lab):
    graph = engine.preset("resnet_basic_block")
    at = lab("roofline", g="preset:resnet_basic_block", strict=True)
    points = R.graph_points(graph)
    table = at.dataframe[0].value
    mine = table[table["kernel"].isin([p.name for p in points])]
    assert list(mine["kernel"]) == [p.name for p in points]
    assert list(mine["GFLOP"]) == pytest.approx([p.flops / 1e9 for p in points])
    assert metrics(at)["Layers of resnet_basic_block"] == str(len(points))


# -- 5. Chinese -------------------------------------------------------------------------------------
def test_the_lenses_speak_chinese(lab):
    at = lab("layout_explorer", g="preset:conv_bn_relu", lang="zh", strict=True)
    assert any(h.value == "你的计算图在各种布局下" for h in at.subheader)
    assert "张量" in at.dataframe[0].value.columns and "NC1HWC0 存储位置" in at.dataframe[0].value.columns
    assert any("FRACTAL_Z" in c.value and "卷积权重" in c.value for c in at.caption)
    assert json.loads(charts(at)[0])["layout"]["yaxis"]["title"]["text"] == "全图填充（字节）"
    at = lab("roofline", g=ZEBRA, lang="zh", strict=True)
    assert "访存受限的层" in metrics(at)
    at = lab("graph_passes", g=ZEBRA, lang="zh", strict=True)
    assert any("优化后的计算图" in m.value for m in at.markdown)
    at = lab("fusion", lang="zh", strict=True)
    assert any("你的计算图" in c.value for c in at.caption)
