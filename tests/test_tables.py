"""ui.table: small tables as static markup that shows text exactly as written, large ones as a grid."""

from __future__ import annotations

from apptables import read_text, tables
from hypothesis import given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from ui.page import WORD_JOINER, plain

TRAP = "[click](http://e.vil) *a*b_ `x` <b>y</b> $z$ :red[w] www.e.vil a@b.c 0.Conv matmul#1"


def _page():
    import streamlit as st

    import ui

    n = st.session_state.get("n", 3)
    ui.table(
        [
            {
                "node": "[click](http://e.vil) *a*b_ `x` <b>y</b> $z$ :red[w] www.e.vil a@b.c "
                "0.Conv matmul#1",
                "max |diff|": 0.5,
                "k": k,
            }
            for k in range(n)
        ],
        max_rows=5,
    )


def test_a_small_table_is_static_markup_that_shows_its_text_as_written():
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception and len(at.table) == 1 and len(at.dataframe) == 0
    raw = at.table[0].value
    cell = raw.iloc[0, 0]
    for markup in ("[click]", "*a*", "`x`", "<b>", "$z$", ":red[", "http://e.vil", "www.e.vil", "a@b.c"):
        assert markup not in cell, markup  # nothing a renderer would turn into a link, code or emphasis
    assert list(raw["k"]) == [0, 1, 2] and raw["max \\|diff\\|"].dtype.kind == "f"  # numbers as numbers
    (shown,) = tables(at)
    assert shown.iloc[0, 0] == TRAP and list(shown.columns) == ["node", "max |diff|", "k"]


def test_a_long_table_stays_a_data_grid():
    at = AppTest.from_function(_page, default_timeout=60)
    at.session_state["n"] = 6
    at.run()
    assert not at.exception and len(at.table) == 0 and len(at.dataframe) == 1
    assert at.dataframe[0].value.iloc[0, 0] == TRAP  # a grid shows text as text: nothing escaped


@settings(max_examples=300, deadline=None)
@given(hs.text().filter(lambda s: WORD_JOINER not in s))  # plain() adds word joiners; reading drops them
def test_reading_the_escaped_text_gives_it_back(text):
    assert read_text(plain(text)) == text
