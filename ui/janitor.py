"""Release what a departed session held, and give the memory back once the class has left.

Streamlit 1.67 keeps a disconnected session for ``server.disconnectedSessionTTL`` (120 s) so that a
browser can reconnect to it; after that the session is dropped from storage *without* being shut
down (runtime/memory_session_storage.py, websocket_session_manager.py), so the media file manager
keeps its download files and deferred exports (closures over figures) for the life of the process.
A class of 30 leaves 30 of those behind every lesson. Stages, on one daemon thread, every
:data:`TICK_S` seconds:
  1. every session a page has run in (:func:`touch`, called by ``ui.setup``) is checked: still
     connected → its last-seen time is refreshed; gone for longer than the grace
     (``AISL_SESSION_GRACE_S``, default 60 s, kept below the TTL so the session is still in storage)
     → closed through ``Runtime.clear_user_info_for_session`` (thread-safe; on the event loop it
     shuts the session down: media references, uploaded files, session-scoped caches, session
     state); the files it published (Netron models, :func:`ui.netron.release_session`) are deleted
     and its heavy-work rate bucket is forgotten (engine/core/limits.py);
  2. media files no session refers to any more are removed (``media_file_mgr.remove_orphaned_files``,
     twice: a download file is only marked on the first pass);
  3. Netron models older than their TTL are deleted (:func:`ui.netron.sweep`);
  4. when the last known session has been closed (the class left) and a page ran since the last
     release: the app's caches are cleared (``st.cache_data``/``st.cache_resource``: bounded by
     ``max_entries`` while a class is here, dropped when it has gone; the next class pays each lab's
     first visit again), the state and fragments of closed sessions something still refers to
     (:func:`empty_closed_sessions`), one full ``gc.collect()``, and glibc's ``malloc_trim(0)``, which hands
     freed heap pages back to the system — so the server's resident memory returns to where it was
     before the class (bench/lesson.py measures it). Never while anyone is connected (a full
     collection costs ~0.25 s of CPU with torch loaded).
The first :func:`touch` also caps glibc's malloc arenas (:func:`limit_arenas`). The thread waits on
an event between passes (no script thread sleeps in ui/), so :func:`stop` ends it at once.
A reconnect within the grace resumes the session; a later one gets a fresh session, which the URL
(every control is in it) restores. Not handled: sessions that never ran ``ui.setup`` (none here);
the engine's own ``functools`` caches are bounded (``maxsize``) while the class is here and emptied
with the app's caches in stage 4 (:func:`clear_engine_caches`; measured on the lesson, N=20: RSS
after / before 1.23 when they were kept). With ``AISL_MEMORY_REPORT=1`` each release logs what the
process still holds (ui/memory_report.py: object counts, large buffers and who keeps them, glibc's
and pymalloc's arenas) — how the lesson bench's memory is diagnosed.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_SEEN: dict[str, float] = {}  # session id -> last time seen connected (monotonic)
_STATE = {"thread": None, "dirty": False, "releases": 0}
_STOP = threading.Event()  # set by stop(): the loop ends at its next wait (tests, shutdown)
_M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)


def _env_seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def grace_s() -> float:
    """How long a disconnected session is kept for a reconnect: ``AISL_SESSION_GRACE_S`` (60 s),
    at most half the server's ``disconnectedSessionTTL`` (Streamlit forgets it after that)."""
    from streamlit import config

    ttl = float(config.get_option("server.disconnectedSessionTTL") or 120)
    return max(0.0, min(_env_seconds("AISL_SESSION_GRACE_S", 60.0), ttl / 2))


def tick_s() -> float:
    return max(0.2, _env_seconds("AISL_JANITOR_TICK_S", 10.0))


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def _runtime():
    from streamlit import runtime

    return runtime.get_instance() if runtime.exists() else None


def touch() -> None:
    """Note that the running session is alive; start the janitor on the first call in a server."""
    sid = _session_id()
    if sid is None or _runtime() is None:  # plain Python or AppTest: nothing to look after
        return
    with _LOCK:
        _SEEN[sid] = time.monotonic()
        _STATE["dirty"] = True
        if _STATE["thread"] is None:
            limit_arenas()
            thread = threading.Thread(target=_loop, name="aisl-janitor", daemon=True)
            _STATE["thread"] = thread
            thread.start()


def known_sessions() -> int:
    with _LOCK:
        return len(_SEEN)


def _loop() -> None:
    # Waiting on an event (not sleeping) lets stop() end the thread at once.
    while not _STOP.wait(tick_s()):
        try:
            sweep_once()
        except Exception:  # noqa: BLE001 - the janitor must outlive any one failure
            _LOG.exception("janitor pass failed")


def stop(timeout: float = 5.0) -> bool:
    """End the janitor thread (if one runs) and forget every session; True if no thread is left.
    The next :func:`touch` starts a fresh one."""
    with _LOCK:
        thread = _STATE["thread"]
    _STOP.set()
    if isinstance(thread, threading.Thread):
        thread.join(timeout)
    with _LOCK:
        gone = not (isinstance(thread, threading.Thread) and thread.is_alive())
        if gone:
            _STATE.update(thread=None, dirty=False)
            _SEEN.clear()
            _STOP.clear()
    return gone


def sweep_once(now: float | None = None) -> list[str]:
    """One pass of stages 1–4; returns the ids of the sessions it closed."""
    from engine.core.limits import default_limiter

    from . import netron

    rt = _runtime()
    if rt is None:
        return []
    now = time.monotonic() if now is None else now
    grace = grace_s()
    closed = []
    with _LOCK:
        for sid, seen in list(_SEEN.items()):
            if rt.is_active_session(sid):
                _SEEN[sid] = now
            elif now - seen > grace:
                del _SEEN[sid]
                closed.append(sid)
        idle = not _SEEN and _STATE["dirty"]
    for sid in closed:
        rt.clear_user_info_for_session(sid)  # closes it on the event loop (shutdown)
        netron.release_session(sid)
        default_limiter().forget(sid)
    if closed:
        _STOP.wait(0.2)  # let the event loop shut them down before the orphan pass
    for _ in range(2):
        rt.media_file_mgr.remove_orphaned_files()
    netron.sweep()
    if idle:
        release_memory()
    return closed


def release_memory() -> None:
    """Stage 4: clear the app's caches, a full collection and ``malloc_trim(0)``."""
    with _LOCK:
        _STATE["dirty"] = False
        _STATE["releases"] += 1
    import streamlit as st

    st.cache_data.clear()  # bounded while the class is here (max_entries); dropped once it has left
    st.cache_resource.clear()
    clear_engine_caches()
    clear_torch_caches()
    rt = _runtime()
    empty_closed_sessions(rt.is_active_session if rt is not None else None)
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
    if os.environ.get("AISL_MEMORY_REPORT"):
        from .memory_report import memory_report

        memory_report()


def empty_closed_sessions(is_active=None) -> int:
    """Empty the session state and fragment storage of sessions that are over; returns how many.

    Over: shut down, or (with ``is_active``, the runtime's check) no longer connected — Streamlit
    drops a disconnected session from storage after its TTL without shutting it down. Called only
    once the class has left. A session that is over is freed once nothing refers to it, but
    Streamlit 1.67's event loop keeps the last session it flushed in a local variable
    (``Runtime._loop_coroutine``) until it flushes another, and a session's fragment storage keeps
    its last run's script globals (a page's graphs, a zoo model's weights) through each
    ``st.fragment``. Measured with ``AISL_MEMORY_REPORT`` on the lesson: ResNet-18's 44.5 MiB of
    weights kept this way after the class had left."""
    from streamlit.runtime.app_session import AppSession, AppSessionState

    emptied = 0
    for obj in gc.get_objects():
        if type(obj) is not AppSession:
            continue
        if obj._state == AppSessionState.SHUTDOWN_REQUESTED or (is_active and not is_active(obj.id)):
            obj._fragment_storage.clear()
            obj._session_state.clear()
            # SessionState.clear() keeps each widget's metadata, whose (de)serialisers close over
            # the last run's script globals (a Choice and its graph, measured); drop it as well
            widgets = getattr(obj._session_state, "_new_widget_state", None)
            getattr(widgets, "widget_metadata", {}).clear()
            emptied += 1
    return emptied


def engine_caches() -> list:
    """The engine's per-input result caches: every module-level ``functools.lru_cache`` with a
    ``maxsize`` above 1 in a loaded ``engine.*`` module (trained models, zoo models and their ONNX
    bytes, LLVM-compiled kernels, pruning and quantisation results). Unbounded ``functools.cache``
    and ``maxsize=1`` caches are singletons (classes built once, datasets, LLVM's initialisation)
    and are not listed."""
    import sys

    found, seen = [], set()
    for name, module in list(sys.modules.items()):
        if not name.startswith("engine.") or module is None:
            continue
        for value in list(vars(module).values()):
            info = getattr(value, "cache_parameters", None)
            if info is None or id(value) in seen or not callable(getattr(value, "cache_clear", None)):
                continue
            maxsize = info().get("maxsize")
            if maxsize is not None and maxsize > 1:
                seen.add(id(value))
                found.append(value)
    return found


def clear_engine_caches() -> int:
    """Empty :func:`engine_caches`; returns how many entries were dropped."""
    dropped = 0
    for cached in engine_caches():
        dropped += cached.cache_info().currsize
        cached.cache_clear()
    return dropped


def clear_torch_caches() -> dict[str, int]:
    """Empty what torch keeps per traced or compiled function, if those parts of torch are loaded;
    returns how many entries each held. Called only once the class has left.

    Measured with ``AISL_TRACEMALLOC`` on the lesson (15 students, 120 s): the ~21,600 small
    blocks a class left alive were mostly torch's — torch._dynamo's (guards, stack summaries,
    rewritten bytecode: the control-flow and dynamic-vs-static labs call ``torch._dynamo.explain``;
    engine/framework/graph_capture.py ``reset_dynamo`` now clears what it can after each call) and
    torch.fx's generated source of every GraphModule (``torch.fx.graph_module._loader.eval_cache``
    and its ``linecache`` entries, which only grow). Scattered over pymalloc's 1 MiB arenas, such
    survivors keep whole arenas resident. ``torch._dynamo.reset()`` is torch's own "as if a fresh
    process" reset (frames compiled by anything); a failure here is logged and skipped (library
    internals may move between versions)."""
    import linecache
    import sys

    held = {}
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        try:
            held["dynamo code objects"] = len(dynamo.convert_frame.input_codes.seen)
            dynamo.reset()
        except Exception:  # noqa: BLE001 - best effort: the next class recompiles what it needs
            _LOG.exception("torch._dynamo.reset failed")
    graph_module = sys.modules.get("torch.fx.graph_module")
    loader = getattr(graph_module, "_loader", None)
    cache = getattr(loader, "eval_cache", None)
    if isinstance(cache, dict):
        held["fx generated sources"] = len(cache)
        for key in list(cache):
            cache.pop(key, None)
            linecache.cache.pop(key, None)
    return held


def limit_arenas(count: int = 2) -> None:
    """At most ``count`` glibc malloc arenas from now on (unless ``MALLOC_ARENA_MAX`` is set).

    glibc gives each new thread that meets contention its own arena (up to 8 per core); Streamlit
    runs every rerun on a fresh thread, so a class's reruns scatter small allocations over many
    arenas, and the freed space in them cannot go back to the system. Measured on the lesson
    (bench/lesson.py, N=10): RSS after the class left / before 1.13 without the limit, 1.02 with it
    (and the idle release). Python allocates under the GIL, so two arenas cost no contention.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, count)
    except (OSError, AttributeError):  # not glibc
        pass
