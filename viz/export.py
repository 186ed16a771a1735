"""Figure and data export without streamlit: PNG/SVG/PDF via kaleido, data as JSON/CSV, a stepper's
whole run as an animated GIF and a ZIP of PNG frames.

kaleido 1.x drives the system chromium (``/usr/bin/chromium`` or ``BROWSER_PATH``). Starting the
browser costs ~2 s, so the first export starts kaleido's sync server and later exports reuse it.

A run's export, in stages (:func:`export_run`):
1. Pick the steps: all of them, or at most ``MAX_FRAMES`` evenly spaced ones (first and last kept),
   since each frame is one kaleido render (~0.3 s on a 2-core server).
2. Build each step's figure with the page's ``frame(k)`` and render it to PNG.
3. Pack the PNGs: a ZIP named by step, and a looping GIF (each frame quantised to its own 256-colour
   palette, no dithering: plotly's flat colours survive; the last frame is held longer).
Not handled: plotly animations (``fig.frames``) are not used; each frame is a separate figure.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_LOCK = threading.Lock()
_SERVER_STARTED = False
FORMATS = ("png", "svg", "pdf")
MAX_FRAMES = 60  # frames in one run's export at most (longer runs are sampled evenly)
HOLD_LAST = 3  # the last frame of a GIF stays this many frame times


class ExportError(RuntimeError):
    """Export is unavailable (no browser) or failed."""


def _ensure_browser() -> None:
    if not os.environ.get("BROWSER_PATH"):
        for name in ("chromium", "chromium-browser", "google-chrome"):
            found = shutil.which(name)
            if found:
                os.environ["BROWSER_PATH"] = found
                return
        raise ExportError("no chromium found: install the Debian package 'chromium' for PNG/SVG export")


def _start_server() -> None:
    global _SERVER_STARTED
    if _SERVER_STARTED:
        return
    import kaleido

    try:
        kaleido.start_sync_server(silence_warnings=True)
    except Exception:  # noqa: BLE001 - an already running server is fine
        pass
    _SERVER_STARTED = True


def figure_bytes(fig, fmt: str = "png", width: int = 1280, height: int = 720, scale: float = 1) -> bytes:
    """Render ``fig`` server-side to ``fmt`` ("png", "svg" or "pdf")."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    _ensure_browser()
    with _LOCK:
        _start_server()
        try:
            with warnings.catch_warnings():  # "kopts ignored with a server": size/scale still apply
                warnings.simplefilter("ignore", UserWarning)
                return fig.to_image(format=fmt, width=width, height=height, scale=scale)
        except Exception as exc:  # noqa: BLE001 - kaleido raises many kinds; report one
            raise ExportError(f"{fmt.upper()} export failed: {exc}") from exc


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def to_json(data) -> str:
    """JSON text of engine data (dataclasses, arrays and numpy scalars made plain)."""
    return json.dumps(_plain(data), indent=2, ensure_ascii=False, default=str)


def to_csv(rows: list[dict]) -> str:
    """CSV text of a list of flat dicts (the union of their keys as columns)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(v) for k, v in row.items()})
    return buf.getvalue()


def sample_steps(n: int, cap: int = MAX_FRAMES) -> list[int]:
    """The 0-based steps a run of ``n`` exports: all, or ``cap`` evenly spaced ones (first and last kept)."""
    if n <= 0:
        return []
    if n <= cap:
        return list(range(n))
    if cap < 2:
        raise ExportError(f"a run's export needs at least 2 frames, not {cap}")
    return [round(i * (n - 1) / (cap - 1)) for i in range(cap)]  # spaced > 1 apart: all distinct


def gif_bytes(pngs: Sequence[bytes], ms_per_frame: int) -> bytes:
    """A looping animated GIF of ``pngs`` (equal sizes), ``ms_per_frame`` each, the last held longer."""
    from PIL import Image

    if not pngs:
        raise ExportError("no frames to animate")
    frames = [
        Image.open(io.BytesIO(png))
        .convert("RGB")
        .quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        for png in pngs
    ]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * HOLD_LAST]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def zip_bytes(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A ZIP of ``(name, data)`` files (PNGs are stored, not deflated: they are compressed already)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buf.getvalue()


@dataclass(frozen=True)
class RunExport:
    """One stepper run exported: ``steps`` (0-based) are the frames drawn out of ``total`` steps."""

    gif: bytes
    zip: bytes
    steps: tuple[int, ...]
    total: int

    @property
    def sampled(self) -> bool:
        return len(self.steps) < self.total


def export_run(
    frame: Callable[[int], object],
    n: int,
    name: str,
    ms_per_frame: int = 800,
    cap: int = MAX_FRAMES,
    width: int = 1280,
    height: int = 720,
) -> RunExport:
    """Render ``frame(k)`` (a plotly figure) for the run's steps to a GIF and a ZIP of PNGs.

    Files in the ZIP are ``{name}_step{k}.png`` with the 1-based step number the stepper shows.
    """
    steps = sample_steps(n, cap)
    if not steps:
        raise ExportError("no steps to export")
    digits = len(str(n))
    pngs = [figure_bytes(frame(k), "png", width, height) for k in steps]
    files = [(f"{name}_step{k + 1:0{digits}d}.png", png) for k, png in zip(steps, pngs)]
    return RunExport(gif_bytes(pngs, ms_per_frame), zip_bytes(files), tuple(steps), n)
