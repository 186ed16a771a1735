""" "Your graph" in the hardware labs: the systolic array, the DaVinci Cube and the GPU roofline lenses
(engine.simulate) on the workspace graph, wired to each lab's own controls.

The engine's numbers are checked against SCALE-Sim v2, the DaVinci schedule and the roofline in
tests/test_graph_sim.py; here the page must show exactly the engine's result for the graph the URL names
(``g``) with the lab's settings, fall back to the default graph on a bad ``g``, and show the engine's
one-sentence message where the lens does not apply.
"""

from __future__ import annotations

import pytest
from apptables import tables

import engine
from engine.hw.davinci import ASCEND910_BUFFERS
from engine.hw.lab import COLUMNS, layer_rows, timeline_window
from ui import workspace as ws
from ui.i18n import Translator, load_catalog

ZEBRA = "x = input([1, 3, 16, 16])\nW = param([8, 3, 3, 3])\nzebra = conv2d(x, W, pad=1)\ny = relu(zebra)"
# Each lab's default controls, as the engine's settings
DAVINCI = dict(
    tile_m=128,
    tile_k=128,
    tile_n=128,
    double_buffer=True,
    **ASCEND910_BUFFERS,
    gm_bytes_per_cycle=128,
    l1_bytes_per_cycle=256,
    vector_elems_per_cycle=128,
)
LABS = {
    "systolic_array": ("sa_graph", "systolic", dict(rows=32, cols=32, dataflow="os")),
    "davinci_core": ("dv_graph", "davinci", DAVINCI),
    "gpu_occupancy": ("go_graph", "gpu", dict(hardware="A100 40GB SXM", precision="fp16")),
}
PAGES = list(LABS)


def oracle(page: str, g: str, **change):
    """engine.simulate on the graph ``g`` names, with the lab's default settings (and ``change``)."""
    _, target, config = LABS[page]
    return engine.simulate(ws.graph_of(ws.parse_g(g))[0], target, **{**config, **change})


def layer_table(at):
    """The page's per-layer table (English headers)."""
    return next(d for d in tables(at) if "layer" in d.columns)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def assert_shows(at, page: str, sim) -> None:
    """The page's table and totals are the engine's for this graph."""
    table, rows = layer_table(at), layer_rows(sim)
    assert list(table.columns) == list(COLUMNS[sim.target])
    assert table["layer"].tolist() == [r["layer"] for r in rows]
    key = "time (µs)" if sim.target == "gpu" else "layer cycles"
    assert table[key].tolist() == pytest.approx([r[key] for r in rows], rel=1e-12)
    if page == "systolic_array":
        assert metric(at, "Total cycles (all layers)") == f"{sim.total('cycles'):,}"
        assert metric(at, "Utilisation (all layers)") == f"{sim.total('utilization'):.1f}%"
    elif page == "davinci_core":
        assert metric(at, "Total cycles (all layers)") == f"{sim.total('cycles'):,.0f}"
        assert metric(at, "Fractal products (16×16×16)") == f"{sim.total('fractals'):,}"
        assert metric(at, "Cube busy") == f"{100 * sim.total('cube_utilization'):.1f}%"
    else:
        assert metric(at, "Roofline time (all layers)") == f"{1e6 * sim.total('time_s'):.3g} µs"
        bound = f"{sim.total('compute_bound_layers')} / {len(sim.layers)}"
        assert metric(at, "Compute-bound layers") == bound
        assert metric(at, "Kernel occupancy") == f"{100 * sim.total('occupancy'):.1f}%"


@pytest.mark.parametrize("page", PAGES)
def test_a_program_link_shows_that_graph(lab, page):
    at = lab(page, strict=True, g=ZEBRA)
    assert any("Your graph: **program**" in c.value for c in at.caption)
    assert layer_table(at)["layer"].tolist() == ["zebra"]
    assert_shows(at, page, oracle(page, ZEBRA))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", ["preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_preset_and_zoo_links(lab, page, g):
    at = lab(page, strict=True, g=g)
    assert_shows(at, page, oracle(page, g))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "bad, says",
    [
        ("preset:nope", "unknown preset 'nope'"),
        ("onnx:" + "0" * 64, "no uploaded model"),
        ("x = input([2, 3]\ny = relu(x)", "was never closed"),
    ],
)
def test_a_bad_link_falls_back_to_the_default_graph(lab, page, bad, says):
    at = lab(page, g=bad)
    assert len(at.error) == 1 and "cannot be used" in at.error[0].value and says in at.error[0].value
    assert_shows(at, page, oracle(page, ws.DEFAULT))


@pytest.mark.parametrize("page", PAGES)
def test_a_graph_without_a_gemm_layer_shows_the_engine_sentence(lab, page):
    g = "preset:autodiff_example"
    with pytest.raises(engine.EngineError) as info:
        oracle(page, g)
    at = lab(page, g=g)
    assert [e.value for e in at.error] == [str(info.value)]
    assert not any("layer" in d.columns for d in tables(at))
    rest = {"systolic_array": "Cycles", "davinci_core": "Cube utilisation", "gpu_occupancy": "Occupancy"}
    assert rest[page] in [m.label for m in at.metric]  # the rest of the lab still works


def test_systolic_lens_follows_the_array_controls(lab):
    at = lab("systolic_array", g="preset:conv_bn_relu")
    at.slider(key="sa_rows").set_value(8).run()
    at.radio(key="sa_df").set_value("ws").run()
    assert not at.exception and not at.error
    assert_shows(at, "systolic_array", oracle("systolic_array", "preset:conv_bn_relu", rows=8, dataflow="ws"))
    assert any("SCALE-Sim v2" in c.value and "closed forms" in c.value for c in at.caption)


def test_an_example_replaces_your_graph(lab):
    at = lab("systolic_array", g=ZEBRA)
    at.selectbox(key="sa_graph").set_value("conv_bn_relu").run()
    assert not at.exception and not at.error
    assert_shows(at, "systolic_array", oracle("systolic_array", "preset:conv_bn_relu"))
    assert not any("Your graph:" in c.value for c in at.caption)  # the chip is for your graph only


def test_davinci_lens_follows_the_tiles_and_cuts_a_long_pipeline(lab):
    g = "preset:mobilenetv2_inverted_residual"  # 980 pipeline events: more than the page draws
    at = lab("davinci_core", strict=True, g=g)
    sim = oracle("davinci_core", g)
    win = timeline_window(sim, 600)
    assert win.cut and 0 < win.shown <= 600
    cut = next(c.value for c in at.caption if c.value.startswith("Big graph"))
    assert f"first {win.shown:,} of {win.total:,}" in cut and win.last in cut
    at.toggle(key="dv_db").set_value(False).run()
    assert_shows(at, "davinci_core", oracle("davinci_core", g, double_buffer=False))


def test_timeline_window_draws_the_first_events_and_says_where_it_stops():
    sim = oracle("davinci_core", "preset:mobilenetv2_inverted_residual")
    counts = [len(x.timeline.events) for x in sim.layers]
    names = [x.gemm.node for x in sim.layers]
    win = timeline_window(sim, counts[0] + counts[1])
    assert (win.shown, win.layers, win.last) == (counts[0] + counts[1], 2, names[1])
    assert win.timeline.events == sim.timeline.events[: win.shown]
    part = timeline_window(sim, counts[0] + 5)  # the second layer cut short
    assert (part.shown, part.layers, part.last) == (counts[0] + 5, 1, names[1])
    small = timeline_window(sim, 5)  # less than one layer: the first events of the first layer
    assert (small.shown, small.layers, small.last) == (5, 0, names[0])
    whole = timeline_window(sim, 10_000)
    assert not whole.cut and whole.timeline is sim.timeline and whole.last == names[-1]


def test_gpu_lens_follows_the_hardware_preset(lab):
    g = "preset:conv_bn_relu"
    at = lab("gpu_occupancy", g=g)
    at.selectbox(key="go_hw").set_value("H100 SXM").run()
    at.radio(key="go_prec").set_value("fp32").run()
    assert not at.exception and not at.error
    sim = oracle("gpu_occupancy", g, hardware="H100 SXM", precision="fp32")
    assert_shows(at, "gpu_occupancy", sim)
    assert layer_table(at)["bound"].tolist() == [r["bound"] for r in layer_rows(sim)]


@pytest.mark.parametrize("page", PAGES)
def test_chinese_view(lab, page):
    at = lab(page, strict=True, lang="zh", g="preset:mobilenetv2_inverted_residual")
    table = next(d for d in tables(at) if "层" in d.columns)
    assert "GEMM 映射方式" in table.columns
    assert any(m.startswith("深度卷积：im2col，") for m in table["GEMM 映射方式"])
    labels = [m.label for m in at.metric]
    assert {"总周期数（所有层）", "屋顶线时间（所有层）"} & set(labels)


def test_every_table_header_and_figure_word_is_translated():
    zh = load_catalog("zh")
    headers = {h for cols in COLUMNS.values() for h in cols} - {"op", "M", "N", "K", "MACs", "GFLOP"}
    assert sorted(h for h in headers if h not in zh.strings) == []
    from viz import hardware as hv

    rows = layer_rows(oracle("systolic_array", "preset:mobilenetv2_inverted_residual"))
    fig = hv.systolic_layers_chart(rows, "t", tr=Translator("zh"))
    assert fig.layout.xaxis.title.text == "层（按计算图顺序）" and fig.layout.xaxis.type == "category"
    assert list(fig.data[0].x) == [r["layer"] for r in rows]
    gpu = layer_rows(oracle("gpu_occupancy", "zoo:tiny_cnn"))
    names = {t.name for t in hv.gpu_layers_chart(gpu, "t", tr=Translator("zh")).data}
    assert names <= {"访存受限", "计算受限"} and names
    shown = hv.lens_table(gpu, Translator("zh"))
    assert {"层", "瓶颈", "波数"} <= set(shown[0]) and shown[0]["瓶颈"] in ("访存受限", "计算受限")
