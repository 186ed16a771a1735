"""DP vs DDP vs parameter server: the message-level event simulation against the closed forms
(ring all-reduce 2(N−1)/N·Ψ, DP's GPU 0 (N−1)·Ψ each way, a server shard N·Ψ/S each way), DDP's
bytes against the existing ring all-reduce simulator, and the step time against the α-β model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.core.errors import EngineError
from engine.parallel import dp_designs as dpd
from engine.parallel.collectives import Link, allreduce_time, ring_allreduce_steps

BASE = dpd.Setup(workers=4, params_bytes=64e6, input_bytes=8e6, output_bytes=4e6, alpha=20e-6)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 16])
def test_ddp_ring_moves_2_n_minus_1_over_n_psi_per_gpu(n):
    run = dpd.run_design("ddp", replace(BASE, workers=n, buckets=3))
    want = 2 * (n - 1) / n * BASE.params_bytes  # Patarasuk & Yuan: bandwidth-optimal all-reduce
    for i in range(n):
        assert _close(run.traffic[dpd.gpu(i)]["out"], want) and _close(run.traffic[dpd.gpu(i)]["in"], want)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_ddp_bytes_equal_what_the_collectives_simulator_sends(n):
    length, elem = 12 * n, 4.0  # fp32 elements, divisible into n chunks
    counted = np.zeros(n)
    bounds = None
    for step in ring_allreduce_steps(np.ones((n, length))):
        bounds = step.data["chunks"]
        for src, _dst, chunk in step.data["sends"]:
            counted[src] += (bounds[chunk + 1] - bounds[chunk]) * elem
    run = dpd.run_design("ddp", replace(BASE, workers=n, params_bytes=length * elem, buckets=1))
    for i in range(n):
        assert _close(run.traffic[dpd.gpu(i)]["out"], counted[i])


@pytest.mark.parametrize("n", [2, 3, 4, 8, 16])
def test_dp_gpu0_receives_and_sends_n_minus_1_psi(n):
    s = replace(BASE, workers=n)
    run = dpd.run_design("dp", s, steps=2)
    assert _close(run.by_phase[(dpd.gpu(0), "in", "gradients")], (n - 1) * s.params_bytes)
    assert _close(run.by_phase[(dpd.gpu(0), "out", "weights")], (n - 1) * s.params_bytes)
    assert _close(run.by_phase[(dpd.gpu(0), "out", "inputs")], (n - 1) * s.input_bytes / n)
    others = [run.traffic[dpd.gpu(i)]["in"] for i in range(1, n)]
    assert max(others) < run.traffic[dpd.gpu(0)]["out"] or n == 2  # GPU 0 is the hot spot


@pytest.mark.parametrize("n,shards", [(2, 1), (4, 1), (4, 2), (5, 3), (8, 4), (16, 8), (3, 5)])
def test_every_server_link_carries_n_psi_over_s_each_way(n, shards):
    s = replace(BASE, workers=n, shards=shards)
    run = dpd.run_design("ps", s)
    for j in range(shards):
        for way in ("out", "in"):
            assert _close(run.traffic[dpd.server(j)][way], n * s.params_bytes / shards)
    for i in range(n):
        assert _close(run.traffic[dpd.gpu(i)]["out"], s.params_bytes)


@pytest.mark.parametrize("design", dpd.DESIGNS)
@pytest.mark.parametrize(
    "n,shards,gpu_bw,server_bw",
    [
        (2, 1, 32e9, 12.5e9),
        (3, 2, 1.25e9, 25e9),
        (5, 3, 300e9, 3e9),
        (8, 1, 25e9, 25e9),
        (16, 4, 64e9, 12.5e9),
    ],
)
def test_closed_forms_equal_the_event_simulation(design, n, shards, gpu_bw, server_bw):
    s = replace(BASE, workers=n, shards=shards, gpu_bw=gpu_bw, server_bw=server_bw)
    run = dpd.run_design(design, s, steps=2)
    assert run.timeline.makespan / 2 == pytest.approx(dpd.closed_step_s(design, s), rel=1e-9)
    for node, ways in dpd.closed_traffic(design, s).items():
        for way, want in ways.items():
            assert _close(run.traffic[node][way], want), (node, way)


def test_ddp_one_bucket_is_backward_then_the_collectives_ring_formula():
    s = replace(BASE, workers=6, buckets=1)
    link = Link("test", s.alpha, s.gpu_bw, "test")
    want = s.forward_s + s.backward_s + allreduce_time(s.params_bytes, 6, link, "ring")
    assert dpd.run_design("ddp", s).timeline.makespan == pytest.approx(want, rel=1e-9)
    overlapped = dpd.run_design("ddp", replace(s, buckets=8)).timeline.makespan
    assert s.forward_s + s.backward_s < overlapped < want  # buckets hide communication behind backward


def test_max_min_fair_rates_by_progressive_filling():
    # Textbook case (Bertsekas & Gallager, max-min fairness): flows a and b share link X (10); b also
    # crosses link Y (2) -> b = 2, and a takes the rest of X: 8.
    tasks = [dpd.Task("A", "x", dst="X", nbytes=1), dpd.Task("B", "x", dst="X", nbytes=1)]
    cap = {("A", "out"): 100.0, ("B", "out"): 2.0, ("X", "in"): 10.0}
    assert dpd._fair_rates([0, 1], tasks, cap) == {1: 2.0, 0: 8.0}


def test_a_straggler_holds_up_sync_but_not_async():
    s = replace(BASE, workers=6, straggler=3.0, server_bw=100e9, gpu_bw=100e9)
    sync = dpd.run_design("ps", replace(s, mode="sync"), steps=3)
    asyn = dpd.run_design("ps", replace(s, mode="async"), steps=3)
    assert len({round(t, 12) for t in sync.finish.values()}) == 1  # everyone waits for the slowest
    fast = [asyn.finish[dpd.gpu(i)] for i in range(5)]
    assert max(fast) < asyn.finish[dpd.gpu(5)] and asyn.step_s < sync.step_s
    homogeneous = replace(s, straggler=1.0)
    assert dpd.run_design("ps", replace(homogeneous, mode="async")).step_s == pytest.approx(
        dpd.run_design("ps", homogeneous).step_s
    )


def test_scaling_curves_dp_grows_ddp_stays_flat_shards_help():
    curves = dpd.scaling_curves(replace(BASE, shards=1), 64)
    ns, dp = curves["dp"]
    ddp = curves["ddp"][1]
    assert ns[-1] == 64 and all(b > a for a, b in zip(dp, dp[1:]))
    assert ddp[-1] < 1.2 * ddp[1] and dp[-1] > 5 * dp[1]
    sharded = dpd.scaling_curves(replace(BASE, shards=8), 64)["ps"][1]
    assert sharded[-1] < curves["ps"][1][-1]


def test_snapshot_at_the_end_counts_every_byte():
    run = dpd.run_design("dp", BASE, steps=2)
    moved, running = dpd.snapshot(run, run.timeline.makespan)
    for node, ways in run.traffic.items():
        assert _close(moved[node]["out"], 2 * ways["out"]) and _close(moved[node]["in"], 2 * ways["in"])
    _, early = dpd.snapshot(run, 1e-9)
    assert set(early) == {"inputs", "weights", "forward"} and running == ()


@pytest.mark.parametrize(
    "design,setup,match",
    [
        ("nccl", BASE, "design must be one of"),
        ("dp", replace(BASE, workers=17), "1 to 16 workers"),
        ("ps", replace(BASE, shards=0), "server shards"),
        ("dp", replace(BASE, gpu_bw=0.0), "bandwidths"),
        ("ps", replace(BASE, mode="eventual"), "'sync' or 'async'"),
        ("dp", replace(BASE, params_bytes=float("nan")), "finite"),
    ],
)
def test_bad_input_is_an_engine_error(design, setup, match):
    with pytest.raises(EngineError, match=match):
        dpd.run_design(design, setup)
