"""AppTest for labs/control_flow.py: six inputs through eager Python, the converted graph and the trace;
the converted cond/while_loop code; torch's four captures; the tape and the derivative program; a
refused conversion, Chinese, and a broken function shown as a message."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_default_function_through_every_lens(lab):
    at = lab("control_flow", timeout=300, strict=True)
    assert any("cond(pred_" in c.value for c in at.code)
    assert "TraceError" not in " ".join(w.value for w in at.warning)  # only the open tab is drawn
    at.session_state["cf_capture"] = "2. torch.fx symbolic trace"  # a click on its tab
    at.run()
    assert "TraceError" in " ".join(w.value for w in at.warning)  # fx on a branch on data
    rows = at.dataframe[0].value
    assert len(rows) == 6 and set(rows["converted graph"]) == set(rows["eager"])
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["largest difference between the two gradients"]) == 0.0


def test_another_example_and_another_input(lab):
    at = lab("control_flow", timeout=300)
    at.selectbox(key="cf_example").set_value("loop_until").run()
    assert not at.exception and "while_loop(" in " ".join(c.value for c in at.code)
    before = {m.label: m.value for m in at.metric}["tape entries (operator overloading)"]
    at.select_slider(key="cf_input").set_value(2).run()  # the x0.2 input loops twice
    after = {m.label: m.value for m in at.metric}["tape entries (operator overloading)"]
    assert int(after) == int(before) + 6


def test_a_refused_conversion_and_a_broken_function_are_messages(lab):
    at = lab("control_flow", timeout=300)
    at.selectbox(key="cf_example").set_value("one_branch_mistake").run()
    assert not at.exception
    assert any("assigned only in one branch" in e.value for e in at.error)
    at.text_area(key="cf_code").input("def f(x):\n    for i in x:\n        x = x\n    return x\n").run()
    assert not at.exception and any("for loops (use while)" in e.value for e in at.error)


def test_the_page_speaks_chinese(lab):
    at = lab("control_flow", timeout=300, lang="zh")
    assert CJK.search(at.title[0].value)
    assert any(CJK.search(s.value) for s in at.subheader)
    labels = list(at.selectbox(key="cf_example").options)
    assert any(CJK.search(label) for label in labels)


def test_dynamo_compiles_only_when_its_tab_is_open(lab, monkeypatch):
    from engine.framework import control_flow_capture as capture

    calls = []
    real = capture.dynamo_capture
    monkeypatch.setattr(capture, "dynamo_capture", lambda *a: calls.append(a) or real(*a))
    at = lab("control_flow", timeout=300, cf_seed="4321")  # a seed no other test caches
    assert not at.exception and calls == []  # the eager tab is open: no compile
    at.session_state["cf_capture"] = "4a. torch._dynamo (torch.compile)"
    at.run()
    assert not at.exception and len(calls) == 1
    assert any("graph break" in m.value for m in at.markdown)  # the dynamo lens's own summary
