"""Play and pause every stepper in a real browser, and drive the main one from the keyboard.

Play runs on the stepper's fragment timer (``st.fragment(run_every=...)``): pressing it must advance
the step (the slider and its URL key) without an exception, Pause must stop it, the last step must
stop it, and in presenter mode space / → must act on the page's main stepper only.
"""

from __future__ import annotations

import pytest
from conftest import wait_app

# (page, stepper key): every ui.stepper call site in labs/
STEPPERS = [
    ("layout_explorer", "le_step"),
    ("execution_models", "em_step"),
    ("collectives", "co_step"),
    ("serving", "sv_step"),
    ("flash_attention", "fa_step"),
    ("autodiff", "ad_step"),
    ("scheduling", "sc_step"),
    ("scheduling", "sc_dstep"),
    ("tensor_parallel", "tp_ce_step"),
    ("pipeline_parallel", "pp_step"),
    ("pruning", "pr_step"),
    ("systolic_array", "sa_step"),
    ("graph_passes", "gp_step"),
]

# the live slider's value (during a rerun Streamlit keeps the previous run's copy, marked stale)
_STEP_JS = """(key) => {
  const all = [...document.querySelectorAll('.st-key-' + key + ' input[type="range"]')];
  const live = all.filter(e => !e.closest('[data-stale="true"]'));
  return live.length ? +live[0].value : -1;
}"""


def _step(page, key: str) -> int:
    return page.evaluate(_STEP_JS, key)


def _wait_step(page, key: str, predicate: str) -> None:
    """Wait until ``predicate`` (JS, of the step ``s``) holds, e.g. ``s >= 3``."""
    page.wait_for_function(
        f"(key) => {{ const s = ({_STEP_JS})(key); return s > 0 && ({predicate}); }}", arg=key, timeout=60_000
    )


def _play_button(page, key: str):
    return page.locator(f".st-key-{key}_play button").first


def _wait_icon(page, key: str, icon: str) -> None:
    """The play button shows the material icon ``icon`` (its ligature text: play_arrow / pause)."""
    page.wait_for_function(
        "([key, icon]) => [...document.querySelectorAll('.st-key-' + key + '_play button')]"
        ".some(b => !b.closest('[data-stale=\"true\"]') && b.innerText.includes(icon))",
        arg=[key, icon],
        timeout=60_000,
    )


def _assert_stays(page, key: str) -> int:
    """Once paused, the step stays put for longer than two frames (the default delay is 0.8 s)."""
    wait_app(page)
    stopped = _step(page, key)
    page.wait_for_timeout(2_000)
    assert _step(page, key) == stopped
    return stopped


@pytest.mark.slow
@pytest.mark.parametrize(("page_id", "key"), STEPPERS, ids=[k for _, k in STEPPERS])
def test_play_advances_and_pause_stops(server, page, page_id, key):
    page.goto(f"{server}/{page_id}")
    wait_app(page)
    _wait_step(page, key, "s === 1")
    _play_button(page, key).click()
    _wait_icon(page, key, "pause")
    _wait_step(page, key, "s >= 3")  # two frames at least: the timer keeps going
    _play_button(page, key).click()
    _wait_icon(page, key, "play_arrow")
    stopped = _assert_stays(page, key)
    assert f"{key}={stopped}" in page.url  # the share link reopens this step
    assert page.locator("[data-testid='stException']").count() == 0


def test_play_stops_at_the_last_step(server, page):
    page.goto(f"{server}/tensor_parallel?tp_ce_step=5")  # 6 steps
    wait_app(page)
    _play_button(page, "tp_ce_step").click()
    _wait_step(page, "tp_ce_step", "s === 6")
    _wait_icon(page, "tp_ce_step", "play_arrow")
    assert _assert_stays(page, "tp_ce_step") == 6
    assert page.locator("[data-testid='stException']").count() == 0


def test_presenter_keys_drive_the_main_stepper_and_nothing_leaves_the_machine(server, page):
    outside = []
    page.on(
        "request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else outside.append(r.url)
    )
    page.goto(f"{server}/scheduling?present=1")
    wait_app(page)
    # the dispatch demo below draws a stepper too; the keys still belong to the main timeline
    page.wait_for_function("() => document.__labKeys === 'sc_step'")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('sc_step=2')")
    wait_app(page)
    _wait_step(page, "sc_dstep", "s === 1")
    assert "sc_dstep" not in page.url
    page.keyboard.press(" ")
    _wait_icon(page, "sc_step", "pause")
    _wait_step(page, "sc_step", "s >= 4")
    page.keyboard.press(" ")
    _wait_icon(page, "sc_step", "play_arrow")
    _assert_stays(page, "sc_step")
    assert _step(page, "sc_dstep") == 1
    # the pause / play icons are Streamlit's bundled Material Symbols font, served from here
    assert outside == []
