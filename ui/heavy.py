"""Heavy work behind the server-wide limiter (engine/core/limits.py), cached like ``ui.cached``.

``cached_heavy(fn, kind)`` is ``st.cache_data`` around a wrapper that takes a slot only inside the
function the cache calls, so a cache hit (most requests in a class: everyone shares the cache)
never touches the limiter; only real work does. The per-session rate limit is keyed by Streamlit's
session id; outside a script run (plain Python, a worker thread) there is no session and only the
server-wide slots apply. A refusal is re-raised as a BusyError in the page's language, which
``ui.guard()`` shows as ``st.error``; a refused call caches nothing, so a retry runs for real.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from engine.core.errors import BusyError
from engine.core.limits import heavy_slot

from .i18n import t

F = TypeVar("F", bound=Callable)


def session_key() -> str | None:
    """The Streamlit session id of the running script, or None outside one."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def busy_message(err: BusyError) -> str:
    """The refusal in the page's language (the engine speaks English)."""
    s = max(1, round(err.retry_s))
    if err.reason == "rate":
        return t("You started many heavy runs in the last minute; try again in ~{s} s.", s=s)
    runs = "run" if err.running == 1 else "runs"
    return t(
        "The server is busy with {running} other heavy {runs}; try again in ~{s} s.",
        running=err.running,
        runs=runs,
        s=s,
    )


def run_heavy(fn: F, kind: str) -> F:
    """``fn`` run inside a heavy slot for the current session (no caching)."""

    @functools.wraps(fn)  # keeps fn's name and source: st.cache_data keys its cache on them
    def limited(*args, **kwargs):
        try:
            with heavy_slot(kind, session_key()):
                return fn(*args, **kwargs)
        except BusyError as err:
            raise BusyError(busy_message(err), err.running, err.retry_s, err.reason) from None

    return limited  # type: ignore[return-value]


def cached_heavy(fn: F, kind: str, max_entries: int = 64) -> F:
    """``ui.cached(fn)`` whose cache misses (only those) go through the limiter."""
    return st.cache_data(run_heavy(fn, kind), max_entries=max_entries, show_spinner=False)


def cached_heavy_or_stop(fn: Callable, kind: str, *args, **kwargs):
    """``cached_heavy(fn, kind)(*args)`` for a result the whole page needs: a refusal is shown as
    ``st.error`` and ends this run of the script (nothing below it could draw anyway)."""
    try:
        return cached_heavy(fn, kind)(*args, **kwargs)
    except BusyError as err:
        st.error(str(err))
        st.stop()
