"""pattern_fuse: decomposed LayerNorm, GELU, softmax and attention -> the fused op.

Oracles: the graph's own values before the rewrite (engine.run on random inputs, over random
pattern variants drawn by hypothesis), onnxruntime running the torch-exported models the patterns
come from, and onnxruntime's own optimised graphs (node counts, where ours agree or differ)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.compiler.passes import PASSES, optimize
from engine.compiler.passes.pattern_fuse import pattern_fuse, plan
from engine.core.cost_model import cost
from engine.core.errors import EngineError, ShapeError
from engine.core.ir import GraphBuilder, validate


def ops(graph) -> list[str]:
    return [n.op for n in graph.op_nodes]


def same_values(before, after, inputs=None, rtol=1e-5, atol=1e-5):
    validate(after)
    assert after.outputs == before.outputs
    assert [n.name for n in after.inputs] == [n.name for n in before.inputs]
    for seed in (0, 1):
        ref, got = engine.run(before, inputs, seed=seed), engine.run(after, inputs, seed=seed)
        for o in before.outputs:
            np.testing.assert_allclose(got[o], ref[o], rtol=rtol, atol=atol, err_msg=o)


# -- builders of decomposed patterns ---------------------------------------------------------------
def layernorm_by_hand(b, x, k, eps=1e-5, square="pow", norm="div", gamma=None, beta=None, flip=False):
    """LayerNorm over the last ``k`` axes as exporters write it; returns the named intermediates."""
    rank = len(b.shape_of(x))
    axes = tuple(range(-k, 0)) if flip else tuple(range(rank - k, rank))
    v = {"mean": b.op("reduce_mean", x, axes=axes, keepdims=1)}
    v["d"] = b.op("sub", x, v["mean"])
    if square == "pow":
        sq = b.op("pow", v["d"], b.constant(2.0))
    elif square == "mul":
        sq = b.op("mul", v["d"], v["d"])
    else:
        sq = b.op("square", v["d"])
    v["var"] = b.op("reduce_mean", sq, axes=axes, keepdims=1)
    e = b.constant(eps)
    v["ve"] = b.op("add", e, v["var"]) if flip else b.op("add", v["var"], e)
    if norm == "div":
        v["std"] = b.op("sqrt", v["ve"])
        v["n"] = b.op("div", v["d"], v["std"])
    elif norm == "rsqrt_div":
        v["std"] = b.op("div", b.constant(1.0), b.op("sqrt", v["ve"]))
        v["n"] = b.op("mul", v["std"], v["d"]) if flip else b.op("mul", v["d"], v["std"])
    else:
        v["std"] = b.op("pow", v["ve"], b.constant(-0.5))
        v["n"] = b.op("mul", v["d"], v["std"])
    y = v["n"]
    if gamma is not None:
        y = v["scaled"] = b.op("mul", gamma, y) if flip else b.op("mul", y, gamma)
    if beta is not None:
        y = b.op("add", beta, y) if flip else b.op("add", y, beta)
    v["y"] = y
    return v


def gelu_by_hand(b, x, form: int):
    """Three ways exporters and people write 0.5 x (1 + erf(x / sqrt 2))."""
    if form == 0:  # torch nn.GELU below opset 20: Div, Erf, Add, Mul, Mul
        t = b.op("add", b.op("erf", b.op("div", x, b.constant(math.sqrt(2)))), b.constant(1.0))
        return b.op("mul", b.op("mul", x, t), b.constant(0.5))
    if form == 1:  # 0.5 * x first, then * (1 + erf(x * 1/sqrt 2))
        t = b.op("add", b.constant(1.0), b.op("erf", b.op("mul", x, b.constant(1 / math.sqrt(2)))))
        return b.op("mul", b.op("mul", b.constant(0.5), x), t)
    half = b.op(
        "mul",
        b.op("add", b.op("erf", b.op("div", x, b.constant(math.sqrt(2)))), b.constant(1.0)),
        b.constant(0.5),
    )
    return b.op("mul", half, x)


def softmax_by_hand(b, x, axis: int, stable: bool = True):
    shifted = b.op("sub", x, b.op("reduce_max", x, axes=(axis,), keepdims=1)) if stable else x
    e = b.op("exp", shifted)
    return b.op("div", e, b.op("reduce_sum", e, axes=(axis,), keepdims=1))


# -- before / expected -----------------------------------------------------------------------------
def test_torch_style_layernorm_becomes_one_layernorm():
    b = GraphBuilder("ln")
    x = b.input((2, 5, 8), name="x")
    g, bb = b.param((8,), name="g", init="uniform"), b.param((8,), name="b")
    v = layernorm_by_hand(b, x, 1, 1e-5, gamma=g, beta=bb)
    before = b.build([v["y"]])
    after, log = pattern_fuse(before)
    (node,) = after.op_nodes
    assert (node.op, node.inputs, node.attr("axis"), node.attr("epsilon")) == (
        "layernorm",
        ("x", "g", "b"),
        -1,
        1e-5,
    )
    assert len(after.nodes) == 4 and node.name == before.outputs[0]  # x, g, b and the layernorm
    assert log[0].startswith("pattern_fuse: 9 ops -> layernorm(x, g, b, axis=-1, epsilon=1e-05) at ")
    assert log[-1] == "pattern_fuse: 9 op(s) -> 1 op(s)"
    same_values(before, after)


@pytest.mark.parametrize("form", [0, 1, 2])
def test_erf_gelu_in_any_grouping_becomes_gelu(form):
    b = GraphBuilder("gelu")
    x = b.op("matmul", b.input((4, 6), name="x"), b.param((6, 5)), name="h")
    before = b.build([b.op("relu", gelu_by_hand(b, x, form), name="y")])
    after, log = pattern_fuse(before)
    assert ops(after) == ["matmul", "gelu", "relu"]
    assert after.node(after.node("y").inputs[0]).inputs == ("h",)
    same_values(before, after, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stable", [True, False])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_by_hand_becomes_softmax(axis, stable):
    b = GraphBuilder("softmax")
    x = b.input((3, 4, 5), name="x")
    before = b.build([softmax_by_hand(b, x, axis, stable)])
    after, _ = pattern_fuse(before)
    (node,) = after.op_nodes
    assert node.op == "softmax" and node.inputs == ("x",) and node.attr("axis") % 3 == axis % 3
    same_values(before, after)


def test_self_attention_preset_becomes_attention():
    before = engine.preset("self_attention")
    after, log = pattern_fuse(before)
    assert ops(after) == ["matmul", "matmul", "matmul", "attention", "matmul"]
    node = after.node("context")
    assert node.op == "attention" and node.inputs == ("q", "k", "v") and node.attr("scale") == 0.25
    assert log[0] == "pattern_fuse: 5 ops -> attention(q, k, v, scale=0.25) at context"
    same_values(before, after)
    # the fused op's FLOPs are those of the ops it replaced (its cost convention is their sum)
    gone = {n.name for n in before.op_nodes} - {n.name for n in after.op_nodes}
    replaced = sum(r.flops for r in cost(before).nodes if r.name in gone | {"context"})
    static = cost(before).by_name("sqrt#1").flops  # sqrt(d) of a constant: swept with its user
    assert cost(after).by_name("context").flops == replaced - static


def test_attention_scale_split_over_q_and_k_like_torch_sdpa():
    b = GraphBuilder("sdpa")
    q, k, v = (b.input((2, 3, 7, 8), name=n) for n in "qkv")
    c = b.op("sqrt", b.op("div", b.constant(1.0), b.op("sqrt", b.constant(8.0))))  # computed scale
    kt = b.op("mul", b.op("transpose", k, perm=(0, 1, 3, 2)), c)
    s = b.op("matmul", b.op("mul", q, c), kt)
    before = b.build([b.op("matmul", softmax_by_hand(b, s, -1), v, name="y")])
    after, _ = pattern_fuse(before)
    assert ops(after) == ["attention"]
    assert after.node("y").attr("scale") == pytest.approx(1 / math.sqrt(8), rel=1e-6)
    same_values(before, after)


def test_tanh_gelu_is_reported_and_kept():
    b = GraphBuilder("tanh gelu")
    x = b.input((3, 4), name="x")
    cube = b.op("mul", b.op("mul", b.op("mul", x, x), x), b.constant(0.044715))
    t = b.op("tanh", b.op("mul", b.op("add", x, cube), b.constant(math.sqrt(2 / math.pi))))
    before = b.build([b.op("mul", b.op("mul", x, b.op("add", t, b.constant(1.0))), b.constant(0.5))])
    after, log = pattern_fuse(before)
    assert after is before
    assert log[0].startswith("pattern_fuse: tanh-approximate GELU at ") and log[0].endswith(" 0.00047")
    assert len(log) == 1


# -- legality -------------------------------------------------------------------------------------
def test_a_shared_intermediate_blocks_the_rewrite_and_is_named():
    b = GraphBuilder("shared")
    x = b.input((3, 5), name="x")
    e = b.op("exp", b.op("sub", x, b.op("reduce_max", x, axes=(1,), keepdims=1)), name="e")
    y = b.op("div", e, b.op("reduce_sum", e, axes=(1,), keepdims=1), name="y")
    before = b.build([y, b.op("relu", e, name="z")])
    after, log = pattern_fuse(before)
    assert after is before and "softmax" not in ops(after)
    assert log == ["pattern_fuse: softmax pattern at y left as is: e is also read by z"]


def test_an_intermediate_that_is_an_output_blocks_the_rewrite():
    b = GraphBuilder("output")
    x = b.input((2, 6), name="x")
    v = layernorm_by_hand(b, x, 1)
    before = b.build([v["y"], v["var"]])
    after, log = pattern_fuse(before)
    assert "layernorm" not in ops(after) and "is a graph output" in log[0]


@pytest.mark.parametrize(
    "change",
    ["axes differ", "keepdims 0", "eps is a weight", "not trailing", "mean of another tensor"],
)
def test_mismatched_attributes_are_not_layernorm(change):
    b = GraphBuilder("almost")
    x = b.input((4, 4), name="x")  # square, so a wrong reduction still broadcasts
    other = b.op("relu", x)
    axes_mean = (0,) if change in ("axes differ", "not trailing") else (1,)
    axes_var = (0,) if change == "not trailing" else (1,)
    keep = 0 if change == "keepdims 0" else 1
    src = other if change == "mean of another tensor" else x
    mean = b.op("reduce_mean", src, axes=axes_mean, keepdims=1)
    d = b.op("sub", x, mean)
    var = b.op("reduce_mean", b.op("mul", d, d), axes=axes_var, keepdims=keep)
    eps = b.param((), name="eps", init="ones") if change == "eps is a weight" else b.constant(1e-5)
    before = b.build([b.op("div", d, b.op("sqrt", b.op("add", var, eps)))])
    after, _ = pattern_fuse(before)
    assert "layernorm" not in ops(after)
    same_values(before, after)


def test_causal_mask_and_non_last_axis_are_not_attention():
    b = GraphBuilder("masked")
    q, k, v = (b.input((4, 8), name=n) for n in "qkv")
    s = b.op("add", b.op("matmul", q, b.op("transpose", k)), b.param((4, 4), name="mask"))
    p0 = b.op("softmax", b.op("matmul", q, b.op("transpose", k)), axis=0)
    before = b.build([b.op("matmul", b.op("softmax", s), v), b.op("matmul", p0, v)])
    after, _ = pattern_fuse(before)
    assert "attention" not in ops(after)


def test_graphs_without_patterns_come_back_unchanged():
    from engine.interop.torch_zoo import zoo_graph

    for graph in (zoo_graph("resnet18"), engine.preset("mlp"), engine.preset("autodiff_example")):
        after, log = pattern_fuse(graph)
        assert after is graph
        assert log == ["pattern_fuse: no decomposed LayerNorm, GELU, softmax or attention pattern found"]


def test_registered_as_a_pass():
    info = PASSES["pattern_fuse"]
    assert info.run is pattern_fuse and info.title == "Pattern fusion (LayerNorm, GELU, softmax, attention)"
    order = list(PASSES)
    assert order.index("dce") < order.index("pattern_fuse") < order.index("fusion")


# -- properties over random variants ----------------------------------------------------------------
@st.composite
def layernorm_cases(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(2, 5)) for _ in range(rank))
    k = draw(st.integers(1, rank))
    flip = draw(st.booleans())
    b = GraphBuilder("random layernorm")
    x = b.op("tanh", b.input(shape, name="x"), name="x_t")
    norm = shape[rank - k :]
    gamma = draw(st.sampled_from(["none", "full", "ones-axes"]))
    g = None
    if gamma != "none":
        gshape = norm if gamma == "full" else (1,) * (k - 1) + norm[-1:]
        g = b.param(gshape, name="g", init="uniform")
    beta = b.param(norm[-1:], name="beta") if g is not None and draw(st.booleans()) else None
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.25]))
    v = layernorm_by_hand(
        b,
        x,
        k,
        eps,
        draw(st.sampled_from(["pow", "mul", "square"])),
        draw(st.sampled_from(["div", "rsqrt_div", "rsqrt_pow"])),
        g,
        beta,
        flip,
    )
    shared = draw(st.sampled_from(["none", "none", "mean", "d", "var", "std", "n"]))
    outputs = [v["y"]] + ([b.op("relu", v[shared])] if shared != "none" else [])
    inputs = {"none": 1 + (g is not None) + (beta is not None), "n": 1}.get(shared, 0)
    if shared == "n" and v["n"] == v["y"]:
        inputs = 1
    return b.build(outputs), inputs, k, eps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layernorm_cases())
def test_random_layernorm_variants_fuse_when_legal_and_keep_values(case):
    before, want_inputs, k, eps = case
    after, log = pattern_fuse(before)
    same_values(before, after, rtol=1e-4, atol=1e-5)
    lns = [n for n in after.op_nodes if n.op == "layernorm"]
    if want_inputs == 0:
        assert lns == [] and any("is also read by" in line for line in log)
    else:
        (ln,) = lns
        assert len(ln.inputs) == want_inputs and ln.inputs[0] == "x_t"
        assert (ln.attr("axis"), ln.attr("epsilon")) == (-k, eps)


@st.composite
def attention_cases(draw):
    batch = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2))))
    lq, lk, d, dv = (draw(st.integers(1, 6)) for _ in range(4))
    b = GraphBuilder("random attention")
    q = b.input(batch + (lq, d), name="q")
    kb = batch if draw(st.booleans()) else ()  # k and v shared across the batch, or not
    k, v = b.input(kb + (lk, d), name="k"), b.input(kb + (lk, dv), name="v")
    rank = len(kb) + 2
    kt = b.op("transpose", k, perm=tuple(range(rank - 2)) + (rank - 1, rank - 2))
    form = draw(st.sampled_from(["div", "mul", "split", "none"]))
    c, scale = b.constant(float(d)), 1.0
    if form == "split":
        half = b.constant(d**-0.25)
        q, kt, scale = b.op("mul", q, half), b.op("mul", half, kt), d**-0.5
    s = b.op("matmul", q, kt)
    if form == "div":
        s, scale = b.op("div", s, b.op("sqrt", c)), d**-0.5
    elif form == "mul":
        s, scale = b.op("mul", b.constant(0.3), s), 0.3
    p = softmax_by_hand(b, s, -1) if draw(st.booleans()) else b.op("softmax", s, axis=-1)
    return b.build([b.op("matmul", p, v, name="y")]), scale


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attention_cases())
def test_random_attention_variants_fuse_and_keep_values(case):
    before, scale = case
    after, _ = pattern_fuse(before)
    assert ops(after) == ["attention"]
    assert after.node("y").inputs == ("q", "k", "v")
    assert after.node("y").attr("scale") == pytest.approx(scale, rel=1e-5)
    same_values(before, after)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2), st.sampled_from([(5,), (2, 3), (2, 2, 3)]))
def test_gelu_then_layernorm_then_every_pipeline(form, shape):
    b = GraphBuilder("block")
    x = b.input(shape, name="x")
    v = layernorm_by_hand(b, gelu_by_hand(b, x, form), 1, gamma=b.param(shape[-1:], name="g"))
    before = b.build([v["y"]])
    for passes in (
        ["pattern_fuse"],
        list(PASSES),
        ["constant_folding", "simplify", "pattern_fuse", "fusion"],
    ):
        after, log = optimize(before, passes)
        same_values(before, after, rtol=1e-4, atol=1e-5)
    assert ops(optimize(before, ["pattern_fuse"])[0]) == ["gelu", "layernorm"]


def test_plan_is_deterministic_and_does_not_change_the_graph():
    before = engine.preset("self_attention")
    first, second = plan(before), plan(before)
    assert first == second and before == engine.preset("self_attention")


# -- the attention op ------------------------------------------------------------------------------
def test_attention_op_matches_torch_sdpa():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 8), (2, 7, 8), (2, 7, 3)))
    b = GraphBuilder()
    y = b.op("attention", b.input(value=q), b.input(value=k), b.input(value=v))
    ours = engine.run(b.build([y]))[b.name_of(y)]
    ref = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shapes,message",
    [
        (((4,), (3, 4), (3, 2)), "q must have at least 2 dimensions"),
        (((2, 4), (3, 5), (3, 2)), "must have the same width"),
        (((2, 4), (3, 4), (5, 2)), "same number of tokens"),
        (((2, 2, 4), (3, 3, 4), (3, 3, 2)), "cannot broadcast"),
    ],
)
def test_attention_shape_errors(shapes, message):
    b = GraphBuilder()
    with pytest.raises(ShapeError, match=message):
        b.op("attention", *[b.input(s) for s in shapes])


# -- onnxruntime as the oracle: its outputs, and its own fused graphs ---------------------------------
@pytest.fixture(scope="module")
def ort_rows():
    from engine.interop.ort_compare import compare_patterns

    return {r.name: r for r in compare_patterns()}


def test_fused_torch_exports_compute_what_onnxruntime_computes():
    ort = pytest.importorskip("onnxruntime")
    from engine.interop.onnx_import import from_onnx
    from engine.interop.ort_compare import PATTERN_MODELS, pattern_model_onnx

    fused_op = {"gelu_tanh": None, "sdpa": "attention", "attention": "attention"}
    for name in PATTERN_MODELS:
        data = pattern_model_onnx(name)
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(7)
        feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
        want = sess.run(None, feeds)[0]
        graph = from_onnx(data)
        fused, _ = optimize(graph, ["constant_folding", "simplify", "cse", "dce", "pattern_fuse"])
        want_op = fused_op.get(name, name.split("_")[0])
        assert ops(fused) == ([want_op] if want_op else ops(graph)), name
        inputs = dict(zip((n.name for n in graph.inputs), feeds.values()))
        got = engine.run(fused, inputs)[fused.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_node_counts_beside_onnxruntime(ort_rows):
    """Where onnxruntime 1.32 (CPU) and pattern_fuse agree or differ, model by model."""
    table = {n: (r.ort_basic, r.ort_extended, r.ours_patterns) for n, r in ort_rows.items()}
    assert table == {
        "layernorm_opset13": (9, 1, 1),  # ORT basic needs opset 17 for ONNX LayerNormalization
        "layernorm_pow": (1, 1, 1),  # the same fusion at the basic level
        "layernorm_mul": (9, 9, 1),  # ORT's LayerNormFusion wants Pow(d, 2): d·d is not fused
        "gelu": (5, 1, 1),  # basic needs opset 20 for ONNX Gelu; extended has its contrib Gelu
        "gelu_opset20": (1, 1, 1),
        "gelu_tanh": (9, 9, 9),  # neither fuses torch's tanh form (ours: the gelu op is the erf form)
        "softmax": (5, 5, 1),  # onnxruntime has no softmax fusion
        "sdpa": (6, 3, 1),  # ORT: FusedMatMul (scale folded) + Softmax + MatMul
        "attention": (5, 3, 1),
    }
    assert {n for n, r in ort_rows.items() if r.agrees_basic} == {
        "layernorm_pow",
        "gelu_opset20",
        "gelu_tanh",
    }
    agree_ext = {n for n, r in ort_rows.items() if r.agrees_extended}
    assert agree_ext == {"layernorm_opset13", "layernorm_pow", "gelu", "gelu_opset20", "gelu_tanh"}
    assert ort_rows["layernorm_pow"].ort_fused_basic == ("LayerNormalization",)
    assert ort_rows["gelu"].ort_fused_extended == ("Gelu",)
    assert ort_rows["sdpa"].ort_fused_extended == ("FusedMatMul",)
    assert ort_rows["sdpa"].ours_fused == ("attention",) and ort_rows["gelu_tanh"].ours_fused == ()


def test_compare_with_ort_has_a_pattern_row():
    from engine.interop.ort_compare import compare_with_ort

    c = compare_with_ort(engine.preset("self_attention"))
    assert c.ours_patterns == ("attention",) and c.ours_ops_patterns == c.ours_ops_basic - 4
    row = next(r for r in c.rows() if r["level"] == "+ pattern_fuse")
    assert row["nodes"] == c.ours_ops_patterns and row["fused"] == "attention"


def test_bad_pattern_model_names_are_engine_errors():
    from engine.interop.ort_compare import compare_patterns, pattern_model_onnx

    with pytest.raises(EngineError, match="no pattern model named 'nope'"):
        pattern_model_onnx("nope")
    with pytest.raises(EngineError, match="list of names"):
        compare_patterns("gelu")


def test_gradients_through_the_fused_ops_equal_the_decomposed_ones():
    """engine.grad uses each fused op's own VJP rule: it must give the decomposed graph's gradient."""
    b = GraphBuilder("block")
    x = b.input((6, 8), name="x")
    wq, wk, wv = (b.param((8, 8), name=n) for n in ("wq", "wk", "wv"))
    g = b.param((8,), name="g", init="uniform")
    h = layernorm_by_hand(b, gelu_by_hand(b, x, 0), 1, gamma=g, beta=b.param((8,), name="beta"))["y"]
    q, k, v = (b.op("matmul", h, w) for w in (wq, wk, wv))
    s = b.op("div", b.op("matmul", q, b.op("transpose", k)), b.op("sqrt", b.constant(8.0)))
    y = b.op("matmul", softmax_by_hand(b, s, -1), v)
    before = b.build([b.op("reduce_sum", b.op("mul", y, y), name="loss")])
    after, _ = pattern_fuse(before)
    assert sorted(ops(after)) == sorted(
        ["gelu", "layernorm", "matmul", "matmul", "matmul", "attention", "mul", "reduce_sum"]
    )
    wrt = ["x", "wq", "wk", "wv", "g", "beta"]
    ref, got = engine.grad(before, "loss", wrt), engine.grad(after, "loss", wrt)
    for name in wrt:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_the_stated_gap_between_tanh_and_erf_gelu_is_torchs():
    torch = pytest.importorskip("torch")
    from engine.compiler.passes.pattern_fuse import GELU_TANH_GAP

    x = torch.linspace(-8, 8, 160_001, dtype=torch.float64)
    gap = (torch.nn.functional.gelu(x, approximate="tanh") - torch.nn.functional.gelu(x)).abs()
    assert gap.max().item() == pytest.approx(GELU_TANH_GAP, rel=0.01)
    assert abs(x[gap.argmax()].item()) == pytest.approx(2.70, abs=0.01)


@pytest.mark.parametrize("scale", [None, 0.25])
def test_fused_attention_exports_to_onnx_and_onnxruntime_agrees(scale):
    """The fused graph still exports (attention decomposed into Transpose/MatMul/Mul/Softmax/MatMul,
    since ONNX's own Attention op needs opset 23) and onnxruntime computes what the interpreter does."""
    import onnxruntime as ort

    from engine.core.interpreter import run

    b = GraphBuilder("attn")
    q, k, v = (b.input((2, 3, 5, 8), name=n) for n in "qkv")
    g = b.build([b.op("attention", q, k, v, name="out", scale=scale)])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((2, 3, 5, 8)).astype(np.float32) for n in "qkv"}
    want = run(g, feeds)["out"]
    sess = ort.InferenceSession(engine.to_onnx(g), providers=["CPUExecutionProvider"])
    got = sess.run(["out"], feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
