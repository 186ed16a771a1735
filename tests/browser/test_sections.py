"""Sections (ui.section) and the lesson's fragment in a real browser.

A pick of the network family reruns only the network section — the websocket reports a fragment run
— and its graph is redrawn for the new family. In presenter mode the same pick reruns the whole
page (a full run), so the graph on the presenter stage, outside the section, is redrawn too. The
lesson's expander (ui.lesson) draws nothing while folded; opening it is a fragment run of its own, as is
opening model conversion's opset table (a ui.folded kept in the URL).
"""

from __future__ import annotations

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench import bench_browser as bb

GRAPH_TITLE = "[data-testid='stMain'] [data-testid='stPlotlyChart'] .gtitle"
STAGE_TITLE = "[data-testid='stMain'] .st-key-presenter_stage [data-testid='stPlotlyChart'] .gtitle"


def _pick_and_check(page, runs, want_status: int, title: str = GRAPH_TITLE) -> None:
    control, kind = bb.main_control(page)
    assert kind == "select"
    before = page.locator(title).first.text_content()
    bb.move_select(page, control, runs)
    assert runs.statuses[-1] == want_status
    page.wait_for_function(
        "([sel, old]) => { const t = document.querySelector(sel); return t && t.textContent !== old; }",
        arg=[title, before],
    )
    assert runs.errors == []


def test_a_family_pick_reruns_its_section_alone(server, page):
    runs = bb.Runs(page.context, page)
    page.goto(f"{server}/lightweight_zoo")
    bb.settle(page, runs, 0)
    assert runs.statuses[-1] == ForwardMsg.FINISHED_SUCCESSFULLY  # the page's own first run
    _pick_and_check(page, runs, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


def test_in_presenter_mode_a_pick_reruns_the_page_and_redraws_the_stage(server, page):
    runs = bb.Runs(page.context, page)
    page.goto(f"{server}/lightweight_zoo?present=1")
    bb.settle(page, runs, 0)
    page.locator("[data-testid='stMain'] [data-testid='stExpander'] summary").first.click()  # "Controls"
    _pick_and_check(page, runs, ForwardMsg.FINISHED_SUCCESSFULLY, STAGE_TITLE)


def test_opening_the_lesson_reruns_its_fragment_alone_and_shows_the_text(server, page):
    runs = bb.Runs(page.context, page)
    page.goto(f"{server}/roofline")
    bb.settle(page, runs, 0)
    body = "[data-testid='stMain'] [data-testid='stExpander'] [data-testid='stMarkdownContainer'] h2"
    assert page.locator(body).count() == 0  # folded: the lesson's markdown is not drawn
    done = runs.finished
    page.locator("[data-testid='stMain'] [data-testid='stExpander'] summary", has_text="Lesson").click()
    bb.settle(page, runs, done)
    assert runs.statuses[-1] == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    page.locator(body, has_text="Sources").wait_for(state="visible")
    assert runs.errors == []


def test_opening_the_opset_table_reruns_its_fragment_and_keeps_it_in_the_url(server, page):
    runs = bb.Runs(page.context, page)
    page.goto(f"{server}/model_conversion?mc_model=mlp")
    bb.settle(page, runs, 0)
    tables = "[data-testid='stMain'] [data-testid='stDataFrame']"
    before, done = page.locator(tables).count(), runs.finished
    page.locator(
        "[data-testid='stMain'] [data-testid='stExpander'] summary", has_text="Opset conversion"
    ).click()
    bb.settle(page, runs, done)
    assert runs.statuses[-1] == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length > n", arg=[tables, before])
    page.wait_for_function("() => new URLSearchParams(location.search).get('mc_opset') === 'true'")
    assert runs.errors == []
