"""Honest checkpoints (issue 14): nothing on the page gives a checkpoint's answer away before the
student commits (a checked guess, or "Reveal the answer"), and everything it held back shows after.

The answers are the engine's own (fusion's kernel groups, the serving model's knee, the continuous
batching gain of the page's own sweep, the KV bytes of Llama-2-70B), not numbers written here. Every
"before" check is repeated "after", where it must flip: the checks can see the answer when it is there.
"""

from __future__ import annotations

import json
import re

import pytest
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest

import engine
from engine.compiler.passes.fusion import analyse
from engine.inference import kv_cache as kv
from engine.inference import llm_serving as llm
from tests.test_page_compiler import TVM_CONV2D_FUSE  # TVM's own test, as the fusion page's example
from ui import workspace as ws

REVEAL = "Reveal the answer"


# ---- what the page shows -----------------------------------------------------------------------------


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def _charts(at) -> dict[str, dict]:
    """Every plotly chart's spec, by the figure key ui.show_figure gave it (``fig_<key>``)."""
    return {
        c.proto.id.rpartition("-fig_")[2] if "-fig_" in c.proto.id else c.proto.id: json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
    }


def _everything(at) -> str:
    """All the text the page sends: every element's proto (UTF-8), figures as JSON, tables as CSV."""
    parts = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if getattr(node, "type", "") == "plotly_chart":
            parts.append(json.dumps(json.loads(proto.spec), ensure_ascii=False))
        else:
            parts.append(text_format.MessageToString(proto, as_utf8=True))
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _download_ids(at) -> list[str]:
    return [d.proto.id for d in at.get("download_button")]


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


# ---- the component -----------------------------------------------------------------------------------


def _page():
    import streamlit as st

    from ui.checkpoint import HIDDEN, checkpoint, masked, masked_rows, reveal

    st.metric("answer above", masked("k", 42))  # drawn before the checkpoint: needs the rerun
    st.metric("not the answer", masked("k", 7, when=False))
    reveal("k", st.markdown, "held back: 42")
    st.text(f"kernel #{HIDDEN + 1}")  # as a figure builder formats "kernel #{k}"
    st.dataframe(masked_rows("k", [{"x": 1, "why": "42"}], "why"))
    result = checkpoint("k", "What is it?", 42, "because")
    st.text(f"result={result}")


def test_component_hides_until_a_guess_is_checked_and_shows_above_in_the_same_click():
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception
    assert _metrics(at) == {"answer above": "?", "not the answer": "7"}
    assert not any("held back" in m.value for m in at.markdown)
    assert any("Hidden until the checkpoint" in c.value for c in at.caption)
    assert at.text[0].value == "kernel #?" and at.text[-1].value == "result=None"
    assert list(at.dataframe[0].value.columns) == ["x"]
    # Check without a guess: a clear message, still nothing shown
    _button(at, "Check").click().run()
    assert not at.exception and at.warning and _metrics(at)["answer above"] == "?"
    assert at.text[-1].value == "result=None"
    # a wrong guess commits: one click shows the metric above, the held-back text and the table
    at.number_input(key="k_g").set_value(30)
    _button(at, "Check").click().run()
    assert not at.exception
    assert _metrics(at)["answer above"] == "42"
    assert any(m.value == "held back: 42" for m in at.markdown)
    assert list(at.dataframe[0].value.columns) == ["x", "why"]
    assert "the answer is 42" in at.error[0].value and at.text[-1].value == "result=False"
    assert REVEAL not in [b.label for b in at.button]  # committed: nothing left to reveal
    # a right guess later is graded as such (the return value keeps the existing contract)
    at.number_input(key="k_g").set_value(42)
    _button(at, "Check").click().run()
    assert at.success and at.text[-1].value == "result=True"


def test_component_reveal_button_commits_without_a_guess():
    at = AppTest.from_function(_page, default_timeout=60).run()
    _button(at, REVEAL).click().run()
    assert not at.exception and not at.warning
    assert _metrics(at)["answer above"] == "42"
    assert [i.value for i in at.info] == ["The answer is 42."]
    assert not at.success and not at.error and at.text[-1].value == "result=False"


# ---- fusion ------------------------------------------------------------------------------------------


def _fusion_hidden(at, groups) -> dict[str, bool]:
    """Each way the fusion page could tell the kernel count: True where it tells it now."""
    text, charts = _everything(at), _charts(at)
    return {
        "kernels metric": _metrics(at)["kernels after fusion"] == str(len(groups)),
        "largest metric": _metrics(at)["largest kernel (ops)"] == str(max(map(len, groups))),
        "shaded kernels": bool(charts["fu_groups"]["layout"].get("shapes")),
        "kernel # in hover": re.search(r"kernel #\d", text) is not None,
        "kernel table": any("kernel" in d.value.columns for d in at.dataframe),
        "fusion log": any(e.label == "Every fusion decision, in order" for e in at.expander),
        "groups JSON": any(i.endswith("dl_fu_groups_json") for i in _download_ids(at)),
    }


def _fusion_oracle():
    graph = ws.graph_of(ws.parse_g(TVM_CONV2D_FUSE))[0]
    return analyse(graph).groups


@pytest.mark.parametrize("commit", ["wrong guess", "reveal in presenter mode"])
def test_fusion_shows_no_kernel_count_until_the_student_commits(lab, commit):
    groups = _fusion_oracle()
    query = {"g": TVM_CONV2D_FUSE} | ({"present": "1"} if commit != "wrong guess" else {})
    at = lab("fusion", **query)
    assert _metrics(at)["ops"] == str(sum(map(len, groups)))  # the question's own number stays
    before = _fusion_hidden(at, groups)
    assert not any(before.values()), before
    if commit == "wrong guess":
        at.number_input(key=next(n.key for n in at.number_input if n.key.endswith("_g"))).set_value(
            len(groups) + 1
        )
        _button(at, "Check").click().run()
        assert f"the answer is {len(groups)}" in at.error[0].value
    else:
        _button(at, REVEAL).click().run()  # the instructor reveals for the class
        assert [i.value for i in at.info] == [f"The answer is {len(groups)}."]
    assert not at.exception
    after = _fusion_hidden(at, groups)
    assert all(after.values()), after
    fused = [g for g in groups if len(g) > 1]
    assert len(_charts(at)["fu_groups"]["layout"]["shapes"]) == len(fused)
    table = next(d.value for d in at.dataframe if "kernel" in d.value.columns)
    assert len(table) == len(groups) and list(table["ops"]) == [" + ".join(g) for g in groups]


# ---- serving -----------------------------------------------------------------------------------------


def _knee_told(at, knee: float) -> dict[str, bool]:
    text = _everything(at)
    return {
        "label on the chart": "knee ≈" in text,
        "caption": f"≈{knee:.0f})" in text,
        "metric": _metrics(at)["Knee (batch size)"] == f"{knee:,.1f}",
    }


@pytest.mark.parametrize("served", ["graph", "llm"])
def test_serving_knee_is_not_labelled_before_the_prediction(lab, served):
    at = lab("serving")
    if served == "graph":  # the mlp preset with weights only has its knee inside the chart
        at.toggle(key="sv_acts").set_value(False).run()
        model = engine.model_from_graph(
            engine.preset("mlp"),
            at.selectbox(key="sv_hw").value,
            at.selectbox(key="sv_dtype").value,
            0.2e-3,
            False,
        )
    else:
        at.selectbox(key="sv_served").set_value("llm").run()
        from engine.inference import serving as sv

        hw = engine.hardware_presets()[at.selectbox(key="sv_hw").value]
        model = sv.ServiceModel(
            1e9, at.selectbox(key="sv_dtype").value, hw.peak_flops, hw.bandwidth, 16, overhead=0.2e-3
        )
    assert not at.exception and not at.error
    knee = model.knee
    assert 1 <= knee < 64
    before = _knee_told(at, knee)
    assert not any(before.values()), before
    assert _metrics(at)["Knee (batch size)"] == "?"
    assert "Where is the knee?" in _everything(at)
    at.number_input(key="sv_knee_g").set_value(round(knee, 1))
    _button(at, "Check").click().run()
    assert not at.exception and f"{round(knee, 1):,.6g}" in at.success[0].value
    after = _knee_told(at, knee)
    assert all(after.values()), after
    assert f"knee ≈ {knee:.0f}" in _charts(at)["sv_cost"]["data"][-1]["name"]


def test_serving_continuous_batching_gain_is_not_readable_before_the_prediction(lab):
    at = lab("serving")
    at.radio(key="sv_part").set_value("llm").run()
    assert not at.exception and not at.error
    # the oracle: the page's own sweep, recomputed from the engine with the page's widget values
    hw = engine.hardware_presets()[at.selectbox(key="sv_hw").value]
    cfg = kv.model_configs()[at.selectbox(key="sv_model").value]
    prompt, out = int(at.number_input(key="sv_prompt").value), int(at.number_input(key="sv_out").value)
    batch, dist = at.slider(key="sv_seqs").value, at.selectbox(key="sv_dist").value
    model = llm.model_for(
        cfg,
        at.selectbox(key="sv_dtype").value,
        hw.peak_flops,
        hw.bandwidth,
        0.2e-3,
        kv.CARD_MEMORY_GIB[at.selectbox(key="sv_hw").value] * kv.GIB,
    )
    rates = llm.sweep_rates(model, batch, prompt, out)
    rows = llm.llm_sweep(model, rates, 300, prompt, out, dist, batch)
    gain = round(llm.continuous_gain(rows), 2)
    assert gain > 1

    def tokens_shown() -> bool:
        return (
            "tokens_per_s" in _everything(at)
            or any("tokens/s" in d.value.columns for d in at.dataframe)
            or any("Throughput" in c["layout"]["title"]["text"] for c in _charts(at).values())
        )

    assert not tokens_shown()
    _button(at, REVEAL).click().run()
    assert not at.exception
    assert [i.value for i in at.info] == [f"The answer is {gain:,.6g}."]
    assert tokens_shown()
    table = next(d.value for d in at.dataframe if "tokens/s" in d.value.columns)
    top = table[table["rate (req/s)"] == table["rate (req/s)"].max()].set_index("policy")
    assert top.loc["continuous", "tokens/s"] / top.loc["static", "tokens/s"] == pytest.approx(gain, abs=0.01)


def test_serving_kv_bytes_of_llama_70b_are_not_stated_before_the_prediction(lab):
    at = lab("serving")
    at.radio(key="sv_part").set_value("kv").run()
    at.selectbox(key="sv_dtype").set_value("int8").run()  # 69 B int8 weights fit the 80 GB card
    at.selectbox(key="sv_model").set_value("Llama-2-70B").run()
    assert not at.exception and not at.error
    c = kv.model_configs()["Llama-2-70B"]
    kib = kv.kv_bytes_per_token(c.layers, c.kv_heads, c.head_dim) / 1024
    assert _metrics(at)["KV bytes per token"] == "?"
    # another model's bytes per token are not the answer: shown as always
    at.selectbox(key="sv_model").set_value("Mistral-7B").run()
    assert _metrics(at)["KV bytes per token"] == "128 KiB"
    at.selectbox(key="sv_model").set_value("Llama-2-70B").run()
    at.number_input(key="sv_gqa_g").set_value(kib)
    _button(at, "Check").click().run()
    assert not at.exception and at.success
    assert _metrics(at)["KV bytes per token"] == f"{kib:,.0f} KiB"
