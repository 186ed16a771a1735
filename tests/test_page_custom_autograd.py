"""AppTest for labs/custom_autograd.py: the checker's verdict, torch's view, the op on the tape, the
classic mistakes picked from the menu or typed, Chinese, and a broken program shown as a message."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_default_op_passes_every_check(lab):
    at = lab("custom_autograd", timeout=240, strict=True)
    assert "matches central differences" in _texts(at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["torch.autograd.gradcheck"] == "passes"
    assert float(metrics["model gradient: tape vs central differences"]) < 1e-6
    assert not any("MyOp(torch.autograd.Function)" in c.value for c in at.code)  # folded: not written
    at.session_state["ca_torch_box"] = True  # a click on "The same op written for PyTorch"
    at.run()
    assert any("MyOp(torch.autograd.Function)" in c.value for c in at.code)


def test_picking_a_mistake_loads_its_code_and_names_it(lab):
    at = lab("custom_autograd", timeout=240)
    at.selectbox(key="ca_example").set_value("mistake_no_grad").run()
    assert not at.exception
    assert "return s + x * s * (1 - s)" in at.text_area(key="ca_code").value
    assert "never uses grad" in _texts(at.error)
    assert any("grad = 1 would have passed" in c.value for c in at.caption)
    at.selectbox(key="ca_example").set_value("mistake_scalar").run()
    assert "invalid gradient" in _texts(at.warning)  # torch's own refusal, as the student would see it


def test_a_typed_program_is_checked_and_a_broken_one_is_a_message(lab):
    at = lab("custom_autograd", timeout=240)
    sign = (
        "def forward(x: [4, 3]):\n    y = tanh(x)\n    save(y)\n    return y\n\n"
        "def backward(grad):\n    return grad * (y * y - 1)\n"
    )
    at.text_area(key="ca_code").input(sign).run()
    assert not at.exception and "sign error" in _texts(at.error)
    at.text_area(key="ca_code").input("def forward(x):\n    return x.sum()\n").run()
    assert not at.exception
    assert any("attribute access" in e.value for e in at.error)


def test_the_page_speaks_chinese(lab):
    at = lab("custom_autograd", timeout=240, lang="zh")
    assert CJK.search(_texts(at.success)) and CJK.search(at.title[0].value)
    labels = list(at.selectbox(key="ca_example").options)  # the page's language only (the URL keeps ids)
    english = list(lab("custom_autograd", timeout=240).selectbox(key="ca_example").options)
    assert any(CJK.search(label) for label in labels) and not any(CJK.search(label) for label in english)
