"""AppTests of the five kernels-lab pages: smoke, one interaction, one bad input."""

from __future__ import annotations

from pathlib import Path

from apptables import tables
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_layout_explorer(lab):
    at = lab("layout_explorer", strict=True)
    # your graph's padding per layout (the default mlp has no conv: no layout-pass drawing), then the
    # grid + memory strip of the tensor walk
    assert len(at.get("plotly_chart")) == 3
    at.text_input(key="le_shape").set_value("2,20,3,3").run()
    at.selectbox(key="le_layout").set_value("NC1HWC0").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Padding waste"] == "37.5 %"  # 20 channels padded to 32 (C0 = 16 for fp16)
    at.text_input(key="le_shape").set_value("2,-3").run()
    assert any("must be positive" in e.value for e in at.error)


def test_conv_algorithms(lab):
    at = lab("conv_algorithms", strict=True)
    table = tables(at)[0]
    assert list(table["algorithm"]) == ["direct", "im2col", "winograd"]
    assert all(float(v) < 1e-9 for v in table["max |diff| vs torch"])
    at.selectbox(key="ca_ks").set_value(5).run()
    assert not at.exception
    assert "3x3 kernel" in tables(at)[0]["note"].iloc[2]
    at.selectbox(key="ca_kind").set_value("grouped").run()
    at.number_input(key="ca_c").set_value(3).run()
    assert any("even C and K" in e.value for e in at.error)


def test_gemm_tiling(lab):
    at = lab("gemm_tiling", strict=True)
    misses = lambda: {m.label: m.value for m in at.metric}["Misses"]  # noqa: E731
    before = misses()
    at.selectbox(key="gt_order").set_value("ikj").run()
    assert not at.exception and misses() != before
    assert "for k in range" in at.code[0].value
    at.select_slider(key="gt_line").set_value(128).run()
    at.select_slider(key="gt_ways").set_value(16).run()
    at.select_slider(key="gt_cap").set_value(1).run()
    assert any("cannot hold" in e.value for e in at.error)


def test_roofline(lab):
    at = lab("roofline", strict=True)
    table = at.dataframe[0].value
    bound = dict(zip(table["kernel"], table["bound"]))
    assert bound["attention decode (KV 4096)"] == "memory-bound"
    assert bound["GEMM 4096x4096x4096"] == "compute-bound"
    at.selectbox(key="rf_graph").set_value("resnet_basic_block").run()
    assert not at.exception and len(at.dataframe[0].value) > len(table)
    at.number_input(key="rf_peak_a10040gbsxm").set_value(0.0).run()
    assert any("must be a positive" in e.value for e in at.error)


def test_flash_attention(lab):
    at = lab("flash_attention", strict=True)
    first = at.markdown[0].value
    at.slider(key="fa_step").set_value(5).run()
    assert not at.exception and at.markdown[0].value != first
    diff = {m.label: m.value for m in at.metric}["vs torch SDPA"]
    assert float(diff) < 1e-9
    at.select_slider(key="fa_d").set_value(64).run()
    at.select_slider(key="fa_m").set_value(16).run()
    assert any("must hold at least one row" in e.value for e in at.error)


def test_flash_attention_refuses_a_huge_stepper_but_keeps_the_charts(lab):
    at = lab("flash_attention", strict=True)
    at.select_slider(key="fa_d").set_value(4).run()
    at.select_slider(key="fa_m").set_value(16).run()
    at.select_slider(key="fa_n").set_value(256).run()
    assert any("too many to step through" in e.value for e in at.info) and not at.error
    assert len(at.get("plotly_chart")) >= 3  # the HBM traffic tabs still render


def test_roofline_custom_chip_moves_the_ridge(lab):
    at = lab("roofline", strict=True)
    at.selectbox(key="rf_hw").set_value("Custom").run()  # the option's id (ui.by_id)
    at.number_input(key="rf_bw_custom").set_value(100.0).run()  # 100 TFLOP/s over 100 GB/s
    assert not at.exception
    assert any("1000 FLOP/B" in c.value for c in at.caption)


def test_gemm_controls_never_error(lab):
    """Every control combination is a legal schedule (tails are guarded, inner factors shrink)."""
    at = lab("gemm_tiling", strict=True)
    for key, value in (("gt_size", 48), ("gt_unroll", 4), ("gt_vector", 8), ("gt_tile", 32), ("gt_tile", 4)):
        at.selectbox(key=key).set_value(value).run()
        assert not at.exception and not at.error, (key, value)
    assert any("vector width 4" in c.value for c in at.caption)  # tile 4 leaves room for 4 lanes


def test_conv_kind_label_is_in_the_page_language():
    """The URL keeps the kind's id (ui.by_id), so its label is drawn in the page's language only."""
    labels = {}
    for code in ("en", "zh"):
        at = AppTest.from_file(str(ROOT / "labs" / "conv_algorithms.py"), default_timeout=120)
        at.query_params["lang"] = code
        at.run()
        labels[code] = list(at.selectbox(key="ca_kind").options)
    assert labels["en"] == ["standard", "depthwise", "pointwise", "grouped"]
    assert labels["zh"] == ["普通卷积", "深度卷积 (groups = C)", "逐点卷积 (1×1)", "分组卷积 (2 groups)"]


def test_layout_for_another_rank_falls_back_to_row_major(lab):
    at = lab("layout_explorer", strict=True)
    at.text_input(key="le_shape").set_value("2,3").run()
    at.selectbox(key="le_layout").set_value("NHWC").run()
    assert not at.exception and not at.error
    assert any("row-major instead" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 3  # the address walk still draws (after your graph's layouts)
