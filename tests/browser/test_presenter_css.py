"""Presenter mode's CSS (ui/page.py) targets a few of Streamlit's data-testid selectors; if Streamlit
renames one, presenter mode silently loses its large type. This test opens a lab with metrics and
lesson text in both modes and checks that every selector matches and its rule is applied."""

from __future__ import annotations

import re

from conftest import wait_app

from ui.page import _PRESENTER_CSS

SELECTORS = sorted(set(re.findall(r"\[data-testid=\"(\w+)\"\]", _PRESENTER_CSS)))


def _sizes(page) -> dict[str, float]:
    # the metrics come after the graph is built: wait for them, not only for the script's first frame
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=90_000)
    return page.evaluate(
        """() => {
      const px = (sel) => {
        const el = document.querySelector(sel);
        return el ? parseFloat(getComputedStyle(el).fontSize) : null;
      };
      return {
        metric: px('[data-testid="stMetricValue"]'),
        h1: px('h1'),
        text: px('[data-testid="stMarkdownContainer"] p'),
      };
    }"""
    )


def test_every_presenter_selector_matches_and_enlarges_the_page(server, page):
    page.goto(f"{server}/graph_builder")
    wait_app(page)
    plain = _sizes(page)
    page.goto(f"{server}/graph_builder?present=1")
    wait_app(page)
    missing = [s for s in SELECTORS if s != "stSidebar" and page.locator(f"[data-testid='{s}']").count() == 0]
    assert missing == [], f"presenter CSS targets selectors this Streamlit no longer renders: {missing}"
    assert page.locator("[data-testid='stSidebar']").is_hidden()
    big = _sizes(page)
    for what in ("metric", "h1", "text"):
        assert plain[what] and big[what] and big[what] > plain[what] * 1.15, (what, plain, big)
    width = page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-testid=\"stMainBlockContainer\"]')).maxWidth"
    )
    assert width in ("100%", "none") or width.endswith("px") and float(width[:-2]) >= 1200
