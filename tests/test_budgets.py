"""Work budgets that bound memory and compute (issue 11, hole 2).

Oracles: tracemalloc (numpy's array allocations are traced) for memory, the wall clock for work,
and the cost model's own counts. Each refusal must come *before* the work: fast and allocating
little, far below the graph budget (:data:`engine.core.budget.MAX_GRAPH_ELEMENTS` fp32 = 256 MiB).
"""

from __future__ import annotations

import dataclasses
import math
import time
import tracemalloc

import numpy as np
import pytest

import engine
from engine.core import budget, registry
from engine.core.cost_model import check_run, run_needs
from engine.core.errors import BudgetError, EngineError

WALL_S = 2.0  # generous: every refusal below takes milliseconds
PEAK_BYTES = 16 << 20  # traced allocations of a refusal; the graph budget is 256 MiB

CONV_TRACEBACK = "x = input([1, 2, 4096, 2048])\nW = param([1, 2, 1024, 1024])\ny = conv2d(x, W)\n"
IM2COL_780MB = "x = input([1, 2, 512, 512])\nW = param([2, 2, 20, 20])\ny = conv2d(x, W)\n"
DEPTHWISE_MINUTES = "x = input([1, 1, 4096, 4096])\nW = param([1, 1, 2048, 2048])\ny = conv2d(x, W)\n"


def refuses_fast(fn, error=BudgetError, match: str | None = None) -> str:
    """Call ``fn``; it must raise ``error`` within WALL_S, tracing under PEAK_BYTES."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(error, match=match) as info:
            fn()
    finally:
        wall = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert wall < WALL_S, f"refused after {wall:.2f} s"
    assert peak < PEAK_BYTES, f"traced {peak / 2**20:.1f} MiB before refusing"
    return str(info.value)


# -- the three programs of the issue ------------------------------------------------------------
@pytest.mark.parametrize(
    "program, words", [(CONV_TRACEBACK, "GFLOPs"), (IM2COL_780MB, "temporary"), (DEPTHWISE_MINUTES, "GFLOPs")]
)
def test_issue_programs_end_in_a_budget_error(program, words):
    graph = engine.parse_program(program)
    message = refuses_fast(lambda: engine.run(graph))
    assert "'y' (conv2d)" in message and words in message and "limit" in message


def test_im2col_buffer_is_what_is_over():
    """The 780 MB program: every value fits, only the column buffer of y does not."""
    needs = run_needs(engine.parse_program(IM2COL_780MB))
    assert needs.values < budget.MAX_GRAPH_ELEMENTS < needs.peak_elements
    assert needs.peak_node == "y" and needs.peak_temp >= 2 * 20 * 20 * 493 * 493


def test_kernel_loops_are_bounded():
    """A 1024x1024 pooling window: 1 M FLOPs, but a million Python loop iterations."""
    graph = engine.parse_program("x = input([1, 1, 1024, 1024])\ny = maxpool(x, kernel=1024)\n")
    assert run_needs(graph).flops <= budget.MAX_GRAPH_FLOPS
    assert "loop iterations" in refuses_fast(lambda: engine.run(graph))


# -- MemoryError inside a kernel -----------------------------------------------------------------
@pytest.fixture
def relu_out_of_memory(monkeypatch):
    def kernel(xs, attrs):
        raise MemoryError("Unable to allocate 24.0 TiB")

    op = registry.get_op("relu")
    monkeypatch.setitem(registry._REGISTRY, "relu", dataclasses.replace(op, kernel=kernel))


PROGRAM_RELU = "x = input([3])\nh = relu(x)\ny = reduce_sum(h)\n"


@pytest.mark.parametrize(
    "call",
    [
        lambda g: engine.run(g),
        lambda g: engine.grad(g, "y", ["x"]),
        lambda g: engine.grad(g, "y", ["x"], mode="forward"),
        lambda g: engine.forward_trace(g, {"x": 1.0}),
        lambda g: engine.reverse_trace(g, "y"),
    ],
)
def test_memory_error_in_a_kernel_is_a_budget_error_naming_the_node(relu_out_of_memory, call):
    graph = engine.parse_program(PROGRAM_RELU)
    with pytest.raises(BudgetError, match=r"node 'h' \(relu\) ran out of memory"):
        call(graph)


def test_memory_error_in_constant_folding(relu_out_of_memory):
    graph = engine.parse_program("W = param([3])\nh = relu(W)\n")
    with pytest.raises(BudgetError, match="'h'"):
        engine.optimize(graph, ["constant_folding"])


# -- every op declares its temporaries honestly ---------------------------------------------------
S = (4, 64, 32, 32)
UNARY = [
    "neg",
    "exp",
    "log",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "relu6",
    "gelu",
    "hswish",
    "sqrt",
    "abs",
    "square",
    "erf",
    "leaky_relu",
    "clip",
    "identity",
]
OP_CASES = {n: ([S], {}) for n in UNARY}
OP_CASES.update(
    {n: ([(4, 64, 32, 1), (1, 64, 1, 32)], {}) for n in ["add", "sub", "mul", "div", "pow", "max", "min"]}
)
OP_CASES.update(
    {
        "matmul": ([(8, 128, 256), (256, 128)], {}),
        "gemm": ([(256, 512), (512, 256), (256,)], {"beta": 0.5, "alpha": 2.0}),
        "conv2d": ([(2, 16, 32, 32), (32, 16, 3, 3), (32,)], {"pad": 1}),
        "conv2d/depthwise": ([(2, 32, 48, 48), (32, 1, 5, 5)], {"groups": 32, "pad": 2}),
        "conv2d/pointwise": ([(2, 32, 48, 48), (64, 32, 1, 1)], {}),
        "conv2d/grouped-dilated": (
            [(2, 32, 40, 40), (32, 8, 3, 3)],
            {"groups": 4, "dilation": 2, "stride": 2},
        ),
        "batchnorm": ([S, (64,), (64,), (64,), (64,)], {}),
        "maxpool": ([S], {"kernel": 3, "stride": 1, "pad": 1}),
        "avgpool": ([S], {"kernel": 3, "stride": 1, "pad": 1}),
        "global_avgpool": ([S], {}),
        "softmax": ([S], {}),
        "layernorm": ([S, (32,), (32,)], {}),
        "attention": ([(4, 8, 256, 64), (4, 8, 256, 64), (4, 8, 256, 32)], {}),
        "attention/broadcast": ([(4, 8, 128, 64), (512, 64), (512, 64)], {"scale": 0.1}),
        "reshape": ([S], {"shape": (4, -1)}),
        "flatten": ([S], {}),
        "transpose": ([S], {}),
        "concat": ([S, S], {}),
        "split": ([S], {}),
        "slice": ([S], {"starts": (0, 0), "ends": (2, 32)}),
        "reduce_sum": ([S], {"axes": (1,)}),
        "reduce_mean": ([S], {"axes": (1, 2)}),
        "reduce_max": ([S], {"axes": (0, 3)}),
        "quantize_linear": ([S, (64,), (64,)], {"dtype": "int8"}),
        "quantize_linear/per-tensor": ([S, (), ()], {}),
        "dequantize_linear": ([S, (64,), (64,)], {}),
    }
)


def test_every_op_has_a_workspace_case():
    covered = {name.split("/")[0] for name in OP_CASES}
    assert covered == set(registry.op_names()) - set(registry.SOURCE_OPS)


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_declared_workspace_bounds_the_traced_peak(case):
    op = registry.get_op(case.split("/")[0])
    shapes, attrs = OP_CASES[case]
    at = {**op.attrs, **attrs}
    xs = [np.random.default_rng(0).uniform(0.5, 1.5, s).astype(np.float32) for s in shapes]
    out_shape, _ = op.infer(shapes, ["float32"] * len(shapes), at)
    tracemalloc.start()
    op.kernel(xs, at)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    declared = op.workspace(shapes, out_shape, at)
    assert peak <= 4 * (math.prod(out_shape) + declared.temp) * 1.05 + (64 << 10), (
        f"{case}: traced {peak:,} bytes, declared {declared}"
    )


def test_chunked_erf_matches_the_unchunked_formula():
    x = np.linspace(-6, 6, (1 << 16) * 3 + 5).astype(np.float32)
    from engine.core.ops.elementwise import _erf64, erf

    assert np.array_equal(erf(x), _erf64(x).astype(np.float32))
    sample = x[::97]
    exact = np.array([math.erf(float(v)) for v in sample])  # the stdlib's erf as oracle
    assert np.abs(erf(sample) - exact).max() < 2e-7


# -- autodiff keeps tangents/adjoints beside the values --------------------------------------------
BIG_RELU = "x = input([1, 16, 1024, 1024])\nh = relu(x)\ny = reduce_sum(h)\n"


def test_a_graph_that_runs_can_be_too_big_to_differentiate():
    graph = engine.parse_program(BIG_RELU)
    check_run(graph)  # one run fits (not run here: 134 MiB)
    for call in (
        lambda: engine.grad(graph, "y", ["x"]),
        lambda: engine.reverse_trace(graph, "y"),
        lambda: engine.forward_trace(graph, {"x": 1.0}),
    ):
        assert "differentiating" in refuses_fast(call)


def test_forward_mode_sweeps_count_against_the_flops():
    graph = engine.parse_program(
        "x = input([4096])\nW = param([1024, 4096])\nh = matmul(W, x)\ny = reduce_sum(h)\n"
    )
    check_run(graph)
    assert "4,096 sweeps" in refuses_fast(lambda: engine.grad(graph, "y", ["x"], mode="forward"))
    from engine.framework.autodiff import jacobian

    assert "1,024 sweeps" in refuses_fast(lambda: jacobian(graph, "h", ["W"]))


# -- every entry point a page calls refuses before working -----------------------------------------
def _big(shape, dtype=np.float64):
    """A huge read-only array that costs no memory (every element is the same)."""
    return np.broadcast_to(np.ones((), dtype), shape)


HEAVY_STATIC = "W = param([4096, 4096])\ny = matmul(W, W)\n"  # 137 GFLOPs of weights only


def _train_cases():
    from engine.compression.datasets import digits
    from engine.compression.models import init_params, model_spec
    from engine.compression.prune import gradual_prune
    from engine.compression.quant.qat import ptq, qat
    from engine.compression.training import fit

    spec = model_spec("mlp")
    return [
        ("train.fit", lambda: fit(spec, init_params(spec), digits(0), 200), BudgetError),
        ("quant.qat", lambda: qat("mlp", 0, 4, 10**6), BudgetError),
        ("quant.ptq calib", lambda: ptq("mlp", 0, 8, "static", "minmax", True, 10**9), EngineError),
        ("prune.gradual_prune", lambda: gradual_prune("mlp", 0, 0.9, 20, 200), BudgetError),
    ]


def _kernel_lab_cases():
    from engine import layout
    from engine.compiler import lab
    from engine.compiler import memory_plan as mp
    from engine.kernels import conv, gemm
    from engine.kernels import flash_attention as fa

    return [
        ("conv.conv2d", lambda: conv.conv2d(_big((1, 64, 64, 64)), _big((256, 64, 7, 7))), BudgetError),
        ("flash.standard_attention", lambda: fa.standard_attention(*[_big((4096, 4096))] * 3), BudgetError),
        ("flash.flash_steps", lambda: next(fa.flash_steps(*[_big((4096, 4096))] * 3, 1 << 20)), BudgetError),
        ("gemm.make_schedule", lambda: gemm.make_schedule(256, 256, 256), EngineError),
        ("layout.to_nc1hwc0", lambda: layout.to_nc1hwc0(_big((1, 4097, 64, 64)), 16), BudgetError),
        (
            "memory_plan.parse_buffers",
            lambda: mp.plan_buffers(lab.parse_buffers("8 0 99999999")),
            BudgetError,
        ),
    ]


def _simulator_cases():
    from engine import hw
    from engine.inference import serving as sv
    from engine.parallel import auto, sharding

    big_cluster = auto.Cluster(nodes=2, gpus_per_node=65536)
    return [
        ("hw.cube_matmul", lambda: hw.cube_matmul(4096, 4096, 4096), BudgetError),
        (
            "hw.cube_conv2d",
            lambda: hw.cube_conv2d(_big((1, 2048, 2048), np.float32), _big((1, 1, 3, 3), np.float32)),
            BudgetError,
        ),
        ("hw.bank_conflicts", lambda: hw.bank_conflicts([1, 2], banks=10**12), EngineError),
        ("hw.coalescing", lambda: hw.coalescing([0, 4], elem_bytes=10**9), EngineError),
        ("parallel.search", lambda: auto.search(auto.MODELS["Llama-2 7B"], big_cluster, 65536), EngineError),
        (
            "parallel.matmul_strategy",
            lambda: sharding.matmul_strategy(((1, 1), (1, 1)), 1, (1 << 13,) * 3),
            BudgetError,
        ),
        (
            "serving.simulate",
            lambda: sv.simulate(sv.ServiceModel(7e9, "fp16", 1e14, 1e12), 10.0, 10**7),
            BudgetError,
        ),
    ]


def _graph_cases():
    from engine.interop.ort_compare import compare_with_ort

    static = engine.parse_program(HEAVY_STATIC)
    return [
        ("passes.optimize", lambda: engine.optimize(static, ["constant_folding"]), BudgetError),
        ("ort_compare", lambda: compare_with_ort(static), BudgetError),
        ("run (evaluate)", lambda: engine.run(static), BudgetError),
    ]


ENTRY_CASES = {}
for _cases in (_train_cases, _kernel_lab_cases, _simulator_cases, _graph_cases):
    ENTRY_CASES.update({name: (fn, err) for name, fn, err in _cases()})


@pytest.mark.parametrize("name", sorted(ENTRY_CASES))
def test_entry_point_refuses_before_working(name):
    fn, error = ENTRY_CASES[name]
    refuses_fast(fn, error)


def test_conv_lab_page_maximum_is_within_the_budget():
    """labs/conv_algorithms.py allows C = K = H = W = 64, a 5x5 kernel and pad 2."""
    from engine.kernels import conv

    for algorithm in ("direct", "im2col"):
        conv._check_work((1, 64, 64, 64), (64, 64, 5, 5), 1, 2, 1, algorithm)
    conv._check_work((1, 64, 64, 64), (64, 64, 3, 3), 1, 1, 1, "winograd")


def test_symbolic_deep_program_falls_back_instead_of_recursing():
    from engine.framework import four_ways

    program = "x = input(0.5)\n" + "x = sin(x)\n" * 3000
    ways = four_ways.four_ways_text(program)
    assert ways.fallback


# -- the budget leaves every shipped graph room to run ---------------------------------------------
def test_presets_and_lightweight_networks_fit_with_headroom():
    from engine.models.networks import NETWORKS, build_network

    graphs = [engine.preset(p) for p in engine.preset_names()]
    graphs += [build_network(n) for n in NETWORKS]
    for g in graphs:
        needs = check_run(g)
        assert needs.flops * 2 <= budget.MAX_GRAPH_FLOPS, g.title
        assert needs.loops * 10 <= budget.MAX_KERNEL_LOOPS, g.title


@pytest.mark.slow
def test_resnet18_fits_with_headroom_and_runs():
    from engine.interop.torch_zoo import zoo_graph

    graph = zoo_graph("resnet18")
    needs = check_run(graph)
    assert 3.6e9 < needs.flops < budget.MAX_GRAPH_FLOPS / 2  # 1.8 GMACs (He et al. 2016)
    assert needs.peak_elements < budget.MAX_GRAPH_ELEMENTS / 2
    out = engine.run(graph)[graph.outputs[0]]
    assert out.shape == (1, 1000) and np.isfinite(out).all()
