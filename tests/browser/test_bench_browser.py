"""The browser bench (bench/bench_browser.py) measures what it says, on two pages with two moves.

One server, no cold-start repeats: every requested page comes back with finite first paints (cold
and warm), a page switch from the sidebar of the open app, a returning visit (a new tab of a
browser that has the app's files cached), two timed moves of a slider or a
selectbox, no error, and rows that bench/run.py can print (name, float value, unit, target, note)
with a summary naming the pages it measured.
"""

from __future__ import annotations

import math

from bench import bench_browser as bb

PAGES = ["collectives", "memory_planning"]  # a slider first, a selectbox first


def test_bench_measures_every_requested_page(browser):
    m = bb.measure(PAGES, moves=2, browser=browser, starts=0, budget_s=120)
    results = m.results
    assert m.skipped == [] and m.starts_s == []
    assert [r.page for r in results] == PAGES
    assert {r.page: r.control for r in results} == {"collectives": "slider", "memory_planning": "select"}
    for r in results:
        assert r.error == "", (r.page, r.error)
        assert math.isfinite(r.cold_s) and r.cold_s > 0
        assert math.isfinite(r.warm_s) and r.warm_s > 0
        assert len(r.actions_s) == 2 and all(math.isfinite(s) and s > 0 for s in r.actions_s)
        assert r.action_ms(50) <= r.action_ms(95)
        assert math.isfinite(r.switch_s) and r.switch_s > 0
        assert math.isfinite(r.cached_s) and r.cached_s > 0
        assert math.isfinite(r.server_cpu_ms) and r.server_cpu_ms > 0  # each move ran the page's script

    rows = bb.rows_for(m)
    for row in rows:
        assert set(row) >= {"name", "value", "unit", "target", "note"}
        assert isinstance(row["value"], float)
    by_name = {row["name"]: row for row in rows}
    for page in PAGES:
        assert math.isfinite(by_name[f"{page}: action → settled p95"]["value"])
    slowest = by_name["five slowest pages (action p95)"]["note"]
    assert all(page in slowest for page in PAGES)
    switch = by_name["page switch (sidebar link, app open) → settled: slowest page"]
    assert switch["value"] == max(r.switch_s for r in results)
    assert all(
        f"switch {r.switch_s:.2f} s" in by_name[f"{r.page}: action → settled p95"]["note"] for r in results
    )
    returning = by_name["returning visit (new tab, app's files cached): slowest page"]
    assert returning["value"] == max(r.cached_s for r in results)
    assert all(
        f"returning {r.cached_s:.2f} s" in by_name[f"{r.page}: action → settled p95"]["note"] for r in results
    )
    pooled = by_name["all pages: action → settled p95"]["value"]
    every = [s * 1000 for r in results for s in r.actions_s]
    assert min(every) <= pooled <= max(every)


def test_floor_page_is_measured_like_a_lab(browser):
    """bench/floor_page.py (the stack's floor) gets a cold start, two first paints and slider moves."""
    result, starts = bb.measure_floor(browser, moves=2, starts=1)
    assert result.error == "" and result.control == "slider"
    assert len(starts) == 1 and math.isfinite(starts[0]) and starts[0] > 0
    assert math.isfinite(result.cold_s) and math.isfinite(result.warm_s)
    assert len(result.actions_s) == 2 and all(s > 0 for s in result.actions_s)
    m = bb.Measurement([], [], [], (0.0, 0.0), result, starts)
    (row,) = bb.floor_row(m)
    assert row["name"].startswith("floor") and "cold start median" in row["note"]
    assert "server CPU" in row["note"]


def test_the_select_floor_is_moved_by_its_selectbox(browser):
    """bench/floor_select.py: the floor for the labs whose main control is a selectbox."""
    result, starts = bb.measure_floor(browser, moves=2, starts=0, app=bb.FLOOR_SELECT)
    assert result.error == "" and result.control == "select" and starts == []
    assert len(result.actions_s) == 2 and all(s > 0 for s in result.actions_s)
    assert result.page.startswith("floor, select")
    (row,) = bb.floor_row(bb.Measurement([], [], [], (0.0, 0.0), None, [], result))
    assert row["name"].startswith("floor, select") and "select moves, server CPU" in row["note"]


def test_settled_waits_for_the_figure_and_moves_are_timed_from_the_pages_input(browser):
    """On the floor page the slider is drawn ~1 s before plotly's code has loaded: settled must still
    mean its figure is drawn. A move is timed from the page's own keydown, which the page saw."""
    from bench.st_client import Server

    server = Server("0", app=bb.FLOOR)
    try:
        server.wait_ready()
        context, page, runs, seconds = bb.open_page(browser, f"http://127.0.0.1:{server.port}", "")
        try:
            assert page.locator(f"{bb.MAIN} [data-testid='stPlotlyChart'] .main-svg").count() >= 1
            assert page.locator(f"{bb.MAIN} [data-testid='stSkeleton']").count() == 0
            control, kind = bb.main_control(page)
            assert kind == "slider"
            elapsed, _ = bb.move_slider(page, control, runs, True)
            assert page.evaluate("window.__aislInput") > 0  # the page's clock, not the fallback
            assert 0 < elapsed < bb.SETTLE_TIMEOUT_S
        finally:
            context.close()
    finally:
        server.stop()
