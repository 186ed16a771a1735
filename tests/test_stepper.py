"""The stepper (ui/stepper.py): its frame logic, its controls in an AppTest, and how pages call it.

The timer ticks themselves (fragment reruns from the browser) are exercised in
tests/browser/test_stepper_play.py; AppTest runs whole scripts only.
"""

from __future__ import annotations

import ast
from pathlib import Path

from page_scopes import function_defs, outside_reads, stepper_calls
from streamlit.testing.v1 import AppTest

from ui.stepper import advance, frame_action

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "labs").glob("*.py"))

SCRIPT = """
import streamlit as st
import ui

def show(k):
    st.markdown(f"showing step {k}")

n = st.session_state.get("n", 5)
k = ui.stepper("x_step", n, render=show)
st.write(f"page sees {k}")
ui.stepper("y_step", 3, main=False)
"""


def _app(query: str = "") -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    if query:
        at.query_params["x_step"] = query
    at.run()
    assert not at.exception
    return at


def _play(at: AppTest, key: str = "x_step"):
    """The play button (its key carries a press counter, see ui.stepper._toggle_play)."""
    return next(b for b in at.button if b.key.startswith(key + "_play"))


def _shown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(("showing", "page sees"))]


# frame logic on a plain dict (what st.session_state is to it) ------------------------------------


def test_a_full_run_draws_without_stepping_and_forgets_the_press_mark():
    state = {"s": 2, "s_playing": True, "s_touched": True}
    assert frame_action(state, "s", 5, first=True, was_playing=True, plain=False) == "draw"
    assert state == {"s": 2, "s_playing": True}


def test_a_timer_tick_steps_once_and_redraws_only_the_fragment():
    state = {"s": 2, "s_playing": True}
    assert frame_action(state, "s", 5, first=False, was_playing=True, plain=False) == "draw"
    assert state["s"] == 3 and state["s_playing"]


def test_the_tick_onto_the_last_step_stops_and_reruns_the_app_to_drop_the_timer():
    state = {"s": 4, "s_playing": True}
    assert frame_action(state, "s", 5, first=False, was_playing=True, plain=False) == "rerun"
    assert state == {"s": 5, "s_playing": False}


def test_a_press_while_playing_is_not_a_tick():
    state = {"s": 2, "s_playing": True, "s_touched": True}  # e.g. Next pressed: already 2 -> 3
    assert frame_action(state, "s", 5, first=False, was_playing=True, plain=False) == "draw"
    assert state == {"s": 2, "s_playing": True}


def test_play_and_pause_rerun_the_app_so_the_timer_is_registered_or_dropped():
    for now, before in ((True, False), (False, True)):
        state = {"s": 2, "s_playing": now, "s_touched": True}
        assert frame_action(state, "s", 5, first=False, was_playing=before, plain=False) == "rerun"
        assert state["s"] == 2


def test_paused_reruns_never_step_and_a_plain_stepper_always_reruns_the_app():
    state = {"s": 2}  # a widget inside render, while paused
    assert frame_action(state, "s", 5, first=False, was_playing=False, plain=False) == "draw"
    assert frame_action(state, "s", 5, first=False, was_playing=False, plain=True) == "rerun"
    assert state == {"s": 2}
    state = {"s": 1, "s_playing": True}
    assert frame_action(state, "s", 5, first=False, was_playing=True, plain=True) == "rerun"
    assert state["s"] == 2


def test_advance_never_passes_the_last_step():
    state = {"s": 5, "s_playing": True}
    advance(state, "s", 5)
    assert state == {"s": 5, "s_playing": False}


# the controls in an AppTest ------------------------------------------------------------------------


def test_prev_next_and_the_slider_move_the_step_and_the_url():
    at = _app()
    assert _shown(at) == ["showing step 0", "page sees 0"]
    at.button(key="x_step_next").click().run()
    at.button(key="x_step_next").click().run()
    assert not at.exception and _shown(at) == ["showing step 2", "page sees 2"]
    assert at.query_params["x_step"] == "3"
    at.button(key="x_step_prev").click().run()
    assert _shown(at)[0] == "showing step 1"
    at.slider(key="x_step").set_value(5).run()
    at.button(key="x_step_next").click().run()  # clamped at the last step
    assert not at.exception and _shown(at)[0] == "showing step 4"


def test_play_then_pause_toggles_the_icon_without_an_exception():
    at = _app()
    assert _play(at).proto.icon == ":material/play_arrow:"
    _play(at).click().run()
    assert not at.exception and at.session_state["x_step_playing"]
    assert _play(at).proto.icon == ":material/pause:"
    assert _shown(at)[0] == "showing step 0"  # pressing Play does not step by itself
    _play(at).click().run()
    assert not at.exception and not at.session_state["x_step_playing"]
    assert _play(at).proto.icon == ":material/play_arrow:"


def test_a_press_replayed_on_the_replaced_button_is_ignored():
    at = _app()
    first = _play(at)
    first.click().run()
    assert at.session_state["x_step_playing"]
    first.click().run()  # the same press sent again (the browser's timer carried it too)
    assert not at.exception and at.session_state["x_step_playing"]


def test_play_at_the_last_step_starts_again_from_the_first():
    at = _app("5")
    assert _shown(at)[0] == "showing step 4"
    _play(at).click().run()
    assert not at.exception and at.session_state["x_step_playing"]
    assert _shown(at)[0] == "showing step 0" and at.query_params.get("x_step") is None


def test_a_shorter_run_clamps_the_step_and_one_step_still_renders():
    at = _app("5")
    at.session_state["n"] = 3
    at.run()
    assert not at.exception and _shown(at) == ["showing step 2", "page sees 2"]
    at.session_state["n"] = 1
    at.run()
    assert not at.exception and _shown(at)[0] == "showing step 0"
    assert any("Step 1 of 1" in c.value for c in at.caption)


def test_a_page_stepper_plays_and_steps():
    at = AppTest.from_file(str(ROOT / "labs" / "collectives.py"), default_timeout=90)
    at.run()
    first = [c.value for c in at.caption]
    at.button(key="co_step_next").click().run()
    assert not at.exception and [c.value for c in at.caption] != first
    _play(at, "co_step").click().run()
    assert not at.exception and at.session_state["co_step_playing"]


# how pages call it ---------------------------------------------------------------------------------


def test_every_page_stepper_draws_its_step_in_the_fragment_and_reads_no_later_name():
    """A fragment rerun calls ``render`` again with the globals the page left at the end of its run:
    a name the page binds again after the stepper (``k = st.columns(4)`` further down) would be read
    with its later value. Each render must read only names that stay put — module globals, and for
    a render defined inside a section, the section's own names too (tests/page_scopes.py)."""
    seen = []
    for path in PAGES:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        defs = function_defs(tree)
        for call in stepper_calls(tree):
            render = next((kw.value for kw in call.keywords if kw.arg == "render"), None)
            assert isinstance(render, ast.Name), f"{path.name}:{call.lineno} draws its step outside render"
            _, late = outside_reads(source, tree, defs[render.id], path.name)
            assert not late, f"{path.name}: {render.id} reads {sorted(late)}, bound again further down"
            seen.append(path.stem)
    # every stepper call written in a page was found and checked (none hidden from the AST walk)
    assert len(seen) == sum(p.read_text(encoding="utf-8").count("ui.stepper(") for p in PAGES) >= 13


def test_one_main_stepper_per_page_and_no_sleeping_script_thread():
    for path in PAGES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mains = [
            c
            for c in stepper_calls(tree)
            if not any(kw.arg == "main" and getattr(kw.value, "value", True) is False for kw in c.keywords)
        ]
        assert len(mains) <= 1, f"{path.name} has {len(mains)} main steppers"
    for path in [*PAGES, *(ROOT / "ui").glob("*.py")]:
        assert "time.sleep" not in path.read_text(encoding="utf-8"), path.name
