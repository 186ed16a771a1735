"""Lens timings on the zoo ResNet-18 graph: layouts of every tensor, the serving model and its
batch-cost curve, and the edge report over every device preset (median after a first call)."""

from __future__ import annotations

from bench.run import median_time
from engine.compiler.layouts import graph_layouts
from engine.inference.graph_serving import batch_cost_curve, graph_edge_report, model_from_graph
from engine.inference.serving import simulate
from engine.interop.torch_zoo import zoo_graph

HW = "A100 80GB SXM"
MIB = float(1 << 20)


def run() -> list[dict]:
    graph = zoo_graph("resnet18")  # torch -> ONNX -> Graph once (cached), outside the timings
    rows = []
    lay = graph_layouts(graph)
    t = median_time(lambda: graph_layouts(graph), repeat=7)
    pads = ", ".join(f"{name} {lay.overhead(name) / MIB:.1f}" for name in lay.layouts)
    rows.append(
        dict(
            name=f"graph_layouts, {len(lay.tensors)} tensors x 4 layouts",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"padding MiB: {pads}",
        )
    )
    model = model_from_graph(graph, HW)
    t = median_time(lambda: model_from_graph(graph, HW), repeat=7)
    rows.append(
        dict(
            name=f"model_from_graph on {HW}",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{model.params / 1e6:.2f} M params, {model.flops / 1e9:.2f} GFLOPs, "
            f"{model.act_bytes / MIB:.1f} MiB activations per request",
        )
    )
    sizes = list(range(1, 257))
    t = median_time(lambda: batch_cost_curve(graph, HW, sizes), repeat=7)
    curve = batch_cost_curve(graph, HW, sizes)
    rows.append(
        dict(
            name="batch_cost_curve, batch 1..256",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"b=1 {curve[0].time_s * 1e6:.1f} µs ({curve[0].bound}), "
            f"b=256 {curve[-1].time_s * 1e3:.2f} ms ({curve[-1].bound})",
        )
    )
    rate = 0.7 * model.capacity(8)
    t = median_time(lambda: simulate(model, rate, 10_000, "dynamic", 8, 0.002), repeat=5)
    rows.append(
        dict(
            name="simulate 10,000 requests on the ResNet-18 model (dynamic)",
            value=t * 1e3,
            unit="ms",
            target="< 200 ms",
            note=f"λ = {rate:,.0f} req/s",
        )
    )
    report = graph_edge_report(graph)
    t = median_time(lambda: graph_edge_report(graph), repeat=7)
    best = "; ".join(f"{o.device}: {o.best.label} {o.best.latency * 1e3:.1f} ms" for o in report.options)
    rows.append(
        dict(
            name=f"graph_edge_report, {len(report.options)} devices x {report.layers + 1} cuts",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=best,
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
