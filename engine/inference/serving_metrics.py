"""Monitoring a serving run like Triton does, and the queueing formulas that check the simulator.

Stages:
  1. per (model, version), Triton's per-model counters (its metrics page names them
     ``nv_inference_request_success``, ``_failure``, ``nv_inference_count``, ``nv_inference_exec_count``
     and the cumulative ``nv_inference_request_duration_us``, ``_queue_duration_us``,
     ``_compute_infer_duration_us``): requests that passed or failed the model, inferences (requests
     in batches), executions (batches), and the time spent queued and computing; plus latency
     percentiles and the share of time its copies were busy. :func:`prometheus` writes them in the
     Prometheus text format Triton serves on ``/metrics``;
  2. over time (:func:`interval_metrics`): for each interval, requests answered and failed per
     second, end-to-end p50/p99, mean queue and compute time (None where nothing was answered), and
     each model's busy share;
  3. closed forms: Erlang C (the probability that a request waits in an M/M/c queue, from the Erlang
     B recursion) and the M/M/c mean wait ``C / (c·μ − λ)``; Little's law ``L = λ·W`` with ``L``
     measured by sweeping arrivals and departures.
Not handled: GPU-level utilisation of copies sharing one device (each copy is its own server here),
Prometheus summaries' sliding windows (percentiles are over the whole run or interval).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import EngineError
from ..core.trace import Event, Timeline
from .serving import positive, whole
from .serving_repo import REASONS
from .serving_run import ERROR, OK, UNAVAILABLE, ServingRun


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def busy_share(run: ServingRun, station: int, lo: float, hi: float) -> float:
    """Share of the copies' time in [lo, hi) that station ``station`` spent computing."""
    if hi <= lo:
        return 0.0
    tab = run.batch_table[run.batch_table[:, 0] == station]
    busy = np.clip(np.minimum(tab[:, 3], hi) - np.maximum(tab[:, 2], lo), 0.0, None).sum()
    return float(busy / (run.instances[station] * (hi - lo)))


def station_table(run: ServingRun) -> list[dict]:
    """One row per (model, version) that served requests: Triton's counters and percentiles."""
    span = (float(np.nanmax(run.finish)), float(run.arrival.min())) if run.n else (0.0, 0.0)
    rows = []
    for k, (model, version) in enumerate(run.stations):
        hit = run.step_station == k
        if not hit.any():
            continue
        enter, start, end = run.enter[hit], run.start[hit], run.end[hit]
        failed_here = _failed_at(run, k)
        batches = run.batch_table[run.batch_table[:, 0] == k, 4]
        step = end - enter
        rows.append(
            {
                "model": model,
                "version": version,
                "instances": run.instances[k],
                "success": int(hit.sum() - failed_here),
                "failure": failed_here,
                "inference_count": int(batches.sum()),
                "exec_count": len(batches),
                "mean batch": round(float(batches.sum()) / max(1, len(batches)), 2),
                "request_duration_us": round(1e6 * float(step.sum())),
                "queue_duration_us": round(1e6 * float((start - enter).sum())),
                "compute_infer_duration_us": round(1e6 * float((end - start).sum())),
                "p50 (ms)": round(1e3 * _pct(step, 50), 3),
                "p95 (ms)": round(1e3 * _pct(step, 95), 3),
                "p99 (ms)": round(1e3 * _pct(step, 99), 3),
                "busy (%)": round(100 * busy_share(run, k, span[1], span[0]), 1),
            }
        )
    return rows


def _failed_at(run: ServingRun, k: int) -> int:
    """Requests that failed with an error at station ``k`` (their failing step ended at finish)."""
    failed = run.status == ERROR
    count = 0
    for s in range(len(run.steps)):
        count += int(np.sum(failed & (run.step_station[:, s] == k) & (run.end[:, s] == run.finish)))
    return count


_COUNTERS = (
    ("nv_inference_request_success", "success", "Number of successful inference requests"),
    ("nv_inference_request_failure", "failure", "Number of failed inference requests"),
    ("nv_inference_count", "inference_count", "Number of inferences performed"),
    ("nv_inference_exec_count", "exec_count", "Number of model executions performed"),
    ("nv_inference_request_duration_us", "request_duration_us", "Cumulative inference request duration"),
    ("nv_inference_queue_duration_us", "queue_duration_us", "Cumulative inference queuing duration"),
    ("nv_inference_compute_infer_duration_us", "compute_infer_duration_us", "Cumulative compute duration"),
)


def prometheus(rows: list[dict]) -> str:
    """``station_table`` rows in the Prometheus text format Triton serves on ``/metrics``."""
    out = []
    for metric, key, text in _COUNTERS:
        out += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
        out += [f'{metric}{{model="{r["model"]}",version="{r["version"]}"}} {r[key]}' for r in rows]
    return "\n".join(out) + "\n"


def summary(run: ServingRun) -> dict:
    """Whole-run numbers: counts by outcome, throughput, latency percentiles, Little's law."""
    ok = run.status == OK
    lat = run.latency
    span = float(np.nanmax(run.finish) - run.arrival.min()) or 1e-12
    queue = np.nansum(run.start - run.enter, axis=1)
    compute = np.nansum(run.end - run.start, axis=1)
    return {
        "requests": run.n,
        "ok": int(ok.sum()),
        "errors": int((run.status == ERROR).sum()),
        "unavailable": int((run.status == UNAVAILABLE).sum()),
        "throughput": float(ok.sum() / span),
        "p50": _pct(lat[ok], 50),
        "p95": _pct(lat[ok], 95),
        "p99": _pct(lat[ok], 99),
        "mean_latency": float(lat.mean()),
        "mean_queue": float(queue.mean()),
        "mean_compute": float(compute.mean()),
        "arrival_rate": float(run.n / span),
        "little_L": time_average_in_system(run.arrival, run.finish),
    }


def time_average_in_system(arrival, finish) -> float:
    """Time-average number of requests in the system, by sweeping arrivals (+1) and departures (−1)."""
    arrival, finish = np.asarray(arrival, dtype=float), np.asarray(finish, dtype=float)
    times = np.concatenate([arrival, finish])
    steps = np.concatenate([np.ones(len(arrival)), -np.ones(len(finish))])
    order = np.lexsort((steps, times))  # departures first at equal times
    times, count = times[order], np.cumsum(steps[order])
    span = times[-1] - times[0]
    return float(np.sum(count[:-1] * np.diff(times)) / span) if span > 0 else 0.0


def interval_metrics(run: ServingRun, intervals: int = 40) -> list[dict]:
    """The dashboard's time series: one row per interval of the run (by finish time)."""
    whole("number of intervals", intervals, 1, 1000)
    t0, t1 = float(run.arrival.min()), float(np.nanmax(run.finish))
    edges = np.linspace(t0, t1 if t1 > t0 else t0 + 1e-9, intervals + 1)
    which = np.clip(np.searchsorted(edges, run.finish, side="right") - 1, 0, intervals - 1)
    queue = np.nansum(run.start - run.enter, axis=1)
    compute = np.nansum(run.end - run.start, axis=1)
    rows = []
    for b in range(intervals):
        lo, hi = edges[b], edges[b + 1]
        mine = which == b
        ok = mine & (run.status == OK)
        row = {"t (s)": round(float(hi), 4), "requests/s": float(ok.sum() / (hi - lo))}
        row["failures/s"] = float((mine & (run.status != OK)).sum() / (hi - lo))
        none = not ok.any()  # no answer in this interval: no latency to show (a gap, not a zero)
        for q in (50, 99):
            row[f"p{q} (ms)"] = None if none else 1e3 * _pct(run.latency[ok], q)
        row["queue (ms)"] = None if none else 1e3 * float(queue[ok].mean())
        row["compute (ms)"] = None if none else 1e3 * float(compute[ok].mean())
        for k, (model, version) in enumerate(run.stations):
            if (run.step_station == k).any():
                row[f"busy {model} v{version} (%)"] = 100 * busy_share(run, k, lo, hi)
        rows.append(row)
    return rows


def batch_timeline(run: ServingRun, limit: int = 60, current: int | None = None) -> Timeline:
    """The first ``limit`` batches on one lane per copy ("model v1 #0"); batch ``current`` outlined."""
    events, marked = [], ()
    for b, rec in enumerate(run.batches(limit)):
        model, version = run.stations[rec.station]
        lane = f"{model} v{version} #{rec.instance}"
        if b == current:
            marked = (len(events),)
        info = (("batch", b), ("size", rec.size), ("why", rec.reason))
        events.append(Event(lane, rec.start, rec.end, f"b={rec.size}", "compute", info))
    lanes = sorted({e.unit for e in events}, key=lambda u: (u.rsplit(" #", 1)[0], int(u.rsplit("#", 1)[1])))
    return Timeline(tuple(events), tuple(lanes), "s", marked)


def batch_log(run: ServingRun, b: int) -> str:
    """One sentence on batch ``b``: where, when, how big, and the batcher's reason."""
    if not 0 <= b < run.n_batches:
        raise EngineError(f"batch {b} does not exist; this run has {run.n_batches} batches")
    rec = run.batch(b)
    model, version = run.stations[rec.station]
    return (
        f"Batch {b}: {model} v{version}, copy {rec.instance}, starts at {rec.start * 1e3:.2f} ms with "
        f"{rec.size} request(s) and runs {(rec.end - rec.start) * 1e3:.2f} ms. "
        f"Why now: {REASONS[rec.reason]}."
    )


# ---- closed forms (Kleinrock, Queueing Systems vol. 1, §3.5) ------------------------------------


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c with c = ``servers`` and offered load a = λ/μ."""
    c = whole("number of servers", servers, 1, 10_000)
    a = positive("offered load a = λ/μ", load, allow_zero=True)
    if a >= c:
        raise EngineError(f"offered load a = {a:.3g} ≥ {c} servers: the queue grows without bound")
    b = 1.0  # Erlang B by its recursion B(k) = a·B(k−1) / (k + a·B(k−1)): no factorials overflow
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1.0 - b))


def mmc_wait(rate: float, mean_service: float, servers: int) -> float:
    """M/M/c mean wait in queue: W_q = C(c, a) / (c·μ − λ), with μ = 1 / mean service time."""
    rate, s = positive("arrival rate λ", rate), positive("mean service time", mean_service)
    return erlang_c(servers, rate * s) / (servers / s - rate)


def little_check(row: dict) -> float:
    """Relative gap between Little's L and λ·W for a :func:`summary` row (0 means exact)."""
    lw = row["arrival_rate"] * row["mean_latency"]
    return abs(row["little_L"] - lw) / lw if lw > 0 else 0.0 if row["little_L"] == 0 else math.inf
