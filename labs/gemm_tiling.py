"""GEMM optimisation: one algorithm, many schedules, counted by a cache simulator."""
from __future__ import annotations

import streamlit as st

import ui
from engine.kernels import gemm
from engine.kernels.cache_sim import CacheConfig
from viz import kernels as vk

ui.setup("gemm_tiling",
         "GEMM optimisation",
         "C += A·B never changes; the schedule only changes the order of the iterations — and the "
         "cache notices.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
KIB = 1024


def simulate(size, order, tile, unroll, vector, cache):
    return gemm.run_gemm(gemm.make_schedule(size, size, size, order, tile, unroll, vector), cache)


@ui.section   # the GEMM's controls and everything they drive: a change reruns only this section
def gemm_view() -> None:
    with ui.controls():
        c = st.columns(5)
        size = c[0].selectbox("M = N = K", [16, 32, 48, 64], index=3, key="gt_size", bind="query-params")
        order = c[1].selectbox(t_("Loop order"), gemm.LOOP_ORDERS, key="gt_order",
                               bind="query-params")
        tile = ui.by_id(c[2]).selectbox(t_("Tile"), [0, 4, 8, 16, 32], index=0, key="gt_tile",
                                        format_func=lambda v: t_("untiled") if v == 0 else str(v),
                                        bind="query-params")
        unroll = c[3].selectbox(t_("Unroll"), [1, 2, 4, 8], key="gt_unroll", bind="query-params")
        vector = c[4].selectbox(t_("Vector width"), [1, 4, 8], key="gt_vector",
                                bind="query-params")
        d = st.columns(3)
        capacity = d[0].select_slider(t_("Cache capacity (KiB)"), [1, 2, 4, 8, 16, 32, 64],
                                      8, key="gt_cap", bind="query-params")
        line = d[1].select_slider(t_("Line size (bytes)"), [16, 32, 64, 128], 64,
                                  key="gt_line", bind="query-params")
        ways = d[2].select_slider(t_("Associativity (ways)"), [1, 2, 4, 8, 16], 8,
                                  key="gt_ways", bind="query-params")

    with ui.guard():
        cache = CacheConfig(capacity * KIB, line, ways).validate()
        with st.spinner(t_("Simulating the cache, one memory access at a time...")):
            result = ui.cached(simulate)(size, order, tile, unroll, vector, cache)
        s = result.stats
        worst = max(s.misses_by_array, key=lambda kv: kv[1])[0]
        used = gemm.applied_factors(result.schedule)
        if (used["vector"], used["unroll"]) != (vector, unroll):
            st.caption(t_("The loop left after tiling is too short for vector width {vector} × unroll "
                          "{unroll}: this schedule uses vector width {vector2} and unroll {unroll2} (the "
                          "largest factors that divide it).",
                          vector=vector, unroll=unroll, vector2=used['vector'], unroll2=used['unroll']))
        left, right = st.columns([3, 2])
        with left:
            st.markdown(t_("**Generated loop nest**"))
            st.code(result.code, language="python")
        with right:
            m = st.columns(2)
            m[0].metric(t_("Accesses"), f"{s.accesses:,}")
            m[1].metric(t_("Misses"), f"{s.misses:,}", t_("miss rate {v2:.1%}", v2=1 - s.hit_rate),
                        delta_color="off", delta_arrow="off")
            traffic = s.traffic_bytes / KIB
            m[0].metric(t_("Memory traffic"),
                        f"{traffic / KIB:.1f} MiB" if traffic >= KIB else f"{traffic:.1f} KiB")
            m[1].metric(t_("Intensity (FLOP/B)"), f"{result.arithmetic_intensity:.3g}",
                        t_("ideal {ideal_intensity:.1f}", ideal_intensity=result.ideal_intensity),
                        delta_color="off", delta_arrow="off")
            m[0].metric(t_("Loop iterations (branches)"), f"{result.loop_iterations:,}")
            m[1].metric(t_("Cache sets"), f"{cache.n_sets}")
            ui.show_figure(vk.misses_by_array(s, tr=TR), "gt_arrays",
                           t_("In order {order}, {worst} misses most ({v2:,}): a matrix walked down a "
                              "column (innermost loop over its row index) needs a new line per access.",
                              order=order, worst=worst, v2=dict(s.misses_by_array)[worst]), main=True)

        st.subheader(t_("Loop order and tile size"))
        # sweeps from the same cached runs (unroll 1, vector 1): moving one control recomputes only new runs
        with st.spinner(t_("Simulating every loop order and tile size...")):
            by_order = [gemm.summary_row(ui.cached(simulate)(size, o, tile, 1, 1, cache), o, tile)
                        for o in gemm.LOOP_ORDERS]
            by_tile = [gemm.summary_row(ui.cached(simulate)(size, order, t, 1, 1, cache), order, t)
                       for t in (0, 4, 8, 16, 32)]
        a, b = st.columns(2)
        with a:
            ui.show_figure(vk.misses_by_order(by_order, tr=TR), "gt_orders",
                           t_("Orders whose innermost loop is j (ikj, kij) stream along rows of B and C: "
                              "far fewer misses than those that walk a column."),
                           rows=by_order)
        with b:
            ui.show_figure(vk.misses_by_tile(by_tile, tr=TR), "gt_tiles",
                           t_("Tiles that fit in the cache reuse each loaded line many times: misses fall "
                              "and the arithmetic intensity rises, until the tiles stop fitting."),
                           rows=by_tile)
        untiled = next(r for r in by_tile if r["tile"] == 0)
        best = max(by_tile, key=lambda r: r["intensity"])
        st.markdown(t_("Arithmetic intensity of this GEMM in order {order}: **{intensity:.2f} FLOP/B "
                       "untiled → {intensity2:.2f} FLOP/B with {tile} tiles** (ideal, each matrix moved "
                       "once: {ideal_intensity:.1f}).",
                       order=order, intensity=untiled['intensity'], intensity2=best['intensity'],
                       tile=best['tile'] or t_("no"),
                       ideal_intensity=result.ideal_intensity))
        ui.checkpoint("gt_unroll", t_("Does unrolling the innermost loop by 4 change the number of cache "
                                      "misses?"), t_("no"),
                      t_("Unrolling removes branches, not memory accesses: the address order is identical."),
                      choices=[t_("yes"), t_("no")])


gemm_view()

ui.lesson("gemm_tiling")
