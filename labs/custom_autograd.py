"""Custom autograd functions: the student writes a new op's forward and backward (its VJP); the checker
compares it with central differences and with torch, finds the classic mistakes, and shows the op on the
tape of a small model."""
from __future__ import annotations

import streamlit as st

import ui
from engine.framework import custom_function as cfn
from engine.framework.custom_function_check import check
from engine.framework.custom_function_torch import torch_check, torch_source
from engine.framework.tape import tape_dag
from ui.heavy import cached_heavy
from viz.framework import dag_figure, tape_rows, vjp_figure

ui.setup("custom_autograd",
         "Custom autograd functions",
         "Write a new op's forward and backward; the checker finds the classic mistakes.")
t_ = ui.t
fit, shared = ui.figure_view()
vjp_chart, dag_chart = shared(vjp_figure), shared(dag_figure)
SAY = {"error": st.error, "warning": st.warning, "note": st.info, "ok": st.success}


def load_example() -> None:
    """Picking an example puts its code in the box (the box, in the URL, is what the page checks)."""
    st.session_state["ca_code"] = cfn.example_text(st.session_state["ca_example"])


@ui.section   # the example, the seed, your code and all they drive (the checker, torch, the tape)
def op_view() -> None:
    with ui.controls():
        c = st.columns([3, 1])
        name = ui.by_id(c[0]).selectbox(t_("Example"), list(cfn.EXAMPLES), key="ca_example",
                                        bind="query-params", on_change=load_example,
                                        format_func=lambda n: f"{n} · {t_(cfn.EXAMPLES[n].title)}")
        seed = int(c[1].number_input(t_("Seed"), 0, 10_000, 0, key="ca_seed", bind="query-params"))
        code = st.text_area(t_("Your op: forward saves what backward needs; backward returns one gradient "
                               "per input"), cfn.example_text(name), height=250, key="ca_code",
                            bind="query-params")

    result = None
    with ui.guard("Cannot check this op"):
        result = ui.cached(check)(code, seed)
    if result is not None:
        st.subheader(t_("1. The checker"))
        for f in result.findings:
            SAY[f.severity](ui.t_message(f.message))
        if any(f.kind == "no_grad" for f in result.findings) and result.passes_with_ones:
            st.caption(t_("A check with grad = 1 would have passed this backward: for an elementwise op the "
                          "local derivative and the VJP with a gradient of ones are the same numbers. That "
                          "is why the checker sends a random gradient."))
        rows = [{t_("input"): c.name, t_("shape"): str(list(c.shape)),
                 t_("your gradient's shape"): "—" if c.grad_shape is None else str(list(c.grad_shape)),
                 t_("largest relative error"): "—" if c.max_error is None else f"{c.max_error:.2e}"}
                for c in result.inputs]
        left, right = st.columns([3, 2])
        with left:
            if any(c.yours is not None for c in result.inputs):
                ui.show_figure(fit(vjp_chart(result.inputs, t_("Your VJP against central differences"),
                                             cache_key=(code, seed))), "ca_vjp",
                               t_("Each dot is one gradient element for a random incoming gradient: on the "
                                  "dotted diagonal, your backward agrees with (L(x+h) − L(x−h)) / 2h."),
                               rows=rows, main=True)
        with right:
            st.dataframe(rows, hide_index=True)
            st.caption(t_("Central differences need no derivative rule: two forward runs per element, "
                          "h = 10⁻⁶·max(1, |x|), float64."))

    st.subheader(t_("2. What PyTorch says"))
    st.caption(t_("Your two functions become a real torch.autograd.Function (MyOp); torch's autograd of the "
                  "forward alone is the reference."))
    tc = None
    with ui.guard("torch could not check this op"), st.spinner(t_("Asking torch (the first time takes a few "
                                                                  "seconds)...")):
        tc = cached_heavy(torch_check, "torch")(code, seed)
    if tc is not None and result is not None:
        m = st.columns(3)
        num = {c.name: c.numeric for c in result.inputs}
        ref_err = max(float(abs(tc.reference[k] - num[k]).max()) for k in num)
        m[0].metric(t_("torch autograd vs central differences"), f"{ref_err:.1e}",
                    help=t_("The two oracles agree: any error below is yours."))
        yours_err = max((float(abs(tc.yours[k] - tc.reference[k]).max()) for k in tc.yours), default=None)
        m[1].metric(t_("MyOp through torch vs torch autograd"),
                    "—" if yours_err is None else f"{yours_err:.1e}")
        verdict = {True: t_("passes"), False: t_("fails"), None: "—"}[tc.gradcheck_ok]
        m[2].metric("torch.autograd.gradcheck", verdict)
        for message in (tc.function_error, tc.gradcheck_message):
            if message:
                st.warning(message)          # torch's own words, as the student would see them
    def torch_op() -> None:   # written (and drawn) only while its expander is open
        with ui.guard():
            st.code(ui.cached(torch_source)(code), "python")
    ui.folded(t_("The same op written for PyTorch"), "ca_torch_box", torch_op)

    st.subheader(t_("3. Your op inside a graph"))
    use = None
    with ui.guard("Cannot use this op in a graph"):
        use = ui.cached(cfn.use_in_graph)(code, seed)
    if use is not None:
        st.code(use.model, "python")
        params = tuple(use.numeric)
        left, right = st.columns(2)
        with left:
            tape = dag_chart(tape_dag(use.tape.entries, params), t_("Our tape (operator overloading)"),
                             "custom", cache_key=(code, seed, "tape"))
            ui.show_figure(fit(tape), "ca_tape",
                           t_("Each op the model ran is one tape entry; your op is one entry too, and "
                              "walking back calls your backward there."))
        with right:
            if tc is not None and tc.usage_dag is not None:
                ui.show_figure(fit(dag_chart(tc.usage_dag, t_("torch's grad_fn graph"), "MyOp",
                                             cache_key=(code, seed, "torch"))), "ca_grad_fn",
                               t_("torch records MyOpBackward among its own nodes (MmBackward0, "
                                  "MulBackward0, ...): a custom Function is a first-class node of the tape."))
            elif tc is not None and tc.usage_error:
                st.warning(tc.usage_error)
        m = st.columns(2)
        m[0].metric(t_("model gradient: tape vs central differences"), f"{use.max_error:.1e}")
        if tc is not None and tc.usage_max_error is not None:
            m[1].metric(t_("model gradient: MyOp vs plain torch autograd"), f"{tc.usage_max_error:.1e}")
        st.dataframe(tape_rows(use.tape.entries, ui.translator()), hide_index=True)


op_view()

ui.checkpoint("ca_ck", t_("A backward forgets to multiply by grad. For an elementwise op, which incoming "
                          "gradient hides the mistake?"),
              t_("a gradient of ones"),
              t_("With grad = 1 the VJP is the local derivative itself, so the wrong backward returns the "
                 "right numbers; any other gradient exposes it."),
              choices=[t_("a gradient of ones"), t_("a random gradient"), t_("no gradient hides it")])
ui.lesson("custom_autograd")
