"""Serving engine: closed forms of queueing theory, published KV-cache sizes, policy behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import BudgetError, EngineError, hardware_presets
from engine.inference.kv_cache import capacity, fragmentation, kv_bytes_per_token, model_configs
from engine.inference.llm_serving import LLMModel, draw_requests, simulate_llm, slot_timeline
from engine.inference.serving import (
    ServiceModel,
    batch_log,
    batch_timeline,
    load_sweep,
    md1_wait,
    mm1_wait,
    pk_wait,
    poisson_arrivals,
    simulate,
)

H100 = hardware_presets()["H100 SXM"]
MODEL = ServiceModel(7e9, "fp16", H100.peak_flops, H100.bandwidth)
MiB = 1 << 20


# ---- the service-time model ---------------------------------------------------------------------


def test_service_time_is_the_roofline_of_a_forward_pass():
    # 7e9 fp16 weights = 14 GB read at 3.35 TB/s; 2 FLOPs per weight per request at 989.4 TFLOP/s
    assert MODEL.time(1) == pytest.approx(14e9 / 3.35e12)
    assert MODEL.time(1024) == pytest.approx(2 * 7e9 * 1024 / 989.4e12)
    # below the knee a bigger batch costs nothing extra; the knee is the H100's ridge point / 2 bytes
    assert MODEL.time(64) == MODEL.time(1)
    assert MODEL.knee == pytest.approx(H100.ridge_point * 2 / 2)
    assert MODEL.capacity(64) == pytest.approx(64 * MODEL.capacity(1))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(params=0), "parameters"),
        (dict(bandwidth=-1.0), "bandwidth"),
        (dict(dtype="fp12"), "fp12"),
        (dict(peak_flops=math.nan), "peak"),
    ],
)
def test_service_model_refuses_nonsense(kwargs, words):
    base = dict(params=1e9, dtype="fp16", peak_flops=1e12, bandwidth=1e12)
    with pytest.raises(EngineError, match=words):
        ServiceModel(**{**base, **kwargs})


def test_simulator_refuses_bad_rates_batches_and_budgets():
    with pytest.raises(EngineError, match="λ"):
        simulate(MODEL, 0.0, 10)
    with pytest.raises(EngineError, match="max batch size = 0"):
        simulate(MODEL, 10.0, 10, "dynamic", max_batch=0)
    with pytest.raises(EngineError, match="policy"):
        simulate(MODEL, 10.0, 10, "fastest")
    with pytest.raises(BudgetError):
        simulate(MODEL, 10.0, 10_000_000)
    with pytest.raises(EngineError, match="ρ"):
        md1_wait(2.0, 0.5)


# ---- queueing theory: the simulator against closed forms -----------------------------------------


def _unbatched(service: str, rho: float, n: int = 200_000):
    s = MODEL.time(1)
    return simulate(MODEL, rho / s, n, "none", seed=3, service=service), rho / s, s


@pytest.mark.parametrize("service, formula", [("deterministic", md1_wait), ("exponential", mm1_wait)])
def test_mean_wait_matches_pollaczek_khinchine(service, formula):
    r, lam, s = _unbatched(service, 0.5)
    assert r.wait.mean() == pytest.approx(formula(lam, s), rel=0.03)


def test_pk_formula_special_cases():
    # M/M/1 textbook value (Kleinrock vol. 1, eq. 3.26): W = ρ/(1-ρ) · S; at ρ = 0.8, S = 1 → 4
    assert mm1_wait(0.8, 1.0) == pytest.approx(4.0)
    assert md1_wait(0.8, 1.0) == pytest.approx(2.0)
    assert pk_wait(0.5, 1.0, 1.0) == md1_wait(0.5, 1.0)


@pytest.mark.parametrize("policy", ["none", "static", "dynamic"])
def test_littles_law_holds_on_every_policy(policy):
    cap = MODEL.capacity(1 if policy == "none" else 8)  # a stable load for this policy
    r = simulate(MODEL, 0.6 * cap, 20_000, policy, 8, 0.002, seed=5)
    lam_observed = r.n / (max(r.finish) - min(r.arrival))
    # time-average number in system (an event sweep) = observed rate × mean sojourn time
    assert r.mean_in_system() == pytest.approx(lam_observed * r.latency.mean(), rel=1e-6)
    # and, for a long run, with the offered λ too
    assert r.mean_in_system() == pytest.approx(r.rate * r.latency.mean(), rel=0.03)


def test_poisson_arrivals_have_the_asked_rate():
    a = poisson_arrivals(250.0, 100_000, seed=1)
    assert len(a) / a[-1] == pytest.approx(250.0, rel=0.01)
    gaps = np.diff(a)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.02)  # exponential: CV = 1


# ---- batching policies --------------------------------------------------------------------------


def test_batching_beats_no_batching_beyond_one_request_capacity():
    rate = 3 * MODEL.capacity(1)  # three times what one-at-a-time can serve
    none = simulate(MODEL, rate, 3000, "none", seed=1)
    dyn = simulate(MODEL, rate, 3000, "dynamic", 8, 0.0, seed=1)
    assert none.throughput == pytest.approx(MODEL.capacity(1), rel=0.02)  # saturated
    assert dyn.throughput == pytest.approx(rate, rel=0.05)
    assert dyn.percentile(99) < none.percentile(99) / 10


def test_static_batches_are_full_and_dynamic_respects_the_delay():
    st_ = simulate(MODEL, 100.0, 1000, "static", 8, seed=2)
    assert all(size == 8 for *_, size in st_.batches)  # 1000 = 125 full batches
    dyn = simulate(MODEL, 100.0, 1000, "dynamic", 8, 0.004, seed=2)
    # at light load nobody waits longer than the delay (+ one pass the server may still be busy)
    assert dyn.wait.max() <= 0.004 + MODEL.time(8) + 1e-12
    assert max(size for *_, size in dyn.batches) <= 8
    assert dyn.percentile(50) < st_.percentile(50)


@settings(max_examples=25, deadline=None)
@given(
    rate=st.floats(10, 5000),
    batch=st.integers(1, 16),
    delay=st.floats(0, 0.01),
    policy=st.sampled_from(["none", "static", "dynamic"]),
    seed=st.integers(0, 99),
)
def test_simulation_invariants(rate, batch, delay, policy, seed):
    r = simulate(MODEL, rate, 300, policy, batch, delay, seed)
    start, finish, arrival = map(np.asarray, (r.start, r.finish, r.arrival))
    assert (start >= arrival - 1e-12).all() and (finish > start).all()
    assert sum(size for *_, size in r.batches) == r.n
    batch_timeline(r).check_no_overlap()  # one GPU: passes never overlap
    assert 0 < r.busy_fraction <= 1 + 1e-9


def test_load_sweep_shows_the_knee():
    rows = load_sweep(MODEL, [0.2, 0.95], ["dynamic"], n=3000, max_batch=8)
    assert rows[1]["p99"] > rows[0]["p99"]


# ---- LLM decoding -------------------------------------------------------------------------------

LLM = LLMModel(6.74e9, "fp16", H100.peak_flops, H100.bandwidth, 512 * 1024)


def test_step_time_decode_reads_weights_and_kv():
    assert float(LLM.step_time(0, 1, 0)) == pytest.approx(13.48e9 / 3.35e12)
    assert float(LLM.step_time(0, 8, 8000)) == pytest.approx((13.48e9 + 8000 * 524288) / 3.35e12)
    assert float(LLM.step_time(4096, 0, 0)) == pytest.approx(2 * 6.74e9 * 4096 / 989.4e12)


def test_continuous_batching_beats_static_under_load():
    req = draw_requests(20.0, 600, 256, 128, "geometric", 1024, seed=0)
    static, cont = (simulate_llm(LLM, req, p, 32).summary() for p in ("static", "continuous"))
    assert cont["tokens_per_s"] > 1.5 * static["tokens_per_s"]
    assert cont["ttft_p50"] < static["ttft_p50"] / 10


def test_fixed_lengths_no_queue_static_equals_continuous():
    # one request at a time, equal lengths: both policies run exactly the same iterations
    req = draw_requests(0.01, 20, 64, 16, "fixed", seed=4)
    a, b = (simulate_llm(LLM, req, p, 8) for p in ("static", "continuous"))
    assert np.allclose(a.returned, b.returned) and np.allclose(a.first, b.first)


def test_llm_tokens_and_timelines_are_consistent():
    req = draw_requests(50.0, 40, 32, 8, "uniform", seed=2)
    for policy in ("static", "continuous"):
        r = simulate_llm(LLM, req, policy, 4)
        assert (r.first > req.arrival).all() and (r.last >= r.first).all()
        assert (r.returned >= r.last).all()
        slot_timeline(r, 40).check_no_overlap()
    # a geometric distribution with mean m has mean m
    out = draw_requests(1.0, 2000, 8, 40, "geometric", 10_000, seed=1).output
    assert out.mean() == pytest.approx(40, rel=0.06)


def test_llm_refuses_nonsense():
    with pytest.raises(EngineError, match="distribution"):
        draw_requests(1.0, 10, dist="zipf")
    with pytest.raises(BudgetError):
        draw_requests(1.0, 5000, mean_out=1000, dist="fixed", max_out=1000)


# ---- KV cache -----------------------------------------------------------------------------------


def test_kv_bytes_match_published_figures():
    cfg = model_configs()
    per_token = {n: kv_bytes_per_token(c.layers, c.kv_heads, c.head_dim) for n, c in cfg.items()}
    # vLLM paper (Kwon et al. 2023) §3: "800 KB" per token for OPT-13B = 2·5120·40·2 bytes
    assert per_token["OPT-13B"] == 2 * 5120 * 40 * 2
    assert per_token["Llama-2-7B"] == 0.5 * MiB  # 2·32·4096·2
    assert per_token["Llama-2-70B"] == 2 * 80 * 8 * 128 * 2  # GQA: 8 KV heads, not 64
    assert per_token["Llama-2-70B"] / (2 * 80 * 8192 * 2) == pytest.approx(1 / 8)
    assert per_token["Falcon-7B (MQA)"] == 2 * 32 * 64 * 2
    assert kv_bytes_per_token(32, 32, 128, "int8") == 0.25 * MiB


def test_capacity_and_out_of_memory():
    cfg = model_configs()
    cap = capacity(cfg["Llama-2-7B"], 80, 4096, 1000, usable=0.9)
    expected_tokens = int((80 * 0.9 * (1 << 30) - 6.74e9 * 2) // (0.5 * MiB))
    assert cap.tokens == expected_tokens
    assert cap.sequences_contiguous == expected_tokens // 4096
    assert cap.sequences_paged == expected_tokens // 1008  # 1000 rounded up to 16-token blocks
    with pytest.raises(EngineError, match="GiB"):
        capacity(cfg["Llama-2-70B"], 80, 4096, 1000)  # 138 GB of fp16 weights


@settings(max_examples=30, deadline=None)
@given(
    block=st.sampled_from([1, 2, 4, 8, 16, 32, 64]),
    lengths=st.lists(st.integers(1, 2048), min_size=1, max_size=50),
)
def test_paged_waste_is_below_one_block_per_sequence(block, lengths):
    w = fragmentation(lengths, 2048, block)
    assert 0 <= w.reserved_paged - w.used_tokens <= len(lengths) * (block - 1)
    assert w.waste_paged <= w.waste_contiguous + 1e-12  # blocks dividing max_len never lose


def test_paged_waste_closed_form_for_uniform_lengths():
    # lengths uniform over whole blocks: on average (block − 1)/2 empty slots per sequence
    lengths = np.arange(1, 2049)
    w = fragmentation(lengths, 2048, 16)
    assert (w.reserved_paged - w.used_tokens) / len(lengths) == pytest.approx(7.5)
    assert w.waste_contiguous == pytest.approx(1 - 1024.5 / 2048)


def test_models_bigger_than_the_card_are_refused():
    with pytest.raises(EngineError, match="130.4 GiB"):
        ServiceModel(70e9, "fp16", H100.peak_flops, H100.bandwidth, memory=80 * 2**30)
    with pytest.raises(EngineError, match="card"):
        LLMModel(70e9, "fp16", H100.peak_flops, H100.bandwidth, 1.0, memory=80 * 2**30)
    assert LLMModel(70e9, "int8", H100.peak_flops, H100.bandwidth, 1.0, memory=80 * 2**30)


def test_every_batch_says_why_it_started():
    light = simulate(MODEL, 0.05 * MODEL.capacity(8), 500, "dynamic", 8, 0.004, seed=1)
    assert set(light.reasons) <= {"timeout", "full", "busy"} and "timeout" in light.reasons
    # a timed-out batch started exactly τ after its oldest request arrived
    first = 0
    for (s, _, size), why in zip(light.batches, light.reasons):
        if why == "timeout":
            assert s == pytest.approx(light.arrival[first] + 0.004)
        first += size
    full = simulate(MODEL, 10.0, 64, "static", 8, seed=1)
    assert set(full.reasons) == {"full"}
    assert "filled up" in batch_log(full, 0)
    with pytest.raises(EngineError, match="batch 99"):
        batch_log(full, 99)


def test_page_helpers_sweep_rates_capacity_and_policy_table():
    from engine.inference import kv_cache as kv
    from engine.inference import llm_serving as llm
    from engine.inference.serving import policy_table, simulate

    hw = hardware_presets()["A100 80GB SXM"]
    cfg = kv.model_configs()["Llama-2-7B"]
    model = llm.model_for(cfg, "fp16", hw.peak_flops, hw.bandwidth)
    # 32 layers x 32 KV heads x 128 dims x 2 (K and V) x 2 bytes = 512 KiB per token
    assert model.kv_bytes_per_token == 2 * 32 * 32 * 128 * 2
    rates = llm.sweep_rates(model, 16, 256, 64, fractions=(0.5, 1.0))
    step = float(model.step_time(0, 16, 16 * (256 + 64)))
    assert rates[1] == pytest.approx(16 / (64 * step), rel=1e-3) and rates[0] == pytest.approx(
        rates[1] / 2, rel=1e-2
    )
    longest, cap = kv.in_flight_capacity(cfg, 80, 256, 10_000)
    assert longest == cfg.max_context  # 256 + 8 x 10,000 is capped
    assert cap.sequences_paged >= cap.sequences_contiguous >= 1
    svc = ServiceModel(1e9, "fp16", hw.peak_flops, hw.bandwidth, 16)
    runs = {p: simulate(svc, 0.5 * svc.capacity(8), 2000, p, 8, 2e-3) for p in ("none", "dynamic")}
    rows = policy_table(runs, 16)
    dyn = rows[1]
    # Little's law L = λW holds for the simulated queue (a check independent of how L is computed)
    assert dyn["little_L"] == pytest.approx(dyn["requests/s"] * dyn["mean_latency (ms)"] / 1e3, rel=0.05)
    assert dyn["tokens/s"] == pytest.approx(16 * dyn["requests/s"], rel=1e-2)
