"""Inference serving: a batch service-time model and a discrete-event simulator of one server.

Stages:
  1. service time of one batch from first principles (:class:`ServiceModel`): a forward pass reads
     every weight once and the batch's activations, and does 2·P FLOPs per token, so
     ``time(b) = max((W + b·A) / bandwidth, 2·P·b·tokens / peak) + overhead``. Weight reads are
     shared by the whole batch, so batching is almost free until the compute roof (the "knee");
  2. Poisson arrivals at rate λ (exponential gaps, seeded);
  3. one server takes requests first-come first-served under a batching policy:
       * ``none``: one request per pass;
       * ``static``: wait until ``max_batch`` requests are queued (the tail of the run is flushed);
       * ``dynamic``: as NVIDIA Triton's dynamic batcher — start when ``max_batch`` requests are
         queued or the oldest has waited ``max_delay``, whichever comes first; a server that frees
         up late takes whatever has arrived (up to ``max_batch``);
  4. per request: arrival, start, finish; per batch: start, end, size; summary numbers
     (throughput, latency percentiles, busy fraction, time-average number in system);
  5. closed forms for checking: Pollaczek–Khinchine mean wait of M/G/1 (M/D/1, M/M/1).
LLM decoding (prefill/decode, continuous batching) is in :mod:`engine.inference.llm_serving`; KV-cache memory
in :mod:`engine.inference.kv_cache`. Not handled: several servers, priorities, preemption, network time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps
from ..core.errors import EngineError
from ..core.trace import Event, Timeline

#: bytes per weight for each dtype
DTYPE_BYTES = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
POLICIES = ("none", "static", "dynamic")
#: why a batch started: a sentence for each reason code
REASONS = {
    "single": "no batching: the server takes the oldest request as soon as it is free",
    "full": "the batch filled up to the maximum size",
    "timeout": "the oldest request had waited the maximum queue delay τ",
    "busy": "the GPU was still busy when the batch became ready; it takes whatever has arrived",
    "flush": "the last request has arrived, so the batcher sends a partial batch",
}


def positive(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a float, refusing NaN, infinity and (unless allowed) zero or negatives."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EngineError(f"{name} = {value!r} is not a number") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = "zero or more" if allow_zero else "greater than zero"
        raise EngineError(f"{name} = {value!r} must be a finite number {need}")
    return v


def whole(name: str, value, lo: int = 1, hi: int = 1 << 20) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and lo <= int(value) <= hi
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise EngineError(f"{name} = {value!r} must be a whole number from {lo:,} to {hi:,}")
    return int(value)


def check_device_model(model) -> None:
    """The checks every model-on-a-device shares: parameters, dtype, peak, bandwidth, overhead, fit."""
    positive("parameters", model.params)
    if model.dtype not in DTYPE_BYTES:
        raise EngineError(f"dtype {model.dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    positive("peak FLOP/s", model.peak_flops)
    positive("memory bandwidth", model.bandwidth)
    positive("fixed overhead", model.overhead, allow_zero=True)
    check_fits(model.params * DTYPE_BYTES[model.dtype], model.memory, model.dtype)


def check_fits(weight_bytes: float, memory: float, dtype: str) -> None:
    """Refuse weights larger than the card (``memory`` = 0 means unknown, not checked)."""
    if positive("device memory", memory, allow_zero=True) and weight_bytes > memory:
        raise EngineError(
            f"the {dtype} weights need {weight_bytes / 2**30:,.1f} GiB but the card has "
            f"{memory / 2**30:,.1f} GiB: pick a bigger card, quantise, or shard the model"
        )


@dataclass(frozen=True)
class ServiceModel:
    """Time of one forward pass over a batch, from the roofline of a P-parameter model."""

    params: float  # parameters P
    dtype: str  # weight dtype, a key of DTYPE_BYTES
    peak_flops: float  # FLOP/s
    bandwidth: float  # bytes/s
    tokens: int = 1  # tokens per request in one pass
    act_bytes: float = 0.0  # activation bytes per request moved in one pass
    overhead: float = 0.0  # fixed seconds per pass (launches, scheduling)
    memory: float = 0.0  # device memory in bytes (0: not checked)

    def __post_init__(self):
        check_device_model(self)
        whole("tokens per request", self.tokens)
        positive("activation bytes", self.act_bytes, allow_zero=True)

    @property
    def weight_bytes(self) -> float:
        return self.params * DTYPE_BYTES[self.dtype]

    def memory_time(self, batch: int) -> float:
        return (self.weight_bytes + batch * self.act_bytes) / self.bandwidth

    def compute_time(self, batch: int) -> float:
        return 2.0 * self.params * batch * self.tokens / self.peak_flops

    def time(self, batch: int) -> float:
        """Seconds for one pass over ``batch`` requests."""
        whole("batch size", batch)
        return max(self.memory_time(batch), self.compute_time(batch)) + self.overhead

    @property
    def knee(self) -> float:
        """Batch size where compute time equals weight+activation read time (the ridge point)."""
        per_item = 2.0 * self.params * self.tokens / self.peak_flops - self.act_bytes / self.bandwidth
        return math.inf if per_item <= 0 else self.weight_bytes / self.bandwidth / per_item

    def capacity(self, batch: int) -> float:
        """Requests per second when every pass carries ``batch`` requests."""
        return batch / self.time(batch)


@dataclass(frozen=True)
class SimResult:
    policy: str
    rate: float
    arrival: tuple[float, ...]
    start: tuple[float, ...]
    finish: tuple[float, ...]
    batches: tuple[tuple[float, float, int], ...]  # (start, end, size)
    reasons: tuple[str, ...] = ()  # why each batch started (see REASONS)

    @property
    def n(self) -> int:
        return len(self.arrival)

    @property
    def latency(self) -> np.ndarray:
        return np.asarray(self.finish) - np.asarray(self.arrival)

    @property
    def wait(self) -> np.ndarray:
        return np.asarray(self.start) - np.asarray(self.arrival)

    @property
    def makespan(self) -> float:
        return max(self.finish) - min(self.arrival)

    @property
    def throughput(self) -> float:
        return self.n / self.makespan

    @property
    def busy_fraction(self) -> float:
        return sum(e - s for s, e, _ in self.batches) / self.makespan

    @property
    def mean_batch(self) -> float:
        return self.n / len(self.batches)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latency, q))

    def mean_in_system(self) -> float:
        """Time-average number of requests in the system, by sweeping arrival/departure events."""
        times = np.concatenate([self.arrival, self.finish])
        steps = np.concatenate([np.ones(self.n), -np.ones(self.n)])
        order = np.lexsort((steps, times))  # departures before arrivals at equal times
        times, count = times[order], np.cumsum(steps[order])
        return float(np.sum(count[:-1] * np.diff(times)) / (times[-1] - times[0]))

    def summary(self) -> dict:
        lat = self.latency
        return dict(
            policy=self.policy,
            rate=self.rate,
            throughput=float(self.throughput),
            mean_latency=float(lat.mean()),
            p50=self.percentile(50),
            p95=self.percentile(95),
            p99=self.percentile(99),
            mean_wait=float(self.wait.mean()),
            busy=float(self.busy_fraction),
            mean_batch=float(self.mean_batch),
        )


def poisson_arrivals(rate: float, n: int, seed: int = 0) -> np.ndarray:
    """``n`` arrival times of a Poisson process of ``rate`` per second, starting near 0."""
    rate = positive("arrival rate λ", rate)
    n = whole("number of requests", n, 1, 1 << 40)
    check_steps(n, "serving simulation")
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


def simulate(
    model: ServiceModel,
    rate: float,
    n: int = 1000,
    policy: str = "dynamic",
    max_batch: int = 8,
    max_delay: float = 0.0,
    seed: int = 0,
    service: str = "deterministic",
) -> SimResult:
    """Serve ``n`` Poisson requests on one server; ``service='exponential'`` draws each pass's
    time from an exponential with mean ``model.time(b)`` (for the M/M/1 check)."""
    if policy not in POLICIES:
        raise EngineError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
    if service not in ("deterministic", "exponential"):
        raise EngineError(f"service {service!r} must be 'deterministic' or 'exponential'")
    max_batch = 1 if policy == "none" else whole("max batch size", max_batch, 1, 4096)
    delay = math.inf if policy == "static" else positive("max queue delay", max_delay, True)
    arrival = poisson_arrivals(rate, n, seed)
    rng = np.random.default_rng(seed + 1)
    times = [model.time(b) for b in range(1, max_batch + 1)]
    durations = rng.exponential(1.0, n) if service == "exponential" else np.ones(n)
    arr, scale = arrival.tolist(), durations.tolist()  # plain floats: fast scalar access
    start, finish, batches, reasons = [0.0] * n, [0.0] * n, [], []
    i, free = 0, 0.0
    while i < n:
        last = min(i + max_batch, n) - 1
        # batch full, or the oldest timed out (static: delay = inf, so the tail batch is flushed
        # when the last request arrives)
        ready = min(arr[last], arr[i] + delay)
        begin = max(free, ready)
        j = i + 1 if max_batch == 1 else min(int(np.searchsorted(arrival, begin, side="right")), last + 1)
        size = j - i
        dur = times[size - 1] * scale[len(batches)]
        start[i:j], finish[i:j] = [begin] * size, [begin + dur] * size
        batches.append((begin, begin + dur, size))
        reasons.append(_reason(policy, free > ready, size == max_batch, ready == arr[last]))
        i, free = j, begin + dur
    return SimResult(
        policy, float(rate), tuple(arr), tuple(start), tuple(finish), tuple(batches), tuple(reasons)
    )


def _reason(policy: str, server_late: bool, full: bool, last_arrived: bool) -> str:
    if policy == "none":
        return "single"
    if server_late:
        return "busy"
    if full:
        return "full"
    return "flush" if policy == "static" and last_arrived else "timeout"


def load_sweep(
    model: ServiceModel,
    loads,
    policies=POLICIES,
    n: int = 2000,
    max_batch: int = 8,
    max_delay: float = 0.0,
    seed: int = 0,
) -> list[dict]:
    """Latency and throughput of each policy at each offered load, as a fraction of the capacity
    at full batches (``model.capacity(max_batch)``)."""
    loads = [positive("offered load", x) for x in loads]
    check_steps(n * len(loads) * len(policies), "load sweep")
    cap = model.capacity(whole("max batch size", max_batch, 1, 4096))
    rows = []
    for policy in policies:
        for load in loads:
            r = simulate(model, load * cap, n, policy, max_batch, max_delay, seed)
            rows.append({**r.summary(), "load": load})
    return rows


def batch_timeline(result: SimResult, limit: int = 60, current: int | None = None) -> Timeline:
    """Batches on the GPU lane; on the batcher lane, the time the GPU sat idle although a request
    was queued (the batcher holding it back to fill a bigger batch). Batch ``current`` is outlined."""
    events, marked = [], ()
    k, prev_end = 0, -math.inf
    for b, (s, e, size) in enumerate(result.batches[:limit]):
        held = max(prev_end, result.arrival[k])
        if s > held + 1e-12:
            events.append(Event("batcher", held, s, "hold", "stall", (("held for", s - held),)))
        if b == current:
            marked = (len(events),)
        events.append(Event("GPU", s, e, f"b={size}", "compute", (("batch", b), ("size", size))))
        k, prev_end = k + size, e
    return Timeline(tuple(events), ("GPU", "batcher"), "s", marked)


def batch_log(result: SimResult, b: int) -> str:
    """One sentence on batch ``b``: when it started, how big it was, and why it started then."""
    if not 0 <= b < len(result.batches):
        raise EngineError(f"batch {b} does not exist; this run has {len(result.batches)} batches")
    first = sum(size for *_, size in result.batches[:b])
    s, e, size = result.batches[b]
    waited = s - result.arrival[first]
    return (
        f"Batch {b}: starts at {s * 1e3:.2f} ms with {size} request(s) and runs "
        f"{(e - s) * 1e3:.2f} ms; the oldest had waited {waited * 1e3:.2f} ms. "
        f"Why now: {REASONS[result.reasons[b]]}."
    )


# ---- closed forms (Kleinrock, Queueing Systems vol. 1, ch. 5) ---------------------------------


def pk_wait(rate: float, mean_service: float, second_moment: float) -> float:
    """Pollaczek–Khinchine mean wait in queue of M/G/1: W_q = λ E[S²] / (2 (1 − ρ))."""
    rate, s = positive("arrival rate λ", rate), positive("mean service time", mean_service)
    rho = rate * s
    if rho >= 1:
        raise EngineError(f"utilisation ρ = λ·E[S] = {rho:.3g} ≥ 1: the queue grows without bound")
    return rate * positive("E[S²]", second_moment) / (2.0 * (1.0 - rho))


def md1_wait(rate: float, service: float) -> float:
    """M/D/1: E[S²] = S², so W_q = ρ S / (2 (1 − ρ))."""
    return pk_wait(rate, service, service * service)


def mm1_wait(rate: float, service: float) -> float:
    """M/M/1: E[S²] = 2 S², so W_q = ρ S / (1 − ρ)."""
    return pk_wait(rate, service, 2.0 * service * service)


def policy_table(runs: dict[str, SimResult], tokens: int) -> list[dict]:
    """One row per policy, with units in the column names and display precision: throughput,
    latency percentiles (ms), mean wait (ms), GPU busy share, mean batch, output tokens/s and
    Little's L (time-average number in the system)."""
    rows = []
    for r in runs.values():
        s = r.summary()
        rows.append(
            {
                "policy": s["policy"],
                "offered λ (req/s)": round(s["rate"], 1),
                "requests/s": round(s["throughput"], 1),
                **{
                    f"{k} (ms)": round(1e3 * s[k], 3)
                    for k in ("mean_latency", "p50", "p95", "p99", "mean_wait")
                },
                "GPU busy (%)": round(100 * s["busy"], 1),
                "mean batch": round(s["mean_batch"], 2),
                "tokens/s": round(r.throughput * tokens),
                "little_L": round(r.mean_in_system(), 3),
            }
        )
    return rows
