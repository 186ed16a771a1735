"""AppTest for the model-conversion lab: default render, an interaction, Chinese, and models a path
cannot convert (a clear message naming why, no exception)."""

from __future__ import annotations


def _metric(at, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


def test_default_view_compares_both_paths_against_torch(lab):
    at = lab("model_conversion", strict=True)
    assert len(at.get("plotly_chart")) == 1  # the sankey
    assert _metric(at, "our ops") == ["6", "4"]  # view_by_size: direct keeps BN, Linear = matmul + add
    assert all(float(v) < 1e-4 for v in _metric(at, "max |ours − torch|"))
    notes = " ".join(m.value for m in at.markdown)
    assert "BatchNorm" in notes and "Gemm" in notes and "Shape" in notes
    assert "Opset conversion (onnx.version_converter)" in [e.label for e in at.expander]
    tables = len(at.dataframe)  # folded: the opset table is not converted nor drawn
    at.session_state["mc_opset"] = True  # a click on its expander
    at.run()
    assert not at.exception and len(at.dataframe) == tables + 1
    opsets = at.dataframe[-1].value
    assert list(opsets["target opset"]) == [11, 13, 14, 15, 18, 21]
    assert "Relu" in opsets.iloc[0]["converted"]  # no adapter down to 11, named


def test_a_link_with_the_opset_table_open_opens_it(lab):
    at = lab("model_conversion", mc_model="mlp", mc_opset="true")
    assert not at.exception
    assert list(at.dataframe[-1].value["target opset"]) == [11, 13, 14, 15, 18, 21]


def test_control_flow_and_an_unsupported_op_are_named(lab):
    at = lab("model_conversion", mc_model="gated", mc_tracer="export")
    assert not at.exception
    assert any("Gated.forward" in e.value and "control flow" in e.value for e in at.error)
    assert any("−x" in w.value for w in at.warning)  # the ONNX graph froze the branch
    at.selectbox(key="mc_model").set_value("pixel_shuffle").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "PixelShuffle" in errors or "pixel_shuffle" in errors
    assert "DepthToSpace" in errors


def test_chinese_view(lab):
    at = lab("model_conversion", lang="zh", mc_model="mlp", mc_dynamic="false")
    assert not at.exception and not at.error
    assert at.title[0].value == "模型转换"
    assert any("我们的算子" == m.label for m in at.metric)
    assert any("Gemm" in m.value and "直接转换" in m.value for m in at.markdown)  # a note, translated
