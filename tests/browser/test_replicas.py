"""Two replicas behind nginx on loopback (deploy/run_local.sh), driven by a real browser.

Stages of the test, on free ports in a temporary run dir:
  1. deploy/run_local.sh starts two Streamlit replicas and nginx; every listening socket of every
     process it started is on 127.0.0.1;
  2. browser contexts open the Graph Builder through nginx until one session sits on each replica
     (nginx's access log names the replica of each request, by the context's sticky cookie);
  3. a share link across replicas: the model uploaded through replica X opens (``g=onnx:<key>``) in
     the session on replica Y — the upload folder is shared;
  4. replica X is killed mid-run: Y's session keeps working (a control moved, the page redrawn), a new
     browser lands on Y and works, X's old browser is moved to Y and works (its link restores the
     page), nginx's error log shows the dead upstream refused and then disabled (passive health,
     ``max_fails=1``), and ``/_stcore/health`` still answers;
  5. no browser request left 127.0.0.1; the script is stopped and every process it started is gone.
A second test: Streamlit's hashed frontend files are fetched from a replica once, then served by
nginx from its cache, gzipped, byte for byte the files Streamlit ships; the page itself is not cached.
nginx must be installed (Debian package ``nginx``; .ci/run installs it): in CI a missing nginx fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT, wait_app
from test_netron_browser import _tiny_model

SCRIPT = ROOT / "deploy" / "run_local.sh"
UPSTREAM = re.compile(r"route=([0-9a-f]{32}) upstream=(\S+(?:, \S+)*) upstream_status")


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_ports(count: int) -> int:
    """A base port b with b+1 .. b+count free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1] - 1
        if base + count >= 65535:
            continue
        try:
            socks = []
            for k in range(1, count + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free run of ports")


def _session_pids(sid: int) -> set[int]:
    """Every live process in session ``sid`` (all that run_local.sh started, started in its own)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.add(int(entry.name))
    return pids


def _listening(pids: set[int]) -> list[str]:
    """The local addresses (hex ip:port from /proc/net/tcp*) of listening sockets owned by ``pids``."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with_inode = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                if with_inode:
                    inodes.add(with_inode.group(1))
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # state LISTEN
                found.append(cols[1])
    return found


def _is_loopback(hex_addr: str) -> bool:
    ip = hex_addr.split(":")[0]
    if len(ip) == 8:  # IPv4, little-endian bytes: 127.x.x.x ends in 7F
        return ip.upper().endswith("7F")
    return ip.upper() == "00000000000000000000000001000000"  # ::1


class Cluster:
    """deploy/run_local.sh 2 PORT in ``run``; stops everything it started."""

    def __init__(self, run: Path) -> None:
        self.run, self.port = run, _free_ports(1) + 1
        self.base = _free_ports(2)
        while self.port in (self.base + 1, self.base + 2):
            self.base = _free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AISL_RUN_DIR": str(run),
            "AISL_BASE_PORT": str(self.base),
            "PYTHON": sys.executable,
        }
        self.out = (run / "script.log").open("wb")
        self.proc = subprocess.Popen(
            ["bash", str(SCRIPT), "2", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"run_local.sh did not get ready:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return (self.run / "script.log").read_text(errors="replace")

    def replica_pid(self, k: int) -> int:
        return int((self.run / f"replica-{k}.pid").read_text())

    def replica_of_port(self, port: int) -> int:
        return port - self.base

    def upstreams(self, route: str) -> list[list[str]]:
        """The upstreams nginx tried for each request of ``route`` (in order; last = answered)."""
        text = (self.run / "access.log").read_text(errors="replace")
        return [
            m.group(2).split(", ")
            for m in UPSTREAM.finditer(text)
            if m.group(1) == route and m.group(2) != "-"  # "-": nginx answered from its cache
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # its trap stops nginx and the replicas
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.out.close()

    def kill_all(self) -> None:
        """Last resort (the test fails on it anyway): every process of the script's session."""
        for pid in _session_pids(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def _route(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "aisl_route")


def _replica(cluster: Cluster, context) -> str:
    """The replica (its host:port) that answered this context's last request through nginx."""
    route = _route(context)
    deadline = time.monotonic() + 10
    while not cluster.upstreams(route) and time.monotonic() < deadline:
        time.sleep(0.1)  # nginx writes the log line as the response ends
    tries = cluster.upstreams(route)
    assert tries, "nginx logged no request for this browser"
    return tries[-1][-1]


def _open_builder(context, url: str, query: str = ""):
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(f"{url}/graph_builder{query}")
    wait_app(page, "Graph Builder")
    return page


def _move_a_control(page) -> None:
    """Move a control and see the page redraw (the session's websocket is alive)."""
    box = page.locator(".st-key-gb_source")
    box.get_by_text("Program", exact=False).first.click()
    page.locator(".st-key-gb_program textarea").wait_for(state="visible")
    wait_app(page)


@pytest.fixture()
def cluster(tmp_path):
    if _nginx() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (Debian package 'nginx'); .ci/run installs it")
        pytest.skip("nginx is not installed (apt-get install nginx): the replica test needs it")
    c = Cluster(tmp_path)
    try:
        c.wait_ready()
        yield c
    finally:
        c.stop()
        c.kill_all()


def test_two_replicas_behind_nginx_survive_one_dying(cluster, browser, tmp_path):
    sid = cluster.proc.pid
    started = _session_pids(sid)
    assert len(started) >= 4, started  # the script, two replicas, nginx (+ its worker)
    addresses = _listening(started)
    assert len(addresses) >= 3 and all(map(_is_loopback, addresses)), addresses

    requests: list[str] = []
    contexts = []

    def new_context():
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.on("request", lambda req: requests.append(req.url))
        contexts.append(ctx)
        return ctx

    try:
        # 2. one browser session on each replica (a fresh context gets a fresh sticky route)
        first = new_context()
        page_x = _open_builder(first, cluster.url)
        x = _replica(cluster, first)
        second = None
        for _ in range(12):
            ctx = new_context()
            ctx.request.get(cluster.url + "/_stcore/health")  # sets the route cookie, picks a replica
            if _replica(cluster, ctx) != x:
                second = ctx
                break
            ctx.close()
            contexts.remove(ctx)
        assert second is not None, "12 fresh browsers all hashed to one replica"

        # 3. upload through X; the share link opens on Y
        model = tmp_path / "tiny.onnx"
        model.write_bytes(_tiny_model())
        page_x.locator(".st-key-gb_source").get_by_text("ONNX", exact=True).click()
        page_x.locator(".st-key-gb_upload input[type=file]").set_input_files(str(model))
        page_x.wait_for_url("**g=onnx%3A**", timeout=60_000)
        key = re.search(r"g=onnx%3A([0-9a-f]{64})", page_x.url).group(1)
        page_y = _open_builder(second, cluster.url, f"?g=onnx:{key}")
        page_y.get_by_text(f"Uploaded model {key[:12]}", exact=False).first.wait_for(state="visible")
        y = _replica(cluster, second)
        assert y != x and all(tries[-1] == y for tries in cluster.upstreams(_route(second)))

        # 4. X dies mid-lesson
        os.kill(cluster.replica_pid(cluster.replica_of_port(int(x.rsplit(":", 1)[1]))), signal.SIGKILL)
        _move_a_control(page_y)  # Y's session goes on
        assert _replica(cluster, second) == y
        third = new_context()  # a new student lands on the live replica, whatever its route
        page_new = _open_builder(third, cluster.url)
        assert _replica(cluster, third) == y
        page_new.close()
        page_x.reload()  # X's student reconnects: moved to Y, the link restores the upload
        wait_app(page_x, "Graph Builder")
        page_x.get_by_text(f"Uploaded model {key[:12]}", exact=False).first.wait_for(state="visible")
        assert _replica(cluster, first) == y
        errors = (cluster.run / "error.log").read_text(errors="replace")
        assert re.search(
            rf"connect\(\) failed \(111: Connection refused\).*upstream: \"http://{x}/", errors
        ), errors
        # passive health: max_fails=1 takes X out of the upstream for fail_timeout
        assert re.search(rf"upstream server temporarily disabled.*upstream: \"http://{x}/", errors), errors
        health = second.request.get(cluster.url + "/_stcore/health")
        assert health.status == 200
    finally:
        for ctx in contexts:
            ctx.close()

    # 5. nothing left the machine; everything the script started stops with it
    hosts = {urlparse(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, hosts
    cluster.stop()
    assert cluster.proc.returncode is not None, "run_local.sh did not stop on SIGTERM"
    left = _session_pids(sid)
    assert not left, f"processes left running: {left}"


def test_streamlit_frontend_files_come_from_nginx_cache_gzipped(cluster):
    """deploy/nginx/aisl-locations.conf, location /static/: the first request of plotly's chunk (the
    largest file a lab needs) reaches a replica, the next ones do not; every answer is gzipped and
    unzips to the file in Streamlit's package; index.html is never cached (Streamlit: no-cache)."""
    import gzip
    import urllib.request

    import streamlit

    js = Path(streamlit.__file__).parent / "static" / "static" / "js"
    (chunk,) = js.glob("PlotlyChart.*.js")
    url = f"{cluster.url}/static/js/{chunk.name}"

    def get(path_url: str):
        req = urllib.request.Request(path_url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.headers, r.read()

    answers = [get(url) for _ in range(3)]
    assert [h["X-Cache-Status"] for h, _ in answers] == ["MISS", "HIT", "HIT"]
    for headers, body in answers:
        assert headers["Content-Encoding"] == "gzip"
        assert len(body) < chunk.stat().st_size / 2  # the bytes a class shares its link with
        assert gzip.decompress(body) == chunk.read_bytes()
    text = (cluster.run / "access.log").read_text(errors="replace")
    served = [line for line in text.splitlines() if f"/static/js/{chunk.name}" in line]
    assert len(served) == 3 and sum("upstream=-" not in line for line in served) == 1, served
    headers, _ = get(f"{cluster.url}/")
    assert headers["X-Cache-Status"] is None and "no-cache" in headers["Cache-Control"]
