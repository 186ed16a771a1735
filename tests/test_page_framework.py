"""AppTests for the framework-core labs: autodiff, dynamic_static, scheduling."""

from __future__ import annotations

import pytest


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_autodiff_page_steps_and_switches_mode(lab):
    at = lab("autodiff", run=False, ad_preset="autodiff_example")  # the lab's own example, not your graph
    at.run()
    assert not at.exception
    assert _metrics(at)["Manual / symbolic"] == "5.5"  # d f / d x1 at (2, 5)
    first = at.info[0].value
    at.slider(key="ad_step").set_value(7).run()
    assert not at.exception and at.info[0].value != first
    assert "11.65" in at.info[0].value  # the survey's v5 = 11.652
    at.radio(key="ad_mode").set_value("reverse").run()
    assert not at.exception
    at.slider(key="ad_step").set_value(13).run()  # 7 forward + seed + 5 backward steps
    assert not at.exception
    assert "x1_bar += v1_bar" in at.info[0].value  # the last fan-out accumulation


def test_autodiff_page_jacobian_sliders_change_the_counts(lab):
    at = lab("autodiff", run=False)
    at.run()
    at.slider(key="ad_n").set_value(20).run()
    assert not at.exception
    assert "n = 20 sweeps" in " ".join(c.value for c in at.caption)


def test_autodiff_page_reverse_on_a_vector_output_is_an_error(lab):
    at = lab("autodiff", run=False)
    at.run()
    at.selectbox(key="ad_preset").set_value("mlp").run()
    at.radio(key="ad_mode").set_value("reverse").run()
    assert not at.exception and not at.error  # sum(probs) by default
    at.toggle(key="ad_sum").set_value(False).run()
    assert not at.exception
    assert any("scalar" in e.value for e in at.error)


def test_autodiff_page_reads_a_graph_builder_program_link(lab):
    at = lab("autodiff", run=False)
    at.query_params["gb_program"] = "x = input(3.0)\ny = x * x\n"  # an old link: it becomes your graph
    at.run()
    assert not at.exception
    assert at.selectbox(key="ad_preset").value == "Your graph"
    assert "x is a source: value 3" in at.info[0].value
    assert not at.error


def test_scheduling_page_modes_and_bad_placement(lab):
    at = lab("scheduling", run=False)
    at.run()
    assert not at.exception
    graph_total = _metrics(at)["Total time"]
    at.radio(key="sc_mode").set_value("op_by_op").run()
    assert not at.exception and _metrics(at)["Total time"] != graph_total
    at.selectbox(key="sc_place").set_value("halves").run()
    assert any("two accelerators" in e.value for e in at.error)
    at.slider(key="sc_accels").set_value(2).run()
    assert not at.error and not at.exception


DS_TABS = {  # the dynamic vs static page's capture tabs (label → capture)
    "1. Eager autograd": "eager",
    "2. torch.fx symbolic trace": "fx",
    "3. torch.jit.trace": "jit",
    "4a. torch._dynamo": "dynamo",
    "4b. torch.export": "export",
}


def test_dynamic_static_page_draws_the_captures(lab):
    pytest.importorskip("torch")
    at = lab("dynamic_static", timeout=180, run=False)
    at.run()
    assert not at.exception

    def warnings_per_tab() -> dict[str, str]:
        """Each capture's tab opened in turn (only the open one is drawn): its warnings."""
        found = {}
        for tab, method in DS_TABS.items():
            at.session_state["ds_capture"] = tab
            at.run()
            assert not at.exception
            # this capture's graph only, if it has one (one that failed shows a warning instead)
            assert all(c.proto.id.endswith(f"fig_ds_{method}") for c in at.get("plotly_chart"))
            found[tab] = " ".join(w.value for w in at.warning)
        return found

    warnings = warnings_per_tab()
    assert "TraceError" in warnings["2. torch.fx symbolic trace"]  # fx on a data-dependent branch
    assert "TraceError" not in warnings["1. Eager autograd"]
    at.selectbox(key="ds_fn").set_value("mlp_layer").run()
    assert not any(warnings_per_tab().values())  # straight-line code: all captures work


def test_autodiff_page_shows_the_survey_badge_at_the_last_step(lab):
    at = lab("autodiff", run=False, ad_preset="autodiff_example")
    at.run()
    at.slider(key="ad_step").set_value(7).run()
    assert any("Table 2" in s.value and "5.500" in s.value for s in at.success)
    at.radio(key="ad_mode").set_value("reverse").run()
    at.slider(key="ad_step").set_value(13).run()
    assert any("Table 3" in s.value and "1.716" in s.value for s in at.success)


@pytest.mark.parametrize(
    "page,kind,key",
    [
        ("autodiff", "radio", "ad_mode"),
        ("autodiff", "selectbox", "ad_preset"),
    ],
)
def test_bound_choices_show_their_labels_in_the_page_language(page, kind, key, lab):
    """A bound radio/selectbox keeps its option's id in the URL (ui.by_id), so a share link survives a
    language switch while the label is drawn in the page's language only (no "English · 中文" pair)."""
    labels = {}
    for code in ("en", "zh"):
        at = lab(page, run=False)
        at.query_params["lang"] = code
        at.run()
        assert not at.exception
        labels[code] = list(getattr(at, kind)(key=key).options)
    assert len(labels["en"]) == len(labels["zh"]) and labels["en"][0] != labels["zh"][0]
    assert not any(ord(ch) > 0x3000 for label in labels["en"] for ch in label)
    assert any(ord(ch) > 0x3000 for ch in labels["zh"][0]) and not any(" · " in x for x in labels["zh"])


def test_pages_speak_chinese_in_figures_and_step_logs(lab):
    at = lab("scheduling", run=False)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert any("就绪队列" in i.value for i in at.info)  # the scheduler's step log
    at = lab("autodiff", run=False)
    at.query_params["lang"] = "zh"
    at.run()
    assert any("源节点" in i.value for i in at.info)
