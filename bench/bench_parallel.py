"""Distributed-training lab benchmarks: schedule generation, config search, gloo all-reduce."""

from __future__ import annotations

from bench.run import median_time
from engine.parallel import LINKS, MODELS, Cluster, allreduce_time, pipeline_schedule, search
from engine.parallel.real_run import run_real


def run() -> list[dict]:
    rows = []
    t = median_time(lambda: pipeline_schedule(8, 64, "interleaved", 2), repeat=5)
    rows.append(
        dict(
            name="interleaved schedule p=8 m=64 v=2 (2,048 ops)",
            value=t * 1e3,
            unit="ms",
            target="< 200 ms",
            note="event simulation incl. dependency checks",
        )
    )
    cluster = Cluster(nodes=128)
    t = median_time(lambda: search(MODELS["GPT-3 175B"], cluster, 1536), repeat=5)
    n = len(search(MODELS["GPT-3 175B"], cluster, 1536))
    rows.append(
        dict(
            name="config search GPT-3 175B on 1,024 GPUs",
            value=t * 1e3,
            unit="ms",
            target="< 500 ms",
            note=f"{n} (dp, tp, pp) configurations ranked",
        )
    )
    res = run_real(2, timeout=60, sizes=(1 << 20,), repeats=9)
    measured = res.timings[0][1]
    model = allreduce_time(1 << 20, 2, LINKS["PCIe 4.0 x16"])
    rows.append(
        dict(
            name="gloo all-reduce 1 MiB, 2 processes",
            value=measured * 1e6,
            unit="µs",
            target="",
            note=f"α-β PCIe 4.0 model {model * 1e6:.0f} µs "
            f"(ratio {measured / model:.1f}×); run wall {res.wall_s:.1f} s; "
            f"real == simulated: {res.agrees}",
        )
    )
    return rows
