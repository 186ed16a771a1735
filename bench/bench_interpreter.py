"""Interpreter speed: engine.run on ResNet-18 (batch 1, 224x224) against onnxruntime on the same ONNX.

Rows: the two medians (5 repeats each, after a warm-up), their ratio (target <= 3x), and the time to
parse the largest preset program. Both runtimes are limited to the same thread count as numpy's BLAS
would use by default (onnxruntime's default); the machine is shared, so compare the ratio.
"""
from __future__ import annotations

import time

import numpy as np

from bench.run import median_time


def run() -> list[dict]:
    import onnxruntime as ort

    import engine
    from engine.language import parse_program
    from engine.presets import PROGRAMS
    from engine.torch_zoo import example_input, zoo_graph, zoo_onnx

    t0 = time.perf_counter()
    graph = zoo_graph("resnet18", 1)
    import_s = time.perf_counter() - t0
    x = example_input("resnet18", 1).numpy()
    feeds = {graph.inputs[0].name: x}
    ours = median_time(lambda: engine.run(graph, feeds), repeat=5)

    sess = ort.InferenceSession(zoo_onnx("resnet18", 1), providers=["CPUExecutionProvider"])
    ort_feeds = {sess.get_inputs()[0].name: x}
    theirs = median_time(lambda: sess.run(None, ort_feeds), repeat=5)
    diff = float(np.abs(engine.run(graph, feeds)[graph.outputs[0]]
                        - sess.run(None, ort_feeds)[0]).max())

    name = max(PROGRAMS, key=lambda k: len(PROGRAMS[k]))
    parse = median_time(lambda: parse_program(PROGRAMS[name]), repeat=5)
    ratio = ours / theirs
    return [
        dict(name="engine.run ResNet-18 b=1 (median of 5)", value=ours * 1e3, unit="ms", target="",
             note=f"max |diff| vs onnxruntime {diff:.1e}"),
        dict(name="onnxruntime ResNet-18 b=1 (median of 5)", value=theirs * 1e3, unit="ms",
             target="", note="CPUExecutionProvider, default threads"),
        dict(name="engine.run / onnxruntime", value=ratio, unit="x", target="<= 3",
             note="OK" if ratio <= 3 else "over target: kernel speed (ops_nn conv2d)"),
        dict(name="torch -> ONNX -> Graph import of ResNet-18", value=import_s, unit="s",
             target="", note="first call; cached afterwards"),
        dict(name=f"parse_program({name})", value=parse * 1e3, unit="ms", target="",
             note=f"{len(PROGRAMS[name].splitlines())} lines, largest preset"),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
