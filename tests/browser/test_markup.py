"""Markup typed by a user (or carried by a share link) renders as text, never as HTML or markdown.

1. Every free-text box in the app (grep ``text_input``/``text_area`` in labs/ and ui/) gets a
   payload of HTML, a ``javascript:`` link, a script, markdown emphasis, LaTeX, a Streamlit colour
   directive and autolinks; typed and submitted, or — for the boxes whose error echoes the text —
   also arriving in the URL, as a shared link would bring it.
2. The page settles; then: no ``dialog`` event (``alert(1)`` never ran), no injected ``<img>``,
   ``javascript:`` link or script anywhere, no markup element (link, bold, italic, struck, KaTeX)
   inside a message, and where the page echoes the text, the payload appears in it exactly as typed.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import wait_app

PAYLOAD = (
    "<img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>alert(1)</script> "
    "**bold** _em_ ~~gone~~ $x^2$ :red[red] http://evil.example www.evil.example"
)
PROGRAM = "a = input([2, 3])\n" + PAYLOAD + "\n"
INJECTED = """() => {
  const href = a => ((a.getAttribute('href') || '') + (a.getAttribute('xlink:href') || ''))
    .toLowerCase();
  const inAlerts = sel =>
    document.querySelectorAll(`[data-testid='stAlert'] :is(${sel})`).length;
  return {
    img: document.querySelectorAll("img[src='x'], img[onerror], [onerror]").length,
    javascript_link: Array.from(document.querySelectorAll('a'))
      .filter(a => href(a).includes('javascript')).length,
    script: Array.from(document.querySelectorAll('script'))
      .filter(s => s.textContent.includes('alert(1)')).length,
    markup_in_message: inAlerts('a, strong, em, del, img, .katex, [class*=colored], code'),
  };
}"""
CLEAN = {"img": 0, "javascript_link": 0, "script": 0, "markup_in_message": 0}
PROGRAM_BOXES = [  # (url, box, text): the programs' parse errors name the line, not its text
    ("graph_builder?gb_source=" + quote("Program · 程序"), ".st-key-gb_program textarea", PROGRAM),
]
GRAPH_LINKS = [  # your graph (g) carried by a posted link, opened in labs that show its error
    f"{lab}?g=" + quote(PROGRAM) for lab in ("autodiff", "fusion", "graph_passes", "systolic_array")
]
ECHOING_BOXES = [  # their error message quotes what was typed
    (
        "memory_planning?mp_source=custom",
        ".st-key-mp_text textarea",
        "10 0 1\n" + PAYLOAD + "\n",
    ),
    ("layout_explorer", ".st-key-le_shape input", PAYLOAD),
]
SHARED_LINKS = [  # the same payload arriving in a link someone posted
    "memory_planning?mp_source=custom&mp_text=" + quote(PAYLOAD),
    "layout_explorer?le_shape=" + quote(PAYLOAD),
]


@pytest.fixture(scope="module")
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield pg, dialogs
    context.close()


def _type(pg, server: str, url: str, box: str, text: str, expect: str) -> None:
    """Type ``text`` into ``box`` and submit; wait until a message containing ``expect`` shows."""
    pg.goto(f"{server}/{url}")
    wait_app(pg)
    field = pg.locator(box)
    field.wait_for(state="visible")
    field.fill(text)
    field.press("Control+Enter" if box.endswith("textarea") else "Enter")
    _wait_message(pg, expect)


def _wait_message(pg, text: str) -> None:
    pg.locator("[data-testid='stAlert']").filter(has_text=text).first.wait_for(state="visible")
    wait_app(pg)


def _assert_inert(pg, dialogs: list[str]) -> None:
    assert dialogs == [], f"a script ran: {dialogs}"
    assert pg.evaluate(INJECTED) == CLEAN


def _messages(pg) -> str:
    """The messages' text; ui.plain's invisible word joiners (they break autolinks) dropped."""
    return "\n".join(pg.locator("[data-testid='stAlert']").all_inner_texts()).replace("\u2060", "")


@pytest.mark.parametrize("url, box, text", PROGRAM_BOXES, ids=[c[0].split("?")[0] for c in PROGRAM_BOXES])
def test_markup_in_a_program_box_is_inert(tab, server, url, box, text):
    pg, dialogs = tab
    _type(pg, server, url, box, text, "line 2")  # the payload reached the parser and was refused
    _assert_inert(pg, dialogs)


@pytest.mark.parametrize("url, box, text", ECHOING_BOXES, ids=[c[0].split("?")[0] for c in ECHOING_BOXES])
def test_markup_typed_into_a_box_is_echoed_as_text(tab, server, url, box, text):
    pg, dialogs = tab
    _type(pg, server, url, box, text, "onerror=alert(1)")
    assert PAYLOAD in _messages(pg)
    _assert_inert(pg, dialogs)


@pytest.mark.parametrize("url", SHARED_LINKS, ids=[u.split("?")[0] for u in SHARED_LINKS])
def test_markup_in_a_shared_link_is_echoed_as_text(tab, server, url):
    pg, dialogs = tab
    pg.goto(f"{server}/{url}")
    _wait_message(pg, "onerror=alert(1)")
    assert PAYLOAD in _messages(pg)
    _assert_inert(pg, dialogs)


@pytest.mark.parametrize("url", GRAPH_LINKS, ids=[u.split("?")[0] for u in GRAPH_LINKS])
def test_markup_in_a_graph_link_is_refused_as_text(tab, server, url):
    pg, dialogs = tab
    pg.goto(f"{server}/{url}")
    _wait_message(pg, "line 2")  # the payload reached the parser and was refused, shown as text
    _assert_inert(pg, dialogs)
