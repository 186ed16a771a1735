"""The simulator's prediction for a real run, and how far the measurement is from it.

Stages of :func:`predict`:
  1. the same arrival trace: the instants the real server had read each request (so the network and
     the load generator's lateness are outside both sides);
  2. the same service-time model: the real batches' measured pass times, grouped by batch size and
     drawn from as an empirical distribution; a size the run never formed gets the least-squares
     line ``a + b·size`` through the per-size medians;
  3. the same scheduler: one model, the run's batcher and copy count, through
     :func:`engine.inference.serving_system.simulate_serving`.
:func:`compare` puts the server-side latency (queue + pass, read to reply) of both side by side:
median, p90, mean, throughput, mean batch size, and Little's L against λ·W on the measured run.
:func:`agrees` applies the stated tolerance to the medians: within ``rel`` of the simulated median or
``abs_s`` seconds, whichever is larger. What the simulator leaves out and the machine adds: the time
a copy thread takes to wake up, the GIL shared with the HTTP threads, the other work of a shared
2-core machine — so the measured side is usually a little slower.
Not handled: client-side latency (HTTP, the load generator) in the prediction; it is reported apart.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import EngineError
from .real_server import RealRun
from .serving_metrics import time_average_in_system
from .serving_repo import ModelConfig, ModelVersion, Repository, ServiceTimes
from .serving_run import ServingRun
from .serving_system import ServingConfig, simulate_serving

REL_TOL, ABS_TOL_S = 0.35, 0.001  # the medians' stated tolerance


def measured_service(run: RealRun) -> ServiceTimes:
    """The run's pass times by batch size as an empirical ServiceTimes (sizes 1 .. max batch)."""
    samples = run.service_samples()
    if not samples:
        raise EngineError("the real run formed no batch, so there is no service time to simulate with")
    sizes = sorted(samples)
    medians = [float(np.median(samples[s])) for s in sizes]
    if len(sizes) >= 2:
        slope, icpt = np.polyfit(sizes, medians, 1)
    else:
        slope, icpt = 0.0, medians[0]
    top = run.batcher.max_batch
    line = [max(1e-6, float(icpt + slope * b)) for b in range(1, top + 1)]
    mean = tuple(float(np.median(samples[b])) if b in samples else line[b - 1] for b in range(1, top + 1))
    rows = tuple(tuple(samples.get(b, ())) for b in range(1, top + 1))
    return ServiceTimes(mean, "empirical", rows)


def predict(run: RealRun, seed: int = 0) -> ServingRun:
    """The simulator on the run's arrivals, measured pass times, batcher and copies."""
    arrived = np.sort(run.arrived[np.isfinite(run.arrived)])
    if arrived.size == 0:
        raise EngineError("no request reached the real server, so there is nothing to compare")
    model = ModelConfig(
        "served",
        (ModelVersion(1, measured_service(run)),),
        batcher=run.batcher,
        instances=run.instances,
        device="CPU",
        backend=run.backend,
    )
    config = ServingConfig(Repository((model,)), "served")
    return simulate_serving(config, requests=arrived - arrived[0], seed=seed)


def _side(latency: np.ndarray, arrival: np.ndarray, finish: np.ndarray, batches: float) -> dict:
    span = float(finish.max() - arrival.min()) or 1e-12
    return {
        "median (ms)": 1e3 * float(np.median(latency)),
        "p90 (ms)": 1e3 * float(np.percentile(latency, 90)),
        "mean (ms)": 1e3 * float(latency.mean()),
        "throughput (req/s)": len(latency) / span,
        "mean batch": batches,
        "Little L": time_average_in_system(arrival, finish),
        "λ·W": len(latency) / span * float(latency.mean()),
    }


def compare(run: RealRun, sim: ServingRun) -> list[dict]:
    """Rows (quantity, measured, simulated, measured / simulated) for the server-side latency."""
    ok = run.answered & np.isfinite(run.end)
    if not ok.any():
        raise EngineError("the real run answered no request, so there is nothing to compare")
    sizes = run.size[ok & (run.batch >= 0)]
    measured = _side(
        run.end[ok] - run.arrived[ok],
        run.arrived[ok],
        run.end[ok],
        float(len(sizes) / len(set(run.batch[ok]))),
    )
    simulated = _side(sim.latency, sim.arrival, sim.finish, float(sim.n / max(1, sim.n_batches)))
    return [
        {
            "quantity": key,
            "measured": round(measured[key], 3),
            "simulated": round(simulated[key], 3),
            "ratio": round(measured[key] / simulated[key], 3) if simulated[key] else float("nan"),
        }
        for key in measured
    ]


def agrees(rows: list[dict], rel: float = REL_TOL, abs_s: float = ABS_TOL_S) -> bool:
    """The medians agree within ``rel`` of the simulated one or ``abs_s`` seconds, whichever is larger."""
    row = next(r for r in rows if r["quantity"] == "median (ms)")
    return abs(row["measured"] - row["simulated"]) <= max(rel * row["simulated"], 1e3 * abs_s)


def serve_and_predict(graph, batcher, requests, rate, copies, backend, sleep, seed: int = 0) -> tuple:
    """(real run, the simulator's prediction, :func:`compare` rows) for one real run of ``graph``
    (8 clients, a 20 s timeout; see :func:`engine.serve_real`)."""
    from .real_server import serve_real

    run = serve_real(graph, batcher, requests, 8, 20.0, rate, copies, backend, sleep, seed=seed)
    sim = predict(run, seed)
    return run, sim, compare(run, sim)
