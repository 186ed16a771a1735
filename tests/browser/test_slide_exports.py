"""Exports for slides in a real browser: a stepper run's GIF and ZIP, and a figure's "PNG (slide)".

In the browser the GIF button reruns only the stepper's fragment (AppTest reruns the whole script, see
tests/test_gif_export.py), and the slide PNG is made by a deferred download on a worker thread: both
paths are exercised here, and the downloaded files are read back with Pillow.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from conftest import wait_app
from PIL import Image, ImageSequence


def _download(page, selector: str) -> bytes:
    with page.expect_download(timeout=120_000) as info:
        page.locator(selector).first.click()
    return Path(info.value.path()).read_bytes()


def test_ring_all_reduce_run_downloads_as_gif_and_zip(server, page):
    page.goto(f"{server}/collectives?co_n=3")  # ring on 3 devices: 2(N−1) steps + the start = 5 frames
    wait_app(page)
    page.locator(".st-key-co_step_gif_make button").first.click()
    page.locator(".st-key-co_step_gif button").first.wait_for(state="visible", timeout=120_000)
    gif = _download(page, ".st-key-co_step_gif button")
    with Image.open(io.BytesIO(gif)) as im:
        frames = [f.convert("RGB").tobytes() for f in ImageSequence.Iterator(im)]
    assert len(frames) == 5 and all(a != b for a, b in zip(frames, frames[1:]))
    with zipfile.ZipFile(io.BytesIO(_download(page, ".st-key-co_step_zip button"))) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 5
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_figure_downloads_as_a_1920x1080_slide(server, page):
    page.goto(f"{server}/collectives")
    wait_app(page)
    png = _download(page, ".st-key-dl_co_ab_slide button")
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (1920, 1080)
