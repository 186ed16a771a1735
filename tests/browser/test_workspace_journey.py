"""One graph through every lens, in a real browser: type a small model once in the Graph Builder, follow
its "Open in …" links through the labs (each shows the model's distinctive output name), come back
through the chip's "change" link, and open the last lab's address in a fresh browser context."""

from __future__ import annotations

from conftest import wait_app

PROGRAM = (
    "x = input([1, 3, 16, 16])\n"
    "W = param([8, 3, 3, 3])\n"
    "h = relu(conv2d(x, W, pad=1))\n"
    "f = flatten(h)\n"
    "V = param([2048, 16])\n"
    "okapi = f @ V\n"
)
JOURNEY = (
    "autodiff",
    "graph_passes",
    "fusion",
    "memory_planning",
    "roofline",
    "quantization",
    "pruning",
    "systolic_array",
    "davinci_core",
    "pipeline_parallel",
)


def _type_program(page, server) -> None:
    page.goto(f"{server}/graph_builder")
    wait_app(page, "Graph Builder")
    page.locator(".st-key-gb_source").get_by_text("Program", exact=True).click()
    box = page.locator(".st-key-gb_program textarea")
    box.wait_for(state="visible")
    box.fill(PROGRAM)
    box.press("Control+Enter")
    page.locator(".st-key-fig_gb_graph").get_by_text("okapi").first.wait_for(state="attached")
    wait_app(page)


def _sees_the_graph(page) -> None:
    wait_app(page)
    page.get_by_text("okapi", exact=False).first.wait_for(state="attached")
    assert "g=" in page.url and "okapi" in page.url


def test_one_graph_through_every_lens_and_into_a_fresh_browser(server, browser, page):
    _type_program(page, server)
    for k, lab in enumerate(JOURNEY):
        link = page.locator(f"a[href*='{lab}?g=']").first
        link.wait_for(state="attached")
        link.click()
        page.wait_for_url(f"**/{lab}?**")
        _sees_the_graph(page)
        if k < len(JOURNEY) - 1:  # back to the Graph Builder through the chip's "change" link
            page.locator("a[href*='graph_builder?g=']").first.click()
            page.wait_for_url("**/graph_builder?**")
            wait_app(page, "Graph Builder")
            assert page.locator(".st-key-gb_program textarea").input_value().strip() == PROGRAM.strip()
    last = page.url
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    other = fresh.new_page()
    other.set_default_timeout(90_000)
    other.goto(last)
    _sees_the_graph(other)
    assert other.url.split("?", 1)[1] == last.split("?", 1)[1] or "okapi" in other.url
    fresh.close()
