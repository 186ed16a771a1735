"""Open the current graph in Netron, inside the app, served from the same Streamlit port.

The model is written to ``static/netron/models/<name>.onnx`` and Netron opens it with
``index.html?url=...``. The link is the only key to the file (a capability):
  1. **unguessable name**: 32 hex digits of HMAC-SHA256 under a secret drawn when the server process
     starts, over the session's id and the model's bytes — nobody can derive another session's name,
     even for a model whose bytes they know; the static server lists no folders;
  2. **per session**: each session's models are remembered and deleted when the session ends
     (:func:`release_session`, called by ui/janitor.py);
  3. **expiry**: a model not opened again for :data:`TTL_S` is deleted (:func:`sweep`), and the
     folder keeps at most :data:`MAX_MODELS` files (oldest go first), so a shared classroom server
     does not fill its disk.
Outside a session (plain Python, tests) the name depends on the bytes alone, so publishing the same
model twice gives the same link. Nothing leaves the machine: see :mod:`ui.netron_assets`.
Not handled: a replica serving another replica's model (sticky sessions keep a student on one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

import streamlit as st

from .i18n import t
from .netron_assets import TARGET, ensure_netron

MAX_MODELS = 64  # about two open models per student of a class of 30
MAX_BYTES = 50 << 20
TTL_S = 3600  # a lesson
_SECRET = secrets.token_bytes(32)  # per server process: names cannot be derived outside it
_LOCK = threading.RLock()
_BY_SESSION: dict[str, set[str]] = {}  # session id -> names of the models it published


def model_name(onnx_bytes: bytes, session: str | None = None) -> str:
    """The file name of ``onnx_bytes`` published for ``session`` (see stage 1)."""
    mac = hmac.new(_SECRET, (session or "").encode() + b"\0", hashlib.sha256)
    mac.update(onnx_bytes)
    return f"{mac.hexdigest()[:32]}.onnx"


def _models():
    return TARGET / "models"


def publish_model(onnx_bytes: bytes, session: str | None = None) -> str:
    """Write the model into the static folder; return its URL path under /app/static."""
    if len(onnx_bytes) > MAX_BYTES:
        raise ValueError(
            f"the model is {len(onnx_bytes) >> 20} MiB; Netron view is limited to {MAX_BYTES >> 20} MiB"
        )
    ensure_netron()
    path = _models() / model_name(onnx_bytes, session)
    with _LOCK:
        if path.exists():
            path.touch()  # opened again: expires later, evicted last
        else:
            sweep(keep=1)
            path.write_bytes(onnx_bytes)
        if session is not None:
            _BY_SESSION.setdefault(session, set()).add(path.name)
    return f"netron/models/{path.name}"


def sweep(keep: int = 0, now: float | None = None) -> int:
    """Delete models older than :data:`TTL_S`, then the oldest until ``MAX_MODELS - keep`` remain
    (room for ``keep`` new ones); returns how many were deleted."""
    now = time.time() if now is None else now
    with _LOCK:
        try:
            files = sorted((p.stat().st_mtime, p) for p in _models().glob("*.onnx"))
        except OSError:  # the folder is not there yet, or a file went meanwhile
            return 0
        stale = [p for mtime, p in files if now - mtime > TTL_S]
        fresh = [p for mtime, p in files if now - mtime <= TTL_S]
        stale += fresh[: max(0, len(fresh) - MAX_MODELS + keep)]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)


def release_session(session: str) -> int:
    """Delete the models ``session`` published (it has ended); returns how many."""
    with _LOCK:
        names = _BY_SESSION.pop(session, set())
    for name in names:
        (_models() / name).unlink(missing_ok=True)
    return len(names)


def netron_url(onnx_bytes: bytes) -> str:
    from .janitor import _session_id

    model = publish_model(onnx_bytes, _session_id())
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
