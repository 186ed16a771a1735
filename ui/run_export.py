"""A stepper's whole run for slides: an animated GIF and a ZIP of PNG frames, made on request.

A page that can draw one step as a single figure passes ``frame=`` (``k -> plotly Figure``, no
streamlit calls) to :func:`ui.stepper`; the stepper then draws "GIF" and "Frames (ZIP)" beside its
controls. In stages:
1. The first press asks for the export (a session flag, so it survives the rerun it causes: only the
   stepper's fragment in the browser, the whole script in an AppTest).
2. That rerun renders the run (:func:`viz.export.export_run`: at most ``MAX_FRAMES`` frames, sampled
   evenly when longer) inside a server-wide heavy slot, kind "export", with the page's language and
   presenter mode, since the figures are built in the script run like the page's own.
3. The two buttons become downloads of the bytes, kept in the run's cell: the next full run of the page
   (a changed control) drops them, so a download never shows an older setting.
Why not ``download_button(data=callable)`` as for one figure's PNG: Streamlit calls that on a worker
thread without the session, where ``ui.t`` and ``presenting()`` fall back to English and the default
view, and building 60 figures there would also skip the page's error guard.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from viz.export import MAX_FRAMES, ExportError, RunExport, export_run, sample_steps

from .heavy import run_heavy
from .i18n import t
from .page import guard

_REQUEST = "_export_request"


def _request(key: str) -> None:
    st.session_state[key + _REQUEST] = True
    st.session_state[key + "_touched"] = True  # the stepper's own press, not a timer tick


def _make(key: str, n: int, frame: Callable, delay: float) -> RunExport | None:
    m = len(sample_steps(n))
    with st.spinner(t("Rendering {m} frames…", m=m)), guard():  # guard: a refused slot (BusyError)
        try:
            return run_heavy(export_run, "export")(frame, n, key, ms_per_frame=round(delay * 1000))
        except ExportError as exc:
            st.error(t("Export failed: {error}", error=str(exc)))
    return None


def export_buttons(cols, key: str, n: int, frame: Callable, delay: float, cell: dict) -> None:
    """Draw the run's GIF and ZIP buttons in the two columns ``cols``; render on request."""
    if st.session_state.pop(key + _REQUEST, False):
        cell["export"] = _make(key, n, frame, delay)
    made: RunExport | None = cell.get("export")
    c_gif, c_zip = cols
    if made is None:
        hint = t(
            "Render the whole run as an animated GIF and as PNG frames (at most {cap} frames)", cap=MAX_FRAMES
        )
        c_gif.button(
            "GIF", icon=":material/movie:", key=key + "_gif_make", on_click=_request, args=(key,), help=hint
        )
        c_zip.button(
            t("Frames (ZIP)"),
            icon=":material/folder_zip:",
            key=key + "_zip_make",
            on_click=_request,
            args=(key,),
            help=hint,
        )
        return
    note = (
        t("{m} of {n} steps, evenly spaced", m=len(made.steps), n=made.total)
        if made.sampled
        else t("all {n} steps", n=made.total)
    )
    c_gif.download_button(
        "GIF",
        made.gif,
        file_name=f"{key}.gif",
        mime="image/gif",
        key=key + "_gif",
        on_click="ignore",
        icon=":material/download:",
        help=note,
    )
    c_zip.download_button(
        t("Frames (ZIP)"),
        made.zip,
        file_name=f"{key}_frames.zip",
        mime="application/zip",
        key=key + "_zip",
        on_click="ignore",
        icon=":material/download:",
        help=note,
    )
    if made.sampled:
        st.caption(note)
