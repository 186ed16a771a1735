"""AppTest of the lightweight model zoo lab: default render, interactions, Chinese, bad input."""

from __future__ import annotations


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_zoo_page_default_and_interactions(lab):
    at = lab("lightweight_zoo", timeout=300, strict=True)
    m = _metrics(at)
    assert m["Parameters"] == "3.77 M" and m["MACs @ paper resolution"] == "186 M"  # MNv4-Conv-S
    assert len(at.get("plotly_chart")) >= 6
    # ShuffleNet V1, g = 8: the channels widen, the MACs stay at Table 1's ~137 M
    at.selectbox(key="lz_family").set_value("ShuffleNetV1").run()
    at.select_slider(key="lz_g").set_value(8).run()
    assert not at.exception and not at.error
    assert _metrics(at)["Parameters"] == "2.43 M" and _metrics(at)["MACs @ paper resolution"] == "138 M"
    # EfficientNet-B7: counted at 600x600 from shapes, no graph (over the element budget)
    at.selectbox(key="lz_family").set_value("EfficientNet").run()
    at.selectbox(key="lz_net_EfficientNet").set_value("EfficientNet-B7").run()
    assert not at.exception and _metrics(at)["Parameters"] == "66.35 M"
    assert any("too large to build" in i.value for i in at.info)
    # compound scaling checkpoint: α·β²·γ² = 1.92
    at.slider(key="lz_phi").set_value(3.0).run()
    at.number_input(key="lz_ckpt_g").set_value(1.92)
    at.button[0].click().run()
    assert any("1.92" in s.value for s in at.success)


def test_zoo_page_measures_the_guidelines(lab):
    at = lab("lightweight_zoo", timeout=300, run=False)
    at.query_params["lz_measure"] = "true"
    at.run()
    assert not at.exception and not at.error
    keys = " ".join(str(c.proto.id) for c in at.get("plotly_chart"))
    assert len(at.get("plotly_chart")) >= 9, keys


def test_zoo_page_in_chinese_and_bad_input(lab):
    at = lab("lightweight_zoo", timeout=300, lang="zh")
    assert not at.error
    assert _metrics(at)["参数量"] == "3.77 M"
    assert any("复合缩放" in h.value for h in at.subheader)
    # a resolution MobileViT v2 cannot take (2x2 patches on the 1/32 map): a clear message, no traceback
    at2 = lab("lightweight_zoo", timeout=300, lz_family="MobileViTv2")
    at2.number_input(key="lz_res_256").set_value(96).run()
    assert not at2.exception
    assert any("divisible by 64" in e.value for e in at2.error)
