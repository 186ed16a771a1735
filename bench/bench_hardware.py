"""Hardware lab timings: the analytic systolic model, the cycle-level animation, the DaVinci pipeline."""

from __future__ import annotations

import numpy as np

from bench.run import median_time
from engine.hw import cube_matmul, simulate_systolic, systolic


def run() -> list[dict]:
    rows = []
    t = median_time(lambda: systolic(100_000, 100_000, 100_000, 128, 128, "ws"), repeat=7)
    rows.append(
        dict(
            name="systolic() 1e5³ GEMM on 128×128",
            value=t * 1e6,
            unit="µs",
            target="< 1000 µs",
            note="closed forms, O(1) in the GEMM size",
        )
    )
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    for df in ("os", "ws"):
        t = median_time(lambda df=df: simulate_systolic(A, B, 8, 8, df), repeat=5)
        cycles = systolic(8, 8, 8, 8, 8, df)["cycles"]
        rows.append(
            dict(
                name=f"cycle-level animation 8×8×8 on 8×8 ({df})",
                value=t * 1e3,
                unit="ms",
                target="< 50 ms",
                note=f"{cycles} cycles, {t / cycles * 1e6:.0f} µs per cycle",
            )
        )
    t = median_time(lambda: cube_matmul(1024, 1024, 1024), repeat=3)
    a32 = rng.standard_normal((1024, 1024)).astype(np.float32)
    base = median_time(lambda: a32 @ a32, repeat=3)
    r = cube_matmul(1024, 1024, 1024)
    rows.append(
        dict(
            name="cube_matmul 1024³ (128³ tiles, double-buffered)",
            value=t,
            unit="s",
            target="< 2 s",
            note=f"{t / base:.1f}× a plain numpy fp32 1024³ matmul "
            f"({base * 1e3:.0f} ms, same run); {len(r.timeline.events)} "
            f"events, Cube utilisation {100 * r.cube_utilization:.1f}%",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
