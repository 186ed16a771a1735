"""Serving and edge lenses on a student's graph, against the serving lab's own model, datasheet
arithmetic done here from cost() numbers, queueing closed forms and a brute-force split search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import engine
from engine.core import budget
from engine.core.cost_model import cost
from engine.core.errors import BudgetError, EngineError, GraphError
from engine.core.ir import Graph, GraphBuilder, Node
from engine.inference import graph_serving as gs
from engine.inference.edge_cloud import graph_chain, layer_times, networks, split_points, targets
from engine.inference.serving import ServiceModel, load_sweep, md1_wait, simulate
from tests.strategies import random_cnn_graphs, random_graphs

GIB = float(1 << 30)
# datasheet values typed in from the sources (not read from the presets under test)
A100_80 = dict(peak=312e12, bw=2039e9, mem=80 * GIB)  # NVIDIA A100 datasheet, fp16 tensor dense
H100 = dict(peak=989.4e12, bw=3.35e12, mem=80 * GIB)  # NVIDIA H100 SXM datasheet
PHONE = dict(peak=384e9, bw=51.2e9, power=5.0)  # the edge lab's assumed phone CPU
GRAPH_PRESETS = [p for p in engine.preset_names() if p != "autodiff_example"]


def _tokens_graph(params_k: int, params_n: int, tokens: int) -> Graph:
    """x (tokens, K) @ W (K, N): P = K*N parameters and 2*P*tokens FLOPs, exactly the serving lab's
    per-request model. Built from nodes (no values are ever allocated), so it may hold 1e9 weights."""
    return Graph(
        (
            Node("x", "input", shape=(tokens, params_k)),
            Node("W", "param", shape=(params_k, params_n)),
            Node("y", "matmul", ("x", "W"), shape=(tokens, params_n)),
        ),
        ("y",),
        "tokens",
    )


@pytest.fixture(scope="module")
def resnet18():
    from engine.interop.torch_zoo import zoo_graph

    return zoo_graph("resnet18")


# ---- the serving model ---------------------------------------------------------------------------


def test_the_labs_default_preset_is_reproduced_exactly():
    # labs/serving.py's batching part by default: 1 B parameters, fp16, 16 tokens per request,
    # A100 80GB, 0.2 ms per pass, the card's 80 GiB checked; no activation traffic
    page = ServiceModel(
        1.0 * 1e9, "fp16", A100_80["peak"], A100_80["bw"], 16, overhead=0.2 / 1e3, memory=A100_80["mem"]
    )
    ours = gs.model_from_graph(
        _tokens_graph(25_000, 40_000, 16), "A100 80GB SXM", "fp16", overhead=0.2 / 1e3, activations=False
    )
    assert ours.params == page.params and ours.memory == page.memory
    assert ours.knee == pytest.approx(page.knee, rel=1e-12)
    for b in range(1, 65):
        assert ours.time(b) == pytest.approx(page.time(b), rel=1e-12)
        assert ours.compute_time(b) == pytest.approx(page.compute_time(b), rel=1e-12)
        assert ours.memory_time(b) == page.memory_time(b)
    rate = 0.7 * page.capacity(8)
    for policy in ("none", "static", "dynamic"):
        a, b = simulate(page, rate, 500, policy, 8, 2e-3), simulate(ours, rate, 500, policy, 8, 2e-3)
        assert np.allclose(a.finish, b.finish, rtol=1e-12) and a.reasons == b.reasons
    rows_a, rows_b = load_sweep(page, [0.3, 0.8], n=300), load_sweep(ours, [0.3, 0.8], n=300)
    assert [r["p99"] for r in rows_a] == pytest.approx([r["p99"] for r in rows_b], rel=1e-12)


@pytest.mark.parametrize("act_dtype, width", [(None, 2), ("fp32", 4), ("int8", 1)])
def test_activation_traffic_is_the_input_read_and_output_written(act_dtype, width):
    b = GraphBuilder("one layer")
    y = b.op("matmul", b.input((16, 1024)), b.param((1024, 512)))
    ours = gs.model_from_graph(b.build([y]), "H100 SXM", "fp16", act_dtype=act_dtype)
    page = ServiceModel(
        1024 * 512, "fp16", H100["peak"], H100["bw"], 16, act_bytes=(16 * 1024 + 16 * 512) * width
    )
    for batch in (1, 7, 300, 4096):
        assert ours.time(batch) == pytest.approx(page.time(batch), rel=1e-12)
    assert ours.knee == pytest.approx(page.knee, rel=1e-12)


def _weights_read(graph) -> int:
    by_name = graph.by_name
    return sum(
        budget.numel(by_name[i].shape)
        for n in graph.op_nodes
        for i in n.inputs
        if by_name[i].op in ("param", "constant")
    )


def _check_curve(graph, hw_name: str, sheet: dict, dtype: str = "fp16") -> None:
    rep, width = cost(graph), {"fp16": 2, "fp32": 4, "int8": 1}[dtype]
    # float32 graph: cost()'s bytes / 4 are elements moved; take the weight reads out
    act = ((rep.bytes_read + rep.bytes_written) // 4 - _weights_read(graph)) * width
    batches = [1, 2, 3, 8, 64, 1000]
    for row in gs.batch_cost_curve(graph, hw_name, batches, dtype):
        compute = rep.flops * row.batch / sheet["peak"]
        memory = (rep.params * width + row.batch * act) / sheet["bw"]
        assert row.compute_s == pytest.approx(compute, rel=1e-12)
        assert row.memory_s == pytest.approx(memory, rel=1e-12)
        assert row.time_s == pytest.approx(max(compute, memory), rel=1e-12)
        assert row.bound == ("compute" if compute >= memory else "memory")


@pytest.mark.parametrize("name", GRAPH_PRESETS)
def test_batch_cost_is_the_roofline_of_cost_numbers(name):
    _check_curve(engine.preset(name), "A100 80GB SXM", A100_80)
    _check_curve(engine.preset(name), "H100 SXM", H100, "int8")


@settings(max_examples=30, deadline=None)
@given(random_cnn_graphs(max_nodes=5))
def test_batch_cost_on_random_cnns(graph):
    if not graph.params:
        with pytest.raises(EngineError, match="no parameters"):
            gs.batch_cost_curve(graph, "A100 80GB SXM", [1])
        return
    _check_curve(graph, "A100 80GB SXM", A100_80, "fp32")


def test_resnet18_served(resnet18):
    from engine.interop.torch_zoo import torch_param_counts

    model = gs.model_from_graph(resnet18, "A100 80GB SXM")
    params, bn_channels = torch_param_counts("resnet18")
    # the ONNX export folds each BatchNorm into its conv: γ and β (2 per channel, counted by torch)
    # become one conv bias per channel, so the graph holds one number per BN channel fewer
    assert model.params == params - bn_channels == 11_684_712
    # torchvision's model card: 1.81 GFLOPS (multiply-adds) at 224x224
    assert model.flops / 2 == pytest.approx(1.81e9, rel=0.01)
    _check_curve(resnet18, "A100 80GB SXM", A100_80)


def test_simulated_wait_on_a_graph_matches_m_d_1():
    # the simulator on the student's graph: no batching, deterministic service = M/D/1 (Kleinrock)
    model = gs.model_from_graph(engine.preset("resnet_basic_block"), "A100 80GB SXM", overhead=1e-4)
    s = model.time(1)
    run = simulate(model, 0.5 / s, 100_000, "none", seed=3)
    assert run.wait.mean() == pytest.approx(md1_wait(0.5 / s, s), rel=0.03)


def test_serving_refusals_say_why(monkeypatch):
    with pytest.raises(EngineError, match="no parameters.*try the mlp preset"):
        gs.model_from_graph(engine.preset("autodiff_example"), "H100 SXM")
    only_sources = Graph((Node("x", "input", shape=(2, 2)),), ("x",))
    with pytest.raises(EngineError, match="no operations"):
        gs.model_from_graph(only_sources, "H100 SXM")
    with pytest.raises(EngineError, match="hardware 'TPU'"):
        gs.model_from_graph(engine.preset("mlp"), "TPU")
    with pytest.raises(EngineError, match="fp12"):
        gs.model_from_graph(engine.preset("mlp"), "H100 SXM", "fp12")
    with pytest.raises(GraphError, match="needs a Graph"):
        gs.model_from_graph("mlp", "H100 SXM")
    # 7 B fp32 weights = 28 GB on a 24 GiB card
    with pytest.raises(EngineError, match="pick a bigger card"):
        gs.model_from_graph(_tokens_graph(70_000, 100_000, 1), "RTX 4090", "fp32")
    for bad in ([0], [1.5], "x", list(range(1, 5000))):
        with pytest.raises(EngineError):
            gs.batch_cost_curve(engine.preset("mlp"), "H100 SXM", bad)
    monkeypatch.setattr(budget, "MAX_NODES", 3)
    monkeypatch.setattr(gs, "cost", lambda g: pytest.fail("work started before the budget"))
    with pytest.raises(BudgetError, match="nodes"):
        gs.model_from_graph(engine.preset("mlp"), "H100 SXM")


# ---- the edge report -----------------------------------------------------------------------------


def _check_edge(graph, objective: str = "latency") -> None:
    report = gs.graph_edge_report(graph, None, "A100 80GB SXM", "LTE", objective=objective)
    chain = graph_chain(graph)
    T, N = targets(), networks()
    assert [o.device for o in report.options] == [n for n in T if n not in ("A100 80GB SXM", "H100 SXM")]
    for o in report.options:
        points = split_points(chain, T[o.device], T["A100 80GB SXM"], N["LTE"])
        brute = min((p for p in points if p.fits), key=lambda p: (getattr(p, objective), p.k))
        assert o.best == brute
        assert all(getattr(o.best, objective) <= getattr(p, objective) for p in points if p.fits)
        assert o.on_device.latency == pytest.approx(sum(layer_times(chain, T[o.device], 0.2)), rel=1e-12)
        assert o.on_device.k == len(chain.layers) and o.cloud_only.k == 0


@pytest.mark.parametrize("name", engine.preset_names())
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_best_split_is_the_brute_force_minimum(name, objective):
    _check_edge(engine.preset(name), objective)


@settings(max_examples=25, deadline=None)
@given(random_graphs(max_nodes=8))
def test_best_split_on_random_programs(graph):
    _check_edge(graph)


def test_resnet18_on_the_edge(resnet18):
    _check_edge(resnet18)
    _check_edge(resnet18, "energy")


def test_on_device_and_cloud_only_from_datasheet_numbers():
    graph = engine.preset("conv_bn_relu")
    rep = gs.graph_edge_report(graph, "Phone CPU (assumed)")
    (option,) = rep.options
    layers = cost(graph).nodes
    on_device = sum(
        max(n.flops / (PHONE["peak"] * 0.2), (n.bytes_read + n.bytes_written) / (PHONE["bw"] * 0.2))
        for n in layers
    )
    assert option.on_device.latency == pytest.approx(on_device, rel=1e-12)
    assert option.on_device.energy == pytest.approx(on_device * PHONE["power"], rel=1e-12)
    # all cloud: upload the fp32 input over LTE's 6 Mbit/s, 70 ms round trip, run at half the A100's
    # peaks, download the output at 13 Mbit/s
    cloud = sum(
        max(n.flops / (A100_80["peak"] * 0.5), (n.bytes_read + n.bytes_written) / (A100_80["bw"] * 0.5))
        for n in layers
    )
    up = 1 * 3 * 32 * 32 * 4 * 8 / 6e6
    down = layers[-1].bytes_written * 8 / 13e6
    assert option.cloud_only.latency == pytest.approx(up + 0.070 + cloud + down, rel=1e-12)
    assert rep.rows()[0]["on device (ms)"] == round(on_device * 1e3, 3)


def test_edge_refusals_say_why(monkeypatch):
    g = engine.preset("mlp")
    for kwargs, words in (
        (dict(device="Toaster"), "device 'Toaster'"),
        (dict(cloud="TPU"), "cloud 'TPU'"),
        (dict(network="6G"), "network '6G'"),
        (dict(objective="cost"), "objective"),
        (dict(device=[]), "at least one device"),
    ):
        with pytest.raises(EngineError, match=words):
            gs.graph_edge_report(g, **kwargs)
    with pytest.raises(EngineError, match="no operations"):
        gs.graph_edge_report(Graph((Node("x", "input", shape=(2, 2)),), ("x",)))
    monkeypatch.setattr(gs, "MAX_SPLIT_ELEMENTS", 100)
    monkeypatch.setattr(gs, "graph_chain", lambda *a: pytest.fail("work started before the budget"))
    with pytest.raises(BudgetError, match="split search"):
        gs.graph_edge_report(g)


def test_deterministic_and_exported():
    g = engine.preset("resnet_basic_block")
    assert gs.graph_edge_report(g) == gs.graph_edge_report(g)
    assert gs.batch_cost_curve(g, "H100 SXM", [1, 4]) == gs.batch_cost_curve(g, "H100 SXM", [1, 4])
    assert engine.model_from_graph is gs.model_from_graph
    assert engine.batch_cost_curve is gs.batch_cost_curve
    assert engine.graph_edge_report is gs.graph_edge_report
