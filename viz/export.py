"""Figure and data export without streamlit: PNG/SVG/PDF via kaleido, data as JSON/CSV.

kaleido 1.x drives the system chromium (``/usr/bin/chromium`` or ``BROWSER_PATH``). Starting the
browser costs ~2 s, so the first export starts kaleido's sync server and later exports reuse it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import warnings

import numpy as np

_LOCK = threading.Lock()
_SERVER_STARTED = False
FORMATS = ("png", "svg", "pdf")


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
