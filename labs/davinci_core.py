"""Ascend DaVinci AI Core: a tiled fp16 matmul through L1/L0A/L0B/L0C/UB, engine by engine."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine import simulate
from engine.hw import cube_conv2d, cube_matmul
from engine.hw.davinci import ASCEND910_BUFFERS
from engine.hw.lab import layer_rows, timeline_window
from ui import workspace as ws
from viz.hardware import davinci_diagram, davinci_gantt, davinci_layers_chart, lens_table

ui.setup("davinci_core",
         "Ascend DaVinci AI Core",
         "A 16×16×16 Cube fed by a ladder of buffers: keep the Cube busy and the chip is fast.")
t_ = ui.t
KB = 1024


fit, shared = ui.figure_view()
davinci_diagram = shared(davinci_diagram)
davinci_gantt = shared(davinci_gantt)
davinci_layers_chart = shared(davinci_layers_chart)
MAX_EVENTS = 600  # pipeline events drawn for a whole graph (a browser slows down beyond)


def on_cube(g: str, **kw):
    """The graph ``g`` (a workspace link value) on one AI Core: engine.simulate's result."""
    return simulate(ws.graph_of(ws.parse_g(g))[0], "davinci", **kw)


def _fp16(x):
    return np.asarray(x).astype(np.float16).astype(np.float64)


def matmul_run(M, K, N, **kw):
    """The simulated run and the largest |difference| from numpy's matmul of the same fp16 operands."""
    res = cube_matmul(M, K, N, **kw)
    rng = np.random.default_rng(0)            # cube_matmul's own operands (seed 0, A then B)
    a, b = _fp16(rng.standard_normal((M, K))), _fp16(rng.standard_normal((K, N)))
    return res, float(np.abs(res.product - a @ b).max(initial=0.0))


def conv_run(cin, hw, cout, k, stride, pad, **kw):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((cin, hw, hw)), rng.standard_normal((cout, cin, k, k))
    y, res = cube_conv2d(x, w, stride=stride, pad=pad, **kw)
    xp = np.pad(_fp16(x), ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    ref = np.einsum("chwij,ocij->ohw", win, _fp16(w))          # direct convolution in numpy
    return res, float(np.abs(y - ref).max(initial=0.0))


with ui.controls():
    choice = ws.choose("dv_graph", ("preset:conv_bn_relu", "preset:resnet_basic_block",
                                    "preset:mobilenetv2_inverted_residual", "zoo:tiny_cnn", "zoo:resnet18"))
    tiles = [16, 32, 48, 64, 96, 128, 192, 256]
    t = st.columns(4)
    tm = t[0].select_slider(t_("Tile M"), tiles, 128, key="dv_tm", bind="query-params")
    tk = t[1].select_slider(t_("Tile K"), tiles, 128, key="dv_tk", bind="query-params")
    tn = t[2].select_slider(t_("Tile N"), tiles, 128, key="dv_tn", bind="query-params")
    db = t[3].toggle(t_("Double buffering"), True, key="dv_db", bind="query-params")
    with st.expander(t_("What-if: buffer sizes (KB) and transfer rates")):
        b = st.columns(5)
        sizes = {name: int(b[i].number_input(name.upper(), 1, 4096, ASCEND910_BUFFERS[name] // KB,
                                             key=f"dv_{name}", bind="query-params")) * KB
                 for i, name in enumerate(ASCEND910_BUFFERS)}
        r3 = st.columns(3)
        rates = {"gm_bytes_per_cycle": r3[0].number_input(t_("GM bytes/cycle"), 1, 4096, 128,
                                                          key="dv_gm", bind="query-params"),
                 "l1_bytes_per_cycle": r3[1].number_input(t_("L1→L0 bytes/cycle"), 1, 4096,
                                                          256, key="dv_l1bw", bind="query-params"),
                 "vector_elems_per_cycle": r3[2].number_input(t_("FixPipe elems/cycle"), 1, 4096,
                                                              128, key="dv_vec", bind="query-params")}
kw = dict(tile_m=tm, tile_k=tk, tile_n=tn, double_buffer=db, **sizes, **rates)

with ui.guard():
    if choice is not None:
        sim = ui.cached_resource(on_cube)(choice.source.g, **kw)
        table, win = layer_rows(sim), timeline_window(sim, MAX_EVENTS)
        ui.show_figure(fit(davinci_gantt(win.timeline, t_("{name}: every layer's pipeline, one after another",
                                                           name=choice.name), max_events=MAX_EVENTS,
                                         cache_key=("graph", choice.source.g, tuple(sorted(kw.items()))))),
                       "dv_graph_gantt", t_("Notice: where MTE2 (loads from GM) is busy while the Cube "
                                            "waits, the layer is starved by data, not by arithmetic."),
                       data=dict(sim.totals), rows=[{"engine": e.unit, "start": e.start, "end": e.end,
                                                     "label": e.label} for e in win.timeline.events])
        if win.cut:
            st.caption(t_("Big graph: only the first {shown:,} of {total:,} pipeline events are drawn (up "
                          "to layer {last}); the chart below and the table have every layer.",
                          shown=win.shown, total=win.total, last=win.last))
        m = st.columns(4)
        m[0].metric(t_("Total cycles (all layers)"), f"{sim.total('cycles'):,.0f}")
        m[1].metric(t_("Cube busy"), f"{100 * sim.total('cube_utilization'):.1f}%")
        m[2].metric(t_("Fractal products (16×16×16)"), f"{sim.total('fractals'):,}")
        m[3].metric(t_("MAC utilisation"), f"{100 * sim.total('mac_utilization'):.1f}%")
        ui.show_figure(fit(davinci_layers_chart(table, t_("Cycles per layer (Cube busy inside)"),
                                                cache_key=(choice.source.g, tuple(sorted(kw.items()))))),
                       "dv_graph_layers", t_("Each layer's work is its fractal count (one 16×16×16 "
                                             "product per Cube cycle); the rest of its bar is data "
                                             "movement the pipeline could not hide."), rows=table)
        ui.table(lens_table(table, ui.translator(), ui.t_message))

@st.fragment   # the workload and its results: changing M, K, N or the kernel reruns only this section
def workload_view(kw: dict) -> None:
    st.subheader(t_("One matmul or convolution, tile by tile"))
    with ui.controls("workload"):
        mode = ui.by_id(st).radio(t_("Workload"), ["matmul", "conv"], horizontal=True, key="dv_mode",
                                  format_func=lambda m: t_("Matmul") if m == "matmul" else
                                  t_("Convolution (img2col)"), bind="query-params")
        d = st.columns(4)
        if mode == "matmul":
            M = d[0].number_input("M", 0, 1536, 512, step=16, key="dv_m", bind="query-params")
            K = d[1].number_input("K", 0, 1536, 512, step=16, key="dv_k", bind="query-params")
            N = d[2].number_input("N", 0, 1536, 512, step=16, key="dv_n", bind="query-params")
        else:
            cin = d[0].number_input("Cin", 1, 256, 16, key="dv_cin", bind="query-params")
            hw = d[1].number_input("H = W", 3, 128, 32, key="dv_hw", bind="query-params")
            cout = d[2].number_input("Cout", 1, 256, 64, key="dv_cout", bind="query-params")
            kk = d[3].number_input(t_("Kernel"), 1, 7, 3, key="dv_kk", bind="query-params")

    with ui.guard():
        if mode == "matmul":
            res, err = ui.cached(matmul_run)(int(M), int(K), int(N), **kw)
            ref = t_("numpy's A @ B")
        else:
            res, err = ui.cached(conv_run)(int(cin), int(hw), int(cout), int(kk), 1, int(kk) // 2, **kw)
            ref = t_("a direct numpy convolution")
            st.caption(t_("img2col turned the convolution into a {v2}×{v3} by {v3}×{v4} matmul (padded to "
                          "16).", v2=res.padded[0], v3=res.padded[1], v4=res.padded[2]))
        m = st.columns(4)
        m[0].metric(t_("Total time (cycles)"), f"{res.cycles:,.0f}")
        m[1].metric(t_("Cube utilisation"), f"{100 * res.cube_utilization:.1f}%",
                    help=t_("Cube busy / total time; useful MACs / (time × 4096) = {v2:.1f}%",
                            v2=100 * res.mac_utilization))
        m[2].metric(t_("Cube stalls (cycles)"), f"{res.stalls['Cube']:,.0f}")
        m[3].metric(t_("Max |error| vs numpy"), f"{err:.1e}",
                    help=t_("Compared with {ref} on the same fp16 operands; the Cube accumulates in fp32.",
                            ref=ref))
        run_key = (mode, M, K, N) if mode == "matmul" else (mode, cin, hw, cout, kk)
        ui.show_figure(fit(davinci_gantt(res.timeline, t_("Pipeline per engine — tile {join} (m×k×n)",
                                                          join='×'.join(map(str, res.tile))),
                                         cache_key=(run_key, tuple(sorted(kw.items()))))), "dv_gantt",
                       t_("With double buffering the next tile's loads overlap the Cube's work on the "
                          "current one; turn it off and the engines take turns."),
                       data={"stalls": res.stalls, "buffer_use": res.buffer_use, "cycles": res.cycles},
                       rows=[{"engine": e.unit, "start": e.start, "end": e.end, "label": e.label}
                             for e in res.timeline.events])
        ui.table([{t_("buffer"): k.upper(), t_("used (KB)"): u / KB,
                   t_("capacity (KB)"): c / KB} for k, (u, c) in res.buffer_use.items()])


workload_view(kw)

ui.show_figure(fit(davinci_diagram(t_("One AI Core"), "Cube 16×16×16", sizes)), "dv_arch",
               t_("Operands travel GM → L1 → L0A/L0B → Cube → L0C → UB → GM; each arrow is a separate "
                  "engine that can run at the same time as the others."))

ui.checkpoint("dv_ck", t_("How many cycles does the Cube need for one 128×128×128 fp16 tile?"),
              (128 // 16) ** 3, t_("(128/16)³ = 512 fractal products, one per cycle."))
ui.lesson("davinci_core")
