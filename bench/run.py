"""`make bench`: runs every bench/bench_*.py module's ``run()`` and prints one table.

Each module's ``run()`` returns a list of dict rows: name, value, unit, target (text, may be ""),
and note. Timings are medians of several repeats; the machine is shared and noisy, so compare
ratios rather than absolute times.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _quiet_streamlit() -> None:
    """Engine calls wrapped in st.cache_* warn 'missing ScriptRunContext' outside a server."""
    import logging

    import streamlit.runtime.scriptrunner_utils.script_run_context as ctx

    logging.getLogger(ctx.__name__).disabled = True


def main(selected: list[str]) -> int:
    _quiet_streamlit()
    modules = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m for s in selected)]
    rows = []
    for name in modules:
        mod = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        try:
            got = mod.run()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other benches
            got = [dict(name=f"{name} FAILED", value=float("nan"), unit="", target="", note=repr(exc))]
        rows += [{"module": name[6:], **r} for r in got]
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print("| module | benchmark | value | unit | target | note |")
    print("|---|---|---:|---|---|---|")
    for r in rows:
        v = r["value"]
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        print(
            f"| {r['module']} | {r['name']} | {shown} | {r.get('unit', '')} | "
            f"{r.get('target', '')} | {r.get('note', '')} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
