"""Predict-then-reveal: the student commits a guess, then the engine's answer is revealed.

Every checkpoint looks the same: a question, an input, "Check" (and "Reveal the answer", for a stuck
student or an instructor showing the class in presenter mode), then the answer with how far the guess
was and a one-line why.

A checkpoint is honest: nothing on the page gives its answer away before the student commits. A page
draws whatever would (a metric, a table, a label on a figure, a caption that states the number)
behind the checkpoint's key, above or below the checkpoint itself::

    m.metric(t("kernels"), masked(ck, n_kernels))          # "?" until committed
    reveal(ck, st.dataframe, rows)                         # drawn only after the commit
    fig = figure(..., knee=knee if revealed(ck) else None)  # no label on the figure before
    show_figure(fig, key, caption, rows=masked_rows(ck, rows, "knee"))
    ui.checkpoint(ck, question, n_kernels, why)

Committing reruns the page once when something was gated on the key, so what sits above the
checkpoint appears in the same click.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import streamlit as st

from .i18n import t


class _Hidden:
    """A number not shown yet: arithmetic on it and formatting it give "?" (for builders that print
    a value the checkpoint asks for, e.g. "kernel #{k + 1}")."""

    def __add__(self, other):
        return "?"

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__

    def __format__(self, spec: str) -> str:
        return "?"

    def __repr__(self) -> str:
        return "?"


HIDDEN = _Hidden()


def _done(key: str) -> str:
    return f"{key}_done"


def _gated(key: str) -> str:
    return f"{key}_gated"


def committed(key: str) -> bool:
    """Whether the student has committed to checkpoint ``key`` (checked a guess or revealed it)."""
    return _done(key) in st.session_state


def revealed(key: str) -> bool:
    """Whether what checkpoint ``key`` asks may be shown; marks ``key`` as gating part of the page,
    so that committing reruns the page and what was hidden above the checkpoint appears."""
    st.session_state[_gated(key)] = True
    return committed(key)


def masked(key: str, value: Any, hidden: Any = "?", when: bool = True) -> Any:
    """``value`` once checkpoint ``key`` is committed, ``hidden`` before; ``when=False``: ``value``
    always (the value shown is not the checkpoint's answer this time)."""
    return value if not when or revealed(key) else hidden


def masked_rows(key: str, rows: list[dict] | None, *columns: str) -> list[dict] | None:
    """``rows`` (a table or a figure's CSV) without ``columns`` until checkpoint ``key`` is committed."""
    if rows is None or revealed(key):
        return rows
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def reveal(key: str, draw: Callable[..., Any], *args: Any, note: bool = True, **kwargs: Any) -> Any:
    """``draw(*args, **kwargs)`` once checkpoint ``key`` is committed; before, a one-line note that
    something is held back (``note=False``: nothing) and None."""
    if revealed(key):
        return draw(*args, **kwargs)
    if note:
        st.caption(":material/lock: " + t("Hidden until the checkpoint is answered or revealed."))
    return None


def checkpoint(
    key: str,
    question: str,
    answer: float | str,
    explanation: str = "",
    choices: list[str] | None = None,
    rel_tol: float = 0.05,
) -> bool | None:
    """Ask ``question``; returns True/False once the student has committed, None before.

    Numeric answers accept guesses within ``rel_tol``; ``choices`` makes it multiple choice.
    "Reveal the answer" commits without a guess (the result is then False). The return value is not
    None exactly when :func:`committed` is true.
    """
    with st.container(border=True, key=f"ckpt_{key}"):
        st.markdown(f"**{t('Predict, then reveal')}** — {question}")
        done = committed(key)
        with st.form(key=f"{key}_form", border=False):
            if choices:
                guess = st.radio(t("Your answer"), choices, index=None, key=f"{key}_g")
            else:
                guess = st.number_input(t("Your guess"), value=None, key=f"{key}_g", format="%g")
            with st.container(horizontal=True):
                submitted = st.form_submit_button(t("Check"), key=f"{key}_check")
                shown = False
                if not done:
                    shown = st.form_submit_button(
                        t("Reveal the answer"),
                        key=f"{key}_reveal",
                        type="tertiary",
                        help=t("Show the answer without a guess (for the class, or when stuck)."),
                    )
        if submitted and guess is None:
            st.warning(t("Commit a guess first."))
            submitted = False
        if submitted or shown:
            st.session_state[_done(key)] = guess if submitted else None
            if not done and st.session_state.get(_gated(key)):
                st.rerun()  # show what the page held back above the checkpoint
        if not committed(key):
            return None
        guess = st.session_state[_done(key)]
        shown_answer = f"{answer:,.6g}" if isinstance(answer, (int, float)) else str(answer)
        if guess is None:
            st.info(t("The answer is {shown}.", shown=shown_answer))
            correct = False
        elif correct := _is_correct(guess, answer, rel_tol):
            st.success(t("Right: {shown}.", shown=shown_answer))
        else:
            st.error(
                t("Not quite: the answer is {shown} (you said {guess}).", shown=shown_answer, guess=guess)
            )
        if explanation:
            st.caption(explanation)
        return correct


def _is_correct(guess, answer, rel_tol: float) -> bool:
    if isinstance(answer, str):
        return str(guess) == answer
    try:
        return math.isclose(float(guess), float(answer), rel_tol=rel_tol, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False
