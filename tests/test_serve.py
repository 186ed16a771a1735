"""tools/serve.py: the server starts with jemalloc under it where installed, never for its children.

The environment logic is checked as a function; a real server (bench/st_client.py starts it as
``make run`` does) must have jemalloc mapped when the library is installed — CI installs it
(.ci/run), as the Dockerfile does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tools import serve

ROOT = Path(__file__).resolve().parent.parent
LIB = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def test_allocator_env_preloads_jemalloc_once_and_keeps_other_preloads():
    env = serve.allocator_env({"PATH": "/bin", "LD_PRELOAD": "/x/other.so"}, LIB)
    assert env["LD_PRELOAD"].split() == [LIB, "/x/other.so"]
    assert env["PYTHONMALLOC"] == "malloc" and env["PATH"] == "/bin"
    assert "dirty_decay_ms" in env["MALLOC_CONF"] and env[serve.LOADED] == "1"
    assert serve.allocator_env(env, LIB) is None  # the re-exec'd process does not exec again


def test_allocator_env_is_none_without_the_library_or_when_turned_off():
    assert serve.allocator_env({"PATH": "/bin"}, None) is None
    assert serve.allocator_env({"AISL_ALLOCATOR": "pymalloc"}, LIB) is None
    mine = serve.allocator_env({"MALLOC_CONF": "narenas:1"}, LIB)
    assert mine["MALLOC_CONF"] == "narenas:1"  # an operator's own setting wins


def test_the_reexecd_process_drops_the_preload_and_runs_streamlit_from_the_root(monkeypatch, tmp_path):
    """Stages 2 and 3 (after the re-exec): children get no preload; streamlit runs the script from
    the repository's root, where the app's .streamlit/config.toml is."""
    import streamlit.web.cli as cli

    seen = {}
    monkeypatch.setenv(serve.LOADED, "1")
    monkeypatch.setenv("LD_PRELOAD", LIB)
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(cli, "main", lambda: seen.update(argv=list(sys.argv), cwd=os.getcwd()) or 0)
    monkeypatch.setattr(serve, "patch_streamlit_listener", lambda: seen.update(nodelay=True))
    monkeypatch.chdir(tmp_path)
    floor = str(ROOT / "bench" / "floor_page.py")
    with pytest.raises(SystemExit):
        serve.main([floor, "--server.port", "1"])
    assert not {"LD_PRELOAD", "PYTHONMALLOC", serve.LOADED} & set(os.environ)
    assert seen.pop("nodelay")  # stage 4, for every script
    assert seen == {"argv": ["streamlit", "run", floor, "--server.port", "1"], "cwd": str(ROOT)}
    assert "warmed" not in seen  # stage 3 is for the app only
    monkeypatch.setattr(serve, "warm_first_run", lambda: seen.update(warmed=True))
    monkeypatch.setenv(serve.LOADED, "1")
    with pytest.raises(SystemExit):
        serve.main(["--server.port", "2"])
    assert seen["argv"] == ["streamlit", "run", str(ROOT / "app.py"), "--server.port", "2"]
    _join("aisl-first-run")
    assert seen.pop("warmed")
    monkeypatch.setenv("AISL_PREWARM", "0")  # off with the rest of the pre-warming
    monkeypatch.setenv(serve.LOADED, "1")  # (else main() would re-exec this test process)
    with pytest.raises(SystemExit):
        serve.main(["--server.port", "3"])
    _join("aisl-first-run")
    assert "warmed" not in seen


def _join(name: str) -> None:
    import threading

    for thread in threading.enumerate():
        if thread.name == name:
            thread.join(5)


def _imports(path: Path) -> set[str]:
    """Our modules ``path`` imports at its top level (``from ui import prewarm`` counts ui.prewarm)."""
    import ast

    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {
                f"{node.module}.{a.name}"
                for a in node.names
                if (ROOT / node.module.replace(".", "/") / f"{a.name}.py").exists()
            }
    return {m for m in found if m.split(".")[0] in ("ui", "viz", "engine")}


def test_first_run_modules_cover_what_the_app_and_home_page_import():
    wanted = _imports(ROOT / "app.py") | _imports(ROOT / "labs" / "home.py")
    assert {"ui.prewarm", "ui.catalog", "viz.graph"} <= wanted  # the parser sees the imports
    parts = [m.split(".") for m in serve.FIRST_RUN]  # importing a.b.c imports a and a.b too
    covered = {".".join(p[:k]) for p in parts for k in range(1, len(p) + 1)}
    assert wanted <= covered, wanted - covered


def test_warm_first_run_waits_for_the_runtime_then_imports(monkeypatch):
    import types

    fake = types.ModuleType("streamlit.runtime.runtime")
    fake.Runtime = types.SimpleNamespace(exists=lambda: False)
    monkeypatch.setitem(sys.modules, "streamlit.runtime.runtime", fake)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert serve.warm_first_run(("colorsys",), wait_s=0.2) == []  # no runtime: nothing imported
    assert "colorsys" not in sys.modules
    fake.Runtime = types.SimpleNamespace(exists=lambda: True)
    assert serve.warm_first_run(("colorsys", "no_such_module_here"), wait_s=0.2) == ["colorsys"]
    assert "colorsys" in sys.modules


def _accepted_nodelay(listener) -> int:
    """TCP_NODELAY of a connection that an asyncio server on ``listener`` accepted (what uvicorn
    does with Streamlit's pre-bound socket)."""
    import asyncio
    import socket

    async def main() -> int:
        seen = asyncio.get_running_loop().create_future()

        class Report(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Report, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


def _bind_like_streamlit(address: str, port: int, backlog: int):
    """A listener bound as Streamlit 1.67's _bind_socket binds it: ``socket.socket(family)``."""
    import socket

    sock = socket.socket(family=socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def test_tcp_listener_turns_nagle_off_on_accepted_connections():
    """The bug (uvicorn #3149): asyncio leaves Nagle on for connections from a proto-0 listener;
    through :func:`serve.tcp_listener` the same listener's connections get TCP_NODELAY."""
    import socket

    assert _accepted_nodelay(_bind_like_streamlit("127.0.0.1", 0, 8)) == 0  # the bug, in this Python
    plain = _bind_like_streamlit("127.0.0.1", 0, 8)
    plain.set_inheritable(True)
    sock = serve.tcp_listener(lambda *a: plain)("127.0.0.1", 0, 8)
    assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[0] == "127.0.0.1"
    assert sock.get_inheritable() and not sock.getblocking()
    assert _accepted_nodelay(sock) != 0


def test_streamlit_listener_is_patched_where_streamlit_binds_it(monkeypatch):
    """Streamlit's own _bind_socket is found and wrapped (once), and what it binds then gives
    connections without Nagle: a Streamlit that binds elsewhere fails here, not silently."""
    import socket

    from streamlit.web.server.starlette import starlette_server

    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)
    assert serve.patch_streamlit_listener()
    wrapped = starlette_server._bind_socket
    assert wrapped.__wrapped__ is not None and wrapped.aisl_tcp
    assert serve.patch_streamlit_listener() and starlette_server._bind_socket is wrapped  # not twice
    sock = starlette_server._bind_socket("127.0.0.1", 0, 8)
    assert sock.proto == socket.IPPROTO_TCP
    assert _accepted_nodelay(sock) != 0
