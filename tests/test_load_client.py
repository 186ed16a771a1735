"""The load bench's protocol client speaks Streamlit's websocket protocol (bench/st_client.py).

Against a real ``streamlit run app.py``: two sessions open a lab, one moves the first control; the run
must settle with no exception element, the page must show something else (the server applied the
widget state the client sent), moving back must show exactly the first page again, and the other
session must be untouched. Without a server: every value the client picks is legal and new.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.st_client import ProtocolClient, Server, Widget, new_value, widget_state  # noqa: E402

LAB = "collectives"  # light, and its first control is a slider


@pytest.fixture(scope="module")
def server():
    server = Server(",".join(str(c) for c in sorted(os.sched_getaffinity(0))))
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def port(server):
    return server.port


def test_the_server_runs_on_the_allocator_make_run_uses(server):
    """Started through tools/serve.py: jemalloc is mapped in the server's own process (same pid)
    wherever libjemalloc2 is installed (CI installs it, .ci/run)."""
    from tools.serve import jemalloc_path

    if jemalloc_path() is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs libjemalloc2 (.ci/run); it is missing")
        pytest.skip("libjemalloc2 is not installed here")
    assert "libjemalloc" in Path(f"/proc/{server.proc.pid}/maps").read_text()


async def _journey(port: int) -> dict:
    a, b = ProtocolClient(port, LAB), ProtocolClient(port, LAB)
    await a.connect()
    await b.connect()
    # one after the other: a fresh server's first concurrent runs race on lazy imports (an app bug
    # the load bench reports); this test is about the protocol
    first_a = await a.rerun()
    first_b = await b.rerun()
    control = a.first_widget()
    moved = await a.move(random.Random(0))
    value = a.current(control)
    a.values[control.id] = (control, control.default)
    back = await a.rerun()
    again_b = await b.rerun()
    await a.close()
    await b.close()
    return dict(
        first_a=first_a,
        first_b=first_b,
        control=control,
        value=value,
        moved=moved,
        back=back,
        again_b=again_b,
    )


def test_two_clients_move_a_control_and_settle(port):
    got = asyncio.run(_journey(port))
    runs = [got[k] for k in ("first_a", "first_b", "moved", "back", "again_b")]
    assert all(r.exceptions == [] for r in runs), [r.exceptions for r in runs]
    assert all(r.seconds > 0 and r.messages > 1 for r in runs)
    control = got["control"]
    assert control.kind == "slider" and control.lo <= got["value"] <= control.hi
    assert got["value"] != control.default
    assert got["first_a"].digest == got["first_b"].digest  # same lab, same defaults
    assert got["moved"].digest != got["first_a"].digest  # the widget state was applied
    assert got["back"].digest == got["first_a"].digest  # ... and only it
    assert got["again_b"].digest == got["first_a"].digest  # sessions are separate


_sliders = st.builds(
    lambda lo, n, step, integer: Widget("s", "slider", (0,), lo, (), lo, lo + n * step, step, integer),
    st.integers(-50, 50),
    st.integers(1, 40),
    st.sampled_from([1, 2, 5]),
    st.booleans(),
)
_selects = st.lists(st.text(min_size=1, max_size=5), min_size=2, max_size=6, unique=True).map(
    lambda opts: Widget("b", "selectbox", (0,), opts[0], tuple(opts))
)
_numbers = st.builds(
    lambda lo, span: Widget("n", "number_input", (0,), lo, (), lo, lo + span, 1.0, True),
    st.integers(-100, 100),
    st.integers(1, 10),
)


@given(st.one_of(_sliders, _selects, _numbers), st.integers(0, 2**32 - 1))
def test_new_value_is_legal_and_new(widget, seed):
    value = new_value(widget, widget.default, random.Random(seed))
    assert value is not None and value != widget.default
    if widget.options:
        assert value in widget.options
        assert widget_state(widget, value).string_value == value
    else:
        assert widget.lo <= value <= widget.hi
        assert (value - widget.lo) % widget.step == 0 or widget.kind == "number_input"
