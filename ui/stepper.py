"""The one stepper every steppable algorithm uses: prev / play / next / slider, "step k of n".

A page hands the stepper the code that draws one step::

    def show_step(k: int) -> None:          # k is 0-based
        ui.show_figure(...)
    ui.stepper("co_step", len(run), render=show_step)

How it plays, in stages:
1. The page's full run draws the stepper as an ``st.fragment``: the controls, then ``render(k)``.
   While playing, the fragment is registered with ``run_every=delay``: the browser reruns only the
   fragment each frame, so no script thread sleeps and the rest of the page is not rerun.
2. Each rerun of the fragment finds its cause: the stepper's own controls mark their presses (their
   callbacks run first); anything else is the timer. A tick advances one step before the slider is
   drawn, so the bound slider, and with it the URL, follows.
3. Only a full run registers or drops the timer, so Play, Pause and the last step rerun the app once.
Without ``render`` the stepper only returns the step and every change reruns the app, since the page
draws the step after the call.

The step lives in the URL (bound slider), so a share link reopens the same step. In presenter mode
←/→ press prev/next and space toggles play on the page's main stepper: the first one drawn with
``main=True`` (the default); a page's secondary steppers pass ``main=False``. That stepper also
takes the presenter stage: with ``?present=1`` it and its ``render(k)`` draw right under the page's
title, wherever the page's script calls it, so the stepped figure is on the first screen.

A page that can draw a step as one figure also passes ``frame`` (``k -> plotly Figure``, no
streamlit calls; ``render`` usually shows ``frame(k)``): the stepper then offers the whole run as an
animated GIF and a ZIP of PNG frames (see :mod:`ui.run_export`).

Not handled: a widget drawn by ``render`` (a checkpoint's input) rerunning the fragment while it
plays counts as a tick; anything drawn outside ``render`` shows the step of the last full run; a run
of one step has no export (the figure's own PNG/SVG buttons cover it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, MutableMapping
from typing import Any

import streamlit as st

from .i18n import t
from .page import guard, presenting, stage_box
from .run_export import export_buttons

_MAIN, _OTHER = "stepper_main_", "stepper_"  # container key prefixes; the keyboard reads _MAIN

_KEYS_JS = """
<script>
(function () {
  const doc = window.parent ? window.parent.document : document;
  const PREFIX = 'st-key-__MAIN__';
  // during a rerun Streamlit keeps the previous run's elements (marked stale) beside the new ones
  const live = (sel) => {
    const all = Array.from(doc.querySelectorAll(sel));
    const fresh = all.filter(el => !el.closest('[data-stale="true"]'));
    return fresh.length ? fresh : all;
  };
  const mainKey = () => {             // the page's main stepper: the first main one in the page
    const box = live('[class*="' + PREFIX + '"]')[0];
    const cls = box && Array.from(box.classList).find(c => c.startsWith(PREFIX));
    return cls ? cls.slice(PREFIX.length) : null;
  };
  const refresh = (tries) => {
    const key = mainKey();
    if (key) doc.__labKeys = key;
    else if (tries > 0) setTimeout(() => refresh(tries - 1), 250);
  };
  refresh(20);
  if (doc.__labKeysInstalled) return;
  doc.__labKeysInstalled = true;
  doc.addEventListener('keydown', function (e) {
    if (!/[?&]present=(1|true|yes)(&|$)/.test(doc.defaultView.location.search)) return;
    const el = e.target;
    const tag = (el && el.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
    if (el && el.closest && el.closest('[role="slider"], [role="radiogroup"], [role="listbox"]')) return;
    if (e.key === ' ' && el && el.closest && el.closest('button')) return;  // the browser presses it
    const suffix = {ArrowRight: '_next', ArrowLeft: '_prev', ' ': '_play'}[e.key];
    const key = suffix && mainKey();
    if (!key) return;
    doc.__labKeys = key;
    const btn = live('.st-key-' + key + suffix + ' button')[0];
    if (btn) { e.preventDefault(); btn.click(); }
  });
})();
</script>
""".replace("__MAIN__", _MAIN)


def _touch(key: str) -> None:
    """Mark that the stepper's own control caused the coming rerun (so it is not a timer tick)."""
    st.session_state[key + "_touched"] = True


def _shift(key: str, delta: int, n: int) -> None:
    st.session_state[key] = min(n, max(1, st.session_state.get(key, 1) + delta))
    _touch(key)


def _toggle_play(key: str, n: int, drawn: int) -> None:
    """Play / pause, once per press of the button drawn as number ``drawn``.

    The browser can send one press twice (a frame's timer firing while the press is being sent
    carries it too); the second copy names a button that has since been replaced, and is ignored.
    """
    state = st.session_state
    if state.get(key + "_drawn", 0) != drawn:
        return
    state[key + "_drawn"] = drawn + 1
    playing = not state.get(key + "_playing", False)
    if playing and state.get(key, 1) >= n:  # Play at the last step starts again from the first
        state[key] = 1
    state[key + "_playing"] = playing
    _touch(key)


def advance(state: MutableMapping[str, Any], key: str, n: int) -> None:
    """One timer tick on ``state`` (session state): the next step; playing stops at the last one."""
    state[key] = min(n, state.get(key, 1) + 1)
    if state[key] >= n:
        state[key + "_playing"] = False


def frame_action(
    state: MutableMapping[str, Any], key: str, n: int, first: bool, was_playing: bool, plain: bool
) -> str:
    """Decide one run of the stepper's fragment: ``"draw"`` it, or ``"rerun"`` the app.

    ``first``: this is the page's full run; ``was_playing``: the timer that full run registered;
    ``plain``: the page draws the step itself (no ``render``).
    """
    touched = state.pop(key + "_touched", False)
    if first:
        return "draw"
    if not touched and state.get(key + "_playing", False):
        advance(state, key, n)
    changed_timer = state.get(key + "_playing", False) != was_playing
    return "rerun" if plain or changed_timer else "draw"


def _controls(key: str, n: int, main: bool, export: bool = False) -> tuple[int, list]:
    """Draw prev / play / next / slider; return the step (1-based) and, with ``export``, the two
    columns beside the slider for the run's GIF and ZIP."""
    playing = st.session_state.get(key + "_playing", False)
    box = st.container(key=(_MAIN if main else _OTHER) + key)
    widths = [1, 1, 1, 3.5, 1.5, 2] if export else [1, 1, 1, 6]
    c_prev, c_play, c_next, c_slider, *c_export = box.columns(widths, vertical_alignment="bottom")
    c_prev.button(
        "",
        icon=":material/navigate_before:",
        key=key + "_prev",
        on_click=_shift,
        args=(key, -1, n),
        help=t("Previous step (←)"),
    )
    drawn = st.session_state.get(key + "_drawn", 0)  # a new button (key) after each press
    c_play.container(key=key + "_play").button(
        "",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        key=f"{key}_play{drawn}",
        on_click=_toggle_play,
        args=(key, n, drawn),
        help=t("Pause (space)") if playing else t("Play (space)"),
    )
    c_next.button(
        "",
        icon=":material/navigate_next:",
        key=key + "_next",
        on_click=_shift,
        args=(key, 1, n),
        help=t("Next step (→)"),
    )
    fmt = t("step %d of {n}", n=n)
    step = c_slider.slider(
        t("Step"), 1, n, key=key, bind="query-params", on_change=_touch, args=(key,), format=fmt
    )
    return step, c_export


def _frame(
    key: str,
    n: int,
    render: Callable[[int], None] | None,
    main: bool,
    was_playing: bool,
    cell: dict,
    frame: Callable[[int], Any] | None = None,
    delay: float = 0.8,
) -> int:
    """The fragment's body: settle the step, draw the controls, then the page's view of the step."""
    first = cell.pop("first", False)  # the cell is fresh in each full run, reused by reruns
    if frame_action(st.session_state, key, n, first, was_playing, render is None) == "rerun":
        st.rerun(scope="app")
    step, c_export = _controls(key, n, main, export=frame is not None)
    k = step - 1
    if frame is not None:
        export_buttons(c_export, key, n, frame, delay, cell)
    if render is not None:
        with guard():  # the page's guard is not around a fragment's rerun
            render(k)
    return k


def stepper(
    key: str,
    n: int,
    delay: float = 0.8,
    render: Callable[[int], None] | None = None,
    main: bool = True,
    frame: Callable[[int], Any] | None = None,
) -> int:
    """Draw the stepper for ``n`` steps (and ``render(k)`` of the current one); return k (0-based).

    ``delay``: seconds per frame while playing (and in the GIF); ``main``: the keyboard drives this
    stepper in presenter mode (the first main one on the page); ``frame``: step k's main figure,
    for the run's GIF / ZIP export.
    """
    if n <= 0:
        st.info(t("Nothing to step through."))
        return 0
    if n == 1:
        st.caption(t("Step 1 of 1"))
        if render is not None:
            render(0)
        return 0
    if st.session_state.get(key, 1) > n:
        st.session_state[key] = n
    playing = st.session_state.get(key + "_playing", False)
    body = st.fragment(_frame, run_every=delay if playing else None)
    box = stage_box() if main else None  # presenter mode: the main stepper moves to the top
    with box if box is not None else contextlib.nullcontext():
        k = body(key, n, render, main, playing, {"first": True}, frame, delay)
    if presenting() and main:
        st.html(_KEYS_JS, unsafe_allow_javascript=True)
    return k if k is not None else 0  # None only outside a script run (bare mode)
