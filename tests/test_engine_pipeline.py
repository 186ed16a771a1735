"""The inference engine's pipeline and its kernel choice.

Oracles: torch.nn.functional.conv2d for every engine kernel; torch's FLOP counter for the cost model's
FLOPs; Lavin & Gray's 2.25x fewer multiplies for Winograd F(2x2, 3x3); tracemalloc (what numpy really
allocates) for the kernels' declared workspace; the reference interpreter and the torch zoo models
for the engine's outputs; the memory planner's own checker and lower bound for the plan."""

from __future__ import annotations

import itertools
import statistics
import tracemalloc

import numpy as np
import pytest

import engine
from engine.compiler.memory_plan import check_plan, graph_buffers, plan_graph
from engine.core.cost_model import run_needs
from engine.core.errors import BudgetError, EngineError, GraphError
from engine.core.interpreter import source_value
from engine.inference import engine_pipeline as ep
from engine.inference import kernel_choice as kc
from engine.interop.torch_zoo import zoo_graph, zoo_module
from engine.kernels.conv_engine import engine_candidates, engine_conv, engine_workspace

torch = pytest.importorskip("torch")

LAYERS = [  # (n, c, k, h, kernel, stride, pad, groups)
    (1, 3, 16, 17, 7, 2, 3, 1),
    (2, 8, 12, 9, 3, 1, 1, 1),
    (1, 12, 24, 8, 3, 1, 0, 3),
    (1, 16, 16, 10, 3, 2, 1, 16),
    (1, 16, 16, 11, 3, 1, 1, 16),
    (1, 32, 8, 6, 1, 1, 0, 1),
    (1, 4, 6, 5, 5, 1, 2, 1),
]


def _layer(n, c, k, h, kh, s, p, g, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, h), dtype=np.float32)
    w = rng.standard_normal((k, c // g, kh, kh), dtype=np.float32)
    return x, w, rng.standard_normal(k, dtype=np.float32)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_engine_kernel_equals_torch(layer):
    n, c, k, h, kh, s, p, g = layer
    x, w, b = _layer(*layer)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), s, p, 1, g).numpy()
    algorithms = engine_candidates(x.shape, w.shape, s, p, 1, g)
    assert ("winograd" in algorithms) == (kh == 3 and s == 1 and g == 1)
    assert ("depthwise" in algorithms) == (g == c == k)
    for alg in algorithms:
        assert np.abs(engine_conv(x, w, b, s, p, g, alg) - want).max() < 1e-4 * max(1.0, np.abs(want).max())


def test_a_kernel_that_cannot_run_the_layer_is_refused():
    x, w, _ = _layer(1, 4, 4, 8, 5, 1, 2, 1)
    with pytest.raises(EngineError, match="'winograd' kernel cannot run this layer"):
        engine_conv(x, w, None, 1, 2, 1, "winograd")
    assert engine_candidates(x.shape, w.shape, 1, 2, 2, 1) == ()  # dilation: the interpreter's kernel


@pytest.mark.parametrize("layer", [LAYERS[0], LAYERS[1], LAYERS[4]])
def test_declared_workspace_matches_what_numpy_allocates(layer):
    n, c, k, h, kh, s, p, g = layer
    x, w, _ = _layer(*layer)
    w.setflags(write=False)
    for alg in engine_candidates(x.shape, w.shape, s, p, 1, g):
        engine_conv(x, w, None, s, p, g, alg)  # warm: Winograd keeps its transformed filter
        tracemalloc.start()
        out = engine_conv(x, w, None, s, p, g, alg)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        measured = (peak - out.nbytes) / 4
        declared = engine_workspace(x.shape, w.shape, s, p, g, alg)
        assert 0.8 * measured <= declared <= 1.3 * measured + 64, (alg, declared, measured)


def test_cost_model_flops_match_torch_and_winograd_saves_2_25x():
    from torch.utils.flop_counter import FlopCounterMode

    x, w, _ = _layer(1, 16, 32, 12, 3, 1, 1, 1)
    layer = kc.ConvLayer("c", x.shape, w.shape, (1, 1), (1, 1), 1, False, ("direct", "im2col", "winograd"))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 1, 1)
    machine = kc.Machine(1e10, 1e10, 1e-6)
    est = {e.algorithm: e for e in kc.estimates(layer, machine)}
    assert est["direct"].flops == est["im2col"].flops == counter.get_total_flops() == 2 * layer.macs
    wino_mults = (est["winograd"].flops - (36 * 16 * 32 + 36 * 32 * 24)) // 2  # 6x6 tiles of a 12x12 output
    assert layer.macs / wino_mults == pytest.approx(2.25)
    for e in est.values():
        assert e.seconds == pytest.approx(e.flops / 1e10 + e.bytes / 1e10 + e.calls * 1e-6)


def test_calibration_measures_this_machine():
    m = kc.calibrate(repeats=3)
    assert 1e8 < m.gemm_flops < 1e13 and 1e8 < m.bandwidth < 1e12 and 0 < m.call_s < 1e-3
    with pytest.raises(EngineError, match="repeats"):
        kc.calibrate(repeats=0)


def _fake_clock(step: float = 1e-3):
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_tuning_keeps_medians_and_stops_at_its_time_budget():
    graph = engine.preset("mobilenetv2_inverted_residual")
    tuning = kc.tune(graph, repeats=3)
    layers = kc.conv_layers(graph)
    assert len(tuning.times) == len({la.signature for la in layers}) and tuning.skipped == 0
    for _, measured in tuning.times:
        assert all(m.median_s == statistics.median(m.runs) and len(m.runs) == 3 for m in measured)
    slow = kc.tune(graph, repeats=1, budget_s=1.5, clock=_fake_clock(1.0))  # every tick costs a second
    assert len(slow.times) == 1 and slow.skipped == len(tuning.times) - 1
    for bad in ({"repeats": 0}, {"budget_s": 0}):
        with pytest.raises(EngineError):
            kc.tune(graph, **bad)


def test_tuning_is_refused_over_budget_before_any_timing(monkeypatch):
    monkeypatch.setattr(kc, "MAX_TUNE_MACS", 1000)
    with pytest.raises(BudgetError, match="multiply-adds"):
        kc.tune(engine.preset("conv_bn_relu"), clock=lambda: pytest.fail("timed before the budget check"))


def test_choice_marks_the_measured_fastest_and_follows_the_policy():
    graph = engine.preset("resnet_basic_block")
    machine, tuning = kc.calibrate(3), kc.tune(graph, 3)
    layers = kc.conv_layers(graph)
    for policy in ep.POLICIES:
        for c in kc.choose(layers, machine, tuning, policy):
            assert c.fastest == min(c.measured, key=lambda m: m.median_s).algorithm
            assert c.predicted == min(c.estimates, key=lambda e: e.seconds).algorithm
            assert c.chosen == (c.fastest if policy == "measured" else c.predicted)


@pytest.fixture(scope="module")
def machine():
    return kc.calibrate(3)


@pytest.mark.parametrize(
    "name", ["conv_bn_relu", "mobilenetv2_inverted_residual", "shufflenetv2_unit", "mlp"]
)
def test_engine_outputs_equal_the_reference_interpreter(name, machine):
    graph = engine.preset(name)
    trace = ep.run_pipeline(graph, ep.EngineConfig(policy="measured"), machine, kc.tune(graph, 1))
    run = trace.summary
    assert [s.title for s in trace.steps] == list(ep.STAGES)
    assert run.max_diff < 1e-4
    assert {t.kernel for t in run.op_times if t.op == "conv2d"} <= {c.chosen for c in run.choices}


@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenetv2_block"])
def test_engine_equals_torch_on_zoo_models(name, machine):
    graph = zoo_graph(name)
    run = ep.run_pipeline(graph, ep.EngineConfig(top_k=3), machine).summary
    x = source_value(graph.inputs[0], 0)  # the input the engine drew (seed 0)
    with torch.no_grad():
        want = zoo_module(name)(torch.tensor(x))
    assert run.max_diff < 1e-4 and run.output_shape == tuple(want.shape)
    if name == "tiny_cnn":  # a classifier: the post-processed top-3 is torch's softmax top-3
        probs, classes = torch.softmax(want.double(), -1).topk(3)
        assert [c for c, _ in run.top] == classes[0].tolist()
        assert [p for _, p in run.top] == pytest.approx(probs[0].tolist(), rel=1e-5)


def test_stages_form_a_timeline_and_memory_is_planned(machine):
    graph = engine.preset("resnet_basic_block")
    config = ep.EngineConfig(memory="greedy_by_breadth")
    trace = ep.run_pipeline(graph, config, machine, clock=_fake_clock())
    run = trace.summary
    timeline = run.timeline
    timeline.check_no_overlap()
    starts = [e.start for e in timeline.events]
    assert starts == sorted(starts) and [e.unit for e in timeline.events] == list(ep.STAGES)
    assert all(e.duration == pytest.approx(1e3 * s.seconds) for e, s in zip(timeline.events, run.stages))
    optimised = engine.optimize(graph, list(config.passes))[0]
    names, buffers, _ = graph_buffers(optimised, True)
    assert run.plan == plan_graph(optimised, "greedy_by_breadth", True)
    check_plan(buffers, list(run.plan.offsets))
    assert run.plan.lower_bound <= run.plan.arena <= run.plan.naive
    assert dict(run.stages[3].summary)["arena_bytes"] == run.plan.arena


def test_bad_requests_are_refused_before_any_work(machine, monkeypatch):
    graph = engine.preset("conv_bn_relu")
    for bad, words in (
        (ep.EngineConfig(policy="fastest"), "kernel policy"),
        (ep.EngineConfig(memory="best"), "memory strategy"),
        (ep.EngineConfig(top_k=0), "top_k"),
    ):
        with pytest.raises(EngineError, match=words):
            next(ep.engine_steps(graph, bad, machine))
    with pytest.raises(GraphError):
        next(ep.engine_steps("x = 1", ep.EngineConfig(), machine))
    with pytest.raises(EngineError, match="calibrated"):
        next(ep.engine_steps(graph, ep.EngineConfig(), None))
    from engine.core import budget

    monkeypatch.setattr(budget, "MAX_GRAPH_FLOPS", 10)
    with pytest.raises(BudgetError):
        next(ep.engine_steps(graph, ep.EngineConfig(), machine))


WINOGRAD_MACHINE = kc.Machine(1e6, 1e15, 1e-12)  # FLOPs dominate: the model picks Winograd for 3x3 s1


def _count_transforms(monkeypatch) -> dict[str, int]:
    """Count Winograd filter transforms in all, and those done inside the run stage's loop."""
    from engine.core.ops import winograd

    counts = {"all": 0, "in run": 0}
    real_transform, real_execute = winograd.filter_transform, ep._execute

    def transform(w):
        counts["all"] += 1
        return real_transform(w)

    def execute(*args):
        before = counts["all"]
        out = real_execute(*args)
        counts["in run"] += counts["all"] - before
        return out

    monkeypatch.setattr(winograd, "filter_transform", transform)
    monkeypatch.setattr(ep, "_execute", execute)
    return counts


def test_winograd_filters_are_packed_before_the_run_stage_and_change_nothing(monkeypatch):
    graph = engine.preset("resnet_basic_block")
    counts = _count_transforms(monkeypatch)
    run = ep.run_pipeline(graph, ep.EngineConfig(), WINOGRAD_MACHINE).summary
    winograd_layers = [c for c in run.choices if c.chosen == "winograd"]
    assert len(winograd_layers) == 2 and run.max_diff < 1e-4
    assert counts == {"all": 2, "in run": 0}  # once per weight, offline: the run only runs
    # the same outputs, bit for bit, as a run that transforms its (writeable) filters as it goes
    opt = engine.optimize(graph, list(ep.DEFAULT_PASSES))[0]
    kernels = {c.layer.node: c.chosen for c in run.choices}
    values = ep._weights(opt)
    ep._prepack(opt, values, run.choices, run_needs(graph))
    packed = ep._execute(opt, values, kernels, lambda: 0.0)[0]
    loose = ep._execute(opt, {k: v.copy() for k, v in ep._weights(opt).items()}, kernels, lambda: 0.0)[0]
    assert counts["in run"] == 2  # only the writeable copies were transformed in a run
    for name in opt.outputs:
        np.testing.assert_array_equal(packed[name], loose[name])


def test_filters_that_do_not_fit_the_memory_budget_are_left_to_the_run(monkeypatch):
    from engine.core import budget

    graph = engine.preset("resnet_basic_block")
    monkeypatch.setattr(budget, "MAX_GRAPH_ELEMENTS", run_needs(graph).peak_elements)
    counts = _count_transforms(monkeypatch)
    run = ep.run_pipeline(graph, ep.EngineConfig(), WINOGRAD_MACHINE).summary
    assert counts == {"all": 2, "in run": 2} and run.max_diff < 1e-4  # as before: no refusal
