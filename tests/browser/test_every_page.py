"""Every page in a real browser: nothing leaves the machine, nothing fails, nothing leaks.

1. One browser context, reused, opens ``/``, ``/home`` and ``/<page>`` for every row of
   ``ui.catalog.LABS`` by URL (a fresh document each time, as a share link would).
2. Each page is waited on until settled: the page's h1, a control and a figure are visible and the
   status widget has gone (``wait_app``).
3. Then: no request to any host but 127.0.0.1/localhost, no console error, no page error, no
   exception box, no "Page not found" dialog.
4. An uncaught (non-engine) exception shows its type only: no message, traceback or server path —
   a second server runs a script that raises, under the repository's own ``.streamlit/config.toml``.
5. An upload over the engine's ONNX budget is refused, with the budget in the message.

The one console error allowed is Streamlit's own: a deep link ``/<page>`` first probes
``/<page>/_stcore/health`` and ``/<page>/_stcore/host-config`` (404) before the app root, in case the
app is served under a base path (streamlit/streamlit#7074, open; the frontend takes the candidate
list from ``window.location`` and 1.67 has no server option to skip it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, _free_port, wait_app

from engine.core import budget
from ui.catalog import LABS

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
NOT_FETCHED = ("data", "blob", "about")
CONTROL = ", ".join(
    f"[data-testid='stMain'] [data-testid='{t}']"
    for t in (
        "stRadio",
        "stSelectbox",
        "stSlider",
        "stNumberInput",
        "stTextInput",
        "stTextArea",
        "stButton",
        "stCheckbox",
        "stMultiSelect",
        "stPageLink",
        "stDownloadButton",
    )
)
FIGURE = ", ".join(
    f"[data-testid='stMain'] [data-testid='{t}']"
    for t in ("stPlotlyChart", "stGraphVizChart", "stImage", "stIFrame")
)
PROBES = ("_stcore/health", "_stcore/host-config")


class Watcher:
    """Everything a page does that it should not: off-machine requests, failures, console errors."""

    def __init__(self, pg, base: str) -> None:
        self.base, self.problems, self.path = base, [], ""
        pg.on("request", self._request)
        pg.on("response", self._response)
        pg.on("console", self._console)
        pg.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        pg.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))

    def expect(self, path: str) -> None:
        self.path, self.problems = path.split("?", 1)[0].strip("/"), []

    def _probe(self, url: str) -> bool:
        """Streamlit's base-path probe of a deep link (see the module docstring)."""
        return bool(self.path) and url in {f"{self.base}/{self.path}/{p}" for p in PROBES}

    def _request(self, req) -> None:
        parts = urlsplit(req.url)
        if parts.scheme not in NOT_FETCHED and parts.hostname not in LOCAL_HOSTS:
            self.problems.append(f"off-machine request: {req.url}")

    def _response(self, resp) -> None:
        if resp.status >= 400 and not self._probe(resp.url):
            self.problems.append(f"HTTP {resp.status}: {resp.url}")

    def _console(self, msg) -> None:
        if msg.type == "error" and not self._probe(msg.location.get("url", "")):
            self.problems.append(f"console error: {msg.text} at {msg.location}")


@pytest.fixture(scope="module")
def tab(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg, Watcher(pg, server)
    context.close()


def _settle(pg) -> None:
    pg.wait_for_selector("[data-testid='stMain'] h1", state="visible")
    pg.wait_for_selector(CONTROL, state="visible")
    pg.wait_for_selector(FIGURE, state="visible")
    wait_app(pg)


def _open_and_check(tab, server: str, path: str) -> None:
    pg, watcher = tab
    watcher.expect(path)
    pg.goto(f"{server}/{path}")
    _settle(pg)
    assert not pg.locator("[role='dialog']").filter(has_text="Page not found").count(), path
    assert not pg.locator("[data-testid='stException']").count(), (path, _exceptions(pg))
    assert watcher.problems == [], f"/{path}: " + "\n".join(watcher.problems)


def _exceptions(pg) -> list[str]:
    return pg.locator("[data-testid='stException']").all_inner_texts()


@pytest.mark.slow
@pytest.mark.parametrize("path", [""] + [lab.page for lab in LABS])
def test_page_settles_with_nothing_off_machine_and_no_errors(tab, server, path):
    _open_and_check(tab, server, path)


@pytest.mark.parametrize("query, title", [("", "AI System Lab"), ("?lang=zh", "AI 系统实验室")])
def test_home_alias_opens_the_root_page_and_keeps_the_link(tab, server, query, title):
    pg, _ = tab
    _open_and_check(tab, server, f"home{query}")
    pg.wait_for_function("() => location.pathname === '/'")
    assert pg.locator("[data-testid='stMain'] h1").first.inner_text() == title
    assert urlsplit(pg.url).query == query.lstrip("?")


# ---- an uncaught error on the served configuration --------------------------------------------

BOOM = """
import streamlit as st
st.title("boom")
open("{secret}/no-such-file.txt")  # FileNotFoundError: its message and traceback name server paths
"""


@pytest.fixture(scope="module")
def boom_server(tmp_path_factory):
    """A server on the repository's config (cwd = ROOT) running a script that raises."""
    script = tmp_path_factory.mktemp("boom") / "boom_app.py"
    script.write_text(BOOM.format(secret=ROOT / "secret-dir"), encoding="utf-8")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    yield base, script
    proc.terminate()
    proc.wait(timeout=10)


def test_uncaught_error_shows_its_type_but_no_message_trace_or_path(browser, boom_server):
    base, script = boom_server
    pg = browser.new_page()
    try:
        pg.goto(base)
        box = pg.locator("[data-testid='stException']")
        box.wait_for(state="visible", timeout=90_000)
        text = box.inner_text()
    finally:
        pg.close()
    assert "FileNotFoundError" in text
    for leak in (
        "Traceback",
        'File "',
        "no-such-file",
        "secret-dir",
        str(ROOT),
        str(script.parent),
        "line 4",
        "open(",
    ):
        assert leak not in text, f"{leak!r} shown to the browser:\n{text}"


# ---- one upload cap: engine/core/budget.py ----------------------------------------------------------


def test_upload_over_the_engine_budget_is_refused_with_the_cap(tab, server, tmp_path):
    cap_mb = -(-budget.MAX_ONNX_BYTES // 2**20)
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:  # sparse: a size on disk's books, no bytes written
        f.truncate((cap_mb + 1) << 20)
    pg, _ = tab
    pg.goto(f"{server}/graph_builder?gb_source=ONNX")
    wait_app(pg, "Graph Builder")
    pg.locator(".st-key-gb_upload input[type='file']").set_input_files(big)
    refusal = pg.locator(".st-key-gb_upload").get_by_text(re.compile(r"File must be .* or smaller"))
    refusal.wait_for(state="visible")
    assert re.search(rf"\b{cap_mb}(\.0)?\s?MB\b", refusal.inner_text()), refusal.inner_text()
