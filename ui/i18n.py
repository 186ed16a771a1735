"""English / 简体中文 switch. UI labels are written inline as ``t("English", "中文")``.

The choice lives in the URL (``?lang=zh``) so a share link restores it, and in the session so it
survives navigation between pages.
"""
from __future__ import annotations

import streamlit as st

LANGS = {"en": "English", "zh": "简体中文"}
_KEY = "app_lang"


def lang() -> str:
    """The current language code, "en" or "zh"."""
    if _KEY not in st.session_state:
        code = st.query_params.get("lang", "en")
        st.session_state[_KEY] = code if code in LANGS else "en"
    return st.session_state[_KEY]


def set_lang(code: str) -> None:
    st.session_state[_KEY] = code if code in LANGS else "en"


def t(en: str, zh: str) -> str:
    """Pick the text for the current language."""
    return zh if lang() == "zh" else en
