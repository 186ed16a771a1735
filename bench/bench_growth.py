"""Growth: how every engine entry point's time scales with the size of its input (issue 19).

Each entry point runs on inputs of size n, 10n and, where that stays cheap and inside the budgets,
100n; a row reports the times and the least-squares slope of log(time) against log(size).
A slope near 1 is linear; n log n over a decade reads about 1.05-1.1; quadratic reads 2. Target
<= 1.15. Each time is the fastest of a few calls after a warm-up call (see :func:`_time`). Per-node
costs still rise somewhat with size for reasons that are not the algorithm (a 19k-node graph's
objects no longer fit the caches, the garbage collector scans more), so a linear pass can read
1.1-1.2 on a busy machine; an algorithm that is quadratic anywhere reads 1.5 and more. The inputs:
  * graphs: a chain of small residual blocks (conv2d, batchnorm, relu, an add with the block's input,
    a constant subexpression, a duplicated relu and a dead op, so that every pass has work), built
    with the GraphBuilder; about 16 nodes per block;
  * programs: the same blocks as program text, 4 lines a block (the language's character budget,
    50,000, caps them at 400 blocks);
  * buffer lists for the memory planners: the chain-like lifetimes of the block graph plus a few
    long-lived buffers, as real networks have; and the planner's worst case, n buffers all live in
    the same ten ops (best fit then compares every pair: quadratic, and the lifetime budget, which
    sums lifetime lengths, does not see it);
  * ONNX bytes: the block graph exported with engine.to_onnx, read back with engine.from_onnx.
The ONNX rows stop at 10n (120 blocks): a 1,200-block round trip takes seconds.
"""

from __future__ import annotations

import gc
import time

import numpy as np


def _block_graph(blocks: int):
    from engine.core.ir import GraphBuilder

    b = GraphBuilder(f"{blocks} residual blocks")
    h = b.input((1, 4, 6, 6), name="x")
    for k in range(blocks):
        w = b.param((4, 4, 3, 3), name=f"w{k}")
        gamma = b.param((4,), init="uniform", name=f"g{k}")
        beta, mean = b.param((4,), name=f"b{k}"), b.param((4,), name=f"m{k}")
        var = b.param((4,), init="uniform", name=f"v{k}")
        c = b.op("conv2d", h, w, pad=1, name=f"c{k}")
        n = b.op("batchnorm", c, gamma, beta, mean, var, name=f"n{k}")
        r1, r2 = b.op("relu", n, name=f"r{k}"), b.op("relu", n, name=f"q{k}")  # CSE merges them
        scale = b.op("mul", b.constant(0.5, name=f"h{k}"), b.constant(2.0, name=f"t{k}"), name=f"s{k}")
        b.op("neg", r1, name=f"dead{k}")  # DCE removes it
        h = b.op("add", b.op("mul", r1, scale, name=f"p{k}"), b.op("add", r2, h, name=f"a{k}"), name=f"o{k}")
    return b.build()


def _block_program(blocks: int) -> str:
    lines = ["x = input([1, 4, 6, 6])"]
    for k in range(blocks):
        lines += [
            f"w{k} = param([4, 4, 3, 3])",
            f"c{k} = conv2d(x, w{k}, pad=1)",
            f"r{k} = relu(c{k})",
            f"x = r{k} + x * 0.5",
        ]
    return "\n".join(lines) + "\n"


def _buffers(graph) -> list[tuple[int, int, int]]:
    from engine.compiler.memory_plan import graph_buffers

    bufs = list(graph_buffers(graph)[1])
    ops = max(b[2] for b in bufs) + 1
    return bufs + [(64, 0, ops - 1), (128, ops // 4, 3 * ops // 4)]  # a few long-lived buffers


def slope(sizes, times) -> float:
    """Least-squares slope of log(time) against log(size)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(times, float))
    return float(np.polyfit(x, y, 1)[0])


def _time(fn) -> float:
    """Seconds of one call: the fastest of 7 after a warm-up call (3 over 50 ms, 2 over 0.5 s).

    The minimum, not the median: on a shared machine a slow call measures the neighbours; and the
    warm-up keeps first-call caches (the interpreter's plan and drawn weights) out of the growth."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    repeat = 2 if once > 0.5 else 3 if once > 0.05 else 7
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _row(name: str, unit: str, sizes, fn, make) -> dict:
    times = []
    for s in sizes:
        arg = make(s)
        times.append(_time(lambda a=arg: fn(a)))
    k = slope(sizes, times)
    shown = ", ".join(f"{s:,} {unit}: {t * 1e3:.3g} ms" for s, t in zip(sizes, times))
    return dict(
        name=f"growth of {name}",
        value=k,
        unit="log-log slope",
        target="<= 1.15",
        note=("OK; " if k <= 1.15 else "superlinear; ") + shown,
    )


def run() -> list[dict]:
    import engine
    from engine.compiler import memory_plan
    from engine.compiler.passes import PASSES

    graphs: dict[int, object] = {}

    def graph(blocks: int):
        if blocks not in graphs:
            graphs[blocks] = _block_graph(blocks)
        return graphs[blocks]

    def nodes(blocks: int) -> int:
        return len(graph(blocks).nodes)

    small, big = (12, 120), (12, 120, 1200)  # blocks; 1200 blocks ~ 19k nodes (budget 20k)
    onnx_bytes = {s: engine.to_onnx(graph(s)) for s in small}
    rows = []
    for label, blocks, fn in (
        ("engine.optimize (all passes but layout)", big, lambda g: engine.optimize(g, _ALL)),
        ("the layout pass (NHWC)", big, lambda g: PASSES["layout"].run(g)),
        ("the layout pass (NC1HWC0)", big, lambda g: PASSES["layout:NC1HWC0"].run(g)),
        ("engine.graph_layouts (layout lens)", big, engine.graph_layouts),
        ("memory_plan.plan_graph (liveness + greedy by size)", big, memory_plan.plan_graph),
        ("engine.cost", big, engine.cost),
        ("engine.run (the interpreter)", big, engine.run),
    ):
        row = _row(label, "blocks", blocks, fn, graph)
        row["note"] += f" ({nodes(blocks[-1]):,} nodes at the largest)"
        rows.append(row)
    for name in _ALL:
        rows.append(_row(f"pass {name}", "blocks", big, PASSES[name].run, graph))
    for strategy in ("greedy_by_size", "greedy_by_breadth"):
        rows.append(
            _row(
                f"engine.plan_memory ({strategy})",
                "blocks",
                big,
                lambda bufs, s=strategy: engine.plan_memory(bufs, s),
                lambda s: _buffers(graph(s)),
            )
        )
    # the worst case is quadratic by nature (best fit compares every pair of live buffers); the budget
    # on overlapping pairs (200,000) refuses it past ~630 buffers, before any work
    worst = _row(
        "engine.plan_memory (greedy_by_size), every lifetime overlapping",
        "buffers",
        (63, 630),
        engine.plan_memory,
        lambda n: [(64 + k % 7, 0, 10) for k in range(n)],
    )
    worst["target"] = "~2 (quadratic), bounded"
    worst["note"] = worst["note"].replace("superlinear; ", "quadratic as expected; refused past ~630; ")
    rows.append(worst)
    rows.append(_row("engine.from_onnx", "blocks", small, engine.from_onnx, onnx_bytes.__getitem__))
    rows.append(_row("engine.to_onnx", "blocks", small, engine.to_onnx, graph))
    rows.append(_row("engine.parse_program", "blocks", (4, 40, 400), engine.parse_program, _block_program))
    return rows


_ALL = ["constant_folding", "simplify", "cse", "dce", "fusion"]

if __name__ == "__main__":
    for r in run():
        print(r)
