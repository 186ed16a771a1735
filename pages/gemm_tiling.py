"""GEMM optimisation: one algorithm, many schedules, counted by a cache simulator."""
from __future__ import annotations

import streamlit as st

import ui
from engine.kernels import gemm
from engine.kernels.cache_sim import CacheConfig
from viz import kernels as vk

ui.setup("gemm_tiling", "GEMM optimisation", "GEMM 优化",
         "C += A·B never changes; the schedule only changes the order of the iterations — and the "
         "cache notices.", "C += A·B 本身不变；调度只改变迭代的顺序——而缓存会察觉到。")
t_ = ui.t
zh = ui.lang() == "zh"
KIB = 1024

with ui.controls():
    c = st.columns(5)
    size = c[0].selectbox("M = N = K", [16, 32, 48, 64], index=3, key="gt_size", bind="query-params")
    order = c[1].selectbox(t_("Loop order", "循环顺序"), gemm.LOOP_ORDERS, key="gt_order",
                           bind="query-params")
    tile = c[2].selectbox(t_("Tile", "分块"), [0, 4, 8, 16, 32], index=0, key="gt_tile",
                          format_func=lambda v: "none · 不分块" if v == 0 else str(v),  # same in both languages: the URL keeps it
                          bind="query-params")
    unroll = c[3].selectbox(t_("Unroll", "展开"), [1, 2, 4, 8], key="gt_unroll", bind="query-params")
    vector = c[4].selectbox(t_("Vector width", "向量宽度"), [1, 4, 8], key="gt_vector",
                            bind="query-params")
    d = st.columns(3)
    capacity = d[0].select_slider(t_("Cache capacity (KiB)", "缓存容量 (KiB)"), [1, 2, 4, 8, 16, 32, 64],
                                  8, key="gt_cap", bind="query-params")
    line = d[1].select_slider(t_("Line size (bytes)", "缓存行 (字节)"), [16, 32, 64, 128], 64,
                              key="gt_line", bind="query-params")
    ways = d[2].select_slider(t_("Associativity (ways)", "相联度 (路)"), [1, 2, 4, 8, 16], 8,
                              key="gt_ways", bind="query-params")


def simulate(size, order, tile, unroll, vector, cache):
    return gemm.run_gemm(gemm.make_schedule(size, size, size, order, tile, unroll, vector), cache)


with ui.guard():
    cache = CacheConfig(capacity * KIB, line, ways).validate()
    result = ui.cached(simulate)(size, order, tile, unroll, vector, cache)
    s = result.stats
    worst = max(s.misses_by_array, key=lambda kv: kv[1])[0]
    used = gemm.applied_factors(result.schedule)
    if (used["vector"], used["unroll"]) != (vector, unroll):
        st.caption(t_(f"The loop left after tiling is too short for vector width {vector} × unroll "
                      f"{unroll}: this schedule uses vector width {used['vector']} and unroll "
                      f"{used['unroll']} (the largest factors that divide it).",
                      f"分块后剩下的循环太短，放不下向量宽度 {vector} × 展开 {unroll}：本调度实际使用向量宽度 "
                      f"{used['vector']}、展开 {used['unroll']}（能整除它的最大因子）。"))
    left, right = st.columns([3, 2])
    with left:
        st.markdown(t_("**Generated loop nest**", "**生成的循环嵌套**"))
        st.code(result.code, language="python")
    with right:
        m = st.columns(2)
        m[0].metric(t_("Accesses", "访存次数"), f"{s.accesses:,}")
        m[1].metric(t_("Misses", "缺失次数"), f"{s.misses:,}", t_(f"miss rate {1 - s.hit_rate:.1%}",
                    f"缺失率 {1 - s.hit_rate:.1%}"), delta_color="off", delta_arrow="off")
        traffic = s.traffic_bytes / KIB
        m[0].metric(t_("Memory traffic", "内存流量"),
                    f"{traffic / KIB:.1f} MiB" if traffic >= KIB else f"{traffic:.1f} KiB")
        m[1].metric(t_("Intensity (FLOP/B)", "算术强度 (FLOP/B)"), f"{result.arithmetic_intensity:.3g}",
                    t_(f"ideal {result.ideal_intensity:.1f}", f"理想 {result.ideal_intensity:.1f}"),
                    delta_color="off", delta_arrow="off")
        m[0].metric(t_("Loop iterations (branches)", "循环迭代（分支）"), f"{result.loop_iterations:,}")
        m[1].metric(t_("Cache sets", "缓存组数"), f"{cache.n_sets}")
        ui.show_figure(vk.misses_by_array(s, t_("Which matrix misses", "哪个矩阵在缺失"), zh=zh), "gt_arrays",
                       t_(f"In order {order}, {worst} misses most ({dict(s.misses_by_array)[worst]:,}): a matrix "
                          "walked down a column (innermost loop over its row index) needs a new line per access.",
                          f"{order} 顺序下 {worst} 缺失最多（{dict(s.misses_by_array)[worst]:,} 次）：按列遍历的矩阵"
                          "（最内层循环走它的行下标）每次访问都要一个新的缓存行。"))

    st.subheader(t_("Loop order and tile size", "循环顺序与分块大小"))
    # sweeps from the same cached runs (unroll 1, vector 1): moving one control recomputes only new runs
    by_order = [gemm.summary_row(ui.cached(simulate)(size, o, tile, 1, 1, cache), o, tile)
                for o in gemm.LOOP_ORDERS]
    by_tile = [gemm.summary_row(ui.cached(simulate)(size, order, t, 1, 1, cache), order, t)
               for t in (0, 4, 8, 16, 32)]
    a, b = st.columns(2)
    with a:
        ui.show_figure(vk.misses_by_order(by_order, t_("Cache misses for each of the six loop orders",
                                                        "六种循环顺序的缓存缺失"), zh=zh), "gt_orders",
                       t_("Orders whose innermost loop is j (ikj, kij) stream along rows of B and C: "
                          "far fewer misses than those that walk a column.",
                          "最内层循环为 j 的顺序（ikj、kij）沿 B 和 C 的行连续访问，缺失远少于按列遍历的顺序。"),
                       rows=by_order)
    with b:
        ui.show_figure(vk.misses_by_tile(by_tile, t_("Misses and arithmetic intensity vs tile size",
                                                      "缺失次数与算术强度随分块大小的变化"), zh=zh), "gt_tiles",
                       t_("Tiles that fit in the cache reuse each loaded line many times: misses fall "
                          "and the arithmetic intensity rises, until the tiles stop fitting.",
                          "能装进缓存的分块让每个缓存行被多次复用：缺失下降、算术强度上升，直到分块装不下为止。"),
                       rows=by_tile)
    untiled = next(r for r in by_tile if r["tile"] == 0)
    best = max(by_tile, key=lambda r: r["intensity"])
    st.markdown(t_(f"Arithmetic intensity of this GEMM in order {order}: **{untiled['intensity']:.2f} "
                   f"FLOP/B untiled → {best['intensity']:.2f} FLOP/B with {best['tile'] or 'no'} tiles** "
                   f"(ideal, each matrix moved once: {result.ideal_intensity:.1f}).",
                   f"{order} 顺序下该 GEMM 的算术强度：**不分块 {untiled['intensity']:.2f} FLOP/B → "
                   f"分块 {best['tile'] or '无'} 时 {best['intensity']:.2f} FLOP/B**（理想情况，每个矩阵只搬一次："
                   f"{result.ideal_intensity:.1f}）。"))
    ui.checkpoint("gt_unroll", t_("Does unrolling the innermost loop by 4 change the number of cache "
                                  "misses?", "把最内层循环展开 4 次，会改变缓存缺失次数吗？"), t_("no", "不会"),
                  t_("Unrolling removes branches, not memory accesses: the address order is identical.",
                     "展开减少的是分支，不是访存：地址顺序完全相同。"), choices=[t_("yes", "会"), t_("no", "不会")])

ui.lesson("gemm_tiling")
