"""Collective communication on N simulated devices, and its α-β cost model.

Stages:
  1. Ring all-reduce = reduce-scatter then all-gather. Each device's vector is cut into N chunks;
     in reduce-scatter step k device i sends chunk (i − k) mod N to device i+1, which adds it to
     its own copy; after N−1 steps device i owns the full sum of chunk (i+1) mod N. All-gather
     then passes the finished chunks round the ring for N−1 more steps (receivers overwrite).
     Written once as a generator of Steps (the stepper's source); ``ring_allreduce`` runs it out.
  2. Tree all-reduce: reduce up a binary tree to device 0, level by level, then broadcast down.
  3. α-β model: sending n bytes costs α + n/β. Ring: 2(N−1)α + 2(N−1)/N · n/β;
     simple (unpipelined) binary tree: 2⌈log2 N⌉(α + n/β).
Not handled: NCCL's pipelined double binary tree, topology-aware rings, contention between rings.
Data-parallel training (DDP buckets, sync vs async SGD) is in ``data_parallel.py``; mixed
precision in ``mixed_precision.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError
from ..core.trace import Step, Trace


@dataclass(frozen=True)
class Link:
    """A link: latency α (seconds per message) and bandwidth β (bytes per second, one direction)."""

    name: str
    alpha: float
    beta: float
    source: str


#: Bandwidths are per direction from the datasheets; α is a typical software+wire latency per
#: message for NCCL-style collectives (order of magnitude, not from a datasheet).
LINKS = {
    "NVLink 3 (A100)": Link(
        "NVLink 3 (A100)",
        5e-6,
        300e9,
        "NVIDIA A100 datasheet: 600 GB/s total NVLink bandwidth (both directions) → 300 GB/s per direction",
    ),
    "PCIe 4.0 x16": Link(
        "PCIe 4.0 x16",
        10e-6,
        32e9,
        "PCI-SIG PCIe 4.0: 16 GT/s × 16 lanes, 128b/130b ≈ 31.5 GB/s per direction",
    ),
    "InfiniBand HDR": Link(
        "InfiniBand HDR", 5e-6, 25e9, "NVIDIA ConnectX-6 / HDR InfiniBand: 200 Gb/s = 25 GB/s per direction"
    ),
    "Ethernet 10 GbE": Link("Ethernet 10 GbE", 50e-6, 1.25e9, "IEEE 802.3: 10 Gb/s = 1.25 GB/s"),
}


def get_link(name: str) -> Link:
    if name not in LINKS:
        raise EngineError(f"unknown link {name!r}; choose one of {', '.join(LINKS)}")
    return LINKS[name]


def _check_devices(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise EngineError(f"the number of devices must be a whole number ≥ 1, got {n!r}")


def allreduce_time(nbytes: float, n: int, link: Link, algo: str = "ring") -> float:
    """Seconds for an all-reduce of ``nbytes`` on ``n`` devices under the α-β model."""
    _check_devices(n)
    if nbytes < 0:
        raise EngineError(f"message size must be ≥ 0 bytes, got {nbytes}")
    if n == 1:
        return 0.0
    if algo == "ring":
        return 2 * (n - 1) * link.alpha + 2 * (n - 1) / n * nbytes / link.beta
    if algo == "tree":
        return 2 * math.ceil(math.log2(n)) * (link.alpha + nbytes / link.beta)
    raise EngineError(f"algorithm must be 'ring' or 'tree', got {algo!r}")


def ring_bytes_per_device(nbytes: float, n: int) -> float:
    """Bytes each device sends in a ring all-reduce: 2(N−1)/N · n."""
    _check_devices(n)
    return 2 * (n - 1) / n * nbytes


def _as_devices(data) -> np.ndarray:
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2:
        raise EngineError(f"give one vector per device (a 2-D array), got shape {arr.shape}")
    check_tensor(arr.shape, "all-reduce input")
    n, length = arr.shape
    _check_devices(n)
    if length < n:
        raise EngineError(f"each vector needs at least one element per device: {length} < {n}")
    return arr


def ring_allreduce_steps(data):
    """Generator of Steps; step.data = dict(buffers, phase, sends=[(src, dst, chunk)])."""
    bufs = _as_devices(data).copy()
    n = bufs.shape[0]
    bounds = np.linspace(0, bufs.shape[1], n + 1).astype(int)
    chunk = [slice(bounds[c], bounds[c + 1]) for c in range(n)]
    yield Step(
        "start: every device holds its own gradient",
        log=f"{n} devices, {n} chunks each",
        data=dict(buffers=bufs.copy(), phase="start", sends=(), chunks=tuple(bounds)),
    )
    for phase in ("reduce-scatter", "all-gather"):
        for k in range(n - 1):
            offset = 1 if phase == "all-gather" else 0
            sends = tuple((i, (i + 1) % n, (i - k + offset) % n) for i in range(n))
            outgoing = [bufs[src, chunk[c]].copy() for src, _, c in sends]
            for (_src, dst, c), payload in zip(sends, outgoing):
                if phase == "reduce-scatter":
                    bufs[dst, chunk[c]] += payload
                else:
                    bufs[dst, chunk[c]] = payload
            log = ", ".join(f"D{s}→D{d}: chunk {c}" for s, d, c in sends)
            yield Step(
                f"{phase} step {k + 1} of {n - 1}",
                log=log,
                data=dict(buffers=bufs.copy(), phase=phase, sends=sends, chunks=tuple(bounds)),
            )


def ring_allreduce(data) -> Trace:
    """Run the ring to the end; ``summary`` is the final buffers (every row = the sum)."""
    steps = tuple(ring_allreduce_steps(data))
    check_steps(len(steps), "ring all-reduce")
    return Trace(steps, "ring all-reduce", summary=steps[-1].data["buffers"])


def tree_allreduce_steps(data):
    """Binary-tree reduce to device 0 (level by level), then broadcast back down."""
    bufs = _as_devices(data).copy()
    n = bufs.shape[0]
    yield Step("start", data=dict(buffers=bufs.copy(), phase="start", sends=()))
    stride = 1
    levels = []
    while stride < n:
        sends = tuple((i + stride, i) for i in range(0, n, 2 * stride) if i + stride < n)
        for src, dst in sends:
            bufs[dst] += bufs[src]
        levels.append(sends)
        yield Step(
            f"reduce, stride {stride}",
            log=", ".join(f"D{s}→D{d}" for s, d in sends),
            data=dict(buffers=bufs.copy(), phase="reduce", sends=sends),
        )
        stride *= 2
    for sends in reversed(levels):
        down = tuple((d, s) for s, d in sends)
        for src, dst in down:
            bufs[dst] = bufs[src]
        yield Step(
            "broadcast",
            log=", ".join(f"D{s}→D{d}" for s, d in down),
            data=dict(buffers=bufs.copy(), phase="broadcast", sends=down),
        )


def tree_allreduce(data) -> Trace:
    steps = tuple(tree_allreduce_steps(data))
    return Trace(steps, "tree all-reduce", summary=steps[-1].data["buffers"])
