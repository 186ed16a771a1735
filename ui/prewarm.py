"""Pre-warm the server process: import, in the background, the heavy libraries first visits wait for.

Stages (once per process: app.py calls :func:`start` on every run, only the first call does work):
  1. a daemon timer thread waits ``DELAY_S``, so the first visitor's page (the home page
     after a cold start) is drawn before the thread competes with it for the GIL and the CPU;
  2. it imports :data:`MODULES` one by one, in the order first visits need them. Measured on a fresh
     process (AppTest, one lab each; bench/bench_browser.py shows the same in a browser): torch's
     import is ~1.5 s of the first visit of every torch lab (custom autograd, conv algorithms, flash
     attention, model conversion, the zoo's capture) and torch._dynamo another ~1.5–2 s of control
     flow and dynamic vs static (torch.export / torch._dynamo.explain); onnx ~1 s of the Graph
     Builder's and the passes' first visit; onnxruntime ~0.2 s;
  3. a module that fails to import is skipped (pre-warming is an optimisation, never a requirement:
     the page that needs it reports the failure itself).

A page that needs a module while the thread is still importing it waits on Python's per-module
import lock, so it is never slower than importing it alone (minus the CPU the two share). Nothing
here checks ``sys.modules`` for a half-imported module, and no library our pages use looks for
torch or onnx that way (the pandas race of ui/__init__.py is about pandas, imported there first).

``AISL_PREWARM=0`` in the server's environment turns it off (to measure the difference: the browser
bench, bench/bench_browser.py, run once with and once without).

Not pre-warmed: TVM (~5 s and ~240 MB of resident memory more than torch, for one lab: that lab
shows a spinner instead); cached results (trained students, compressed variants, cache simulations:
seconds of CPU each, on the core the first students share — their pages show a spinner).
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
import time

DELAY_S = 1.0
MODULES = (
    "torch",
    "torch._dynamo",
    "torch.export",
    "torch.fx",
    "onnx",
    "onnxruntime",
    "engine.interop.torch_import",
    "engine.interop.onnx_import",
)


def warm(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    """Import ``modules``; return the seconds each took (NaN if it failed)."""
    took = {}
    for name in modules:
        t0 = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional library missing here is the page's business
            took[name] = float("nan")
            continue
        took[name] = time.perf_counter() - t0
    return took


@functools.cache  # once per process: the thread (or None when turned off) is the cached result
def start() -> threading.Thread | None:
    """Start the pre-warm thread (first call only) and return it; never blocks."""
    if os.environ.get("AISL_PREWARM", "1") == "0":
        return None
    thread = threading.Timer(DELAY_S, warm)  # waits on its own timer thread, never on a script's
    thread.name, thread.daemon = "aisl-prewarm", True
    thread.start()
    return thread
