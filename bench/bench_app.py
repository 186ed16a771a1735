"""App-level benchmarks: cold start to first page, and per page the server-side time of the default
render and of one interaction (medians), measured with Streamlit's AppTest.

The interaction is generic: the page's first slider (else number input, else select box) is moved to
a value not seen before, so the measured rerun includes the engine work, not only a cache hit.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fresh_values(widget, count: int = 3) -> list:
    kind = type(widget).__name__
    if kind == "Slider":
        lo, hi, v = widget.min, widget.max, widget.value
        if isinstance(v, (tuple, list)):
            return []
        span = [lo + (hi - lo) * f for f in (0.3, 0.6, 0.9)]
        if isinstance(v, int):
            span = [int(round(s)) for s in span]
        return [s for s in dict.fromkeys(span) if s != v][:count]
    if kind == "NumberInput":
        v = widget.value or 0
        step = widget.step or 1
        return [v + step * k for k in (1, 2, 3)][:count]
    if kind == "Selectbox":
        return [o for o in widget.options if o != widget.value][:count]
    return []


def _interaction(at):
    for attr in ("slider", "number_input", "selectbox"):
        for widget in getattr(at, attr):
            values = _fresh_values(widget)
            if values:
                return attr, widget.key, values
    return None


def page_times(page: str, repeat: int = 3) -> tuple[float, float, float | None]:
    """(cold first render, median warm default render, median interaction) in seconds."""
    from streamlit.testing.v1 import AppTest

    path = str(ROOT / "labs" / f"{page}.py")
    renders = []
    at = None
    for _ in range(repeat + 1):
        at = AppTest.from_file(path, default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        renders.append(time.perf_counter() - t0)
    cold, warm = renders[0], statistics.median(renders[1:])
    found = _interaction(at)
    if found is None:
        return cold, warm, None
    attr, key, values = found
    times = []
    for value in values:
        widget = getattr(at, attr)(key=key)
        t0 = time.perf_counter()
        widget.set_value(value).run()
        times.append(time.perf_counter() - t0)
    return cold, warm, statistics.median(times)


def cold_start() -> tuple[float, str]:
    """Seconds from launching the server to the first page's title in a real browser."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=1)
                break
            except OSError:
                if time.perf_counter() - t0 > 60:
                    raise
                time.sleep(0.05)
        server_ready = time.perf_counter() - t0
        exe = shutil.which("chromium")
        if exe is None:
            return server_ready, "health endpoint only (no chromium)"
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=["--headless=new", "--no-sandbox"])
            page = browser.new_page()
            t1 = time.perf_counter()
            page.goto(base)
            page.wait_for_selector("h1", timeout=60_000)
            first_page = time.perf_counter() - t1
            browser.close()
        return server_ready + first_page, (
            f"server up {server_ready:.2f} s + first page title "
            f"{first_page:.2f} s (browser launch not counted)"
        )
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


def run() -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from ui.catalog import LABS

    rows = []
    starts = sorted(cold_start() for _ in range(3))
    total, note = starts[1]
    rows.append(
        dict(
            name="cold start to first page (median of 3)",
            value=total,
            unit="s",
            target="≤ 3 s",
            note=f"{note}; range {starts[0][0]:.2f}–{starts[2][0]:.2f} s",
        )
    )
    for lab in LABS:
        if not (ROOT / "labs" / f"{lab.page}.py").exists():
            continue
        try:
            cold, warm, inter = page_times(lab.page)
        except Exception as exc:  # noqa: BLE001 - one broken page must not hide the others
            rows.append(
                dict(name=f"{lab.page}: FAILED", value=float("nan"), unit="", target="", note=repr(exc)[:120])
            )
            continue
        rows.append(
            dict(
                name=f"{lab.page}: first render (cold)",
                value=cold * 1e3,
                unit="ms",
                target="",
                note="includes imports and cache misses",
            )
        )
        rows.append(
            dict(
                name=f"{lab.page}: default render (median)",
                value=warm * 1e3,
                unit="ms",
                target="",
                note="new session, warm caches",
            )
        )
        if inter is not None:
            rows.append(
                dict(
                    name=f"{lab.page}: one interaction (median)",
                    value=inter * 1e3,
                    unit="ms",
                    target="≤ 150 ms",
                    note="first control moved to new values",
                )
            )
    return rows
