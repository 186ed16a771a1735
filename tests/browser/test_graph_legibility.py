"""Graphs a class can read (issue 14), in a real browser at 1280×720.

On /graph_passes and /fusion (two graphs side by side, each in a half-width column) the first graph
drawing (a plotly chart whose layout is marked ``meta.graph``, a chain-like preset by default):
- its plot area takes ≥ 60 % of the figure's width (the old 1:1 aspect lock drew a chain in a strip);
- the smallest SVG text it draws is ≥ 12 px;
- no two of its drawn labels overlap (their rendered boxes, shrunk by 1 px for anti-aliasing);
- with the "Graph size" control at L (its URL value ``gsize=L``) its nodes and labels are larger.
"""

from __future__ import annotations

import pytest
from conftest import wait_app

PAGES = ("graph_passes", "fusion")

_MEASURE_JS = """
() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')]
    .find(el => el._fullLayout && el._fullLayout.meta && el._fullLayout.meta.graph);
  if (!plot) return null;
  const size = plot._fullLayout._size;
  const texts = [...plot.querySelectorAll('.scatterlayer .textpoint text')]
    .filter(t => t.textContent.trim())
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize),
                        box: [r.left, r.top, r.right, r.bottom]}; });
  const fonts = [...plot.querySelectorAll('svg text')].filter(t => t.textContent.trim())
    .map(t => parseFloat(getComputedStyle(t).fontSize));
  const points = [...plot.querySelectorAll('.scatterlayer .trace .points path.point')]
    .map(p => p.getBoundingClientRect().width).filter(w => w > 0);
  return {width: plot._fullLayout.width, plotWidth: size.w, texts, fonts,
          marker: Math.max(...points), labelPx: Math.max(...texts.map(t => t.px))};
}
"""

_READY_JS = """
() => [...document.querySelectorAll('.js-plotly-plot')]
  .some(el => el._fullLayout && el._fullLayout.meta && el._fullLayout.meta.graph)
"""


def _measure(page, url: str) -> dict:
    page.goto(url)
    wait_app(page)
    page.wait_for_function(_READY_JS, timeout=60_000)
    page.wait_for_timeout(500)
    found = page.evaluate(_MEASURE_JS)
    assert found, f"no graph drawing on {url}"
    return found


def _overlap(a, b) -> bool:
    return a[0] + 1 < b[2] and b[0] + 1 < a[2] and a[1] + 1 < b[3] and b[1] + 1 < a[3]


@pytest.fixture()
def small_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    context.close()


@pytest.mark.parametrize("page_id", PAGES)
def test_graph_uses_the_width_and_labels_are_legible(server, small_page, page_id):
    got = _measure(small_page, f"{server}/{page_id}")
    assert got["plotWidth"] >= 0.6 * got["width"], got["plotWidth"]
    assert got["texts"], "the graph names its nodes"
    assert min(got["fonts"]) >= 12, min(got["fonts"])
    texts = got["texts"]
    for k, a in enumerate(texts):
        for b in texts[k + 1 :]:
            assert not _overlap(a["box"], b["box"]), (a["text"], b["text"])

    large = _measure(small_page, f"{server}/{page_id}?gsize=L")
    assert large["marker"] > got["marker"] and large["labelPx"] > got["labelPx"]
    for k, a in enumerate(large["texts"]):
        for b in large["texts"][k + 1 :]:
            assert not _overlap(a["box"], b["box"]), (a["text"], b["text"])
