"""engine.simulate on the zoo ResNet-18 graph: every target, median of several runs after the first call."""

from __future__ import annotations

from bench.run import median_time
from engine.hw.graph_sim import simulate
from engine.interop.torch_zoo import zoo_graph

TARGETS = {
    "systolic": (
        {"rows": 32, "cols": 32, "dataflow": "ws"},
        lambda r: f"{r.total('cycles'):,} cycles, utilisation {r.total('utilization'):.1f} %",
    ),
    "davinci": (
        {},
        lambda r: f"{r.total('cycles'):,.0f} cycles, Cube busy {100 * r.total('cube_utilization'):.1f} %",
    ),
    "gpu": (
        {"hardware": "A100 40GB SXM"},
        lambda r: f"{r.total('time_s') * 1e6:.1f} µs at {r.total('attainable') / 1e12:.0f} TFLOP/s",
    ),
}


def run() -> list[dict]:
    graph = zoo_graph("resnet18")  # exported once through ONNX (not timed)
    rows = []
    for target, (config, summary) in TARGETS.items():
        t = median_time(lambda target=target, config=config: simulate(graph, target, **config), repeat=7)
        r = simulate(graph, target, **config)
        rows.append(
            dict(
                name=f"simulate(resnet18, {target!r})",
                value=t * 1e3,
                unit="ms",
                target="≤ 300 ms",
                note=f"{len(r.layers)} layers; {summary(r)}",
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
