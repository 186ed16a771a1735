"""The app's server on the allocator a hosted class needs: ``python -m tools.serve [SCRIPT.py] [ARGS]``.

``ARGS`` are ``streamlit run`` options (``--server.port 8501`` …); the script is app.py unless a
``.py`` path comes first (the browser bench's floor page). Used by
``make run``, the Dockerfile, deploy/run_local.sh and the benches' servers (bench/st_client.py).

Stages:
  1. if jemalloc is installed (Debian's ``libjemalloc2``; :func:`jemalloc_path`) and not already
     loaded, re-exec this same command with :func:`allocator_env`: jemalloc preloaded, every Python
     object allocated through it (``PYTHONMALLOC=malloc``) and freed pages handed back to the
     system within a second (``MALLOC_CONF``). ``AISL_ALLOCATOR=pymalloc`` keeps Python's own;
  2. in the re-exec'd process: drop those variables from the environment (both allocators read
     them only at start), so the programs the server starts (chromium for figure exports, Python
     helpers) get their own allocator;
  3. run ``streamlit run SCRIPT ARGS`` in this process (its pid stays the server's pid), from the
     repository's root (so the app's .streamlit/config.toml applies wherever this was started);
     for the app, a thread imports what its first run needs (:func:`warm_first_run`);
  4. Streamlit's listening socket is marked as TCP (:func:`tcp_listener`), so the connections it
     accepts reply without Nagle's ~40 ms wait (``AISL_NODELAY=0`` leaves Streamlit's as it is).

Why (measured with the lesson bench, bench/lesson.py, a class of 30 on one core for 150 s): with
Python's own allocator the server kept 1.11x its memory from before the class after the class had
left — pymalloc frees a 1 MiB arena only when every object in it is gone, and the few thousand
objects a class leaves behind (torch's per-call state, library caches) are spread over ~70 of them;
jemalloc's slabs are pages, and its decay returns what is free: 1.06x. glibc's malloc for every
object (``PYTHONMALLOC=malloc`` alone) left more than pymalloc (1.30x: free chunks it cannot trim).
Server-side rerun time of six labs (AppTest, medians): the same within the machine's noise.
"""

from __future__ import annotations

import functools
import glob
import importlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
MALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2"
LOADED = "AISL_JEMALLOC_LOADED"  # set on the re-exec: stage 1 happens once
# what app.py and the home page import (tests/test_serve.py checks it covers them), and Pillow,
# which the home page's first image loads
FIRST_RUN = (
    *("ui", "ui.catalog", "ui.i18n", "ui.prewarm", "engine.core.budget", "viz.graph", "viz.view"),
    "PIL.Image",
)
RUNTIME_WAIT_S = 60.0


def warm_first_run(modules: tuple[str, ...] = FIRST_RUN, wait_s: float = RUNTIME_WAIT_S) -> list[str]:
    """Wait (up to ``wait_s``) until Streamlit's runtime exists, then import ``modules``; returns the
    ones imported. A module that fails is skipped: the page that needs it reports the failure."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        runtime = sys.modules.get("streamlit.runtime.runtime")
        if runtime is not None and runtime.Runtime.exists():
            break
        time.sleep(0.05)
    else:
        return []
    done = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optimisation only; the page reports its own failure
            continue
        done.append(name)
    return done


def tcp_listener(bind: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
    """``bind`` (Streamlit's ``_bind_socket``), its listening socket marked as TCP (``proto``).

    Streamlit binds its listener as ``socket.socket(family)``: ``proto`` 0. A connection accepted
    from it inherits that 0, and asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on a
    socket whose ``proto`` is ``IPPROTO_TCP`` (uvicorn issue #3149, the same bug in its own
    pre-bound sockets). With Nagle on, on a kept-alive connection a small write waits until the
    peer acknowledges the previous one, and Linux delays that acknowledgement ~40 ms: every HTTP
    request after a connection's first took 44 ms instead of 2 ms (measured on index.html; behind
    nginx, whose upstream connections are kept alive, every proxied request). The websocket's
    frames showed no such wait (a move's time in the browser did not change). The socket is the
    same; only the Python object that asyncio reads is rebuilt with the right ``proto``."""

    if getattr(bind, "aisl_tcp", False):
        return bind

    @functools.wraps(bind)
    def tcp_bind(*args, **kwargs) -> socket.socket:
        sock = bind(*args, **kwargs)
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
            return sock
        blocking, inheritable = sock.getblocking(), sock.get_inheritable()
        tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        tcp.setblocking(blocking)
        tcp.set_inheritable(inheritable)
        return tcp

    tcp_bind.aisl_tcp = True
    return tcp_bind


def patch_streamlit_listener() -> bool:
    """Install :func:`tcp_listener` around Streamlit's ``_bind_socket``; False if it is not there (a
    Streamlit that binds otherwise: tests/test_serve.py fails first)."""
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        return False
    bind = getattr(starlette_server, "_bind_socket", None)
    if bind is None:
        return False
    starlette_server._bind_socket = tcp_listener(bind)  # once: a wrapped one is returned as it is
    return True


def jemalloc_path() -> str | None:
    """The system's jemalloc shared library, if installed (any architecture's multiarch folder)."""
    found = sorted(glob.glob("/usr/lib/*/libjemalloc.so.2") + glob.glob("/usr/lib/libjemalloc.so.2"))
    return found[0] if found else None


def allocator_env(env: dict[str, str], library: str | None) -> dict[str, str] | None:
    """The environment to re-exec with, or None to start as is (no jemalloc, turned off, or done)."""
    if library is None or env.get("AISL_ALLOCATOR", "jemalloc") == "pymalloc" or env.get(LOADED):
        return None
    preload = " ".join(p for p in (library, env.get("LD_PRELOAD", "")) if p)
    return {
        **env,
        "LD_PRELOAD": preload,
        "PYTHONMALLOC": "malloc",
        "MALLOC_CONF": env.get("MALLOC_CONF", MALLOC_CONF),
        LOADED: "1",
    }


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    env = allocator_env(dict(os.environ), jemalloc_path())
    if env is not None:  # stage 1: the same command again, with jemalloc under it
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *args], env)
    if os.environ.pop(LOADED, None):  # stage 2: children get their own allocator (read at start)
        for name in ("LD_PRELOAD", "PYTHONMALLOC", "MALLOC_CONF"):
            os.environ.pop(name, None)
    from streamlit.web import cli

    script = Path(args.pop(0)).resolve() if args and args[0].endswith(".py") else APP
    os.chdir(ROOT)  # the app's .streamlit/config.toml, wherever this was started from
    if script == APP and os.environ.get("AISL_PREWARM", "1") != "0":  # stage 3
        threading.Thread(target=warm_first_run, name="aisl-first-run", daemon=True).start()
    if os.environ.get("AISL_NODELAY", "1") != "0":  # stage 4: replies are not held ~40 ms (Nagle)
        patch_streamlit_listener()
    sys.argv = ["streamlit", "run", str(script), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
