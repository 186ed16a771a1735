"""Memory planning: tensor lifetimes packed into one arena, naive vs greedy strategies."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler import lab
from engine.compiler import memory_plan as mp
from ui import workspace as ws
from viz.compiler import arena_figure, lifetime_gantt

ui.setup("memory_planning",
         "Memory planning",
         "Each tensor needs its bytes only while it is live. Packing lifetimes into one arena is a 2-D "
         "puzzle: time × bytes.")
t_ = ui.t
SOURCES = {"graph": t_("Graph"), "random": t_("Random intervals"),
           "custom": t_("Your intervals")}
EXAMPLES = (*(f"preset:{n}" for n in engine.preset_names()), "zoo:resnet18")
# TFLite GPU delegate's memory_management_test.cc, ComplexRecords: size first last
STRATEGY_NAMES = {"naive": t_("naive (no reuse)"),
                  "greedy_by_size": t_("greedy by size (Pisarchyk & Lee)"),
                  "greedy_by_breadth": t_("greedy by breadth")}
TFLITE = "32 0 1\n32 1 4\n8 2 5\n16 3 5\n8 4 5\n64 5 7\n8 6 8\n8 7 8\n16 8 9\n"


fit, shared = ui.figure_view()
arena_figure, lifetime_gantt = shared(arena_figure), shared(lifetime_gantt)


def graph_plan(g: str, strategy: str, inplace: bool):
    return mp.plan_graph(ws.graph_of(ws.parse_g(g))[0], strategy, inplace)


def buffers_of(source: str, count: int, seed: int, text: str):
    return lab.random_buffers(count, seed) if source == "random" else lab.parse_buffers(text)


def interval_plan(source: str, count: int, seed: int, text: str, strategy: str):
    return mp.plan_buffers(buffers_of(source, count, seed, text), strategy)


@ui.section   # the tensors and the strategy, and all they drive: a change reruns only this section
def plan_view() -> None:
    with ui.controls():
        c = st.columns([2, 2, 2])
        source = ui.by_id(c[0]).radio(t_("Tensors from"), list(SOURCES), format_func=SOURCES.get,
                                      key="mp_source", bind="query-params")  # URL: the id
        strategy = ui.by_id(c[1]).selectbox(t_("Strategy"), list(mp.STRATEGIES), index=1,
                                            format_func=lambda k: STRATEGY_NAMES.get(k, k), key="mp_strategy",
                                            bind="query-params")
        g, inplace, count, seed, text = "", False, 40, 0, TFLITE
        if source == "graph":
            choice = ws.choose("mp_model", EXAMPLES, label="Model", slot=c[2])
            g = choice.source.g if choice is not None else ""
            inplace = c[2].toggle(t_("In-place reuse for elementwise ops"), False,
                                  key="mp_inplace", bind="query-params")
        elif source == "random":
            count = c[2].slider(t_("Tensors"), 2, 400, 40, key="mp_count", bind="query-params")
            seed = c[2].number_input(t_("Seed"), 0, 10_000, 0, key="mp_seed",
                                     bind="query-params")
        else:
            text = c[2].text_area(t_("One tensor per line: size first_op last_op"), TFLITE, height=200,
                                  key="mp_text", bind="query-params")

    plan = None
    with ui.guard("Cannot plan"):
        if source == "graph":
            plan = ui.cached(graph_plan)(g, strategy, inplace) if g else None
        else:
            plan = ui.cached(interval_plan)(source, count, seed, text, strategy)

    ck = f"mp_ck_{source}_{hash(g)}_{count}_{seed}_{hash(text)}_{inplace}"

    def revealed() -> bool:
        return f"{ck}_done" in st.session_state

    if plan is None:
        return
    m = st.columns(4)
    m[0].metric(t_("arena (bytes)"), f"{plan.arena:,}")
    m[1].metric(t_("naive: no reuse (bytes)"), f"{plan.naive:,}")
    m[2].metric(t_("lower bound (bytes)"), f"{plan.lower_bound:,}" if revealed() else "?",
                help=t_("Answer the checkpoint below to reveal it."))
    m[3].metric(t_("arena / lower bound"),
                f"{plan.arena / plan.lower_bound:.3f}" if plan.lower_bound and revealed() else "?")
    if plan.merged:
        st.caption(t_("In place: {n_merged} elementwise outputs overwrite an input that dies there.",
                      n_merged=len(plan.merged)))
    title = t_("Arena packing — {get}", get=STRATEGY_NAMES.get(strategy, strategy))
    ui.show_figure(fit(arena_figure(plan, title, show_bound=revealed())),
                   "mp_arena",
                   t_("Each rectangle is a tensor: its width is its lifetime, its height its bytes; "
                      "rectangles may touch but never overlap."),
                   data=plan, rows=[{"name": n, "size": s, "first": f, "last": la, "offset": o}
                                    for n, s, f, la, o in zip(plan.names, plan.sizes, plan.firsts,
                                                              plan.lasts, plan.offsets)])
    ui.show_figure(fit(lifetime_gantt(plan, t_("Tensor lifetimes (bar text = bytes)"))), "mp_life",
                   t_("The lower bound is the tallest stack of bars at one op."))
    shown = revealed()
    answer = ui.checkpoint(ck, t_("What is the lower bound: the most bytes live at the same op?"),
                           plan.lower_bound, t_("Find the op where the bars of the lifetime chart "
                                                "stack highest."), rel_tol=0.0)
    if answer is not None and not shown:
        st.rerun()                       # reveal the lower-bound metric above
    with ui.guard():
        rows = []
        for s in mp.STRATEGIES:
            other = (ui.cached(graph_plan)(g, s, inplace) if source == "graph"
                     else ui.cached(interval_plan)(source, count, seed, text, s))
            rows.append({t_("strategy"): STRATEGY_NAMES.get(s, s),
                         t_("arena (bytes)"): other.arena,
                         t_("arena / lower bound"): round(other.arena / max(other.lower_bound, 1), 3)})
        ui.table(rows)


plan_view()

ui.lesson("memory_planning")
