"""The reference interpreter (engine.core.interpreter) and the cost model (engine.cost).

Oracles: torch.nn.functional for a whole small CNN run end to end; published numbers for cost —
the MACs of a 3x3 convolution (Cout*Ho*Wo*Cin*K*K, He et al. 2016, Table 1 counting convention),
ResNet-18's parameter count 11,689,512 and 1.81 GFLOPS (multiply-adds) from the torchvision model
documentation (He et al. 2016, Table 1: 1.8e9), and torch's own parameter numel for single layers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import random_cnn_graphs, random_graphs

from engine.core.cost_model import CostReport, cost
from engine.core.errors import GraphError, ShapeError
from engine.core.interpreter import evaluate, run
from engine.core.ir import GraphBuilder, rebuild, validate


def small_program():
    b = GraphBuilder("mlp")
    x = b.input((4, 8), name="x")
    w = b.param((8, 16), name="w")
    h = b.op("matmul", x, w, name="h")
    b.op("relu", h, name="h")  # rebinding: the first h becomes h#1
    y = b.op("reduce_sum", b.variable("h"), axes=(1,), name="y")
    return b.build([y])


# -- interpreter -----------------------------------------------------------------------------------
def test_run_returns_every_named_value():
    g = small_program()
    v = run(g)
    assert set(v) == {n.name for n in g.nodes} >= {"x", "w", "h#1", "h", "y"}
    np.testing.assert_allclose(v["h"], np.maximum(v["x"] @ v["w"], 0), rtol=1e-6)
    np.testing.assert_allclose(v["y"], v["h"].sum(axis=1), rtol=1e-5)
    assert all(a.dtype == np.float32 for a in v.values())


def test_sources_are_seeded_per_name():
    g = small_program()
    a, b = run(g, seed=0), run(g, seed=0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x"], run(g, seed=1)["x"])
    bigger = GraphBuilder()
    bigger.input((3,), name="extra")  # a new node before x must not change x
    bigger.input((4, 8), name="x")
    assert np.array_equal(run(bigger.build())["x"], a["x"])


def test_param_inits():
    b = GraphBuilder()
    for init in ("normal", "ones", "zeros", "uniform"):
        b.param((256, 4, 4, 4), init=init, name=init)
    b.param((5000,), name="vec")
    v = run(b.build())
    assert abs(v["normal"].std() - 1 / 8) < 0.005  # 1/sqrt(fan_in = 64)
    assert abs(v["vec"].std() - 1.0) < 0.05  # fan_in of a 1-D param is 1
    assert (v["ones"] == 1).all() and (v["zeros"] == 0).all()
    assert 0.5 <= v["uniform"].min() and v["uniform"].max() <= 1.5
    bad = GraphBuilder()
    bad.param((2,), init="xavier", name="p")
    with pytest.raises(GraphError, match="init 'xavier'"):
        run(bad.build())


def test_given_values_constants_and_overrides():
    b = GraphBuilder()
    x = b.input(value=[[1.0, 2.0]], name="x")
    w = b.param((2, 1), value=[[3.0], [4.0]], name="w")
    c = b.constant(10.0)
    y = b.op("add", b.op("matmul", x, w), c, name="y")
    g = b.build([y])
    assert run(g)["y"].tolist() == [[21.0]]
    assert run(g, {"w": np.zeros((2, 1))})["y"].tolist() == [[10.0]]
    with pytest.raises(GraphError, match="no input or param named 'z'.*x, w"):
        run(g, {"z": 1.0})
    with pytest.raises(ShapeError, match=r"'w' has shape \[2, 1\].*shape \[3\]"):
        run(g, {"w": np.zeros(3)})
    with pytest.raises(GraphError, match="constant"):
        run(g, {g.nodes[2].name: np.zeros(())})
    with pytest.raises(ShapeError, match="not an array of numbers"):
        run(g, {"x": [["a", "b"]]})


def test_evaluate_takes_known_intermediate_values():
    g = small_program()
    h1 = np.ones((4, 16), np.float32) * -1
    v = evaluate(g, {"h#1": h1})
    assert (v["h"] == 0).all() and (v["y"] == 0).all()


def test_malformed_graphs_raise_engine_errors():
    g = small_program()
    with pytest.raises(GraphError, match="needs a Graph"):
        run("not a graph")
    dangling = rebuild([g.nodes[2]], ["h#1"])
    with pytest.raises(GraphError, match="not defined before"):
        run(dangling)
    wrong = rebuild([*g.nodes[:2], g.nodes[2].replace(shape=(4, 15))], ["h#1"])
    with pytest.raises(ShapeError, match=r"produced shape \[4, 16\] but the graph says \[4, 15\]"):
        run(wrong)


def conv_bn(b, x, cin, cout, k, stride, pad, name):
    w = b.param((cout, cin, k, k), name=f"{name}.w")
    y = b.op("conv2d", x, w, stride=stride, pad=pad)
    scale = b.param((cout,), init="uniform", name=f"{name}.scale")
    bias = b.param((cout,), name=f"{name}.bias")
    # running statistics are buffers, not trainable parameters (as in torch)
    mean = b.constant(np.linspace(-0.1, 0.1, cout))
    var = b.constant(np.linspace(0.5, 1.5, cout))
    return b.op("batchnorm", y, scale, bias, mean, var)


def resnet18(batch=1, size=224):
    """ResNet-18 (He et al. 2016, Table 1) built with the builder, torchvision layer layout."""
    b = GraphBuilder("resnet18")
    x = b.input((batch, 3, size, size), name="x")
    y = b.op("relu", conv_bn(b, x, 3, 64, 7, 2, 3, "stem"))
    y = b.op("maxpool", y, kernel=3, stride=2, pad=1)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            name = f"layer{stage}.{block}"
            h = b.op("relu", conv_bn(b, y, cin, cout, 3, stride, 1, f"{name}.conv1"))
            h = conv_bn(b, h, cout, cout, 3, 1, 1, f"{name}.conv2")
            skip = (
                y if stride == 1 and cin == cout else conv_bn(b, y, cin, cout, 1, stride, 0, f"{name}.down")
            )
            y = b.op("relu", b.op("add", h, skip))
            cin = cout
    y = b.op("flatten", b.op("global_avgpool", y))
    fc_w = b.param((1000, 512), name="fc.w")
    fc_b = b.param((1000,), init="zeros", name="fc.b")
    return b.build([b.op("gemm", y, fc_w, fc_b, trans_b=1, name="logits")])


def test_small_cnn_matches_torch_functional():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    b = GraphBuilder()
    x = b.input((2, 3, 16, 16), name="x")
    y = b.op("relu", conv_bn(b, x, 3, 8, 3, 1, 1, "c1"))
    y = b.op("maxpool", y, kernel=2)
    y = b.op("hswish", conv_bn(b, y, 8, 8, 3, 2, 1, "c2"))
    y = b.op("flatten", b.op("global_avgpool", y))
    w = b.param((5, 8), name="fc.w")
    out = b.op("softmax", b.op("gemm", y, w, trans_b=1), name="p")
    g = b.build([out])
    validate(g)
    v = run(g, seed=3)
    t = {k: torch.tensor(a) for k, a in v.items()}
    consts = [t[n.name] for n in g.nodes if n.op == "constant"]

    def bn(z, k, name):
        return F.batch_norm(
            z,
            consts[2 * k],
            consts[2 * k + 1],
            t[f"{name}.scale"],
            t[f"{name}.bias"],
            training=False,
            eps=1e-5,
        )

    r = F.relu(bn(F.conv2d(t["x"], t["c1.w"], padding=1), 0, "c1"))
    r = F.max_pool2d(r, 2)
    r = F.hardswish(bn(F.conv2d(r, t["c2.w"], stride=2, padding=1), 1, "c2"))
    r = F.softmax(r.mean(dim=(2, 3)) @ t["fc.w"].T, dim=-1)
    np.testing.assert_allclose(v["p"], r.numpy(), rtol=1e-4, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(random_graphs(max_nodes=10))
def test_random_graphs_validate_and_run(graph):
    validate(graph)
    v = run(graph, seed=7)
    for n in graph.nodes:
        assert v[n.name].shape == n.shape
    for o in graph.outputs:
        assert np.isfinite(v[o]).all()
    again = run(graph, seed=7)
    assert all(np.array_equal(again[k], v[k]) for k in v)
    report = cost(graph)
    assert len(report.nodes) == len(graph.op_nodes) and report.flops >= 0


def torch_eval(graph, values):
    """Evaluate a CNN graph node by node with torch.nn.functional (the oracle)."""
    import torch

    F = torch.nn.functional
    env = {}
    for n in graph.nodes:
        a = n.attr_dict
        xs = [env[i] for i in n.inputs]
        if n.is_source:
            env[n.name] = torch.tensor(values[n.name])
        elif n.op == "conv2d":
            env[n.name] = F.conv2d(
                *xs[:2],
                xs[2] if len(xs) > 2 else None,
                stride=a.get("stride", 1),
                padding=a.get("pad", 0),
                groups=a.get("groups", 1),
            )
        elif n.op == "batchnorm":
            x, scale, bias, mean, var = xs
            env[n.name] = F.batch_norm(x, mean, var, scale, bias, training=False, eps=1e-5)
        elif n.op in ("maxpool", "avgpool"):
            pool = F.max_pool2d if n.op == "maxpool" else F.avg_pool2d
            env[n.name] = pool(xs[0], a["kernel"])
        elif n.op == "gemm":
            env[n.name] = xs[0] @ xs[1].T
        else:
            fn = {
                "relu": F.relu,
                "hswish": F.hardswish,
                "sigmoid": torch.sigmoid,
                "add": torch.add,
                "flatten": lambda x: x.flatten(1),
                "global_avgpool": lambda x: x.mean(dim=(2, 3), keepdim=True),
            }[n.op]
            env[n.name] = fn(*xs)
    return env


@settings(max_examples=40, deadline=None)
@given(random_cnn_graphs(max_nodes=6))
def test_random_cnn_graphs_match_torch(graph):
    pytest.importorskip("torch")
    validate(graph)
    v = run(graph, seed=1)
    ref = torch_eval(graph, v)
    for o in graph.outputs:
        np.testing.assert_allclose(v[o], ref[o].numpy(), rtol=1e-4, atol=1e-5)


# -- cost ------------------------------------------------------------------------------------------
def test_conv_cost_matches_published_formula_and_torch_numel():
    torch = pytest.importorskip("torch")
    b = GraphBuilder()
    x = b.input((1, 64, 56, 56), name="x")
    w = b.param((64, 64, 3, 3), name="w")
    bias = b.param((64,), name="b")
    b.op("conv2d", x, w, bias, pad=1, name="y")
    report = cost(b.build())
    node = report.by_name("y")
    macs = 64 * 56 * 56 * 64 * 3 * 3  # Cout * Ho * Wo * Cin * K * K = 115,605,504
    assert node.macs == macs == 115_605_504
    assert node.flops == 2 * macs + 64 * 56 * 56  # + one add per output for the bias
    layer = torch.nn.Conv2d(64, 64, 3, padding=1)
    assert node.params == sum(p.numel() for p in layer.parameters()) == 36_928
    assert node.bytes_read == 4 * (64 * 56 * 56 + 36_928)
    assert node.bytes_written == 4 * 64 * 56 * 56
    assert node.arithmetic_intensity == pytest.approx(node.flops / (node.bytes_read + node.bytes_written))
    assert report.bytes == report.bytes_read + report.bytes_written


def test_linear_layer_params_vs_torch_and_shared_params_counted_once():
    torch = pytest.importorskip("torch")
    b = GraphBuilder()
    x = b.input((2, 128), name="x")
    w = b.param((128, 10), name="w")
    bias = b.param((10,), name="b")
    y1 = b.op("gemm", x, w, bias)
    y2 = b.op("gemm", x, w, bias)  # the same weights read twice
    report = cost(b.build([b.op("add", y1, y2)]))
    linear = sum(p.numel() for p in torch.nn.Linear(128, 10).parameters())
    assert [n.params for n in report.nodes] == [linear, linear, 0]
    assert report.params == linear == 1290
    assert report.nodes[0].macs == 2 * 128 * 10
    assert isinstance(report, CostReport) and set(report.rows()[0]) >= {
        "name",
        "op",
        "kind",
        "flops",
        "macs",
        "params",
        "bytes_read",
        "bytes_written",
        "arithmetic_intensity",
    }


def test_resnet18_totals_match_torchvision_docs():
    report = cost(resnet18())
    assert report.params == 11_689_512  # torchvision resnet18 "num_params"
    assert round(report.macs / 1e9, 2) == 1.81  # torchvision "GFLOPS" (multiply-adds)


def test_resnet18_runs():
    g = resnet18()
    v = run(g)
    assert v["logits"].shape == (1, 1000) and np.isfinite(v["logits"]).all()


def test_scalar_values_are_float32_arrays():
    b = GraphBuilder()
    x = b.input(value=0.5, name="x")
    y = b.op("add", b.op("sigmoid", b.op("exp", x)), b.constant(2.0), name="y")
    v = run(b.build([y]))
    assert all(type(a) is np.ndarray and a.dtype == np.float32 for a in v.values())
    assert v["y"] == pytest.approx(2 + 1 / (1 + np.exp(-np.exp(0.5))))


def test_a_graph_that_was_run_still_pickles_and_caches_are_freed():
    import gc
    import pickle

    from engine.core import interpreter

    g = resnet18(size=32)
    first = run(g)["logits"]
    again = pickle.loads(pickle.dumps(g))  # st.cache_data pickles graphs
    assert len(pickle.dumps(g)) < 100_000  # no kernels, no 11.7 M drawn weights inside
    np.testing.assert_array_equal(run(again)["logits"], first)
    key = id(g)
    assert key in interpreter._CACHES
    del g
    gc.collect()
    assert key not in interpreter._CACHES


def test_oversized_source_is_refused_before_allocating():
    from engine.core.errors import BudgetError
    from engine.core.ir import Node

    huge = rebuild([Node("x", "input", shape=(1 << 13, 1 << 13))], ["x"])
    with pytest.raises(BudgetError, match="input 'x'.*limit"):
        run(huge)
