"""A Triton-style serving system as a discrete-event simulation: repository, batcher, ensembles, canary.

Stages of :func:`simulate_serving`:
  1. arrivals: ``requests`` Poisson arrivals at ``config.rate`` (seeded), or a given arrival trace;
  2. readiness: each version the version policy serves is ready from t = 0; a lifecycle ``unload``
     at t makes it unready from t, a ``load`` at t makes it ready from t + the model's load time;
  3. routing, per step of the target (one model, or an ensemble's DAG): the canary's model sends a
     request to the canary version with probability ``percent``/100 while the canary is live, else to
     the stable one; any other model takes its highest ready version. A step whose version is not
     ready fails the request at once ("unavailable");
  4. every (model, version) is a station: a FIFO queue and ``instances`` copies; whenever a request
     arrives or a copy frees up, free copies take batches by the dynamic batcher's rule
     (:func:`engine.inference.serving_repo.next_batch`), and a held queue sets a timer for its
     oldest request's delay; a pass lasts the version's service time for its batch size;
  5. a finished step fails the request with the version's error rate, else frees the steps waiting
     for it; a request is done when all its steps are;
  6. the canary monitor closes a window every ``window`` seconds: over the canary's requests that
     finished in it, if at least ``min_requests`` finished and the error share exceeds
     ``max_error_rate`` or the p99 latency exceeds ``max_p99``, it rolls back (all traffic to stable).
Events are ordered by time, then window checks, completions, arrivals, timers; windows are
half-open [start, end). Metrics (:mod:`engine.inference.serving_metrics`) are computed afterwards.
Not handled: contention between instances on one device, network and (de)serialisation time,
priorities, request cancellation, promotion of a healthy canary.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from itertools import chain

import numpy as np

from ..core.errors import BudgetError, EngineError
from .serving_repo import next_batch
from .serving_run import (
    ERROR,
    MAX_REQUESTS,
    OK,
    REASON_CODES,
    UNAVAILABLE,
    Canary,
    Lifecycle,
    ServingConfig,
    ServingRun,
    arrivals_of,
    ready_windows,
)

__all__ = ["Canary", "Lifecycle", "ServingConfig", "ServingRun", "simulate_serving"]
_WINDOW, _DONE, _ENTER, _TIMER = 0, 1, 2, 3  # event order at equal times
_REASON_CODE = {r: k for k, r in enumerate(REASON_CODES)}


def simulate_serving(config: ServingConfig, requests=1000, seed: int = 0) -> ServingRun:
    """Serve ``requests`` (a count of Poisson arrivals at ``config.rate``, or an arrival trace)."""
    if not isinstance(config, ServingConfig):
        raise EngineError(f"simulate_serving needs a ServingConfig, got {type(config).__name__}")
    arrival = arrivals_of(config.rate, requests, seed)
    steps = config.repository.steps(config.target)
    if len(arrival) * len(steps) > 3 * MAX_REQUESTS:
        raise BudgetError(
            f"{len(arrival):,} requests × {len(steps)} steps is over the limit of {3 * MAX_REQUESTS:,} steps"
        )
    if config.canary is not None:
        _check_canary(config)
    return _Sim(config, steps, arrival, seed).run()


def _check_canary(config: ServingConfig) -> None:
    c = config.canary
    model = config.repository.model(c.model)
    model.version(c.stable), model.version(c.canary)
    if c.model not in [s.model for s in config.repository.steps(config.target)]:
        raise EngineError(f"the canary's model {c.model!r} is not on the path of {config.target!r}")


class _Station:
    """One (model, version): its queue of (request, step), free copies, timer and pass times."""

    def __init__(self, model, version: int):
        self.batcher, self.service = model.batcher, model.version(version).service
        self.error_rate = model.version(version).error_rate
        self.queue: deque = deque()
        self.free = list(range(model.instances))
        self.timer = math.inf
        b = self.batcher
        # the queue length that sends a batch before any delay runs out (fewer: held while timed)
        self.trigger = min(b.preferred[0] if b.preferred else b.max_batch, b.max_batch)


class _Sim:
    def __init__(self, config: ServingConfig, steps, arrival: np.ndarray, seed: int):
        self.cfg, self.steps, self.arr = config, steps, arrival.tolist()
        n, s = len(arrival), len(steps)
        self.n, self.S = n, s
        self.ready = ready_windows(config)
        self.keys = list(self.ready)
        self.stations = [_Station(config.repository.model(m), v) for m, v in self.keys]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.candidates = [
            sorted(
                ((self.index[k], spans) for k, spans in self.ready.items() if k[0] == st.model),
                key=lambda c: -self.keys[c[0]][1],
            )
            for st in steps
        ]
        rng = np.random.default_rng(seed + 1)
        # a step that always goes to one station (one version, always ready, no canary) skips routing
        always = [[0.0, math.inf]]
        self.fixed = [
            c[0][0] if len(c) == 1 and c[0][1] == always and not self._canary_on(st.model) else -1
            for c, st in zip(self.candidates, steps)
        ]
        self.u_route, self.u_err = rng.random(n * s).tolist(), rng.random(n * s).tolist()
        self.u_time = rng.random(n * s + 1).tolist()
        self.enter, self.start, self.end = [math.nan] * (n * s), [math.nan] * (n * s), [math.nan] * (n * s)
        self.station_of = [-1] * (n * s)
        self.waiting = [len(st.after) for st in steps] * n
        self.left = [s] * n
        self.after = [[k for k, st in enumerate(steps) if j in st.after] for j in range(s)]
        self.roots = [k for k, st in enumerate(steps) if not st.after]
        self.finish, self.status = [math.nan] * n, [-1] * n
        self.batches, self.heap, self.seq = [], [], 0
        self.canary_live = config.canary is not None and config.canary.percent > 0
        self.simple = s == 1 and config.canary is None and all(st.error_rate == 0 for st in self.stations)
        self.rollback_at, self.windows, self.win = None, [], ([], [])

    def _canary_on(self, model: str) -> bool:
        return self.cfg.canary is not None and self.cfg.canary.model == model

    def push(self, t, prio, *payload):
        self.seq += 1
        heapq.heappush(self.heap, (t, prio, self.seq, *payload))

    def run(self) -> ServingRun:
        arr, heap, k, n, pop = self.arr, self.heap, 0, self.n, heapq.heappop
        if self.canary_live:
            self.push(self.cfg.canary.window, _WINDOW, 0)
        while k < n or heap:
            if k < n and (not heap or arr[k] < heap[0][0] or (arr[k] == heap[0][0] and heap[0][1] > _ENTER)):
                if self.simple and self.fixed[0] >= 0:
                    self._arrive_simple(k, arr[k])
                else:
                    for s in self.roots:
                        self.enter_step(k, s, arr[k])
                k += 1
                continue
            ev = pop(heap)
            t, kind = ev[0], ev[1]
            if kind == _DONE:
                self.done(t, ev[3], ev[4], ev[5])
            elif kind == _ENTER:
                self.enter_step(ev[3], ev[4], t)
            elif kind == _TIMER:
                self.stations[ev[3]].timer = math.inf
                self.dispatch(ev[3], t)
            else:
                self.close_window(t, ev[3], k < n or len(heap) > 0)
        return self.result()

    def route(self, i: int, s: int, t: float) -> int:
        """The station step ``s`` of request ``i`` goes to at ``t`` (-1: no ready version)."""
        c = self.cfg.canary
        if c is not None and self.steps[s].model == c.model:
            v = c.canary if self.canary_live and self.u_route[i * self.S + s] * 100 < c.percent else c.stable
            k = self.index[(c.model, v)]
            return k if any(a <= t < b for a, b in self.ready[self.keys[k]]) else -1
        for k, spans in self.candidates[s]:  # highest version first
            for a, b in spans:
                if a <= t < b:
                    return k
        return -1

    def enter_step(self, i: int, s: int, t: float) -> None:
        if self.status[i] >= 0:  # the request already failed on another branch
            return
        k = self.fixed[s] if self.fixed[s] >= 0 else self.route(i, s, t)
        if k < 0:
            self.complete(i, t, UNAVAILABLE)
            return
        j = i * self.S + s
        self.station_of[j], self.enter[j] = k, t
        st = self.stations[k]
        st.queue.append((i, s))
        if st.free and (len(st.queue) >= st.trigger or not t < st.timer < math.inf):
            self.dispatch(k, t)

    def _arrive_simple(self, i: int, t: float) -> None:
        """:meth:`enter_step` for one step that always goes to one station (the common case, inlined)."""
        k = self.fixed[0]
        st = self.stations[k]
        self.station_of[i], self.enter[i] = k, t
        st.queue.append((i, 0))
        if st.free and (len(st.queue) >= st.trigger or not t < st.timer < math.inf):
            self.dispatch(k, t)

    def dispatch(self, k: int, now: float) -> None:
        """Free copies of station ``k`` take batches now, or a timer is set for the held queue."""
        st, S, enter, start = self.stations[k], self.S, self.enter, self.start
        queue, free = st.queue, st.free
        if len(queue) < st.trigger and now < st.timer < math.inf:  # held: its delay runs out later
            return
        while free and queue:
            i0, s0 = queue[0]
            oldest = enter[i0 * S + s0]
            size, reason = next_batch(st.batcher, len(queue), now - oldest)
            if not size:
                deadline = oldest + st.batcher.max_delay
                if deadline < st.timer:
                    st.timer = deadline
                    self.push(deadline, _TIMER, k)
                return
            batch = [queue.popleft() for _ in range(size)]
            inst = heapq.heappop(free)
            m = len(self.batches)
            dur = st.service.draw(size, self.u_time[m % len(self.u_time)])
            for i, s in batch:
                start[i * S + s] = now
            self.batches.append((k, inst, now, now + dur, size, _REASON_CODE[reason]))
            self.seq += 1
            heapq.heappush(self.heap, (now + dur, _DONE, self.seq, k, inst, batch))

    def done(self, t: float, k: int, inst: int, batch) -> None:
        st, S, status, end = self.stations[k], self.S, self.status, self.end
        heapq.heappush(st.free, inst)
        if self.simple:  # one step, no errors, no canary: the batch's requests are done
            finish = self.finish
            for i, _ in batch:
                end[i] = finish[i] = t
                status[i] = OK
            self.dispatch(k, t)
            return
        for i, s in batch:
            j = i * S + s
            end[j] = t
            if status[i] >= 0:
                continue
            if self.u_err[j] < st.error_rate:
                self.complete(i, t, ERROR)
                continue
            self.left[i] -= 1
            for nxt in self.after[s]:
                self.waiting[i * S + nxt] -= 1
                if self.waiting[i * S + nxt] == 0:
                    self.push(t, _ENTER, i, nxt)
            if self.left[i] == 0:
                self.complete(i, t, OK)
        self.dispatch(k, t)

    def complete(self, i: int, t: float, code: int) -> None:
        self.status[i], self.finish[i] = code, t
        if self.canary_live and self._went_to_canary(i):
            self.win[0].append(t - self.arr[i])
            self.win[1].append(code != OK)

    def _went_to_canary(self, i: int) -> bool:
        c = self.cfg.canary
        for s, step in enumerate(self.steps):
            st = self.station_of[i * self.S + s]
            if step.model == c.model and st >= 0 and self.keys[st][1] == c.canary:
                return True
        return False

    def close_window(self, t: float, w: int, more: bool) -> None:
        c = self.cfg.canary
        lat, err = self.win
        row = dict(window=w, start=t - c.window, end=t, requests=len(lat), errors=int(sum(err)))
        row["error_rate"] = row["errors"] / len(lat) if lat else 0.0
        row["p99"] = float(np.percentile(lat, 99)) if lat else 0.0
        broken = len(lat) >= c.min_requests and (
            row["error_rate"] > c.max_error_rate or row["p99"] > c.max_p99
        )
        row["rollback"] = bool(broken)
        self.windows.append(row)
        self.win = ([], [])
        if broken:
            self.canary_live, self.rollback_at = False, t
        elif more:
            self.push(t + c.window, _WINDOW, w + 1)

    def result(self) -> ServingRun:
        n, S = self.n, self.S
        grid = lambda xs: np.asarray(xs, dtype=float).reshape(n, S)  # noqa: E731
        return ServingRun(
            arrival=np.asarray(self.arr),
            finish=np.asarray(self.finish),
            status=np.asarray(self.status),
            steps=tuple(s.model for s in self.steps),
            stations=tuple(self.keys),
            instances=tuple(self.cfg.repository.model(m).instances for m, _ in self.keys),
            step_station=np.asarray(self.station_of, dtype=int).reshape(n, S),
            enter=grid(self.enter),
            start=grid(self.start),
            end=grid(self.end),
            batch_table=np.fromiter(chain.from_iterable(self.batches), float, 6 * len(self.batches)).reshape(
                -1, 6
            ),
            rollback_at=self.rollback_at,
            windows=tuple(self.windows),
        )
