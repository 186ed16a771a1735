"""The student's graph in the distributed labs: pipeline_parallel (engine.pipeline_split + its schedule)
and tensor_parallel (engine.tensor_split). The engine functions have their oracle tests
(tests/test_graph_split.py); here: the page wiring, fallbacks, messages and Chinese."""

from __future__ import annotations

import re

import pytest
from apptables import tables

import engine
import engine.parallel as par
from engine.parallel import lab as plab
from ui import i18n
from viz.parallel import stage_rows, tp_layer_rows

ZEBRA = (
    "x = input([4, 16])\nW1 = param([16, 32])\nzebra = matmul(x, W1)\nh = relu(zebra)\n"
    "W2 = param([32, 8])\ny = matmul(h, W2)\nz = softmax(y)"
)
BAD = {
    "preset:nope": "unknown preset",
    "onnx:" + "0" * 64: "cannot be used",
    "x = input([2, 2])\ny = relu(x": "cannot be used",
}
ZH = i18n.load_catalog("zh")


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _bubbles(at) -> tuple[float, float, float]:
    line = next(m.value for m in at.markdown if "Bubble on your stages" in m.value)
    mine, equal, slow = re.findall(r"\*\*([\d.]+)", line)
    return float(mine), float(equal), float(slow)


# -- pipeline_parallel ---------------------------------------------------------------------------
def test_pipeline_shows_a_program_graph(lab):
    at = lab("pipeline_parallel", strict=True, g=ZEBRA)
    table = tables(at)[0]
    assert "zebra" in " ".join(map(str, table.to_numpy().ravel()))
    split = engine.pipeline_split(engine.parse_program(ZEBRA), 4)
    assert list(table["FLOPs"]) == [s.flops for s in split.stages]
    assert "program" in at.subheader[0].value


@pytest.mark.parametrize("g", ["preset:self_attention", "preset:resnet_basic_block", "zoo:tiny_cnn"])
def test_pipeline_presets_and_zoo(lab, g):
    at = lab("pipeline_parallel", strict=True, g=g)
    assert g.partition(":")[2] in at.subheader[0].value
    assert len(tables(at)[0]) == 4


@pytest.mark.parametrize("g", list(BAD))
def test_pipeline_bad_links_fall_back(lab, g):
    at = lab("pipeline_parallel", g=g)
    assert any(BAD[g] in e for e in _errors(at))
    assert "mlp" in at.subheader[0].value and len(at.table) == 1  # the default graph, split


@pytest.mark.parametrize(
    ("g", "says"),
    [
        ("preset:conv_bn_relu", "cannot cut 3 op nodes into 4 pipeline stages"),
        ("x = input([2])", "no op node"),
    ],
)
def test_pipeline_lens_cannot_apply(lab, g, says):
    at = lab("pipeline_parallel", g=g)
    assert any(says in e for e in _errors(at)) and len(at.table) == 0
    assert at.metric[0].value == f"{100 * 3 / 11:.2f} %"  # the textbook section still works


@pytest.mark.parametrize(
    ("g", "sched", "p", "m", "v", "measure", "hw"),
    [
        ("preset:mlp", "1f1b", 4, 8, 1, "flops", ""),
        ("preset:self_attention", "gpipe", 3, 5, 1, "flops", ""),
        ("zoo:resnet18", "1f1b", 8, 16, 1, "time", "H100 SXM"),
        ("zoo:resnet18", "interleaved", 2, 4, 3, "flops", ""),
    ],
)
def test_pipeline_numbers_are_the_engines(lab, g, sched, p, m, v, measure, hw):
    # the URL holds the choices' ids, as a hand-written link has them (ui.by_id)
    query = dict(g=g, pp_p=str(p), pp_m=str(m), pp_v=str(v), pp_measure=measure, pp_schedule=sched)
    at = lab("pipeline_parallel", strict=True, **query, **({"pp_hw": hw} if hw else {}))
    assert at.radio(key="pp_schedule").value == sched and at.radio(key="pp_measure").value == measure
    from ui.workspace import _build, parse_g

    graph = _build(parse_g(g).g)[0]
    gp = plab.graph_pipeline(graph, p, m, sched, v, measure, hw or "A100 80GB SXM")
    mine, equal, slow = _bubbles(at)
    assert mine == pytest.approx(100 * gp.bubble, abs=0.006)
    assert equal == pytest.approx(100 * par.bubble_fraction(p, m, sched, v), abs=0.006)
    assert slow == pytest.approx(gp.slowdown, abs=6e-4)
    assert tables(at)[0].to_dict("list") == _frame(stage_rows(gp.split, v))
    split = engine.pipeline_split(graph, p * v, measure, hw or "A100 80GB SXM")
    assert [s.nodes for s in gp.split.stages] == [s.nodes for s in split.stages]
    assert len(tables(at)[0]) == p * v


def _frame(rows):
    return {k: [r[k] for r in rows] for k in rows[0]}


def test_pipeline_controls_change_the_lens(lab):
    at = lab("pipeline_parallel", strict=True)
    before = _bubbles(at)
    at.slider(key="pp_m").set_value(32).run()
    assert not at.exception and _bubbles(at) != before
    at.selectbox(key="pp_graph").set_value("resnet18").run()
    assert not at.exception and "resnet18" in at.subheader[0].value
    at.radio(key="pp_measure").set_value("time").run()
    assert "roofline time (µs)" in tables(at)[0].columns


def test_pipeline_in_chinese(lab):
    at = lab("pipeline_parallel", strict=True, lang="zh", pp_schedule="交错式 1F1B", pp_p="2", pp_v="3")
    assert "切成" in at.subheader[0].value and "本段节点" in tables(at)[0].columns
    assert any("你的各段上的气泡" in m.value for m in at.markdown)


# -- tensor_parallel -----------------------------------------------------------------------------
def test_tensor_shows_a_program_graph(lab):
    at = lab("tensor_parallel", strict=True, g=ZEBRA)
    layers = at.dataframe[0].value
    assert list(layers["layer"]) == ["zebra", "y"]
    assert list(layers["split"]) == ["column-parallel", "row-parallel + all-reduce"]


@pytest.mark.parametrize("g", ["preset:mlp", "preset:self_attention", "zoo:tiny_cnn", "zoo:mlp"])
def test_tensor_presets_and_zoo(lab, g):
    at = lab("tensor_parallel", strict=True, g=g)
    assert g.partition(":")[2] in at.subheader[0].value and len(at.dataframe[0].value) >= 1


@pytest.mark.parametrize("g", list(BAD))
def test_tensor_bad_links_fall_back(lab, g):
    at = lab("tensor_parallel", g=g)
    assert any(BAD[g] in e for e in _errors(at))
    assert "mlp" in at.subheader[0].value and list(at.dataframe[0].value["layer"]) == ["matmul#1", "matmul#2"]


@pytest.mark.parametrize("g", ["preset:conv_bn_relu", "x = input([2])"])
def test_tensor_lens_cannot_apply(lab, g):
    at = lab("tensor_parallel", g=g)
    assert _errors(at) == [
        "this graph has no matmul or gemm layer with a 2-D weight parameter to split over devices; "
        "try the mlp preset"
    ]
    assert any("Split MLP output equals" in s.value for s in at.success)  # the rest still works


@pytest.mark.parametrize(("g", "n"), [("preset:mlp", 2), ("zoo:mlp", 3), ("zoo:resnet18", 8)])
def test_tensor_numbers_are_the_engines(lab, g, n):
    at = lab("tensor_parallel", strict=n == 2, g=g, tp_n=str(n))  # the textbook MLP needs N | 4h
    from ui.workspace import _build, parse_g

    graph = _build(parse_g(g).g)[0]
    split = engine.tensor_split(graph, n)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters per device"] == plab.size_text(max(split.param_bytes))
    assert metrics["Activations per device"] == plab.size_text(max(split.activation_bytes))
    assert metrics["Collectives per forward"] == str(len(split.collectives))
    sent = sum(c.sent_per_device_bytes for c in split.collectives)
    assert metrics["Sent per device per forward"] == plab.size_text(sent)
    assert at.dataframe[0].value.to_dict("list") == _frame(tp_layer_rows(split, graph, plab.KIND_WORDS))


def test_tensor_devices_change_the_lens(lab):
    at = lab("tensor_parallel", strict=True)
    before = [m.value for m in at.metric]
    at.select_slider(key="tp_n").set_value(4).run()
    assert not at.exception and [m.value for m in at.metric] != before
    at.selectbox(key="tp_graph").set_value("self_attention").run()
    assert not at.exception and "self_attention" in at.subheader[0].value


def test_tensor_in_chinese(lab):
    at = lab("tensor_parallel", strict=True, lang="zh", g="zoo:mlp")
    assert "切分到 2 张卡上" in at.subheader[0].value
    assert "每卡参数内存" in [m.label for m in at.metric]
    assert list(at.dataframe[0].value["切分"]) == ["列并行", "行并行 + All-Reduce", "列并行 + All-Gather"]


def test_words_drawn_from_data_have_chinese():
    """Words passed to ui.t / tr as values (not literals the i18n test finds) are catalogued."""
    words = [*plab.KIND_WORDS.values(), "all-reduce", "all-gather", "roofline time"]
    assert [w for w in words if w not in ZH.strings] == []


# -- engine/parallel/lab.py (the page glue) --------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "self_attention", "mobilenetv2_inverted_residual"])
def test_graph_pipeline_against_closed_forms(name):
    graph, p, m = engine.preset(name), 3, 6
    gp = plab.graph_pipeline(graph, p, m, "gpipe")
    f = gp.split.stage_times
    # GPipe: each phase is a flow shop of m identical jobs (Huang et al. 2019; pipeline.py's docstring)
    assert gp.timeline.makespan == pytest.approx(sum(f) + (m - 1) * max(f) + 2 * (sum(f) + (m - 1) * max(f)))
    for sched in ("gpipe", "1f1b"):
        assert plab.graph_pipeline(graph, p, m, sched).equal_bubble == pytest.approx((p - 1) / (m + p - 1))
        # many micro-batches: only the unequal stages' share is left
        assert plab.graph_pipeline(graph, p, 400, sched).bubble == pytest.approx(gp.limit_bubble, abs=0.01)
    assert gp.limit_bubble == pytest.approx(1 - gp.split.balance)
