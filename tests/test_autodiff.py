"""Whole-graph autodiff: Baydin et al. (2018) Tables 2 and 3, forward == reverse on random graphs,
gradients against torch.autograd, and clear errors for bad requests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.core.errors import EngineError, GraphError, ShapeError
from engine.core.interpreter import run
from engine.core.ir import GraphBuilder
from engine.framework.autodiff import baydin_labels, jacobian
from engine.framework.autodiff_rules import DifferentiationError

try:
    from strategies import random_graphs
except ImportError:  # pragma: no cover - helper module not present
    random_graphs = None


def baydin_graph():
    """f(x1, x2) = ln(x1) + x1 x2 - sin(x2) at (2, 5), built node by node as in the survey."""
    b = GraphBuilder("baydin")
    x1 = b.input(value=2.0, name="x1")
    x2 = b.input(value=5.0, name="x2")
    v1 = b.op("log", x1, name="v1")
    v2 = b.op("mul", x1, x2, name="v2")
    v3 = b.op("sin", x2, name="v3")
    v4 = b.op("add", v1, v2, name="v4")
    y = b.op("sub", v4, v3, name="v5")
    return b.build([y])


# Baydin, Pearlmutter, Radul, Siskind (2018), JMLR 18(153), Table 2 (forward, x1_dot = 1) and
# Table 3 (reverse): the printed values, to the 3 decimals the survey gives.
TABLE2_PRIMAL = {"x1": 2.0, "x2": 5.0, "v1": 0.693, "v2": 10.0, "v3": -0.959, "v4": 10.693, "v5": 11.652}
TABLE2_TANGENT = {"x1": 1.0, "x2": 0.0, "v1": 0.5, "v2": 5.0, "v3": 0.0, "v4": 5.5, "v5": 5.5}
TABLE3_ADJOINT = {"v5": 1.0, "v4": 1.0, "v3": -1.0, "v1": 1.0, "v2": 1.0, "x2": 1.716, "x1": 5.5}


@pytest.mark.parametrize("graph", [baydin_graph(), None], ids=["builder", "preset"])
def test_forward_mode_reproduces_table_2(graph):
    graph = graph or engine.preset("autodiff_example")
    out = graph.outputs[0]
    trace = engine.forward_trace(graph, {"x1": 1.0})
    rows = {s.data["node"]: s.data for s in trace.steps}
    assert [s.highlight for s in trace.steps] == [(n.name,) for n in graph.nodes]
    for name, value in TABLE2_PRIMAL.items():
        name = out if name == "v5" else name
        assert round(rows[name]["value"], 3) == value
        assert round(rows[name]["tangent"], 3) == TABLE2_TANGENT[name if name != out else "v5"]
    labels = baydin_labels(graph)
    assert labels["x1"] == "v-1" and labels["x2"] == "v0" and labels[out] == "v5"


def test_reverse_mode_reproduces_table_3():
    graph = baydin_graph()
    trace = engine.reverse_trace(graph, "v5")
    adj = trace.summary["adjoints"]
    for name, value in TABLE3_ADJOINT.items():
        assert round(float(adj[name]), 3) == value
    # the forward sweep comes first (one step per node), then the backward sweep
    assert [s.highlight[0] for s in trace.steps[:7]] == [n.name for n in graph.nodes]
    back = [s.data for s in trace.steps[7:]]
    x2_rows = [r for d in back for r in d["contributions"] if r["to"] == "x2"]
    # fan-out: x2 feeds v2 and v3; the table's v0_bar = -0.284 then += 2 -> 1.716
    assert [round(r["contribution"], 3) for r in x2_rows] == [-0.284, 2.0]
    assert [r["accumulated"] for r in x2_rows] == [False, True]
    assert round(x2_rows[-1]["adjoint"], 3) == 1.716


def test_grad_is_the_end_of_reverse_trace_and_forward_mode_agrees():
    graph = baydin_graph()
    rev = engine.grad(graph, "v5", ["x1", "x2"])
    fwd = engine.grad(graph, "v5", ["x1", "x2"], mode="forward")
    assert round(float(rev["x1"]), 3) == 5.5 and round(float(rev["x2"]), 3) == 1.716
    for k in rev:
        np.testing.assert_allclose(rev[k], fwd[k], rtol=1e-6)
    trace = engine.reverse_trace(graph, "v5")
    np.testing.assert_allclose(trace.summary["gradients"]["x2"], rev["x2"])


def _mlp(batch=4, width=8):
    b = GraphBuilder("mlp")
    x = b.input((batch, width), name="x")
    h = x
    for k in range(2):
        w = b.param((width, width), name=f"W{k}")
        bias = b.param((width,), name=f"b{k}")
        h = b.op("tanh", b.op("add", b.op("matmul", h, w), bias))
    loss = b.op("reduce_mean", b.op("mul", h, h), name="loss")
    return b.build([loss])


def test_mlp_gradient_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    graph = _mlp()
    values = run(graph, seed=3)
    wrt = ["x", "W0", "b0", "W1", "b1"]
    ours = engine.grad(graph, "loss", wrt, seed=3)
    t = {k: torch.tensor(values[k], dtype=torch.float64, requires_grad=True) for k in wrt}
    h = t["x"]
    for k in range(2):
        h = torch.tanh(h @ t[f"W{k}"] + t[f"b{k}"])
    (h * h).mean().backward()
    for k in wrt:
        np.testing.assert_allclose(ours[k], t[k].grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(random_graphs is None, reason="tests/strategies.py not present")
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=random_graphs(max_nodes=8) if random_graphs else st.none(), seed=st.integers(0, 1000))
def test_forward_and_reverse_agree_on_random_graphs(graph, seed):
    """u^T J v both ways: reverse mode with seed u == u . (forward mode with direction v)."""
    b_out = graph.outputs[0]
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    rng = np.random.default_rng(seed)
    vals = run(graph, seed=seed)
    direction = {s: rng.standard_normal(vals[s].shape) for s in sources}
    fwd = engine.forward_trace(graph, direction, seed=seed)
    jv = np.asarray(fwd.summary["tangents"].get(b_out, np.zeros(vals[b_out].shape)), np.float64)
    res = jacobian(graph, b_out, sources, seed=seed, mode="reverse")  # m backward sweeps
    fres = jacobian(graph, b_out, sources, seed=seed, mode="forward")  # n forward sweeps
    np.testing.assert_allclose(res.matrix, fres.matrix, rtol=2e-3, atol=2e-4)
    v = np.concatenate([direction[s].ravel() for s in sources])
    np.testing.assert_allclose(res.matrix @ v, jv.ravel(), rtol=2e-3, atol=2e-4)
    u = rng.standard_normal(jv.size)
    np.testing.assert_allclose(u @ res.matrix @ v, u @ jv.ravel(), rtol=2e-3, atol=2e-4)
    assert res.sweeps == jv.size and fres.sweeps == v.size


def test_jacobian_sweep_counts():
    b = GraphBuilder("f")
    x = b.input((5,), name="x")
    w = b.param((3, 5), name="W")
    b.op("tanh", b.op("matmul", w, x), name="y")
    graph = b.build()
    fwd = jacobian(graph, "y", ["x"], mode="forward")
    rev = jacobian(graph, "y", ["x"], mode="reverse")
    assert (fwd.sweeps, rev.sweeps) == (5, 3)
    assert fwd.matrix.shape == rev.matrix.shape == (3, 5)
    np.testing.assert_allclose(fwd.matrix, rev.matrix, rtol=1e-5, atol=1e-6)
    assert fwd.rule_calls == 5 * 2 and rev.rule_calls == 3 * 2


def test_bad_requests_are_clear_errors():
    graph = _mlp()
    with pytest.raises(ShapeError, match="reverse mode starts from a scalar"):
        engine.grad(graph, "x", ["x"])
    with pytest.raises(GraphError, match="cannot differentiate with respect to 'nope'"):
        engine.grad(graph, "loss", ["nope"])
    with pytest.raises(GraphError, match="no node named 'zzz' to differentiate"):
        engine.reverse_trace(graph, "zzz")
    with pytest.raises(EngineError, match="mode must be"):
        engine.grad(graph, "loss", ["x"], mode="sideways")
    with pytest.raises(EngineError, match="wrt must be"):
        engine.grad(graph, "loss", "x")


def test_non_differentiable_point_names_the_node():
    b = GraphBuilder()
    x = b.input(value=-1.0, name="x")
    b.op("add", b.op("log", x, name="lx"), x, name="y")
    graph = b.build()
    with pytest.raises(DifferentiationError, match="node 'lx'.*log is not differentiable at x = -1"):
        engine.grad(graph, "y", ["x"])
    b = GraphBuilder()
    x = b.input(value=1e30, name="x")
    b.op("exp", b.op("mul", x, x), name="y")
    with pytest.raises(DifferentiationError, match="not a finite number"):
        engine.grad(b.build(), "y", ["x"])
    b = GraphBuilder()
    x = b.input(value=0.0, name="x")
    b.op("sqrt", x, name="y")
    with pytest.raises(DifferentiationError, match="node 'y'.*sqrt is not differentiable"):
        engine.grad(b.build(), "y", ["x"], mode="forward")


def test_op_without_rule(monkeypatch):
    from engine.framework import autodiff_rules

    monkeypatch.delitem(autodiff_rules.RULES, "sin")
    with pytest.raises(DifferentiationError, match="'sin' has no derivative rule"):
        engine.grad(baydin_graph(), "v5", ["x2"])


def test_forward_mode_budget():
    from engine.core.errors import BudgetError

    b = GraphBuilder()
    x = b.input((512, 512), name="x")
    b.op("reduce_sum", b.op("tanh", x), name="y")
    with pytest.raises(BudgetError, match="forward mode"):
        engine.grad(b.build(), "y", ["x"], mode="forward")


@pytest.mark.parametrize(
    "name",
    [
        "conv_bn_relu",
        "resnet_basic_block",
        "self_attention",
        "mobilenetv2_inverted_residual",
        "shufflenetv2_unit",
    ],
)
def test_presets_forward_tangent_equals_reverse_gradient_along_a_direction(name):
    """sum(J v) from one forward sweep == <grad of sum(y), v> from one backward sweep."""
    from engine.core.ir import Node, rebuild

    graph = engine.preset(name)
    out = graph.outputs[0]
    scalar = rebuild(list(graph.nodes) + [Node("loss", "reduce_sum", (out,), (), ())], ("loss",))
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    rng = np.random.default_rng(0)
    direction = {s: rng.standard_normal(graph.node(s).shape) for s in sources}
    jv = engine.forward_trace(graph, direction).summary["tangents"][out]
    grads = engine.grad(scalar, "loss", sources)
    lhs = float(np.sum(jv, dtype=np.float64))
    rhs = sum(float(np.sum(grads[s] * direction[s], dtype=np.float64)) for s in sources)
    assert lhs == pytest.approx(rhs, rel=1e-3, abs=1e-3)


# -- whole graphs against torch.autograd ------------------------------------------------------------
def _torch_eval(graph, values, torch):
    """Evaluate ``graph`` with torch ops (float64), sources from ``values`` (requires_grad)."""
    F = torch.nn.functional
    from engine.core.registry import get_op

    unary = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "neg": torch.neg,
        "sin": torch.sin,
        "cos": torch.cos,
        "gelu": F.gelu,
        "hswish": F.hardswish,
        "relu6": F.relu6,
        "abs": torch.abs,
        "exp": torch.exp,
        "log": torch.log,
        "identity": lambda x: x * 1,
    }
    binary = {
        "add": torch.add,
        "sub": torch.sub,
        "mul": torch.mul,
        "div": torch.div,
        "pow": torch.pow,
        "max": torch.maximum,
        "min": torch.minimum,
        "matmul": torch.matmul,
    }
    env = {}
    for n in graph.nodes:
        if n.is_source:
            env[n.name] = torch.tensor(
                np.asarray(values[n.name], np.float64), requires_grad=n.op != "constant"
            )
            continue
        at = {**get_op(n.op).attrs, **n.attr_dict}
        xs = [env[i] for i in n.inputs]
        if n.op in unary:
            y = unary[n.op](xs[0])
        elif n.op in binary:
            y = binary[n.op](*xs)
        elif n.op in ("reshape", "flatten", "transpose", "split", "slice", "concat"):
            # injective: pick elements by running our kernel on element indices (a gather)
            offsets = np.cumsum([0] + [x.numel() for x in xs])
            idx = [np.arange(o, o + x.numel()).reshape(tuple(x.shape)) for o, x in zip(offsets, xs)]
            pick = np.asarray(get_op(n.op).kernel(idx, at))
            flat = torch.tensor(np.ascontiguousarray(pick).reshape(-1))
            y = torch.cat([x.reshape(-1) for x in xs])[flat]
            y = y.reshape(pick.shape)
        elif n.op.startswith("reduce_"):
            dims = tuple(range(xs[0].dim())) if at["axes"] is None else tuple(at["axes"])
            fn = {"reduce_sum": torch.sum, "reduce_mean": torch.mean, "reduce_max": torch.amax}[n.op]
            y = fn(xs[0], dim=dims, keepdim=bool(at["keepdims"]))
        elif n.op == "softmax":
            y = torch.softmax(xs[0], int(at["axis"]))
        elif n.op == "conv2d":
            y = F.conv2d(
                xs[0],
                xs[1],
                xs[2] if len(xs) > 2 else None,
                at["stride"],
                at["pad"],
                at["dilation"],
                at["groups"],
            )
        elif n.op == "batchnorm":
            sh = (1, -1) + (1,) * (xs[0].dim() - 2)
            y = (xs[0] - xs[3].reshape(sh)) / torch.sqrt(xs[4].reshape(sh) + at["epsilon"]) * xs[1].reshape(
                sh
            ) + xs[2].reshape(sh)
        elif n.op in ("maxpool", "avgpool"):
            stride = at["stride"] or at["kernel"]
            y = (
                F.max_pool2d(xs[0], at["kernel"], stride, at["pad"])
                if n.op == "maxpool"
                else F.avg_pool2d(xs[0], at["kernel"], stride, at["pad"], count_include_pad=False)
            )
        elif n.op == "global_avgpool":
            y = xs[0].mean(dim=tuple(range(2, xs[0].dim())), keepdim=True)
        elif n.op == "gemm":
            a = xs[0].T if at["trans_a"] else xs[0]
            b_ = xs[1].T if at["trans_b"] else xs[1]
            y = at["alpha"] * (a @ b_) + (at["beta"] * xs[2] if len(xs) > 2 else 0)
        else:  # pragma: no cover - a new op in the strategies
            pytest.fail(f"no torch oracle for {n.op}")
        env[n.name] = y
    return env


def _check_against_torch(graph, seed):
    torch = pytest.importorskip("torch")
    from engine.core.ir import Node, Tensor, rebuild

    out = graph.outputs[-1]
    values = run(graph, seed=seed)
    u = np.random.default_rng(seed).standard_normal(values[out].shape).astype(np.float32)
    extra = [
        Node("u", "constant", (), (("value", Tensor(u)),), tuple(u.shape)),
        Node("uy", "mul", (out, "u"), (), tuple(u.shape)),
        Node("loss", "reduce_sum", ("uy",), (), ()),
    ]
    scalar = rebuild(list(graph.nodes) + extra, ("loss",))
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    ours = engine.grad(scalar, "loss", sources, seed=seed)
    env = _torch_eval(graph, values, torch)
    leaves = [env[s] for s in sources]
    theirs = torch.autograd.grad(env[out], leaves, torch.tensor(u, dtype=torch.float64), allow_unused=True)
    for s, ref in zip(sources, theirs):
        ref = np.zeros(values[s].shape) if ref is None else ref.numpy()
        scale = max(1.0, float(np.abs(ref).max(initial=0)))
        np.testing.assert_allclose(ours[s], ref, rtol=2e-3, atol=2e-3 * scale, err_msg=s)


@pytest.mark.skipif(random_graphs is None, reason="tests/strategies.py not present")
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=random_graphs(max_nodes=8) if random_graphs else st.none(), seed=st.integers(0, 1000))
def test_random_graph_gradients_match_torch_autograd(graph, seed):
    _check_against_torch(graph, seed)


try:
    from strategies import random_cnn_graphs
except ImportError:  # pragma: no cover
    random_cnn_graphs = None


@pytest.mark.skipif(random_cnn_graphs is None, reason="tests/strategies.py has no CNN graphs")
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=random_cnn_graphs(max_nodes=5) if random_cnn_graphs else st.none(), seed=st.integers(0, 1000))
def test_random_cnn_gradients_match_torch_autograd(graph, seed):
    _check_against_torch(graph, seed)


def test_scalarize_and_saved_bytes():
    from engine.framework.autodiff import scalarize

    graph = _mlp()
    g2, name = scalarize(graph, "x")
    assert name == "sum(x)" and g2.node(name).op == "reduce_sum"
    grads = engine.grad(g2, name, ["x"])
    np.testing.assert_array_equal(grads["x"], np.ones((4, 8), np.float32))  # d sum(x) / dx = 1
    trace = engine.reverse_trace(graph, "loss")
    # every op's inputs and output are kept: x, 2x(W, b, matmul, add, tanh), mul, loss
    names = {i for n in graph.op_nodes for i in n.inputs} | {n.name for n in graph.op_nodes}
    assert trace.summary["saved_bytes"] == sum(4 * int(np.prod(graph.node(k).shape)) for k in names)


def test_survey_check_against_the_tables():
    from engine.framework.lab import survey_check

    table, got, diff = survey_check("reverse", engine.reverse_trace(baydin_graph(), "v5"))
    assert table == 3 and diff < 5e-4 and round(got["x2"], 3) == 1.716
    graph = engine.preset("autodiff_example")
    table, got, diff = survey_check("forward", engine.forward_trace(graph, {"x1": 1.0}))
    assert table == 2 and got["y"] == pytest.approx(5.5)
    _, _, off = survey_check("forward", engine.forward_trace(graph, {"x2": 1.0}))
    assert off > 1  # the seed on x2 gives dy/dx2 = 1.716, not the table's 5.5


def test_survey_rows_put_the_printed_tables_next_to_the_engine():
    """The page's side-by-side table: the survey's printed numbers (this file's copies) vs ours."""
    from engine.framework.lab import program_traces, survey_rows

    text = engine.core.presets.program_text("autodiff_example")
    graph, trace = program_traces(text, "forward", "x1")
    rows = {r["v"]: r for r in survey_rows("forward", graph, trace)}
    names = {"v-1": "x1", "v0": "x2", "v5": "v5"}
    for v, r in rows.items():
        key = names.get(v, v)
        assert r["source_value"] == TABLE2_PRIMAL[key] and r["source_tangent"] == TABLE2_TANGENT[key]
        assert r["diff"] < 5e-4
    assert len(rows) == 7
    graph, trace = program_traces(text, "reverse", "y")
    rows = {r["v"]: r for r in survey_rows("reverse", graph, trace)}
    assert rows["v0"]["source_adjoint"] == TABLE3_ADJOINT["x2"] and rows["v0"]["diff"] < 5e-4
    assert survey_rows("forward", *program_traces(text, "forward", "x2")) == []  # other seed
    assert (
        survey_rows("forward", *program_traces(engine.core.presets.program_text("mlp"), "forward", "x")) == []
    )


def test_jacobian_demo_counts_sweeps_and_refuses_bad_sizes():
    from engine.framework.lab import jacobian_demo

    fwd, rev = jacobian_demo(8, 2)
    assert (fwd.sweeps, rev.sweeps) == (8, 2)
    np.testing.assert_allclose(fwd.matrix, rev.matrix, atol=1e-5)
    with pytest.raises(EngineError, match="whole number"):
        jacobian_demo(0, 2)
