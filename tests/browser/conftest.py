"""Real-browser fixtures: a Streamlit server on a free port and Playwright driving the system chromium.

In CI (``CI=true``) a missing chromium is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """Start the app; yield its base URL; stop it (and its children) afterwards."""
    port = _free_port()
    cmd = [  # as make run starts it (tools/serve.py: jemalloc under it where installed)
        sys.executable,
        str(ROOT / "tools" / "serve.py"),
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
    ]
    # the server's log goes to a file: a pipe nobody reads would stop the server once it is full
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(base + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        proc.wait(timeout=10)
        log.seek(0)
        out = log.read().decode(errors="replace")
        raise RuntimeError(f"streamlit did not start:\n{out[-3000:]}")
    yield base
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
    log.close()


@pytest.fixture(scope="session")
def browser():
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (Debian package 'chromium'); CI must have it")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    context.close()


SETTLED_JS = """() => !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stElementContainer"][data-stale="true"]')"""


def wait_app(page, text: str | None = None) -> None:
    """Wait until Streamlit has rendered (not the skeleton) and, optionally, ``text`` is visible."""
    page.wait_for_selector("[data-testid='stApp']", state="attached")
    page.wait_for_selector("h1", state="visible")
    if text:
        page.get_by_text(text, exact=False).first.wait_for(state="visible")
    # wait for the script to finish running: the status widget is gone, no element is marked stale
    # (Streamlit marks the previous run's elements ``data-stale`` until the new run replaces them),
    # and both stay so (a fresh server's first deep link reruns once through app.py, so one
    # glimpse is not enough)
    for _ in range(2):
        page.wait_for_function(SETTLED_JS, timeout=90_000)
        page.wait_for_timeout(500)
