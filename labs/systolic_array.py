"""Systolic arrays: dataflows, folds, cycles and utilisation (SCALE-Sim v2 model), and the data waves."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine import simulate
from engine.hw import conv_to_gemm, simulate_systolic, systolic, systolic_trace
from engine.hw.lab import layer_rows
from ui import workspace as ws
from viz import hardware as vh
from viz.hardware import active_pes_chart, dataflow_compare, dataflow_names, pe_heatmap

ui.setup("systolic_array",
         "Systolic arrays",
         "A grid of multiply-accumulate cells; operands pulse through it like a heartbeat.")
t_ = ui.t
DATAFLOWS = dataflow_names(ui.translator())

#: SCALE-Sim v2 golden reports (see tests/test_hw_systolic.py):
#: (M, N, K, R, C, dataflow) -> (run, Compute Util %)
GOLDEN = {(256, 128, 256, 32, 32, "os"): ("GEMM_mnk, os", 80.50314465408806),
          (256, 128, 256, 32, 32, "ws"): ("GEMM_mnk, ws", 67.19160104986877),
          (256, 128, 256, 32, 32, "is"): ("GEMM_mnk, is", 50.59288537549407),
          (3025, 96, 363, 32, 32, "ws"): ("AlexNet conv1, ws", 90.78000992063485)}


fit, shared = ui.figure_view()
dataflow_compare = shared(dataflow_compare)
pe_heatmap = shared(pe_heatmap)
active_pes_chart = shared(active_pes_chart)
systolic_layers_chart = shared(vh.systolic_layers_chart)


def on_array(g: str, rows: int, cols: int, dataflow: str):
    """The graph ``g`` (a workspace link value) on a rows×cols array: engine.simulate's result."""
    return simulate(ws.graph_of(ws.parse_g(g))[0], "systolic", rows=rows, cols=cols, dataflow=dataflow)


def wave(M, K, N, rows, cols, df):
    """Per-cycle states of a small integer GEMM (cached: a list of frozen states)."""
    rng = np.random.default_rng(0)
    A, B = rng.integers(0, 4, (M, K)).astype(float), rng.integers(0, 4, (K, N)).astype(float)
    product, _ = simulate_systolic(A, B, rows, cols, df)
    return A, B, product, list(systolic_trace(A, B, rows, cols, df))


with ui.controls():
    c0, c1, c2, c3 = st.columns([3, 2, 2, 2])
    choice = ws.choose("sa_graph", ("preset:conv_bn_relu", "preset:resnet_basic_block",
                                    "preset:mobilenetv2_inverted_residual", "zoo:tiny_cnn", "zoo:resnet18"),
                       slot=c0)
    df = ui.by_id(c1).radio(t_("Dataflow"), list(DATAFLOWS), format_func=DATAFLOWS.get, key="sa_df",
                            bind="query-params")  # the URL keeps the id (os, ws, is)
    rows = c2.slider(t_("Array rows R"), 1, 256, 32, key="sa_rows", bind="query-params")
    cols = c3.slider(t_("Array columns C"), 1, 256, 32, key="sa_cols", bind="query-params")

with ui.guard():
    if choice is not None:
        sim = ui.cached_resource(on_array)(choice.source.g, rows, cols, df)
        table = layer_rows(sim)
        ui.show_figure(fit(systolic_layers_chart(table, t_("{name} on a {R}×{C} array ({df}): cycles per "
                                                           "layer", name=choice.name, R=rows, C=cols, df=df),
                                                 cache_key=(choice.source.g, rows, cols, df))),
                       "sa_graph_layers", t_("Notice: small layers leave most of the array idle (low "
                                             "utilisation); the big ones set the total."), rows=table)
        m = st.columns(4)
        m[0].metric(t_("Total cycles (all layers)"), f"{sim.total('cycles'):,}")
        m[1].metric(t_("Utilisation (all layers)"), f"{sim.total('utilization'):.1f}%",
                    help=t_("All MACs / (all cycles × PEs); weighted by MACs instead: {v:.1f}%",
                            v=sim.total("mac_weighted_utilization")))
        m[2].metric(t_("MACs (all layers)"), f"{sim.total('macs'):,}")
        m[3].metric(t_("Layers mapped"), f"{len(sim.layers)}", help=t_(
            "Not timed: {n} other ops (only conv2d, matmul and gemm run on the array)", n=len(sim.unmapped)))
        ui.table(vh.lens_table(table, ui.translator(), ui.t_message))
        st.caption(t_("Per layer: SCALE-Sim v2's stall-free closed forms (a conv is its im2col GEMM); layers "
                      "run one after another."))


@st.fragment   # one GEMM or conv layer on the array: a new workload reruns only this section
def gemm_view(rows: int, cols: int, df: str) -> None:
    st.subheader(t_("One GEMM, three dataflows"))
    with ui.controls("gemm"):
        mode = ui.by_id(st).radio(t_("Workload"), ["gemm", "conv"], horizontal=True, key="sa_mode",
                                  format_func=lambda m: t_("GEMM (M, N, K)") if m == "gemm"
                                  else t_("Conv layer (im2col)"), bind="query-params")
        d = st.columns(4)
        if mode == "gemm":
            M = d[0].number_input("M", 1, 100_000, 256, key="sa_m", bind="query-params")
            N = d[1].number_input("N", 1, 100_000, 128, key="sa_n", bind="query-params")
            K = d[2].number_input("K", 0, 100_000, 256, key="sa_k", bind="query-params")
        else:
            H = d[0].number_input(t_("Input H=W"), 1, 1024, 224, key="sa_h", bind="query-params")
            F = d[1].number_input(t_("Filter size"), 1, 15, 11, key="sa_f", bind="query-params")
            Cin = d[2].number_input("Cin", 1, 2048, 3, key="sa_cin", bind="query-params")
            Cout = d[3].number_input("Cout", 1, 2048, 96, key="sa_cout", bind="query-params")
            S = st.slider(t_("Stride"), 1, 8, 4, key="sa_stride", bind="query-params")

    with ui.guard():
        if mode == "conv":
            g = ui.cached(conv_to_gemm)(int(H), int(H), int(F), int(F), int(Cin), int(Cout), int(S))
            M, N, K = g["M"], g["N"], g["K"]
            st.caption(t_("im2col: M = {out_h}×{out_w} output pixels = {M}, K = {F}·{F}·{Cin} = {K}, N = "
                          "{Cout} filters",
                          out_h=g['out_h'], out_w=g['out_w'], M=M, F=F, Cin=Cin, K=K, Cout=Cout))
        res = ui.cached(systolic)(int(M), int(N), int(K), rows, cols, df)
        m = st.columns(5)
        m[0].metric(t_("Cycles"), f"{res['cycles']:,}")
        m[1].metric(t_("Utilisation"), f"{res['utilization']:.1f}%")
        m[2].metric(t_("Mapping efficiency"), f"{res['mapping_efficiency']:.1f}%")
        m[3].metric(t_("Folds"), f"{res['row_folds']}×{res['col_folds']}")
        m[4].metric(t_("SRAM reads (A+B)"), f"{res['ifmap_reads'] + res['filter_reads']:,}")
        compare = [ui.cached(systolic)(int(M), int(N), int(K), rows, cols, f) for f in DATAFLOWS]
        ui.show_figure(fit(dataflow_compare(compare, t_("Same GEMM, three dataflows"))),
                       "sa_compare", t_("Notice: the dataflow decides what is spread over the array and "
                                        "what streams in time — the long dimension should stream."),
                       data=res, rows=[{k: v for k, v in r.items() if k != "scalesim"} for r in compare])
        sc_ = res["scalesim"]
        gold = GOLDEN.get((int(M), int(N), int(K), rows, cols, df))
        if gold:
            st.caption(t_("✓ matches SCALE-Sim v2's golden report ({v2}): Compute Util {v3:.4f} % there, "
                          "{compute_util:.4f} % here — difference {v4:.1e} points.",
                          v2=gold[0], v3=gold[1], compute_util=sc_['compute_util'],
                          v4=abs(gold[1] - sc_['compute_util'])))
        else:
            st.caption(t_("In SCALE-Sim v2's report format: Total Cycles {total_cycles:,}, Compute Util "
                          "{compute_util:.2f} %, OFMAP writes {ofmap_writes:,}. Try M=256, N=128, K=256 on "
                          "32×32 to compare with its golden reports.",
                          total_cycles=sc_['total_cycles'], compute_util=sc_['compute_util'],
                          ofmap_writes=sc_['ofmap_writes']))


gemm_view(rows, cols, df)

st.subheader(t_("Watch the waves (small sizes)"))
w = st.columns(5)
sm = w[0].slider("M", 1, 8, 4, key="sa_sm", bind="query-params")
sk = w[1].slider("K", 1, 8, 4, key="sa_sk", bind="query-params")
sn = w[2].slider("N", 1, 8, 4, key="sa_sn", bind="query-params")
sr = w[3].slider("R", 1, 8, 4, key="sa_sr", bind="query-params")
sc = w[4].slider("C", 1, 8, 4, key="sa_sc", bind="query-params")
with ui.guard():
    A, B, product, states = ui.cached(wave)(sm, sk, sn, sr, sc, df)
    def main_figure(step: int):
        s = states[step]
        phase = t_("preloading") if s.phase == "load" else t_("computing")
        return fit(pe_heatmap(s, t_("Cycle {cycle} — fold {fold}, {phase}", cycle=s.cycle, fold=s.fold,
                                    phase=phase), zmax=float(np.abs(product).max(initial=1.0))))

    def show_cycle(step: int) -> None:
        what = t_("accumulator") if df == "os" else t_("partial sum leaving the PE")
        ui.show_figure(main_figure(step),
                       "sa_pe", t_("Colour = {what}; text = the two operands meeting in each PE. The "
                                   "active cells form a diagonal wavefront because inputs enter skewed "
                                   "by one cycle per row/column.",
                                   what=what))
        ui.show_figure(fit(active_pes_chart([int(x.active.sum()) for x in states], sr * sc, step,
                                            t_("PEs busy per cycle (dotted = all R×C PEs)"))), "sa_active",
                       t_("The ramps at each fold's start and end are the fill and drain time that "
                          "makes small GEMMs inefficient."))
    ui.stepper("sa_step", len(states), render=show_cycle, frame=main_figure)
    if np.array_equal(product, A @ B):
        st.success(t_("✓ The array's result equals numpy's A @ B exactly."))
    else:
        st.error(t_("The array's result differs from numpy's A @ B."))

ui.checkpoint("sa_ck", t_("A 32×32 array runs an output-stationary GEMM with M = N = 32 and K = 1000. "
                          "How many cycles (stall-free)?"),
              systolic(32, 32, 1000, 32, 32, "os")["cycles"],
              t_("One fold: T + R + C − 2 = 1000 + 32 + 32 − 2."))
ui.lesson("systolic_array")
