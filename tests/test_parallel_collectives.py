"""Ring/tree all-reduce, the α-β model, DDP buckets, sync vs async SGD, mixed precision."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.parallel import (
    LINKS,
    Link,
    allreduce_time,
    ddp_buckets,
    loss_scale_steps,
    ring_allreduce,
    ring_bytes_per_device,
    sync_vs_async,
    synthetic_gradients,
    tree_allreduce,
    underflow,
)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), extra=st.integers(0, 20), seed=st.integers(0, 1000))
def test_ring_allreduce_sums_everywhere(n, extra, seed):
    data = np.random.default_rng(seed).normal(size=(n, n + extra))
    trace = ring_allreduce(data)
    assert len(trace) == 1 + 2 * (n - 1)
    np.testing.assert_allclose(trace.summary, np.tile(data.sum(axis=0), (n, 1)), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), seed=st.integers(0, 1000))
def test_tree_allreduce_sums_everywhere(n, seed):
    data = np.random.default_rng(seed).normal(size=(n, n + 3))
    trace = tree_allreduce(data)
    assert len(trace) == 1 + 2 * math.ceil(math.log2(n))
    np.testing.assert_allclose(trace.summary, np.tile(data.sum(axis=0), (n, 1)), atol=1e-12)


def test_reduce_scatter_leaves_one_finished_chunk_per_device():
    n, data = 4, np.arange(4 * 8, dtype=float).reshape(4, 8)
    trace = ring_allreduce(data)
    after_rs = trace[n - 1].data["buffers"]  # end of reduce-scatter
    total = data.sum(axis=0)
    for dev in range(n):
        c = (dev + 1) % n
        np.testing.assert_allclose(after_rs[dev, 2 * c : 2 * c + 2], total[2 * c : 2 * c + 2])


def test_every_step_sends_one_chunk_per_device_and_volume_matches():
    n, length = 5, 40
    trace = ring_allreduce(np.ones((n, length)))
    sent = np.zeros(n)
    for step in trace.steps[1:]:
        srcs = [s for s, _, _ in step.data["sends"]]
        assert sorted(srcs) == list(range(n))
        for s, _, c in step.data["sends"]:
            b = step.data["chunks"]
            sent[s] += b[c + 1] - b[c]
    np.testing.assert_allclose(sent, ring_bytes_per_device(length, n))


def test_alpha_beta_ring_equals_simulated_steps():
    # 2(N−1) steps, each one message of n/N bytes: the model is the step count times α + (n/N)/β.
    link = LINKS["InfiniBand HDR"]
    n, nbytes = 8, 1 << 30
    steps = len(ring_allreduce(np.ones((n, n)))) - 1
    assert allreduce_time(nbytes, n, link) == pytest.approx(steps * (link.alpha + nbytes / n / link.beta))


def test_nccl_bus_bandwidth_definition():
    # NCCL tests (PERFORMANCE.md): busbw = algbw · 2(n−1)/n for all-reduce; with α = 0 the bus
    # bandwidth of a ring equals the link bandwidth.
    link = Link("ideal", 0.0, 100e9, "")
    for n in (2, 4, 8, 64):
        t = allreduce_time(1e9, n, link)
        assert (1e9 / t) * 2 * (n - 1) / n == pytest.approx(link.beta)


def test_link_presets_from_datasheets():
    assert LINKS["NVLink 3 (A100)"].beta == 600e9 / 2
    assert LINKS["InfiniBand HDR"].beta == 200e9 / 8
    assert 31e9 <= LINKS["PCIe 4.0 x16"].beta <= 32e9 + 1


def test_tree_beats_ring_only_for_small_messages():
    link = LINKS["InfiniBand HDR"]
    assert allreduce_time(1e3, 64, link, "tree") < allreduce_time(1e3, 64, link, "ring")
    assert allreduce_time(1e9, 64, link, "tree") > allreduce_time(1e9, 64, link, "ring")


def test_ddp_buckets_overlap_backward():
    sizes = [4e6] * 12
    res = ddp_buckets(sizes, [1e-3] * 12, 10e6, 8, LINKS["PCIe 4.0 x16"])
    res.timeline.check_no_overlap()
    assert sorted(i for b in res.buckets for i in b) == list(range(12))
    assert res.buckets[0][0] == 11  # the last layer's gradient is ready first
    assert res.overlapped < res.serial
    one = ddp_buckets(sizes, [1e-3] * 12, 1e12, 8, LINKS["PCIe 4.0 x16"])
    assert len(one.buckets) == 1 and one.overlapped == pytest.approx(one.serial)
    fast = ddp_buckets(sizes, [1e-3] * 12, 10e6, 8, Link("instant", 0.0, 1e30, ""))
    assert fast.overlapped == pytest.approx(12e-3)


def test_sync_vs_async():
    same = sync_vs_async(workers=1, staleness=0, steps=30)
    np.testing.assert_allclose(same.sync, same.async_)
    curves = sync_vs_async(workers=4, staleness=4, steps=80, lr=0.1)
    assert curves.sync[-1] < curves.sync[0] and curves.sync[-1] < 1.5 * curves.optimum + 1e-2
    assert curves.async_[-1] > curves.sync[-1]


def test_fp16_underflow_matches_torch_half():
    import torch

    g = synthetic_gradients(5000, seed=1)
    for scale in (1.0, 2.0**8, 2.0**16):
        ours = underflow(g, scale)
        half = torch.tensor(g * scale, dtype=torch.float64).half()
        assert ours.zero_fraction == pytest.approx(float((half == 0).double().mean()))
        assert ours.overflow_fraction == pytest.approx(float(torch.isinf(half).double().mean()))
    assert underflow(g, 2.0**16).zero_fraction < underflow(g, 1.0).zero_fraction


def test_loss_scaling_matches_torch_update_rule():
    import torch

    rng = np.random.default_rng(3)
    gmax = 2.0 ** rng.uniform(-10, 1, size=200)
    gmax[[20, 21, 90]] = np.inf
    ours = loss_scale_steps(gmax, init_scale=2.0**14, interval=7)
    scale = torch.tensor([2.0**14])
    tracker = torch.tensor([0], dtype=torch.int32)
    for k, g in enumerate(gmax):
        assert ours.scales[k] == float(scale)
        found = torch.tensor([1.0 if not np.isfinite(g * float(scale)) or g * float(scale) > 65504 else 0.0])
        assert ours.skipped[k] == bool(found)
        torch._amp_update_scale_(scale, tracker, found, 2.0, 0.5, 7)


def test_collective_errors():
    with pytest.raises(EngineError, match="one element per device"):
        ring_allreduce(np.ones((4, 2)))
    with pytest.raises(EngineError, match="devices"):
        allreduce_time(10, 0, LINKS["PCIe 4.0 x16"])
    with pytest.raises(EngineError, match="one gradient size"):
        ddp_buckets([1.0], [1.0, 2.0], 1.0, 2, LINKS["PCIe 4.0 x16"])


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=12), cap=st.integers(100, 20000))
def test_bucket_assignment_matches_torch(sizes, cap):
    # torch's own DDP bucketing (gradients in the order they become ready = reversed layers).
    import torch
    import torch.distributed as dist

    ready = [torch.empty(n, dtype=torch.float32) for n in sizes]
    want, _ = dist._compute_bucket_assignment_by_size(ready, [cap])
    layers = list(reversed(sizes))  # layer i's gradient is ready (L-1-i)-th
    res = ddp_buckets([4.0 * n for n in layers], [1e-3] * len(layers), cap, 2, LINKS["PCIe 4.0 x16"])
    got = [[len(layers) - 1 - i for i in b] for b in res.buckets]
    assert got == [list(b) for b in want]
