"""What a lab's ``ui.folded`` expander draws reads no name the page binds again later.

Opening a folded expander reruns its fragment alone and calls the ``draw`` of the last run (ui/page.py):
a lambda or function that read a module global, or a name of its enclosing section, which the page binds
again further down would draw that later value (tests/page_scopes.py reads it from the source).
"""

from __future__ import annotations

import ast
from pathlib import Path

from page_scopes import function_defs, outside_reads, ui_calls

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "labs").glob("*.py"))


def test_every_folded_draw_reads_only_names_that_stay_put():
    seen = 0
    for path in PAGES:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        defs = function_defs(tree)
        for call in ui_calls(tree, "folded"):
            draw = (
                call.args[2]
                if len(call.args) > 2
                else next(k.value for k in call.keywords if k.arg == "draw")
            )
            func = draw if isinstance(draw, ast.Lambda) else defs[draw.id]
            _, late = outside_reads(source, tree, func, path.name)
            assert not late, f"{path.name}:{call.lineno} draws with {sorted(late)}, bound again further down"
            seen += 1
    assert seen == sum(p.read_text(encoding="utf-8").count("ui.folded(") for p in PAGES) >= 8


def test_the_check_sees_a_lambda_reading_a_name_bound_again_later():
    source = "import ui\nrows = [1]\nui.folded('t', 'k', lambda: show(rows))\nrows = [2]\n"
    tree = ast.parse(source)
    (call,) = ui_calls(tree, "folded")
    _, late = outside_reads(source, tree, call.args[2])
    assert late == {"rows"}
