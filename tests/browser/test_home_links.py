"""Issue 14 in a real browser: the home page's "What to try first" links show whole and open the lab
they name; a figure's export buttons sit together as one toolbar; "Open in Netron" is on the first
screen of a graph page and opens the graph in the app's own Netron."""

from __future__ import annotations

import ast
import re
from urllib.parse import urljoin, urlparse

import pytest
from conftest import ROOT, wait_app

from ui.catalog import LABS


def _first_path() -> tuple[str, ...]:
    """labs/home.py's FIRST_PATH, read without running the page."""
    tree = ast.parse((ROOT / "labs" / "home.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FIRST_PATH":
            return ast.literal_eval(node.value)
    raise AssertionError("labs/home.py has no FIRST_PATH")


TITLES = {lab.page: lab.title for lab in LABS}
FIRST = [p for p in _first_path() if (ROOT / "labs" / f"{p}.py").exists()]
LINKS = ".st-key-home_first_path a[data-testid='stPageLink-NavLink']"
NETRON_URL = re.compile(
    r"^/app/static/netron/index\.html\?url=(/app/static/netron/models/[0-9a-f]{32}\.onnx)$"
)


def _open(page, url: str, size: tuple[int, int], text: str | None = None) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(url)
    wait_app(page, text)


def _first_path_links(page) -> list[dict]:
    """Each first-path link: its text, href, whether its label is clipped, and whether it lies inside
    the row's box (a page link's negative margins reach a few pixels above and below it) and the
    window."""
    return page.evaluate(
        """(sel) => {
            const row = document.querySelector('.st-key-home_first_path');
            const box = row.getBoundingClientRect();
            return [...document.querySelectorAll(sel)].map(a => {
                const r = a.getBoundingClientRect();
                const clipped = [a, ...a.querySelectorAll('*')].some(
                    e => e.scrollWidth > e.clientWidth + 1);
                return {text: a.innerText.split('\\n').pop().trim(), href: a.getAttribute('href'),
                        clipped, width: r.width,
                        inside: r.left >= box.left - 1 && r.right <= box.right + 1
                                && r.top >= box.top - 8 && r.bottom <= box.bottom + 8
                                && r.right <= window.innerWidth};
            });
        }""",
        LINKS,
    )


@pytest.mark.parametrize(
    ("query", "size"),
    [("", (1280, 720)), ("", (1920, 1080)), ("?present=1", (1280, 720)), ("?present=1", (1920, 1080))],
)
def test_first_path_links_show_their_whole_titles(server, page, query, size):
    _open(page, f"{server}/{query}", size, "What to try first")
    page.locator(".st-key-home_first_path").scroll_into_view_if_needed()
    links = _first_path_links(page)
    assert [link["text"] for link in links] == [f"{k}. {TITLES[p]}" for k, p in enumerate(FIRST, 1)]
    for link in links:
        assert not link["clipped"], f"{link['text']!r} is cut off at {size} {query}"
        assert link["inside"] and link["width"] > 0, f"{link['text']!r} lies outside its row"


def test_first_path_links_open_the_lab_they_name(server, page):
    _open(page, f"{server}/", (1280, 720), "What to try first")
    links = _first_path_links(page)
    assert len(links) == len(FIRST) >= 5
    for k, (link, expected) in enumerate(zip(links, FIRST, strict=True), start=1):
        target = urlparse(urljoin(f"{server}/", link["href"]))
        assert target.netloc == urlparse(server).netloc  # a page of this app
        page_name = target.path.strip("/")
        assert page_name == expected and (ROOT / "labs" / f"{page_name}.py").exists()
        if k in (1, len(FIRST)):  # follow the first and the last link by clicking them
            _open(page, f"{server}/", (1280, 720), "What to try first")
            page.locator(LINKS).nth(k - 1).click()
            page.wait_for_url(re.compile(rf"/{expected}(\?|$)"))
            wait_app(page)
            assert page.locator("h1").first.inner_text().strip() == TITLES[expected]


def _toolbar_rows(page) -> list[list[dict]]:
    """The download buttons of each figure's export row, with their boxes."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[class*='st-key-dl_row_']")].map(row =>
            [...row.querySelectorAll("[data-testid='stDownloadButton']")].map(d => {
                const b = [...d.querySelectorAll('button')].find(
                    e => e.getBoundingClientRect().width > 0);
                const r = b.getBoundingClientRect();
                return {label: b.innerText.trim(), left: r.left, right: r.right, top: r.top,
                        height: r.height};
            }))"""
    )


@pytest.mark.parametrize("path", ["/", "/roofline"])
def test_export_buttons_sit_together_as_one_toolbar(server, page, path):
    _open(page, f"{server}{path}", (1280, 720))
    # a late rerun (a cold server's first deep link) can be replacing a row's buttons when the page
    # first looks settled: read the rows until two reads a second apart agree (at most ~20 s)
    rows, previous = _toolbar_rows(page), None
    for _ in range(20):
        if rows == previous:
            break
        page.wait_for_timeout(1000)
        previous, rows = rows, _toolbar_rows(page)
    # every export button of the page is in a figure's row, and every row has its three image formats
    assert page.locator("[data-testid='stDownloadButton']").count() >= sum(map(len, rows)) > 0
    for buttons in rows:
        assert [b["label"] for b in buttons][:3] == ["PNG", "PNG (slide)", "SVG"]
        assert {b["label"] for b in buttons[3:]} <= {"JSON", "CSV"}
        tops = {round(b["top"]) for b in buttons}
        assert max(tops) - min(tops) <= 2, f"buttons on different lines: {buttons}"
        for a, b in zip(buttons, buttons[1:]):
            assert 0 <= b["left"] - a["right"] <= 24, f"{a['label']} and {b['label']} sit apart"


@pytest.mark.parametrize(
    ("path", "key"), [("/graph_passes", "ws"), ("/roofline", "ws"), ("/graph_builder", "gb")]
)
def test_open_in_netron_is_on_the_first_screen_and_opens_the_graph(server, page, path, key):
    _open(page, f"{server}{path}", (1280, 720))
    assert page.locator(f".st-key-{key}_netron_pop").count() == 1
    action = page.locator(f".st-key-{key}_netron_pop button").first
    box = action.bounding_box()
    assert box is not None and action.is_visible()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720, f"'Open in Netron' below the fold: {box}"
    assert "Open in Netron" in action.inner_text()
    action.click()
    link = page.get_by_role("link", name="Open Netron in a new tab")
    link.wait_for(state="visible")
    href = link.get_attribute("href")
    match = NETRON_URL.match(href or "")
    assert match, href
    model = page.request.get(f"{server}{match.group(1)}")
    assert model.ok and len(model.body()) > 0  # the ONNX the link names was published
    assert page.request.get(f"{server}/app/static/netron/models/").status != 200  # no listing
