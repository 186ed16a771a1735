"""Autodiff lab: forward and reverse mode stepped on any program, Jacobian cost, four ways to
differentiate."""
from __future__ import annotations

import streamlit as st

import ui
from engine import presets
from engine.core import budget
from engine.core.language import parse_program
from engine.framework import autodiff as ad
from engine.framework import four_ways, lab
from viz import autodiff as vz
from viz.graph import graph_figure

ui.setup("autodiff",
         "Automatic differentiation",
         "Step through forward and reverse mode on any program.")
t_, tr = ui.t, ui.translator()
SOURCES = {"preset": ui.both("preset"), "program": ui.both("edit")}   # one label in both languages: URL-safe
MODES = {"forward": ui.both("forward"), "reverse": ui.both("reverse")}

with ui.controls():
    c1, c2, c3 = st.columns(3)
    from_link = "gb_program" in st.query_params          # a Graph Builder share link carries it
    src = c1.radio(t_("Program"), list(SOURCES), index=1 if from_link else 0, horizontal=True,
                   key="ad_source", bind="query-params", format_func=SOURCES.get)
    name = c2.selectbox(t_("Preset"), presets.preset_names(), key="ad_preset",
                        bind="query-params")
    mode = c3.radio(t_("Mode"), list(MODES), horizontal=True, key="ad_mode",
                    bind="query-params", format_func=MODES.get)
    program = presets.program_text(name)
    if src == "program":   # same URL key as the Graph Builder, so its share links open here too
        program = st.text_area(t_("Program"), program, height=180, key="gb_program",
                               bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)

graph = None
with ui.guard("Cannot build the graph"):
    graph = ui.cached(parse_program)(program, title="program")

if graph is not None:
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
        graph, trace = ui.cached(lab.program_traces)(program, mode, pick, total)
        def show_step(k: int) -> None:
            step = trace[k]
            title, log = vz.step_text(step, ui.t_message)
            left, right = st.columns([3, 2])
            with left:
                fig = graph_figure(graph, tr=tr, highlight=step.highlight, height=420, direction="LR",
                                   node_text=vz.node_text(trace, k, ad.baydin_labels(graph)), title=title)
                fig.update_layout(legend_xanchor="left")  # legend inside the plot: the graph keeps the width
                ui.show_figure(fig, "ad_graph", t_("The lit node is the current step; beside each node: "
                                                   "its value, tangent (dot) or adjoint (bar) so far."))
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
            cols = st.columns(2) if mode == "reverse" else [st.container()]
            cols[0].dataframe(vz.forward_rows(trace, min(k, len(graph.nodes) - 1), tr),
                              hide_index=True, key="ad_table")
            if mode == "reverse":
                cols[1].dataframe(vz.reverse_rows(trace, k, tr), hide_index=True, key="ad_rtable")
            survey = lab.survey_rows(mode, graph, trace)
            if survey:
                table = 2 if mode == "forward" else 3
                st.success(vz.survey_badge(survey, table, tr))
                with st.expander(t_("Table {table} of the survey next to ours", table=table)):
                    st.dataframe(vz.survey_table(survey, tr), hide_index=True)
        ui.stepper("ad_step", len(trace), render=show_step)

tab_jac, tab_ways = st.tabs([t_("Jacobian cost"),
                             t_("Four ways to differentiate")])
with tab_jac, ui.guard():
    j1, j2 = st.columns(2)
    n = j1.slider(t_("inputs n"), 1, 32, 8, key="ad_n", bind="query-params")
    m = j2.slider(t_("outputs m"), 1, 32, 2, key="ad_m", bind="query-params")
    fwd, rev = ui.cached(lab.jacobian_demo)(n, m)
    ui.show_figure(vz.jacobian_cost_figure(fwd, rev, t_("Cost of the full Jacobian"), tr=tr), "ad_jac",
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
    ways = ui.cached(four_ways.four_ways_text)(program, dtype, depth)
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
    ui.show_figure(vz.error_vs_h_figure(ways.differences, t_("Finite-difference error vs step h"), tr=tr),
                   "ad_h", t_("Left to right, h shrinks: the error first falls (truncation, slope 1 "
                              "forward, 2 central) then rises again (round-off ~ eps/h). Switch to "
                              "float32 to see the bottom move up."),
                   rows=[r.__dict__ for r in ways.differences])
    ui.show_figure(vz.swell_figure(swell, t_("Expression swell: size vs nesting depth"), tr=tr), "ad_swell",
                   t_("The symbolic derivative's tree roughly doubles per level; the AD trace grows by "
                      "3 ops."),
                   rows=[r.__dict__ for r in swell])

ui.lesson("autodiff")
