"""The tables of an AppTest run as a student reads them (``from apptables import tables``).

ui.table draws small tables with ``st.table``, whose cells and headers are markdown, so it escapes
their text (ui.page.plain: a backslash before markup characters, a word joiner inside autolinks).
:func:`read` undoes that, as the browser's markdown does; tests/test_tables.py checks it inverts
the escaping for any text.
"""

from __future__ import annotations

import re

import pandas as pd

from ui.page import WORD_JOINER
from ui.tables import map_text

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation


def read_text(value):
    """``value`` as markdown shows it (non-strings unchanged)."""
    return _ESCAPE.sub(r"\1", value).replace(WORD_JOINER, "") if isinstance(value, str) else value


def read(frame: pd.DataFrame) -> pd.DataFrame:
    """A ui.table's frame as shown: headers and string cells unescaped."""
    return map_text(frame, read_text)


def tables(at) -> list[pd.DataFrame]:
    """Every ``st.table`` of the run, as shown."""
    return [read(t.value) for t in at.table]
