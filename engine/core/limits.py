"""Server-wide limits on heavy work (model training, gloo runs, torch captures) shared by a class.

Stages of :meth:`HeavyLimiter.slot`:
  1. per-key rate limit: one token bucket per key (a browser session) holding at most ``burst``
     starts and refilled at ``per_minute / 60`` tokens a second; an empty bucket refuses at once
     with ``BusyError(reason="rate")`` and the time until its next token;
  2. server-wide concurrency: a ``BoundedSemaphore`` of ``slots`` (default ``os.cpu_count()``: a
     heavy run keeps about one core busy, training pins BLAS to one thread) acquired with a short
     timeout, never an open-ended wait: a waiting request holds a script thread, so a queue would
     only hide the overload. A refusal (``reason="slots"``) says how many runs are going and about
     when one should end: the mean duration seen for its kind minus its elapsed time, for the run
     nearest to done;
  3. a refused start costs the session nothing (its token is refunded), and the slot is released in
     ``finally``, so an exception inside the work never leaks it;
  4. when a session ends its bucket is forgotten (:meth:`HeavyLimiter.forget`); buckets of sessions
     that never end are bounded too: past ``_MAX_KEYS`` the full (= fresh) ones are dropped.
The clock is injectable, so tests move time without sleeping. Sizes come from the environment
(``AISL_HEAVY_SLOTS``, ``AISL_HEAVY_PER_MINUTE``) so a host can size them to its machine.
Not handled: fairness between refused sessions (there is no queue), weighting a 4-process gloo run
above a one-core training run, limits shared by several server processes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator

from .errors import BusyError, EngineError

Clock = Callable[[], float]
DEFAULT_RUN_S = 10.0  # the guess for a kind never seen finishing
_MEAN_WEIGHT = 0.3  # exponential moving average of durations: recent runs count most
_MAX_KEYS = 1024  # buckets kept before full (= fresh) ones are forgotten


class TokenBucket:
    """Per-key token buckets: ``burst`` tokens at most, refilled at ``per_minute`` a minute."""

    def __init__(self, burst: int, per_minute: float, clock: Clock = time.monotonic):
        if burst < 1 or not per_minute > 0:
            raise EngineError(
                f"a rate limit needs burst >= 1 and a positive rate, got burst = {burst}, "
                f"per_minute = {per_minute}"
            )
        self.burst, self.rate, self._clock = int(burst), per_minute / 60.0, clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at time)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._state.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def take(self, key: str) -> float:
        """Spend one token; returns 0.0, or (spending nothing) the seconds until a token is due."""
        with self._lock:
            now = self._clock()
            level = self._level(key, now)
            if level < 1.0:
                return (1.0 - level) / self.rate
            self._state[key] = (level - 1.0, now)
            if len(self._state) > _MAX_KEYS:
                self._forget_full(now)
            return 0.0

    def refund(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            self._state[key] = (min(float(self.burst), self._level(key, now) + 1.0), now)

    def forget(self, key: str) -> None:
        """Drop ``key``'s bucket (its session has ended)."""
        with self._lock:
            self._state.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._state)

    def _forget_full(self, now: float) -> None:
        for key in [k for k in self._state if self._level(k, now) >= self.burst]:
            del self._state[key]


class HeavyLimiter:
    """At most ``slots`` heavy runs at once, at most ``per_minute`` starts a minute per key."""

    def __init__(
        self,
        slots: int | None = None,
        wait_s: float = 0.5,
        per_minute: float = 30.0,
        burst: int | None = None,
        clock: Clock = time.monotonic,
    ):
        slots = (os.cpu_count() or 2) if slots is None else slots
        if not isinstance(slots, int) or slots < 1 or wait_s < 0:
            raise EngineError(
                f"a heavy-work limiter needs slots >= 1 and wait_s >= 0, got slots = "
                f"{slots!r}, wait_s = {wait_s}"
            )
        self.slots, self.wait_s, self.per_minute = slots, wait_s, per_minute
        self._sem = threading.BoundedSemaphore(slots)
        self._bucket = TokenBucket(burst or int(per_minute), per_minute, clock)
        self._clock = clock
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, float]] = {}  # ticket -> (kind, start time)
        self._mean_s: dict[str, float] = {}
        self._tickets = 0

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def forget(self, key: str) -> None:
        """Forget ``key``'s rate bucket: its session has ended (ui/janitor.py calls this)."""
        self._bucket.forget(key)

    @contextlib.contextmanager
    def slot(self, kind: str, key: str | None = None) -> Iterator[None]:
        """Hold one slot for the work inside the ``with``; raises BusyError instead of waiting long."""
        if key is not None:
            self._charge(key)
        if not self._sem.acquire(timeout=self.wait_s):
            if key is not None:
                self._bucket.refund(key)
            raise self._busy()
        ticket = self._enter(kind)
        try:
            yield
        finally:
            self._leave(ticket)
            self._sem.release()

    def _charge(self, key: str) -> None:
        wait = self._bucket.take(key)
        if wait > 0:
            raise BusyError(
                f"this session started too many heavy runs (at most {self.per_minute:g} a "
                f"minute); try again in ~{max(1, round(wait))} s",
                self.running(),
                float(wait),
                "rate",
            )

    def _busy(self) -> BusyError:
        with self._lock:
            now, runs = self._clock(), list(self._running.values())
            left = [self._mean_s.get(kind, DEFAULT_RUN_S) - (now - t0) for kind, t0 in runs]
        retry = max(1.0, min(left, default=1.0))
        runs_word = "run" if len(runs) == 1 else "runs"
        return BusyError(
            f"the server is busy with {len(runs)} other heavy {runs_word}; try again in ~{round(retry)} s",
            len(runs),
            retry,
            "slots",
        )

    def _enter(self, kind: str) -> int:
        with self._lock:
            self._tickets += 1
            self._running[self._tickets] = (kind, self._clock())
            return self._tickets

    def _leave(self, ticket: int) -> None:
        with self._lock:
            kind, t0 = self._running.pop(ticket)
            took = self._clock() - t0
            old = self._mean_s.get(kind)
            self._mean_s[kind] = took if old is None else old + _MEAN_WEIGHT * (took - old)


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        raise EngineError(f"environment variable {name} = {text!r} is not a number") from None


@functools.lru_cache(maxsize=1)
def default_limiter() -> HeavyLimiter:
    """The one limiter of this server process (a semaphore only limits what shares it)."""
    slots = int(_env_number("AISL_HEAVY_SLOTS", float(os.cpu_count() or 2)))
    return HeavyLimiter(slots, per_minute=_env_number("AISL_HEAVY_PER_MINUTE", 30.0))


def heavy_slot(kind: str, key: str | None = None) -> contextlib.AbstractContextManager[None]:
    """``with heavy_slot("train", session_id):`` around real heavy work (never around a cache hit)."""
    return default_limiter().slot(kind, key)


# -- torch's tracers, one at a time per process -------------------------------------------------------
#: torch.fx, torch.jit.trace, dynamo (torch.compile's front end), torch.export and the TorchScript ONNX
#: exporter keep process-global state (dynamo's caches and reset(), the jit tracing state, the
#: exporter's global flags); two threads tracing at once crashed the server process in
#: libtorch_python (two students on the control-flow and dynamic-vs-static labs; a general
#: protection fault 3 times in 3 tries). Reentrant: a capture may export, and an export may trace.
_TORCH_TRACING = threading.RLock()


def one_torch_trace_at_a_time(fn: Callable) -> Callable:
    """Decorate a function that traces, exports or compiles with torch: calls from different threads
    run one after another (the heavy-work slots bound how many wait)."""

    @functools.wraps(fn)
    def serial(*args, **kwargs):
        with _TORCH_TRACING:
            return fn(*args, **kwargs)

    return serial
