"""SIMD vs SIMT: one tiny kernel with a branch, four ways to run it, and what memory sees of a warp."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine.hw import (
    bank_conflicts,
    coalescing,
    divergence_utilization,
    simd,
    simt,
    sisd,
    spmd,
    warp_addresses,
)
from engine.hw.occupancy_amd import BRANCH_PATTERNS, branch_operands, wave_vs_warp
from viz.hardware import bank_picture, coalescing_chart, lanes_heatmap, utilization_bars
from viz.occupancy_amd import wave_warp_bars

ui.setup("execution_models",
         "SIMD vs SIMT",
         "c[i] = a[i] + b[i] if a[i] > 0 else a[i] − b[i] — run on one lane, on vector lanes, on warps.")
t_ = ui.t
MODELS = {"SISD": sisd, "SIMD": simd, "SIMT": simt, "SPMD": spmd}


fit, shared = ui.figure_view()
lanes_heatmap = shared(lanes_heatmap)
utilization_bars = shared(utilization_bars)
coalescing_chart = shared(coalescing_chart)
bank_picture = shared(bank_picture)
wave_warp_bars = shared(wave_warp_bars)


def run_all(n: int, positive: float, width: int, seed: int):
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(n) < positive, 1.0, -1.0) * rng.integers(1, 9, n)
    b = rng.integers(1, 9, n).astype(float)
    return a, b, [sisd(a, b), simd(a, b, width), simt(a, b), spmd(a, b, width)]


def wave_rows(pattern: str, n: int) -> list[dict]:
    a, b = branch_operands(pattern, n)
    return [{k: v for k, v in row.items() if k != "result"} for row in wave_vs_warp(a, b)]


@ui.section   # the kernel's four controls and the stepped lanes they drive: a move reruns only this section
def lanes_view() -> None:
    with ui.controls():
        c = st.columns(4)
        n = c[0].slider(t_("Elements"), 0, 256, 64, key="em_n", bind="query-params")
        pos = c[1].slider(t_("Share with a > 0"), 0.0, 1.0, 0.5, 0.05, key="em_pos",
                          bind="query-params")
        width = c[2].select_slider(t_("SIMD width / SPMD instances"),
                                   [1, 2, 4, 8, 16, 32], 8, key="em_w", bind="query-params")
        model = c[3].radio(t_("Show lanes of"), list(MODELS), index=2, key="em_model",
                           bind="query-params")

    with ui.guard():
        a, b, runs = ui.cached(run_all)(n, pos, width, 0)
        run = runs[list(MODELS).index(model)]
        def main_figure(step: int):
            return fit(lanes_heatmap(run, t_("{model}: lanes busy per cycle (step {v2} outlined)",
                                             model=run.model, v2=step + 1), current=step))

        def show_cycle(step: int) -> None:
            if run.cycles:
                st.markdown(f"`{run.labels[step]}` — {int(run.lanes[step].sum())}/{run.width} "
                            + t_("lanes active"))
            ui.show_figure(main_figure(step),
                           "em_lanes", t_("Green = a lane doing useful work, grey = masked off or empty. "
                                          "Under SIMT a warp whose lanes disagree runs both paths one "
                                          "after the other."),
                           rows=[{"model": r.model, "cycles": r.cycles, "utilization": r.utilization}
                                 for r in runs])
        ui.stepper("em_step", run.cycles, render=show_cycle, frame=main_figure)
        ui.show_figure(fit(utilization_bars(runs, t_("Lane utilisation per model"))), "em_util",
                       t_("SIMD pays for both sides of the branch on every chunk; SIMT pays only where a "
                          "warp diverges."))
        if run.stack_log:
            ui.folded(t_("Reconvergence stack log"), "em_stack_box",   # drawn only while open
                      lambda: st.code("\n".join(ui.t_message(line) for line in run.stack_log[:40])))
        if all(np.array_equal(r.result, runs[0].result) for r in runs) and np.array_equal(
                runs[0].result, np.where(a > 0, a + b, a - b)):
            st.success(t_("✓ All four models give the same c as numpy's np.where."))
        else:
            st.error(t_("The models disagree with numpy."))


lanes_view()


@st.fragment   # wave64 vs warp32: a new branch pattern reruns only this section
def wave_view() -> None:
    st.subheader(t_("Wave64 (AMD CDNA) vs warp32 (NVIDIA)"))
    patterns = {"alternate": t_("every other lane"), "runs of 32": t_("runs of 32 lanes"),
                "runs of 64": t_("runs of 64 lanes"), "random": t_("random (a coin flip per lane)")}
    with ui.controls("wave"):
        pattern = ui.by_id(st).radio(t_("Which lanes take the if-branch"), BRANCH_PATTERNS, index=1,
                                     horizontal=True, format_func=patterns.get, key="em_pattern",
                                     bind="query-params")
    with ui.guard():
        w32, w64 = ui.cached(wave_rows)(pattern, 256)
        ui.show_figure(fit(wave_warp_bars([w32, w64], t_("The same branch on 256 elements: 32 vs 64 lanes in "
                                                          "lock-step"))), "em_wave", t_(
            "A wave64 holds two warps' lanes: it diverges when either half does or when the halves "
            "disagree, so it never uses its lanes better than warp32."), rows=[w32, w64])
        st.markdown(t_(
            "warp32 issues **{i32}** instructions ({d32} of {g32} warps diverge), wave64 **{i64}** "
            "({d64} of {g64} waves diverge): **{s32:,}** vs **{s64:,}** lane-slots for the same "
            "{u:,} useful lane-instructions.", i32=w32["instructions"], d32=w32["divergent"],
            g32=w32["groups"], i64=w64["instructions"], d64=w64["divergent"], g64=w64["groups"],
            s32=w32["lane_slots"], s64=w64["lane_slots"], u=w32["useful"]))


wave_view()


@st.fragment   # coalescing and bank conflicts: element size, offset or stride rerun only this section
def memory_view() -> None:
    st.subheader(t_("Memory: coalescing and bank conflicts"))
    m = st.columns(3)
    elem = m[0].select_slider(t_("Element size (bytes)"), [1, 2, 4, 8, 16], 4, key="em_elem",
                              bind="query-params")
    offset = m[1].number_input(t_("Start offset (bytes)"), 0, 4096, 0, key="em_off",
                               bind="query-params")
    bstride = m[2].slider(t_("Shared-memory stride (words)"), 0, 64, 2, key="em_bank",
                          bind="query-params")
    with ui.guard():
        rows = []
        for s in (1, 2, 4, 8, 16, 32):
            rows.append({"pattern": f"stride {s}",
                         **coalescing(warp_addresses("strided", s, elem, offset), elem)})
        rows.append({"pattern": "random", **coalescing(warp_addresses("random", 1, elem, offset), elem)})
        ui.show_figure(fit(coalescing_chart(rows, t_("Transactions for one warp-wide load"))),
                       "em_coalesce", t_("32 neighbouring {elem}-byte loads fill {sectors} 32-byte "
                                         "sector(s); spread them out and every lane needs its own sector, "
                                         "so efficiency drops to {v2:.0f}%.",
                                         elem=elem, sectors=rows[0]['sectors'],
                                         v2=100 * rows[-1]['efficiency']), rows=rows)
        bc = bank_conflicts(np.arange(32) * bstride)
        ui.show_figure(fit(bank_picture(bc["bank_of_lane"], bc["per_bank"],
                                    t_("s[lane × {bstride}]: {degree}-way bank conflict",
                                       bstride=bstride, degree=bc['degree']))), "em_banks",
                       t_("Bank = word index mod 32. Distinct words in one bank are served one after "
                          "another; lanes reading the same word share a broadcast."))


memory_view()

ui.checkpoint("em_ck", t_("A warp of 32 threads: 8 take the if-branch, 24 the else-branch (one "
                          "instruction each). Lane utilisation of the branch in %?"),
              100 * divergence_utilization(8 / 32)["utilization"],
              t_("Both paths issue, so 32 useful lane-slots out of 64."))
ui.lesson("execution_models")
