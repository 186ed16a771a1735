"""Tables on a lab page: small ones as static markup, large ones as Streamlit's data grid.

Why: ``st.dataframe`` draws with a canvas data grid whose code (1.7 MB, with its dependencies) the
browser loads and runs before the block it sits in is shown. Measured on memory planning (a new
browser profile, medians of 5, two rounds alternated): its one 3-row table as ``st.dataframe``,
first paint 5.06 / 4.62 s; as ``st.table``, 4.02 / 4.00 s, 11 requests and 0.66 MB fewer. A page
gets that only when none of its first-screen tables is a data grid.

:func:`table` draws up to ``max_rows`` rows with ``st.table``. ``st.table`` reads every cell and
header as markdown, so string cells and headers are escaped (:func:`ui.page.plain`): a node name
from an uploaded model shows exactly as written, never as a link or emphasis. Longer tables stay
``st.dataframe`` (scrolling, sorting, search and its CSV download are worth the code there).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .page import plain

MAX_ROWS = 40


def map_text(frame: pd.DataFrame, fn) -> pd.DataFrame:
    """A copy of ``frame`` with ``fn`` applied to its headers and its non-numeric cells (``fn`` must
    leave non-strings as they are)."""
    shown = frame.rename(columns=fn)
    for column in shown.columns:
        if not pd.api.types.is_numeric_dtype(shown[column]):
            shown[column] = shown[column].map(fn)
    return shown


def _escaped(value):
    return plain(value) if isinstance(value, str) else value


def table(data, *, max_rows: int = MAX_ROWS) -> None:
    """``data`` (a list of row dicts or a DataFrame) as a table without its index; see the module."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    if len(frame) > max_rows:
        st.dataframe(frame, hide_index=True)
        return
    st.table(map_text(frame, _escaped), hide_index=True)
