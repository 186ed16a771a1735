"""Retake the presenter-mode screenshots in docs/screens/ (1280×720, ``?present=1``).

    .venv/bin/python -m tools.screens                     # start the app on a free port 86xx, shoot
    .venv/bin/python -m tools.screens --base http://127.0.0.1:8501   # shoot a server already running
    .venv/bin/python -m tools.screens roofline fusion     # only these labs

Needs playwright and a chromium (``/usr/bin/chromium`` or one on the PATH). Each picture is the first
screen of the lab as a projector shows it, after the page has finished running; a PNG over
:data:`MAX_BYTES` is re-saved with a 256-colour palette so the repository stays small.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screens"
LABS = ("collectives", "pipeline_parallel", "fusion", "roofline", "systolic_array")
SIZE = (1280, 720)
MAX_BYTES = 300_000
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _free_port(first: int = 8600, last: int = 8699) -> int:
    for port in range(first, last + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {first}..{last}")


def start_server(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit("the app did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _settle(page) -> None:
    """Wait until the page has drawn its title and the script has stopped running (twice: a fresh
    server's first deep link reruns once)."""
    page.wait_for_selector("h1", state="visible")
    for _ in range(2):
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
        page.wait_for_timeout(800)
    page.wait_for_timeout(1200)  # plotly's transitions and fonts


def small_png(png: bytes, limit: int = MAX_BYTES) -> bytes:
    """``png`` itself, or re-saved with a palette when it is over ``limit`` bytes."""
    if len(png) <= limit:
        return png
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def shoot(base: str, labs: tuple[str, ...] = LABS, out: Path = OUT) -> list[Path]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": SIZE[0], "height": SIZE[1]})
        page = context.new_page()
        page.set_default_timeout(90_000)
        for lab in labs:
            page.goto(f"{base}/{lab}?present=1")
            _settle(page)
            png = small_png(page.screenshot(type="png"))
            path = out / f"{lab}.png"
            path.write_bytes(png)
            written.append(path)
            print(f"{path.relative_to(ROOT)}: {len(png) // 1024} KB")
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", default=list(LABS), help="lab pages (default: the five)")
    parser.add_argument("--base", help="URL of a running app (default: start one on a free port 86xx)")
    args = parser.parse_args(argv)
    unknown = [lab for lab in args.labs if not (ROOT / "labs" / f"{lab}.py").exists()]
    if unknown:
        parser.error(f"no such lab page: {', '.join(unknown)}")
    if args.base:
        shoot(args.base.rstrip("/"), tuple(args.labs))
        return 0
    port = _free_port()
    proc = start_server(port)
    try:
        shoot(f"http://127.0.0.1:{port}", tuple(args.labs))
    finally:
        stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
