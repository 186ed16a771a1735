"""Flash attention: tiled attention with online softmax, step by step, and its HBM traffic."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

import ui
from engine.kernels import flash_attention as fa
from viz import kernels as vk

ui.setup("flash_attention",
         "Flash attention",
         "Never write the N×N score matrix to HBM: stream K/V blocks through on-chip memory and fix "
         "the softmax up as you go.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
fit, _ = ui.figure_view()   # presenter type and theme
MAX_STEPPER = 4096


def run(n, d, sram):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, d)) for _ in range(3))
    gen = fa.flash_steps(q, k, v, sram)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    import torch  # the oracle
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a)[None, None] for a in (q, k, v)))[0, 0].numpy()
    diffs = (float(np.abs(result.output - fa.standard_attention(q, k, v)).max()),
             float(np.abs(result.output - ref).max()))
    return steps, result, diffs


@ui.section   # the sizes and the block stepper they drive: a new N, d or M reruns only this section
def blocks_view() -> None:
    with ui.controls():
        c = st.columns(3)
        n = c[0].select_slider(t_("Sequence length N"), [8, 16, 32, 48, 64, 128, 256], 64,
                               key="fa_n", bind="query-params")
        d = c[1].select_slider(t_("Head dim d"), [4, 8, 16, 32, 64], 16, key="fa_d",
                               bind="query-params")
        sram = c[2].select_slider(t_("On-chip memory M (elements)"),
                                  [16, 32, 64, 128, 256, 512, 1024, 2048, 4096], 256, key="fa_m",
                                  bind="query-params")

    with ui.guard():
        br, bc = fa.block_sizes(n, d, sram)
        tr, tc = math.ceil(n / br), math.ceil(n / bc)
        if tr * tc > MAX_STEPPER:       # a legal choice, just too long to step: say so, keep the charts below
            st.info(t_("{tc} × {tr} = {v2:,} block steps are too many to step through (limit "
                       "{MAX_STEPPER:,}): make M larger or N smaller. The traffic charts below still apply.",
                       tc=tc, tr=tr, v2=tr * tc, MAX_STEPPER=MAX_STEPPER))
        else:
            steps, result, diffs = ui.cached(run)(n, d, sram)
            def main_figure(k: int):
                return fit(vk.flash_block_grid(tr, tc, steps[k], k, tr=TR))

            def show_block(k: int) -> None:
                step = steps[k]
                st.markdown(t_("**Step {v2}:** K/V block {j} (rows {v3}–{v4}) is on chip; Q block {i} "
                               "(rows {v5}–{v6}) is loaded with its O, l, m. HBM so far: {hbm_reads:,} "
                               "element reads, {hbm_writes:,} writes.",
                               v2=k + 1, j=step.j, v3=step.kv_rows[0], v4=step.kv_rows[1] - 1, i=step.i,
                               v5=step.q_rows[0], v6=step.q_rows[1] - 1, hbm_reads=step.hbm_reads,
                               hbm_writes=step.hbm_writes))
                a, b = st.columns(2)
                with a:
                    ui.show_figure(main_figure(k), "fa_blocks",
                                   t_("The outer loop walks K/V blocks (columns); for each, every Q block "
                                      "(row) visits. Only one Br×Bc block of S exists at a time."))
                with b:
                    ui.show_figure(fit(vk.flash_running_stats(step, tr=TR)), "fa_stats",
                                   t_("When a new block raises the running max, the old sum l and output O "
                                      "are shrunk by e^(m_old − m_new) before the new block is added."))
            ui.stepper("fa_step", len(steps), delay=0.4, render=show_block, frame=main_figure)
            m = st.columns(4)
            m[0].metric("Bc = ⌈M/4d⌉", bc)
            m[1].metric("Br = min(Bc, d)", br)
            m[2].metric(t_("Steps Tc × Tr"), f"{tc} × {tr}")
            m[3].metric(t_("vs torch SDPA"), f"{diffs[1]:.1e}",
                        help=t_("max |flash − torch.nn.functional.scaled_dot_product_attention| on the "
                                "same Q, K, V"))


blocks_view()

with ui.guard():  # the traffic charts do not depend on the stepper's sizes
    st.subheader(t_("HBM traffic: standard vs flash"))
    big_d, big_m = 64, 50_000
    by_n = fa.traffic_table([256, 512, 1024, 2048, 4096, 8192, 16384], big_d, big_m)
    by_m = [fa.traffic_table([4096], big_d, mm)[0] for mm in (4096, 8192, 16384, 32768, 65536, 131072)]
    by_d = [fa.traffic_table([4096], dd, big_m)[0] for dd in (16, 32, 64, 128, 256)]
    tab_n, tab_d, tab_m = st.tabs([t_("vs N"), t_("vs d"), t_("vs M")])
    with tab_n:
        ui.show_figure(vk.hbm_traffic(by_n, "N", t_("HBM accesses vs N (d = {big_d}, M = {big_m:,})",
                                                    big_d=big_d, big_m=big_m), tr=TR,
                       x_title=t_("sequence length N (tokens, log)")), "fa_vs_n",
                       t_("Both grow like N², but flash's constant is about 12·d²/M per N² — several "
                          "times smaller for realistic SRAM sizes."),
                       rows=by_n)
    with tab_d:
        ui.show_figure(vk.hbm_traffic(by_d, "d", t_("HBM accesses vs head dim d (N = 4096, M = "
                                                    "{big_m:,})",
                                                    big_m=big_m), tr=TR,
                       x_title=t_("head dimension d (elements, log)")), "fa_vs_d",
                       t_("Flash's traffic grows like d² (bigger rows mean fewer rows per block), "
                          "standard attention's only like d: at very large d the advantage shrinks."),
                       rows=by_d)
    with tab_m:
        ui.show_figure(vk.hbm_traffic(by_m, "M", t_("HBM accesses vs on-chip memory M (N = 4096, d = "
                                                    "64)"), tr=TR,
                       x_title=t_("on-chip memory M (elements, log)")), "fa_vs_m",
                       t_("Doubling the on-chip memory halves flash's traffic (Θ(N²d²/M)); standard "
                          "attention does not care."), rows=by_m)
    mem = fa.extra_memory(4096, big_d, big_m)
    st.markdown(t_("**Memory saved** at N = 4096 (fp16): standard attention keeps S and P in HBM, "
                   "{v2:.0f} MiB per head; flash keeps only l and m, {v3:.0f} KiB.",
                   v2=mem['standard'] / 2**20, v3=mem['flash'] / 2**10))
    ui.checkpoint("fa_double_m", t_("If on-chip memory M doubles, by what factor do flash attention's "
                                    "HBM accesses shrink (roughly)?"), 2.0,
                  t_("The K/V outer loop runs Tc = ⌈N / ⌈M/4d⌉⌉ times, and each pass re-reads all of Q "
                     "and O: half as many passes, half the traffic."),
                  rel_tol=0.15)

ui.lesson("flash_attention")
