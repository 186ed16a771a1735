"""Interpreter speed: engine.run on ResNet-18 (batch 1, 224x224) against onnxruntime on the same ONNX.

Rows: the two medians (5 repeats each, after a warm-up), their ratio (target <= 3x), the time to
parse the largest preset program, and from_onnx on chains of 1k and 10k two-output Relu nodes with
their growth ratio (~10 when the import is linear; it was quadratic, issue 11). Both runtimes are
limited to the same thread count as numpy's BLAS would use by default (onnxruntime's default); the
machine is shared, so compare the ratio.
"""

from __future__ import annotations

import time

import numpy as np

from bench.run import median_time


def run() -> list[dict]:
    import onnxruntime as ort

    import engine
    from engine.core.language import parse_program
    from engine.core.presets import PROGRAMS
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_onnx

    t0 = time.perf_counter()
    graph = zoo_graph("resnet18", 1)
    import_s = time.perf_counter() - t0
    x = example_input("resnet18", 1).numpy()
    feeds = {graph.inputs[0].name: x}
    ours = median_time(lambda: engine.run(graph, feeds), repeat=5)

    sess = ort.InferenceSession(zoo_onnx("resnet18", 1), providers=["CPUExecutionProvider"])
    ort_feeds = {sess.get_inputs()[0].name: x}
    theirs = median_time(lambda: sess.run(None, ort_feeds), repeat=5)

    # Single-threaded on both sides: the fairer comparison on a shared 2-core machine, and the
    # setting of the classroom image (OPENBLAS_NUM_THREADS=1), where many sessions share the cores.
    from threadpoolctl import threadpool_limits

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess1 = ort.InferenceSession(zoo_onnx("resnet18", 1), opts, providers=["CPUExecutionProvider"])
    with threadpool_limits(limits=1):
        ours1 = median_time(lambda: engine.run(graph, feeds), repeat=5)
    theirs1 = median_time(lambda: sess1.run(None, ort_feeds), repeat=5)
    diff = float(np.abs(engine.run(graph, feeds)[graph.outputs[0]] - sess.run(None, ort_feeds)[0]).max())

    name = max(PROGRAMS, key=lambda k: len(PROGRAMS[k]))
    parse = median_time(lambda: parse_program(PROGRAMS[name]), repeat=5)
    ratio = ours / theirs
    return [
        dict(
            name="engine.run ResNet-18 b=1 (median of 5)",
            value=ours * 1e3,
            unit="ms",
            target="",
            note=f"max |diff| vs onnxruntime {diff:.1e}",
        ),
        dict(
            name="onnxruntime ResNet-18 b=1 (median of 5)",
            value=theirs * 1e3,
            unit="ms",
            target="",
            note="CPUExecutionProvider, default threads",
        ),
        dict(
            name="engine.run / onnxruntime",
            value=ratio,
            unit="x",
            target="<= 3",
            note="OK" if ratio <= 3 else "over target: kernel speed (ops_nn conv2d)",
        ),
        dict(
            name="engine.run ResNet-18 b=1, 1 thread",
            value=ours1 * 1e3,
            unit="ms",
            target="",
            note="numpy BLAS limited to 1 thread",
        ),
        dict(
            name="onnxruntime ResNet-18 b=1, 1 thread",
            value=theirs1 * 1e3,
            unit="ms",
            target="",
            note="intra_op_num_threads=1",
        ),
        dict(
            name="engine.run / onnxruntime, 1 thread each",
            value=ours1 / theirs1,
            unit="x",
            target="<= 3",
            note="OK" if ours1 / theirs1 <= 3 else "over target",
        ),
        dict(
            name="torch -> ONNX -> Graph import of ResNet-18",
            value=import_s,
            unit="s",
            target="",
            note="first call; cached afterwards",
        ),
        dict(
            name=f"parse_program({name})",
            value=parse * 1e3,
            unit="ms",
            target="",
            note=f"{len(PROGRAMS[name].splitlines())} lines, largest preset",
        ),
        *onnx_chain_rows(),
    ]


def _relu_chain(n: int) -> bytes:
    """n chained Relu nodes, each declaring an unused second output."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", [f"v{k}"], [f"v{k + 1}", f"aux{k}"]) for k in range(n)]
    g = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info(f"v{n}", TensorProto.FLOAT, [4])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def onnx_chain_rows() -> list[dict]:
    import engine

    times = {}
    for n in (1_000, 10_000):
        data = _relu_chain(n)
        times[n] = median_time(lambda d=data: engine.from_onnx(d), repeat=3)
    growth = times[10_000] / times[1_000]
    return [
        dict(
            name=f"from_onnx {n // 1000}k-node two-output Relu chain (median of 3)",
            value=t * 1e3,
            unit="ms",
            target="",
            note="",
        )
        for n, t in times.items()
    ] + [
        dict(
            name="from_onnx 10k / 1k chain",
            value=growth,
            unit="x",
            target="~10 (linear)",
            note="OK" if growth < 20 else "superlinear: look for per-node scans in from_onnx",
        )
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
