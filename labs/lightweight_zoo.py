"""Lightweight model zoo: every family of the chapter built as a graph, scaled live, counted against
its paper; EfficientNet's compound scaling, ShuffleNet V1's groups, ShuffleNet V2's G2–G4 measured."""
from __future__ import annotations

import streamlit as st

import ui
from engine.models import efficientnet as ef
from engine.models import guidelines as gl
from engine.models import shufflenet_v1 as s1
from engine.models import zoo
from engine.models import zoo_views as zv
from ui.heavy import cached_heavy
from viz import lightweight as vl
from viz.graph import graph_figure

ui.setup("lightweight_zoo", "Lightweight model zoo",
         "MobileNet V1–V4, ShuffleNet V1/V2, EfficientNet B0–B7 and V2, MobileViT, MobileFormer and"
         " EfficientFormer, built and counted.")
t_, TR, fig = ui.t, ui.translator(), ui.cached_resource
FAMILIES = zoo.families()


def graph_fig(name: str, alpha: float, res: int, tr) -> object:
    view = ui.cached_resource(zv.network_view)(name, alpha, res)
    return graph_figure(view.graph, costs=None, title=f"{name} @{res}", fold=True, tr=tr)


@ui.section   # the network picker and what it drives: a new pick reruns only this section
def network_view() -> None:
    with ui.controls():
        c = st.columns([1.2, 1.6, 1, 1, 1])
        family = c[0].selectbox(t_("Family"), list(FAMILIES), index=list(FAMILIES).index("MobileNetV4"),
                                key="lz_family", bind="query-params")
        shuffle = family == "ShuffleNetV1"  # its variants are the group counts: a slider, not a list
        g = c[2].select_slider(t_("Groups g"), [1, 2, 3, 4, 8], 3, key="lz_g", bind="query-params",
                               disabled=not shuffle)
        name = f"ShuffleNetV1-g{g}" if shuffle else c[1].selectbox(
            t_("Network"), FAMILIES[family], key=f"lz_net_{family}", bind="query-params")
        alphas = zoo.SPECS[name].alphas if name in zoo.SPECS else (1.0,)
        alpha = c[3].select_slider(t_("Scale factor s"), [0.5, 1.0, 1.5, 2.0], 1.0, key="lz_scale",
                                   bind="query-params", disabled=len(alphas) == 1)
        alpha = alpha if len(alphas) > 1 else 1.0
        default_res = zoo.run_resolution(name, float(alpha)) or 224  # the menu's names and scales: no error
        res = c[4].number_input(t_("Graph resolution"), 32, 1024, default_res, 32,
                                key=f"lz_res_{default_res}", bind="query-params")

    with ui.guard():
        zc = ui.cached(zoo.zoo_cost)(name, float(alpha))
        m = st.columns(4)
        m[0].metric(t_("Parameters"), f"{zc.params / 1e6:.2f} M")
        m[1].metric(t_("MACs @ paper resolution"), f"{zc.macs / 1e6:,.0f} M",
                    t_("at {r}×{r}", r=zc.resolution), delta_color="off", delta_arrow="off")
        text, color = vl.zoo_badge(zc, TR)
        st.badge(text, color=color, icon=":material/check:" if color == "green" else ":material/info:")
        if zc.paper.note:
            st.caption(t_("Paper note: {note}", note=zc.paper.note))
        if zc.graph_resolution is None:
            st.info(t_("Counted from shapes at {r}×{r}; too large to build as a graph here.",
                       r=zc.resolution))
        else:
            view = ui.cached_resource(zv.network_view)(name, float(alpha), int(res))
            m[2].metric(t_("MACs @ graph resolution"), f"{view.macs / 1e6:,.0f} M",
                        t_("at {r}×{r}", r=res), delta_color="off", delta_arrow="off")
            m[3].metric(t_("Graph nodes"), f"{len(view.graph.nodes)}")
            if res != zc.resolution:
                st.caption(t_("The graph is built at {r}×{r} (the {p}×{p} graph would exceed the element "
                              "budget); the MACs at {p}×{p} are counted from shapes alone.", r=res,
                              p=zc.resolution))
            left, right = st.columns([3, 2])
            with left:
                ui.show_figure(fig(graph_fig)(name, float(alpha), int(res), TR), "lz_graph",
                               t_("Repeated blocks are folded into one grey node; hover a node for its "
                                  "shape."), main=True)
            with right:
                ui.show_figure(fig(vl.stage_figure)(list(view.stages), t_("Cost per stage"), tr=TR),
                               "lz_stages",
                               t_("Where the MACs and the parameters sit: early stages cost MACs, late ones "
                                  "hold the parameters."), rows=[s.__dict__ for s in view.stages])
                if view.program is None:
                    st.caption(t_("Not offered as your graph: {why}.", why=ui.t_message(view.program_note)))


network_view()


@st.fragment   # EfficientNet's compound scaling: changing φ, α, β or γ reruns only this section
def compound_view() -> None:
    st.subheader(t_("EfficientNet: compound scaling"))
    with ui.controls("compound"):
        e = st.columns(4)
        phi = e[0].slider("φ", 0.0, 7.0, 1.0, 0.5, key="lz_phi", bind="query-params")
        a_ = e[1].number_input(t_("α (depth)"), 1.0, 2.0, ef.ALPHA, 0.05, key="lz_alpha", bind="query-params")
        b_ = e[2].number_input(t_("β (width)"), 1.0, 2.0, ef.BETA, 0.05, key="lz_beta", bind="query-params")
        g_ = e[3].number_input(t_("γ (resolution)"), 1.0, 2.0, ef.GAMMA, 0.05, key="lz_gamma",
                               bind="query-params")
    with ui.guard():
        sc = ui.cached(zv.scaled_efficientnet)(float(phi), float(a_), float(b_), float(g_))
        k = sc.compound
        st.caption(t_(
            "d = α^φ = {d:.2f}, w = β^φ = {w:.2f}, r = {r}; α·β²·γ² = {f:.2f}: predicted MACs × "
            "{p:.2f}, counted × {c:.2f} ({params:.1f} M params).", d=k.depth, w=k.width, r=k.resolution,
            f=a_ * b_**2 * g_**2, p=k.flops_factor, c=sc.growth, params=sc.params / 1e6))
        sweep = ui.cached(zv.efficientnet_sweep)()
        ui.show_figure(fig(vl.compound_figure)(sweep, sc, tr=TR), "lz_compound", t_(
            "B1–B7 round the rule to the authors' (w, d, r) table; each step still about doubles "
            "the MACs, as α·β²·γ² ≈ 2 intends."), rows=[r.__dict__ for r in sweep])
        ui.checkpoint("lz_ckpt", t_("With α = 1.2, β = 1.1, γ = 1.15, by what factor does one step of φ "
                                    "multiply the FLOPs?"), round(ef.ALPHA * ef.BETA**2 * ef.GAMMA**2, 2),
                      t_("α·β²·γ² = 1.2 × 1.21 × 1.3225 ≈ 1.92: depth costs linearly, width and resolution "
                         "quadratically."))


compound_view()


@st.fragment   # ShuffleNet V1's channel shuffle: a new group count reruns only this section
def shuffle_view() -> None:
    st.subheader(t_("ShuffleNet V1: groups at fixed complexity"))
    with ui.controls("shuffle"):
        gs = st.select_slider(t_("Groups g (picture)"), [1, 2, 3, 4, 8], 4, key="lz_gs", bind="query-params")
    with ui.guard():
        steps = s1.shuffle_steps(24, gs)
        ui.show_figure(fig(vl.shuffle_figure)(steps, gs, tr=TR), "lz_shuffle", t_(
            "After the shuffle every group of the next group conv holds one channel of every "
            "group of the previous one."), rows=[dict(step=s, order=a.tolist()) for s, a in steps])
        ui.table([dict(g=r.groups, channels=str(r.channels), params=r.params, MACs=r.macs_without_fc,
                       table1=r.paper_mflops * 10**6, top1=r.top1)
                  for r in ui.cached(zv.shufflenet_groups)()])
        st.caption(t_("MACs here leave out the classifier, as the paper's Table 1 does; more groups buy "
                      "wider channels for the same MACs."))


shuffle_view()


@st.fragment   # the G2–G4 measurements: the switch reruns (and times) only this section
def guidelines_view() -> None:
    st.subheader(t_("ShuffleNet V2's guidelines G2–G4, measured here"))
    if st.toggle(t_("Run the measurements on this server (a few seconds)"), key="lz_measure",
                 bind="query-params"):
        with ui.guard():
            for fn, title, claim in (
                (gl.g2_groups, t_("G2: more groups, more memory access"),
                 t_("Paper (Table 2): at equal FLOPs, g = 8 runs ~4× slower than g = 1 on a GPU.")),
                (gl.g3_fragments, t_("G3: fragmentation"),
                 t_("Paper (Table 3): 4 parallel fragments run ~3× slower than 1 on a GPU at c = 128.")),
                (gl.g4_elementwise, t_("G4: elementwise operations"),
                 t_("Paper (Table 4): dropping ReLU and the shortcut gives ~20 % speed-up.")),
            ):
                trials = cached_heavy(fn, "lightweight_zoo")()
                ui.show_figure(fig(vl.trials_figure)(trials, title, tr=TR), f"lz_{fn.__name__}", claim,
                               rows=[tr.__dict__ for tr in trials])
    else:
        st.caption(t_("Each guideline is a tiny graph family with equal MACs, timed with engine.run; "
                      "switch on to measure (times depend on this server's load)."))


guidelines_view()

st.subheader(t_("Attention for mobiles"))
with ui.guard():
    a, b = st.columns(2)
    with a:
        ui.show_figure(fig(vl.attention_figure)(zv.attention_curves(), tr=TR), "lz_attention",
                       t_("MobileViT v2's separable attention grows linearly with the tokens; v1's "
                          "self-attention quadratically."))
    with b:
        ui.show_figure(fig(vl.mqa_figure)(zv.mqa_curves(), tr=TR), "lz_mqa",
                       t_("Mobile MQA shares one key and value among the heads: same MACs, fewer bytes."))

st.subheader(t_("Every family on one chart"))
with ui.guard():
    rows = ui.cached(zv.comparison)()
    ui.show_figure(fig(vl.comparison_figure)(rows, tr=TR), "lz_compare",
                   t_("Published top-1 against counted MACs: the newer families buy accuracy with "
                      "attention and search, not with MACs alone."), rows=[r.__dict__ for r in rows])

ui.lesson("lightweight_zoo")
