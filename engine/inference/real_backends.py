"""Back ends of the real server: what executes a batch (Triton's back-end idea, as Python callables).

``make_backend(name, graph, input_name, sleep)`` returns a factory: called once per copy (thread)
with the copy's number, it returns ``run(xs) -> outputs`` for a batch of input arrays.
  * ``engine``: our interpreter (:func:`engine.run`), one pass per request — its graphs have fixed
    shapes, so a batch saves only the per-request scheduling, not the weight reads;
  * ``onnxruntime``: the graph exported with :func:`engine.to_onnx`, one InferenceSession per copy
    with one intra-op thread (the copies are the parallelism), one pass per request;
  * ``sleep``: a custom back end that does no arithmetic and sleeps ``base + per_item · b`` seconds
    for a batch of b — the cost shape of an accelerator whose weight reads are shared by the batch
    — and answers each request with its own input.
Not handled: batched execution of our interpreter (a dynamic batch dimension), GPU execution.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.errors import EngineError
from ..core.interpreter import run as run_graph
from .serving import positive

BACKENDS = ("engine", "onnxruntime", "sleep")


def make_backend(name: str, graph, input_name: str, sleep: tuple[float, float]):
    """A per-copy factory of batch runners for back end ``name`` (see the module docstring)."""
    out = graph.outputs[0]
    if name == "engine":
        return lambda k: lambda xs: [run_graph(graph, {input_name: x})[out] for x in xs]
    if name == "onnxruntime":
        from ..interop.onnx_export import to_onnx

        data = to_onnx(graph)
        return lambda k: _ort_runner(data, input_name)
    if name == "sleep":
        base, per_item = (
            positive("sleep per pass", sleep[0], True),
            positive("sleep per request", sleep[1], True),
        )
        return lambda k: _sleeper(base, per_item)
    raise EngineError(f"back end {name!r} is not one of {', '.join(BACKENDS)}")


def _ort_runner(data: bytes, input_name: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return lambda xs: [sess.run(None, {input_name: x})[0] for x in xs]


def _sleeper(base: float, per_item: float):
    def run(xs):
        time.sleep(base + per_item * len(xs))
        return [np.asarray(x) for x in xs]

    return run
