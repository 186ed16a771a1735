"""Serving lab timings: the discrete-event simulators on 10,000 requests per policy, and the split search."""

from __future__ import annotations

from bench.run import median_time
from engine import hardware_presets
from engine.inference.edge_cloud import best_split, networks, split_points, targets, zoo_chain
from engine.inference.llm_serving import LLM_POLICIES, LLMModel, draw_requests, simulate_llm
from engine.inference.serving import POLICIES, ServiceModel, simulate


def run() -> list[dict]:
    hw = hardware_presets()["A100 80GB SXM"]
    rows = []
    model = ServiceModel(1e9, "fp16", hw.peak_flops, hw.bandwidth, 16, overhead=2e-4)
    rate = 0.7 * model.capacity(8)
    for policy in POLICIES:
        t = median_time(lambda p=policy: simulate(model, rate, 10_000, p, 8, 0.002), repeat=5)
        rows.append(
            dict(
                name=f"simulate 10,000 requests, policy {policy}",
                value=t * 1e3,
                unit="ms",
                target="< 200 ms",
                note=f"{t / 1e4 * 1e6:.1f} µs per request",
            )
        )
    llm = LLMModel(6.74e9, "fp16", hw.peak_flops, hw.bandwidth, 524288)
    req = draw_requests(40.0, 10_000, 256, 16, "geometric", 128)
    for policy in LLM_POLICIES:
        t = median_time(lambda p=policy: simulate_llm(llm, req, p, 32), repeat=3)
        r = simulate_llm(llm, req, policy, 32)
        rows.append(
            dict(
                name=f"LLM decode 10,000 requests (mean 16 tokens), {policy}",
                value=t * 1e3,
                unit="ms",
                target="< 2000 ms",
                note=f"{r.iterations:,} iterations, {t / r.iterations * 1e6:.1f} µs each",
            )
        )
    T, N = targets(), networks()
    chain = zoo_chain("VGG-16")
    t = median_time(
        lambda: best_split(split_points(chain, T["Phone CPU (assumed)"], T["A100 80GB SXM"], N["LTE"])),
        repeat=7,
    )
    rows.append(
        dict(
            name="Neurosurgeon split search, VGG-16 (22 cut points)",
            value=t * 1e3,
            unit="ms",
            target="< 20 ms",
            note="all cut points evaluated",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
