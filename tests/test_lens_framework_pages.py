"""Your graph in the framework labs (autodiff, scheduling): the page opens on ``?g=...``, shows that
graph's numbers (equal to the engine's), falls back on a bad link, says when the lens cannot apply,
keeps large graphs readable, and speaks Chinese."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import engine
from engine.framework import autodiff as ad
from engine.framework import lab as fw
from engine.framework.scheduling import Config, simulate
from viz import autodiff as vz
from viz import scheduling as vs

ZEBRA = "x = input([1, 3, 8, 8])\nW = param([4, 3, 3, 3])\nzebra = relu(conv2d(x, W, pad=1))"
BAD = ("preset:nope", "onnx:" + "0" * 64, "x = input([4])\ny = relu(x")
PAGES = ("autodiff", "scheduling")


def chain(n: int) -> str:
    """A program of n tanh ops after one matmul: too many nodes to step, small enough to differentiate."""
    lines = ["x = input([8, 16])", "W = param([16, 16])", "h0 = tanh(x @ W)"]
    lines += [f"h{k} = tanh(h{k - 1})" for k in range(1, n)]
    return "\n".join(lines)


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def lab_config() -> Config:
    """The scheduling lab's machine at its default controls (2 streams, 1 accelerator, 10 µs, 25 GB/s)."""
    return replace(
        Config(), streams=2, accel_count=1, host_dispatch_us=10.0, link_bandwidth=25e9, heavy_flops=2e5
    )


# -- autodiff ---------------------------------------------------------------------------------------
def test_autodiff_steps_your_program_with_the_engines_numbers(lab):
    at = lab("autodiff", strict=True, g=ZEBRA)
    assert "Your graph: **program** · 4 nodes" in captions(at)
    graph = engine.parse_program(ZEBRA, title="program")
    trace = ad.forward_trace(graph, {"x": 1.0})
    at.slider(key="ad_step").set_value(len(trace)).run()
    assert not at.exception and "zebra = relu(conv2d#1)" in at.info[0].value
    shown = at.dataframe[0].value
    expected = pd.DataFrame(vz.forward_rows(trace, len(trace) - 1))
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), expected, check_dtype=False)
    at.radio(key="ad_mode").set_value("reverse").run()  # sum(zebra), the default output
    rtrace = ad.reverse_trace(*ad.scalarize(graph, "zebra"))
    at.slider(key="ad_step").set_value(len(rtrace)).run()
    assert not at.exception and not at.error
    shown = at.dataframe[1].value.reset_index(drop=True)
    pd.testing.assert_frame_equal(
        shown, pd.DataFrame(vz.reverse_rows(rtrace, len(rtrace) - 1)), check_dtype=False
    )


@pytest.mark.parametrize("g", ["preset:conv_bn_relu", "zoo:tiny_cnn"])
def test_autodiff_opens_presets_and_zoo_models(g, lab):
    if g.startswith("zoo:"):
        pytest.importorskip("torch")
    at = lab("autodiff", strict=True, g=g)
    assert f"**{g.partition(':')[2]}**" in captions(at)
    assert " is a source: value " in at.info[0].value  # the forward sweep's first step


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("g", BAD)
def test_a_bad_link_shows_the_engines_message_and_the_default_graph(page, g, lab):
    at = lab(page, g=g)
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used" in errors
    assert any(s in errors for s in ("unknown preset 'nope'", "no uploaded model", "never closed"))
    assert "Your graph: **mlp**" in captions(at)


def test_autodiff_says_a_large_graph_is_not_stepped_and_gives_its_gradients(lab):
    program = chain(70)
    at = lab("autodiff", strict=True, g=program)
    assert "too many to step through" in at.info[0].value and "73 nodes" in at.info[0].value
    table = at.dataframe[0].value
    graph = engine.parse_program(program)
    graph, total = ad.scalarize(graph, graph.outputs[0])
    grads = ad.grad(graph, total, ["x", "W"])  # the engine's gradient, by its plain API
    norms = [float(v) for v in table["L2 norm"]]
    assert np.allclose(norms, [np.linalg.norm(grads["x"]), np.linalg.norm(grads["W"])], rtol=1e-3)
    assert "ad_step" not in [s.key for s in at.slider]  # no stepper


def test_autodiff_says_when_it_cannot_apply(lab):
    at = lab("autodiff", g="c = constant(2.0)\ny = c * c")
    assert any("no input or param to differentiate by" in e.value for e in at.error)
    pytest.importorskip("torch")
    at = lab("autodiff", g="zoo:resnet18")  # 92 nodes, and one sweep is over the FLOP budget
    assert "too many to step through" in at.info[0].value
    assert any(e.value.startswith("Cannot differentiate:") and "GFLOPs" in e.value for e in at.error)


def test_autodiff_speaks_chinese_about_your_graph(lab):
    at = lab("autodiff", lang="zh", g=chain(70))
    assert "太多" in at.info[0].value
    assert "你的计算图" in captions(at)
    assert "L2 范数" in at.dataframe[0].value.columns


# -- scheduling -------------------------------------------------------------------------------------
def test_scheduling_places_your_program_with_the_engines_numbers(lab):
    at = lab("scheduling", strict=True, g=ZEBRA, sc_step="2")
    assert "Your graph: **program** · 4 nodes" in captions(at)
    assert "took zebra (relu)" in at.info[0].value
    graph = engine.parse_program(ZEBRA, title="program")
    want = simulate(graph, "whole_graph", "heavy_on_accel", lab_config())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Total time"] == f"{want.total_us:.1f} µs"
    assert metrics["Data over the link"] == f"{want.transfer_bytes / 1024:,.1f} KiB"
    assert any("zebra" in json.dumps(c) for c in charts(at))  # the gantt bar and the graph node
    at.radio(key="sc_mode").set_value("op_by_op").run()
    want = simulate(graph, "op_by_op", "heavy_on_accel", lab_config())
    assert {m.label: m.value for m in at.metric}["Host dispatches"] == str(want.dispatches)


@pytest.mark.parametrize("g", ["preset:self_attention", "zoo:tiny_cnn"])
def test_scheduling_opens_presets_and_zoo_models(g, lab):
    if g.startswith("zoo:"):
        pytest.importorskip("torch")
    at = lab("scheduling", strict=True, g=g)
    assert f"**{g.partition(':')[2]}**" in captions(at)
    assert "ready queue" in at.info[0].value


def test_scheduling_examples_keep_the_old_key(lab):
    at = lab("scheduling", strict=True, sc_preset="conv_bn_relu")  # an old link's preset name
    graph = engine.preset("conv_bn_relu")
    want = simulate(graph, "whole_graph", "heavy_on_accel", lab_config())
    assert {m.label: m.value for m in at.metric}["Total time"] == f"{want.total_us:.1f} µs"
    assert "Your graph:" not in captions(at)  # an example: no chip


def test_scheduling_says_when_it_cannot_apply(lab):
    at = lab("scheduling", g="x = input([4])")
    assert any("no op to schedule" in e.value for e in at.error)


def test_scheduling_caps_what_it_draws_for_a_large_graph(lab):
    program = chain(600)
    at = lab("scheduling", strict=True, g=program)
    assert "the stepper shows the first 150 scheduling decisions" in captions(at)
    assert "is not drawn here" in captions(at)
    assert at.slider(key="sc_step").max == fw.SCHEDULE_STEPS
    want = simulate(engine.parse_program(program), "whole_graph", "heavy_on_accel", lab_config())
    assert {m.label: m.value for m in at.metric}["Total time"] == f"{want.total_us:.1f} µs"
    gantt = next(c for c in charts(at) if "bars" in c["layout"]["title"]["text"])
    assert sum(len(t.get("x", ())) for t in gantt["data"]) <= vs.GANTT_BARS


def test_scheduling_speaks_chinese_about_a_large_graph(lab):
    at = lab("scheduling", lang="zh", g=chain(600))
    assert "单步演示只显示前 150 个调度决策" in captions(at)
    assert "你的计算图" in captions(at)
