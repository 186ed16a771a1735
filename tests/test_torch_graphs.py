"""The four captures of the same Python function, checked against what torch itself computes."""

from __future__ import annotations

import pytest

from engine.core.errors import EngineError
from engine.core.ir import Graph

torch = pytest.importorskip("torch")
tg = pytest.importorskip("engine.framework.graph_capture")


def _labels(dag):
    return sorted(n.label for n in dag.nodes)


def test_eager_graph_is_the_grad_fn_chain():
    cap = tg.eager_graph("mlp_layer")
    assert _labels(cap.dag) == [
        "MmBackward0",
        "ReluBackward0",
        "SumBackward0",
        "w: AccumulateGrad",
        "x: AccumulateGrad",
    ]
    ids = {n.label: n.id for n in cap.dag.nodes}
    assert (ids["x: AccumulateGrad"], ids["MmBackward0"]) in cap.dag.edges
    assert (ids["ReluBackward0"], ids["SumBackward0"]) in cap.dag.edges
    g = cap.dag.to_graph()
    assert isinstance(g, Graph) and g.outputs == (ids["SumBackward0"],)
    x, w = tg.example_inputs("mlp_layer")
    assert cap.details["value"] == pytest.approx(float(torch.relu(x @ w).sum()))


def test_eager_graph_records_only_the_branch_taken():
    taken = _labels(tg.eager_graph("branch_on_value").dag)
    assert "SinBackward0" in taken and "CosBackward0" not in taken
    # the loop ran k times: one MulBackward0 per iteration
    x, w = tg.example_inputs("loop_until")
    h, k = x @ w, 0
    while h.abs().sum() < 10:
        h, k = h * 2, k + 1
    assert _labels(tg.eager_graph("loop_until").dag).count("MulBackward0") == k


@pytest.mark.parametrize("name", ["branch_on_value", "loop_until", "shape_branch"])
def test_fx_cannot_trace_control_flow_on_proxies(name):
    cap = tg.fx_graph(name)
    assert not cap.ok and cap.message.startswith("TraceError")
    assert "control flow" in cap.message


def test_fx_unrolls_a_fixed_loop():
    cap = tg.fx_graph("fixed_loop")
    assert cap.ok
    assert _labels(cap.dag).count("tanh") == 3 and _labels(cap.dag).count("matmul") == 3


def test_jit_trace_freezes_the_branch_and_gives_the_wrong_answer():
    cap = tg.jit_graph("branch_on_value")
    x2, w2 = tg.example_inputs("branch_on_value", other=True)
    h2 = x2 @ w2
    assert float(h2.sum()) <= 0  # the other input takes the cos branch
    assert cap.details["frozen"]
    assert cap.details["eager_other"] == pytest.approx(float(torch.cos(h2).sum() * 2), rel=1e-5)
    assert cap.details["traced_other"] == pytest.approx(float(torch.sin(h2).sum()), rel=1e-5)
    assert any("Python boolean" in w for w in cap.details["warnings"])
    assert not tg.jit_graph("mlp_layer").details["frozen"]


def test_dynamo_breaks_and_export_refuses_data_dependent_branch():
    dyn = tg.dynamo_graph("branch_on_value")
    assert (dyn.details["graphs"], dyn.details["breaks"]) == (2, 1)
    assert [g for g, _ in dyn.dag.groups] == ["graph 1", "graph 2"]
    exp = tg.export_graph("branch_on_value")
    assert not exp.ok and "data-dependent" in exp.message


def test_explain_leaves_no_resume_function_behind():
    """A graph break makes dynamo write a resume function; torch 2.13's reset() keeps its metadata
    (rewritten bytecode) forever, so a lab that explains on every move grew without bound."""
    from torch._dynamo.resume_execution import ContinueExecutionCache

    for seed in range(3):
        dyn = tg.dynamo_graph("branch_on_value", seed)
        assert dyn.details["breaks"] == 1  # a resume function was made each time
        assert len(ContinueExecutionCache.generated_code_metadata.values) == 0


def test_export_specialises_a_shape_branch_with_a_guard():
    exp = tg.export_graph("shape_branch")
    assert exp.ok and "Guard" in exp.details["other"]
    dyn = tg.dynamo_graph("mlp_layer")
    assert (dyn.details["graphs"], dyn.details["breaks"]) == (1, 0)


def test_bad_name():
    with pytest.raises(EngineError, match="no function named 'nope'"):
        tg.capture_all("nope")
