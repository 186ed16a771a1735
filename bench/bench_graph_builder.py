"""Graph Builder and graph layout timings (server side; the machine is shared, compare ratios)."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from bench.run import median_time

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "labs" / "graph_builder.py")


def _random_dag(n: int, seed: int = 0):
    from engine.core.ir import Graph, Node

    rnd = random.Random(seed)
    nodes = [Node("in0", "input", (), (), (2,))]
    for i in range(1, n):
        if rnd.random() < 0.15:
            nodes.append(Node(f"p{i}", "param", (), (), (2,)))
            continue
        recent = [x.name for x in nodes[-20:]]
        ins = tuple(dict.fromkeys(rnd.choice(recent) for _ in range(rnd.randint(1, 3))))
        nodes.append(Node(f"op#{i}", "add", ins, (), (2,)))
    return Graph(tuple(nodes), (nodes[-1].name,))


def _apptest_times(repeat: int = 3) -> tuple[float, float, float]:
    """Median seconds of a default render (warm cache), a switch to a preset never shown before
    (parse, cost, run and figure all computed) and a switch back to one already shown (cached)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()  # cold: imports, caches
    renders, cold, warm = [], [], []
    for preset in ("conv_bn_relu", "self_attention", "resnet_basic_block")[:repeat]:
        t0 = time.perf_counter()
        at.run()
        renders.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        at.selectbox(key="gb_preset").set_value(preset).run()
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        at.selectbox(key="gb_preset").set_value("mlp").run()
        warm.append(time.perf_counter() - t0)
    return statistics.median(renders), statistics.median(cold), statistics.median(warm)


def run() -> list[dict]:
    from viz.graph import graph_figure
    from viz.graph_layout import compute_layout

    render, cold, warm = _apptest_times()
    rows = [
        dict(
            name="graph_builder default render (AppTest, warm)",
            value=render * 1e3,
            unit="ms",
            target="< 150 ms",
            note="median of 3 reruns of the default mlp preset",
        ),
        dict(
            name="graph_builder change to a new preset (AppTest)",
            value=cold * 1e3,
            unit="ms",
            target="< 300 ms",
            note="median over conv_bn_relu, self_attention, resnet_basic_block",
        ),
        dict(
            name="graph_builder change back to a shown preset",
            value=warm * 1e3,
            unit="ms",
            target="< 150 ms",
            note="median of 3 switches back to mlp (cached)",
        ),
    ]
    for n, target in ((300, "< 200 ms"), (2000, "< 1000 ms")):
        g = _random_dag(n, seed=n)
        rows.append(
            dict(
                name=f"layout of a {n}-node graph",
                value=median_time(lambda g=g: compute_layout(g), repeat=3) * 1e3,
                unit="ms",
                target=target,
                note="viz.graph_layout.compute_layout, random DAG",
            )
        )
        rows.append(
            dict(
                name=f"graph_figure of a {n}-node graph",
                value=median_time(lambda g=g: graph_figure(g), repeat=3) * 1e3,
                unit="ms",
                target="",
                note="layout + plotly traces",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
