"""engine.simulate: a graph's conv/matmul/gemm layers on a systolic array, the DaVinci Cube and a GPU.

Oracles, not our own arithmetic:
* SCALE-Sim v2's golden report for AlexNet conv1 (the numbers of tests/test_hw_systolic.py), reached
  through a one-conv graph built with the GraphBuilder and with a program;
* the im2col matrices of engine/kernels/conv.py and of torch's unfold (brute force: their shapes ARE
  the GEMM, and multiplying them by the weight matrix gives torch's conv2d output), SCALE-Sim's own
  conv_to_gemm, and the register-level systolic simulation computing a graph's layer;
* cube_conv2d / cube_matmul run on the real data (their products checked against torch/numpy);
* the roofline lab's graph_points and roofline(), the occupancy calculator, and datasheet sums;
* the cost model's MACs, and torchvision's published 1.814 GMACs for ResNet-18.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import random_cnn_graphs, random_graphs

import engine
from engine.core.cost_model import cost
from engine.core.errors import BudgetError, EngineError, ShapeError
from engine.core.ir import GraphBuilder, validate
from engine.hw import (
    conv_to_gemm,
    cube_conv2d,
    cube_matmul,
    graph_sim,
    occupancy,
    simulate_systolic,
    systolic,
)
from engine.hw.davinci import cube_timing
from engine.hw.graph_sim import layer_gemms, simulate
from engine.kernels.conv import im2col
from engine.kernels.roofline_model import graph_points, hardware_presets, roofline

MAPPED = ("conv2d", "matmul", "gemm")


def _conv_graph(x_shape, w_shape, **attrs):
    b = GraphBuilder("one conv")
    x = b.input(x_shape, name="x")
    w = b.param(w_shape, name="w")
    b.op("conv2d", x, w, name="y", **attrs)
    return b.build()


def _gemm_macs(graph) -> int:
    return sum(n.macs for n in cost(graph).nodes if n.op in MAPPED)


# ------------------------------------------------------------------ systolic: SCALE-Sim golden


def _assert_alexnet_conv1(graph):
    r = simulate(graph, "systolic", rows=32, cols=32, dataflow="ws")
    (layer,) = r.layers
    assert (layer.gemm.M, layer.gemm.K, layer.gemm.N, layer.gemm.count) == (3025, 363, 96, 1)
    s = dict(layer.scalesim)
    assert s["total_cycles"] == 112283  # COMPUTE_REPORT.csv, Total Cycles
    assert s["overall_util"] == pytest.approx(91.68309650614964, rel=1e-12)
    assert layer.mapping_efficiency == pytest.approx(94.53125, rel=1e-12)
    assert layer.compute_utilization == pytest.approx(90.78000992063485, rel=1e-12)
    # SCALE-Sim reports the index of the last cycle; the totals count cycles
    assert r.total("cycles") == layer.cycles == 112283 + 1
    assert r.total("utilization") == pytest.approx(100 * 3025 * 363 * 96 / (112284 * 1024))


def test_alexnet_conv1_graph_matches_scalesim_golden_report():
    # SCALE-Sim sizes a 224x224 input's output as ceil((224 - 11 + 4) / 4) = 55 without padding; the
    # ONNX/torch floor formula gives 55 for the 227x227 input that conv1 really needs: the same GEMM.
    _assert_alexnet_conv1(_conv_graph((1, 3, 227, 227), (96, 3, 11, 11), stride=4))
    g = conv_to_gemm(224, 224, 11, 11, 3, 96, stride=4)
    assert (g["M"], g["K"], g["N"]) == (3025, 363, 96)


def test_alexnet_conv1_as_a_program():
    graph = engine.parse_program(
        "x = input([1, 3, 227, 227])\nW = param([96, 3, 11, 11])\ny = relu(conv2d(x, W, stride=4))\n"
    )
    _assert_alexnet_conv1(graph)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_every_layer_uses_the_scalesim_closed_forms(df):
    graph = engine.preset("mobilenetv2_inverted_residual")
    r = simulate(graph, "systolic", rows=16, cols=8, dataflow=df)
    for layer in r.layers:
        g = layer.gemm
        one = systolic(g.M, g.N, g.K, 16, 8, df)
        assert layer.cycles == g.count * one["cycles"]
        assert layer.utilization == pytest.approx(100 * g.macs / (layer.cycles * 128))
    assert r.total("cycles") == sum(x.cycles for x in r.layers)
    assert r.total("macs") == _gemm_macs(graph)
    weights = [x.gemm.macs for x in r.layers]
    assert r.total("mac_weighted_utilization") == pytest.approx(
        np.average([x.utilization for x in r.layers], weights=weights)
    )


def test_register_level_simulation_computes_the_graphs_layer():
    torch = pytest.importorskip("torch")
    graph = _conv_graph((1, 2, 6, 5), (3, 2, 3, 2), stride=(2, 1), pad=1)
    values = engine.run(graph, seed=3)
    x, w = values["x"].astype(np.float64), values["w"].astype(np.float64)
    A = im2col(x, 3, 2, stride=1, pad=1)  # patch matrix (stride applied below)
    cols = torch.nn.functional.unfold(torch.tensor(x), (3, 2), padding=1, stride=(2, 1))[0].numpy()
    for df in ("os", "ws", "is"):
        (layer,) = simulate(graph, "systolic", rows=4, cols=3, dataflow=df).layers
        assert (layer.gemm.M, layer.gemm.K, layer.gemm.N) == (cols.shape[1], cols.shape[0], 3)
        product, cycles = simulate_systolic(cols.T, w.reshape(3, -1).T, 4, 3, df)
        assert cycles == layer.cycles
        np.testing.assert_allclose(
            product.T.reshape(values["y"].shape[1:]), values["y"][0], rtol=1e-5, atol=1e-5
        )
    assert A.shape[1] == cols.shape[0]  # engine/kernels/conv.py: same K rows


# ------------------------------------------------------------------ conv mapping = im2col (brute force)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 2),
    cg=st.integers(1, 3),
    g=st.sampled_from([1, 2, 3]),
    og=st.integers(1, 3),
    hw=st.tuples(st.integers(3, 9), st.integers(3, 9)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dil=st.integers(1, 2),
)
def test_conv_gemm_dims_equal_im2col_and_unfold(n, cg, g, og, hw, k, stride, pad, dil):
    torch = pytest.importorskip("torch")
    c, cout = cg * g, og * g
    ext = (dil * (k[0] - 1) + 1, dil * (k[1] - 1) + 1)
    if ext[0] > hw[0] + 2 * pad or ext[1] > hw[1] + 2 * pad:
        return
    graph = _conv_graph((n, c, *hw), (cout, cg, *k), stride=stride, pad=pad, dilation=dil, groups=g)
    (gemm,), _ = layer_gemms(graph)
    values = engine.run(graph, seed=n + c)
    x, w = torch.tensor(values["x"], dtype=torch.float64), torch.tensor(values["w"], dtype=torch.float64)
    assert gemm.count == g
    for grp in range(g):  # one GEMM per group: its patch matrix times its filters is its output
        xg = x[:, grp * cg : (grp + 1) * cg]
        cols = torch.nn.functional.unfold(xg, k, dilation=dil, padding=pad, stride=stride)
        assert (n * cols.shape[2], cols.shape[1]) == (gemm.M, gemm.K) and gemm.N == og
        if dil == 1:
            assert im2col(xg.numpy(), *k, stride=stride, pad=pad).shape == tuple(cols.shape)
        A = cols.transpose(1, 2).reshape(gemm.M, gemm.K)  # (N·Ho·Wo) × K
        B = w[grp * og : (grp + 1) * og].reshape(og, -1).T  # K × Cout/g
        y = (A @ B).reshape(n, -1, og).transpose(1, 2).numpy()
        ref = values["y"][:, grp * og : (grp + 1) * og].reshape(n, og, -1)
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    if g == 1 and pad == 0 and dil == 1 and n == 1 and all((s - q) % stride == 0 for s, q in zip(hw, k)):
        ref = conv_to_gemm(*hw, *k, c, cout, stride=stride)  # SCALE-Sim's convention, where it agrees
        assert (ref["M"], ref["K"], ref["N"]) == (gemm.M, gemm.K, gemm.N)


@pytest.mark.parametrize(
    "a, b, want",
    [
        ((2, 3, 4, 5), (5, 6), (24, 6, 5, 1)),  # shared weight: batch folds into M
        ((4, 5), (3, 5, 6), (4, 18, 5, 1)),  # shared left operand: batch folds into N
        ((2, 4, 8), (2, 8, 4), (4, 4, 8, 2)),  # both batched (attention per head): 2 GEMMs
        ((5,), (5, 3), (1, 3, 5, 1)),
        ((3, 5), (5,), (3, 1, 5, 1)),
    ],
)
def test_batched_matmul_mapping_computes_the_product(a, b, want):
    builder = GraphBuilder()
    builder.op("matmul", builder.input(a, name="a"), builder.param(b, name="b"), name="y")
    graph = builder.build()
    (gemm,), _ = layer_gemms(graph)
    assert (gemm.M, gemm.N, gemm.K, gemm.count) == want
    v = engine.run(graph)
    A, B, ref = v["a"], v["b"], v["y"]
    if "into M" in gemm.mapping:
        got = A.reshape(gemm.M, gemm.K) @ B
    elif "into N" in gemm.mapping:
        got = A @ np.concatenate(list(B), axis=1)  # [B1 B2 ...]: K × batch·N
        got = got.reshape(gemm.M, -1, B.shape[-1]).transpose(1, 0, 2)
    elif gemm.count > 1:
        got = np.stack([A[i] @ B[i] for i in range(gemm.count)])
    else:
        got = np.atleast_2d(A) @ (B if B.ndim == 2 else B[:, None])
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)
    assert gemm.macs == _gemm_macs(graph)


# ------------------------------------------------------------------ davinci


@pytest.mark.parametrize(
    "M,K,N,kw",
    [
        (70, 50, 33, dict(tile_m=32, tile_k=16, tile_n=16)),
        (300, 200, 100, {}),
        (512, 512, 512, dict(double_buffer=False)),
        (1, 1, 1, {}),
        (130, 70, 40, dict(gm_bytes_per_cycle=16)),
    ],
)
def test_model_only_timing_equals_cube_matmul_on_real_data(M, K, N, kw):
    real = cube_matmul(M, K, N, seed=1, **kw)
    model = cube_timing(M, K, N, **kw)
    assert model.product is None and real.product.shape == (M, N)
    assert model.timeline == real.timeline and model.cycles == real.cycles
    assert (model.padded, model.tile, model.stalls) == (real.padded, real.tile, real.stalls)


def test_davinci_layer_equals_cube_conv2d_on_the_graphs_data():
    torch = pytest.importorskip("torch")
    graph = engine.preset("conv_bn_relu")
    values = engine.run(graph)
    y, res = cube_conv2d(values["x"][0], values["W"], stride=1, pad=1)
    x16 = torch.tensor(values["x"].astype(np.float16).astype(np.float32))
    w16 = torch.tensor(values["W"].astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(
        y, torch.nn.functional.conv2d(x16, w16, padding=1)[0].numpy(), rtol=1e-4, atol=1e-4
    )
    r = simulate(graph, "davinci")
    (layer,) = r.layers
    assert layer.padded == res.padded == (1024, 32, 16)
    assert layer.timeline == res.timeline and layer.cycles == res.cycles == r.total("cycles")
    assert layer.fractals == layer.cube_cycles == (1024 // 16) * (32 // 16) * (16 // 16)
    assert layer.transfer_cycles == sum(res.timeline.busy(x) for x in ("MTE2", "MTE1", "MTE3"))


def test_davinci_large_layer_is_timed_without_its_data():
    graph = _conv_graph((1, 3, 224, 224), (64, 3, 7, 7), stride=2, pad=3)  # ResNet conv1
    (layer,) = simulate(graph, "davinci").layers
    assert (layer.gemm.M, layer.gemm.K, layer.gemm.N) == (12544, 147, 64)
    assert layer.padded == (12544, 160, 64)
    assert layer.fractals == layer.cube_cycles == 784 * 10 * 4  # one fractal per cycle
    with pytest.raises(ShapeError, match="out of range"):
        cube_matmul(12544, 147, 64)  # the data path refuses it; the model does not need it
    assert layer.timeline == cube_timing(12544, 147, 64).timeline


def test_davinci_graph_timeline_concatenates_layers_and_groups():
    graph = engine.preset("mobilenetv2_inverted_residual")
    r = simulate(graph, "davinci", tile_m=64, double_buffer=False)
    r.timeline.check_no_overlap()
    assert r.timeline.makespan == pytest.approx(r.total("cycles"))
    assert len(r.timeline.events) == sum(len(x.timeline.events) for x in r.layers)
    dw = r.layer("conv2d#2")  # depthwise: 96 GEMMs back to back
    one = cube_timing(dw.gemm.M, dw.gemm.K, dw.gemm.N, tile_m=64, double_buffer=False)
    assert dw.gemm.count == 96 and dw.cycles == pytest.approx(96 * one.cycles)
    assert r.total("cube_cycles") == r.total("fractals")
    assert r.total("mac_utilization") == pytest.approx(_gemm_macs(graph) / (r.total("cycles") * 4096))


# ------------------------------------------------------------------ gpu


def test_gpu_layers_equal_the_roofline_labs_points_and_roofline():
    graph = engine.preset("resnet_basic_block")
    hw = hardware_presets()["V100 SXM2"]
    r = simulate(graph, "gpu", hardware="V100 SXM2", precision="fp32")
    points = {p.name: p for p in graph_points(graph)}
    for layer in r.layers:
        p = points[f"{layer.gemm.node} ({layer.gemm.op})"]
        assert (layer.flops, layer.bytes) == (p.flops, p.bytes)  # fp32: the cost model's bytes
        assert layer.attainable == roofline(p.intensity, hw.peak_fp32, hw.bandwidth)
        assert layer.time_s == pytest.approx(p.flops / layer.attainable)
    assert r.total("time_s") == pytest.approx(sum(x.time_s for x in r.layers))


def test_gpu_datasheet_arithmetic_and_occupancy():
    b = GraphBuilder()
    w = b.param((2048, 2048), name="w")
    big = b.op("matmul", b.input((2048, 2048), name="a"), w, name="big")
    gemv = b.op("matmul", b.input((1, 2048), name="v"), w, name="gemv")
    r = simulate(b.build([big, gemv]), "gpu")  # A100 40GB: 312 TFLOP/s fp16, 1,555 GB/s
    big, gemv = r.layer("big"), r.layer("gemv")
    # fp16: 2 bytes per element; AI 683 FLOP/B > ridge 200 for big, 1 FLOP/B for the vector product
    assert big.bound == "compute_bound" and big.time_s == pytest.approx(2 * 2048**3 / 312e12)
    assert gemv.bound == "memory_bound"
    assert gemv.time_s == pytest.approx(2 * (2048 + 2048**2 + 2048) / 1555e9)
    occ = occupancy("8.0", 256, 128, 32 * 1024)  # 128 regs x 32 = 4096 per warp: 16 warps of 64
    assert occ["occupancy"] == 0.25 and r.total("occupancy") == 0.25
    assert r.total("occupancy_limiter") == "registers"
    assert big.blocks == 16 * 16 and big.waves == math.ceil(256 / (108 * 2)) == 2  # 108 SMs on A100
    assert r.total("compute_bound_layers") == 1


def test_gpu_settings_are_checked():
    graph = engine.preset("mlp")
    with pytest.raises(EngineError, match="publishes no fp32 peak"):
        simulate(graph, "gpu", hardware="Ascend 910 (editable)", precision="fp32")
    assert simulate(graph, "gpu", hardware="Ascend 910 (editable)").total("occupancy") is None
    with pytest.raises(EngineError, match="not a preset"):
        simulate(graph, "gpu", hardware="TPU")
    with pytest.raises(EngineError, match="registers"):
        simulate(graph, "gpu", regs_per_thread=255, threads_per_block=1024)


# ------------------------------------------------------------------ whole networks and properties


def _resnet18_graph():
    """ResNet-18's layers (He et al. 2016) with the GraphBuilder: 20 convs and the fc gemm."""
    b = GraphBuilder("resnet18")
    x = b.input((1, 3, 224, 224), name="x")

    def conv(v, cout, k, s, p):
        return b.op("relu", b.op("conv2d", v, b.param((cout, b.shape_of(v)[1], k, k)), stride=s, pad=p))

    x = b.op("maxpool", conv(x, 64, 7, 2, 3), kernel=3, stride=2, pad=1)
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            short = x if s == 1 and b.shape_of(x)[1] == width else conv(x, width, 1, s, 0)
            x = b.op("add", conv(conv(x, width, 3, s, 1), width, 3, 1, 1), short)
    feat = b.op("flatten", b.op("global_avgpool", x))
    b.op("gemm", feat, b.param((1000, 512)), b.param((1000,)), trans_b=1, name="fc")
    return b.build()


def test_resnet18_through_every_target():
    graph = _resnet18_graph()
    validate(graph)
    for target in ("systolic", "davinci", "gpu"):
        r = simulate(graph, target)
        assert len(r.layers) == 21
        assert sum(x.gemm.macs for x in r.layers) == 1_814_073_344  # torchvision: 1.814 GMACs
    assert r.layer("fc").gemm.mapping.startswith("one GEMM") and r.layer("fc").gemm.K == 512


@pytest.mark.parametrize("name", engine.preset_names())
@pytest.mark.parametrize("target", ["systolic", "davinci", "gpu"])
def test_every_preset_maps_or_says_why(name, target):
    graph = engine.preset(name)
    if not any(n.op in MAPPED for n in graph.op_nodes):
        with pytest.raises(
            EngineError,
            match=r"^this graph has no conv2d, matmul or gemm layer .*"
            r"try the conv_bn_relu preset$",
        ):
            simulate(graph, target)
        return
    r = simulate(graph, target)
    assert sum(x.gemm.macs for x in r.layers) == _gemm_macs(graph)
    assert len(r.layers) + len(r.unmapped) == len(graph.op_nodes)
    assert len(r.rows()) == len(r.layers)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    graph=st.one_of(random_cnn_graphs(max_nodes=5), random_graphs(max_nodes=6)),
    target=st.sampled_from(["systolic", "davinci", "gpu"]),
)
def test_property_random_graphs_map_every_mac_or_say_why(graph, target):
    try:
        r = simulate(graph, target)
    except EngineError as e:
        assert "try the conv_bn_relu preset" in str(e) and _gemm_macs(graph) == 0
        return
    assert sum(x.gemm.macs for x in r.layers) == _gemm_macs(graph)
    assert r.total("cycles" if target != "gpu" else "time_s") > 0
    if target == "systolic":
        assert 0 < r.total("utilization") <= 100
    if target == "davinci":
        r.timeline.check_no_overlap()
        assert 0 < r.total("cube_utilization") <= 1


def test_simulate_is_deterministic_and_registered():
    graph = engine.preset("resnet_basic_block")
    assert engine.simulate is simulate
    assert simulate(graph, "davinci") == simulate(graph, "davinci")


# ------------------------------------------------------------------ errors and budgets


def test_bad_requests_are_one_clear_sentence():
    graph = engine.preset("conv_bn_relu")
    with pytest.raises(EngineError, match="target 'tpu' is unknown"):
        simulate(graph, "tpu")
    with pytest.raises(EngineError, match="no setting 'rows'.*tile_m"):
        simulate(graph, "davinci", rows=8)
    with pytest.raises(EngineError, match="dataflow"):
        simulate(graph, "systolic", dataflow="xs")
    with pytest.raises(EngineError, match="needs a Graph"):
        simulate("conv_bn_relu")
    with pytest.raises(EngineError, match="multiple of 16"):
        simulate(graph, "davinci", tile_m=20)


def test_layer_budget_is_checked_before_any_work(monkeypatch):
    monkeypatch.setattr(graph_sim, "MAX_LAYERS", 3)
    monkeypatch.setattr(graph_sim, "systolic", lambda *a: pytest.fail("work started"))
    with pytest.raises(BudgetError, match="4 conv2d/matmul/gemm layers; the limit is 3"):
        simulate(_conv_chain(4), "systolic")


def test_davinci_step_budget_is_checked_before_any_schedule(monkeypatch):
    monkeypatch.setattr(graph_sim, "cube_timing", lambda *a, **k: pytest.fail("work started"))
    graph = _conv_graph((64, 64, 56, 56), (64, 64, 3, 3), pad=1)  # M = 200,704
    with pytest.raises(BudgetError, match="the graph's DaVinci pipelines needs 2"):
        simulate(graph, "davinci", tile_m=16)


def _conv_chain(n):
    b = GraphBuilder()
    x = b.input((1, 2, 6, 6))
    for _ in range(n):
        x = b.op("conv2d", x, b.param((2, 2, 1, 1)))
    return b.build()
