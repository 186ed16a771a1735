"""Predict-then-reveal: the student commits a guess, then the engine's answer is revealed.

Every checkpoint looks the same: a question, an input, "Check", then the answer with how far the
guess was and a one-line why.
"""

from __future__ import annotations

import math

import streamlit as st

from .i18n import t


def checkpoint(
    key: str,
    question: str,
    answer: float | str,
    explanation: str = "",
    choices: list[str] | None = None,
    rel_tol: float = 0.05,
) -> bool | None:
    """Ask ``question``; returns True/False once the student has checked, None before.

    Numeric answers accept guesses within ``rel_tol``; ``choices`` makes it multiple choice.
    """
    with st.container(border=True, key=f"ckpt_{key}"):
        st.markdown(f"**{t('Predict, then reveal')}** — {question}")
        with st.form(key=f"{key}_form", border=False):
            if choices:
                guess = st.radio(t("Your answer"), choices, index=None, key=f"{key}_g")
            else:
                guess = st.number_input(t("Your guess"), value=None, key=f"{key}_g", format="%g")
            submitted = st.form_submit_button(t("Check"))
        if submitted and guess is None:
            st.warning(t("Commit a guess first."))
            return None
        if submitted:
            st.session_state[f"{key}_done"] = guess
        if f"{key}_done" not in st.session_state:
            return None
        guess = st.session_state[f"{key}_done"]
        correct = _is_correct(guess, answer, rel_tol)
        shown = f"{answer:,.6g}" if isinstance(answer, (int, float)) else str(answer)
        if correct:
            st.success(t("Right: {shown}.", shown=shown))
        else:
            st.error(t("Not quite: the answer is {shown} (you said {guess}).", shown=shown, guess=guess))
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
