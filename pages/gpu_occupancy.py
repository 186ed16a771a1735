"""GPU occupancy: how many warps an SM keeps resident, and which resource runs out first."""
from __future__ import annotations

import streamlit as st

import ui
from engine.hw import SPECS, mma_vs_fma, occupancy, occupancy_curve
from viz.hardware import ZH, limiter_bars, occupancy_curve_fig

ui.setup("gpu_occupancy", "GPU occupancy", "GPU 占用率",
         "Registers, shared memory and block size decide how many warps hide each other's latency.",
         "寄存器、共享内存和线程块大小决定了 SM 上能同时驻留多少个 warp 来互相掩盖延迟。")
t_ = ui.t


fit, shared = ui.figure_view(ZH)
limiter_bars = shared(limiter_bars)
occupancy_curve_fig = shared(occupancy_curve_fig)


#: CUDA C++ Best Practices Guide, "Calculating Occupancy": (cc, threads, registers, smem) -> occupancy %
GUIDE = {("7.0", 128, 37, 0): 75, ("7.0", 320, 37, 0): 63, ("7.0", 256, 32, 0): 100}
LIMIT_NAMES = {"warps": t_("warp slots", "warp 槽位"), "blocks": t_("block slots", "线程块槽位"),
               "registers": t_("registers", "寄存器"), "shared_memory": t_("shared memory", "共享内存")}

with ui.controls():
    c = st.columns(4)
    cc = c[0].selectbox(t_("Compute capability", "计算能力"), list(SPECS), index=0, key="go_cc",
                        format_func=lambda k: f"{k} — {SPECS[k].name}", bind="query-params")
    threads = c[1].number_input(t_("Threads per block", "每块线程数"), 0, 2048, 128, step=32,
                                key="go_threads", bind="query-params")
    regs = c[2].number_input(t_("Registers per thread", "每线程寄存器数"), 1, 300, 37, key="go_regs",
                             bind="query-params")
    smem_kb = c[3].number_input(t_("Shared memory per block (KB)", "每块共享内存 (KB)"), 0.0, 256.0, 0.0,
                                step=1.0, format="%.1f", key="go_smem", bind="query-params")
smem = int(smem_kb * 1024)

with ui.guard():
    r = ui.cached(occupancy)(cc, int(threads), int(regs), smem)
    m = st.columns(4)
    m[0].metric(t_("Occupancy", "占用率"), f"{100 * r['occupancy']:.1f}%")
    m[1].metric(t_("Blocks per SM", "每 SM 线程块数"), r["blocks_per_sm"])
    m[2].metric(t_("Active warps", "活跃 warp 数"), f"{r['active_warps']} / {r['max_warps_per_sm']}")
    m[3].metric(t_("Limited by", "受限于"), LIMIT_NAMES[r["limiter"]])
    guide = GUIDE.get((cc, int(threads), int(regs), smem))
    if guide:
        st.caption(t_(f"✓ matches NVIDIA's CUDA C++ Best Practices Guide (Calculating Occupancy): {guide} % there, "
                      f"{100 * r['occupancy']:.1f} % here — difference {abs(100 * r['occupancy'] - guide):.1f} "
                      "points (the guide rounds).",
                      f"✓ 与 NVIDIA《CUDA C++ 最佳实践指南》（计算占用率一节）一致：指南 {guide} %，本页 "
                      f"{100 * r['occupancy']:.1f} %，相差 {abs(100 * r['occupancy'] - guide):.1f} 个百分点（指南取整）。"))
    else:
        st.caption(t_("The Best Practices Guide's worked example: cc 7.0, 128 threads per block, 37 registers.",
                      "《CUDA C++ 最佳实践指南》的示例：计算能力 7.0、每块 128 线程、每线程 37 个寄存器。"))
    ui.show_figure(fit(limiter_bars(r, t_("Blocks per SM allowed by each resource (outlined = binding)",
                                          "各资源允许的每 SM 线程块数（黑框 = 起决定作用的资源）"))),
                   "go_limits", t_(f"The smallest bar binds. Each warp gets {r['regs_per_warp']} registers "
                                   f"({regs}×32 rounded up to 256); each block reserves "
                                   f"{r['smem_allocated_per_block']:,} B of shared memory.",
                                   f"最矮的柱子决定结果。每个 warp 分到 {r['regs_per_warp']} 个寄存器（{regs}×32 向上"
                                   f"取整到 256 的倍数）；每个线程块占用 {r['smem_allocated_per_block']:,} B 共享内存。"),
                   data=r)
    tab1, tab2 = st.tabs([t_("vs block size", "随块大小变化"), t_("vs registers", "随寄存器数变化")])
    with tab1:
        rows_t = ui.cached(occupancy_curve)(cc, int(regs), smem, "threads")
        ui.show_figure(fit(occupancy_curve_fig(rows_t, "threads", t_("Occupancy vs threads per block "
                                                                     "(dashed = your block size)",
                                                                     "占用率随每块线程数的变化（虚线 = 当前块大小）"),
                                               int(threads))),
                       "go_curve_t", t_("Saw-teeth appear where a block size leaves warp slots or registers "
                                        "that no whole block can use.", "锯齿出现在某个块大小留下的 warp 槽位或"
                                        "寄存器不足以再放下一个完整线程块的地方。"), rows=rows_t)
    with tab2:
        rows_r = ui.cached(occupancy_curve)(cc, 32, smem, "registers", int(threads))
        ui.show_figure(fit(occupancy_curve_fig(rows_r, "regs", t_("Occupancy vs registers per thread "
                                                                  "(dashed = your count)",
                                                                  "占用率随每线程寄存器数的变化（虚线 = 当前值）"),
                                               int(regs))),
                       "go_curve_r", t_("Occupancy falls in steps: registers are handed out per warp in "
                                        "units of 256.", "占用率阶梯式下降：寄存器按 warp 以 256 个为单位分配。"),
                       rows=rows_r)

st.subheader(t_("Tensor Cores vs SIMT FMAs", "Tensor Core 与 SIMT FMA"))
g = st.columns(3)
gm = g[0].number_input("M", 1, 16384, 4096, key="go_m", bind="query-params")
gn = g[1].number_input("N", 1, 16384, 4096, key="go_n", bind="query-params")
gk = g[2].number_input("K", 1, 16384, 4096, key="go_k", bind="query-params")
with ui.guard():
    ins = ui.cached(mma_vs_fma)(int(gm), int(gn), int(gk))
    st.markdown(t_(f"**{ins['macs']:,}** MACs = **{ins['mma_instructions']:,}** warp-level "
                   f"`mma.sync.{ins['mma_shape']}` instructions ({ins['macs_per_mma']} MACs each) or "
                   f"**{ins['fma_instructions']:,}** SIMT FMA warp instructions (32 MACs each): "
                   f"**{ins['ratio']:.0f}×** fewer instructions to issue.",
                   f"**{ins['macs']:,}** 次乘加 = **{ins['mma_instructions']:,}** 条 warp 级 "
                   f"`mma.sync.{ins['mma_shape']}` 指令（每条 {ins['macs_per_mma']} 次乘加），或 "
                   f"**{ins['fma_instructions']:,}** 条 SIMT FMA warp 指令（每条 32 次）：指令数少 "
                   f"**{ins['ratio']:.0f}** 倍。"))

ui.checkpoint("go_ck", t_("cc 7.0, 320 threads per block, 37 registers per thread: what occupancy (%)?",
                          "计算能力 7.0，每块 320 线程，每线程 37 个寄存器：占用率是多少（%）？"),
              100 * occupancy("7.0", 320, 37)["occupancy"],
              t_("37×32 = 1184 → 1280 registers per warp; 16384 // 1280 = 12 warps per quarter-SM → 48 warps; "
                 "48 // 10 warps = 4 blocks = 40 warps of 64 (the Best Practices Guide's 63 %).",
                 "37×32 = 1184 → 每 warp 1280 个寄存器；16384 // 1280 = 每个子分区 12 个 warp → 共 48 个；"
                 "48 // 10 = 4 个线程块 = 40/64 个 warp（即《最佳实践指南》中的 63%）。"))
ui.lesson("gpu_occupancy")
