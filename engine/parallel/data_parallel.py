"""Data-parallel training: DDP gradient buckets overlapping backward, sync vs async SGD.

Stages:
  1. Buckets (Li et al. 2020, "PyTorch Distributed", §3.2.3): gradients become ready in reverse
     layer order during backward; they are packed into buckets of ``bucket_bytes``; a bucket's
     all-reduce starts as soon as its last gradient is ready and the link is free, so
     communication hides behind the rest of backward. Timeline lanes: "backward", "all-reduce".
  2. Sync vs async (stale-gradient) data parallel on least-squares linear regression: sync SGD
     averages the N workers' gradients at the current weights; async applies each worker's gradient
     computed on weights ``staleness`` updates old (a parameter server without locks).
Not handled: gradient compression, uneven buckets across ranks, multiple communication streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps
from ..core.errors import EngineError
from ..core.trace import Event, Timeline
from .collectives import Link, allreduce_time


@dataclass(frozen=True)
class BucketResult:
    timeline: Timeline
    overlapped: float  # step time with buckets overlapping backward (s)
    serial: float  # backward, then one all-reduce of everything (s)
    buckets: tuple[tuple[int, ...], ...]  # layer indices in each bucket


def ddp_buckets(layer_bytes, layer_backward_s, bucket_bytes: float, n: int, link: Link) -> BucketResult:
    """Simulate DDP bucketed all-reduce overlapping backward on one device."""
    sizes = [float(x) for x in layer_bytes]
    times = [float(x) for x in layer_backward_s]
    if not sizes or len(sizes) != len(times):
        raise EngineError(
            f"need one gradient size and one backward time per layer, got "
            f"{len(sizes)} sizes and {len(times)} times"
        )
    if bucket_bytes <= 0 or min(sizes) < 0 or min(times) < 0:
        raise EngineError("bucket size must be positive and layer sizes/times non-negative")
    check_steps(len(sizes), "DDP layers")
    events, buckets, current, filled = [], [], [], 0.0
    clock, link_free = 0.0, 0.0
    for layer in reversed(range(len(sizes))):
        events.append(Event("backward", clock, clock + times[layer], f"L{layer}", "backward"))
        clock += times[layer]
        current.append(layer)
        filled += sizes[layer]
        if filled >= bucket_bytes or layer == 0:
            start = max(clock, link_free)
            link_free = start + allreduce_time(filled, n, link)
            events.append(
                Event(
                    "all-reduce",
                    start,
                    link_free,
                    f"B{len(buckets)}",
                    "communication",
                    (("bytes", filled), ("layers", tuple(current))),
                )
            )
            buckets.append(tuple(current))
            current, filled = [], 0.0
    serial = clock + allreduce_time(sum(sizes), n, link)
    tl = Timeline(tuple(events), ("backward", "all-reduce"), "s")
    return BucketResult(tl, tl.makespan, serial, tuple(buckets))


@dataclass(frozen=True)
class SgdCurves:
    sync: tuple[float, ...]
    async_: tuple[float, ...]
    optimum: float


def _regression(seed: int, samples: int = 256, dim: int = 8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, dim))
    w_true = rng.normal(size=dim)
    y = x @ w_true + 0.1 * rng.normal(size=samples)
    return x, y


def _loss(x, y, w) -> float:
    r = x @ w - y
    return float(r @ r / len(y))


def sync_vs_async(
    workers: int = 4, steps: int = 60, staleness: int = 3, lr: float = 0.05, seed: int = 0
) -> SgdCurves:
    """Loss per update of synchronous vs stale-gradient asynchronous SGD on linear regression."""
    if workers < 1 or steps < 1 or staleness < 0 or lr <= 0:
        raise EngineError(
            f"need workers ≥ 1, steps ≥ 1, staleness ≥ 0 and lr > 0; got "
            f"{workers}, {steps}, {staleness}, {lr}"
        )
    check_steps(steps * workers, "SGD simulation")
    x, y = _regression(seed)
    shards = np.array_split(np.arange(len(y)), workers)

    def grad(w, idx):
        return 2 * x[idx].T @ (x[idx] @ w - y[idx]) / len(idx)

    w = np.zeros(x.shape[1])
    sync = [_loss(x, y, w)]
    for _ in range(steps):
        w = w - lr * np.mean([grad(w, idx) for idx in shards], axis=0)
        sync.append(_loss(x, y, w))
    history = [np.zeros(x.shape[1])]
    asy = [_loss(x, y, history[0])]
    for k in range(steps):
        stale = history[max(0, len(history) - 1 - staleness)]
        w_new = history[-1] - lr * grad(stale, shards[k % workers])
        history.append(w_new)
        asy.append(_loss(x, y, w_new))
    w_opt = np.linalg.lstsq(x, y, rcond=None)[0]
    return SgdCurves(tuple(sync), tuple(asy), _loss(x, y, w_opt))
