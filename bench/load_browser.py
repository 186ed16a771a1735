"""Real-browser students for the load bench: what a student's chromium sees under the same load.

Stages, per student (one chromium, one context each, on the load generator's core — the affinity
is inherited from this process):
  1. open the lab's deep link; first page = goto → h1 visible, the first script_finished seen on the
     page's own websocket, and no [data-testid=stStatusWidget];
  2. every 3–6 s press ArrowRight/ArrowLeft on the main area's first slider (a direction that moves,
     so the press always changes the value);
  3. settled = a new FINISHED_SUCCESSFULLY script_finished frame arrived and the status widget is gone.
     Timed twice: key press → settled (what the student feels, with the slider's debounce and the
     render), and rerun_script sent → script_finished received in DevTools' own timestamps
     (comparable with the protocol client, immune to how late events reach this process).
An exception element in any received frame is an error.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

CHROMIUM = "/usr/bin/chromium"
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
]  # as tests/browser/conftest.py
NO_STATUS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
SLIDER = "[data-testid='stMain'] [data-testid='stSlider'] input[type='range']"
ACTION_TIMEOUT_MS = 60_000
SLIDER_STATE = "(el) => [+el.value, +el.min, +el.max]"


class Frames:
    """The page's websocket traffic as Chrome DevTools reports it: every frame carries the browser's
    own timestamp, so sent → finished is exact however late the event reaches this process."""

    def __init__(self, errors: list[str]) -> None:
        self.finished = 0
        self.sent_at = 0.0  # browser clock (s) of the last rerun_script sent
        self.finished_at = 0.0  # browser clock (s) of the last FINISHED_SUCCESSFULLY received
        self.errors = errors
        self.changed = asyncio.Event()

    async def attach(self, page) -> None:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        cdp.on("Network.webSocketFrameSent", self._sent)
        cdp.on("Network.webSocketFrameReceived", self._received)

    @staticmethod
    def _payload(event: dict) -> bytes | None:
        frame = event["response"]
        return base64.b64decode(frame["payloadData"]) if frame.get("opcode") == 2 else None

    def _sent(self, event: dict) -> None:
        data = self._payload(event)
        if data is not None:
            msg = BackMsg()
            msg.ParseFromString(data)
            if msg.WhichOneof("type") == "rerun_script":
                self.sent_at = event["timestamp"]

    def _received(self, event: dict) -> None:
        data = self._payload(event)
        if data is None:
            return
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
            self.errors.append(f"browser exception element: {msg.delta.new_element.exception.type}")
        elif kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            self.finished += 1
            self.finished_at = event["timestamp"]
            self.changed.set()

    async def wait_finished(self, after: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.finished <= after:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.perf_counter()))


async def _settle(page, frames: Frames, after: int, timeout: float) -> None:
    await frames.wait_finished(after, timeout)
    await page.wait_for_function(NO_STATUS, timeout=timeout * 1000)


async def student(browser, port: int, lab: str, rng: random.Random, end: float, tally) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    frames = Frames(tally.errors)
    await frames.attach(page)
    try:
        t0 = time.perf_counter()
        await page.goto(f"http://127.0.0.1:{port}/{lab}", timeout=120_000)
        await page.wait_for_selector("h1", state="visible", timeout=120_000)
        await _settle(page, frames, 0, 120.0)
        tally.first_page.append(time.perf_counter() - t0)
        while True:
            think = rng.uniform(3.0, 6.0)
            if time.perf_counter() + think > end:
                break
            await asyncio.sleep(think)
            await _act(page, lab, frames, rng, tally)
    except Exception as exc:  # noqa: BLE001 - a failed student is an error, not a crash
        tally.errors.append(f"browser {lab}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await context.close()


async def _act(page, lab: str, frames: Frames, rng: random.Random, tally) -> None:
    slider = page.locator(SLIDER).first
    value, lo, hi = await slider.evaluate(SLIDER_STATE)
    keys = ["ArrowLeft"] if value >= hi else ["ArrowRight"] if value <= lo else ["ArrowLeft", "ArrowRight"]
    key = rng.choice(keys)
    before = frames.finished
    t0 = time.perf_counter()
    await slider.press(key)
    await _settle(page, frames, before, 60.0)
    tally.actions.append(time.perf_counter() - t0)
    # like for like with the protocol client: rerun sent -> script_finished received, browser clock
    tally.sent_to_finished.append(frames.finished_at - frames.sent_at)
    tally.by_page.setdefault(lab, []).append(frames.finished_at - frames.sent_at)


async def students(ports: list[int], labs: tuple[str, ...], seed: float, end: float, tally) -> None:
    """One chromium, one student per port, each on the next lab of ``labs``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        rng = random.Random(seed)
        await asyncio.gather(
            *(
                student(browser, port, labs[i % len(labs)], random.Random(rng.random()), end, tally)
                for i, port in enumerate(ports)
            )
        )
        await browser.close()
