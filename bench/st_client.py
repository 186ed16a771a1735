"""Talk to a Streamlit server the way its browser frontend does: a load-test client and a server harness.

The protocol, read from the installed streamlit 1.67 source (web/server/starlette/starlette_websocket.py,
runtime/app_session.py, runtime/forward_msg_cache.py and the proto/*.pyi stubs):
  1. connect to ``ws://host:port/_stcore/stream`` offering the subprotocol ``streamlit`` (the header's
     first entry; an XSRF token and a session id to resume may follow, both optional);
  2. the server runs nothing until the client sends ``BackMsg.rerun_script``, a ClientState with the
     query string, ``page_name`` (the page's url path, "" for the default page), ``page_script_hash``
     once known, and ``widget_states``;
  3. it answers with ForwardMsgs: ``new_session``, ``navigation`` (whose ``page_script_hash`` is the
     current page), one ``delta`` per element (widgets carry id, bounds, options and default) and
     ``script_finished``. A deep link's first run may end FINISHED_EARLY_FOR_RERUN while the navigation
     switches page, so a run has settled at the first FINISHED_SUCCESSFULLY;
  4. moving a control is another ``rerun_script`` carrying every value the client has set (as a browser
     does) with the page's hash. Widget values go in the field the widget registered: slider
     ``double_array_value``, select_slider ``string_array_value``, selectbox ``string_value`` (the
     formatted option), number_input ``double_value`` (also for integer inputs).
The client sends no ``cached_message_hashes``, so the server always sends whole messages (slightly more
work than a returning browser causes). Browsers send no websocket pings, so neither does this client.
Not handled: forms, uploads, range/date sliders, fragments.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto
from streamlit.proto.Slider_pb2 import Slider as SliderProto
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
MOVABLE = ("slider", "selectbox", "number_input")
ERROR_ALERT = 1  # Alert.Format.ERROR: what ui.guard() shows for an EngineError


class ProtocolError(RuntimeError):
    """The server closed, answered out of protocol, or did not settle in time."""


@dataclass(frozen=True)
class Widget:
    """What a client needs to move one control to a legal value."""

    id: str
    kind: str  # slider | select_slider | selectbox | number_input
    path: tuple[int, ...]  # delta path; path[0] == 0 is the main area, 1 the sidebar
    default: float | str | None
    options: tuple[str, ...] = ()
    lo: float = 0.0
    hi: float = 0.0
    step: float = 1.0
    integer: bool = False


@dataclass
class RunResult:
    """One rerun, from sending the BackMsg to the first script_finished FINISHED_SUCCESSFULLY."""

    seconds: float
    exceptions: list[str] = field(default_factory=list)  # "Type: message" of exception elements
    error_alerts: int = 0
    widgets: list[Widget] = field(default_factory=list)
    messages: int = 0
    nbytes: int = 0
    digest: str = ""  # sha1 of every element the run drew, in order: what the page showed


def widget_from_element(element, path: tuple[int, ...]) -> Widget | None:
    """The movable widget an Element proto describes, or None (forms, disabled, ranges, dates)."""
    kind = element.WhichOneof("type")
    if kind not in MOVABLE:
        return None
    w = getattr(element, kind)
    if w.form_id or w.disabled:
        return None
    if kind == "selectbox":
        options = tuple(w.options)
        default = options[w.default] if w.HasField("default") and w.default < len(options) else None
        return Widget(w.id, kind, path, default, options) if len(options) > 1 else None
    if kind == "number_input":
        lo = w.min if w.has_min else -1e300
        hi = w.max if w.has_max else 1e300
        integer = w.data_type == NumberInputProto.INT
        return Widget(w.id, kind, path, w.default, (), lo, hi, w.step or 1.0, integer)
    if len(w.default) != 1:  # range slider
        return None
    if w.type == SliderProto.SELECT_SLIDER:
        options = tuple(w.options)
        return Widget(w.id, "select_slider", path, options[int(w.default[0])], options)
    if w.data_type not in (SliderProto.INT, SliderProto.FLOAT):
        return None
    return Widget(
        w.id, kind, path, w.default[0], (), w.min, w.max, w.step or 1.0, w.data_type == SliderProto.INT
    )


def new_value(widget: Widget, current, rng: random.Random):
    """A legal value for ``widget`` other than ``current`` (None if it has only one)."""
    if widget.options:
        others = [o for o in widget.options if o != current]
        return rng.choice(others) if others else None
    if widget.kind == "number_input":  # a few steps either way, inside the bounds
        steps = [k for k in (-3, -2, -1, 1, 2, 3) if widget.lo <= current + k * widget.step <= widget.hi]
        value = current + rng.choice(steps) * widget.step if steps else None
        return value if value is None or not widget.integer else int(round(value))
    count = int(round((widget.hi - widget.lo) / widget.step))
    grid = [round(widget.lo + k * widget.step, 10) for k in range(count + 1)]
    grid = [int(round(v)) for v in grid] if widget.integer else grid
    others = [v for v in grid if v != current]
    return rng.choice(others) if others else None


def widget_state(widget: Widget, value) -> WidgetState:
    """The WidgetState proto a browser sends for ``widget`` showing ``value``."""
    state = WidgetState(id=widget.id)
    if widget.kind == "slider":
        state.double_array_value.data.append(float(value))
    elif widget.kind == "select_slider":
        state.string_array_value.data.append(str(value))
    elif widget.kind == "selectbox":
        state.string_value = str(value)
    else:
        state.double_value = float(value)
    return state


class ProtocolClient:
    """One student's session over the websocket; one request in flight at a time."""

    def __init__(self, port: int, page: str, query_string: str = "") -> None:
        self.url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.page = "" if page == "home" else page
        self.query_string = query_string
        self.page_hash = ""
        self.values: dict[str, tuple[Widget, object]] = {}  # what this student has set
        self.widgets: list[Widget] = []
        self._ws = None

    async def connect(self, timeout: float = 60.0) -> None:
        self._ws = await asyncio.wait_for(
            connect(
                self.url,
                subprotocols=["streamlit"],
                max_size=None,
                ping_interval=None,
                open_timeout=timeout,
                close_timeout=2,
            ),
            timeout,
        )

    async def rerun(self, timeout: float = 60.0) -> RunResult:
        """Send the current state; wait for the run to finish; remember the page's widgets."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name, state.page_script_hash = (
            self.query_string,
            self.page,
            self.page_hash,
        )
        live = {w.id for w in self.widgets}
        for wid, (widget, value) in self.values.items():
            if not self.widgets or wid in live:  # a browser sends only widgets on the page
                state.widget_states.widgets.append(widget_state(widget, value))
        t0 = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        result = await asyncio.wait_for(self._read_run(), timeout)
        result.seconds = time.perf_counter() - t0
        self.widgets = result.widgets
        return result

    async def _read_run(self) -> RunResult:
        result = RunResult(0.0)
        shown = hashlib.sha1()
        while True:
            data = await self._ws.recv()
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            result.messages += 1
            result.nbytes += len(data)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":  # a run (re)starts: what an aborted run drew is replaced
                shown = hashlib.sha1()
            elif kind == "navigation":
                self.page_hash = fwd.navigation.page_script_hash
            elif kind == "delta":
                _note_delta(fwd, result)
                shown.update(_comparable(fwd.delta))
            elif kind == "session_event" and fwd.session_event.HasField("script_compilation_exception"):
                exc = fwd.session_event.script_compilation_exception
                result.exceptions.append(f"{exc.type}: {exc.message}")
            elif kind == "script_finished":
                if fwd.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    result.exceptions.append("script_finished: FINISHED_WITH_COMPILE_ERROR")
                    return result
                if fwd.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    result.digest = shown.hexdigest()
                    return result

    def first_widget(self) -> Widget | None:
        """The page's first movable control in the main area (the sidebar holds the language)."""
        main = [w for w in self.widgets if w.path[:1] == (0,)]
        return main[0] if main else None

    def current(self, widget: Widget):
        return self.values.get(widget.id, (widget, widget.default))[1]

    async def move(
        self, rng: random.Random, widget: Widget | None = None, timeout: float = 60.0
    ) -> RunResult:
        """Move ``widget`` (default: the first control) to a new legal value and rerun."""
        widget = widget or self.first_widget()
        value = new_value(widget, self.current(widget), rng) if widget else None
        if value is not None:
            self.values[widget.id] = (widget, value)
        return await self.rerun(timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def _note_delta(fwd, result: RunResult) -> None:
    if fwd.delta.WhichOneof("type") != "new_element":
        return
    element = fwd.delta.new_element
    kind = element.WhichOneof("type")
    if kind == "exception":
        result.exceptions.append(f"{element.exception.type}: {element.exception.message[:200]}")
    elif kind == "alert" and element.alert.format == ERROR_ALERT:
        result.error_alerts += 1
    else:
        widget = widget_from_element(element, tuple(fwd.metadata.delta_path))
        if widget is not None:
            result.widgets.append(widget)


def _comparable(delta) -> bytes:
    """The delta's bytes without the per-run download ids (files are made when clicked)."""
    element = delta.new_element if delta.WhichOneof("type") == "new_element" else None
    if element is not None and element.WhichOneof("type") == "download_button":
        element.download_button.deferred_file_id = ""
    return delta.SerializeToString()


# ---- the server under test -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run app.py`` on a free port, pinned to ``cores``, started as ``make run`` starts it
    (tools/serve.py: jemalloc where installed); its log goes to a file (a pipe nobody reads fills up
    and stalls the server)."""

    def __init__(
        self, cores: str = "0", app: Path = ROOT / "app.py", env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+b", prefix="st_load_", suffix=".log", delete=False)
        cmd = [
            "taskset",
            "-c",
            cores,
            sys.executable,
            str(ROOT / "tools" / "serve.py"),  # the allocator make run uses (tools/serve.py)
            str(app),
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        # taskset execs the interpreter, so this pid is the server's own
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,  # the app's .streamlit/config.toml, also for a script outside the root
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        raise ProtocolError(f"streamlit did not start:\n{self.log_text()[-3000:]}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def memory_map(self) -> dict[str, float]:
        """Resident MiB of the server by kind of mapping (/proc/<pid>/smaps): ``heap`` (glibc's main
        arena), ``anon`` (anonymous maps: other malloc arenas, large mallocs, pymalloc's arenas,
        numpy/torch buffers), ``libs`` (shared objects), ``files`` and ``other``."""
        kinds: dict[str, float] = {}
        kind = "other"
        for line in Path(f"/proc/{self.proc.pid}/smaps").read_text().splitlines():
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
                path = head[5] if len(head) > 5 else ""
                kind = (
                    "heap"
                    if path == "[heap]"
                    else "anon"
                    if not path
                    else "libs"
                    if ".so" in path
                    else "other"
                    if path.startswith("[")
                    else "files"
                )
            elif head[0] == "Rss:":
                kinds[kind] = kinds.get(kind, 0.0) + int(head[1]) / 1024
        return {k: round(v, 1) for k, v in sorted(kinds.items())}

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads), from /proc/<pid>/stat."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
