"""AppTests of the three distributed-depth labs (FSDP, device mapping, strategy propagation): each page
renders in English and Chinese, its controls change the results, and bad input shows as an error."""

from __future__ import annotations

import re

import pytest
from apptables import tables

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", ["fsdp", "device_mapping", "strategy_propagation"])
def test_page_renders_in_both_languages(lab, page, lang):
    at = lab(page, strict=True, lang=lang)
    assert at.metric and at.success
    if lang == "zh":
        assert CJK.search(at.title[0].value)
        assert any(CJK.search(m.label) for m in at.metric)


def test_fsdp_prefetch_stepper_and_errors(lab):
    at = lab("fsdp", strict=True)
    assert "✓" in at.success[0].value  # simulated peak = ZeRO-3 closed form + gathered units
    peak, step = at.metric[1].value, at.metric[3].value
    at.toggle(key="fs_fwd").set_value(True).run()
    at.toggle(key="fs_bwd").set_value(False).run()
    assert not at.exception and at.metric[3].value != step
    at.selectbox(key="fs_policy").set_value("none").run()
    assert at.metric[1].value != peak and "✓" in at.success[0].value
    code = at.code[0].value
    at.slider(key="fs_step").set_value(2).run()
    assert not at.exception and at.code[0].value != code
    at.select_slider(key="fs_heads").set_value(25).run()
    assert any("not divisible" in e.value for e in at.error)


def test_fsdp_offload_empties_the_gpu_of_shards(lab):
    at = lab("fsdp", fs_offload="true")
    assert not at.exception and "0.000 GiB" in at.success[0].value


def test_device_mapping_order_and_bandwidth_change_the_estimate(lab):
    at = lab("device_mapping", strict=True)
    assert "tp-dp-pp" in at.success[0].value
    step = at.metric[0].value
    at.selectbox(key="dmap_order").set_value("dp-pp-tp").run()
    assert not at.exception and at.metric[0].value != step
    crossing = tables(at)[0].iloc[0, 3]
    assert crossing > 0  # TP groups now leave the node
    at.number_input(key="dmap_ib").set_value(1600.0).run()
    assert not at.exception and at.metric[0].value != step
    at.select_slider(key="dmap_gpn").set_value(2).run()
    at.select_slider(key="dmap_tp").set_value(16).run()
    at.select_slider(key="dmap_nodes").set_value(1).run()
    assert any("does not divide" in e.value for e in at.error)


def test_device_mapping_in_chinese_names_the_groups(lab):
    at = lab("device_mapping", lang="zh", dmap_order="pp-dp-tp")
    assert not at.exception and CJK.search(tables(at)[0].iloc[0, 0])


def test_strategy_propagation_layouts_and_stepper(lab):
    at = lab("strategy_propagation", strict=True)
    assert "✓" in at.success[0].value
    cost, memory = at.metric[0].value, at.metric[2].value
    at.selectbox(key="sp_leaf0").set_value("(-1, 0)").run()  # X by columns: K is cut, partial sums
    assert not at.exception and at.metric[0].value != cost and "✓" in at.success[0].value
    at.selectbox(key="sp_leaf1").set_value("(-1, -1)").run()  # W1 replicated: more bytes per device
    assert at.metric[2].value != memory and "✓" in at.success[0].value
    at.slider(key="sp_step").set_value(3).run()  # the output: its partial sums reduced
    assert any(
        "ReduceScatter" in str(d.value.to_dict()) or "AllReduce" in str(d.value.to_dict())
        for d in at.dataframe
    )
    at.selectbox(key="sp_preset").set_value("scores").run()
    at.select_slider(key="sp_d0").set_value(4).run()
    assert not at.exception and "✓" in at.success[0].value
