"""Roofline: is this kernel memory-bound or compute-bound on that chip?"""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.kernels import roofline_model as R
from ui import workspace as ws
from viz import kernels as vk

ui.setup("roofline",
         "Roofline",
         "Attainable FLOP/s = min(peak, intensity × bandwidth): where a kernel lands says what to "
         "optimise.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
PRESETS = engine.hardware_presets()


def shown(name: str) -> str:
    """A preset's name, or "Custom" (the URL's id: the same in every language) in the page's language."""
    return name if name in PRESETS else t_(name)


def graph_points(g: str):
    return R.graph_points(ws.graph_of(ws.parse_g(g))[0])


BOUND = {"memory_bound": t_("memory-bound"), "compute_bound": t_("compute-bound")}


@ui.section   # the chip, the kernels and the roofline they draw: a change reruns only this section
def roofline_view() -> None:
    with ui.controls():
        c = st.columns([2, 1, 1, 1, 1])
        hw_name = ui.by_id(c[0]).selectbox(t_("Hardware"), [*PRESETS, "Custom"], index=1, key="rf_hw",
                                           bind="query-params", format_func=shown)
        hw = PRESETS.get(hw_name) or R.Hardware("Custom", 100e12, 1000e9, None,
                                                t_("your own numbers: edit peak and bandwidth"))
        precision = c[1].radio(t_("Peak"), ["fp16", "fp32"], key="rf_prec", horizontal=True,
                               bind="query-params",   # plain labels: the URL keeps them in both languages
                               help=t_("fp16: the matrix (tensor core) peak; fp32: the vector peak."))
        default_peak = hw.peak_flops if precision == "fp16" or not hw.peak_fp32 else hw.peak_fp32
        slug = ("".join(ch for ch in hw_name.lower() if ch.isascii() and ch.isalnum())
                + ("" if precision == "fp16" else "32"))
        peak_t = c[2].number_input(t_("Peak TFLOP/s"), 0.0, 1e5, default_peak / 1e12,
                                   key=f"rf_peak_{slug}", bind="query-params",
                                   help=t_("Edit it to model another chip."))
        bw_g = c[3].number_input(t_("Bandwidth GB/s"), 0.0, 1e5, hw.bandwidth / 1e9,
                                 key=f"rf_bw_{slug}", bind="query-params")
        dtype_bytes = c[4].selectbox(t_("Bytes per element"), [2, 4, 1], key="rf_bytes",
                                     bind="query-params")
        st.caption(t_("Source: ") + hw.source +
                   (t_(" · fp32 peak {v2:g} TFLOP/s", v2=hw.peak_fp32 / 1e12)
                    if hw.peak_fp32 else ""))
        k = st.columns(5)
        m = k[0].number_input("GEMM M", 1, 1 << 20, 4096, key="rf_m", bind="query-params")
        n = k[1].number_input("GEMM N", 1, 1 << 20, 4096, key="rf_n", bind="query-params")
        kk = k[2].number_input("GEMM K", 1, 1 << 20, 4096, key="rf_k", bind="query-params")
        seq = k[3].number_input(t_("Sequence length"), 1, 1 << 20, 4096, key="rf_seq",
                                bind="query-params")
        head = k[4].number_input(t_("Head dim"), 1, 1024, 128, key="rf_head", bind="query-params")
        gr = st.columns([3, 2])
        choice = ws.choose("rf_graph", [f"preset:{p}" for p in engine.preset_names()],
                           label="Graph layers", slot=gr[0])
        show_elem = gr[1].toggle(t_("Elementwise ops"), True, key="rf_elem", bind="query-params")

    with ui.guard():
        peak, bw = peak_t * 1e12, bw_g * 1e9
        ridge = R.ridge_point(peak, bw)
        points = [R.gemm_point(int(m), int(n), int(kk), dtype_bytes),
                  *R.attention_points(int(seq), int(head), 32, 1, dtype_bytes)]
        if show_elem:
            points += R.elementwise_points(1 << 24, dtype_bytes)
        layers = ui.cached(graph_points)(choice.source.g) if choice is not None else []
        if choice is not None and not layers:
            st.info(t_("{name} has no layer with both FLOPs and bytes moved, so none of its layers lands on "
                       "the roofline.", name=choice.name))
        points += layers
        ui.show_figure(vk.roofline_figure(peak, bw, points, shown(hw_name),
                                           t_("Roofline: {hw_name}", hw_name=shown(hw_name)), tr=TR),
                       "rf_plot",
                       t_("Left of the ridge point ({ridge:.0f} FLOP/B) a kernel waits for memory (blue); "
                          "right of it, for arithmetic (red). Decode attention and elementwise ops sit far "
                          "left; big GEMMs and long-prompt prefill sit right (hover a dot for its name; "
                          "the table lists every kernel).",
                          ridge=ridge),
                       rows=[dict(kernel=p.name, flops=p.flops, bytes=p.bytes, intensity=p.intensity)
                             for p in points])
        if layers:
            mem = sum(R.bound(p.intensity, peak, bw) == "memory_bound" for p in layers)
            lm = st.columns(3)
            lm[0].metric(t_("Layers of {name}", name=choice.name), len(layers))
            lm[1].metric(t_("memory-bound layers"), f"{mem} / {len(layers)}")
            roof = sum(1e6 * p.flops / engine.roofline(p.intensity, peak, bw) for p in layers)
            lm[2].metric(t_("their time at the roof (µs)"), f"{roof:,.2f}")
            st.caption(t_("Each layer of the graph is a diamond named “node (op)”; a memory-bound layer "
                          "would not get faster on a chip with more FLOP/s, only with more bandwidth or less "
                          "traffic."))
        table = []
        for p in points:
            attainable = engine.roofline(p.intensity, peak, bw)
            name = ui.t_message(p.name) if p.kind == "attention" else p.name    # the others are op names
            table.append({t_("kernel"): name, "GFLOP": p.flops / 1e9, "MB": p.bytes / 1e6,
                          t_("FLOP/B"): round(p.intensity, 3),
                          t_("attainable TFLOP/s"): attainable / 1e12,
                          t_("% of peak"): f"{100 * attainable / peak:.1f} %",
                          t_("bound"): BOUND[R.bound(p.intensity, peak, bw)],
                          t_("time (µs)"): 1e6 * p.flops / attainable})
        nc = st.column_config.NumberColumn
        st.dataframe(table, hide_index=True, column_config={
            "GFLOP": nc(format="%.3g"), "MB": nc(t_("MB (10⁶ B)"), format="%.1f"),
            "FLOP/B": nc(format="%.3g"), t_("attainable TFLOP/s"): nc(format="%.3g"),
            t_("time (µs)"): nc(format="%.1f")})
        st.caption(t_("Bytes count each tensor moved once between memory and the chip (a perfect cache); "
                      "graph layers use the cost model's bytes read + written (fp32)."))
        ui.checkpoint("rf_decode", t_("On an A100, is decoding one token (attention over a 4096-token KV "
                                      "cache) memory- or compute-bound?"),
                      BOUND["memory_bound"], t_("About 1 FLOP per byte against a ridge point near 200."),
                      choices=list(BOUND.values()))


roofline_view()

ui.lesson("roofline")
