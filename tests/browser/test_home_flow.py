"""The home page's curriculum flow in a real browser: an SVG image, so the landing page (and every
cold start's first paint) loads no plotly code; its exports download — the SVG is the drawing shown,
the slide PNG is its plotly twin at 1920×1080, made on the click (outside any script run)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from conftest import wait_app
from PIL import Image

FLOW = ".st-key-svg_home_flow img"


def _download(page, selector: str) -> bytes:
    """The file behind a download button; a click lost while a late rerun replaces the button (a
    fresh server's first visit reruns once through app.py) is made once more."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(2):
        try:
            with page.expect_download(timeout=60_000) as info:
                page.locator(selector).first.click()
            return Path(info.value.path()).read_bytes()
        except PlaywrightTimeout:
            if attempt:
                raise
            wait_app(page)
    raise AssertionError("unreachable")


def test_home_paints_its_flow_without_plotly_and_exports_it(server, page):
    scripts = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(f"{server}/")
    wait_app(page)
    page.locator(FLOW).wait_for(state="visible")
    page.wait_for_function(  # decoded and drawn (a data URL can still be decoding when visible)
        "(sel) => { const img = document.querySelector(sel);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=FLOW,
    )
    assert scripts and not [u for u in scripts if "Plotly" in u], "the home page loaded plotly's code"

    wait_app(page)  # settled twice over (wait_app), so the buttons below are this run's
    shown = page.locator(FLOW).get_attribute("src")
    assert shown.startswith("data:image/svg+xml;base64,")
    svg = _download(page, ".st-key-dl_home_flow_svg button")
    assert svg == base64.b64decode(shown.split(",", 1)[1])
    png = _download(page, ".st-key-dl_home_flow_slide button")
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (1920, 1080)
    assert page.locator("[data-testid='stException']").count() == 0
