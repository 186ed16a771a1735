"""AppTest of the lightweight-models lab: default render, interactions, bad input."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_lightweight_page():
    at = AppTest.from_file(str(ROOT / "labs" / "lightweight_models.py"), default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    m = _metrics(at)
    assert m["Parameters"] == "4.23 M" and m["MACs"] == "569 M"  # MobileNetV1 1.0-224
    assert len(at.get("plotly_chart")) >= 6
    block_macs = m["engine MACs"]

    # the checkpoint's answer is the engine's 1 / (1/256 + 1/9) = 8.69
    at.number_input(key="lw_ckpt_g").set_value(8.7)
    at.button[0].click().run()
    assert any("8.69" in s.value for s in at.success)

    at.selectbox(key="lw_net").set_value("MobileNetV2").run()
    assert not at.exception
    assert _metrics(at)["MACs"] == "301 M"

    at.select_slider(key="lw_alpha").set_value(0.5).run()
    assert _metrics(at)["Parameters"] == "1.97 M"  # TF-slim table: 1.95 M + BN

    at.selectbox(key="lw_block").set_value("standard").run()  # the option's id (ui.by_id)
    assert not at.exception
    assert _metrics(at)["engine MACs"] != block_macs

    # bad input: α on a network whose paper does not define it -> an error, page still renders
    at.selectbox(key="lw_net").set_value("EfficientNet-B0").run()
    assert any("separate models" in e.value for e in at.error)
    assert not at.exception and len(at.get("plotly_chart")) >= 4


def test_lightweight_page_in_chinese():
    at = AppTest.from_file(str(ROOT / "labs" / "lightweight_models.py"), default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["参数量"] == "4.23 M"
    assert any("模块实验台" in h.value for h in at.subheader)
