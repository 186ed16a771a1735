"""Shared streamlit helpers: the only streamlit code besides the labs.

A page uses::

    import ui
    ui.setup("graph_builder", "Graph Builder", "Write a model in a few lines, see its graph.")
    with ui.controls():
        n = st.slider(ui.t("Width"), 1, 64, 8, key="gb_width", bind="query-params")
    with ui.guard():
        result = ui.cached(engine_function)(n)
        ui.show_figure(builder(result, tr=ui.translator()), "gb_graph", ui.t("What to notice."))

Conventions: every widget has a key prefixed by the page's short id and ``bind="query-params"``
(that is the share link); text is English, looked up by ``ui.t`` in ui/locales/<lang>/*.toml (engine
sentences by ``ui.t_message``); figure builders draw their words with ``tr=ui.translator()``.
"""

from __future__ import annotations

# pandas first, whole: Streamlit imports it lazily (st.dataframe) while another session's thread
# builds a plotly figure, and plotly then finds a half-imported pandas ("no attribute 'Series'").
# Importing it here, under the module import lock every page passes through, closes that race.
import pandas  # noqa: F401
import streamlit as st

from .checkpoint import checkpoint
from .choice import by_id
from .figures import figure_view, show_figure, show_svg
from .i18n import both, lang, t, t_message, translator
from .page import controls, flag, folded, guard, lesson, lesson_text, presenting, section, setup
from .stepper import stepper
from .tables import table


def cached(fn, max_entries: int = 64):
    """``st.cache_data`` around a pure engine function (results shared by every session)."""
    return st.cache_data(fn, max_entries=max_entries, show_spinner=False)


def cached_resource(fn, max_entries: int = 16):
    """``st.cache_resource`` around a pure engine function: the result is shared, not copied.

    Use it for large read-only results (a ResNet's every intermediate value, ONNX bytes) where
    ``cached``'s copy on every rerun would cost more than the work itself. Callers must not mutate.
    """
    return st.cache_resource(fn, max_entries=max_entries, show_spinner=False)


__all__ = [
    "both",
    "by_id",
    "cached",
    "cached_resource",
    "checkpoint",
    "controls",
    "figure_view",
    "flag",
    "folded",
    "guard",
    "lang",
    "lesson",
    "lesson_text",
    "presenting",
    "section",
    "setup",
    "show_figure",
    "show_svg",
    "stepper",
    "t",
    "table",
    "t_message",
    "translator",
]
