"""AppTests of the DP vs DDP vs parameter-server lab: it renders in English and Chinese, its controls
change the results, the timeline steps, bad input shows as an error, and the real RPC run reports."""

from __future__ import annotations

import re

import pytest

CJK = re.compile(r"[\u4e00-\u9fff]")
PAGE = "data_parallel_designs"


def _ms(at) -> list[float]:
    return [float(m.value.split()[0]) for m in at.metric]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_renders_in_both_languages(lab, lang):
    at = lab(PAGE, strict=True, lang=lang)
    assert len(at.metric) == 3 and "✓" in at.success[0].value
    if lang == "zh":
        assert CJK.search(at.title[0].value) and all(CJK.search(m.label) for m in at.metric)
        assert CJK.search(at.dataframe[0].value.iloc[0, 2])  # "sent" / "received" translated


def test_controls_change_the_step_times(lab):
    at = lab(PAGE, strict=True)
    dp, ddp, ps = _ms(at)
    at.slider(key="dpd_n").set_value(12).run()
    dp12, ddp12, ps12 = _ms(at)
    assert dp12 > 2 * dp and ps12 > 2 * ps and ddp12 < 1.2 * ddp  # GPU 0 and the server bottleneck
    at.slider(key="dpd_shards").set_value(4).run()
    assert _ms(at)[2] < ps12 and "✓" in at.success[0].value
    at.select_slider(key="dpd_gpu_bw").set_value(300.0).run()
    assert _ms(at)[0] < dp12
    at.select_slider(key="dpd_straggler").set_value(3.0).run()
    sync = _ms(at)[2]
    at.radio(key="dpd_mode").set_value("async").run()
    assert not at.exception and _ms(at)[2] < sync


def _moment(at) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Running now"))


def test_the_timeline_steps_and_switches_design(lab):
    at = lab(PAGE, strict=True)
    first = _moment(at)
    assert "0.0 MB sent" in first  # nothing has arrived at t = 0
    at.slider(key="dpd_step").set_value(12).run()
    assert not at.exception and _moment(at) != first and "GPU 0" in _moment(at)
    at.radio(key="dpd_design").set_value("ps").run()
    at.slider(key="dpd_step").set_value(23).run()
    assert not at.exception and "PS 0" in _moment(at)  # at the end the server shard has moved the most


def test_real_rpc_run_from_the_page(lab):
    at = lab(PAGE, dpd_rpc_steps="2")
    at.button(key="dpd_rpc_run").click().run(timeout=120)
    assert not at.exception
    if at.error:
        assert "torch.distributed.rpc is not available" in at.error[0].value
        pytest.skip(at.error[0].value)
    assert any("After 2 steps" in s.value and "✓" in s.value for s in at.success)
    trace = at.dataframe[-1].value
    assert set(trace.iloc[:, 1]) == {"worker", "ps"}
