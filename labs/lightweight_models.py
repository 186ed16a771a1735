"""Lightweight models: why depthwise, group, inverted-residual, ghost and MobileViT blocks are
cheap, and why MACs are still not latency."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.models import analysis as la
from engine.models import blocks as lw
from engine.models import networks as nets
from viz import lightweight as vl

ui.setup("lightweight_models",
         "Lightweight models",
         "Count what a block costs, then see where the cost goes: MACs, memory traffic, latency.")
t_ = ui.t
HW = list(engine.hardware_presets())
TR = ui.translator()
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
NAMES = {"standard": "Standard conv", "depthwise_separable": "Depthwise-separable",
         "inverted_residual": "Inverted residual", "shuffle_unit": "ShuffleNet unit",
         "ghost": "Ghost module", "mobilevit": "MobileViT block"}


@st.fragment   # the block explorer: a new block, width or kernel reruns only this section
def blocks_view() -> None:
    st.subheader(t_("Block explorer"))
    with ui.controls("blocks"):
        b = st.columns([1.6, 1, 1, 1])
        kind = ui.by_id(b[0]).selectbox(t_("Block"), list(NAMES), index=1, key="lw_block",
                                        bind="query-params",
                                        format_func=lambda k: t_(NAMES[k]))  # the URL keeps the id
        kind_label = t_(NAMES[kind])
        cin = b[1].slider(t_("Input channels M"), 8, 512, 64, 8, key="lw_c",
                          bind="query-params")
        cout = b[2].slider(t_("Output channels N"), 8, 512, 64, 8, key="lw_n",
                           bind="query-params")
        side = b[3].slider(t_("Feature map side"), 2, 112, 28, 2, key="lw_side",
                           bind="query-params")
        b2 = st.columns(4)
        ks = b2[0].select_slider(t_("Kernel k"), [1, 3, 5, 7], 3, key="lw_k",
                                 bind="query-params")
        tt = b2[1].slider(t_("Expansion t"), 1, 8, 6, key="lw_t", bind="query-params")
        ss = b2[2].select_slider(t_("Ghost ratio s"), [2, 4, 8], 2, key="lw_s",
                                 bind="query-params")
        dd = b2[3].slider(t_("MobileViT width d"), 16, 256, 96, 16, key="lw_d",
                          bind="query-params")

    with ui.guard():
        blk = ui.cached_resource(la.block_study)(kind, cin, cout, ks, side, tt, ss, dd)
        if blk.n != cout:
            st.caption(t_("This block keeps its input width: N = M = {cin}.", cin=cin))
        left, right = st.columns([3, 2])
        with left:
            ui.show_figure(fig(vl.block_graph_figure)(blk.graph, blk.engine, kind_label, tr=TR),
                           "lw_block_graph", t_("Drawn without BN (2 params per channel, 0 MACs) so the "
                                                "engine's counts are exactly the closed forms. Hover a "
                                                "node for its cost."))
        with right:
            ui.table(blk.rows())
            for label, got, want in ((t_("engine MACs"), blk.engine.macs, blk.formula.macs),
                                     (t_("engine params"), blk.engine.params, blk.formula.params)):
                st.metric(label, f"{got:,}", t_("formula {want:,}", want=want), delta_color="off",
                          delta_arrow="off")
            st.caption(t_("A standard {ks}×{ks} conv with the same M, N needs {macs:,} MACs: {saving:.2f}× "
                          "this block.", ks=ks, macs=blk.standard.macs, saving=blk.saving))

        compare = [dict(block=NAMES[k_], macs=bc.macs, params=bc.params)
                   for k_, bc in lw.compare_blocks(cin, cout, ks, side, tt, ss, dd)]
        ui.show_figure(fig(vl.block_compare_figure)(compare, tr=TR), "lw_blocks",
                       t_("Closed-form costs at the same M, N, k and side (set M = N to add the ShuffleNet "
                          "unit and the MobileViT block)."),
                       rows=compare)
        ratio = 1 / lw.separable_ratio(256, 3)
        ui.checkpoint("lw_ckpt", t_("How many times fewer MACs does a 3×3 depthwise-separable conv need "
                                    "than a standard 3×3 conv, for N = 256 output channels?"),
                      round(ratio, 2), t_("1 / (1/N + 1/k²) = 1 / (1/256 + 1/9) ≈ 8.7: almost k², whatever "
                                          "the input width."))


@ui.section   # network, α, resolution, hardware and all they drive: metrics, roofline, every network
def network_view() -> None:
    with ui.controls():
        c = st.columns([2, 1, 1, 2])
        name = c[0].selectbox(t_("Network"), nets.NETWORKS, key="lw_net", bind="query-params")
        alpha = c[1].select_slider(t_("Width multiplier α"),
                                   [0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 1.5, 2.0], 1.0,
                                   key="lw_alpha", bind="query-params",
                                   help=t_("Defined by the MobileNetV1/V2 papers; ShuffleNetV2 has 0.5x, "
                                           "1x, 1.5x and 2x."))
        default_res = nets.PAPER[name].resolution
        res = c[2].number_input(t_("Resolution"), 32, 512, default_res, 32,
                                key=f"lw_res_{default_res}", bind="query-params")
        hw = c[3].selectbox(t_("Hardware (roofline)"), HW,
                            index=HW.index("Phone CPU (assumed)"), key="lw_hw", bind="query-params")

    with ui.guard():
        summary = ui.cached(la.summarize)(name, hw, float(alpha), int(res))
        cost, points, parts = summary.cost, list(summary.points), summary.parts
        m = st.columns(4)
        m[0].metric(t_("Parameters"), f"{cost.params / 1e6:.2f} M")
        m[1].metric(t_("MACs"), f"{cost.macs / 1e6:.0f} M")
        m[2].metric(t_("Roofline time"), f"{1e3 * summary.time_s:.2f} ms")
        m[3].metric(t_("Graph nodes"), f"{cost.nodes}")
        paper = cost.paper
        if alpha == 1.0 and res == paper.resolution:
            text, color = vl.paper_badge(cost, TR)
            st.badge(text, color=color, icon=":material/check:" if color == "green" else ":material/info:")
        else:
            st.caption(t_("The paper's row is α = 1, {resolution}×{resolution}.",
                          resolution=paper.resolution))
        st.caption(vl.roles_text(parts, TR))
        hwp = engine.hardware_presets()[hw]
        ui.show_figure(fig(vl.layer_roofline_figure)(points, hwp.peak_fp32 or hwp.peak_flops, hwp.bandwidth,
                                                     hw, tr=TR), "lw_roofline",
                       t_("Depthwise layers (blue) do at most ~2 FLOPs per byte and sit under the slanted "
                          "memory roof; pointwise 1x1 layers (red) reach the flat compute roof."),
                       rows=[p.__dict__ for p in points], main=True)

    blocks_view()   # a nested fragment between the two, reading none of these controls

    st.subheader(t_("Every network against its paper"))
    with ui.guard():
        rows = ui.cached(la.summarize_all)(hw)
        ui.show_figure(fig(vl.networks_figure)([r.cost for r in rows], tr=TR), "lw_networks",
                       t_("Bars are the engine's counts of graphs built from the papers' tables; black "
                          "ticks are the numbers the papers print."),
                       rows=[dict(network=c.name, params=c.params, macs=c.macs, paper=c.paper.source,
                                  params_diff=c.params_diff, macs_diff=c.macs_diff)
                             for c in (r.cost for r in rows)])
        ui.show_figure(fig(vl.time_breakdown_figure)([dict(network=r.cost.name, macs=r.cost.macs,
                                                      times=r.times) for r in rows], tr=TR), "lw_time",
                       t_("On {hw}, MobileNetV1 has about twice MobileNetV2's MACs but not twice its time: "
                          "depthwise and elementwise layers pay for memory traffic, not MACs.", hw=hw))
        ui.show_figure(fig(vl.sweep_figure)(ui.cached(la.width_sweep)(), tr=TR), "lw_sweep",
                       t_("MACs fall with α² (1x1 convs dominate) and with ρ²; parameters do not depend on "
                          "the resolution."))


network_view()


@st.fragment   # guideline G1: new channel widths c1, c2 rerun only this section
def g1_view() -> None:
    st.subheader(t_("G1: equal channel widths minimise memory access"))
    with ui.controls("g1"):
        g = st.columns(3)
        c1 = g[0].slider("c1", 8, 1024, 128, 8, key="lw_c1", bind="query-params")
        c2 = g[1].slider("c2", 8, 1024, 128, 8, key="lw_c2", bind="query-params")
        hg = g[2].slider(t_("Feature map side"), 7, 112, 56, 7, key="lw_g1side",
                         bind="query-params")
    with ui.guard():
        mac, bound = la.g1_check(hg, hg, c1, c2)
        curve = la.g1_curve(hg, hg, hg * hg * c1 * c2)
        ui.show_figure(fig(vl.g1_figure)(curve, bound, (c1 / c2, mac), tr=TR), "lw_g1",
                       t_("At the same FLOPs, your 1x1 conv moves {mac:,} elements, {v2:.1f} % above the "
                          "minimum reached at c1 = c2.", mac=mac, v2=100 * (mac / bound - 1)),
                       rows=[p.__dict__ for p in curve])


g1_view()

ui.lesson("lightweight_models")
