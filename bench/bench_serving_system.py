"""Serving-system timings: the Triton-style simulator at 1 M requests, an ensemble, the page's scenario,
and one real run on 127.0.0.1 beside the simulator's prediction (the ratio, not an absolute speed)."""

from __future__ import annotations

import time

import numpy as np

import engine
from bench.run import median_time
from engine.inference import serving_system_lab as lab
from engine.inference.real_compare import serve_and_predict
from engine.inference.serving_repo import Batcher, ModelConfig, ModelVersion, Repository, ServiceTimes
from engine.inference.serving_system import ServingConfig, simulate_serving


def _one_model(instances: int = 2) -> Repository:
    times = ServiceTimes.affine(0.002, 0.0005, 8)
    return Repository((ModelConfig("m", (ModelVersion(1, times),), Batcher(8, (4,), 0.002), instances),))


def run() -> list[dict]:
    rows = []
    config = ServingConfig(_one_model(), "m", 1600.0)
    t0 = time.perf_counter()
    r = simulate_serving(config, 1_000_000)
    t = time.perf_counter() - t0
    rows.append(
        dict(
            name="simulate_serving, 1,000,000 requests (dynamic batcher, 2 copies)",
            value=t,
            unit="s",
            target="< 5 s",
            note=f"{r.n_batches:,} batches, {t / 1e6 * 1e6:.1f} µs per request",
        )
    )
    times = lab.graph_times(engine.preset("mlp"), "A100 80GB SXM", "fp16", 5e-4, 8)
    scen = lab.Scenario(times, Batcher(8, (), 0.002), 1, 0.7, ensemble=True, requests=100_000)
    t = median_time(lambda: lab.run_scenario(scen), repeat=3)
    rows.append(
        dict(
            name="ensemble pre → model → post, 100,000 requests",
            value=t * 1e3,
            unit="ms",
            target="< 3000 ms",
            note="3 stations, 300,000 steps",
        )
    )
    page = lab.Scenario(times, Batcher(8, (), 0.002), 1, 0.7)
    t = median_time(lambda: lab.scenario_view(page), repeat=5)
    rows.append(
        dict(
            name="page scenario (4,000 requests + metrics)",
            value=t * 1e3,
            unit="ms",
            target="< 150 ms",
            note="simulation, summary, 40 intervals, per-model table",
        )
    )
    ratios, throughput = [], []
    for seed in range(3):  # three real runs: the median ratio and the spread, not one noisy number
        real, _, cmp = serve_and_predict(
            engine.preset("mlp"), Batcher(8, (4,), 0.003), 500, 300.0, 1, "sleep", (0.002, 0.0005), seed
        )
        by = {c["quantity"]: c for c in cmp}
        ratios.append(by["median (ms)"]["ratio"])
        throughput.append(by["throughput (req/s)"]["ratio"])
    rows.append(
        dict(
            name="real serving (sleep back end, 500 requests at 300/s): median measured / simulated",
            value=float(np.median(ratios)),
            unit="ratio",
            target="0.65 - 1.35",
            note=f"3 runs: {min(ratios):.3f} - {max(ratios):.3f}; throughput ratio "
            f"{min(throughput):.3f} - {max(throughput):.3f}; last run answered "
            f"{int(np.sum(real.answered))} of 500",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
