"""Two threads tracing with torch at once (two students on the control-flow and dynamic-vs-static
labs) crashed the server process with a segmentation fault inside libtorch_python: torch's tracers
keep process-global state. engine/core/limits.py serialises them; this runs the race in a child
process (a crash must not take pytest with it) and checks the child survives with correct captures.
Without the lock the same script died of SIGSEGV within seconds here (3 of 3 tries)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("torch")

RACE = textwrap.dedent(
    """
    import threading
    from engine.framework import control_flow_capture as cf, control_flow_lab as cfl, graph_capture as tg

    a, b = list(cfl.EXAMPLES), list(tg.MENU)
    done = []

    def loop_cf():
        for i in range(5):
            c = cf.capture_all(cfl.example_text(a[i % len(a)]), seed=i)
            done.append(type(c).__name__)

    def loop_tg():
        for i in range(5):
            c = tg.capture_all(b[i % len(b)], seed=i)
            done.append(c.name)

    threads = [threading.Thread(target=loop_cf), threading.Thread(target=loop_tg)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("captures", len(done))
    """
)


def test_tracing_from_two_threads_at_once_does_not_crash_the_process():
    proc = subprocess.run([sys.executable, "-c", RACE], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip().endswith("captures 10")


def test_the_tracing_functions_are_serialised():
    from engine.framework import control_flow_capture as cf
    from engine.framework import graph_capture as tg
    from engine.interop import conversion, ort_compare, torch_direct, torch_import

    for fn in (
        tg.fx_graph, tg.jit_graph, tg.dynamo_graph, tg.export_graph, tg.capture_all,
        cf.fx_capture, cf.jit_capture, cf.dynamo_capture, cf.export_capture, cf.capture_all,
        torch_direct._trace_fx, torch_direct._trace_export, torch_import.torch_to_onnx_bytes,
        conversion.export_onnx, ort_compare.pattern_model_onnx.__wrapped__,
    ):  # fmt: skip
        assert fn.__qualname__ and hasattr(fn, "__wrapped__"), fn
        assert fn.__code__.co_name == "serial", fn.__qualname__
