"""Every page keeps the house contract, checked statically over labs/*.py:

* every stateful widget has a ``key`` and ``bind="query-params"`` (that is what makes a share link
  restore the exact view) — buttons, uploaders and download buttons cannot be bound and are exempt;
* widget keys are unique within a page;
* every page starts with ``ui.setup(<its own id>, ...)`` and shows its lesson with ``ui.lesson``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "labs").glob("*.py"))
BINDABLE = {
    "slider",
    "select_slider",
    "selectbox",
    "radio",
    "multiselect",
    "number_input",
    "text_input",
    "text_area",
    "checkbox",
    "toggle",
    "segmented_control",
    "pills",
    "color_picker",
    "date_input",
    "time_input",
}
# Widgets inside st.form are bound too; ui.checkpoint's guess input is deliberately not (a guess is
# not part of the shared view), and it lives in ui/, not in labs/.


def _widget_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BINDABLE:
            yield node


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_every_widget_is_keyed_and_bound_to_the_url(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems, keys = [], []
    for call in _widget_calls(tree):
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        where = f"{path.name}:{call.lineno} {call.func.attr}"
        if "key" not in kw:
            problems.append(f"{where} has no key")
        elif isinstance(kw["key"], ast.Constant):
            keys.append(kw["key"].value)
        bind = kw.get("bind")
        if not (isinstance(bind, ast.Constant) and bind.value == "query-params"):
            if "**" not in ast.unparse(
                call
            ):  # widgets built from a shared kwargs dict are checked at run time
                problems.append(f"{where} is not bound to the URL (bind='query-params')")
    assert not problems, "\n".join(problems)
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes, f"{path.name}: duplicate widget keys {sorted(dupes)}"


@pytest.mark.parametrize("path", PAGES, ids=[p.stem for p in PAGES])
def test_page_sets_itself_up_and_shows_its_lesson(path):
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    setups = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and ast.unparse(c.func) == "ui.setup"]
    assert setups, f"{path.name} does not call ui.setup"
    first = setups[0].args[0]
    assert isinstance(first, ast.Constant) and first.value == path.stem, (
        f"{path.name}: ui.setup's page id must be {path.stem!r}"
    )
    if path.stem != "home":
        assert "ui.lesson(" in text, f"{path.name} never shows its lesson (ui.lesson)"
