"""Below the graph: lowering + LLVM -O2 + JIT of a 256³ matmul, the kernel against numpy and our
interpreter, AOT vs JIT, the control-flow passes on a 1,000-block program, and the lens on the zoo
ResNet-18 graph's first convolution (medians after a first call; the machine is shared: read ratios)."""

from __future__ import annotations

import time

import numpy as np

from bench.run import median_time
from engine.compiler.cfg import optimize_cfg, parse_cfg_program, run_cfg
from engine.compiler.lowering import backend, lower
from engine.compiler.lowering.aot import compare_run_modes
from engine.core.interpreter import apply_op
from engine.core.language import parse_program

MATMUL = "x = input([256, 256])\nW = param([256, 256])\ny = x @ W\n"
TUNED = "tile(i, j, 4, 64); reorder(k, i_i, j_i); split(j_i, 8); vectorize(j_i_i); unroll(i_i)"


def cfg_program(units: int = 125) -> str:
    """8 blocks per unit: a branch on a constant, an if/else, a counted loop with invariants."""
    lines = ["a = input(3)", "b = input(2)", "s = 0"]
    for k in range(units):
        lines += [f"x{k} = a + {k}", "c = 4", "if c > 5:", "    s = s - 100"]
        lines += [f"if x{k} > 3:", f"    s = s + x{k}", "else:", "    s = s - 1"]
        lines += ["i = 0", "while i < 2:", "    t = b * 2", "    u = t + c", "    s = s + t", "    i += 1"]
    lines.append("output(s)")
    return "\n".join(lines)


def _matmul_rows() -> list[dict]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # one thread each: the JIT kernels are single-threaded too
        return _matmul_rows_one_thread()


def _matmul_rows_one_thread() -> list[dict]:
    graph = parse_program(MATMUL)
    rows = []
    t_lower = median_time(lambda: lower(graph, "y"), repeat=5)
    lowered = lower(graph, "y")
    t_opt = median_time(lambda: backend.optimize.__wrapped__(lowered.llvm_ir, 2), repeat=3)
    t_jit = median_time(lambda: backend.compile_fresh(lowered.llvm_ir, lowered.function, 2), repeat=3)
    rows.append(
        dict(
            name="lower 256³ matmul + LLVM -O2 + JIT (MCJIT)",
            value=(t_lower + t_jit) * 1e3,
            unit="ms",
            target="",
            note=f"lower {t_lower * 1e3:.1f} ms, -O2 alone {t_opt * 1e3:.1f} ms, "
            f"JIT incl. -O2 {t_jit * 1e3:.1f} ms; {backend.host_description()}",
        )
    )
    values = lowered.default_inputs()
    node = graph.node("y")
    t_numpy = median_time(lambda: values["x"] @ values["W"], repeat=7)
    t_interp = median_time(lambda: apply_op(node, [values["x"], values["W"]]), repeat=7)
    for label, schedule in (("default schedule (i, j, k)", None), ("tiled + 8-wide vectors", TUNED)):
        low = lower(graph, "y", schedule)
        kernel = low.compile(2)
        out = kernel(values)["y"]
        err = float(np.max(np.abs(out - values["x"] @ values["W"])))
        t = median_time(lambda k=kernel: k(values), repeat=5)
        rows.append(
            dict(
                name=f"JIT kernel, 256³ matmul, {label}",
                value=t * 1e3,
                unit="ms",
                target="",
                note=f"{t / t_numpy:.3g}x numpy's time ({t_numpy * 1e3:.2f} ms, 1 thread), "
                f"{t / t_interp:.3g}x the interpreter's ({t_interp * 1e3:.2f} ms); max |diff| {err:.1e}",
            )
        )
    modes = compare_run_modes(graph, "y", TUNED, repeat=5)
    even = modes.break_even_jit
    rows.append(
        dict(
            name="AOT vs JIT vs interpreter, 256³ matmul (tuned)",
            value=modes.jit.one_off_s * 1e3,
            unit="ms JIT compile",
            target="",
            note=f"AOT ahead {modes.aot.ahead_s * 1e3:.0f} ms, load {modes.aot.one_off_s * 1e3:.1f} ms, "
            f"{modes.object_bytes:,} B object; steady interp {modes.interpreted.steady_s * 1e3:.2f} / "
            f"JIT {modes.jit.steady_s * 1e3:.2f} / AOT {modes.aot.steady_s * 1e3:.2f} ms; break-even "
            f"{even if even is not None else 'never'} calls (JIT)",
        )
    )
    return rows


def _cfg_rows() -> list[dict]:
    text = cfg_program()
    t0 = time.perf_counter()
    program = parse_cfg_program(text)
    t_parse = time.perf_counter() - t0
    t = median_time(lambda: optimize_cfg(program), repeat=5)
    after, _ = optimize_cfg(program)
    same = run_cfg(after, {"a": 5}) == run_cfg(program, {"a": 5})
    return [
        dict(
            name=f"CFG passes (all 7) on a {len(program.blocks):,}-block program",
            value=t * 1e3,
            unit="ms",
            target="< 200 ms",
            note=f"parse {t_parse * 1e3:.0f} ms; {program.instruction_count:,} -> "
            f"{after.instruction_count:,} "
            f"instructions, {len(program.blocks):,} -> {len(after.blocks):,} blocks; outputs kept: {same}",
        )
    ]


def _zoo_rows() -> list[dict]:
    from engine.compiler.passes.fusion import fuse
    from engine.interop.torch_zoo import zoo_graph

    graph = zoo_graph("resnet18")
    groups = fuse(graph)
    t_all = median_time(lambda: [lower(graph, g) for g in groups], repeat=5)
    lowered = lower(graph)
    t = median_time(lambda: lower(graph), repeat=7)
    kernel = lowered.compile(2)
    values = lowered.default_inputs()
    t_run = median_time(lambda: kernel(values), repeat=3)
    return [
        dict(
            name=f"lower every fused group of the zoo ResNet-18 ({len(groups)} kernels)",
            value=t_all * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"graph -> tensor expression -> loops -> LLVM IR text, no compilation; the first conv "
            f"({lowered.nodes[0]}) alone {t * 1e3:.1f} ms, {len(lowered.llvm_ir.splitlines())} lines of IR, "
            f"its JIT kernel {t_run * 1e3:.0f} ms per call (default schedule)",
        )
    ]


def run() -> list[dict]:
    return _matmul_rows() + _cfg_rows() + _zoo_rows()
