"""The simulated runtime: closed-form totals on tiny graphs, stream concurrency, FIFO order,
dependency and lane invariants on random graphs, the critical path, and the dispatch story
checked against torch's own dispatch keys and grad_fn names."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.core.cost_model import cost
from engine.core.errors import EngineError
from engine.core.ir import GraphBuilder
from engine.framework.scheduling import MODES, Config, dispatch_steps, op_time_us, schedule_trace, simulate

try:
    from strategies import random_graphs
except ImportError:  # pragma: no cover
    random_graphs = None


def chain(n=3, size=256):
    b = GraphBuilder("chain")
    h = b.input((size,), name="x")
    for _ in range(n):
        h = b.op("tanh", h)
    return b.build([h])


def two_branches(size=1 << 16):
    b = GraphBuilder("fork")
    x = b.input((size,), name="x")
    a = b.op("exp", b.op("tanh", x))
    c = b.op("sin", b.op("cos", x))
    b.op("add", a, c, name="y")
    return b.build()


def test_whole_graph_chain_total_is_the_closed_form():
    cfg = Config()
    g = chain()
    s = simulate(g, "whole_graph", "accel", cfg)
    per_op = op_time_us(256, 2 * 256 * 4, cfg.accel)
    copy = cfg.link_latency_us + 256 * 4 / cfg.link_bandwidth * 1e6
    launch = cfg.host_dispatch_us + cfg.accel.launch_us
    # launch and the input copy overlap; then three ops; then the copy back
    expected = max(launch, copy) + 3 * per_op + copy
    assert s.total_us == pytest.approx(expected)
    assert s.dispatches == 1 and s.transfer_bytes == 2 * 256 * 4


def test_eager_pays_dispatch_per_op():
    cfg = Config()
    g = chain(5)
    eager = simulate(g, "op_by_op", "cpu", cfg)
    graph_mode = simulate(g, "whole_graph", "accel", cfg)
    assert eager.dispatches == 5
    # the host lane is the bottleneck: five dispatches back to back, then the last op
    assert eager.total_us == pytest.approx(5 * cfg.host_dispatch_us + op_time_us(256, 2048, cfg.cpu))
    assert eager.utilization["host"] > 0.9
    assert graph_mode.dispatches == 1


def test_streams_run_independent_branches_concurrently():
    g = two_branches()
    one = simulate(g, "whole_graph", "accel", Config(streams=1))
    two = simulate(g, "whole_graph", "accel", Config(streams=2))
    busy = sum(e.duration for e in one.timeline.events if e.kind == "compute")
    assert two.total_us < one.total_us
    lanes = {e.unit for e in two.timeline.events if e.kind == "compute"}
    assert lanes == {"accel0/s0", "accel0/s1"}
    # with two streams the compute span shrinks by about one branch (2 of the 5 ops)
    assert one.total_us - two.total_us == pytest.approx(2 * busy / 5, rel=0.05)


def test_fifo_ready_queue_order():
    g = two_branches()
    trace = schedule_trace(g, "whole_graph", "accel", Config(streams=1))
    chosen = [s.data["chosen"] for s in trace.steps]
    first = [n.name for n in g.op_nodes if set(n.inputs) == {"x"}]
    assert chosen[:2] == first  # both consumers of x are ready first, in graph order
    assert trace.steps[0].data["queue"] == tuple(first)
    assert chosen[-1] == "y"
    for s in trace.steps:
        assert s.data["chosen"] == s.data["queue"][0]  # always the head of the queue


def _check_invariants(g, sched):
    tl = sched.timeline
    tl.check_no_overlap()
    compute = {e.label: e for e in tl.events if e.kind == "compute"}
    assert set(compute) == {n.name for n in g.op_nodes}
    for n in g.op_nodes:
        for i in n.inputs:
            if i in compute:
                assert compute[n.name].start >= compute[i].end - 1e-9
    crit = [tl.events[k] for k in tl.critical]
    assert crit[-1].end == pytest.approx(tl.makespan)
    for a, b in zip(crit, crit[1:]):
        assert b.start == pytest.approx(a.end) or b.start >= a.end - 1e-9
    assert all(0 <= u <= 1 + 1e-9 for u in sched.utilization.values())


@pytest.mark.skipif(random_graphs is None, reason="tests/strategies.py not present")
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    graph=random_graphs(max_nodes=10) if random_graphs else st.none(),
    mode=st.sampled_from(MODES),
    placement=st.sampled_from(["accel", "cpu", "heavy_on_accel", "halves"]),
    streams=st.integers(1, 3),
)
def test_schedule_invariants_on_random_graphs(graph, mode, placement, streams):
    cfg = Config(streams=streams, accel_count=2, heavy_flops=50)
    _check_invariants(graph, simulate(graph, mode, placement, cfg))


def test_preset_critical_path_is_a_chain_from_zero():
    g = engine.preset("resnet_basic_block")
    s = simulate(g, "split", "heavy_on_accel", Config(heavy_flops=1e5))
    _check_invariants(g, s)
    first = s.timeline.events[s.timeline.critical[0]]
    assert first.start == 0.0
    assert s.transfer_bytes > 0
    flops = {c.name: c.flops for c in cost(g).nodes}
    assert all((s.placement[k] == "accel0") == (flops[k] >= 1e5) for k in s.placement)


def test_bad_settings_are_clear_errors():
    g = chain()
    with pytest.raises(EngineError, match="mode must be one of"):
        simulate(g, "turbo")
    with pytest.raises(EngineError, match="streams per device"):
        simulate(g, config=Config(streams=0))
    with pytest.raises(EngineError, match="two accelerators"):
        simulate(g, "split", "halves", Config(accel_count=1))


@pytest.mark.parametrize("op", ["add", "mul", "matmul", "relu"])
def test_dispatch_story_matches_torch(op):
    torch = pytest.importorskip("torch")
    trace = dispatch_steps(op, requires_grad=True, device="cpu")
    a = torch.randn(3, 3, requires_grad=True)
    b = torch.randn(3, 3, requires_grad=True)
    out = getattr(torch, op)(a) if op == "relu" else getattr(torch, op)(a, b)
    assert type(out.grad_fn).__name__ == trace.summary["grad_fn"]
    keys = str(torch._C._dispatch_keys(a))
    for k in trace.summary["keys"]:
        assert k in keys
    plain = dispatch_steps(op, requires_grad=False, device="cpu")
    assert plain.summary["grad_fn"] is None
    assert "AutogradCPU" not in plain.summary["keys"]
    with torch.no_grad():
        assert getattr(torch, op)(a, *(() if op == "relu" else (b,))).grad_fn is None
    assert [s.data["layer"] for s in trace.steps][0] == "Python"
