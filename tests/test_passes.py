"""Before/expected tests for every graph pass, plus oracles: TVM's fusion tests, torch's Conv+BN fold."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.compiler.lab import ledger
from engine.compiler.lab import pass_trace as pipeline_trace
from engine.compiler.passes import PASSES, optimize
from engine.compiler.passes.constant_folding import constant_folding
from engine.compiler.passes.cse import common_subexpression_elimination
from engine.compiler.passes.dce import dead_code_elimination
from engine.compiler.passes.fusion import analyse, fuse
from engine.compiler.passes.layout_transform import layout_transform
from engine.compiler.passes.simplify import simplify
from engine.core.errors import EngineError
from engine.core.interpreter import source_value
from engine.core.ir import GraphBuilder, validate


def ops_of(graph):
    return [(n.name, n.op, n.inputs) for n in graph.nodes]


def same_outputs(before, after, rtol=1e-5):
    a, b = engine.run(before), engine.run(after)
    for o in before.outputs:
        np.testing.assert_allclose(b[o], a[o], rtol=rtol, atol=1e-5)


# -- constant folding ---------------------------------------------------------------------------
def test_constant_folding_replaces_constant_subtree():
    b = GraphBuilder()
    x = b.input((2, 3), name="x")
    c = b.op("mul", b.constant([1.0, 2.0, 3.0]), b.constant(2.0), name="c")
    b.op("add", x, c, name="y")
    before = b.build()
    after, log = constant_folding(before)
    assert ops_of(after) == [("x", "input", ()), ("c", "constant", ()), ("y", "add", ("x", "c"))]
    np.testing.assert_array_equal(after.node("c").attr("value").array, [2.0, 4.0, 6.0])
    assert "folded 1 op" in log[0]
    same_outputs(before, after)


def test_constant_folding_freezes_weight_preprocessing_as_param():
    b = GraphBuilder()
    x = b.input((2, 3), name="x")
    w = b.param((4, 3), name="w", value=np.arange(12.0).reshape(4, 3))
    wt = b.op("transpose", w, name="wt")
    b.op("matmul", x, wt, name="y")
    after, _ = constant_folding(b.build())
    assert [n.name for n in after.nodes] == ["x", "wt", "y"]
    assert after.node("wt").op == "param"
    np.testing.assert_array_equal(after.node("wt").attr("value").array, np.arange(12.0).reshape(4, 3).T)


def test_constant_folding_leaves_input_dependent_ops():
    b = GraphBuilder()
    b.op("relu", b.input((3,), name="x"), name="y")
    g = b.build()
    after, log = constant_folding(g)
    assert after is g and "no op" in log[0]


# -- simplify -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op,const,left",
    [
        ("mul", 1.0, False),
        ("mul", 1.0, True),
        ("add", 0.0, False),
        ("add", 0.0, True),
        ("sub", 0.0, False),
        ("div", 1.0, False),
        ("pow", 1.0, False),
    ],
)
def test_simplify_neutral_elements(op, const, left):
    b = GraphBuilder()
    x = b.input((2, 3), name="x")
    r = b.op("relu", x, name="r")
    c = b.constant(const)
    m = b.op(op, c, r) if left else b.op(op, r, c)
    b.op("exp", m, name="y")
    before = b.build()
    after, log = simplify(before)
    assert ops_of(after) == [("x", "input", ()), ("r", "relu", ("x",)), ("y", "exp", ("r",))]
    same_outputs(before, after)


def test_simplify_keeps_broadcasting_neutral_op():
    # x (3,) + zeros (2, 3) makes a (2, 3) result: not the same value as x, must stay.
    b = GraphBuilder()
    x = b.input((3,), name="x")
    b.op("add", x, b.constant(np.zeros((2, 3))), name="y")
    g = b.build()
    assert simplify(g)[0] is g


def test_simplify_output_name_survives():
    b = GraphBuilder()
    r = b.op("relu", b.input((2,), name="x"), name="r")
    b.op("mul", r, b.constant(1.0), name="y")
    after, _ = simplify(b.build())
    assert after.outputs == ("y",)
    assert ops_of(after) == [("x", "input", ()), ("y", "relu", ("x",))]


def test_simplify_transposes():
    b = GraphBuilder()
    x = b.input((2, 3, 4), name="x")
    t1 = b.op("transpose", x, perm=(1, 0, 2))
    t2 = b.op("transpose", t1, perm=(0, 2, 1))  # composed: (1, 2, 0)
    t3 = b.op("transpose", t2, perm=(0, 1, 2))  # identity perm
    b.op("relu", t3, name="y")
    before = b.build()
    after, _ = simplify(before)
    ops = [n for n in after.nodes if n.op == "transpose"]
    assert len(ops) == 1 and ops[0].attr("perm") == (1, 2, 0)
    same_outputs(before, after)
    b = GraphBuilder()
    x = b.input((2, 3), name="x")
    b.op("relu", b.op("transpose", b.op("transpose", x)), name="y")
    after, _ = simplify(b.build())
    assert ops_of(after) == [("x", "input", ()), ("y", "relu", ("x",))]


def test_simplify_reshape_chain_and_identity():
    b = GraphBuilder()
    x = b.input((2, 3, 4), name="x")
    r = b.op("reshape", b.op("flatten", b.op("reshape", x, shape=(6, 4)), axis=0), shape=(4, 6))
    i = b.op("identity", r)
    b.op("relu", b.op("reshape", i, shape=(4, 6)), name="y")
    before = b.build()
    after, _ = simplify(before)
    assert [n.op for n in after.nodes] == ["input", "reshape", "relu"]
    assert after.nodes[1].attr("shape") == (4, 6) and after.nodes[1].inputs == ("x",)
    same_outputs(before, after)


def _conv_bn(bias: bool):
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input((1, 3, 6, 6), name="x")
    w = b.param((4, 3, 3, 3), name="w", value=rng.standard_normal((4, 3, 3, 3)))
    args = [x, w] + ([b.param((4,), name="cb", value=rng.standard_normal(4))] if bias else [])
    c = b.op("conv2d", *args, pad=1, name="c")
    stats = dict(
        gamma=rng.uniform(0.5, 1.5, 4),
        beta=rng.standard_normal(4),
        mean=rng.standard_normal(4),
        var=rng.uniform(0.5, 1.5, 4),
    )
    refs = [b.param((4,), name=k, value=v) for k, v in stats.items()]
    b.op("batchnorm", c, *refs, epsilon=1e-3, name="y")
    return b.build(), stats


@pytest.mark.parametrize("bias", [True, False])
def test_conv_bn_folding_matches_torch(bias):
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    before, st = _conv_bn(bias)
    after, log = simplify(before)
    assert [n.op for n in after.nodes if not n.is_source] == ["conv2d"]
    assert after.node("y").op == "conv2d" and "bias kept" in log[0]
    w = torch.tensor(source_value(before.node("w")))
    cb = torch.tensor(source_value(before.node("cb"))) if bias else None
    t = {k: torch.tensor(v, dtype=torch.float32) for k, v in st.items()}
    fw, fb = fuse_conv_bn_weights(w, cb, t["mean"], t["var"], 1e-3, t["gamma"], t["beta"])
    conv = after.node("y")
    np.testing.assert_allclose(
        after.node(conv.inputs[1]).attr("value").array, fw.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        after.node(conv.inputs[2]).attr("value").array, fb.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    same_outputs(before, after, rtol=1e-4)


def test_book_formula_without_conv_bias_is_wrong_when_bias_present():
    before, st = _conv_bn(True)
    after, _ = simplify(before)
    b_ours = after.node(after.node("y").inputs[2]).attr("value").array
    scale = st["gamma"] / np.sqrt(st["var"] + 1e-3)
    b_book = st["beta"] - st["mean"] * scale  # drops the conv bias
    assert not np.allclose(b_ours, b_book, atol=1e-3)


def test_conv_bn_not_folded_when_conv_has_other_users():
    b = GraphBuilder()
    x = b.input((1, 2, 4, 4), name="x")
    c = b.op("conv2d", x, b.param((2, 2, 1, 1)), name="c")
    n = b.op("batchnorm", c, *[b.param((2,), init="uniform") for _ in range(4)], name="n")
    b.op("add", c, n, name="y")
    g = b.build()
    after, _ = simplify(g)
    assert after.node("n").op == "batchnorm"


# -- cse / dce ------------------------------------------------------------------------------------
def test_cse_merges_repeats_and_commutative_pairs():
    b = GraphBuilder()
    x = b.input((3,), name="x")
    p = b.param((3,), name="p")
    a1 = b.op("relu", x, name="a1")
    a2 = b.op("relu", x, name="a2")
    s1 = b.op("add", x, p, name="s1")
    s2 = b.op("add", p, x, name="s2")
    b.op("add", b.op("mul", a1, a2, name="m"), b.op("sub", s1, s2, name="d"), name="y")
    before = b.build()
    after, log = common_subexpression_elimination(before)
    assert "a2" not in after and "s2" not in after
    assert after.node("m").inputs == ("a1", "a1") and after.node("d").inputs == ("s1", "s1")
    assert "merged 2" in log[0]
    same_outputs(before, after)


def test_cse_never_merges_params():
    b = GraphBuilder()
    x = b.input((3,), name="x")
    b.op("add", b.op("mul", x, b.param((3,))), b.op("mul", x, b.param((3,))), name="y")
    g = b.build()
    assert common_subexpression_elimination(g)[0] is g


def test_dce_removes_dead_nodes_keeps_inputs():
    b = GraphBuilder()
    x = b.input((3,), name="x")
    b.input((3,), name="unused")
    b.op("exp", b.op("tanh", x, name="dead1"), name="dead2")
    b.op("relu", x, name="y")
    before = b.build(outputs=[b.variable("y")])
    after, log = dead_code_elimination(before)
    assert [n.name for n in after.nodes] == ["x", "unused", "y"]
    assert "removed 2" in log[0]


# -- fusion: TVM's own test cases (tests/python/relay/test_pass_fuse_ops.py) ---------------------
def test_fusion_tvm_fuse_simple():
    # add(x, 1) -> exp -> squeeze: one kernel
    b = GraphBuilder()
    x = b.input((10, 20), name="x")
    y = b.op("add", x, b.constant(1.0), name="y")
    z = b.op("exp", y, name="z")
    b.op("reshape", z, shape=(200,), name="w")
    assert fuse(b.build()) == [["y", "z", "w"]]


def test_fusion_tvm_conv2d_fuse():
    b = GraphBuilder()
    x = b.input((1, 16, 8, 8), name="x")
    x1 = b.op("add", x, b.constant(1.0), name="x1")
    y0 = b.op("conv2d", x1, b.param((16, 16, 3, 3)), pad=1, name="y0")
    y1 = b.op("add", b.constant(1.0), y0, name="y1")
    y = b.op("add", y0, y1, name="y")
    z2 = b.op("conv2d", y, b.param((16, 16, 1, 1)), name="z2")
    z3 = b.op("conv2d", y, b.param((16, 16, 3, 3)), pad=1, name="z3")
    b.op("add", z2, z3, name="z")
    # TVM's expected: [add], [conv3x3 + add + add], [conv3x3 alone], [conv1x1 + add]
    assert fuse(b.build()) == [["x1"], ["y0", "y1", "y"], ["z3"], ["z2", "z"]]


def test_fusion_elemwise_into_reduction_and_not_across_opaque():
    b = GraphBuilder()
    x = b.input((4, 8), name="x")
    e = b.op("exp", x, name="e")
    s = b.op("reduce_sum", e, axes=(1,), name="s")
    sm = b.op("softmax", s, name="sm")
    b.op("relu", sm, name="r")
    result = analyse(b.build())
    assert [list(g) for g in result.groups] == [["e", "s"], ["sm"], ["r"]]
    assert result.postdom["e"] == "s" and result.postdom["r"] is None


def test_fusion_conv_not_fused_into_injective():
    b = GraphBuilder()
    c = b.op("conv2d", b.input((1, 2, 4, 4), name="x"), b.param((2, 2, 1, 1)), name="c")
    b.op("flatten", b.op("relu", c, name="r"), name="f")
    assert fuse(b.build()) == [["c", "r"], ["f"]]


def test_postdominator_of_a_diamond_is_the_join():
    b = GraphBuilder()
    x = b.input((3,), name="x")
    a = b.op("relu", x, name="a")
    l1 = b.op("exp", a, name="l")
    r = b.op("tanh", a, name="r")
    b.op("add", l1, r, name="j")
    res = analyse(b.build())
    assert res.postdom == {"a": "j", "l": "j", "r": "j", "j": None}
    assert fuse(b.build()) == [["a", "l", "r", "j"]]


# -- layout -----------------------------------------------------------------------------------------
def _conv_relu_conv():
    b = GraphBuilder()
    x = b.input((1, 8, 5, 5), name="x")
    c1 = b.op("conv2d", x, b.param((8, 8, 3, 3)), pad=1, name="c1")
    r = b.op("relu", c1, name="r")
    b.op("conv2d", r, b.param((8, 8, 1, 1)), name="c2")
    return b.build()


@pytest.mark.parametrize("layout", ["NHWC", "NC1HWC0"])
def test_layout_converts_only_at_region_boundaries(layout):
    before = _conv_relu_conv()
    after, log = layout_transform(before, layout)
    validate(after)
    same_outputs(before, after)
    assert after.outputs == ("c2",)
    # relu runs in the target layout between the two convs
    relu = next(n for n in after.nodes if n.op == "relu")
    assert relu.name == f"r@{layout}" and len(relu.shape) == (4 if layout == "NHWC" else 5)
    assert "2 conversion(s) between kernels instead of 4" in log[1]


def test_layout_nc1hwc0_shape():
    after, _ = layout_transform(_conv_relu_conv(), "NC1HWC0")
    assert after.node("r@NC1HWC0").shape == (1, 1, 5, 5, 8)


def test_layout_bad_target():
    with pytest.raises(EngineError, match="NHWC"):
        layout_transform(_conv_relu_conv(), "HWCN")


# -- optimize / trace ---------------------------------------------------------------------------
def test_optimize_unknown_pass_lists_valid_names():
    with pytest.raises(EngineError, match="constant_folding"):
        optimize(_conv_relu_conv(), ["fold_everything"])
    with pytest.raises(EngineError):
        optimize(_conv_relu_conv(), "dce")


def test_public_names():
    assert engine.optimize is optimize and engine.fuse is fuse
    assert {"constant_folding", "simplify", "cse", "dce", "fusion", "layout"} <= set(PASSES)


def test_trace_ledger_on_conv_bn_relu_preset():
    g = engine.preset("conv_bn_relu")
    steps = list(pipeline_trace(g, ["simplify", "dce", "fusion"]))
    assert len(steps) == 4
    first, simp, fus = steps[0].data["ledger"], steps[1].data["ledger"], steps[3].data["ledger"]
    assert (first.ops, first.kernels) == (3, 3)
    assert (simp.ops, simp.kernels) == (2, 2)  # BN folded into the conv
    assert fus.kernels == 1  # conv + relu in one kernel
    # one kernel: reads x (1x3x32x32) + weights, writes y (1x16x32x32) once, in float32 bytes
    expected = 4 * (3 * 32 * 32 + 16 * 3 * 3 * 3 + 16 + 16 * 32 * 32)
    assert fus.bytes_moved == expected < simp.bytes_moved
    assert "c" in steps[1].highlight and "n" in steps[1].data["removed"]


def test_ledger_time_is_the_roofline_sum():
    g = engine.preset("mlp")
    led = ledger(g, device=(1e12, 1e11))
    assert led.time_s > 0 and led.flops == engine.cost(g).flops
    with pytest.raises(EngineError):
        ledger(g, device=(0, 1))


def test_simplify_matmul_add_becomes_gemm():
    b = GraphBuilder()
    x = b.input((4, 3), name="x")
    mm = b.op("matmul", x, b.param((3, 5), name="w"), name="mm")
    b.op("add", b.param((5,), name="bias"), mm, name="y")
    before = b.build()
    after, log = simplify(before)
    assert ops_of(after)[-1] == ("y", "gemm", ("x", "w", "bias")) and "mm" not in after
    same_outputs(before, after)


def test_layout_kernel_views_count_inside_the_op_kernel():
    g = engine.preset("conv_bn_relu")
    steps = list(pipeline_trace(g, ["simplify", "layout"]))
    views = __import__("engine.compiler.passes.layout_transform", fromlist=["kernel_views"]).kernel_views(
        steps[2].graph
    )
    assert set(views.values()) == {"c.kernel"} and len(views) == 2
    # conv (with its two views) + relu in NHWC + two boundary conversions (x in, y out) = 4 kernels
    assert steps[2].data["ledger"].kernels == 4
    fused = list(pipeline_trace(g, ["simplify", "fusion", "layout"]))
    assert fused[-1].data["ledger"].kernels == 1
