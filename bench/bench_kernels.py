"""Kernels lab benchmarks: cache simulation of a 64^3 GEMM, conv algorithms vs torch, flash vs plain."""

from __future__ import annotations

import numpy as np

from bench.run import median_time


def run() -> list[dict]:
    import torch

    from engine.kernels import conv, gemm
    from engine.kernels import flash_attention as fa
    from engine.kernels.cache_sim import CacheConfig, simulate

    rows = []
    sched = gemm.make_schedule(64, 64, 64, "ijk")
    addr, writes, ids = gemm.address_trace(sched)
    cache = CacheConfig(8192, 64, 8)
    t_sim = median_time(lambda: simulate(addr, cache, writes, ids), repeat=3)
    rows.append(
        dict(
            name="cache sim, 64^3 GEMM ijk trace (786k accesses)",
            value=t_sim,
            unit="s",
            target="< 1 s",
            note=f"{addr.size / t_sim / 1e6:.2f} M accesses/s",
        )
    )
    t_full = median_time(lambda: gemm.run_gemm(gemm.make_schedule(64, 64, 64, "ikj", 16)), repeat=3)
    rows.append(
        dict(
            name="trace + sim, 64^3 GEMM ikj tile 16",
            value=t_full,
            unit="s",
            target="< 1 s",
            note="what one page interaction costs",
        )
    )

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 32, 32, 32))
    w = rng.standard_normal((32, 32, 3, 3))
    xt, wt = torch.tensor(x), torch.tensor(w)
    t_torch = median_time(lambda: torch.nn.functional.conv2d(xt, wt, padding=1))
    for alg in conv.ALGORITHMS:
        t = median_time(lambda alg=alg: conv.conv2d(x, w, 1, 1, alg))
        rows.append(
            dict(
                name=f"conv2d {alg} 1x32x32x32, 32 filters 3x3 (fp64)",
                value=t / t_torch,
                unit="x torch",
                target="",
                note=f"{t * 1e3:.2f} ms vs torch {t_torch * 1e3:.2f} ms",
            )
        )

    q, k, v = (rng.standard_normal((512, 64)) for _ in range(3))
    t_plain = median_time(lambda: fa.standard_attention(q, k, v))
    t_flash = median_time(lambda: fa.flash_attention(q, k, v, sram=4096), repeat=3)
    rows.append(
        dict(
            name="flash vs plain attention, N=512 d=64 M=4096",
            value=t_flash / t_plain,
            unit="x plain",
            target="",
            note=f"flash {t_flash * 1e3:.1f} ms (1,024 Python-level "
            f"block steps), plain {t_plain * 1e3:.2f} ms (one numpy GEMM chain)",
        )
    )
    return rows
