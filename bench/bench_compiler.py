"""Compiler lab benchmarks: the whole pass pipeline plus memory planning on synthetic graphs.

The graph repeats a residual block with something for every pass to do (a constant subexpression,
``x*1``, a double transpose, a duplicate expression, a dead branch, fusable chains), so a 10k-node
graph exercises every pass. Growth is reported as time(10k) / time(1k): ~10 means linear.
"""

from __future__ import annotations

import numpy as np

from bench.run import median_time
from engine.compiler.lab import random_buffers
from engine.compiler.memory_plan import plan_graph, plan_memory
from engine.compiler.passes import PASSES, optimize
from engine.core.ir import GraphBuilder

PIPELINE = ["constant_folding", "simplify", "cse", "dce", "fusion", "layout"]


def synthetic_graph(n_nodes: int):
    """About ``n_nodes`` nodes of repeated residual blocks on a (1, 4, 4, 4) activation."""
    b = GraphBuilder(f"synthetic {n_nodes}")
    h = b.input((1, 4, 4, 4), name="x")
    one = b.constant(1.0)
    while len(b._nodes) < n_nodes - 20:
        conv = b.op("conv2d", h, b.param((4, 4, 1, 1)))
        bn = b.op("batchnorm", conv, *[b.param((4,), init="uniform") for _ in range(4)])
        c = b.op("mul", b.constant(np.full(4, 2.0)), b.constant(np.full(4, 0.5)))  # folds
        a = b.op("matmul", b.op("relu", bn), b.param((4, 4)))
        a = b.op("mul", b.op("add", a, c), one)  # x*1
        t = b.op("transpose", b.op("transpose", a))  # cancels
        r1, r2 = b.op("relu", t), b.op("relu", t)  # duplicate
        b.op("exp", r1)  # dead
        h = b.op("add", b.op("add", r1, r2), h)
    return b.build([h])


def _pipeline(graph):
    out, _ = optimize(graph, PIPELINE)
    plan_graph(out, "greedy_by_size")


def run() -> list[dict]:
    assert set(PIPELINE) <= set(PASSES)
    g1k, g10k = synthetic_graph(1_000), synthetic_graph(10_000)
    t1 = median_time(lambda: _pipeline(g1k), repeat=5)
    t10 = median_time(lambda: _pipeline(g10k), repeat=5)
    bufs = random_buffers(10_000, seed=0)
    tp = median_time(lambda: plan_memory(bufs, "greedy_by_size"), repeat=5)
    tb = median_time(lambda: plan_memory(bufs, "greedy_by_breadth"), repeat=5)
    return [
        dict(name="pipeline+planning, 1k nodes", value=t1, unit="s", target="", note=str(PIPELINE)),
        dict(
            name="pipeline+planning, 10k nodes",
            value=t10,
            unit="s",
            target="< 1 s",
            note=f"{len(g10k)} nodes",
        ),
        dict(
            name="growth time(10k)/time(1k)",
            value=t10 / t1,
            unit="x",
            target="~10 (linear)",
            note="no O(N^2) loops",
        ),
        dict(name="greedy_by_size, 10k random buffers", value=tp, unit="s", target="", note=""),
        dict(name="greedy_by_breadth, 10k random buffers", value=tb, unit="s", target="", note=""),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
