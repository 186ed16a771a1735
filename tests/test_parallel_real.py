"""The real torch.distributed (gloo) run equals the simulation, and leaves no process behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.core.errors import EngineError
from engine.parallel.real_run import RealRunError, fit_alpha_beta, run_real


def _children() -> list[int]:
    """PIDs of live processes whose parent is this test process (zombies count as gone)."""
    me, found = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == me and fields[0] != "Z":
                found.append(int(d.name))
    return found


def test_gloo_two_processes_equal_simulation():
    before = set(_children())
    res = run_real(2, timeout=60)
    assert res.agrees, res.max_abs_diff
    assert set(res.max_abs_diff) == {"ddp_grad_w", "ddp_grad_b", "tp_output", "tp_dA", "tp_dB", "tp_dX"}
    assert len(res.timings) == 4 and all(t > 0 for _, t in res.timings)
    assert res.alpha > 0 and res.beta > 0 and res.wall_s < 60
    assert set(_children()) <= before
    for pid in res.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_timeout_kills_every_worker():
    before = set(_children())
    with pytest.raises(RealRunError, match="did not finish within 1 s"):
        run_real(2, timeout=1)  # importing torch alone takes longer than 1 s
    assert set(_children()) <= before


def test_alpha_beta_fit_recovers_a_known_line():
    n, alpha, beta = 2, 50e-6, 2e9
    timings = [(b, 2 * (n - 1) * alpha + 2 * (n - 1) / n * b / beta) for b in (1 << 12, 1 << 20, 1 << 22)]
    got_a, got_b = fit_alpha_beta(timings, n)
    assert got_a == pytest.approx(alpha, rel=1e-6) and got_b == pytest.approx(beta, rel=1e-6)


def test_real_run_bad_input():
    with pytest.raises(EngineError, match="2, 3 or 4"):
        run_real(8)


def test_engine_parallel_does_not_import_torch():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, engine.parallel, engine.parallel.real_run; print('torch' in sys.modules)",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "False", out.stderr
