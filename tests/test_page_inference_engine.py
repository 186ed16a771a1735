"""AppTest for the inference-engine lab: default render (your graph), stepping to the kernel choice on
an example with convolutions, Chinese, and a graph that cannot be used (a clear message)."""

from __future__ import annotations


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_view_runs_the_pipeline_on_your_graph(lab):
    at = lab("inference_engine", strict=True)
    assert len(at.get("plotly_chart")) == 1  # the stage gantt
    assert _metric(at, "max |engine − reference|") == "0.0e+00"  # mlp: no conv, the interpreter's kernels
    assert at.slider(key="ie_step").max == 7


def test_stepping_to_the_kernel_choice_shows_model_and_measurement(lab):
    at = lab("inference_engine", ie_graph="conv_bn_relu", ie_repeats="1")
    assert not at.exception and not at.error
    at.slider(key="ie_step").set_value(5).run()
    assert not at.exception
    rows = at.dataframe[-1].value
    assert {"model picks", "fastest measured", "engine runs", "winograd · measured"} <= set(rows.columns)
    assert len(at.get("plotly_chart")) == 2  # gantt + predicted vs measured
    assert "shared and noisy" in " ".join(c.value for c in at.caption)
    at.radio(key="ie_policy").set_value("measured").run()
    rows = at.dataframe[-1].value
    assert (rows["engine runs"] == rows["fastest measured"]).all()
    tuned = [c.value for c in at.caption if "of tuning" in c.value]
    at.slider(key="ie_step").set_value(6).run()  # cached: a step is a rerun, not a new measurement
    at.slider(key="ie_step").set_value(5).run()
    assert not at.exception
    assert tuned and [c.value for c in at.caption if "of tuning" in c.value] == tuned  # same timings


def test_chinese_view(lab):
    at = lab("inference_engine", lang="zh", ie_graph="mobilenetv2_inverted_residual", ie_repeats="1")
    assert not at.exception and not at.error
    assert at.title[0].value == "推理引擎流水线"
    assert any(m.label == "离线阶段" for m in at.metric)


def test_a_graph_that_cannot_be_built_shows_a_message(lab):
    at = lab("inference_engine", g="x = input([1, 3, 8, 8])\ny = conv2d(x, param([4, 5, 3, 3]))")
    assert not at.exception
    assert at.error and "channels" in at.error[0].value
