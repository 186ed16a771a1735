"""Interpreter speed: engine.run on ResNet-18 (batch 1, 224x224) against onnxruntime on the same ONNX.

Rows: engine.run and onnxruntime with default threads and with one thread each (numpy's BLAS limited
by threadpoolctl, onnxruntime's intra_op_num_threads=1), the same one-thread run with the fast
kernel paths switched off (the reference kernels alone: the "before" of issue 19), the ratios
(target <= 1.2 with one thread each), the largest difference from torch in float64 (target <= 1e-5),
the import time, the time to parse the largest preset program, and from_onnx on chains of 1k and
10k two-output Relu nodes with their growth ratio (~10 when the import is linear, issue 11).
The machine is shared and its load moves, so the runtimes are timed in interleaved rounds (one call
of each per round) and a ratio is the median of the per-round ratios; the CPU-time ratio (process
time, every thread counted) is the steadier number when other processes compete for the cores.
"""

from __future__ import annotations

import contextlib
import time
from unittest import mock

import numpy as np

from bench.run import median_time

ROUNDS = 21  # interleaved rounds of the one-thread comparison (5 with default threads)


def _rounds(fns: dict, rounds: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Wall and CPU seconds of every function, one call each per round, after one warm-up call."""
    for fn in fns.values():
        fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (np.array(wall[k]), np.array(cpu[k])) for k in fns}


@contextlib.contextmanager
def reference_kernels():
    """Switch the fast paths of the nn kernels off (the reference kernels run instead)."""
    from engine.core.ops import nn

    def maxpool(x, k, s, p, out_shape):
        return nn._maxpool_reference([x], {"kernel": k, "stride": s, "pad": p})

    with (
        mock.patch.object(nn, "winograd_applies", lambda *a: False),
        mock.patch.object(nn, "phases_apply", lambda *a: False),
        mock.patch.object(nn, "maxpool_separable", maxpool),
    ):
        yield


def _torch_diff(graph, x: np.ndarray, ours: np.ndarray) -> float:
    import torch

    from engine.interop.torch_zoo import zoo_module

    with torch.no_grad():
        want = zoo_module("resnet18").double()(torch.from_numpy(x).double()).numpy()
    return float(np.abs(ours - want).max())


def run() -> list[dict]:
    import onnxruntime as ort
    from threadpoolctl import threadpool_limits

    import engine
    from engine.core.language import parse_program
    from engine.core.presets import PROGRAMS
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_onnx

    t0 = time.perf_counter()
    graph = zoo_graph("resnet18", 1)
    import_s = time.perf_counter() - t0
    x = example_input("resnet18", 1).numpy()
    feeds = {graph.inputs[0].name: x}
    sess = ort.InferenceSession(zoo_onnx("resnet18", 1), providers=["CPUExecutionProvider"])
    ort_feeds = {sess.get_inputs()[0].name: x}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess1 = ort.InferenceSession(zoo_onnx("resnet18", 1), opts, providers=["CPUExecutionProvider"])

    def ours():
        return engine.run(graph, feeds)

    def reference():
        with reference_kernels():
            return engine.run(graph, feeds)

    default = _rounds({"ours": ours, "ort": lambda: sess.run(None, ort_feeds)}, 5)
    with threadpool_limits(limits=1):
        one = _rounds({"ours": ours, "ref": reference, "ort": lambda: sess1.run(None, ort_feeds)}, ROUNDS)
    out = engine.run(graph, feeds)[graph.outputs[0]]
    diff_ort = float(np.abs(out - sess.run(None, ort_feeds)[0]).max())
    diff_torch = _torch_diff(graph, x, out)

    def med(times) -> float:
        return float(np.median(times)) * 1e3

    def ratio(a, b, which=0) -> float:
        return float(np.median(a[which] / b[which]))

    r_default = ratio(default["ours"], default["ort"])
    r_one, r_ref = ratio(one["ours"], one["ort"]), ratio(one["ref"], one["ort"])
    r_cpu = ratio(one["ours"], one["ort"], 1)
    name = max(PROGRAMS, key=lambda k: len(PROGRAMS[k]))
    parse = median_time(lambda: parse_program(PROGRAMS[name]), repeat=5)
    return [
        dict(
            name="engine.run ResNet-18 b=1, default threads",
            value=med(default["ours"][0]),
            unit="ms",
            target="",
            note=f"median of 5 interleaved rounds; max |diff| vs onnxruntime {diff_ort:.1e}",
        ),
        dict(
            name="onnxruntime ResNet-18 b=1, default threads",
            value=med(default["ort"][0]),
            unit="ms",
            target="",
            note="CPUExecutionProvider",
        ),
        dict(
            name="engine.run / onnxruntime, default threads",
            value=r_default,
            unit="x",
            target="<= 3",
            note="OK" if r_default <= 3 else "over target (threads fight over a shared machine's cores?)",
        ),
        dict(
            name="engine.run ResNet-18 b=1, 1 thread",
            value=med(one["ours"][0]),
            unit="ms",
            target="",
            note=f"median of {ROUNDS} interleaved rounds; numpy BLAS limited to 1 thread",
        ),
        dict(
            name="engine.run ResNet-18 b=1, 1 thread, reference kernels only",
            value=med(one["ref"][0]),
            unit="ms",
            target="",
            note="fast paths off (Winograd, phase im2col, separable maxpool): the kernels before issue 19",
        ),
        dict(
            name="onnxruntime ResNet-18 b=1, 1 thread",
            value=med(one["ort"][0]),
            unit="ms",
            target="",
            note="intra_op_num_threads=1",
        ),
        dict(
            name="engine.run / onnxruntime, 1 thread each",
            value=r_one,
            unit="x",
            target="<= 1.2",
            note=("OK" if r_one <= 1.2 else "over target")
            + f"; CPU-time ratio {r_cpu:.2f}; reference kernels alone {r_ref:.2f}",
        ),
        dict(
            name="max |engine.run - torch float64| ResNet-18 logits",
            value=diff_torch,
            unit="",
            target="<= 1e-5",
            note="OK" if diff_torch <= 1e-5 else "over target",
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
