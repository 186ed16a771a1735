"""A quantised graph's stored weights are dequantised once per graph, not on every engine.run.

Spies on the interpreter's kernel calls and on the Winograd filter transform prove the work is done
once across runs; torch's dequantize and onnxruntime (ONNX's own DequantizeLinear and Conv) are the
oracles for the values; a run that passes its own value for a folded node's input is computed
afresh."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import engine
from engine.core import interpreter
from engine.core.interpreter import evaluate, source_value
from engine.core.ir import Node, rebuild
from engine.core.ops import winograd

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

# a 3x3 conv big enough for the Winograd path (64 channels, 32x32: 38 M multiply-adds), then a
# pointwise one and a gemm, so weights of all three layer kinds are quantised
PROGRAM = """x = input([1, 64, 32, 32])
h = relu(conv2d(x, param([64, 64, 3, 3]), param([64], init="zeros"), pad=1))
p = conv2d(h, param([16, 64, 1, 1]))
y = gemm(flatten(global_avgpool(p)), param([16, 10]))
"""


def quantised(granularity: str = "per_channel"):
    graph = engine.parse_program(PROGRAM)
    return graph, engine.quantize(graph, granularity=granularity)


def weight_dqs(q) -> list[Node]:
    return [n for n in q.op_nodes if n.op == "dequantize_linear" and q.node(n.inputs[0]).op == "constant"]


def spy_calls(monkeypatch) -> Counter:
    """Counts the interpreter's kernel calls by node name."""
    calls: Counter = Counter()
    real = interpreter._call

    def counted(node, kernel, attrs, arrays):
        calls[node.name] += 1
        return real(node, kernel, attrs, arrays)

    monkeypatch.setattr(interpreter, "_call", counted)
    return calls


@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel"])
def test_stored_weights_are_dequantised_once_across_runs(monkeypatch, granularity):
    _, q = quantised(granularity)
    weights = weight_dqs(q)
    assert len(weights) == 3
    calls = spy_calls(monkeypatch)
    first, second = engine.run(q), engine.run(q, seed=1)  # folded values do not depend on the seed
    for n in weights:
        assert calls[n.name] == 1, n.name
        assert second[n.name] is first[n.name] and not first[n.name].flags.writeable
    activations = [n for n in q.op_nodes if n.op in ("quantize_linear", "conv2d", "gemm")]
    assert activations and all(calls[n.name] == 2 for n in activations)  # the rest still runs


def test_the_winograd_filter_of_a_quantised_weight_is_transformed_once(monkeypatch):
    graph, q = quantised()
    x = {"x": source_value(graph.node("x"), 0)}
    engine.run(graph, x)  # the float graph's filters are cached by now (calibration ran it too)
    transforms = []
    real = winograd.filter_transform
    monkeypatch.setattr(winograd, "filter_transform", lambda w: transforms.append(w.shape) or real(w))
    engine.run(q, x)
    engine.run(q, x)
    engine.run(graph, x)
    assert transforms == [(64, 64, 3, 3)]


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_folded_weights_equal_torch_dequantize():
    _, q = quantised()
    env = engine.run(q)
    for n in weight_dqs(q):
        codes, scale, zero = (q.node(i).attr("value").array for i in n.inputs)
        assert env[n.inputs[0]] is codes  # the stored int8 array, not a per-seed copy
        axis = n.attr("axis") if scale.size > 1 else None
        codes_t = torch.from_numpy(codes.copy())
        if axis is None:
            t = torch._make_per_tensor_quantized_tensor(codes_t, float(scale), int(zero))
        else:
            t = torch._make_per_channel_quantized_tensor(
                codes_t,
                torch.from_numpy(scale.astype(np.float64)),
                torch.from_numpy(zero.astype(np.int64)),
                axis,
            )
        np.testing.assert_array_equal(env[n.name], t.dequantize().numpy())


def test_quantised_conv_graph_runs_as_onnxruntime_runs_it():
    """ORT runs the exported Q/DQ graph node by node (no fusions); our second run (folded weights,
    cached Winograd filters) agrees within one output quantisation step."""
    graph, q = quantised()
    feeds = {n.name: source_value(n, 0) for n in q.inputs}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(engine.to_onnx(q), so, providers=["CPUExecutionProvider"])
    (theirs,) = session.run([q.outputs[0]], feeds)
    engine.run(q, feeds)
    ours = engine.run(q, feeds)[q.outputs[0]]
    ref = engine.run(graph, feeds)[graph.outputs[0]]
    step = float(np.abs(ref).max()) / 127
    assert np.abs(ours - theirs).max() <= step
    assert np.abs(ours - ref).max() > 0  # it did quantise


def test_given_inputs_of_a_folded_node_are_computed_afresh():
    _, q = quantised()
    dq = weight_dqs(q)[0]
    codes_name = dq.inputs[0]
    codes = q.node(codes_name).attr("value").array
    folded = engine.run(q)[dq.name]
    other = (codes // 2).astype(codes.dtype)
    env = evaluate(q, {codes_name: other})
    expected = evaluate(q, {codes_name: other, **{i: engine.run(q)[i] for i in dq.inputs[1:]}})[dq.name]
    np.testing.assert_array_equal(env[dq.name], expected)
    assert not np.array_equal(env[dq.name], folded)
    np.testing.assert_array_equal(engine.run(q)[dq.name], folded)  # the cache is untouched

    # the same weight stored as a param with a value (as an importer may): run() can override it
    nodes = [
        Node(codes_name, "param", (), (), codes.shape).replace(attrs={"value": codes.astype(np.float32)})
        if n.name == codes_name
        else n
        for n in q.nodes
    ]
    p = rebuild(nodes, q.outputs, q.title)
    engine.validate(p)
    np.testing.assert_array_equal(engine.run(p)[dq.name], folded)
    np.testing.assert_array_equal(
        engine.run(p, {codes_name: other.astype(np.float32)})[dq.name], env[dq.name]
    )
    np.testing.assert_array_equal(engine.run(p)[dq.name], folded)
