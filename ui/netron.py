"""Open the current graph in Netron, inside the app, served from the same Streamlit port.

The model is written once per content hash to ``static/netron/models/`` (the folder is capped, so a
shared classroom server does not fill its disk) and Netron opens it with ``index.html?url=...``.
Nothing leaves the machine: see :mod:`ui.netron_assets` for what is patched.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from .i18n import t
from .netron_assets import TARGET, ensure_netron

MAX_MODELS = 64
MAX_BYTES = 50 << 20


def publish_model(onnx_bytes: bytes) -> str:
    """Write the model into the static folder; return its URL path under /app/static."""
    if len(onnx_bytes) > MAX_BYTES:
        raise ValueError(
            f"the model is {len(onnx_bytes) >> 20} MiB; Netron view is limited to {MAX_BYTES >> 20} MiB"
        )
    ensure_netron()
    models = TARGET / "models"
    digest = hashlib.sha256(onnx_bytes).hexdigest()[:20]
    path = models / f"{digest}.onnx"
    if not path.exists():
        old = sorted(models.glob("*.onnx"), key=lambda p: p.stat().st_mtime)
        for stale in old[: max(0, len(old) - MAX_MODELS + 1)]:
            stale.unlink(missing_ok=True)
        path.write_bytes(onnx_bytes)
    return f"netron/models/{path.name}"


def netron_url(onnx_bytes: bytes) -> str:
    model = publish_model(onnx_bytes)
    return f"/app/static/netron/index.html?url=/app/static/{model}"


def netron_view(onnx_bytes: bytes, key: str, height: int = 640) -> None:
    """Show Netron on ``onnx_bytes`` in an iframe, with a link to open it full-window."""
    try:
        url = netron_url(onnx_bytes)
    except (ValueError, OSError) as exc:
        st.error(t("Cannot open Netron: {exc}", exc=exc))
        return
    st.link_button(t("Open Netron in a new tab"), url)
    st.iframe(url, height=height)
