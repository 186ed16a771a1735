"""Kernel-layer and LLM-analyzer timings: the micro-kernel searches (closed form and brute force) for every
SIMD width, the numpy emulation of the blocked loop, and one LLM analysis of both phases."""

from __future__ import annotations

from bench.run import median_time
from engine.inference import llm_layers as ll
from engine.kernels import micro_kernel as mk


def run() -> list[dict]:
    rows = []
    t = median_time(lambda: [mk.brute_force_best(name) for name in mk.ISAS], repeat=5)
    rows.append(
        dict(
            name="micro-kernel brute-force search, NEON + AVX2 + AVX-512",
            value=t * 1e3,
            unit="ms",
            target="< 100 ms",
            note=f"{sum(len(mk.search_grid(n)) for n in mk.ISAS):,} tiles",
        )
    )
    t = median_time(lambda: [mk.model_best(name) for name in mk.ISAS], repeat=5)
    rows.append(
        dict(
            name="micro-kernel closed-form pick, three ISAs",
            value=t * 1e3,
            unit="ms",
            target="< 20 ms",
            note="equals the brute force (tests/test_micro_kernel.py)",
        )
    )
    e = mk.emulate(256, 256, 256, 6, 16)
    rows.append(
        dict(
            name="numpy emulation of the 6x16 blocked loop, 256^3",
            value=e.emulated_s * 1e3,
            unit="ms",
            target="< 500 ms",
            note=f"BLAS A @ B {e.blas_s * 1e3:.2f} ms; max error {e.max_abs_error:.1e}",
        )
    )
    cfg = ll.PRESETS["Llama-2-70B"]
    t = median_time(lambda: ll.analyze(cfg, "H100 SXM", 4096, 4096, 8), repeat=7)
    rows.append(
        dict(
            name="LLM analyzer, Llama-2-70B, prefill + decode",
            value=t * 1e3,
            unit="ms",
            target="< 20 ms",
            note="19 ops per phase on the roofline",
        )
    )
    return rows
