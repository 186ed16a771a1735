"""AppTests of the five distributed-training pages: smoke, one interaction, one bad input."""

from __future__ import annotations


def test_dist_memory(lab):
    at = lab("dist_memory", strict=True)
    before = at.dataframe[0].value.to_dict()
    at.select_slider(key="dm_dp").set_value(8).run()
    assert not at.exception and at.dataframe[0].value.to_dict() != before
    # the ZeRO Figure 1 table is reproduced on the page
    fig1 = at.dataframe[1].value
    assert list(fig1["paper (GB)"]) == [120.0, 31.4, 16.6, 1.9]
    assert all(abs(a - b) < 0.05 for a, b in zip(fig1["engine (GB)"], fig1["paper (GB)"]))
    at.select_slider(key="dm_tp").set_value(3).run()
    assert any("divide" in e.value for e in at.error)


def test_collectives(lab):
    at = lab("collectives", strict=True)
    first = [c.value for c in at.caption]
    at.slider(key="co_step").set_value(3).run()
    assert not at.exception and [c.value for c in at.caption] != first
    at.slider(key="co_step").set_value(7).run()  # last step of the ring on 4 devices
    assert any("data.sum(axis=0)" in s.value for s in at.success)
    at.slider(key="co_len").set_value(2).run()
    assert any("one element per device" in e.value for e in at.error)


def test_tensor_parallel(lab):
    at = lab("tensor_parallel", strict=True)
    text = [m.value for m in at.markdown]
    at.select_slider(key="tp_n").set_value(4).run()
    assert not at.exception and not at.error and [m.value for m in at.markdown] != text
    at.select_slider(key="tp_n").set_value(3).run()
    assert any("not divisible by 3" in e.value for e in at.error)


def test_pipeline_parallel(lab):
    at = lab("pipeline_parallel", strict=True)
    assert at.metric[0].value == at.metric[1].value == f"{100 * 3 / 11:.2f} %"
    assert any("matches the formula" in s.value for s in at.success)
    held = at.dataframe[0].value.to_dict()
    at.slider(key="pp_step").set_value(10).run()
    assert not at.exception and at.dataframe[0].value.to_dict() != held
    at.radio(key="pp_schedule").set_value("interleaved").run()
    assert at.metric[0].value == at.metric[1].value == f"{100 * 3 / 19:.2f} %"
    at.slider(key="pp_m").set_value(6).run()
    assert any("multiple of 4" in e.value for e in at.error)


def test_parallel_3d_and_real_run(lab):
    at = lab("parallel_3d", strict=True)
    mem = at.metric[0].value
    at.select_slider(key="p3_tp").set_value(8).run()
    assert not at.exception and at.metric[0].value != mem
    at.button(key="p3_run").click().run()
    assert not at.exception
    assert any("every result equals the simulation" in m.value for m in at.success)
    at.select_slider(key="p3_pp").set_value(32).run()
    assert any("does not divide" in e.value for e in at.error)
