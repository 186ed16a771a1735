"""The house: navigation, catalog, language, presenter mode, page toolkit, container lint."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.catalog import LABS, SECTIONS

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "labs"


def test_every_catalog_page_exists_and_every_page_is_catalogued():
    listed = {lab.page for lab in LABS}
    files = {p.stem for p in PAGES.glob("*.py")}
    assert listed - files == set(), f"catalogued but missing: {sorted(listed - files)}"
    assert files - listed == set(), f"page files not in the catalog: {sorted(files - listed)}"
    assert {lab.section for lab in LABS} == set(SECTIONS)


def test_every_page_has_bilingual_lesson_content_with_sources():
    for lab in LABS:
        for lang, word in (("en", "Sources"), ("zh", "参考")):
            path = ROOT / "content" / lang / f"{lab.page}.md"
            assert path.exists(), f"missing lesson {path.relative_to(ROOT)}"
            text = path.read_text(encoding="utf-8")
            assert word in text, f"{path.relative_to(ROOT)} has no sources footer"
            if lang == "zh":
                assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) > 100, f"{path} is not Chinese"


def test_pages_stay_thin_and_layers_are_respected():
    for page in PAGES.glob("*.py"):
        lines = page.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= 180, f"{page.name} has {len(lines)} lines; move logic to engine/ or viz/"
    forbidden = {"engine": {"streamlit", "plotly", "ui", "viz"}, "viz": {"streamlit", "ui"}}
    for layer, banned in forbidden.items():
        for path in (ROOT / layer).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    assert name.split(".")[0] not in banned, f"{path.relative_to(ROOT)} imports {name}"


def test_engine_imports_no_torch_at_module_level():
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; lazy imports inside functions are fine
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for mod in mods:
                    assert mod.split(".")[0] not in {"torch", "onnx", "onnxruntime"}, (
                        f"{path.relative_to(ROOT)} imports {mod} at module level"
                    )


def test_no_eval_or_exec_anywhere():
    for layer in ("engine", "viz", "ui", "labs"):
        for path in (ROOT / layer).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id not in {"eval", "exec", "compile"}, (
                        f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}()"
                    )


def _app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def test_app_starts_on_home_in_english():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "AI System Lab"


def test_language_comes_from_the_link():
    at = _app(lang="zh")
    assert not at.exception
    assert at.title[0].value == "AI 系统实验室"


def test_language_picker_switches_and_persists_in_url():
    at = _app()
    at.radio(key="ui_lang_picker").set_value("zh").run()
    assert not at.exception
    assert at.title[0].value == "AI 系统实验室"
    assert at.query_params.get("lang") in ("zh", ["zh"])


def test_presenter_mode_flag_renders():
    at = _app(present="1", controls="0")
    assert not at.exception
    html = " ".join(str(h.proto) for h in at.get("html"))
    assert "font-size: 22px" in html and "st-key-controls" in html


def test_dockerfile_passes_hadolint():
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    exe = str(hadolint) if hadolint.exists() else "hadolint"
    result = subprocess.run(
        [exe, str(ROOT / "Dockerfile")], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in text and "HEALTHCHECK" in text and "torch==2.13.0" in text
    assert "\nUSER " in text and "8501" in text


def test_requirements_pin_torch_exactly():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in lines


@pytest.mark.parametrize("code", ["en", "zh"])
def test_ui_translation_helper(code):
    at = AppTest.from_string(
        "import ui\nimport streamlit as st\nst.session_state['app_lang'] = "
        f"{code!r}\nst.write(ui.t('Model'))\nst.write(ui.t('{{n}} of {{n_labs}} labs open', n=3, n_labs=9))"
    )
    at.run()
    assert [m.value for m in at.markdown] == (
        ["模型", "已开放 3 / 9 个实验"] if code == "zh" else ["Model", "3 of 9 labs open"]
    )
