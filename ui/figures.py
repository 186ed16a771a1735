"""Show a figure with its caption and export buttons (PNG, PNG for slides, SVG server-side; data as
JSON/CSV).

"PNG (slide)" is the figure as a projector shows it in presenter mode, at 1920×1080: a copy gets
presenter type (:func:`viz.view.adapt` with ``present=True``; in presenter mode the figure already
has it), keeps the colours of the view's theme (the page drew it in them), and is laid out at
1280×720, the size presenter type is made for, then rendered at scale 1.5, so the slide's text is as
large relative to the picture as on the projector. Every render is deferred
to the click (``download_button(data=callable)``).
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from viz.export import ExportError, figure_bytes, to_csv, to_json
from viz.view import View, adapt, figure_cache

from .i18n import t, translator
from .page import presenting, stage_box

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


SLIDE_LAYOUT, SLIDE_SCALE = (1280, 720), 1.5  # laid out as the projector shows it, 1920×1080 pixels


def slide_figure(fig: go.Figure, present: bool) -> go.Figure:
    """A copy of ``fig`` with presenter type (``fig`` is often a cached, shared figure: never changed)."""
    copy = go.Figure(fig)
    return copy if present else adapt(copy, present=True)


def _render_slide(fig, present: bool):
    def make() -> bytes:
        try:
            width, height = SLIDE_LAYOUT
            return figure_bytes(slide_figure(fig, present), "png", width, height, SLIDE_SCALE)
        except ExportError as exc:
            return f"export failed: {exc}".encode()

    return make


def _in_view(fig):
    """``fig`` in the view's type and theme: a figure built outside the figure cache (not marked
    ``_adapted``) is adapted as a copy (it may be shared); in the default view it is shown as built."""
    view = presenting()
    if getattr(fig, "_adapted", False) or view == View():
        return fig
    return adapt(go.Figure(fig), view)


def show_figure(
    fig, key: str, caption: str, data=None, rows: list[dict] | None = None, main: bool = False
) -> None:
    """Draw ``fig`` with ``caption`` (also its text alternative) and export buttons.

    ``data`` (any engine result) is offered as JSON, ``rows`` (flat dicts) as CSV. ``main``: the page's
    main figure (on a page without a main stepper): in presenter mode it takes the presenter stage,
    the box right under the title, so the class sees it on the first screen (the first such call
    of a run takes it; see :func:`ui.page.stage_box`).
    """
    box = stage_box() if main else None
    if box is not None:
        with box:
            return show_figure(fig, key, caption, data, rows)
    fig = _in_view(fig)
    st.plotly_chart(fig, key=f"fig_{key}", config=_PLOTLY_CONFIG, alt=caption)
    st.caption(caption)
    row = _image_toolbar(key, _render(fig, "png"), _render_slide(fig, presenting()), _render(fig, "svg"))
    if data is not None:
        row.download_button(
            "JSON",
            to_json(data),
            file_name=f"{key}.json",
            mime="application/json",
            key=f"dl_{key}_json",
            on_click="ignore",
        )
    if rows:
        row.download_button(
            "CSV",
            to_csv(rows),
            file_name=f"{key}.csv",
            mime="text/csv",
            key=f"dl_{key}_csv",
            on_click="ignore",
        )


def show_svg(svg: str, key: str, caption: str, figure: Callable[[], go.Figure]) -> None:
    """Draw ``svg`` (made on the server, e.g. :func:`viz.graph.flow_svg`) with ``caption`` and exports.

    For a page whose only figure is a simple drawing: shown as markup, it needs no plotly code in the
    browser, whose loading and evaluation are ~1 s of a first visit here (measured on the home page:
    first paint 2.55 → 1.56 s, median of 5). Exports: the SVG itself; PNG and slide PNG from
    ``figure()``, its plotly twin in the view's theme, built and rendered only when clicked (outside
    the script run: ``figure`` must not read the page's state).
    """
    present = bool(presenting())  # read now: the exports run later, outside this script run
    with st.container(key=f"svg_{key}"):
        st.image(svg, width="stretch", alt=caption)  # an <img>: the markup is never part of the page
    st.caption(caption)
    _image_toolbar(key, lambda: _render(figure(), "png")(), lambda: _render_slide(figure(), present)(), svg)


def _image_toolbar(key: str, png, slide, svg):
    """A figure's export row: PNG, slide PNG and SVG (bytes, or callables run on the click); returns
    the row, so a caller can add its data buttons. One compact toolbar: the buttons sit side by side,
    each as wide as its label."""
    row = st.container(horizontal=True, gap="small", key=f"dl_row_{key}")
    buttons = (  # label, data, key and file-name suffix, file extension, mime type, tooltip
        ("PNG", png, "png", "png", "image/png", t("Server-side PNG, 1280×720")),
        (
            t("PNG (slide)"),
            slide,
            "slide",
            "png",
            "image/png",
            t("1920×1080 PNG in presenter type, for a slide"),
        ),
        ("SVG", svg, "svg", "svg", "image/svg+xml", t("Vector SVG for slides")),
    )
    for label, data, kind, ext, mime, tip in buttons:
        stem = f"{key}_slide" if kind == "slide" else key
        row.download_button(
            label,
            data,
            file_name=f"{stem}.{ext}",
            mime=mime,
            key=f"dl_{key}_{kind}",
            on_click="ignore",
            help=tip,
        )
    return row


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
