"""engine.prune / engine.prune_report on students' graphs, against torch.nn.utils.prune and brute force.

Oracles: torch.nn.utils.prune (l1_unstructured, ln_structured on torch's (out, in, ...) layout) on
the very arrays the graph holds or draws; for 2:4, NVIDIA ASP's recipe in torch (groups of 4 along
the input axis, torch.topk keeps 2) installed with prune.custom_from_mask; the existing
engine.compression.prune.l1_unstructured for tie-breaking; explicit loops over every MAC for the
skippable-FLOPs convention; the interpreter with the masked weights passed in for the pruned graph.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import random_cnn_graphs, random_graphs

import engine
from engine.compression.graph_prune import magnitude_mask, prunable_layers, two_four_mask
from engine.compression.prune import l1_unstructured, n_m_mask
from engine.core.errors import EngineError
from engine.core.interpreter import source_value
from engine.core.ir import GraphBuilder, validate

torch = pytest.importorskip("torch")
from torch.nn.utils import prune as tprune  # noqa: E402

PRESETS = [n for n in engine.preset_names() if n != "autodiff_example"]  # those with layers


def _module(w: np.ndarray):
    holder = torch.nn.Module()
    holder.weight = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(w).copy()))
    return holder


def torch_axes(graph, layer) -> tuple[int, int]:
    """(output axis, input axis) of a layer's weight, read off the node as torch lays weights out:
    conv (Cout, Cin/g, KH, KW); Linear (out, in), which is W^T for x @ W and gemm's B with trans_b=0."""
    node = graph.node(layer.name)
    first = node.inputs.index(layer.weight) == 0  # the weight is the left operand
    if node.op == "conv2d":
        return 0, 1
    if node.op == "matmul":
        return (-2, -1) if first else (-1, -2)
    flip = node.attr("trans_a", 0) if first else not node.attr("trans_b", 0)
    return (1, 0) if flip else (0, 1)


def torch_mask(w: np.ndarray, axes: tuple[int, int], method: str, sparsity: float) -> np.ndarray:
    """The mask torch.nn.utils.prune gives ``w`` (in the graph's layout; ``axes`` from torch_axes)."""
    out_axis, in_axis = axes
    if method == "magnitude":
        m = _module(w)
        tprune.l1_unstructured(m, "weight", amount=sparsity)
        return m.weight_mask.numpy()
    if method == "structured":  # torch's layout: the output axis first, dim=0
        m = _module(np.moveaxis(w, out_axis, 0))
        tprune.ln_structured(m, "weight", amount=sparsity, n=2, dim=0)
        return np.moveaxis(m.weight_mask.numpy(), 0, out_axis)
    # 2:4 as NVIDIA ASP: the input axis last, groups of 4 consecutive weights, keep the top 2 |w|
    moved = torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, in_axis, -1)))
    groups = moved.abs().reshape(-1, 4)
    keep = torch.zeros_like(groups).scatter_(1, torch.topk(groups, 2, dim=1).indices, 1.0)
    m = _module(w)
    tprune.custom_from_mask(m, "weight", torch.movedim(keep.reshape(moved.shape), -1, in_axis))
    return m.weight_mask.numpy()


def _weights(graph, seed=0) -> dict[str, np.ndarray]:
    return {ly.weight: source_value(graph.node(ly.weight), seed) for ly in prunable_layers(graph)}


def _pruned_value(pruned, name) -> np.ndarray:
    return pruned.node(name).attr("value").array


def _check_against_torch(graph, method, sparsity, seed=0) -> None:
    pruned = engine.prune(graph, sparsity, method, seed=seed)
    validate(pruned)
    weights = _weights(graph, seed)
    for ly in prunable_layers(graph):
        w, axes = weights[ly.weight], torch_axes(graph, ly)
        if method == "2:4" and w.shape[axes[1]] % 4:
            np.testing.assert_array_equal(_pruned_value(pruned, ly.weight), w)  # left dense
            continue
        expected = w * torch_mask(w, axes, method, sparsity)
        np.testing.assert_array_equal(_pruned_value(pruned, ly.weight), expected, err_msg=ly.weight)


# -- masks against torch.nn.utils.prune ------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize(
    "method,sparsity",
    [
        ("magnitude", 0.0),
        ("magnitude", 0.35),
        ("magnitude", 0.8),
        ("structured", 0.25),
        ("structured", 0.6),
        ("2:4", 0.5),
    ],
)
def test_preset_masks_equal_torch(name, method, sparsity):
    graph = engine.preset(name)
    if method == "2:4" and name == "conv_bn_relu":  # W has 3 input channels
        with pytest.raises(EngineError, match="multiple of 4.*W: 3"):
            engine.prune(graph, 0.5, "2:4")
        return
    _check_against_torch(graph, method, sparsity, seed=0)


@pytest.mark.parametrize("method", ["magnitude", "structured", "2:4"])
def test_masks_use_the_seeded_weights(method):
    graph = engine.preset("resnet_basic_block")
    _check_against_torch(graph, method, 0.5, seed=7)
    a, b = engine.prune(graph, 0.5, method, seed=7), engine.prune(graph, 0.5, method, seed=8)
    assert not np.array_equal(_pruned_value(a, "W1"), _pruned_value(b, "W1"))
    assert engine.prune(graph, 0.5, method, seed=7) == a  # deterministic


def test_which_params_are_prunable():
    layers = {ly.weight: ly for ly in prunable_layers(engine.preset("mobilenetv2_inverted_residual"))}
    assert list(layers) == ["We", "Wd", "Wp"]  # no batchnorm scale/shift/mean/var
    assert [ly.weight for ly in prunable_layers(engine.preset("mlp"))] == ["W1", "W2"]  # no b1, b2
    pruned = engine.prune(engine.preset("mlp"), 0.5)
    for node in pruned.params:
        assert (node.attr("value") is not None) == (node.name in ("W1", "W2"))
    b = GraphBuilder()
    x = b.input((2, 8), name="x")
    w = b.param((3, 8), name="w")
    bias = b.param((1, 3), name="bias")  # gemm C: never a weight
    b.op("gemm", x, w, bias, trans_b=1, name="y")
    (ly,) = prunable_layers(b.build())
    assert (ly.weight, ly.out_axis, ly.reduce_axis) == ("w", 0, 1)  # torch Linear layout


def _every_weight_position():
    """A weight in every place a layer can read it: W @ x, x @ W (batched), gemm A and B, transposed."""
    b = GraphBuilder("positions")
    x = b.input((8, 12), name="x")
    left = b.op("matmul", b.param((6, 8), name="w_left"), x, name="left")  # (6, 12)
    batched = b.op("matmul", b.input((2, 3, 12), name="x3"), b.param((2, 12, 8), name="w_batch"))
    ga = b.op("gemm", b.param((8, 4), name="w_gemm_a"), x, trans_a=1, name="ga")  # A^T (4, 8)
    gb = b.op("gemm", left, b.param((12, 8), name="w_gemm_b"), name="gb")  # B (K, N)
    return b.build([batched, ga, gb])


@pytest.mark.parametrize("method,sparsity", [("magnitude", 0.4), ("structured", 0.5), ("2:4", 0.5)])
def test_every_weight_position_equals_torch(method, sparsity):
    graph = _every_weight_position()
    axes = {ly.weight: (ly.out_axis, ly.reduce_axis) for ly in prunable_layers(graph)}
    assert axes == {"w_left": (0, 1), "w_batch": (2, 1), "w_gemm_a": (1, 0), "w_gemm_b": (1, 0)}
    _check_against_torch(graph, method, sparsity, seed=5)


# -- the pruned graph runs like the original with masked weights ---------------------------------
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("run_seed", [0, 3])
def test_pruned_graph_runs_as_masked_original(name, run_seed):
    graph = engine.preset(name)
    pruned = engine.prune(graph, 0.6, "magnitude", seed=0)
    masked = {w: _pruned_value(pruned, w) for w in _weights(graph)}
    got = engine.run(pruned, seed=run_seed)
    want = engine.run(graph, inputs=masked, seed=run_seed)
    for out in graph.outputs:
        np.testing.assert_array_equal(got[out], want[out])


# -- drift ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_drift_is_zero_at_zero_sparsity_and_grows(name):
    graph = engine.preset(name)
    for method in ("magnitude", "structured"):
        assert engine.prune_report(graph, engine.prune(graph, 0.0, method)).drift == 0.0
    drifts = [
        engine.prune_report(graph, engine.prune(graph, s, "magnitude")).drift
        for s in (0.1, 0.3, 0.5, 0.7, 0.9)
    ]
    assert all(a < b for a, b in zip(drifts, drifts[1:])), drifts
    light, heavy = (
        engine.prune_report(graph, engine.prune(graph, s, "structured")).drift for s in (0.1, 0.9)
    )
    assert 0 < light < heavy


def test_drift_is_the_relative_output_error():
    graph = engine.preset("mlp")
    pruned = engine.prune(graph, 0.5, "structured", seed=2)
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    report = engine.prune_report(graph, pruned, inputs={"x": x}, seed=2)
    y, yp = (engine.run(g, {"x": x}, seed=2)["probs"].astype(np.float64) for g in (graph, pruned))
    assert report.drift == pytest.approx(np.linalg.norm(yp - y) / np.linalg.norm(y), rel=1e-12)


# -- 2:4 pattern on random shapes ------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    groups=st.integers(1, 4),
    rows=st.integers(1, 5),
    cout=st.integers(1, 5),
    kernel=st.sampled_from([1, 3]),
    odd=st.integers(1, 7),
    seed=st.integers(0, 1000),
)
def test_two_four_pattern_on_random_shapes(groups, rows, cout, kernel, odd, seed):
    b = GraphBuilder()
    k = 4 * groups
    h = b.op("matmul", b.input((rows, k), name="x"), b.param((k, cout), name="wm"))
    img = b.input((1, k, 5, 5), name="img")
    c = b.op("conv2d", img, b.param((cout, k, kernel, kernel), name="wc"), pad=kernel // 2)
    g = b.op("gemm", h, b.param((odd * 4 + 2, cout), name="wg"), trans_b=1)  # 4k+2 outputs, K=cout
    graph = b.build([c, g])
    pruned = engine.prune(graph, 0.5, "2:4", seed=seed)
    for ly in prunable_layers(graph):
        w, p = source_value(graph.node(ly.weight), seed), _pruned_value(pruned, ly.weight)
        axes = torch_axes(graph, ly)
        if w.shape[axes[1]] % 4:
            np.testing.assert_array_equal(p, w)  # not a multiple of 4: left dense
            continue
        wg = np.abs(np.moveaxis(w, axes[1], -1)).reshape(-1, 4)
        pg = np.moveaxis(p, axes[1], -1).reshape(-1, 4)
        assert np.all(np.count_nonzero(pg, axis=1) == 2)
        kept = np.where(pg != 0, wg, np.inf).min(axis=1)
        dropped = np.where(pg == 0, wg, -np.inf).max(axis=1)
        assert np.all(kept >= dropped)  # the 2 kept are the 2 largest
        np.testing.assert_array_equal(p, w * torch_mask(w, axes, "2:4", 0.5))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), amount=st.floats(0.0, 0.99), n=st.integers(1, 40))
def test_magnitude_mask_breaks_ties_like_l1_unstructured(seed, amount, n):
    w = np.random.default_rng(seed).integers(-3, 4, n).astype(np.float32)  # many equal |w|
    np.testing.assert_array_equal(magnitude_mask(w, amount), l1_unstructured(w, amount))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
def test_two_four_mask_breaks_ties_like_n_m_mask(seed, shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    shape[axis] *= 4
    w = np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float32)  # many equal |w|
    np.testing.assert_array_equal(two_four_mask(w, axis), n_m_mask(w, 2, 4, axis))


# -- skippable FLOPs against a brute-force count of MACs -------------------------------------------
def _conv_zero_macs(x_shape, w, stride, pad, dil, groups) -> int:
    n, c, h, wd = x_shape
    cout, cg, kh, kw = w.shape
    ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wo = (wd + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    count = 0
    for _b, co, _oy, _ox, ci, i, j in itertools.product(
        range(n), range(cout), range(ho), range(wo), range(cg), range(kh), range(kw)
    ):
        count += w[co, ci, i, j] == 0  # every tap is a MAC, over the padding too
    return count


def _product_zero_macs(batch: int, rows: int, cols: int, depth: int, weight_at) -> int:
    """Loops over every MAC out[b, i, j] += ... * weight_at(i, k, j) of a (batched) matrix product."""
    count = 0
    for _b, i, j, k in itertools.product(range(batch), range(rows), range(cols), range(depth)):
        count += weight_at(i, k, j) == 0
    return count


def test_skippable_flops_match_a_brute_force_count():
    b = GraphBuilder()
    x = b.input((2, 4, 6, 5), name="x")
    c1 = b.op("conv2d", x, b.param((6, 4, 3, 3), name="w1"), stride=2, pad=1, name="c1")
    c2 = b.op(
        "conv2d",
        c1,
        b.param((4, 3, 2, 2), name="w2"),
        b.param((4,), name="bias2"),
        dilation=2,
        pad=1,
        groups=2,
        name="c2",
    )
    a = b.input((2, 3, 8), name="a")
    m1 = b.op("matmul", a, b.param((8, 4), name="w3"), name="m1")
    m2 = b.op("matmul", b.param((5, 3), name="w4"), m1, name="m2")  # weight first: W @ x
    g = b.op("gemm", b.input((3, 8), name="r"), b.param((5, 8), name="w5"), trans_b=1, name="g")
    graph = b.build([c2, m2, g])
    pruned = engine.prune(graph, 0.45, "magnitude", seed=4)
    report = engine.prune_report(graph, pruned, seed=4)
    rows = {r.name: r for r in report.layers}
    val = {n: _pruned_value(pruned, n) for n in ("w1", "w2", "w3", "w4", "w5")}
    brute = {
        "c1": _conv_zero_macs((2, 4, 6, 5), val["w1"], 2, 1, 1, 1),
        "c2": _conv_zero_macs(graph.node("c1").shape, val["w2"], 1, 1, 2, 2),
        # a (2, 3, 8) @ w3 (8, 4); w4 (5, 3) @ m1 (2, 3, 4); r (3, 8) @ w5 (5, 8)^T
        "m1": _product_zero_macs(2, 3, 4, 8, lambda i, k, j: val["w3"][k, j]),
        "m2": _product_zero_macs(2, 5, 4, 3, lambda i, k, j: val["w4"][i, k]),
        "g": _product_zero_macs(1, 3, 5, 8, lambda i, k, j: val["w5"][j, k]),
    }
    costs = engine.cost(graph)
    for name, zero_macs in brute.items():
        assert zero_macs > 0
        assert rows[name].skippable_flops == 2 * zero_macs, name
        assert rows[name].flops == costs.by_name(name).flops
    assert report.skippable_flops == 2 * sum(brute.values())
    assert report.flops == costs.flops


def test_report_counts_and_totals():
    graph = engine.preset("resnet_basic_block")
    report = engine.prune_report(graph, engine.prune(graph, 0.3))
    assert [r.name for r in report.layers] == ["conv2d#1", "conv2d#2"]
    for r in report.layers:
        assert (r.shape, r.total) == ((16, 16, 3, 3), 2304)
        assert r.nonzero == 2304 - round(0.3 * 2304)  # torch's rounding of the amount
        assert r.sparsity == pytest.approx(round(0.3 * 2304) / 2304)
        assert r.uses == 16 * 16  # N * Ho * Wo
    assert (report.total, report.nonzero) == (4608, 2 * (2304 - 691))
    assert 0 < report.skippable_fraction < 0.3
    assert len(report.rows()) == 2 and report.rows()[0]["weight"] == "W1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.drift = 0.0


# -- students' graphs: random programs ------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    graph=st.one_of(random_graphs(max_nodes=6), random_cnn_graphs(max_nodes=5)),
    sparsity=st.sampled_from([0.0, 0.3, 0.7]),
    method=st.sampled_from(["magnitude", "structured"]),
)
def test_random_graphs_prune_or_say_why(graph, sparsity, method):
    if not prunable_layers(graph):
        with pytest.raises(EngineError, match="nothing to prune"):
            engine.prune(graph, sparsity, method)
        return
    pruned = engine.prune(graph, sparsity, method)
    _check_against_torch(graph, method, sparsity)
    masked = {w: _pruned_value(pruned, w) for w in _weights(graph)}
    got, want = engine.run(pruned, seed=1), engine.run(graph, inputs=masked, seed=1)
    for out in graph.outputs:
        np.testing.assert_array_equal(got[out], want[out])
    report = engine.prune_report(graph, pruned)
    assert report.drift == 0.0 if sparsity == 0.0 else report.drift >= 0.0


# -- bad arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sparsity,match",
    [
        (-0.1, r"\[0, 1\)"),
        (1.0, r"\[0, 1\)"),
        (1.5, r"\[0, 1\)"),
        (float("nan"), r"\[0, 1\)"),
        (True, "number"),
        ("0.5", "number"),
        (None, "number"),
    ],
)
def test_bad_sparsity_is_refused(sparsity, match):
    with pytest.raises(EngineError, match=match):
        engine.prune(engine.preset("mlp"), sparsity)


def test_bad_method_seed_and_graphs_are_refused():
    mlp = engine.preset("mlp")
    with pytest.raises(EngineError, match="unknown pruning method 'random'.*magnitude, structured, 2:4"):
        engine.prune(mlp, 0.5, "random")
    with pytest.raises(EngineError, match="always 0.5; got sparsity = 0.7"):
        engine.prune(mlp, 0.7, "2:4")
    with pytest.raises(EngineError, match="seed"):
        engine.prune(mlp, 0.5, seed=1.5)
    with pytest.raises(EngineError, match="no conv2d, matmul or gemm layer.*try the mlp"):
        engine.prune(engine.preset("autodiff_example"), 0.5)
    with pytest.raises(EngineError, match="needs a Graph"):
        engine.prune("mlp", 0.5)
    with pytest.raises(EngineError, match="no pruning to report"):
        engine.prune_report(engine.preset("autodiff_example"), engine.preset("autodiff_example"))
    b = GraphBuilder()
    b.op("matmul", b.input((2, 3), name="x"), b.constant(np.ones((3, 2))), name="y")  # constant
    with pytest.raises(EngineError, match="nothing to prune"):
        engine.prune(b.build(), 0.5)
    bad = GraphBuilder()
    bad.op(
        "matmul",
        bad.input((2, 3), name="x"),
        bad.param((3, 2), value=np.array([[1, np.nan], [0, 1], [2, 3]]), name="w"),
        name="y",
    )
    with pytest.raises(EngineError, match="'w' holds nan"):
        engine.prune(bad.build(), 0.5)


def test_report_refuses_a_mismatched_pair():
    mlp = engine.preset("mlp")
    pruned = engine.prune(mlp, 0.5, seed=1)
    with pytest.raises(EngineError, match="another seed"):
        engine.prune_report(mlp, pruned, seed=0)
    with pytest.raises(EngineError, match="result of prune"):
        engine.prune_report(mlp, engine.prune(engine.preset("self_attention"), 0.5))
    with pytest.raises(EngineError, match="input nodes only"):
        engine.prune_report(mlp, pruned, inputs={"W1": np.zeros((16, 32))}, seed=1)


# -- the zoo ResNet-18 (real weights as param values) ----------------------------------------------
def test_zoo_resnet18_magnitude_masks_equal_torch():
    from engine.interop.torch_zoo import zoo_graph, zoo_module

    graph = zoo_graph("resnet18")
    layers = prunable_layers(graph)
    assert len(layers) == 21  # 20 convolutions + the fc gemm
    pruned = engine.prune(graph, 0.5, "magnitude")
    for ly in layers:
        w = source_value(graph.node(ly.weight))
        p = _pruned_value(pruned, ly.weight)
        theirs = torch_mask(w, torch_axes(graph, ly), "magnitude", 0.5)
        assert np.all(w != 0)  # so the non-zeros of p are the kept weights
        ours = (p != 0).astype(np.float32)
        diff = ours != theirs  # torch.topk may order equal |w| differently
        assert ours.sum() == theirs.sum()
        assert np.all(np.abs(w[diff]) == np.abs(w[ours == 0]).max()), ly.weight
    report = engine.prune_report(graph, pruned)
    # torch's conv and linear weights (the graph's convs hold them with batchnorm folded in)
    assert report.total == sum(p.numel() for p in zoo_module("resnet18").parameters() if p.dim() >= 2)
    assert report.sparsity == pytest.approx(0.5, abs=1e-6)
    assert 0.4 < report.skippable_fraction < 0.5 and 0 < report.drift < 1
