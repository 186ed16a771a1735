"""Browser section of ``make bench``: what a student feels, page by page, in a real chromium.

Stages:
  1. cold start, median of 3: launch a fresh ``streamlit run app.py`` (bench/st_client.py Server,
     pinned to core 0) and time launch → home page settled in a new browser context;
  2. one more server for the pages; for every lab of ui/catalog.py LABS (``AISL_BENCH_PAGES=a,b``
     selects some), in catalogue order:
       a. cold first paint: a new context opens ``/<page>`` (the page's first visit in this process)
          and is timed from ``goto`` to settled;
       b. warm first paint: a second new context, the same;
       c. in that second context, ``moves`` moves of the page's main control (the first visible
          slider or selectbox in the main area): a slider thumb is focused and gets ArrowRight
          (ArrowLeft at its maximum), a selectbox gets a click on another option; each is timed on
          the page's own clock from its keydown or pointerdown event to settled (not from when
          Playwright was asked to click: its checks before a click took ~60 ms);
  3. page switches, on the same warm server: one more context opens the home page, then clicks each
     page's link in the sidebar's navigation in catalogue order, each timed from the click to
     settled — how a student moves between labs (the app's code is loaded, its files are cached);
     stages 2a and 2b are a first visit in a new browser profile, which loads it all every time;
  4. returning visits, on the same server: one more context opens the home page (so the app's
     files are in its cache, as in the browser of a student who has used the app before), then
     opens each page's link in a new tab of that context (a bookmark, a shared link), timed from
     ``goto`` to settled — first paint with the app's code cached, a new session on the server;
  5. rows: one per page (value = action p95 in ms; note = cold and warm first paint, page switch,
     action median), then the summary rows against the issue's targets (action p95 ≤ 250 ms on
     every page, first paint ≤ 1.5 s — for a new browser profile, a switch and a returning visit — cold start
     ≤ 2 s), the overall action p95 and the five slowest pages.

Settled = the page's websocket received a new ``script_finished`` (full run or fragment run, read
from Chrome DevTools' frames, so a deep link's first run that ends early for a rerun does not
count), no status widget ([data-testid=stStatusWidget]) is shown, the page's own content is visible
(its h1 and its first figure or control), every plotly figure shown in the main area has drawn its
plot, and one animation frame has been painted. Waiting for the frame instead of a fixed grace
matters: after a deep link the status widget appears only ~1.5 s after the run started, so "no
status widget" alone is true too early. Waiting for the figures matters for the floor: its slider
is drawn ~1 s before plotly's 4.7 MB chunk has loaded and drawn its one figure, so without it the
floor's first paint (1.2 s) was a page without its figure, while a lab's controls appear only with
its figures (Streamlit shows a block once the code of all its elements has loaded).

The server is pinned to core 0 (as in bench_load.py); chromium and this process are not pinned, so
browser and server share the machine's cores as a student's laptop running both would.
The whole section is bounded by ``AISL_BENCH_BUDGET_S`` (default 450 s): pages not reached in time
are listed in a row, never silently dropped. Not measured: several students at once (bench_load.py),
network latency, Chinese pages.
"""

from __future__ import annotations

import base64
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.load_browser import CHROMIUM, CHROMIUM_ARGS
from bench.st_client import ROOT, Server

APP = ROOT / "app.py"
FLOOR = ROOT / "bench" / "floor_page.py"
FLOOR_SELECT = ROOT / "bench" / "floor_select.py"  # the same floor, moved by a selectbox as most labs are
ACTION_TARGET_MS = 250.0
PAINT_TARGET_S = 1.5
COLD_START_TARGET_S = 2.0
MOVES = 8
SERVER_CORE = "0"
SETTLE_TIMEOUT_S = 90.0
MAIN = "[data-testid='stMain']"
NO_STATUS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
CONTENT = ", ".join(
    f"{MAIN} [data-testid='{t}']"
    for t in (
        "stPlotlyChart",
        "stGraphVizChart",
        "stImage",
        "stIFrame",
        "stSlider",
        "stSelectbox",
        "stNumberInput",
        "stRadio",
        "stTextArea",
        "stButton",
        "stPageLink",
    )
)
CONTROL = f"{MAIN} [data-testid='stSlider'], {MAIN} [data-testid='stSelectbox']"
THUMB = "input[type='range'], [role='slider']"
CONTROL_WAIT_S = 20.0
OPEN_TRIES, OPEN_WAIT_S = 3, 5.0  # a selectbox's list: clicks to open it, seconds to wait for each
# (value, min, max) of a slider thumb: an <input type=range> or a baseweb div with aria values
THUMB_STATE = """(el) => el.tagName === 'INPUT' ? [+el.value, +el.min, +el.max]
  : [+el.getAttribute('aria-valuenow'), +el.getAttribute('aria-valuemin'),
     +el.getAttribute('aria-valuemax')]"""
# resolves with the page's clock once a frame has been painted
PAINTED = """() => new Promise(r => requestAnimationFrame(
  () => requestAnimationFrame(() => r(performance.now()))))"""
# no element of the main area waits for its code (Streamlit shows a skeleton in its place while an
# element's chunk loads) and every plotly figure shown there has drawn its plot (one in a hidden tab
# is not shown)
FIGURES_DRAWN = f"""() => !document.querySelector("{MAIN} [data-testid='stSkeleton']")
  && [...document.querySelectorAll("{MAIN} [data-testid='stPlotlyChart']")]
  .filter(el => el.getClientRects().length).every(el => el.querySelector('.main-svg'))"""
# the page's clock at the user's last input (pointerdown or keydown, seen first, in the capture phase)
INPUT_CLOCK = """window.__aislInput = 0;
for (const kind of ['pointerdown', 'keydown'])
  window.addEventListener(kind, () => { window.__aislInput = performance.now(); }, {capture: true});"""
FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


class Runs:
    """The finished script runs a page's websocket received (DevTools frames): their statuses (full
    or fragment run), in order."""

    def __init__(self, context, page) -> None:
        self.statuses: list[int] = []
        self.errors: list[str] = []
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.webSocketFrameReceived", self._received)

    @property
    def finished(self) -> int:
        return len(self.statuses)

    def _received(self, event: dict) -> None:
        frame = event["response"]
        if frame.get("opcode") != 2:
            return
        msg = ForwardMsg()
        msg.ParseFromString(base64.b64decode(frame["payloadData"]))
        kind = msg.WhichOneof("type")
        if kind == "script_finished" and msg.script_finished in FINISHED:
            self.statuses.append(msg.script_finished)
        elif kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
            exc = msg.delta.new_element.exception
            self.errors.append(f"{exc.type} {exc.message[:80]}".strip())


def settle(page, runs: Runs, after: int, timeout_s: float = SETTLE_TIMEOUT_S) -> float:
    """Wait until a run newer than ``after`` finished, the status widget is gone, content is shown,
    every figure shown has drawn its plot, and a frame is painted; returns the page's clock (ms) at
    that frame. Events reach this process only while Playwright waits, hence the short waits."""
    deadline = time.perf_counter() + timeout_s
    while runs.finished <= after:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no finished run within {timeout_s:.0f} s")
        page.wait_for_timeout(5)
    page.wait_for_function(NO_STATUS, timeout=timeout_s * 1000)
    page.wait_for_selector(f"{MAIN} h1", state="visible", timeout=timeout_s * 1000)
    page.wait_for_selector(CONTENT, state="visible", timeout=timeout_s * 1000)
    page.wait_for_function(FIGURES_DRAWN, timeout=timeout_s * 1000)
    return page.evaluate(PAINTED)


def open_page(browser, base: str, path: str):
    """A new context on ``base/path``: (context, page, runs, seconds from goto to settled)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(INPUT_CLOCK)
    page = context.new_page()
    page.set_default_timeout(SETTLE_TIMEOUT_S * 1000)
    runs = Runs(context, page)
    t0 = time.perf_counter()
    page.goto(f"{base}/{path}", timeout=SETTLE_TIMEOUT_S * 1000)
    settle(page, runs, 0)
    return context, page, runs, time.perf_counter() - t0


def main_control(page):
    """The first visible slider or selectbox of the main area, and its kind (None, "" if none).

    The browser draws a page's controls up to seconds after its title on this machine (plotly's
    chunk is evaluated first), so a settled page is given ``CONTROL_WAIT_S`` to show one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(CONTROL, state="visible", timeout=CONTROL_WAIT_S * 1000)
    except PlaywrightTimeout:
        return None, ""
    found = page.locator(CONTROL).filter(visible=True)
    if not found.count():
        return None, ""
    control = found.first
    kind = control.get_attribute("data-testid")
    return control, "slider" if kind == "stSlider" else "select"


def move_slider(page, control, runs: Runs, forward: bool) -> tuple[float, bool]:
    """One key press on the thumb → settled; (seconds, whether the next move keeps the direction)."""
    thumb = control.locator(THUMB).first
    value, lo, hi = thumb.evaluate(THUMB_STATE)
    if value >= hi:
        forward = False
    elif value <= lo:
        forward = True
    thumb.focus()
    before = runs.finished
    page.evaluate("window.__aislInput = 0")
    t0 = time.perf_counter()
    thumb.press("ArrowRight" if forward else "ArrowLeft")
    return input_to_settled(page, runs, before, t0), forward


def move_select(page, control, runs: Runs) -> float:
    """Open the selectbox (again if the list did not open: measured, a click on framework_landscape's
    and ai_compilers' boxes was sometimes lost), click the option after the selected one (wrapping)
    → settled. Only the option's click is timed."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    options = page.locator("[role='listbox'] [role='option']")
    for attempt in range(OPEN_TRIES):  # a click that lands while a rerun redraws the box is lost
        control.scroll_into_view_if_needed()
        control.locator("[role='combobox'], input").first.click()
        try:
            options.first.wait_for(state="visible", timeout=OPEN_WAIT_S * 1000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            if attempt == OPEN_TRIES - 1:
                raise
    chosen = [i for i in range(options.count()) if options.nth(i).get_attribute("aria-selected") == "true"]
    target = options.nth(((chosen[0] if chosen else -1) + 1) % options.count())
    before = runs.finished
    page.evaluate("window.__aislInput = 0")
    t0 = time.perf_counter()
    target.click()
    return input_to_settled(page, runs, before, t0)


def input_to_settled(page, runs: Runs, before: int, t0: float) -> float:
    """Seconds from the page's own input event (:data:`INPUT_CLOCK`) to settled, both on the page's
    clock: Playwright's checks before it clicks (that the option is visible, stable over two frames,
    not covered: ~60 ms measured on a selectbox's option) are not the student's wait. Falls back to
    ``t0`` (this process's clock before the press or click) if the page saw no input event."""
    painted = settle(page, runs, before)
    pressed = page.evaluate("window.__aislInput")
    return (painted - pressed) / 1000 if pressed else time.perf_counter() - t0


@dataclass
class PageResult:
    page: str
    cold_s: float = math.nan
    warm_s: float = math.nan
    control: str = ""
    actions_s: list[float] = field(default_factory=list)
    error: str = ""
    switch_s: float = math.nan  # click on its sidebar link (the app already open) → settled
    cached_s: float = math.nan  # its link opened in a new tab of a browser that has the app cached
    server_cpu_ms: float = math.nan  # the server process's CPU time (user + system) per move

    def action_ms(self, q: float) -> float:
        return float(np.percentile(self.actions_s, q) * 1000) if self.actions_s else math.nan


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; NaN where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def measure_page(browser, base: str, path: str, moves: int, server_pid: int | None = None) -> PageResult:
    """``path``'s first paints (cold, warm) and ``moves`` moves of its main control; with
    ``server_pid``, the server's CPU time per move too (what a class's moves cost the server)."""
    result = PageResult(path)
    try:
        context, _, runs, result.cold_s = open_page(browser, base, _url(path))
        context.close()
        context, page, runs, result.warm_s = open_page(browser, base, _url(path))
        try:
            control, result.control = main_control(page)
            forward = True
            cpu0 = process_cpu_s(server_pid) if server_pid else math.nan
            for _ in range(moves if control is not None else 0):
                if result.control == "slider":
                    seconds, forward = move_slider(page, control, runs, forward)
                else:
                    seconds = move_select(page, control, runs)
                result.actions_s.append(seconds)
            if result.actions_s and server_pid:
                result.server_cpu_ms = (process_cpu_s(server_pid) - cpu0) / len(result.actions_s) * 1000
            if runs.errors:
                result.error = "exception shown: " + ", ".join(sorted(set(runs.errors)))
        finally:
            context.close()
    except Exception as exc:  # noqa: BLE001 - one failing page is reported, the others still run
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return result


NAV_LINK = "[data-testid='stSidebarNav'] a[href$='/{page}']"


def measure_switches(browser, base: str, results: list[PageResult], deadline: float) -> None:
    """Stage 3: in one context on the home page, click each result's sidebar link in turn; sets
    ``switch_s`` (left NaN for the home page, one past ``deadline`` and one that fails, whose error
    is added to the page's)."""
    context, page, runs, _ = open_page(browser, base, "")
    try:
        for r in results:
            if r.page == "home" or time.perf_counter() > deadline:
                continue
            try:
                link = page.locator(NAV_LINK.format(page=r.page)).first
                link.scroll_into_view_if_needed()
                before = runs.finished
                t0 = time.perf_counter()
                link.click()
                settle(page, runs, before)
                r.switch_s = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - reported with the page, the others still run
                _add_error(r, "switch", exc)
                page.goto(f"{base}/", timeout=SETTLE_TIMEOUT_S * 1000)  # back to a known page
                settle(page, runs, runs.finished)
    finally:
        context.close()


def _add_error(r: PageResult, stage: str, exc: Exception) -> None:
    """Append a stage's failure to the page's error (the page's other measurements stand)."""
    r.error = "; ".join(
        filter(None, [r.error, f"{stage}: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}"])
    )


def measure_returning(browser, base: str, results: list[PageResult], deadline: float) -> None:
    """Stage 4: a context that has loaded the home page opens each result's link in a new tab; sets
    ``cached_s`` (left NaN past ``deadline`` and for one that fails, whose error is added)."""
    context, page, _, _ = open_page(browser, base, "")
    try:
        for r in results:
            if time.perf_counter() > deadline:
                break
            tab = context.new_page()
            try:
                tab.set_default_timeout(SETTLE_TIMEOUT_S * 1000)
                runs = Runs(context, tab)
                t0 = time.perf_counter()
                tab.goto(f"{base}/{_url(r.page)}", timeout=SETTLE_TIMEOUT_S * 1000)
                settle(tab, runs, 0)
                r.cached_s = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - reported with the page, the others still run
                _add_error(r, "returning", exc)
            finally:
                tab.close()
    finally:
        context.close()


def cold_start(browser, repeats: int = 3, app: Path = APP) -> list[float]:
    """Seconds from launching a fresh server of ``app`` to its home page settled, ``repeats`` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        server = Server(SERVER_CORE, app=app)
        try:
            server.wait_ready()
            context, _, _, _ = open_page(browser, f"http://127.0.0.1:{server.port}", "")
            times.append(time.perf_counter() - t0)
            context.close()
        finally:
            server.stop()
    return times


@dataclass
class Measurement:
    results: list[PageResult]
    starts_s: list[float]  # cold starts: launch → home settled
    skipped: list[str]  # pages not reached within the time budget
    load: tuple[float, float]  # the machine's 1-minute load average at the start and the end
    floor: PageResult | None = None  # bench/floor_page.py: the stack's own floor, same machine
    floor_starts_s: list[float] = field(default_factory=list)
    floor_select: PageResult | None = None  # bench/floor_select.py: that floor moved by a selectbox


FLOOR_NAMES = {
    FLOOR: "floor (bare Streamlit: title, slider, one plotly figure)",
    FLOOR_SELECT: "floor, select (bare Streamlit: title, selectbox, one plotly figure)",
}


def measure_floor(
    browser, moves: int = MOVES, starts: int = 3, app: Path = FLOOR
) -> tuple[PageResult, list[float]]:
    """A floor page (bench/floor_page.py, or ``app``) measured as a lab is: its cold starts, first
    paints, moves and the server's CPU per move."""
    starts_s = cold_start(browser, starts, app) if starts else []
    server = Server(SERVER_CORE, app=app)
    try:
        server.wait_ready()
        result = measure_page(browser, f"http://127.0.0.1:{server.port}", "home", moves, server.proc.pid)
    finally:
        server.stop()
    result.page = FLOOR_NAMES.get(app, f"floor ({app.name})")
    return result, starts_s


def measure(
    pages: list[str],
    moves: int = MOVES,
    browser=None,
    starts: int = 3,
    budget_s: float = 450.0,
    floor: bool = False,
    switches: bool = True,
) -> Measurement:
    """Every page of ``pages`` on one server started here, cold starts first, then (``switches``)
    each page opened from the sidebar of an open app; with ``floor``, then bench/floor_page.py the
    same way as a page (the least any page can take here).

    ``browser``: a Playwright (sync) browser to reuse, e.g. a test's; by default one is launched on
    this process's cores."""
    if browser is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                return measure(pages, moves, own, starts, budget_s, floor, switches)
            finally:
                own.close()
    deadline = time.perf_counter() + budget_s
    load0 = os.getloadavg()[0]
    starts_s = cold_start(browser, starts) if starts else []
    server = Server(SERVER_CORE)
    results, skipped = [], []
    try:
        server.wait_ready()
        base = f"http://127.0.0.1:{server.port}"
        for path in pages:
            if time.perf_counter() > deadline:
                skipped.append(path)
                continue
            results.append(measure_page(browser, base, path, moves, server.proc.pid))
        if switches:
            measure_switches(browser, base, results, deadline)
            measure_returning(browser, base, results, deadline)
    finally:
        server.stop()
    floor_result, floor_starts = measure_floor(browser, moves, starts) if floor else (None, [])
    floor_select = measure_floor(browser, moves, 0, FLOOR_SELECT)[0] if floor else None
    return Measurement(
        results, starts_s, skipped, (load0, os.getloadavg()[0]), floor_result, floor_starts, floor_select
    )


def selected_pages() -> list[str]:
    from ui.catalog import LABS

    names = [lab.page for lab in LABS]
    wanted = [p.strip() for p in os.environ.get("AISL_BENCH_PAGES", "").split(",") if p.strip()]
    return [p for p in names if p in wanted] if wanted else names


def _url(path: str) -> str:
    return "" if path == "home" else path


def page_row(r: PageResult) -> dict:
    note = f"first paint cold {r.cold_s:.2f} s, warm {r.warm_s:.2f} s"
    if math.isfinite(r.switch_s):
        note += f", switch {r.switch_s:.2f} s"
    if math.isfinite(r.cached_s):
        note += f", returning {r.cached_s:.2f} s"
    if r.actions_s:
        note += f"; action median {r.action_ms(50):.0f} ms over {len(r.actions_s)} {r.control} moves"
        if math.isfinite(r.server_cpu_ms):
            note += f", server CPU {r.server_cpu_ms:.0f} ms a move"
    elif not r.error:
        note += "; no slider or selectbox in the main area"
    if r.error:
        note += f"; ERROR {r.error}"
    return dict(
        name=f"{r.page}: action → settled p95",
        value=r.action_ms(95),
        unit="ms",
        target=f"≤ {ACTION_TARGET_MS:.0f} ms",
        note=note,
    )


def summary_rows(m: Measurement) -> list[dict]:
    results, starts, skipped = m.results, m.starts_s, m.skipped
    moved = [r for r in results if r.actions_s]
    pooled = [s for r in moved for s in r.actions_s]
    slow = sorted(moved, key=lambda r: -r.action_ms(95))[:5]
    ok = sum(r.action_ms(95) <= ACTION_TARGET_MS for r in moved)
    nan = math.nan
    rows = [
        dict(
            name="all pages: action → settled p95",
            value=float(np.percentile(pooled, 95) * 1000) if pooled else nan,
            unit="ms",
            target=f"≤ {ACTION_TARGET_MS:.0f} ms on every page",
            note=f"{ok}/{len(moved)} pages meet it; median {np.median(pooled) * 1000:.0f} ms"
            if pooled
            else "no page had a control to move",
        ),
        dict(
            name="five slowest pages (action p95)",
            value=slow[0].action_ms(95) if slow else nan,
            unit="ms",
            target="",
            note=", ".join(f"{r.page} {r.action_ms(95):.0f}" for r in slow),
        ),
        _paint_row("first paint, warm server, new browser profile: slowest page", results, "warm_s"),
        _paint_row("first paint, cold (first visit in the process): slowest page", results, "cold_s"),
        _paint_row("page switch (sidebar link, app open) → settled: slowest page", results, "switch_s"),
        _paint_row("returning visit (new tab, app's files cached): slowest page", results, "cached_s"),
        dict(
            name="cold start: server launch → home painted, median",
            value=statistics.median(starts) if starts else nan,
            unit="s",
            target=f"≤ {COLD_START_TARGET_S} s",
            note="runs: "
            + ", ".join(f"{s:.2f}" for s in starts)
            + f"; machine load average (1 min) at start and end: {m.load[0]:.1f}, {m.load[1]:.1f}"
            f" on {os.cpu_count()} cores",
        ),
    ]
    errors = [r for r in results if r.error]
    if errors or skipped:
        rows.append(
            dict(
                name="pages with errors / not reached in the time budget",
                value=float(len(errors) + len(skipped)),
                unit="pages",
                target="0",
                note="; ".join([f"{r.page}: {r.error}" for r in errors] + [f"skipped: {', '.join(skipped)}"]),
            )
        )
    return rows


def _paint_row(name: str, results: list[PageResult], attr: str) -> dict:
    """A summary row of one kind of paint (``attr``: warm_s, cold_s, switch_s or cached_s): the slowest page
    against the first-paint target, how many are within, the median and the five slowest."""
    values = [getattr(r, attr) for r in results if math.isfinite(getattr(r, attr))]
    return dict(
        name=name,
        value=max(values) if values else math.nan,
        unit="s",
        target=f"≤ {PAINT_TARGET_S} s",
        note=_paint_note(results, attr, values),
    )


def _paint_note(results: list[PageResult], attr: str, values: list[float]) -> str:
    if not values:
        return ""
    within = sum(v <= PAINT_TARGET_S for v in values)
    measured = [r for r in results if math.isfinite(getattr(r, attr))]
    top = sorted(measured, key=lambda r: -getattr(r, attr))[:5]
    slowest = ", ".join(f"{r.page} {getattr(r, attr):.2f}" for r in top)
    return (
        f"{within}/{len(values)} pages within; median {statistics.median(values):.2f} s; slowest: {slowest}"
    )


def floor_row(m: Measurement) -> list[dict]:
    """The floor pages' rows: their action p95, first paints and (the slider floor's) cold start."""
    rows = [page_row(f) for f in (m.floor, m.floor_select) if f is not None]
    starts = m.floor_starts_s
    if m.floor is not None and starts:
        rows[0]["note"] += (
            f"; cold start median {statistics.median(starts):.2f} s ("
            + ", ".join(f"{s:.2f}" for s in starts)
            + ")"
        )
    return rows


def rows_for(m: Measurement) -> list[dict]:
    return [page_row(r) for r in m.results] + summary_rows(m) + floor_row(m)


def run() -> list[dict]:
    """``make bench``: every page, 8 moves each, cold start ×3 (AISL_BENCH_PAGES, AISL_BENCH_MOVES,
    AISL_BENCH_BUDGET_S override)."""
    return rows_for(
        measure(
            selected_pages(),
            int(os.environ.get("AISL_BENCH_MOVES", MOVES)),
            budget_s=float(os.environ.get("AISL_BENCH_BUDGET_S", "450")),
            floor=os.environ.get("AISL_BENCH_FLOOR", "1") != "0",
        )
    )


if __name__ == "__main__":
    import sys

    from bench.load_report import table

    sys.exit(print(table(run())))
