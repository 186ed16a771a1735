"""Lazy tabs in a real browser (Graph Builder): a hidden tab's content is not on the page, a click on
a tab draws it and puts the tab in the address, and that address opens the page on the same tab."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from conftest import wait_app

MAIN = "[data-testid='stMain']"
CODE = f"{MAIN} [data-testid='stCode']"


def _selected_tab(page) -> str:
    return page.locator(f"{MAIN} [role='tab'][aria-selected='true']").first.inner_text().strip()


def test_a_tab_is_drawn_when_opened_and_its_link_opens_it(server, page):
    page.goto(f"{server}/graph_builder")
    wait_app(page, "Graph Builder")
    assert _selected_tab(page) == "Run: every value"
    code_blocks = page.locator(CODE).count()  # the program, beside the controls
    assert page.get_by_text("Arithmetic intensity = FLOPs", exact=False).count() == 0  # the Cost tab's

    page.get_by_role("tab", name="Cost per node").click()
    page.wait_for_url(re.compile(r"gb_tab=Cost"))
    page.get_by_text("Arithmetic intensity = FLOPs", exact=False).first.wait_for(state="visible")
    wait_app(page)
    assert parse_qs(urlsplit(page.url).query)["gb_tab"] == ["Cost per node"]

    page.get_by_role("tab", name="Printout & code").click()
    page.wait_for_url(re.compile(r"gb_tab=Printout"))
    wait_app(page)
    page.wait_for_function(  # the printout and the engine's source, drawn on the click
        "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[CODE, code_blocks + 2]
    )
    assert page.get_by_text("Arithmetic intensity = FLOPs", exact=False).count() == 0  # hidden again

    shared = page.url
    page.goto("about:blank")
    page.goto(shared)
    wait_app(page, "Graph Builder")
    assert _selected_tab(page) == "Printout & code"
    assert page.locator(CODE).count() == code_blocks + 2
    assert page.locator("[data-testid='stException']").count() == 0
