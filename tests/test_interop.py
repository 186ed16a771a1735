"""ONNX/torch interop checked against onnxruntime and torch as oracles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import from_onnx, from_torch, to_onnx
from engine.core import budget
from engine.core.interpreter import source_value
from engine.core.language import parse_program

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")


def ort_outputs(graph, data: bytes) -> list[np.ndarray]:
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {n.name: source_value(n, 0) for n in graph.inputs}
    return sess.run(None, feeds)


def assert_onnx_matches_engine(graph, atol=1e-4):
    data = to_onnx(graph)
    onnx.checker.check_model(onnx.load_model_from_string(data), full_check=True)
    env = engine.run(graph)
    got = ort_outputs(graph, data)
    for o, arr in zip(graph.outputs, got):
        np.testing.assert_allclose(arr, env[o], atol=atol, rtol=1e-4)
    return data, env


@pytest.mark.parametrize("name", engine.preset_names())
def test_every_preset_exports_and_onnxruntime_agrees(name):
    graph = engine.preset(name)
    data, env = assert_onnx_matches_engine(graph)
    back = from_onnx(data)  # and reading it back gives the same numbers
    env2 = engine.run(back, {n.name: env[n.name] for n in back.inputs})
    np.testing.assert_allclose(env2[back.outputs[0]], env[graph.outputs[0]], atol=1e-5)
    assert [n.shape for n in back.inputs] == [n.shape for n in graph.inputs]


OP_TOUR = """\
x = input([2, 4, 6, 6])
W = param([4, 4, 3, 3])
b = param([4])
c = conv2d(x, W, b, stride=1, pad=1, dilation=1)
m = maxpool(c, kernel=3, stride=2, pad=1)
a = avgpool(c, kernel=3, stride=1, pad=1)
h = hswish(m) + gelu(avgpool(a, kernel=2)) * sigmoid(m)
h = leaky_relu(h, alpha=0.1) - clip(h, min=-0.5, max=0.5) + square(h) + abs(tanh(h))
f = flatten(h, axis=1)
G = param([5, 36])
g = gemm(f, G, alpha=0.5, trans_b=1)
n = layernorm(g, axis=-1, epsilon=1e-3)
p, q = split(concat(n, exp(-n), axis=1), 2, axis=1)
s = slice(p, starts=[1], ends=[4], axes=[1])
r = reduce_sum(s, axes=[1], keepdims=1) + reduce_mean(q, axes=[1], keepdims=1)
r = r * reduce_max(q, axes=[0, 1]) + max(p, q) - min(p, q) + sqrt(abs(p)) ** 1.5
t = transpose(reshape(r, [5, 2]), perm=[1, 0])
y = softmax(t, axis=0) + relu6(t * 10.0) + cos(t) + sin(t) / 3.0 + log(abs(t) + 1.0)
"""


def test_op_tour_through_onnxruntime():
    graph = parse_program(OP_TOUR, title="op tour")
    engine.validate(graph)
    ops = {n.op for n in graph.op_nodes}
    assert len(ops) >= 30
    data, env = assert_onnx_matches_engine(graph)
    back = from_onnx(data)
    env2 = engine.run(back, {"x": env["x"]})
    np.testing.assert_allclose(env2[back.outputs[0]], env["y"], atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["relu", "tanh", "sigmoid", "neg", "exp", "sin", "gelu", "hswish", "relu6", "add", "mul", "sub"]
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
)
def test_random_elementwise_chains_agree_with_onnxruntime(chain, shape):
    lines = [f"x = input({shape})", f"w = param({shape[-1:]})", "h = x"]
    for op in chain:
        lines.append(f"h = {op}(h, w)" if op in ("add", "mul", "sub") else f"h = {op}(h)")
    assert_onnx_matches_engine(parse_program("\n".join(lines)))


class _Mixed(torch.nn.Module):
    """Ops torch exports as Shape/Gather/Concat/Reshape, Split, Slice, LayerNorm, Softmax, ..."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.ln = torch.nn.LayerNorm(16)
        self.fc = torch.nn.Linear(16, 6)

    def forward(self, x):
        h = torch.nn.functional.hardswish(self.bn(self.conv(x)))
        h = self.pool(h)  # (N, 8, 4, 4)
        a, b = torch.chunk(h, 2, dim=1)
        h = torch.cat([torch.relu(a), torch.nn.functional.gelu(b)], dim=1)
        h = h.reshape(h.shape[0], h.shape[1], -1)  # (N, 8, 16) via Shape folding
        h = self.ln(h)[:, 1:7]  # Slice
        h = torch.softmax(self.fc(h), dim=-1).mean(dim=1, keepdim=True)
        return torch.clamp(h.squeeze(1) * 3.0, 0.0, 6.0).unsqueeze(0)


def test_from_torch_matches_torch_on_many_ops():
    torch.manual_seed(0)
    model = _Mixed().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 8, 8)
    graph = from_torch(model, x)
    engine.validate(graph)
    out = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-4)
    assert {"layernorm", "softmax", "slice"} <= {n.op for n in graph.op_nodes}


def test_initializers_become_params_with_values_and_names_are_sanitised():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    graph = from_torch(model, torch.randn(1, 4))
    params = graph.params
    assert len(params) == 2 and all(p.attr("value") is not None for p in params)
    np.testing.assert_array_equal(sorted(p.attr("value").array.size for p in params), [3, 12])
    for n in graph.nodes:
        assert n.name and all(ch.isalnum() or ch in "_." for ch in n.name)
    assert len({n.name for n in graph.nodes}) == len(graph.nodes)


# -- the torch zoo --------------------------------------------------------------------------------
def test_resnet18_parameter_count_is_published_value():
    from engine.interop.torch_zoo import RESNET18_PARAMS, resnet18

    assert RESNET18_PARAMS == 11_689_512  # torchvision resnet18, He et al. 2016
    assert sum(p.numel() for p in resnet18().parameters()) == RESNET18_PARAMS


def test_resnet18_graph_matches_torch():
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_module

    graph = zoo_graph("resnet18")
    x = example_input("resnet18")
    with torch.no_grad():
        ref = zoo_module("resnet18")(x).numpy()
    out = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]
    assert out.shape == (1, 1000)
    np.testing.assert_allclose(out, ref, atol=1e-3 * float(np.abs(ref).max()), rtol=1e-3)
    assert sum(n.op == "conv2d" for n in graph.nodes) == 20  # 1 stem + 16 block + 3 downsample


@pytest.mark.parametrize("name", ["tiny_cnn", "mlp", "mobilenetv2_block"])
def test_small_zoo_models_match_torch(name):
    from engine.interop.torch_zoo import example_input, zoo_graph, zoo_module

    graph = zoo_graph(name, batch=2)
    x = example_input(name, 2)
    with torch.no_grad():
        ref = zoo_module(name)(x).numpy()
    out = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)


def test_zoo_caches_one_export_however_the_call_spells_it(monkeypatch):
    """zoo_onnx("m"), zoo_onnx("m", 1) and zoo_onnx("m", batch=1) are one export (lru_cache keys the
    spellings apart; graph_passes and the workspace once exported ResNet-18 twice that way)."""
    from engine.interop import torch_import, torch_zoo

    torch_zoo._zoo_onnx.cache_clear()
    torch_zoo._zoo_graph.cache_clear()
    calls = []
    real = torch_import.torch_to_onnx_bytes
    monkeypatch.setattr(torch_import, "torch_to_onnx_bytes", lambda *a: calls.append(1) or real(*a))
    data = torch_zoo.zoo_onnx("tiny_cnn")
    assert torch_zoo.zoo_onnx("tiny_cnn", 1) is data and torch_zoo.zoo_onnx("tiny_cnn", batch=1) is data
    graph = torch_zoo.zoo_graph("tiny_cnn", batch=1)
    assert torch_zoo.zoo_graph("tiny_cnn") is graph and torch_zoo.zoo_graph("tiny_cnn", 1) is graph
    assert len(calls) == 1
    assert torch_zoo.zoo_onnx("tiny_cnn", 2) is not data and len(calls) == 2
    with pytest.raises(engine.EngineError, match="batch must be"):
        torch_zoo.zoo_onnx("tiny_cnn", True)


# -- errors ---------------------------------------------------------------------------------------
def _model_with(op_types):
    from onnx import TensorProto, helper

    nodes = [helper.make_node(t, ["x"], [f"y{k}"]) for k, t in enumerate(op_types)]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y0", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(g).SerializeToString()


def test_unsupported_ops_are_listed_in_one_error():
    with pytest.raises(engine.EngineError) as info:
        from_onnx(_model_with(["Relu", "NonMaxSuppression", "LSTM", "LSTM"]))
    assert str(info.value) == "this model uses ops we don't support yet: LSTM, NonMaxSuppression"


def test_from_onnx_reads_a_file_path(tmp_path):
    graph = engine.preset("mlp")
    path = tmp_path / "mlp.onnx"
    path.write_bytes(to_onnx(graph))
    back = from_onnx(str(path))
    assert back.node(back.outputs[0]).shape == (4, 10)


def test_garbage_oversize_and_wrong_types_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(engine.EngineError, match="not an ONNX model"):
        from_onnx(b"\x00\xff garbage \x12\x34" * 10)
    with pytest.raises(engine.EngineError, match="no file"):
        from_onnx(str(tmp_path / "missing.onnx"))
    with pytest.raises(engine.EngineError, match="needs ONNX bytes"):
        from_onnx(3.5)
    monkeypatch.setattr(budget, "MAX_ONNX_BYTES", 100)
    with pytest.raises(engine.EngineError, match="limit"):
        from_onnx(b"x" * 101)
    path = tmp_path / "big.onnx"
    path.write_bytes(b"x" * 101)
    with pytest.raises(engine.EngineError, match="limit"):
        from_onnx(path)
    with pytest.raises(engine.EngineError, match="nn.Module"):
        from_torch("not a module", torch.zeros(1))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_corrupted_models_only_raise_engine_errors(data):
    model = bytearray(_SMALL_MODEL)
    if data.draw(st.booleans()):
        model = model[: data.draw(st.integers(0, len(model) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 8))):
            model[data.draw(st.integers(0, len(model) - 1))] = data.draw(st.integers(0, 255))
    try:
        engine.run(from_onnx(bytes(model)))
    except engine.EngineError:
        pass


_SMALL_MODEL = to_onnx(engine.preset("shufflenetv2_unit"))


class _Unequal(torch.nn.Module):
    """A BatchNormalization that torch cannot fold into a conv, and a Split of unequal sizes."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        a, b, c = torch.split(self.bn(x), [2, 3, 3], dim=1)
        return torch.cat([c * 2.0, torch.sigmoid(a), b - b.amax(dim=1, keepdim=True)], dim=1)


def test_unfolded_batchnorm_and_unequal_split_match_torch():
    torch.manual_seed(1)
    model = _Unequal().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-1, 1)
    x = torch.randn(2, 8, 5, 5)
    graph = from_torch(model, x)
    ops = [n.op for n in graph.op_nodes]
    assert "batchnorm" in ops and ops.count("slice") == 3 and "reduce_max" in ops
    out = engine.run(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0]]
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-5, rtol=1e-5)
