"""Inference-engine and conversion labs: the engine pipeline on ResNet-18, its kernel tuning, and the
two conversion paths on ResNet-18.

Rows: calibration; tuning every candidate kernel of ResNet-18's distinct conv shapes (3 timed runs
each) and how often the calibrated cost model picks the measured fastest; the pipeline's stages on
ResNet-18 (cost-model policy; its Winograd filters are pre-packed in the offline choose-kernels
stage, as the interpreter keeps them for its warm engine.run) with the online run against the
interpreter's plain engine.run (both on one BLAS thread, and engine.run with the default threads
too); the
direct conversion (torch.fx and torch.export), the ONNX path with mapping, and the opset table
(weights held aside while onnx's converter runs, against the whole model through it). The machine is shared:
medians, and the ratios say more than the absolute times.
"""

from __future__ import annotations

import statistics
import time

from bench.run import median_time


def run() -> list[dict]:
    import engine
    from engine.inference import engine_pipeline as ep
    from engine.inference import kernel_choice as kc
    from engine.interop.conversion import onnx_with_mapping
    from engine.interop.conversion_models import build
    from engine.interop.torch_direct import from_torch_direct
    from engine.interop.torch_zoo import zoo_graph, zoo_onnx

    rows = []
    t0 = time.perf_counter()
    machine = kc.calibrate()
    rows.append(
        dict(
            name="calibrate (GEMM rate, bandwidth, call cost)",
            value=(time.perf_counter() - t0) * 1e3,
            unit="ms",
            target="< 1000 ms",
            note=f"F {machine.gemm_flops / 1e9:.1f} GFLOP/s, B {machine.bandwidth / 1e9:.1f} GB/s, "
            f"c {machine.call_s * 1e6:.2f} µs",
        )
    )
    graph = zoo_graph("resnet18")
    t0 = time.perf_counter()
    tuning = kc.tune(graph, repeats=3)
    choices = kc.choose(kc.conv_layers(graph), machine, tuning, "cost_model")
    agree = sum(c.predicted == c.fastest for c in choices if c.fastest)
    rows.append(
        dict(
            name="tune ResNet-18 (every kernel, distinct conv shapes, 3 runs)",
            value=time.perf_counter() - t0,
            unit="s",
            target="< 8 s (its budget)",
            note=f"{len(tuning.times)} shapes, {tuning.skipped} skipped; model = measured on "
            f"{agree}/{sum(1 for c in choices if c.fastest)} layers",
        )
    )
    trace = ep.run_pipeline(graph, ep.EngineConfig(), machine, tuning)
    stages = {s.name: s.seconds for s in trace.summary.stages}
    rows.append(
        dict(
            name="engine pipeline on ResNet-18, all stages",
            value=sum(stages.values()),
            unit="s",
            target="",
            note=", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in stages.items()),
        )
    )
    with kc.one_blas_thread():
        plain = median_time(lambda: engine.run(graph), repeat=3)
    threads = median_time(lambda: engine.run(graph), repeat=3)
    rows.append(
        dict(
            name="ResNet-18: engine's run stage / engine.run, both one BLAS thread",
            value=stages["run"] / plain,
            unit="×",
            target="~1",
            note=f"run stage {stages['run'] * 1e3:.0f} ms, engine.run {plain * 1e3:.0f} ms "
            f"({threads * 1e3:.0f} ms with default threads); max diff {trace.summary.max_diff:.1e}",
        )
    )
    module, x = build("resnet18")
    for tracer in ("fx", "export"):
        t = median_time(lambda tr=tracer: from_torch_direct(module, x, tr), repeat=3)
        rows.append(
            dict(
                name=f"direct conversion of ResNet-18 ({tracer})",
                value=t * 1e3,
                unit="ms",
                target="< 2000 ms",
                note="trace + map 173 nodes, weights copied",
            )
        )
    data = zoo_onnx("resnet18")
    t = median_time(lambda: onnx_with_mapping(data), repeat=3)
    rows.append(
        dict(
            name="ONNX path of ResNet-18 with its mapping (export cached)",
            value=t * 1e3,
            unit="ms",
            target="< 2000 ms",
            note="from_onnx's checks + the mapping pass",
        )
    )
    rows.append(_opset_row())
    return rows


def _opset_row() -> dict:
    """The model-conversion lab's opset table on ResNet-18, with and without holding the weights aside
    while onnx's converter runs (the same minute, alternating, so the ratio is fair on a noisy machine)."""
    from engine.interop import opset_conversion as oc

    def table(strip: bool) -> float:
        saved = oc.STRIP_BYTES
        oc.STRIP_BYTES = saved if strip else 1 << 62  # nothing is that large: the whole model goes in
        try:
            t0 = time.perf_counter()
            oc.opset_table("resnet18")
            return time.perf_counter() - t0
        finally:
            oc.STRIP_BYTES = saved

    table(True)
    light, whole = [], []
    for _ in range(3):
        light.append(table(True))
        whole.append(table(False))
    a, b = statistics.median(light), statistics.median(whole)
    return dict(
        name="opset table of ResNet-18 (export, 6 targets, imports, round trips)",
        value=a * 1e3,
        unit="ms",
        target="< 2500 ms",
        note=f"whole model through the converter: {b * 1e3:.0f} ms ({b / a:.2f}x); medians of 3, alternating",
    )
