"""Control flow in graphs: if/while on data in the student's own function — what eager autograd, tracing,
AST conversion to cond/while_loop ops and torch.export/dynamo each see — and the two ways to implement
autodiff (a tape, a generated derivative program) on the same function."""
from __future__ import annotations

import streamlit as st

import ui
from engine.framework import control_flow_lab as cfl
from engine.framework.control_flow_capture import capture_some
from ui.heavy import cached_heavy
from viz.framework import dag_figure, tape_rows, values_figure

ui.setup("control_flow",
         "Control flow in graphs",
         "If and while on data: eager, tracing, AST conversion and torch.export each see something else.")
t_ = ui.t
fit, shared = ui.figure_view()
dag_chart, values_chart = shared(dag_figure), shared(values_figure)
TITLES = {"eager": "1. Eager autograd (define-by-run)", "fx": "2. torch.fx symbolic trace",
          "jit": "3. torch.jit.trace", "dynamo": "4a. torch._dynamo (torch.compile)",
          "export": "4b. torch.export"}


def load_example() -> None:
    st.session_state["cf_code"] = cfl.example_text(st.session_state["cf_example"])


def scale_label(s: float) -> str:
    return f"×{s:g}"


CHEAP = ("eager", "fx")   # 1–30 ms each; jit, export and dynamo (0.5–1.5 s) go through the heavy limiter


def lens(code: str, seed: int, method: str):
    """One capture of the function, made when it is shown: dynamo's compile only while its tab is open."""
    run = ui.cached(capture_some) if method in CHEAP else cached_heavy(capture_some, "torch")
    with st.spinner(t_("Tracing with torch (the first compile takes a few seconds)...")):
        return run(code, seed, (method,))[method]


@st.fragment   # the tape and the derivative program: another input reruns only this section
def autodiff_view(code: str, seed: int) -> None:
    st.subheader(t_("Two ways to implement autodiff, on the same function"))
    which = ui.by_id(st).select_slider(t_("Input"), list(range(len(cfl.SCALES))), value=0, key="cf_input",
                                       bind="query-params", format_func=lambda k: scale_label(cfl.SCALES[k]))
    with ui.guard("Cannot differentiate this function"):
        ways = ui.cached(cfl.autodiff_ways)(code, seed, which)
        m = st.columns(3)
        m[0].metric(t_("tape entries (operator overloading)"), len(ways.tape.entries),
                    help=t_("Grows with the trips the loops made on this input."))
        m[1].metric(t_("lines of the derivative program"),
                    ways.program.forward_lines + ways.program.reverse_lines,
                    help=t_("Fixed: written once from the syntax tree."))
        m[2].metric(t_("largest difference between the two gradients"), f"{ways.max_difference:.1e}")
        left, right = st.columns(2)
        with left:
            st.markdown(t_("**Operator overloading**: the tape recorded while the function ran"))
            st.dataframe(tape_rows(ways.tape.entries, ui.translator()), hide_index=True, height=360)
        with right:
            st.markdown(t_("**Source transformation**: the derivative program written from the syntax tree"))
            st.code(ways.program.text, "python", height=360)


with ui.controls():
    c = st.columns([3, 1])
    name = ui.by_id(c[0]).selectbox(t_("Example"), list(cfl.EXAMPLES), key="cf_example", bind="query-params",
                                    on_change=load_example,
                                    format_func=lambda n: f"{n} · {t_(cfl.EXAMPLES[n].title)}")
    seed = int(c[1].number_input(t_("Seed"), 0, 10_000, 0, key="cf_seed", bind="query-params"))
    code = st.text_area(t_("Your function (if and while on tensors allowed; one return at the end)"),
                        cfl.example_text(name), height=230, key="cf_code", bind="query-params")

comparison = jit = None
with ui.guard("Cannot run this function"):
    comparison = ui.cached(cfl.compare)(code, seed)
with ui.guard("torch could not capture this function"):
    jit = lens(code, seed, "jit") if comparison is not None else None

if comparison is not None:
    st.subheader(t_("Your function on six inputs"))
    labels = [scale_label(r.scale) for r in comparison.rows]
    replay = {scale_label(r["scale"]): r["traced"] for r in jit.details.get("rows", [])} if jit else {}
    series = {t_("eager Python"): [r.eager for r in comparison.rows],
              t_("converted graph (cond / while_loop)"): [r.graph for r in comparison.rows],
              t_("jit.trace replay"): [replay.get(x) for x in labels]}
    table = [{t_("input"): x, t_("path eager Python took"): "; ".join(map(ui.t_message, r.path)) or "—",
              t_("eager"): "—" if r.eager is None else f"{r.eager:.6g}",
              t_("converted graph"): "—" if r.graph is None else f"{r.graph:.6g}",
              "jit.trace": "—" if replay.get(x) is None else f"{replay[x]:.6g}",
              t_("note"): ui.t_message(r.error) if r.error else ""} for x, r in zip(labels, comparison.rows)]
    ui.show_figure(fit(values_chart(labels, series, t_("Same function, three ways of running it"),
                                    cache_key=(code, seed, jit is not None))), "cf_values",
                   t_("The converted graph equals eager Python on every input; the trace replays the "
                      "example input's path (×1), so it is wrong wherever the path differs."), rows=table)
    st.dataframe(table, hide_index=True)

    st.subheader(t_("AST conversion: if and while become cond and while_loop ops"))
    if comparison.conversion_error:
        st.error(t_("The conversion refuses this function: {msg}",
                    msg=ui.t_message(comparison.conversion_error)))
    else:
        left, right = st.columns([2, 3])
        left.code(cfl.converted_text(comparison.graph), "python")
        with right:
            dag = cfl.graph_dag(comparison.graph)
            ui.show_figure(fit(dag_chart(dag, t_("The converted graph (regions shaded)"), "",
                                         cache_key=(code, "converted"))), "cf_converted",
                           t_("Both branches and the whole loop body are in the graph, as regions of one "
                              "cond or while_loop op: nothing depends on which input ran first."), data=dag)
        st.caption(t_("Read from the syntax tree, not from a run — the approach of PaddlePaddle's "
                      "@to_static, MindSpore's graph mode and TensorFlow's AutoGraph."))

if jit is not None:
    st.subheader(t_("What PyTorch's captures see"))
    # only the open tab is drawn and captured (switching reruns the page; the open tab is in the URL):
    # each hidden capture's graph was a figure the browser drew again on every move, and dynamo's
    # compile 0.5–1.5 s of every new function
    tabs = st.tabs([t_(title) for title in TITLES.values()], key="cf_capture", on_change="rerun",
                   bind="query-params")
    for tab, method in zip(tabs, TITLES):
        if not tab.open:
            continue
        with tab, ui.guard("torch could not capture this function"):
            cap = jit if method == "jit" else lens(code, seed, method)
            st.markdown(ui.t_message(cap.message) if cap.ok else "")
            if not cap.ok:
                st.warning(cap.message)                 # torch's own error text
                if cap.details.get("why"):
                    st.caption(t_("Why: ") + t_(cap.details["why"]))
                continue
            if cap.method == "dynamo" and cap.details["reasons"]:
                st.caption("; ".join(dict.fromkeys(cap.details["reasons"])))
            if cap.method == "jit" and cap.details["warnings"]:
                st.caption("TracerWarning: " + cap.details["warnings"][0])
            fig = dag_chart(cap.dag, t_(TITLES[cap.method]), "", cache_key=(code, seed, cap.method))
            ui.show_figure(fit(fig), f"cf_{cap.method}",
                           t_("The graph this capture recorded for the example input."), data=cap.dag)
            if cap.method == "dynamo" and cap.details["breaks"] > 1 and "while" in code:
                st.caption(t_("A while loop on data breaks the graph on every trip here. For a "
                              "loop written directly in Python, dynamo may stop compiling the rest of the "
                              "function after a break inside the loop, so it can count fewer graphs; the "
                              "reason is the same."))

if comparison is not None:
    autodiff_view(code, seed)

if jit is not None and jit.ok and jit.details["rows"]:
    wrong = sum(not r["same"] for r in jit.details["rows"])
    ui.checkpoint(f"cf_ck_{hash(code)}_{seed}",
                  t_("jit.trace recorded the ×1 input. On how many of the other inputs will the trace give a "
                     "wrong value, without any error?"), wrong,
                  t_("Wherever eager Python takes another branch or another number of loop trips than ×1 "
                     "did; the table above lists the paths."), rel_tol=0.0)
ui.lesson("control_flow")
