"""Flash attention: tiled attention with online softmax, step by step, and its HBM traffic."""
from __future__ import annotations

import math

import numpy as np
import streamlit as st

import ui
from engine.kernels import flash_attention as fa
from viz import kernels as vk

ui.setup("flash_attention", "Flash attention", "Flash Attention",
         "Never write the N×N score matrix to HBM: stream K/V blocks through on-chip memory and fix "
         "the softmax up as you go.", "绝不把 N×N 的分数矩阵写回 HBM：让 K/V 分块流过片上内存，边算边修正 softmax。")
t_ = ui.t
zh = ui.lang() == "zh"
MAX_STEPPER = 4096

with ui.controls():
    c = st.columns(3)
    n = c[0].select_slider(t_("Sequence length N", "序列长度 N"), [8, 16, 32, 48, 64, 128, 256], 64,
                           key="fa_n", bind="query-params")
    d = c[1].select_slider(t_("Head dim d", "头维度 d"), [4, 8, 16, 32, 64], 16, key="fa_d",
                           bind="query-params")
    sram = c[2].select_slider(t_("On-chip memory M (elements)", "片上内存 M（元素）"),
                              [16, 32, 64, 128, 256, 512, 1024, 2048, 4096], 256, key="fa_m",
                              bind="query-params")


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


with ui.guard():
    br, bc = fa.block_sizes(n, d, sram)
    tr, tc = math.ceil(n / br), math.ceil(n / bc)
    if tr * tc > MAX_STEPPER:       # a legal choice, just too long to step: say so, keep the charts below
        st.info(t_(f"{tc} × {tr} = {tr * tc:,} block steps are too many to step through (limit "
                   f"{MAX_STEPPER:,}): make M larger or N smaller. The traffic charts below still apply.",
                   f"{tc} × {tr} = {tr * tc:,} 个分块步骤太多，无法逐步演示（上限 {MAX_STEPPER:,}）：请增大 M 或减小 N。"
                   "下面的访存图表依然有效。"))
    else:
        steps, result, diffs = ui.cached(run)(n, d, sram)
        m = st.columns(4)
        m[0].metric("Bc = ⌈M/4d⌉", bc)
        m[1].metric("Br = min(Bc, d)", br)
        m[2].metric(t_("Steps Tc × Tr", "步数 Tc × Tr"), f"{tc} × {tr}")
        m[3].metric(t_("vs torch SDPA", "与 torch SDPA 之差"), f"{diffs[1]:.1e}",
                    help=t_("max |flash − torch.nn.functional.scaled_dot_product_attention| on the same Q, K, V",
                            "同一组 Q、K、V 上 |flash − torch.nn.functional.scaled_dot_product_attention| 的最大值"))
        def show_block(k: int) -> None:
            step = steps[k]
            st.markdown(t_(f"**Step {k + 1}:** K/V block {step.j} (rows {step.kv_rows[0]}–"
                           f"{step.kv_rows[1] - 1}) is on chip; Q block {step.i} (rows {step.q_rows[0]}–"
                           f"{step.q_rows[1] - 1}) is loaded with its O, l, m. HBM so far: "
                           f"{step.hbm_reads:,} element reads, {step.hbm_writes:,} writes.",
                           f"**第 {k + 1} 步：** K/V 第 {step.j} 块（第 {step.kv_rows[0]}–{step.kv_rows[1] - 1} 行）"
                           f"在片上；载入 Q 第 {step.i} 块（第 {step.q_rows[0]}–{step.q_rows[1] - 1} 行）及其 O、l、m。"
                           f"目前 HBM 读 {step.hbm_reads:,} 个元素，写 {step.hbm_writes:,} 个。"))
            a, b = st.columns(2)
            with a:
                ui.show_figure(vk.flash_block_grid(tr, tc, step, k, t_(
                               "Blocks of S = QKᵀ computed on chip (red: this step)", "在片上计算的 S = QKᵀ 分块（红色：本步）"), zh=zh), "fa_blocks",
                               t_("The outer loop walks K/V blocks (columns); for each, every Q block (row) "
                                  "visits. Only one Br×Bc block of S exists at a time.",
                                  "外层循环遍历 K/V 块（列）；每一列里所有 Q 块（行）依次到访。任何时刻只有一个 "
                                  "Br×Bc 的 S 块存在。"))
            with b:
                ui.show_figure(vk.flash_running_stats(step, t_(
                               "Online softmax: running max and rescaling of this Q block", "在线 softmax：本 Q 块的运行最大值与修正"), zh=zh), "fa_stats",
                               t_("When a new block raises the running max, the old sum l and output O are "
                                  "shrunk by e^(m_old − m_new) before the new block is added.",
                                  "当新块抬高了运行最大值时，旧的和 l 与输出 O 先乘以 e^(m_old − m_new) 缩小，"
                                  "再加上新块的贡献。"))
        ui.stepper("fa_step", len(steps), delay=0.4, render=show_block)


with ui.guard():  # the traffic charts do not depend on the stepper's sizes
    st.subheader(t_("HBM traffic: standard vs flash", "HBM 访存：标准实现 vs Flash"))
    big_d, big_m = 64, 50_000
    by_n = fa.traffic_table([256, 512, 1024, 2048, 4096, 8192, 16384], big_d, big_m)
    by_m = [fa.traffic_table([4096], big_d, mm)[0] for mm in (4096, 8192, 16384, 32768, 65536, 131072)]
    by_d = [fa.traffic_table([4096], dd, big_m)[0] for dd in (16, 32, 64, 128, 256)]
    tab_n, tab_d, tab_m = st.tabs([t_("vs N", "随 N"), t_("vs d", "随 d"), t_("vs M", "随 M")])
    with tab_n:
        ui.show_figure(vk.hbm_traffic(by_n, "N", t_(f"HBM accesses vs N (d = {big_d}, M = {big_m:,})",
                       f"HBM 访存量随 N 变化（d = {big_d}，M = {big_m:,}）"), zh=zh,
                       x_title=t_("sequence length N (tokens, log)", "序列长度 N（token，对数轴）")), "fa_vs_n",
                       t_("Both grow like N², but flash's constant is about 12·d²/M per N² — several "
                          "times smaller for realistic SRAM sizes.",
                          "两者都按 N² 增长，但 Flash 的系数约为 12·d²/M——在实际 SRAM 大小下小好几倍。"),
                       rows=by_n)
    with tab_d:
        ui.show_figure(vk.hbm_traffic(by_d, "d", t_(f"HBM accesses vs head dim d (N = 4096, M = {big_m:,})",
                       f"HBM 访存量随头维度 d 变化（N = 4096，M = {big_m:,}）"), zh=zh,
                       x_title=t_("head dimension d (elements, log)", "头维度 d（元素，对数轴）")), "fa_vs_d",
                       t_("Flash's traffic grows like d² (bigger rows mean fewer rows per block), "
                          "standard attention's only like d: at very large d the advantage shrinks.",
                          "Flash 的访存量按 d² 增长（行越宽，每块能放的行越少），标准实现只按 d 增长："
                          "d 很大时优势变小。"), rows=by_d)
    with tab_m:
        ui.show_figure(vk.hbm_traffic(by_m, "M", t_("HBM accesses vs on-chip memory M (N = 4096, d = 64)",
                       "HBM 访存量随片上内存 M 变化（N = 4096，d = 64）"), zh=zh,
                       x_title=t_("on-chip memory M (elements, log)", "片上内存 M（元素，对数轴）")), "fa_vs_m",
                       t_("Doubling the on-chip memory halves flash's traffic (Θ(N²d²/M)); standard "
                          "attention does not care.", "片上内存翻倍，Flash 的访存量减半（Θ(N²d²/M)）；"
                          "标准实现不受影响。"), rows=by_m)
    mem = fa.extra_memory(4096, big_d, big_m)
    st.markdown(t_(f"**Memory saved** at N = 4096 (fp16): standard attention keeps S and P in HBM, "
                   f"{mem['standard'] / 2**20:.0f} MiB per head; flash keeps only l and m, "
                   f"{mem['flash'] / 2**10:.0f} KiB.",
                   f"**节省的内存**（N = 4096，fp16）：标准实现在 HBM 中保存 S 与 P，每个头 "
                   f"{mem['standard'] / 2**20:.0f} MiB；Flash 只保存 l 与 m，{mem['flash'] / 2**10:.0f} KiB。"))
    ui.checkpoint("fa_double_m", t_("If on-chip memory M doubles, by what factor do flash attention's "
                                    "HBM accesses shrink (roughly)?", "如果片上内存 M 翻倍，Flash Attention 的 HBM "
                                    "访存量大约缩小几倍？"), 2.0,
                  t_("The K/V outer loop runs Tc = ⌈N / ⌈M/4d⌉⌉ times, and each pass re-reads all of Q "
                     "and O: half as many passes, half the traffic.",
                     "外层 K/V 循环执行 Tc = ⌈N / ⌈M/4d⌉⌉ 次，每次都重读全部 Q 和 O：次数减半，访存减半。"),
                  rel_tol=0.15)

ui.lesson("flash_attention")
