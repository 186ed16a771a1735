"""The one stepper every steppable algorithm uses: prev / next / play / slider, "step k of n".

The step lives in the URL (bound slider), so a share link reopens the same step. In presenter mode
the left/right arrow keys press prev/next (and space toggles play).
"""
from __future__ import annotations

import time

import streamlit as st

from .i18n import t
from .page import presenting

_KEYS_JS = """
<script>
(function () {
  const doc = window.parent ? window.parent.document : document;
  if (doc.__labKeys) { doc.__labKeys = '%s'; return; }
  doc.__labKeys = '%s';
  doc.addEventListener('keydown', function (e) {
    const t = e.target;
    const tag = (t && t.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
    if (t && t.closest && t.closest('[role="slider"], [role="radiogroup"], [role="listbox"]')) return;
    const map = {ArrowRight: '_next', ArrowLeft: '_prev', ' ': '_play'};
    const suffix = map[e.key];
    if (!suffix) return;
    // during a rerun Streamlit keeps the previous run's elements (marked stale) beside the new ones
    const all = Array.from(doc.querySelectorAll('.st-key-' + doc.__labKeys + suffix + ' button'));
    const live = all.filter(b => !b.closest('[data-stale="true"]'));
    const btn = (live.length ? live : all).pop();
    if (btn) { e.preventDefault(); btn.click(); }
  });
})();
</script>
"""


def _shift(key: str, delta: int, n: int) -> None:
    st.session_state[key] = min(n, max(1, st.session_state.get(key, 1) + delta))


def _toggle_play(key: str) -> None:
    st.session_state[key + "_playing"] = not st.session_state.get(key + "_playing", False)


def stepper(key: str, n: int, delay: float = 0.8) -> int:
    """Draw the stepper for ``n`` steps and return the current step index (0-based)."""
    if n <= 0:
        st.info(t("Nothing to step through.", "没有可单步执行的内容。"))
        return 0
    if n == 1:
        st.caption(t("Step 1 of 1", "第 1 步，共 1 步"))
        return 0
    if st.session_state.get(key, 1) > n:
        st.session_state[key] = n
    c_prev, c_play, c_next, c_slider = st.columns([1, 1, 1, 6], vertical_alignment="bottom")
    c_prev.button("◀", key=key + "_prev", on_click=_shift, args=(key, -1, n),
                  help=t("Previous step (←)", "上一步 (←)"))
    playing = st.session_state.get(key + "_playing", False)
    c_play.button("⏸" if playing else "▶", key=key + "_play", on_click=_toggle_play, args=(key,),
                  help=t("Play / pause (space)", "播放 / 暂停 (空格)"))
    c_next.button("▶|", key=key + "_next", on_click=_shift, args=(key, 1, n),
                  help=t("Next step (→)", "下一步 (→)"))
    step = c_slider.slider(t("Step", "步骤"), 1, n, key=key, bind="query-params",
                           format=t("step %d of " + str(n), "第 %d 步，共 " + str(n) + " 步"))
    if presenting():
        st.html(_KEYS_JS % (key, key), unsafe_allow_javascript=True)
    if playing:
        _schedule_next(key, step, n, delay)
    return step - 1


def _schedule_next(key: str, step: int, n: int, delay: float) -> None:
    """Advance one step after ``delay`` seconds; stop at the end."""
    if step >= n:
        st.session_state[key + "_playing"] = False
        return
    time.sleep(delay)
    st.session_state[key] = step + 1
    st.rerun()
