"""The compiler-depth labs' own work: the lowering lab's report (lower + LLVM -O0..-O3 + JIT + AOT +
timings) on the default kernel and on the elementwise chain, the kernel list of the zoo ResNet-18,
the CFG lab's pipeline, LLVM comparison and drawing, and the landscape map. First calls are cold
(LLVM's caches by IR text are cleared); the machine is shared: read ratios."""

from __future__ import annotations

import time

from bench.run import median_time
from engine.compiler import lab_lowering as ll
from engine.compiler.cfg import cfg_trace, parse_cfg_program, run_cfg
from engine.compiler.cfg.llvm import compare_with_llvm
from engine.compiler.landscape import landscape
from engine.compiler.lowering import backend
from engine.core.language import parse_program
from engine.core.presets import preset
from viz.cfg import cfg_step_figure
from viz.compiler_landscape import landscape_figure

PAGE_SCHEDULE = {"tile": 8, "vector": 4, "unroll": 2}  # the lowering lab's default controls
CHAIN = "x = input([256, 1024])\na = x * 2.0\nb = a + 1.0\nc = relu(b)\nd = c * x\ny = d - x\n"
PROGRAM = """n = input(10)
k = input(3)
total = 0
unused = n * 7
debug = 0
i = 0
while i < n:
    step = k * 2
    if i > 4:
        total = total + (i * step) * (i * step)
    else:
        total = total - 1
    i += 1
if debug > 0:
    total = total + 1000
output(total)
"""


def _cold(fn):
    for cached in (backend.optimize, backend.jit, backend.assembly):
        cached.cache_clear()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _lowering_rows() -> list[dict]:
    rows = []
    for label, graph, schedule in (
        ("mlp matmul#1 (page default)", preset("mlp"), PAGE_SCHEDULE),
        ("elementwise chain 256×1024 (fused, vector 8)", parse_program(CHAIN), {"vector": 8}),
    ):
        kc = ll.kernel_choices(graph)
        nodes = kc.names(kc.labels[kc.default])
        rep, cold = _cold(lambda g=graph, n=nodes, s=schedule: ll.lowering_report(g, n, s, 2))
        t, m = rep.times, rep.modes
        even = f"after {m.break_even_jit} calls" if m.break_even_jit is not None else "never"
        rows.append(
            dict(
                name=f"lowering lab report, {label}",
                value=cold * 1e3,
                unit="ms cold",
                target="",
                note=f"JIT {t.jit_s * 1e6:.0f} µs = {t.jit_s / t.numpy_s:.2g}x numpy's kernels, "
                f"{t.jit_s / t.interpreter_s:.2g}x the interpreter; max |diff| {t.max_abs_diff:.1e}; "
                f"JIT compile {m.jit.one_off_s * 1e3:.0f} ms, pays off {even}; "
                f"{len(rep.steps)} steps, -O2 {rep.levels[3].instructions} instructions",
            )
        )
    g = __import__("engine.interop.torch_zoo", fromlist=["zoo_graph"]).zoo_graph("resnet18")
    t = median_time(lambda: ll.kernel_choices(g), repeat=3)
    rows.append(
        dict(
            name="lowering lab kernel list of the zoo ResNet-18",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{len(ll.kernel_choices(g).labels)} nodes and fused groups, each group checked to lower",
        )
    )
    return rows


def _cfg_rows() -> list[dict]:
    def page():
        program = parse_cfg_program(PROGRAM)
        steps = tuple(cfg_trace(program))
        return program, steps, run_cfg(program), run_cfg(steps[-1].graph)

    t = median_time(page, repeat=5)
    program, steps, before, after = page()
    cmp, cold = _cold(lambda: compare_with_llvm(program))
    t_fig = median_time(lambda: [cfg_step_figure(s) for s in steps], repeat=3)
    return [
        dict(
            name="CFG lab: parse + 7-pass trace + run before/after (default program)",
            value=t * 1e3,
            unit="ms",
            target="< 50 ms",
            note=f"{len(steps)} steps, {program.instruction_count} -> {steps[-1].graph.instruction_count} "
            f"instructions, outputs kept: {before == after}",
        ),
        dict(
            name="CFG lab: LLVM -O2 beside our passes (compile + run)",
            value=cold * 1e3,
            unit="ms cold",
            target="",
            note=f"LLVM {cmp.llvm_before.instructions} -> {cmp.llvm_after.instructions} instructions, "
            f"ours {cmp.instructions_before} -> {cmp.instructions_after_ours}; agree: {cmp.agree}",
        ),
        dict(
            name="CFG lab: draw every step's control-flow graph",
            value=t_fig * 1e3,
            unit="ms",
            target="",
            note=f"{len(steps)} figures of {len(program.blocks)} blocks, "
            f"{t_fig / len(steps) * 1e3:.1f} ms each (built once per step, then cached by the page)",
        ),
    ]


def _landscape_rows() -> list[dict]:
    t = median_time(lambda: landscape_figure(landscape(), "graph"), repeat=5)
    table = landscape()
    return [
        dict(
            name="AI-compiler landscape: table + lowering map",
            value=t * 1e3,
            unit="ms",
            target="",
            note=f"{len(table.cells)} cells, {len(table.facts)} facts, {len(table.sources)} sources",
        )
    ]


def run() -> list[dict]:
    return _lowering_rows() + _cfg_rows() + _landscape_rows()
