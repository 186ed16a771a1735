"""The Triton-style serving simulator against its oracles.

* Triton's documentation of the dynamic batcher (user guide, "Batchers": preferred batch sizes,
  delayed batching) and of its metrics (user guide, "Metrics": request / inference / execution
  counts), as hand-derived expectations on small traces;
* queueing theory: Erlang C against the M/M/c birth-death chain solved numerically, and the
  simulator against Erlang C (M/M/c) and Pollaczek-Khinchine (M/D/1);
* the serving lab's own one-server simulator (engine/inference/serving.py, written apart) on the
  same arrivals: identical finish times for the dynamic batcher with one copy;
* the canary rule recomputed from the per-request records (property test over random traffic).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.core.errors import BudgetError, EngineError
from engine.inference import serving as sv
from engine.inference import serving_metrics as sm
from engine.inference.serving_repo import (
    Batcher,
    Ensemble,
    ModelConfig,
    ModelVersion,
    Repository,
    ServiceTimes,
    Step,
    next_batch,
    pbtxt,
)
from engine.inference.serving_run import ERROR, OK, UNAVAILABLE
from engine.inference.serving_system import Canary, Lifecycle, ServingConfig, simulate_serving


def one_model(times, batcher=Batcher(1), instances=1, kind="deterministic", **kw) -> Repository:
    return Repository(
        (ModelConfig("m", (ModelVersion(1, ServiceTimes(tuple(times), kind)),), batcher, instances, **kw),)
    )


def run_trace(repo, trace, target="m", **kw):
    return simulate_serving(ServingConfig(repo, target, **kw), requests=np.asarray(trace, dtype=float))


# ---- Triton's documented dynamic batcher ----------------------------------------------------------


def test_next_batch_follows_the_documented_rule():
    # "preferred_batch_size: [ 4, 8 ]": with 7 queued the largest preferred size that can be formed is 4
    assert next_batch(Batcher(16, (4, 8), 0.0), 7, 0.0) == (4, "preferred")
    assert next_batch(Batcher(16, (4, 8), 0.0), 20, 0.0) == (8, "preferred")
    # no preferred size and no delay: "a batch of the largest size possible" up to the maximum
    assert next_batch(Batcher(8), 5, 0.0) == (5, "nodelay")
    assert next_batch(Batcher(8), 12, 0.0) == (8, "full")
    # with a delay, a batch that is neither full nor preferred waits for its oldest request's delay
    assert next_batch(Batcher(8, (), 1e-4), 5, 5e-5) == (0, "")
    assert next_batch(Batcher(8, (), 1e-4), 5, 1e-4) == (5, "delay")
    assert next_batch(Batcher(8, dynamic=False), 5, 1.0) == (1, "single")


def test_delayed_batching_on_a_trace():
    # max_queue_delay_microseconds: 100 — three requests 30 µs apart go together when the first
    # has waited 100 µs; the next eight arrive together and fill a batch at once.
    repo = one_model([1e-3] * 8, Batcher(8, (), 100e-6))
    r = run_trace(repo, [0, 30e-6, 60e-6] + [0.01] * 8)
    assert r.batch(0).size == 3 and r.batch(0).start == pytest.approx(100e-6) and r.batch(0).reason == "delay"
    assert r.batch(1).size == 8 and r.batch(1).start == pytest.approx(0.01) and r.batch(1).reason == "full"


def test_a_preferred_size_goes_at_once_and_the_rest_waits():
    # preferred [4]: the fourth arrival forms a preferred batch, sent at its arrival; the fifth
    # request waits its whole delay, then goes alone.
    repo = one_model([1e-4] * 8, Batcher(8, (4,), 1e-3))
    r = run_trace(repo, [0, 1e-5, 2e-5, 3e-5, 4e-5])
    assert (r.batch(0).size, r.batch(0).start, r.batch(0).reason) == (4, 3e-5, "preferred")
    assert r.batch(1).size == 1 and r.batch(1).start == pytest.approx(4e-5 + 1e-3)


def test_triton_metric_counts_for_two_dynamically_batched_requests():
    # Metrics guide: "Client sends 2 requests: batch-1 and batch-1. Dynamic batcher is enabled ...
    # Request Count = 2, Inference Count = 2, Execution Count = 1."
    r = run_trace(one_model([1e-3, 1e-3], Batcher(2, (), 1e-4)), [0.0, 1e-5])
    (row,) = sm.station_table(r)
    assert (row["success"], row["inference_count"], row["exec_count"]) == (2, 2, 1)
    assert 'nv_inference_exec_count{model="m",version="1"} 1' in sm.prometheus([row])


def test_dynamic_batching_equals_the_one_server_simulator():
    class Affine(sv.ServiceModel):
        def time(self, b):
            return 0.002 + 0.0005 * b

    ref = sv.simulate(Affine(1e6, "fp16", 1e12, 1e12), 800.0, 5000, "dynamic", 8, 0.002, seed=3)
    repo = one_model([0.002 + 0.0005 * b for b in range(1, 9)], Batcher(8, (), 0.002))
    r = simulate_serving(ServingConfig(repo, "m", 800.0), 5000, seed=3)
    assert np.array_equal(r.arrival, ref.arrival)
    assert np.array_equal(r.finish, np.asarray(ref.finish))
    assert r.n_batches == len(ref.batches)


# ---- queueing theory ------------------------------------------------------------------------------


def ctmc_wait_probability(c: int, a: float, cap: int = 400) -> float:
    """P(all c servers busy) of the M/M/c birth-death chain, solved as a linear system."""
    q = np.zeros((cap, cap))
    for k in range(cap - 1):
        q[k, k + 1] = a  # arrivals at rate a (time in units of the mean service)
        q[k + 1, k] = min(k + 1, c)
    q -= np.diag(q.sum(axis=1))
    lhs = np.vstack([q.T, np.ones(cap)])
    p = np.linalg.lstsq(lhs, np.r_[np.zeros(cap), 1.0], rcond=None)[0]
    return float(p[c:].sum())


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (2, 1.0), (3, 2.4), (10, 6.0)])
def test_erlang_c_equals_the_birth_death_chain(c, a):
    assert sm.erlang_c(c, a) == pytest.approx(ctmc_wait_probability(c, a), rel=1e-6)


def test_erlang_c_closed_cases():
    assert sm.erlang_c(2, 1.0) == pytest.approx(1 / 3)  # (1/2·2) / (1 + 1 + 1)
    assert sm.erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: the server is busy with probability ρ
    with pytest.raises(EngineError, match="grows without bound"):
        sm.erlang_c(2, 2.0)


def test_simulated_mmc_matches_erlang_c():
    repo = one_model([0.01], Batcher(1), instances=3, kind="exponential")
    r = simulate_serving(ServingConfig(repo, "m", 210.0), 100_000, seed=1)
    wait = r.start[:, 0] - r.enter[:, 0]
    assert np.mean(wait > 1e-12) == pytest.approx(sm.erlang_c(3, 2.1), rel=0.05)
    assert wait.mean() == pytest.approx(sm.mmc_wait(210.0, 0.01, 3), rel=0.08)


def test_simulated_md1_matches_pollaczek_khinchine():
    repo = one_model([0.01], Batcher(1))
    r = simulate_serving(ServingConfig(repo, "m", 60.0), 100_000, seed=2)
    assert float(np.mean(r.start - r.enter)) == pytest.approx(sv.md1_wait(60.0, 0.01), rel=0.05)


def test_littles_law_on_a_batched_run():
    repo = one_model([0.002 + 0.0005 * b for b in range(1, 9)], Batcher(8, (4,), 0.002), instances=2)
    row = sm.summary(simulate_serving(ServingConfig(repo, "m", 1500.0), 20_000))
    assert sm.little_check(row) < 1e-9
    assert row["little_L"] == pytest.approx(row["throughput"] * row["mean_latency"], rel=1e-9)


# ---- repository, ensembles, lifecycle ------------------------------------------------------------


def test_version_policies_and_config_text():
    vs = tuple(ModelVersion(v, ServiceTimes((1e-3,))) for v in (1, 2, 3))
    assert ModelConfig("m", vs).served() == (3,)  # default: latest, 1
    assert ModelConfig("m", vs, policy="latest", policy_arg=(2,)).served() == (2, 3)
    assert ModelConfig("m", vs, policy="specific", policy_arg=(1, 3)).served() == (1, 3)
    assert ModelConfig("m", vs, policy="all", policy_arg=()).served() == (1, 2, 3)
    text = pbtxt(ModelConfig("m", vs, Batcher(8, (4, 8), 100e-6), 2))
    for line in (  # the model configuration guide's spelling
        "max_batch_size: 8",
        "version_policy: { latest: { num_versions: 1 } }",
        "instance_group [ { count: 2 kind: KIND_GPU } ]",
        "preferred_batch_size: [ 4, 8 ]",
        "max_queue_delay_microseconds: 100",
    ):
        assert line in text


def test_an_ensemble_runs_its_dag_in_order():
    models = tuple(
        ModelConfig(n, (ModelVersion(1, ServiceTimes((t,))),))
        for n, t in (("a", 1e-3), ("b", 2e-3), ("c", 3e-3), ("d", 5e-4))
    )
    dag = Ensemble("e", (Step("a"), Step("b", (0,)), Step("c", (0,)), Step("d", (1, 2))))
    r = simulate_serving(ServingConfig(Repository(models, (dag,)), "e", 50.0), 500)
    assert (r.status == OK).all()
    assert np.all(r.enter[:, 1] == r.end[:, 0]) and np.all(r.enter[:, 2] == r.end[:, 0])
    assert np.all(r.enter[:, 3] == np.maximum(r.end[:, 1], r.end[:, 2]))  # the join waits for both
    assert np.allclose(r.finish, r.end[:, 3])


def test_swap_fails_requests_while_the_new_version_loads_and_overlap_does_not():
    base = ModelConfig("m", tuple(ModelVersion(v, ServiceTimes((1e-3,))) for v in (1, 2)), policy="specific",
                       policy_arg=(1,), load_s=0.5)  # fmt: skip
    trace = np.linspace(0.0, 3.0, 301)
    swap = (Lifecycle(1.0, "load", "m", 2), Lifecycle(1.0, "unload", "m", 1))
    r = run_trace(Repository((base,)), trace, events=swap)
    failed = r.arrival[r.status == UNAVAILABLE]
    assert failed.min() >= 1.0 and failed.max() < 1.5 and len(failed) == 50
    assert set(r.version_at("m")[r.arrival >= 1.5]) == {2}
    overlap = (Lifecycle(1.0, "load", "m", 2), Lifecycle(1.5, "unload", "m", 1))
    r = run_trace(Repository((base,)), trace, events=overlap)
    assert (r.status == OK).all() and set(r.version_at("m")[r.arrival < 1.5]) == {1}


def test_error_rate_is_the_share_of_failed_requests():
    repo = Repository((ModelConfig("m", (ModelVersion(1, ServiceTimes((1e-4,)), 0.1),)),))
    r = simulate_serving(ServingConfig(repo, "m", 100.0), 20_000)
    assert np.mean(r.status == ERROR) == pytest.approx(0.1, abs=0.01)  # ±4.7 binomial sigmas
    assert sm.station_table(r)[0]["failure"] == int((r.status == ERROR).sum())


# ---- canary rollback: exactly when the SLO breaks --------------------------------------------------


def first_broken_window(r, c: Canary):
    mine = r.version_at(c.model) == c.canary
    for k in range(1, 10_000):
        lo, hi = (k - 1) * c.window, k * c.window
        if lo > r.finish.max():
            return None
        w = mine & (r.finish >= lo) & (r.finish < hi)
        if w.sum() >= c.min_requests:
            err = np.mean(r.status[w] != OK)
            p99 = np.percentile(r.latency[w], 99)
            if err > c.max_error_rate or p99 > c.max_p99:
                return hi
    return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    error=st.floats(0.0, 0.15),
    slow=st.floats(0.5, 3.0),
    percent=st.floats(5, 60),
    slo_err=st.floats(0.02, 0.3),
    slo_p99_ms=st.floats(5.0, 60.0),
)
def test_canary_rolls_back_exactly_when_the_slo_is_broken(seed, error, slow, percent, slo_err, slo_p99_ms):
    v1, v2 = ServiceTimes((2e-3,), "exponential"), ServiceTimes((2e-3 * slow,), "exponential")
    model = ModelConfig(
        "m", (ModelVersion(1, v1), ModelVersion(2, v2, error)), Batcher(1), 2, policy="all", policy_arg=()
    )
    c = Canary("m", 1, 2, percent, slo_err, slo_p99_ms / 1e3, 0.5, 10)
    r = simulate_serving(ServingConfig(Repository((model,)), "m", 300.0, c), 1500, seed=seed)
    expected = first_broken_window(r, c)
    assert r.rollback_at == (pytest.approx(expected) if expected is not None else None)
    if r.rollback_at is not None:  # after the rollback, no request is sent to the canary
        assert not np.any((r.version_at("m") == 2) & (r.arrival >= r.rollback_at))


# ---- bad input ------------------------------------------------------------------------------------


def test_bad_input_names_what_is_wrong():
    repo = one_model([1e-3])
    with pytest.raises(BudgetError, match="limit"):
        simulate_serving(ServingConfig(repo, "m"), 2_000_000)
    with pytest.raises(EngineError, match="not in the repository"):
        simulate_serving(ServingConfig(repo, "nope"), 10)
    with pytest.raises(EngineError, match="increasing order"):
        simulate_serving(ServingConfig(repo, "m"), [0.2, 0.1])
    with pytest.raises(EngineError, match="preferred batch size"):
        Batcher(4, (8,))
    with pytest.raises(EngineError, match="percent"):
        Canary("m", 1, 2, 150.0)
    with pytest.raises(EngineError, match="no version 2"):
        simulate_serving(ServingConfig(repo, "m", canary=Canary("m", 1, 2)), 10)


def test_public_name_and_interval_metrics():
    repo = one_model([0.002 + 0.0005 * b for b in range(1, 9)], Batcher(8, (), 0.001))
    r = engine.simulate_serving(ServingConfig(repo, "m", 1000.0), requests=3000, seed=0)
    rows = sm.interval_metrics(r, 30)
    t = [0.0] + [row["t (s)"] for row in rows]
    served = sum(row["requests/s"] * (b - a) for row, a, b in zip(rows, t, t[1:]))
    assert served == pytest.approx(3000, rel=1e-3)
    assert all(0 <= row["busy m v1 (%)"] <= 100 + 1e-9 for row in rows)
    assert "Why now" in sm.batch_log(r, 0) and not math.isnan(rows[-1]["p99 (ms)"])
