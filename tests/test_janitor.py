"""ui/janitor.py with a fake Streamlit runtime and a fake clock: who is closed, what is released, when.

The janitor is the only thing that closes a departed session (Streamlit 1.67 drops it from storage
without shutting it down), so each release it promises is checked here: a session gone past the grace
is closed, its Netron models are deleted and its heavy-work rate bucket is forgotten; a connected one
keeps all of that; the app's caches are cleared only once the last session has left.
"""

from __future__ import annotations

import threading
import types

import pytest
import streamlit as st

from engine.compression.datasets import _raw, digits
from engine.core.limits import default_limiter
from ui import janitor, netron

GRACE = 60.0


class FakeMedia:
    def __init__(self) -> None:
        self.orphan_passes = 0

    def remove_orphaned_files(self) -> None:
        self.orphan_passes += 1


class FakeRuntime:
    """The three things the janitor asks of ``streamlit.runtime.Runtime``."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.closed: list[str] = []
        self.media_file_mgr = FakeMedia()

    def is_active_session(self, sid: str) -> bool:
        return sid in self.active

    def clear_user_info_for_session(self, sid: str) -> None:
        self.closed.append(sid)
        self.active.discard(sid)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture()
def world(monkeypatch, tmp_path):
    """A fake runtime and clock, an empty janitor, Netron's models in ``tmp_path`` (no thread starts)."""
    janitor.stop()
    rt, clock, current = FakeRuntime(), Clock(), {"sid": None}
    monkeypatch.setattr(janitor, "_runtime", lambda: rt)
    monkeypatch.setattr(janitor, "_session_id", lambda: current["sid"])
    monkeypatch.setattr(janitor, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setitem(janitor._STATE, "thread", "not started in unit tests")
    monkeypatch.setenv("AISL_SESSION_GRACE_S", str(GRACE))
    monkeypatch.setattr(netron, "ensure_netron", lambda: None)
    monkeypatch.setattr(netron, "_models", lambda: tmp_path)
    monkeypatch.setattr(netron, "_BY_SESSION", {})

    def arrive(sid: str) -> None:
        """``sid`` connects and runs a page (ui.setup calls touch)."""
        rt.active.add(sid)
        current["sid"] = sid
        janitor.touch()

    yield types.SimpleNamespace(rt=rt, clock=clock, arrive=arrive, models=tmp_path)
    janitor._SEEN.clear()
    janitor._STATE["dirty"] = False


def _spend_heavy_token(sid: str) -> None:
    with default_limiter().slot("test", sid):
        pass


def test_departed_session_is_closed_after_the_grace_and_its_files_and_bucket_released(world):
    world.arrive("alice")
    world.arrive("bob")
    alice_model = netron.publish_model(b"alice's model", "alice")
    bob_model = netron.publish_model(b"bob's model", "bob")
    _spend_heavy_token("alice")
    _spend_heavy_token("bob")
    bucket = default_limiter()._bucket
    assert {"alice", "bob"} <= set(bucket._state)

    world.rt.active.discard("alice")  # alice's browser tab closed
    world.clock.now += GRACE - 1
    assert janitor.sweep_once() == []  # still inside the grace: she may reconnect
    assert (world.models / alice_model.rsplit("/", 1)[1]).exists()

    world.clock.now += 2
    assert janitor.sweep_once() == ["alice"]
    assert world.rt.closed == ["alice"]
    assert not (world.models / alice_model.rsplit("/", 1)[1]).exists()
    assert "alice" not in bucket._state
    # bob is connected: nothing of his is touched, however long he stays
    world.clock.now += 10 * GRACE
    assert janitor.sweep_once() == []
    assert (world.models / bob_model.rsplit("/", 1)[1]).exists()
    assert "bob" in bucket._state
    assert janitor.known_sessions() == 1
    assert world.rt.media_file_mgr.orphan_passes >= 2  # every pass looks for orphaned media


def test_a_reconnect_inside_the_grace_keeps_the_session(world):
    world.arrive("carol")
    world.rt.active.discard("carol")
    world.clock.now += GRACE / 2
    assert janitor.sweep_once() == []
    world.rt.active.add("carol")  # the browser reconnected to the same session
    world.clock.now += GRACE
    assert janitor.sweep_once() == []  # seen connected again: the grace starts over
    world.clock.now += GRACE + 1
    assert janitor.sweep_once() == []
    assert world.rt.closed == []


def test_caches_are_cleared_only_when_the_last_session_has_left(world):
    calls = []

    @st.cache_data
    def lesson_result(x: int) -> int:
        calls.append(x)
        return x * 2

    world.arrive("dave")
    world.arrive("erin")
    lesson_result(1)
    digits(3)  # an entry in one of the engine's result caches (functools.lru_cache)
    assert digits in janitor.engine_caches()
    assert _raw not in janitor.engine_caches(), "a maxsize=1 singleton is kept"
    world.rt.active.discard("dave")
    world.clock.now += GRACE + 1
    assert janitor.sweep_once() == ["dave"]
    lesson_result(1)
    assert calls == [1], "erin is still here: the cache must be kept"
    assert digits.cache_info().currsize >= 1, "erin is still here: the engine's caches too"
    releases = janitor._STATE["releases"]

    world.rt.active.discard("erin")
    world.clock.now += GRACE + 1
    assert janitor.sweep_once() == ["erin"]
    assert janitor._STATE["releases"] == releases + 1
    lesson_result(1)
    assert calls == [1, 1], "the class has left: the cache must have been cleared"
    assert digits.cache_info().currsize == 0, "and the engine's result caches emptied"

    assert janitor.sweep_once() == []  # nobody ran a page since: no second release
    assert janitor._STATE["releases"] == releases + 1


def test_touch_outside_a_server_does_nothing(monkeypatch):
    janitor.stop()
    monkeypatch.setattr(janitor, "_runtime", lambda: None)
    monkeypatch.setattr(janitor, "_session_id", lambda: "someone")
    janitor.touch()
    assert janitor.known_sessions() == 0
    assert janitor._STATE["thread"] is None


def test_the_janitor_thread_waits_on_an_event_and_stops_at_once(monkeypatch):
    janitor.stop()
    rt = FakeRuntime()
    passes = threading.Event()
    rt.media_file_mgr.remove_orphaned_files = passes.set  # set by the first pass
    monkeypatch.setattr(janitor, "_runtime", lambda: rt)
    monkeypatch.setattr(janitor, "_session_id", lambda: "frank")
    monkeypatch.setattr(janitor, "release_memory", lambda: None)
    monkeypatch.setenv("AISL_JANITOR_TICK_S", "0.2")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")  # leave this process's allocator alone
    rt.active.add("frank")
    janitor.touch()
    thread = janitor._STATE["thread"]
    assert isinstance(thread, threading.Thread) and thread.daemon
    assert passes.wait(30), "the janitor thread never made a pass"
    assert janitor.stop(timeout=30)
    assert not thread.is_alive()
    assert janitor._STATE["thread"] is None and janitor.known_sessions() == 0


def _app_session():
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.script_data import ScriptData
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.runtime.uploaded_file_manager import UploadedFileManager

    class NoUploads(UploadedFileManager):  # the abstract manager's methods, none used here
        get_files = remove_file = remove_orphaned_files = remove_session_files = get_upload_urls = (
            lambda *a, **k: None
        )

    session = AppSession(ScriptData("app.py", False), NoUploads(), ScriptCache(), None, {})
    session._session_state["graph"] = bytearray(1 << 20)  # what a page's run leaves behind
    session._fragment_storage.register("frag", lambda: None)
    from streamlit.runtime.state.common import WidgetMetadata

    kept = bytearray(1 << 20)  # a widget's (de)serialiser closes over a run's globals
    meta = WidgetMetadata("w", lambda v: kept, lambda v: v, "int_value")
    session._session_state._new_widget_state.set_widget_metadata(meta)
    return session


def _widgets(session) -> dict:
    return session._session_state._new_widget_state.widget_metadata


def test_sessions_that_are_over_are_emptied_and_a_live_one_kept():
    """Streamlit's event loop keeps the last session it flushed in a local variable after it is over;
    the state and fragments (a run's script globals) of a session shut down or no longer known to the
    runtime are emptied, a live session's are not."""
    import asyncio

    async def check() -> None:  # an AppSession is made on the server's event loop
        closed, dropped, live = _app_session(), _app_session(), _app_session()
        closed.shutdown()  # dropped: gone from the runtime without a shutdown (Streamlit's TTL)
        assert janitor.empty_closed_sessions(is_active=lambda sid: sid == live.id) >= 2
        for over in (closed, dropped):
            assert "graph" not in over._session_state and not over._fragment_storage.contains("frag")
            assert not _widgets(over)
        assert "graph" in live._session_state and live._fragment_storage.contains("frag")
        assert "w" in _widgets(live)
        dropped.shutdown()
        live.shutdown()

    asyncio.run(check())


def test_torch_caches_a_class_leaves_are_emptied():
    """torch.fx keeps every GraphModule's generated source (its loader's eval_cache and linecache)
    and torch._dynamo every compiled frame's cache entries; once the class has left both are
    emptied, and what was traced before still runs."""
    import linecache

    import torch
    import torch._dynamo
    import torch.fx.graph_module as graph_module
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    def double(x):
        return x * 2

    gm = torch.fx.symbolic_trace(torch.nn.Sequential(torch.nn.ReLU()))
    torch.compile(double, backend="eager")(torch.ones(2))
    key = gm.forward.__code__.co_filename
    assert key in graph_module._loader.eval_cache and key in linecache.cache
    assert len(_debug_get_cache_entry_list(double.__code__)) == 1

    held = janitor.clear_torch_caches()

    assert held["fx generated sources"] >= 1 and held["dynamo code objects"] >= 1
    assert not graph_module._loader.eval_cache and key not in linecache.cache
    assert len(_debug_get_cache_entry_list(double.__code__)) == 0
    assert torch.equal(gm(-torch.ones(2)), torch.zeros(2))  # a module traced before still runs
    assert torch.equal(torch.fx.symbolic_trace(double)(torch.ones(2)), 2 * torch.ones(2))
