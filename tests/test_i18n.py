"""One way to translate (ui/i18n.py): every string the app shows is English at its source and has a
catalog entry in ui/locales/zh/; the engine speaks English only."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from ui import i18n
from ui.catalog import LABS, SECTIONS

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCES = (
    sorted((ROOT / "labs").glob("*.py"))
    + sorted((ROOT / "ui").glob("*.py"))
    + [ROOT / "app.py"]
    + sorted((ROOT / "viz").glob("*.py"))
)
ZH = i18n.load_catalog("zh")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def _t_calls(path: Path):
    """(line, English literal, keyword names) of every t(...), t_(...), ui.t(...) call with a literal, and
    of every tr("...") a viz builder draws (keyword names from a ``.format(...)`` right after it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name in ("t", "t_", "tr") and isinstance(node.args[0], ast.Constant):
            yield node.lineno, node.args[0].value, {k.arg for k in node.keywords}
            for arg in node.args[1:]:
                if isinstance(arg, ast.Constant):  # t_(a if x else b) keeps both in args[0] only
                    yield node.lineno, arg.value, {k.arg for k in node.keywords}


def test_every_literal_the_labs_show_has_a_chinese_entry():
    missing = [
        f"{p.relative_to(ROOT)}:{line}: {en!r}"
        for p in SOURCES
        for line, en, _ in _t_calls(p)
        if en not in ZH.strings and CJK.search(en) is None
    ]
    assert missing == []


def test_placeholders_match_the_call_and_the_translation():
    bad = []
    for p in SOURCES:
        for line, en, kwargs in _t_calls(p):
            if kwargs and _fields(en) != kwargs:
                bad.append(
                    f"{p.relative_to(ROOT)}:{line}: template {sorted(_fields(en))} vs call {sorted(kwargs)}"
                )
    for table in (ZH.strings, ZH.messages):
        for en, zh in table.items():
            if not _fields(zh) <= _fields(en):  # Chinese may drop a plural-only value, never invent one
                bad.append(f"catalog {en!r}: {sorted(_fields(zh))} not within {sorted(_fields(en))}")
    assert bad == []


def test_curriculum_titles_pitches_and_sections_are_translated():
    words = [*SECTIONS.values(), *(lab.title for lab in LABS), *(lab.pitch for lab in LABS)]
    assert [w for w in words if w not in ZH.strings] == []


def test_engine_and_viz_speak_no_chinese():
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for layer in ("engine", "viz")
        for p in (ROOT / layer).rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if CJK.search(line)
    ]
    assert found == []


def test_labs_and_ui_write_english_only():
    """Chinese lives in ui/locales only; the language picker's own label and names are the exception."""
    allowed = {"ui/i18n.py", "ui/page.py"}
    files = [*(ROOT / "labs").glob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "app.py"]
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in files
        if str(p.relative_to(ROOT)) not in allowed
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if CJK.search(line)
    ]
    assert found == []


def test_a_translated_key_twice_is_refused(tmp_path):
    (tmp_path / "zz").mkdir()
    (tmp_path / "zz" / "a.toml").write_text('[strings]\n"Model" = "模型"\n', encoding="utf-8")
    (tmp_path / "zz" / "b.toml").write_text('[strings]\n"Model" = "模式"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="translated twice"):
        i18n.load_catalog("zz", tmp_path)


def test_message_templates_translate_engine_text_with_its_values():
    from engine.framework.scheduling import dispatch_steps
    from engine.inference import serving as sv

    trace = dispatch_steps("matmul", requires_grad=True, device="cpu")
    logs = [ZH.message(step.log) for step in trace.steps]
    assert logs[0] == "从 Python 调用 torch.matmul(a, b)（Python 函数只是一层薄薄的绑定）"
    assert "输入的分发键集合：{AutogradCPU, CPU}；优先级最高的键是 AutogradCPU" in logs[2]
    assert all(CJK.search(log) for log in logs)
    assert ZH.message(trace.title) == "torch.matmul(a, b) 在 cpu 上的分发路径"
    h100 = __import__("engine").hardware_presets()["H100 SXM"]
    model = sv.ServiceModel(7e9, "fp16", h100.peak_flops, h100.bandwidth)
    result = sv.simulate(model, 10.0, 64, "static", 8, seed=1)
    log = ZH.message(sv.batch_log(result, 0))
    assert log.startswith("第 0 批：") and "为何此时开始：" in log and not re.search(r"[A-Za-z]{4,}", log)


def test_unknown_text_falls_back_to_english():
    assert ZH.text("a string nobody catalogued") == "a string nobody catalogued"
    assert ZH.message("line 3: something new") == "line 3: something new"


@pytest.mark.parametrize("name", __import__("engine").preset_names())
def test_every_preset_description_is_translated(name):
    from engine.core.presets import preset_info

    assert CJK.search(ZH.text(preset_info(name)))
