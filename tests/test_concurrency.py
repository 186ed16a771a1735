"""A class arrives at once: the first users' threads must not see half-initialised modules.

Each check runs in a fresh interpreter (the races only exist on first import) and repeats a few
times; before the fixes each failed on every run (op registry: 7 of 8 threads; pandas: every run).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_REGISTRY = """
import threading
from engine.core import registry
errs = []
def use():
    try:
        registry.get_op("reduce_max")
    except Exception as e:
        errs.append(repr(e))
ts = [threading.Thread(target=use) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(errs), errs[:1])
"""

_PANDAS = """
import threading
errs = []
def streamlit_table():
    import ui  # noqa: F401
    import pandas  # noqa: F401  (what streamlit does lazily for st.dataframe)
def figure():
    import ui  # noqa: F401
    import plotly.graph_objects as go
    for _ in range(500):
        try:
            go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
        except Exception as e:
            errs.append(repr(e))
            return
a, b = threading.Thread(target=streamlit_table), threading.Thread(target=figure)
b.start(); a.start(); a.join(); b.join()
print(len(errs), errs[:1])
"""


def _errors(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()
    return out


def test_op_registry_loads_once_for_concurrent_first_users():
    for _ in range(3):
        assert _errors(_REGISTRY).startswith("0 "), _errors(_REGISTRY)


def test_figures_never_see_a_half_imported_pandas():
    for _ in range(2):
        out = _errors(_PANDAS)
        assert out.startswith("0 "), out
