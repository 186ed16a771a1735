"""The quantisation lens on the zoo ResNet-18 graph (batch 1, 224x224, real weights as param values).

Rows: engine.quantize's first call (it runs the float graph once to calibrate) and its median after
it (calibration is cached per graph and seed; the 11.7 M weights are observed and quantised every
call), per tensor and per channel; engine.run of the quantised graph against the float graph's
(after one warm-up run, which dequantises the stored int8 weights once for the graph's life, so
the rest is the activations' Q/DQ);
engine.quant_report (a float run, a quantised run, each layer once more); and the report's numbers:
top-1 agreement and output error against the float graph, model bytes before/after.
"""

from __future__ import annotations

import time

import numpy as np

from bench.run import median_time


def run() -> list[dict]:
    import engine
    from engine.interop.torch_zoo import example_input, zoo_graph

    graph = zoo_graph("resnet18", 1)
    feeds = {graph.inputs[0].name: example_input("resnet18", 1).numpy()}
    t0 = time.perf_counter()
    engine.quantize(graph)
    first = time.perf_counter() - t0
    rows = [
        dict(
            name="engine.quantize ResNet-18 int8, first call",
            value=first * 1e3,
            unit="ms",
            target="",
            note="includes the calibration run of the float graph",
        )
    ]
    for gran in ("per_tensor", "per_channel"):
        again = median_time(lambda g=gran: engine.quantize(graph, granularity=g), repeat=5, warmup=0)
        rows.append(
            dict(
                name=f"engine.quantize ResNet-18 int8 {gran} (median of 5)",
                value=again * 1e3,
                unit="ms",
                target="<= 300",
                note="OK" if again <= 0.3 else "over target",
            )
        )
    q = engine.quantize(graph, granularity="per_channel")
    t_q = median_time(lambda: engine.run(q, feeds), repeat=3)
    t_f = median_time(lambda: engine.run(graph, feeds), repeat=3)
    rows += [
        dict(
            name="engine.run quantised ResNet-18 (median of 3)",
            value=t_q * 1e3,
            unit="ms",
            target="",
            note=f"float graph {t_f * 1e3:.0f} ms: Q/DQ cost {t_q / t_f:.2f}x",
        )
    ]
    t0 = time.perf_counter()
    report = engine.quant_report(graph, q, feeds)
    t_report = time.perf_counter() - t0
    ours, ref = engine.run(q, feeds)[q.outputs[0]], engine.run(graph, feeds)[graph.outputs[0]]
    worst = max(report.layers, key=lambda ly: ly.alone)
    rows += [
        dict(
            name="engine.quant_report ResNet-18 (one call)",
            value=t_report * 1e3,
            unit="ms",
            target="",
            note=f"{len(report.layers)} layers; most sensitive alone: {worst.layer} ({worst.alone:.2%})",
        ),
        dict(
            name="quantised ResNet-18 output error vs float",
            value=report.outputs[0][1],
            unit="",
            target="< 0.05",
            note=f"same top-1 class: {int(np.argmax(ours)) == int(np.argmax(ref))}",
        ),
        dict(
            name="ResNet-18 model bytes float / int8",
            value=report.compression,
            unit="x",
            target="~4",
            note=f"{report.bytes_before / 2**20:.1f} MiB -> "
            f"{report.bytes_after / 2**20:.1f} MiB; {report.quantize_nodes} Q, "
            f"{report.dequantize_nodes} DQ nodes",
        ),
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
