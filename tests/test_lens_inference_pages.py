"""Your graph in the inference labs: serving & batching and cloud vs edge open on the link's ``g``.

Each page is checked for its wiring: the numbers it shows equal the engine functions' for that
graph (engine.model_from_graph / engine.batch_cost_curve for serving, engine.graph_edge_report for
the edge lab — their own oracle tests are in tests/test_graph_serving.py), bad links fall back to
the default graph with the engine's message, graphs a lens cannot take say why in one sentence,
and the Chinese view draws the new words in Chinese.
"""

from __future__ import annotations

import json

import pytest
from apptables import tables

import engine
from engine.core.errors import EngineError
from engine.inference import lab as il
from engine.inference.edge_cloud import graph_chain, layer_times, networks, targets
from engine.inference.serving import md1_wait
from engine.interop.torch_zoo import zoo_graph
from ui import i18n
from viz import serving as vs

# a distinctive node name: it must reach the page (the chip names the output; the edge lab's cuts)
ZEBRA = (
    "x = input([1, 3, 16, 16])\nW = param([8, 3, 3, 3])\nzebra = relu(conv2d(x, W, pad=1))\ny = relu(zebra)"
)
BAD_G = {
    "preset:nope": "unknown preset 'nope'",
    "onnx:" + "0" * 64: "no uploaded model",
    "x = input([1,\n": "was never closed",
}
# the labs' defaults: serving on the A100 80GB (fp16, 0.2 ms per pass, batch 8, activations counted);
# cloud vs edge on the phone CPU at 20 % of peak, the A100 80GB cloud at 50 %, LTE, ρ = 0.5
SERVING = dict(hw="A100 80GB SXM", dtype="fp16", overhead=0.2e-3, batch=8)
CLOUD = "A100 80GB SXM"


def _graph(g: str):
    if g.startswith("preset:"):
        return engine.preset(g.removeprefix("preset:"))
    if g.startswith("zoo:"):
        return zoo_graph(g.removeprefix("zoo:"))
    return engine.parse_program(g)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _traces(at, index: int = 0) -> dict[str, dict]:
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return {d.get("name"): d for d in spec["data"]}


def _chip(at) -> str:
    return next(c.value for c in at.caption if "Your graph" in c.value or "你的计算图" in c.value)


# ---- serving & batching -----------------------------------------------------------------------------


def _check_serving_numbers(at, g: str, acts: bool = True) -> None:
    """The metrics and the batch-cost figure are the engine's for graph ``g``."""
    graph = _graph(g)
    model = engine.model_from_graph(graph, SERVING["hw"], SERVING["dtype"], SERVING["overhead"], acts)
    curve = engine.batch_cost_curve(
        graph, SERVING["hw"], il.batch_sizes(SERVING["batch"]), SERVING["dtype"], SERVING["overhead"], acts
    )
    shown = _metrics(at)
    assert shown["Parameters"] == f"{model.params:,.0f}"
    assert shown["FLOPs per request"] == il.si(model.flops, "FLOP")
    assert shown["Activation traffic per request"] == il.si(model.act_bytes, "B")
    traces = _traces(at)
    assert traces["time per pass"]["x"] == [r.batch for r in curve]
    assert traces["time per pass"]["y"] == pytest.approx([1e3 * r.time_s for r in curve], rel=1e-12)
    assert traces["compute"]["y"] == pytest.approx([1e3 * r.compute_s for r in curve], rel=1e-12)
    assert traces["requests/s"]["y"] == pytest.approx([r.requests_per_s for r in curve], rel=1e-12)


def test_serving_opens_on_the_links_program(lab):
    at = lab("serving", g=ZEBRA, strict=True)
    assert "program" in _chip(at) and "→ y" in _chip(at)  # the chip names the graph's output
    _check_serving_numbers(at, ZEBRA)
    assert _metrics(at)["Parameters"] == "216"  # 8 x 3 x 3 x 3 weights
    # an unfused graph with its activations counted: memory-bound at every batch size, said once
    assert _metrics(at)["Knee (batch size)"] == "∞"
    assert any(c.value.startswith("Memory-bound at every batch size") for c in at.caption)
    annotations = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    assert [a["text"] for a in annotations] == ["memory-bound at every batch size"]
    assert not at.get("form"), "no knee, so no 'predict the knee' checkpoint"
    # the policy table is the simulation of this graph (one request = one pass; Little's law holds)
    dyn = at.dataframe[0].value.set_index("policy").loc["dynamic"]
    assert abs(dyn["little_L"] / (dyn["offered λ (req/s)"] * dyn["mean_latency (ms)"] / 1e3) - 1) < 0.1


def test_serving_weights_only_shows_the_knee(lab):
    at = lab("serving")  # the default graph: the mlp preset
    at.toggle(key="sv_acts").set_value(False).run()
    assert not at.exception and not at.error
    _check_serving_numbers(at, "preset:mlp", acts=False)
    model = engine.model_from_graph(engine.preset("mlp"), SERVING["hw"], "fp16", 0.2e-3, False)
    assert _metrics(at)["Knee (batch size)"] == "?"  # hidden until the knee checkpoint is answered
    assert not [n for n in _traces(at) if n and n.startswith("knee ≈")]
    next(b for b in at.button if b.label == "Reveal the answer").click().run()
    assert _metrics(at)["Knee (batch size)"] == f"{model.knee:,.1f}"
    knee_trace = [n for n in _traces(at) if n and n.startswith("knee ≈")]
    assert knee_trace == [f"knee ≈ {model.knee:.0f}"]
    assert at.get("form"), "the knee checkpoint is shown where there is a knee"


@pytest.mark.parametrize("g", ["preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_serving_on_presets_and_the_zoo(lab, g):
    at = lab("serving", g=g, strict=True)
    assert g.partition(":")[2] in _chip(at)
    _check_serving_numbers(at, g)


@pytest.mark.parametrize("g, words", BAD_G.items())
def test_serving_bad_link_falls_back_to_the_default_graph(lab, g, words):
    at = lab("serving", g=g)
    assert at.error and words in at.error[0].value and "showing the default graph" in at.error[0].value
    assert "mlp" in _chip(at)
    _check_serving_numbers(at, "preset:mlp")


def test_serving_says_why_a_graph_cannot_be_served(lab):
    at = lab("serving", g="preset:autodiff_example")
    assert [e.value for e in at.error] == [
        "this graph has no parameters, so there are no weights whose read a batch could share; "
        "try the mlp preset"
    ]
    assert not at.get("plotly_chart")
    # the lab keeps working: an example graph, the LLM-size model, the other parts
    at.selectbox(key="sv_graph").set_value("resnet_basic_block").run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 4
    _check_serving_numbers(at, "preset:resnet_basic_block")
    at.selectbox(key="sv_served").set_value("llm").run()
    assert not at.exception and not at.error and _metrics(at)["Parameters"] == "1,000,000,000"
    at = lab("serving", g="x = input([2, 2])")
    assert at.error and "no operations" in at.error[0].value


def test_serving_llm_size_model_is_the_pages_preset(lab):
    at = lab("serving")
    at.selectbox(key="sv_served").set_value("llm").run()
    assert not at.exception and not at.error
    # 1 B fp16 parameters, 16 tokens: 2·P·tokens FLOPs and no activation traffic; the knee is inside
    assert _metrics(at)["FLOPs per request"] == "32 GFLOP"
    assert _metrics(at)["Activation traffic per request"] == "0 B"
    assert any(c.value.startswith("Left of the knee") for c in at.caption)


def test_serving_in_chinese(lab):
    at = lab("serving", g=ZEBRA, lang="zh", strict=True)
    labels = set(_metrics(at))
    assert {"每个请求的 FLOPs", "每个请求的激活访存量", "拐点（批大小）"} <= labels
    assert at.selectbox(key="sv_served").label == "服务的模型"
    assert any(c.value.startswith("任何批大小下都访存受限") for c in at.caption)
    annotations = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    assert [a["text"] for a in annotations] == ["任何批大小下都访存受限"]


# ---- cloud vs edge ----------------------------------------------------------------------------------


def _check_edge_table(at, g: str) -> None:
    """The per-device table is engine.graph_edge_report's for graph ``g`` at the lab's defaults."""
    graph = _graph(g)
    chain = graph_chain(graph)
    service = sum(layer_times(chain, targets()[CLOUD], 0.5))
    queue = md1_wait(0.5 / service, service)
    report = engine.graph_edge_report(graph, None, CLOUD, "LTE", 0.2, 0.5, queue, False, "latency")
    table = tables(at)[0]
    assert list(table["device"]) == [o.device for o in report.options]
    for (_, row), option in zip(table.iterrows(), report.options):
        for col, point in (
            ("on device", option.on_device),
            ("cloud only", option.cloud_only),
            ("best split", option.best),
        ):
            assert row[f"{col} (ms)"] == pytest.approx(point.latency * 1e3, rel=1e-3)
            assert row[f"{col} (mJ)"] == pytest.approx(point.energy * 1e3, rel=1e-3)
        assert row["fits on device"] == option.on_device.fits
    best = report.options[0].best  # the phone CPU, the lab's default device
    assert _metrics(at)["Best split"] == best.label


def test_edge_opens_on_the_links_program(lab):
    at = lab("edge_cloud", g=ZEBRA, strict=True)
    assert "program" in _chip(at)
    _check_edge_table(at, ZEBRA)
    cuts = _traces(at)["device compute"]["x"]
    assert "after zebra (relu)" in cuts and cuts[0] == "all cloud" and cuts[-1] == "all device"


@pytest.mark.parametrize("g", ["preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_edge_on_presets_and_the_zoo(lab, g):
    at = lab("edge_cloud", g=g, strict=True)
    assert g.partition(":")[2] in _chip(at)
    _check_edge_table(at, g)


@pytest.mark.parametrize("g, words", BAD_G.items())
def test_edge_bad_link_falls_back_to_the_default_graph(lab, g, words):
    at = lab("edge_cloud", g=g)
    assert at.error and words in at.error[0].value and "showing the default graph" in at.error[0].value
    assert "mlp" in _chip(at)
    _check_edge_table(at, "preset:mlp")


def test_edge_says_why_a_graph_cannot_be_split(lab):
    at = lab("edge_cloud", g="x = input([2, 2])")
    assert [e.value for e in at.error] == [
        "this graph has no operations, only inputs and weights, so there is nothing to run; "
        "try the mlp preset"
    ]
    assert [h.value for h in at.subheader] == ["From a trained model to a phone"]  # the rest still draws
    at.selectbox(key="ec_model").set_value("AlexNet").run()  # the lab's own models still work
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 2


def test_edge_old_links_and_examples_keep_working(lab):
    at = lab("edge_cloud", g=ZEBRA, ec_model="MobileNetV1")
    assert not at.exception and not at.error
    assert not any("Your graph" in c.value for c in at.caption)  # an example: no chip
    at.selectbox(key="ec_model").set_value("Your graph").run()
    assert not at.exception and "program" in _chip(at)


def test_edge_in_chinese(lab):
    at = lab("edge_cloud", g=ZEBRA, lang="zh", strict=True)
    columns = list(tables(at)[0].columns)
    assert {"全在端侧 (ms)", "全在云端 (mJ)", "最佳切分 (ms)", "最佳切点", "端侧放得下"} <= set(columns)
    assert any(c.value.startswith("同一条链路下的每个设备预设") for c in at.caption)


def test_the_page_glue_refuses_in_one_sentence():
    with pytest.raises(EngineError, match="no operations"):
        il.graph_chain_checked(engine.parse_program("x = input([2, 2])"), "x")
    chain = graph_chain(engine.preset("mlp"))
    with pytest.raises(EngineError, match="device 'Toaster'"):
        il.edge_view(chain, ["Phone CPU (assumed)"], "Toaster", CLOUD, networks()["LTE"])


def test_compute_bound_everywhere_is_said_in_both_languages():
    # conv_bn_relu, weights only: one request's FLOPs outlast the weight read, so the knee is below 1
    model = engine.model_from_graph(engine.preset("conv_bn_relu"), "A100 80GB SXM", activations=False)
    assert model.knee < 1
    note = il.batch_cost_note(model)
    assert note.startswith("Compute-bound at every batch size")
    assert i18n.catalog("zh").message(note).startswith("任何批大小下都计算受限")
    curve = il.service_curve(model, il.batch_sizes(8))
    assert all(r.bound == "compute" for r in curve)
    assert curve == engine.batch_cost_curve(
        engine.preset("conv_bn_relu"), "A100 80GB SXM", il.batch_sizes(8), activations=False
    )
    fig = vs.batch_cost(curve, 8, model.knee, "t", tr=i18n.Translator("zh"))
    assert [a.text for a in fig.layout.annotations] == ["任何批大小下都计算受限"]
