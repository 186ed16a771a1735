"""Graph Builder page: default render, preset change, bad program, seed, share link."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import engine
from engine.core.cost_model import cost as graph_cost

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "labs" / "graph_builder.py")


def _metric(at, label: str) -> int:
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def _open_tab(at, label: str):
    """Open one of the page's tabs (only the open one is drawn), as a click on it does."""
    at.session_state["gb_tab"] = label
    return at.run()


def _cost_table(at):
    _open_tab(at, "Cost per node")
    return next(d.value for d in at.dataframe if "flops" in d.value)


def _values_table(at) -> np.ndarray:
    _open_tab(at, "Run: every value")
    return next(d.value for d in at.dataframe if "flops" not in d.value).to_numpy()


@pytest.fixture(scope="module")
def default_app(lab):
    return lab("graph_builder")


def test_default_render_shows_the_mlp_with_engine_costs(default_app):
    at = default_app
    assert not at.exception and not at.error
    cost = graph_cost(engine.preset("mlp"))
    assert _metric(at, "FLOPs") == cost.flops
    assert _metric(at, "MACs") == cost.macs == 4 * 16 * 32 + 4 * 32 * 10
    assert _metric(at, "Parameters") == 16 * 32 + 32 + 32 * 10 + 10
    table = _cost_table(at)
    assert list(table["name"])[:-1] == [n.name for n in cost.nodes]
    assert table["flops"].iloc[-1] == cost.flops  # the totals row
    assert len(at.get("plotly_chart")) >= 1
    assert any("FLOPs" in m.value for m in at.markdown)  # the predict-then-reveal question


def test_changing_the_preset_changes_the_table_and_totals(default_app, lab):
    at = lab("graph_builder")
    before = _cost_table(at)
    at.selectbox(key="gb_preset").set_value("conv_bn_relu").run()
    assert not at.exception
    after = _cost_table(at)
    assert list(after["name"]) != list(before["name"])
    assert "conv2d" in list(after["op"])
    assert _metric(at, "FLOPs") == graph_cost(engine.preset("conv_bn_relu")).flops


def test_a_bad_program_shows_its_line_and_the_page_keeps_working(lab):
    at = lab("graph_builder", gb_source="Program · 程序")
    at.text_area(key="gb_program").input("x = input([2, 3])\ny = relu(x)\nz = y @ y\n").run()
    assert not at.exception
    assert len(at.error) == 1 and "line 3" in at.error[0].value
    assert at.text_area(key="gb_program").value.startswith("x = input")  # controls still there
    assert at.radio(key="gb_source").value == "program"
    assert any(e.label in ("Lesson", "讲解") for e in at.expander)
    # fixing the program brings the graph back
    at.text_area(key="gb_program").input("x = input([2, 3])\ny = relu(x)\n").run()
    assert not at.error and _metric(at, "FLOPs") == 6


def test_changing_the_seed_changes_the_values_not_the_cost(lab):
    at = lab("graph_builder")
    values0 = _values_table(at)
    flops0 = _metric(at, "FLOPs")
    at.number_input(key="gb_seed").set_value(7).run()
    values7 = _values_table(at)
    assert values0.shape == values7.shape == (4, 10)
    assert not np.allclose(values0, values7)
    expected = engine.run(engine.preset("mlp"), seed=7)["probs"]
    np.testing.assert_allclose(values7, expected, rtol=1e-6)
    assert _metric(at, "FLOPs") == flops0


def test_a_share_link_carries_the_program(lab):
    program = "a = input([3, 5])\nW = param([5, 2])\nb = a @ W\n"
    at = lab("graph_builder", g=program)
    assert not at.exception and not at.error
    assert _metric(at, "MACs") == 3 * 5 * 2
    assert at.radio(key="gb_source").value == "program"
    assert at.text_area(key="gb_program").value == program
    assert at.query_params["g"] == program  # the link keeps carrying it


def test_an_old_link_still_opens_its_program(lab):
    """Links written before g existed (gb_source + gb_program) open the same graph."""
    program = "a = input([3, 5])\nW = param([5, 2])\nb = a @ W\n"
    at = lab("graph_builder", gb_source="Program · 程序", gb_program=program)
    assert not at.exception and not at.error
    assert _metric(at, "MACs") == 3 * 5 * 2
    at = lab("graph_builder", gb_source="torch zoo · 模型库", gb_zoo="tiny_cnn")
    assert at.radio(key="gb_source").value == "zoo" and not at.error


def test_the_graph_builder_sets_the_graph_every_lab_opens_on(lab):
    at = lab("graph_builder")
    at.selectbox(key="gb_preset").set_value("conv_bn_relu").run()
    assert at.query_params["g"] == "preset:conv_bn_relu"
    assert at.session_state["workspace_g"] == "preset:conv_bn_relu"
    # run alone (no navigation), the "Open in" links are plain links carrying g
    from ui.graph_source import LENS_PAGES

    links = [m.value for m in at.markdown if "?g=preset%3Aconv_bn_relu" in m.value]
    assert len(links) == len(LENS_PAGES)
    assert {link.split("](/")[1].split("?")[0] for link in links} == set(LENS_PAGES)


def test_large_value_is_drawn_as_heatmap_and_onnx_export_is_offered(lab):
    at = lab("graph_builder", g="preset:conv_bn_relu")
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 2  # the graph and the value heatmap
    _open_tab(at, "Export")
    at.session_state["gb_onnx_pop"] = True  # a click on the ONNX popover
    at.run()
    assert "graph.onnx" in [b.proto.label for b in at.get("download_button")]
    assert not any("ONNX export unavailable" in w.value for w in at.warning)


def _export_page():
    import streamlit as st

    import engine
    from engine.core.errors import EngineError
    from ui.graph_source import export_buttons

    def onnx() -> bytes:
        st.session_state["exports"] = st.session_state.get("exports", 0) + 1
        if st.session_state.get("fail"):
            raise EngineError("to_onnx: the op 'zeta' (node 'z') has no ONNX mapping yet")
        return engine.to_onnx(engine.preset("mlp"))

    export_buttons(engine.preset("mlp"), "t", onnx)


def test_the_onnx_export_runs_only_when_asked_for_and_a_failure_says_why():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_export_page, default_timeout=60).run()
    labels = lambda: [b.proto.label for b in at.get("download_button")]  # noqa: E731
    assert not at.exception and {"DOT", "Mermaid", "JSON", "Program"} <= set(labels())
    assert "exports" not in at.session_state and "graph.onnx" not in labels()  # nothing exported yet
    at.session_state["t_onnx_pop"] = True
    at.run()
    assert at.session_state["exports"] == 1 and "graph.onnx" in labels() and not at.warning
    at.session_state["t_onnx_pop"] = False
    at.session_state["t_netron_on"] = True  # Netron alone exports too
    at.run()
    assert at.session_state["exports"] == 2 and "graph.onnx" not in labels()
    at.session_state["t_netron_on"] = False
    at.session_state["t_onnx_pop"] = True
    at.session_state["fail"] = True
    at.run()
    assert not at.exception and "graph.onnx" not in labels()
    assert [w.value for w in at.warning] == [
        "ONNX export unavailable: to_onnx: the op 'zeta' (node 'z') has no ONNX mapping yet"
    ]


def test_a_torch_zoo_model_counts_the_same_parameters_as_torch(lab):
    from engine.interop.torch_zoo import zoo_module

    at = lab("graph_builder", gb_source="torch zoo · 模型库", gb_zoo="tiny_cnn")
    assert not at.exception and not at.error
    expected = sum(p.numel() for p in zoo_module("tiny_cnn").parameters())
    assert _metric(at, "Parameters") == expected


def test_chinese_and_onnx_without_a_file_fall_back_to_the_preset(lab):
    at = lab("graph_builder", lang="zh")
    at.radio(key="gb_source").set_value("onnx").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "计算图构建器"
    assert any("上传" in i.value for i in at.info)
    assert _metric(at, "参数量") == 874  # the mlp preset is shown meanwhile


def test_checkpoint_asks_for_the_biggest_node_and_reveals_2MKN(lab):
    at = lab("graph_builder")
    # the largest node of the mlp is x @ W1: [4, 16] @ [16, 32] -> 2 * 4 * 16 * 32 FLOPs
    at.number_input(key="gb_ck_matmul_1_g").set_value(2 * 4 * 16 * 32)
    next(b for b in at.button if b.label == "Check").click().run()
    assert not at.exception
    assert any("4,096" in s.value for s in at.success)
    assert any("FLOPs = 2 × MACs" in c.value for c in at.caption)


def test_load_button_puts_the_chosen_preset_into_the_editor(lab):
    at = lab("graph_builder", gb_source="Program · 程序")
    assert at.text_area(key="gb_program").value == engine.core.presets.program_text("mlp")
    at.selectbox(key="gb_preset").set_value("conv_bn_relu").run()
    at.button(key="gb_load").click().run()
    assert not at.exception
    assert at.text_area(key="gb_program").value == engine.core.presets.program_text("conv_bn_relu")
    assert _metric(at, "MACs") == graph_cost(engine.preset("conv_bn_relu")).macs


def test_resnet18_parameters_differ_from_torch_by_the_folded_batchnorms(lab):
    at = lab("graph_builder", gb_source="torch zoo · 模型库", gb_zoo="resnet18")
    assert not at.exception and not at.error
    # torchvision's ResNet-18 has 11,689,512 parameters; folding BN (γ, β -> a conv bias) removes
    # one number per BN channel: 64 + 4·64 + 4·128 + 4·256 + 4·512 + (128 + 256 + 512) = 4,800
    assert _metric(at, "Parameters") == 11_689_512 - 4_800
    assert any("4,800 fewer" in c.value for c in at.caption)
    # MACs counted independently by torch forward hooks on every Conv2d/Linear (torchvision lists
    # ResNet-18 at 1.81 "GFLOPS", i.e. multiply-accumulates, for a 224×224 image)
    macs = _torch_macs("resnet18")
    assert _metric(at, "MACs") == macs and round(macs / 1e9, 2) == 1.81


def _torch_macs(name: str) -> int:
    import torch

    from engine.interop.torch_zoo import example_input, zoo_module

    module, total = zoo_module(name), []

    def hook(layer, inputs, output):
        if isinstance(layer, torch.nn.Conv2d):
            kh, kw = layer.kernel_size
            total.append(output.numel() * layer.in_channels // layer.groups * kh * kw)
        else:
            total.append(output.numel() * layer.in_features)

    handles = [
        layer.register_forward_hook(hook)
        for layer in module.modules()
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    try:
        with torch.no_grad():
            module.eval()(example_input(name))
    finally:
        for h in handles:
            h.remove()
    return sum(total)


def test_only_the_open_tab_is_drawn_and_the_link_keeps_it(lab):
    """Hidden tabs send nothing (their tables and code were most of this page's browser time); the
    open tab is in the URL, so a share link opens the same tab; an unknown tab value is the default."""

    def tab_code(at) -> list[str]:  # code blocks other than the program shown with the controls
        return [c.value for c in at.code if not c.value.startswith("# A two-layer perceptron")]

    def cost_tables(at) -> int:
        return sum("flops" in d.value for d in at.dataframe)

    at = lab("graph_builder")
    assert not at.exception
    assert tab_code(at) == [] and cost_tables(at) == 0 and len(at.dataframe) == 1  # Run: the values
    _open_tab(at, "Printout & code")
    assert len(tab_code(at)) == 2 and at.dataframe == []  # the printout and the engine's source
    shared = lab("graph_builder", gb_tab="Cost per node")
    assert cost_tables(shared) == len(shared.dataframe) == 1 and tab_code(shared) == []
    unknown = lab("graph_builder", gb_tab="<script>")
    assert not unknown.exception and tab_code(unknown) == [] and cost_tables(unknown) == 0
