"""Show a figure with its caption and export buttons (PNG, SVG server-side; data as JSON/CSV)."""

from __future__ import annotations

import streamlit as st

from viz.export import ExportError, figure_bytes, to_csv, to_json
from viz.view import adapt, figure_cache

from .i18n import t, translator
from .page import presenting

_PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "svg", "width": 1280, "height": 720},
    "scrollZoom": True,
}


def _render(fig, fmt: str):
    def make() -> bytes:
        try:
            return figure_bytes(fig, fmt)
        except ExportError as exc:  # shown as the file's content rather than a traceback
            return f"export failed: {exc}".encode()

    return make


def show_figure(fig, key: str, caption: str, data=None, rows: list[dict] | None = None) -> None:
    """Draw ``fig`` with ``caption`` (also its text alternative) and export buttons.

    ``data`` (any engine result) is offered as JSON, ``rows`` (flat dicts) as CSV.
    """
    st.plotly_chart(fig, key=f"fig_{key}", config=_PLOTLY_CONFIG, alt=caption)
    st.caption(caption)
    cols = st.columns(4)
    cols[0].download_button(
        "PNG",
        _render(fig, "png"),
        file_name=f"{key}.png",
        mime="image/png",
        key=f"dl_{key}_png",
        on_click="ignore",
        help=t("Server-side PNG, 1280×720"),
    )
    cols[1].download_button(
        "SVG",
        _render(fig, "svg"),
        file_name=f"{key}.svg",
        mime="image/svg+xml",
        key=f"dl_{key}_svg",
        on_click="ignore",
        help=t("Vector SVG for slides"),
    )
    if data is not None:
        cols[2].download_button(
            "JSON",
            to_json(data),
            file_name=f"{key}.json",
            mime="application/json",
            key=f"dl_{key}_json",
            on_click="ignore",
        )
    if rows:
        cols[3].download_button(
            "CSV",
            to_csv(rows),
            file_name=f"{key}.csv",
            mime="text/csv",
            key=f"dl_{key}_csv",
            on_click="ignore",
        )


def figure_view():
    """``(fit, shared)`` for a lab's figures in the current view (language, presenter mode).

    ``fit(fig)`` readies one figure built by the lab for presenter mode (its words came translated:
    the lab passed ``tr=ui.translator()``); ``shared(builder)`` wraps a figure builder so each figure
    is built once per arguments and view, in the view's language, and shared between sessions (see
    :func:`viz.view.figure_cache`).
    """

    def fit(fig):
        return adapt(fig, presenting())

    shared = figure_cache(
        st.cache_resource(max_entries=64, show_spinner=False), lambda: (translator(), presenting())
    )
    return fit, shared
