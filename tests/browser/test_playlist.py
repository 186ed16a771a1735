"""A lecture playlist journey in a real browser (ui/playlist.py).

An instructor adds three views from three labs (one with a control changed in the page, so the view is
what the page shows, not the link it was opened with), exports the lecture, imports it in a fresh
browser context, presents it, steps through it with PageDown / PageUp across labs, and a notes window
(a second page of the same context, ``?notes=1``) follows each step over the BroadcastChannel.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from conftest import wait_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWS = [  # (page, how to reach it, title, notes, question)
    ("roofline", "Roofline of one GEMM", "Point at the ridge.", "Compute- or memory-bound?"),
    ("memory_planning", "", "Greedy beats naive here.", ""),
    ("fusion", "Fusion", "", "What fuses with the conv?"),
]


def _open_panel(page) -> None:
    page.locator("[data-testid='stSidebar'] summary", has_text="My lecture").click()
    page.locator(".st-key-pl_add button").wait_for(state="visible")


def _add_view(page, title: str, notes: str, question: str, n: int) -> None:
    _open_panel(page)
    # typed values are committed when the field loses focus, which the click on Add does first
    page.locator(".st-key-pl_title input").fill(title)
    page.locator(".st-key-pl_question input").fill(question)
    page.locator(".st-key-pl_notes textarea").fill(notes)
    page.locator(".st-key-pl_add button").click()
    page.get_by_text(f"as view {n}.").wait_for(state="visible")


def _go_by_menu(page, stem: str) -> None:
    """Open another lab through the sidebar menu: the same session, so the playlist stays."""
    page.locator(f"[data-testid='stSidebarNav'] a[href$='/{stem}']").click()
    page.wait_for_url(re.compile(rf"/{stem}(\?|$)"))
    wait_app(page)


def _notes_title(page, text: str) -> None:
    page.locator("h1", has_text=text).wait_for(state="visible", timeout=30_000)


def test_add_export_import_and_present_with_a_notes_window(server, browser, page, tmp_path):
    # 1. three views from three labs, in one session; the first with a control changed on the page
    page.goto(f"{server}/roofline?rf_n=2048")
    wait_app(page)
    page.locator(".st-key-rf_m input").fill("1024")
    page.locator(".st-key-rf_m input").press("Enter")
    page.wait_for_function("() => location.search.includes('rf_m=1024')")
    wait_app(page)
    for n, (stem, title, notes, question) in enumerate(VIEWS):
        if n:
            _go_by_menu(page, stem)
        _add_view(page, title, notes, question, n + 1)

    # 2. export
    with page.expect_download() as info:
        page.locator(".st-key-pl_export button").click()
    exported = json.loads(info.value.path().read_text(encoding="utf-8"))
    items = exported["items"]
    assert [urlsplit(i["view"]).path for i in items] == ["/roofline", "/memory_planning", "/fusion"]
    first = parse_qs(urlsplit(items[0]["view"]).query)
    assert first["rf_m"] == ["1024"] and first["rf_n"] == ["2048"]  # what the page showed
    assert [i["title"] for i in items] == ["Roofline of one GEMM", "Memory planning", "Fusion"]
    assert items[0]["notes"] == "Point at the ridge." and items[2]["question"] == "What fuses with the conv?"
    file = tmp_path / "lecture.json"
    file.write_text(json.dumps(exported), encoding="utf-8")

    # 3. import in a fresh context (a new browser profile: nothing shared with the first)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        fresh = context.new_page()
        fresh.set_default_timeout(90_000)
        fresh.goto(server)
        wait_app(fresh)
        _open_panel(fresh)
        fresh.locator(".st-key-pl_import input[type='file']").set_input_files(str(file))
        fresh.get_by_text("Imported 3 views.").wait_for(state="visible")
        href = fresh.get_by_role("link", name="Present it (PageDown / PageUp)").get_attribute("href")

        # 4. present it; a notes window in the same context follows the presenter window
        fresh.goto(urljoin(fresh.url, href))
        wait_app(fresh)
        fresh.get_by_text("Compute- or memory-bound?").wait_for(state="visible")  # the question banner
        notes = context.new_page()
        notes.set_default_timeout(90_000)
        notes.goto(f"{server}/?notes=1")
        _notes_title(notes, "1 / 3 · Roofline of one GEMM")
        notes.get_by_text("Point at the ridge.").wait_for(state="visible")
        notes.get_by_text("Next: Memory planning").wait_for(state="visible")

        for key, stem, pi, heading in (
            ("PageDown", "memory_planning", 1, "2 / 3 · Memory planning"),
            ("PageDown", "fusion", 2, "3 / 3 · Fusion"),
            ("PageUp", "memory_planning", 1, "2 / 3 · Memory planning"),
        ):
            fresh.evaluate("() => document.activeElement && document.activeElement.blur()")
            fresh.keyboard.press(key)
            fresh.wait_for_url(re.compile(rf"/{stem}\?.*pi={pi}(&|$)"))
            wait_app(fresh)
            assert parse_qs(urlsplit(fresh.url).query)["present"] == ["1"]
            _notes_title(notes, heading)
        assert "rf_m=1024" not in fresh.url
        notes.get_by_text("Greedy beats naive here.").wait_for(state="visible")
        for pg in (page, fresh, notes):
            assert pg.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_the_view_share_is_drawn_only_when_opened_and_then_shows_this_views_link(server, page):
    """The sidebar's "Link & QR code of this view" is lazy: a first visit draws no code block (the
    browser's syntax highlighter is not loaded), and opening it shows this view's link and its QR."""
    page.goto(f"{server}/roofline?rf_n=2048")
    wait_app(page, "Roofline")
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.locator("[data-testid='stCode']").count() == 0
    assert sidebar.locator("[data-testid='stImage']").count() == 0
    sidebar.locator("summary", has_text="Link & QR code of this view").click()
    code = sidebar.locator("[data-testid='stCode']").first
    code.wait_for(state="visible")
    link = urlsplit(code.inner_text().strip())
    assert link.path == "/roofline" and parse_qs(link.query)["rf_n"] == ["2048"]
    sidebar.locator("[data-testid='stImage'] img").first.wait_for(state="visible")
