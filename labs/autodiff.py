"""Autodiff lab: forward and reverse mode stepped on your graph (or an example), Jacobian cost,
four ways to differentiate."""
from __future__ import annotations

import streamlit as st

import ui
from engine import presets
from engine.framework import autodiff as ad
from engine.framework import four_ways, lab
from ui import workspace as ws
from ui.heavy import cached_heavy, run_heavy
from viz import autodiff as vz

ui.setup("autodiff",
         "Automatic differentiation",
         "Step through forward and reverse mode on any program.")
t_, tr = ui.t, ui.translator()
fit, shared = ui.figure_view()
step_fig, jac_fig, h_fig, swell_fig = map(shared, (vz.step_graph_figure, vz.jacobian_cost_figure,
                                                   vz.error_vs_h_figure, vz.swell_figure))
MODES = {"forward": "forward", "reverse": "reverse"}  # URL ids; shown in the page's language
EXAMPLES = tuple(f"preset:{name}" for name in presets.preset_names())


def built(g: str):
    return ws.graph_of(ws.parse_g(g))[0]


def traces(g: str, mode: str, pick: str, total: bool):
    return lab.graph_traces(built(g), mode, pick, total)


def gradients(g: str):
    return lab.gradient_summary(built(g))


def ways_of(g: str, dtype: str, depth: int):
    return four_ways.four_ways(built(g), dtype, depth)


@st.fragment   # the two tabs: n, m, the arithmetic or the nesting depth rerun only this section
def tabs_view(wg: str) -> None:
    tab_jac, tab_ways = st.tabs([t_("Jacobian cost"), t_("Four ways to differentiate")])
    with tab_jac, ui.guard():
        j1, j2 = st.columns(2)
        n = j1.slider(t_("inputs n"), 1, 32, 8, key="ad_n", bind="query-params")
        m = j2.slider(t_("outputs m"), 1, 32, 2, key="ad_m", bind="query-params")
        fwd, rev = ui.cached(lab.jacobian_demo)(n, m)
        ui.show_figure(jac_fig(fwd, rev, t_("Cost of the full Jacobian"), cache_key=(n, m)), "ad_jac",
                       t_("f(x) = tanh(W x), W is {m}×{n}: forward mode needs n = {sweeps} sweeps (one per "
                          "column), reverse mode m = {sweeps2} (one per row). Make m = 1 (a loss): reverse "
                          "wins.", m=m, n=n, sweeps=fwd.sweeps, sweeps2=rev.sweeps),
                       rows=[dict(mode=r.mode, sweeps=r.sweeps, rule_calls=r.rule_calls) for r in (fwd, rev)])

    with tab_ways, ui.guard():
        w1, w2 = st.columns(2)
        dtype = w1.radio(t_("Arithmetic"), ["float64", "float32"], horizontal=True,
                         key="ad_dtype", bind="query-params")
        depth = w2.slider(t_("Nesting depth for swell"), 2, 12, 8, key="ad_depth",
                          bind="query-params")
        ways = ui.cached(ways_of)(wg, dtype, depth)
        if ways.fallback:
            st.caption(t_("This program is not a scalar elementwise one: the survey's example is used."))
        best, swell = four_ways.best_step(ways.differences), ways.swell
        a, b, c, d = st.columns(4)
        a.metric(t_("Manual / symbolic"), f"{ways.exact:.6g}")
        b.metric(t_("Best central difference"), f"{best.central:.6g}",
                 f"h = {best.h:.0e}, " + t_("error {central_error:.1e}", central_error=best.central_error),
                 delta_color="off", delta_arrow="off")
        c.metric(t_("Symbolic tree size (depth {depth})", depth=depth), f"{swell[-1].naive_size:,}")
        d.metric(t_("AD trace size (depth {depth})", depth=depth), f"{swell[-1].ad_trace:,}")
        st.code(f"d/d{ways.var} = {ways.derivative}", "text")
        st.caption(t_("AD on this program: {trace_ops} ops in the forward sweep, at most {trace_ops} VJPs "
                      "in the backward sweep — the trace grows with the program, not with the size of the "
                      "derivative's formula.", trace_ops=ways.trace_ops))
        h_figure = h_fig(ways.differences, t_("Finite-difference error vs step h"),
                         cache_key=(wg, dtype, depth))
        ui.show_figure(h_figure,
                       "ad_h", t_("Left to right, h shrinks: the error first falls (truncation, slope 1 "
                                  "forward, 2 central) then rises again (round-off ~ eps/h). Switch to "
                                  "float32 to see the bottom move up."),
                       rows=[r.__dict__ for r in ways.differences])
        swell_figure = swell_fig(swell, t_("Expression swell: size vs nesting depth"), cache_key=depth)
        ui.show_figure(swell_figure, "ad_swell",
                       t_("The symbolic derivative's tree roughly doubles per level; the AD trace grows by "
                          "3 ops."),
                       rows=[r.__dict__ for r in swell])


if ws.KEY not in st.query_params and st.query_params.get("gb_program"):  # an old Graph Builder link
    st.query_params[ws.KEY] = st.query_params["gb_program"]
with ui.controls():
    c1, c2 = st.columns([2, 1])
    choice = ws.choose("ad_preset", examples=EXAMPLES, label="Graph", slot=c1)
    mode = ui.by_id(c2).radio(t_("Mode"), list(MODES), horizontal=True, key="ad_mode",
                              bind="query-params", format_func=lambda m: t_(MODES[m]))

graph = choice.graph if choice is not None else None
if graph is not None and len(graph.nodes) > lab.STEP_LIMIT:
    st.info(t_("This graph has {n} nodes: too many to step through one node at a time (the stepper takes "
               "up to {limit}); pick an example such as autodiff_example to step. Below: its gradients "
               "from one reverse sweep.", n=len(graph.nodes), limit=lab.STEP_LIMIT))
    with ui.guard("Cannot differentiate"):
        total, rows = cached_heavy(gradients, "autodiff")(choice.source.g)
        ui.show_figure(vz.gradient_figure(rows, t_("Gradient size per input and parameter"), tr=tr),
                       "ad_grads", t_("d {total} / d w for every input and parameter w, by reverse mode: "
                                      "one backward sweep gives them all.", total=total), rows=rows)
        st.dataframe(vz.gradient_rows(rows, tr), hide_index=True, key="ad_gtable")
elif graph is not None:
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    with ui.guard("Cannot differentiate"):
        p1, p2 = st.columns(2)
        if mode == "forward":
            pick = p1.selectbox(t_("Seed direction: tangent 1 on"),
                                sources, key="ad_seed", bind="query-params")
            total = False
        else:
            pick = p1.selectbox(t_("Output (must be a scalar)"),
                                [n.name for n in graph.op_nodes][::-1], key="ad_out", bind="query-params")
            total = p2.toggle(t_("Differentiate the sum of a vector output"),
                              True, key="ad_sum", bind="query-params")
        graph, trace = ui.cached_resource(run_heavy(traces, "autodiff"))(choice.source.g, mode, pick, total)
        labels = ad.baydin_labels(graph)

        def main_figure(k: int):
            title = vz.step_text(trace[k], ui.t_message)[0]
            return step_fig(graph, trace[k].highlight, vz.node_text(trace, k, labels), title,
                            callout=vz.callout(trace, k, labels, tr),
                            cache_key=(choice.source.g, mode, pick, total, k))

        def show_step(k: int) -> None:
            step = trace[k]
            title, log = vz.step_text(step, ui.t_message)
            left, right = st.columns([3, 2])
            with left:
                ui.show_figure(main_figure(k),
                               "ad_graph", t_("The lit node is the current step; its box shows its value "
                                              "and its tangent (dot) or adjoint (bar). Beside each node "
                                              "reached: its name in the survey (v-1, v0, v1, ...)."))
            with right:
                st.markdown(f"**{title}**")
                st.info(log)
                if mode == "reverse":
                    st.caption(t_("Values kept for the backward sweep: {saved_bytes:,} B (reverse mode "
                                  "trades memory for speed).",
                                  saved_bytes=trace.summary['saved_bytes']))
                nxt = trace[k + 1].data if k + 1 < len(trace) else {}
                if mode == "forward" and isinstance(nxt.get("tangent"), float):
                    ui.checkpoint(f"ad_ckf_{pick}_{k}", t_("Before you step: what tangent "
                                                           "(d{node}/d{pick}) will {node} get?",
                                                           node=nxt['node'], pick=pick),
                        nxt["tangent"], t_("Rule: {rule}, times the inputs' tangents.", rule=nxt['rule']))
                if mode == "reverse" and len(sources) > 1:
                    last, y_name = sources[-1], graph.outputs[0]
                    ui.checkpoint("ad_ck_" + last, t_("When the backward sweep ends, what is "
                                                      "d{y_name}/d{last} (summed over its elements if "
                                                      "it is a tensor)?",
                                                      y_name=y_name, last=last),
                        float(trace.summary["gradients"][last].sum()),
                        t_("Add every consumer's contribution to the adjoint."))
            st.markdown(t_("**Evaluation trace** (Baydin et al., Table 2 style), filled in step by step"))
            wide = {tr(c): st.column_config.TextColumn(width="large") for c in vz.WIDE_COLUMNS}
            st.dataframe(vz.forward_rows(trace, min(k, len(graph.nodes) - 1), tr), hide_index=True,
                         key="ad_table", column_config=wide)  # one table a row: every cell whole
            if mode == "reverse":
                st.dataframe(vz.reverse_rows(trace, k, tr), hide_index=True, key="ad_rtable",
                             column_config=wide)
            survey = lab.survey_rows(mode, graph, trace)
            if survey:
                table = 2 if mode == "forward" else 3
                st.success(vz.survey_badge(survey, table, tr))
                with st.expander(t_("Table {table} of the survey next to ours", table=table)):
                    st.dataframe(vz.survey_table(survey, tr), hide_index=True)
        ui.stepper("ad_step", len(trace), render=show_step, frame=main_figure)

tabs_view(choice.source.g if choice else "preset:autodiff_example")

ui.lesson("autodiff")
