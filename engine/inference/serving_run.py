"""What a serving simulation is given and what it records.

Given: a :class:`ServingConfig` — the repository, the target (a model or an ensemble), the arrival
rate, an optional :class:`Canary` (traffic split and rollback rule) and :class:`Lifecycle` events
(load / unload a version at a time); :func:`ready_windows` turns the version policy and the events
into the intervals in which each version is ready.
Recorded: a :class:`ServingRun` keeps, for n requests through an ensemble of S steps, (n, S) arrays of the
station (model, version) each step ran on and the times it entered that station's queue, started
its batch and finished; per request its arrival, finish and outcome (OK, ERROR — the model failed
it — or UNAVAILABLE — no ready version); and one row per batch (station, copy, start, end, size,
the batcher's reason). :func:`arrivals_of` draws the Poisson arrival trace or checks a given one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import BudgetError, EngineError
from .serving import positive, whole
from .serving_repo import REASONS, Repository

MAX_REQUESTS = 1_000_000  # requests of one simulation (~4 s here); pages ask for far fewer
OK, ERROR, UNAVAILABLE = 0, 1, 2
REASON_CODES = tuple(REASONS)


@dataclass(frozen=True)
class Canary:
    """A traffic split between two versions of one model, and the rule that rolls it back."""

    model: str
    stable: int
    canary: int
    percent: float = 10.0
    max_error_rate: float = 0.05
    max_p99: float = math.inf  # seconds
    window: float = 1.0  # seconds
    min_requests: int = 20

    def __post_init__(self):
        if not 0 <= positive("canary traffic percent", self.percent, allow_zero=True) <= 100:
            raise EngineError(f"canary traffic percent = {self.percent!r} must be between 0 and 100")
        positive("error-rate SLO", self.max_error_rate, allow_zero=True)
        if not self.max_p99 > 0:
            raise EngineError(f"p99 SLO = {self.max_p99!r} must be greater than zero")
        positive("canary window", self.window)
        whole("minimum requests per window", self.min_requests, 1)


@dataclass(frozen=True)
class Lifecycle:
    """A model-control request: ``load`` or ``unload`` one version of a model at ``time`` seconds."""

    time: float
    action: str
    model: str
    version: int

    def __post_init__(self):
        if self.action not in ("load", "unload"):
            raise EngineError(f"lifecycle action {self.action!r} must be 'load' or 'unload'")
        positive("lifecycle time", self.time, allow_zero=True)


@dataclass(frozen=True)
class ServingConfig:
    repository: Repository
    target: str  # the model or ensemble every request asks for
    rate: float = 100.0  # requests/s (Poisson), used when ``requests`` is a count
    canary: Canary | None = None
    events: tuple[Lifecycle, ...] = ()


def ready_windows(config: ServingConfig) -> dict[tuple[str, int], list[list[float]]]:
    """For each (model, version): the [from, until) intervals in which it is ready."""
    out = {}
    for m in config.repository.models:
        for v in m.numbers():
            out[(m.name, v)] = [[0.0, math.inf]] if v in m.served() else []
    for ev in sorted(config.events, key=lambda e: e.time):
        model = config.repository.model(ev.model)
        model.version(ev.version)
        spans = out[(ev.model, ev.version)]
        live = spans and spans[-1][1] == math.inf
        if ev.action == "unload" and live:
            spans[-1][1] = max(spans[-1][0], ev.time)
        elif ev.action == "load" and not live:
            spans.append([ev.time + model.load_s, math.inf])
    return out


@dataclass(frozen=True)
class BatchRecord:
    station: int
    instance: int
    start: float
    end: float
    size: int
    reason: str


@dataclass(frozen=True)
class ServingRun:
    """Per-request and per-step records of one simulation (times in seconds)."""

    arrival: np.ndarray
    finish: np.ndarray
    status: np.ndarray  # OK, ERROR, UNAVAILABLE
    steps: tuple[str, ...]  # the model of each step
    stations: tuple[tuple[str, int], ...]  # (model, version) of each station
    instances: tuple[int, ...]  # copies per station
    step_station: np.ndarray  # (n, steps) station index, -1 where the step never ran
    enter: np.ndarray  # (n, steps) arrival at the step's queue
    start: np.ndarray  # (n, steps) batch start
    end: np.ndarray  # (n, steps) batch end
    batch_table: np.ndarray  # (batches, 6): station, instance, start, end, size, reason code
    rollback_at: float | None = None
    windows: tuple[dict, ...] = field(default=())  # the canary monitor's windows

    @property
    def n(self) -> int:
        return len(self.arrival)

    @property
    def n_batches(self) -> int:
        return len(self.batch_table)

    def batch(self, b: int) -> BatchRecord:
        st, inst, start, end, size, why = self.batch_table[b]
        return BatchRecord(int(st), int(inst), float(start), float(end), int(size), REASON_CODES[int(why)])

    def batches(self, limit: int | None = None) -> list[BatchRecord]:
        """The first ``limit`` batches (all by default) as records."""
        return [self.batch(b) for b in range(min(self.n_batches, limit or self.n_batches))]

    @property
    def latency(self) -> np.ndarray:
        return self.finish - self.arrival

    def version_at(self, model: str) -> np.ndarray:
        """The version of ``model`` each request went to (0: never reached it)."""
        out = np.zeros(self.n, dtype=int)
        for s, name in enumerate(self.steps):
            if name != model:
                continue
            col = self.step_station[:, s]
            ran = col >= 0
            out[ran] = [self.stations[k][1] for k in col[ran]]
        return out


def arrivals_of(rate: float, requests, seed: int = 0) -> np.ndarray:
    """A Poisson trace of ``requests`` arrivals at ``rate``/s, or ``requests`` itself (a trace)."""
    if isinstance(requests, (int, np.integer)) and not isinstance(requests, bool):
        n = int(requests)
        if n > MAX_REQUESTS:
            raise BudgetError(f"the simulation asks for {n:,} requests; the limit is {MAX_REQUESTS:,}")
        n = whole("number of requests", n, 1, MAX_REQUESTS)
        rate = positive("arrival rate λ", rate)
        return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))
    arr = np.asarray(requests, dtype=float).ravel()
    if arr.size == 0 or arr.size > MAX_REQUESTS:
        raise BudgetError(f"an arrival trace needs 1 to {MAX_REQUESTS:,} times, got {arr.size:,}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or np.any(np.diff(arr) < 0):
        raise EngineError("arrival times must be finite, zero or more, and in increasing order")
    return arr
