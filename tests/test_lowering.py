"""engine.lower: graph op -> loops -> LLVM IR -> machine code, checked against independent oracles.

Oracles: numpy (``x @ W``, reductions), torch's conv2d, the engine's numpy interpreter (itself
checked against torch elsewhere), and LLVM's own verifier for every IR we write. Kernels are small
and the JIT caches by IR text, so the file stays quick.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.compiler.lowering import backend
from engine.compiler.lowering.aot import (
    SpecializingJit,
    aot_compile,
    compare_run_modes,
    generic_kernel,
    load_aot,
    shape_specialization,
)
from engine.compiler.lowering.schedule import LoopSchedule
from engine.core.errors import BudgetError, EngineError, ProgramError, ShapeError
from engine.kernels.gemm import make_schedule

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


def _verify(text: str) -> None:
    import llvmlite.binding as llvm

    llvm.parse_assembly(text).verify()


def _matmul_graph(m: int, k: int, n: int):
    return engine.parse_program(f"x = input([{m}, {k}])\nW = param([{k}, {n}])\ny = x @ W\n")


def _close(got, want, tol=1e-5):
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


# -- matmul over random shapes and schedules -----------------------------------------------------------
@st.composite
def matmul_schedules(draw):
    m, k, n = (draw(st.integers(1, 9)) for _ in range(3))
    order = draw(st.permutations(["i", "j", "k"]))
    extents = {"i": m, "j": n, "k": k}
    s = None

    def build(base: LoopSchedule) -> LoopSchedule:
        s = base.reorder(*order)
        for axis in order:
            if draw(st.booleans()) and extents[axis] > 1:
                s = s.split(axis, draw(st.integers(1, extents[axis])))
        last = s.loops[-1]
        axis_loops = [l for l in s.loops if l.axis == last.axis]
        even = math.prod(l.extent for l in axis_loops) == extents[last.axis]
        if draw(st.booleans()) and last.step == 1 and even and last.extent <= 16:
            s = s.vectorize(last.name)
        candidates = [l.name for l in s.loops if l.kind == "serial" and l.extent <= 4]
        if candidates and draw(st.booleans()):
            s = s.unroll(draw(st.sampled_from(candidates)))
        return s

    return m, k, n, build, s


@SETTINGS
@given(matmul_schedules())
def test_jit_matmul_equals_numpy_over_random_shapes_and_schedules(case):
    m, k, n, build, _ = case
    g = _matmul_graph(m, k, n)
    base = engine.lower(g, "y").schedule
    lowered = engine.lower(g, "y", build(base))
    _verify(lowered.llvm_ir)
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    got = lowered.compile()(x=x, W=w)["y"]
    _close(got, x.astype(np.float64) @ w.astype(np.float64), 1e-4)


def test_the_gemm_labs_schedule_drives_the_same_loops():
    g = _matmul_graph(8, 12, 16)
    s = make_schedule(8, 16, 12, order="ikj", tile=4, unroll=2, vector=4)
    lowered = engine.lower(g, "y", s)
    assert [l.name for l in lowered.schedule.loops] == [l.name for l in s.loops]
    _close(lowered.compile()()["y"], lowered.reference()["y"])


@pytest.mark.parametrize(
    "schedule",
    [
        "tile(i, j, 4, 4); reorder(k, i_i, j_i); vectorize(j_i)",
        [("split", "k", 4), ("vectorize", "k_i")],
        {"tile": 4, "vector": 4, "unroll": 2},
        "split(i, 3); split(k, 5); unroll(k_i)",
        "split(k, 4); reorder(k_o, i, j, k_i); vectorize(k_i); split(j, 5); unroll(j_i)",
    ],
)
def test_schedule_forms_give_the_numpy_product(schedule):
    g = _matmul_graph(10, 20, 12)
    lowered = engine.lower(g, "y", schedule)
    vals = lowered.default_inputs()
    _close(lowered.compile()(vals)["y"], vals["x"] @ vals["W"])


# -- conv2d against torch ----------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(1, 2),
    st.sampled_from([(2, 4, 1), (4, 4, 2), (4, 4, 4), (3, 6, 3)]),
    st.sampled_from([1, 3]),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(1, 2),
    st.booleans(),
    st.sampled_from([None, "vec", "memory"]),
)
def test_conv2d_kernel_equals_torch(n, chans, k, stride, pad, dil, bias, how):
    import torch

    cin, cout, groups = chans
    size = 7
    prog = (
        f"x = input([{n}, {cin}, {size}, {size}])\nw = param([{cout}, {cin // groups}, {k}, {k}])\n"
        + (f"b = param([{cout}])\n" if bias else "")
        + f"y = conv2d(x, w{', b' if bias else ''}, stride={stride}, pad={pad}, dilation={dil}, "
        + f"groups={groups})\n"
    )
    g = engine.parse_program(prog)
    schedule = {None: None, "vec": "vectorize(kw)", "memory": "reorder(ci, kh, kw, ow)"}[how]
    lowered = engine.lower(g, "y", schedule)
    vals = lowered.default_inputs()
    got = lowered.compile()(vals)["y"]
    t = {name: torch.from_numpy(np.array(v)) for name, v in vals.items()}
    want = torch.nn.functional.conv2d(
        t["x"], t["w"], t.get("b"), stride=stride, padding=pad, dilation=dil, groups=groups
    ).numpy()
    _close(got, want, 1e-4)


# -- elementwise, reductions, layout ops -------------------------------------------------------------------
UNARY = ["neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid", "relu", "relu6", "gelu"]
UNARY += ["hswish", "square", "erf", "leaky_relu", "clip", "identity"]


@pytest.mark.parametrize("op", UNARY)
def test_unary_ops_match_the_interpreter(op):
    arg = "x" if op not in ("log", "sqrt") else "abs(x)"
    attrs = ", min=-0.5, max=0.7" if op == "clip" else ""
    g = engine.parse_program(f"x = input([3, 17])\ny = {op}({arg}{attrs})\n")
    lowered = engine.lower(g, "y", "split(i1, 4); unroll(i1_i)")
    vals = engine.run(g)
    _close(lowered.compile()(vals)["y"], vals["y"], 2e-6)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "max", "min"])
def test_broadcasting_binary_ops_match_numpy(op):
    g = engine.parse_program(f"a = input([4, 1, 6])\nb = input([5, 1])\ny = {op}(abs(a) + 0.5, b)\n")
    first = g.node("y").inputs[0]
    lowered = engine.lower(g, "y", "vectorize(i2)")
    rng = np.random.default_rng(1)
    a = np.abs(rng.standard_normal((4, 1, 6))).astype(np.float32) + 0.5
    b = rng.standard_normal((5, 1)).astype(np.float32)
    fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
    fn |= {"pow": np.power, "max": np.maximum, "min": np.minimum}
    with np.errstate(all="ignore"):
        want = fn[op](a, b)
    got = lowered.compile()({first: a, "b": b})["y"]
    np.testing.assert_allclose(got, want, rtol=2e-6, equal_nan=True)


@pytest.mark.parametrize(
    "expr,oracle",
    [
        ("reduce_sum(x, axes=[1])", lambda x: x.sum(axis=1)),
        ("reduce_mean(x, axes=[0, 2], keepdims=1)", lambda x: x.mean(axis=(0, 2), keepdims=True)),
        ("reduce_max(x)", lambda x: x.max()),
        ("transpose(x, perm=[2, 0, 1])", lambda x: x.transpose(2, 0, 1)),
        ("reshape(x, [6, 5])", lambda x: x.reshape(6, 5)),
    ],
)
def test_reductions_and_layout_ops_match_numpy(expr, oracle):
    g = engine.parse_program(f"x = input([2, 3, 5])\ny = {expr}\n")
    lowered = engine.lower(g, "y")
    x = np.random.default_rng(2).standard_normal((2, 3, 5)).astype(np.float32)
    _close(lowered.compile()(x=x)["y"], oracle(x.astype(np.float64)))


def test_pools_match_torch():
    import torch

    g = engine.parse_program(
        "x = input([1, 3, 9, 9])\nm = maxpool(x, kernel=3, stride=2, pad=1)\na = global_avgpool(x)\n"
    )
    x = engine.run(g)["x"]
    got_m = engine.lower(g, "m").compile()(x=x)["m"]
    got_a = engine.lower(g, "a", "vectorize(r1)").compile()(x=x)["a"]
    t = torch.from_numpy(np.array(x))
    _close(got_m, torch.nn.functional.max_pool2d(t, 3, 2, 1).numpy())
    _close(got_a, t.mean(dim=(2, 3), keepdim=True).numpy())


@pytest.mark.parametrize("preset", ["mlp", "conv_bn_relu", "resnet_basic_block", "self_attention"])
def test_every_node_of_a_preset_lowers_or_says_why(preset):
    g = engine.preset(preset)
    values = engine.run(g)
    lowered_any = False
    for node in g.op_nodes:
        try:
            lowered = engine.lower(g, node.name)
        except EngineError as exc:
            assert node.op in ("softmax", "layernorm", "concat", "split", "slice"), exc
            assert node.op in str(exc)
            continue
        _verify(lowered.llvm_ir)
        _close(lowered.compile()()[node.name], values[node.name], 1e-5)
        lowered_any = True
    assert lowered_any


@pytest.mark.parametrize("preset", ["conv_bn_relu", "mlp", "resnet_basic_block"])
def test_fused_groups_of_the_fusion_pass_compile_to_one_kernel(preset):
    g = engine.preset(preset)
    values = engine.run(g)
    groups = [grp for grp in engine.fuse(g) if len(grp) > 1]
    assert groups
    for group in groups:
        try:
            lowered = engine.lower(g, group)
        except EngineError as exc:  # a group with a reshape, softmax, ... says which member
            assert any(name in str(exc) for name in group)
            continue
        out = lowered.output
        assert out == group[-1] or out in group
        _close(lowered.compile()()[out], values[out], 1e-5)
        assert lowered.llvm_ir.count("define void") == 1


# -- the LLVM levels ----------------------------------------------------------------------------------------
def test_ir_is_ssa_with_phis_and_every_level_is_described():
    lowered = engine.lower(engine.preset("mlp"), None, "split(j, 8); reorder(k, j_i); vectorize(j_i)")
    ir = lowered.llvm_ir
    _verify(ir)
    assert " = phi i64 " in ir and "<8 x float>" in ir
    levels = [s.level for s in lowered.steps]
    assert levels[:3] == ["graph", "tensor expression", "loop nest"] and levels[-1] == "LLVM IR"
    assert levels.count("schedule") == 3
    assert all(s.knows for s in lowered.steps) and all(s.forgets for s in lowered.steps[1:])
    assert "<8 x float>" in " ".join(lowered.steps[-1].knows)
    assert "for j_i in vector(8)" in lowered.loop_ir


def test_llvm_pipeline_levels_change_the_code_but_not_the_result():
    lowered = engine.lower(_matmul_graph(6, 7, 8), "y", "split(k, 7); unroll(k_i)")
    pipe = lowered.pipeline()
    assert [p.opt_level for p in pipe] == [0, 1, 2, 3]
    assert pipe[0].after.instructions == pipe[0].before.instructions  # O0 leaves the IR alone
    # O2 folds the unrolled k copies into straight code, drops the k loop's blocks and vectorises
    # the j loop itself (lanes are independent sums, so the floating-point order stays the same)
    assert pipe[2].after.blocks < pipe[0].after.blocks
    assert pipe[0].after.vector_instructions == 0 < pipe[2].after.vector_instructions
    assert pipe[1].text != pipe[0].text and "define" in pipe[2].text
    results = [lowered.compile(level)()["y"] for level in range(4)]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])  # no fast-math: every level computes the same bits
    steps = lowered.backend_steps(2)
    assert [s.level for s in steps] == ["optimised IR", "machine code"]


def test_invalid_ir_is_an_engine_error_carrying_llvms_message():
    with pytest.raises(EngineError, match="LLVM rejected"):
        backend.optimize("define void @f() {\nentry:\n  %x = add i64 %y, 1\n  ret void\n}\n", 2)
    with pytest.raises(EngineError, match="opt_level"):
        engine.lower(engine.preset("mlp")).optimized(5)


def test_aot_object_code_loads_and_runs_like_the_jit():
    lowered = engine.lower(engine.preset("mlp"), ["matmul#1", "add#1", "h"])
    art = aot_compile(lowered)
    assert art.object_code[:4] == b"\x7fELF" and len(art.object_code) > 200
    kernel = load_aot(lowered, art)
    assert kernel.compiled.how == "aot"
    np.testing.assert_array_equal(kernel()["h"], lowered.compile()()["h"])
    with pytest.raises(EngineError, match="object file"):
        backend.load_object(b"not an object file at all", "x")
    code = bytearray(art.object_code)
    code[100] ^= 0xFF
    tampered = dataclasses.replace(art, object_code=bytes(code))
    with pytest.raises(EngineError, match="checksum"):
        load_aot(lowered, tampered)


def test_run_modes_break_even_follows_from_the_timings():
    r = compare_run_modes(engine.preset("mlp"), repeat=3)
    assert r.max_abs_diff < 1e-5 and r.object_bytes > 0
    for mode, even in ((r.jit, r.break_even_jit), (r.aot, r.break_even_aot)):
        assert mode.first_call_s >= mode.one_off_s > 0
        gain = r.interpreted.steady_s - mode.steady_s
        if even is None:
            assert gain <= 0
        else:
            assert even * gain >= mode.one_off_s * (1 - 1e-9) and (even - 1) * gain < mode.one_off_s
    assert r.aot.ahead_s > 0 and r.interpreted.one_off_s == 0


def test_specialising_jit_counts_recompiles_and_guards():
    g = _matmul_graph(4, 5, 3)
    jit = SpecializingJit(g, "y", limit=3)
    rng = np.random.default_rng(0)
    events = []
    for rows in (1, 2, 1, 2, 3, 7, 3):
        x = rng.standard_normal((rows, 5)).astype(np.float32)
        w = rng.standard_normal((5, 3)).astype(np.float32)
        out, event = jit({"x": x, "W": w})
        _close(out["y"], x @ w)
        events.append(event)
    assert events == ["recompile", "recompile", "hit", "hit", "recompile", "fallback", "hit"]
    assert (jit.recompiles, jit.hits, jit.fallbacks) == (3, 3, 1)
    assert jit.guards[0].guard == "x.shape == (1, 5) and W.shape == (5, 3)"


def test_generic_kernel_is_compiled_once_for_every_shape():
    g = _matmul_graph(4, 5, 3)
    kernel = generic_kernel(g, "y")
    assert "i64 %K" in kernel.llvm_ir and "i64 %M" in kernel.llvm_ir
    rng = np.random.default_rng(3)
    for m, k, n in ((1, 1, 1), (3, 7, 2), (9, 4, 6)):
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((k, n)).astype(np.float32)
        _close(kernel(x=x, W=w)["y"], x @ w)
    with pytest.raises(ShapeError, match="size K"):
        kernel(x=np.ones((2, 3), np.float32), W=np.ones((4, 2), np.float32))
    report = shape_specialization(g, "y")
    assert report.recompiles == 5 and report.hits == 3
    assert all(c.max_abs_diff < 1e-5 for c in report.calls)
    ew = engine.parse_program("x = input([4, 8])\ny = tanh(x)\n")
    kern = generic_kernel(ew, "y")
    x = np.linspace(-2, 2, 30, dtype=np.float32).reshape(5, 6)
    _close(kern(x=x)["y"], np.tanh(x), 1e-6)


# -- refusals ----------------------------------------------------------------------------------------------
def test_refusals_are_clear_engine_errors():
    mlp = engine.preset("mlp")
    with pytest.raises(EngineError, match="softmax"):
        engine.lower(mlp, "probs")
    with pytest.raises(EngineError, match="no node that lowers"):
        engine.lower(engine.parse_program("x = input([3, 4])\ny = softmax(x)\n"))
    with pytest.raises(EngineError, match="input, not a computation"):
        engine.lower(mlp, "x")
    with pytest.raises(ProgramError) as exc:
        engine.lower(mlp, None, "split(i, 2)\nsplit(j, 1.5)")
    assert exc.value.line == 2
    with pytest.raises(ShapeError, match="innermost"):
        engine.lower(mlp, None, "vectorize(i)")
    with pytest.raises(ShapeError, match="divides 32"):
        engine.lower(mlp, None, "reorder(k, j); split(j, 5); vectorize(j_i)")
    with pytest.raises(ShapeError, match="at most 16"):
        engine.lower(mlp, None, "unroll(j)")
    with pytest.raises(ShapeError, match="no loop named"):
        engine.lower(mlp, None, [("split", "q", 2)])
    with pytest.raises(EngineError, match="fused group"):
        engine.lower(mlp, ["matmul#1", "matmul#2"])
    kernel = engine.lower(mlp).compile()
    with pytest.raises(ShapeError, match="compiled for"):
        kernel(x=np.ones((5, 16), np.float32))
    with pytest.raises(EngineError, match="no input named"):
        kernel(q=np.ones(3))


def test_budgets_are_checked_before_any_work():
    with pytest.raises(BudgetError, match="operations"):
        engine.lower(_matmul_graph(2048, 512, 2048))
    g = engine.parse_program("x = input([16, 16, 2])\ny = x * x\n")
    with pytest.raises(BudgetError, match="copy the loop body"):
        engine.lower(g, "y", "unroll(i0); unroll(i1); unroll(i2)")


def test_engine_import_and_lower_never_import_llvmlite():
    code = (
        "import sys, engine\n"
        "engine.lower(engine.preset('mlp'))\n"
        "engine.parse_cfg_program('x = 1')\n"
        "assert 'llvmlite' not in sys.modules and 'torch' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr


def test_names_that_collide_in_llvm_are_kept_apart():
    g = engine.parse_program("entry = input([3, 4])\nheader = relu(entry)\nentry_ = header * entry\n")
    lowered = engine.lower(g, "entry_")
    _verify(lowered.llvm_ir)
    vals = engine.run(g)
    _close(lowered.compile()(vals)["entry_"], vals["entry_"])
