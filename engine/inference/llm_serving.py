"""LLM serving: request-level (static) vs iteration-level (continuous) batching of decode.

Stages:
  1. requests: Poisson arrivals, a prompt length and an output length drawn from a fixed, uniform
     or geometric distribution (seeded);
  2. one iteration of the model over a batch: ``prefill`` prompt tokens of newly admitted requests
     plus one token for each decoding request. Its time is the roofline of the whole step:
     ``max((W + kv_tokens·kv_bytes) / bandwidth, 2·P·(prefill + decode) / peak) + overhead`` —
     every weight is read once per iteration, and every decoding sequence reads its KV cache;
  3. policies (one server, at most ``max_batch`` sequences in flight):
       * ``static`` (request-level, as in FasterTransformer before Orca): take up to ``max_batch``
         queued requests, prefill them together, decode until the longest is done; finished
         sequences keep their slot (padding) and every result returns when the batch ends;
       * ``continuous`` (iteration-level, Orca, Yu et al. OSDI 2022): before every iteration, admit
         queued requests into free slots (their prefill joins this iteration) and release finished
         sequences at once;
  4. per request: first-token time (TTFT from arrival), last-token time, return time; time per
     output token TPOT = (last − first token) / (output − 1).
Not handled: chunked prefill, attention FLOPs (only the 2·P FLOPs per token of the weight matmuls),
KV-cache capacity limits (see :mod:`engine.inference.kv_cache` for how many sequences fit), preemption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps
from ..core.errors import EngineError
from ..core.trace import Event, Timeline
from .serving import DTYPE_BYTES, check_device_model, poisson_arrivals, positive, whole

LLM_POLICIES = ("static", "continuous")
LENGTH_DISTS = ("fixed", "uniform", "geometric")


@dataclass(frozen=True)
class LLMModel:
    params: float
    dtype: str
    peak_flops: float
    bandwidth: float
    kv_bytes_per_token: float
    overhead: float = 0.0
    memory: float = 0.0  # device memory in bytes (0: not checked)

    def __post_init__(self):
        check_device_model(self)
        positive("KV bytes per token", self.kv_bytes_per_token, allow_zero=True)

    @property
    def weight_bytes(self) -> float:
        return self.params * DTYPE_BYTES[self.dtype]

    def step_time(self, prefill_tokens, decode_seqs, kv_tokens):
        """Seconds for one iteration (works on numpy arrays too)."""
        mem = (self.weight_bytes + np.asarray(kv_tokens) * self.kv_bytes_per_token) / self.bandwidth
        comp = 2.0 * self.params * (np.asarray(prefill_tokens) + decode_seqs) / self.peak_flops
        return np.maximum(mem, comp) + self.overhead


@dataclass(frozen=True)
class Requests:
    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray


def draw_requests(
    rate: float,
    n: int,
    prompt_len: int = 128,
    mean_out: int = 64,
    dist: str = "geometric",
    max_out: int = 2048,
    seed: int = 0,
) -> Requests:
    """Poisson arrivals; output lengths fixed, uniform on [1, 2m−1] or geometric with mean m."""
    if dist not in LENGTH_DISTS:
        raise EngineError(f"output-length distribution {dist!r} is not one of {LENGTH_DISTS}")
    prompt_len = whole("prompt length", prompt_len, 1, 1 << 17)
    max_out = whole("maximum output length", max_out, 1, 1 << 17)
    mean_out = whole("mean output length", mean_out, 1, max_out)
    arrival = poisson_arrivals(rate, n, seed)
    rng = np.random.default_rng(seed + 7)
    if dist == "fixed":
        out = np.full(n, mean_out)
    elif dist == "uniform":
        out = rng.integers(1, 2 * mean_out, n)
    else:
        out = rng.geometric(1.0 / mean_out, n)
    out = np.minimum(out, max_out).astype(np.int64)
    check_steps(int(out.sum()) + n, "LLM serving simulation (tokens)")
    return Requests(arrival, np.full(n, prompt_len, dtype=np.int64), out)


@dataclass(frozen=True)
class LLMResult:
    policy: str
    requests: Requests
    admitted: np.ndarray  # start of the iteration that prefilled the request
    first: np.ndarray  # first token produced (end of its prefill iteration)
    last: np.ndarray  # last token produced
    returned: np.ndarray  # result handed back to the client
    slot: np.ndarray
    iterations: int
    busy: float

    @property
    def makespan(self) -> float:
        return float(self.returned.max() - self.requests.arrival.min())

    @property
    def ttft(self) -> np.ndarray:
        return self.first - self.requests.arrival

    @property
    def tpot(self) -> np.ndarray:
        """Seconds per output token after the first (requests with one token left out)."""
        many = self.requests.output > 1
        return (self.last[many] - self.first[many]) / (self.requests.output[many] - 1)

    @property
    def latency(self) -> np.ndarray:
        return self.returned - self.requests.arrival

    def summary(self) -> dict:
        tpot = self.tpot
        return dict(
            policy=self.policy,
            requests_per_s=len(self.first) / self.makespan,
            tokens_per_s=float(self.requests.output.sum()) / self.makespan,
            ttft_p50=float(np.percentile(self.ttft, 50)),
            ttft_p99=float(np.percentile(self.ttft, 99)),
            tpot_mean=float(tpot.mean()) if len(tpot) else 0.0,
            latency_p50=float(np.percentile(self.latency, 50)),
            latency_p99=float(np.percentile(self.latency, 99)),
            busy=float(self.busy / self.makespan),
            iterations=int(self.iterations),
        )


def simulate_llm(
    model: LLMModel, requests: Requests, policy: str = "continuous", max_batch: int = 16
) -> LLMResult:
    if policy not in LLM_POLICIES:
        raise EngineError(f"policy {policy!r} is not one of {', '.join(LLM_POLICIES)}")
    max_batch = whole("max batch size", max_batch, 1, 4096)
    run = _static if policy == "static" else _continuous
    return LLMResult(policy, requests, *run(model, requests, max_batch))


def _static(model: LLMModel, req: Requests, cap: int):
    n = len(req.arrival)
    admitted, first, last, returned, slot = (np.empty(n) for _ in range(5))
    i, free, iters, busy = 0, 0.0, 0, 0.0
    while i < n:
        begin = max(free, req.arrival[i])
        j = min(int(np.searchsorted(req.arrival, begin, side="right")), i + cap)
        size, outs = j - i, req.output[i:j]
        t_prefill = float(model.step_time(req.prompt[i:j].sum(), 0, 0))
        k = np.arange(1, outs.max())  # decode iterations 1 .. max_out-1
        t_decode = model.step_time(0, size, req.prompt[i:j].sum() + size * k)
        ends = begin + t_prefill + np.concatenate([[0.0], np.cumsum(t_decode)])
        admitted[i:j], first[i:j] = begin, ends[0]
        last[i:j], returned[i:j] = ends[outs - 1], ends[-1]  # everyone waits for the longest
        slot[i:j] = np.arange(size)
        iters, busy = iters + len(ends), busy + ends[-1] - begin
        i, free = j, ends[-1]
    return admitted, first, last, returned, slot, iters, busy


def _continuous(model: LLMModel, req: Requests, cap: int):
    n = len(req.arrival)
    admitted, first, last, slot = (np.empty(n) for _ in range(4))
    running: dict[int, list] = {}  # slot -> [request, tokens generated, context length]
    free_slots = list(range(cap - 1, -1, -1))
    i, t, done, iters, busy = 0, 0.0, 0, 0, 0.0
    while done < n:
        if not running and req.arrival[i] > t:
            t = float(req.arrival[i])  # idle until the next request
        new, prefill = [], 0
        while free_slots and i < n and req.arrival[i] <= t:
            s = free_slots.pop()
            running[s] = [i, 0, int(req.prompt[i])]
            new.append(s)
            prefill += int(req.prompt[i])
            admitted[i], slot[i] = t, s
            i += 1
        decode = [s for s in running if s not in new]
        kv = sum(running[s][2] for s in decode)
        dt = float(model.step_time(prefill, len(decode), kv))
        t, iters, busy = t + dt, iters + 1, busy + dt
        for s in list(running):
            r = running[s]
            r[1] += 1
            r[2] += 1
            if r[1] == 1:
                first[r[0]] = t
            if r[1] == req.output[r[0]]:
                last[r[0]] = t
                del running[s]
                free_slots.append(s)
                done += 1
    return admitted, first, last, last.copy(), slot, iters, busy


def slot_timeline(result: LLMResult, limit: int = 24) -> Timeline:
    """One lane per batch slot: prefill, decode, and (static) padding until the batch returns."""
    events = []
    for r in range(min(limit, len(result.first))):
        lane = f"slot {int(result.slot[r])}"
        events.append(
            Event(
                lane,
                result.admitted[r],
                result.first[r],
                f"r{r}",
                "forward",
                (("request", r), ("phase", "prefill")),
            )
        )
        if result.last[r] > result.first[r]:
            events.append(
                Event(
                    lane,
                    result.first[r],
                    result.last[r],
                    f"r{r}",
                    "compute",
                    (("request", r), ("tokens", int(result.requests.output[r]))),
                )
            )
        if result.returned[r] > result.last[r]:
            events.append(
                Event(
                    lane,
                    result.last[r],
                    result.returned[r],
                    "pad",
                    "idle",
                    (("request", r), ("phase", "padding")),
                )
            )
    lanes = sorted({e.unit for e in events}, key=lambda u: int(u.split()[1]))
    return Timeline(tuple(events), tuple(lanes), "s")


def llm_sweep(
    model: LLMModel,
    rates,
    n: int = 300,
    prompt_len: int = 256,
    mean_out: int = 64,
    dist: str = "geometric",
    max_batch: int = 16,
    seed: int = 0,
) -> list[dict]:
    """Both policies at each request rate (same requests for both policies at a given rate)."""
    check_steps(n * len(rates) * len(LLM_POLICIES), "LLM load sweep (requests)")
    rows = []
    for rate in rates:
        req = draw_requests(rate, n, prompt_len, mean_out, dist, max(mean_out * 8, 1), seed)
        for policy in LLM_POLICIES:
            rows.append({**simulate_llm(model, req, policy, max_batch).summary(), "rate": float(rate)})
    return rows


def sweep_rates(
    model: LLMModel, max_seqs: int, prompt_len: int, mean_out: int, fractions=(0.1, 0.3, 0.5, 0.7, 0.9, 1.1)
) -> list[float]:
    """Request rates as fractions of the rate a full batch of ``max_seqs`` decoders can sustain.

    One full iteration decodes ``max_seqs`` tokens in ``step_time(0, max_seqs, kv)``; a request
    needs ``mean_out`` of them, so the top rate is max_seqs / (mean_out · step).
    """
    max_seqs, prompt_len, mean_out = (
        whole("max sequences", max_seqs),
        whole("prompt tokens", prompt_len),
        whole("mean output tokens", mean_out),
    )
    step = float(model.step_time(0, max_seqs, max_seqs * (prompt_len + mean_out)))
    top = max_seqs / (mean_out * step)
    return [round(top * f, 3) for f in fractions]


def slot_timelines(
    model: LLMModel, rate: float, prompt_len: int, mean_out: int, dist: str, slots: int, n: int = 24
) -> dict[str, Timeline]:
    """The same ``n`` requests under each policy, as slot-by-slot timelines."""
    req = draw_requests(rate, n, prompt_len, mean_out, dist, max(mean_out * 8, 1))
    return {p: slot_timeline(simulate_llm(model, req, p, slots)) for p in LLM_POLICIES}


def sweep_table(rows: list[dict]) -> list[dict]:
    """:func:`llm_sweep` rows for display: times in ms, rates and shares rounded, units in names."""
    return [
        {
            "rate (req/s)": round(r["rate"], 2),
            "policy": r["policy"],
            "requests/s": round(r["requests_per_s"], 2),
            "tokens/s": round(r["tokens_per_s"]),
            **{
                f"{k} (ms)": round(1e3 * r[k], 1)
                for k in ("ttft_p50", "ttft_p99", "tpot_mean", "latency_p50", "latency_p99")
            },
            "GPU busy (%)": round(100 * r["busy"], 1),
            "iterations": r["iterations"],
        }
        for r in rows
    ]


def model_for(
    config, dtype: str, peak_flops: float, bandwidth: float, overhead: float = 0.0, memory: float = 0.0
) -> LLMModel:
    """An :class:`LLMModel` for one :class:`engine.inference.kv_cache.ModelConfig` (fp16 KV cache)."""
    from .kv_cache import kv_bytes_per_token

    per_token = kv_bytes_per_token(config.layers, config.kv_heads, config.head_dim)
    return LLMModel(config.params, dtype, peak_flops, bandwidth, per_token, overhead, memory)


def continuous_gain(rows: list[dict]) -> float:
    """Continuous over static output tokens/s at the highest rate of an :func:`llm_sweep`."""
    top = max(r["rate"] for r in rows)
    busiest = {r["policy"]: r["tokens_per_s"] for r in rows if r["rate"] == top}
    return busiest["continuous"] / busiest["static"]
