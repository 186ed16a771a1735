"""Operator fusion: TVM's pattern kinds and post-dominator tree decide what fuses."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler.passes import optimize
from engine.compiler.passes.fusion import analyse
from engine.core import budget
from engine.core.registry import KINDS, all_ops
from viz.compiler import lab_graph_figure, postdom_figure

ui.setup("fusion",
         "Operator fusion",
         "Every op has a pattern kind; every op hangs under its post-dominator. Together they decide "
         "which ops become one kernel.")
t_ = ui.t
ZOO = "resnet18 (torch → ONNX)"
PROGRAM = ui.both("program")   # one label in both languages: the URL keeps it
EXAMPLE = """# TVM's own test (test_pass_fuse_ops.py::test_conv2d_fuse)
x = input([1, 16, 8, 8])
x1 = x + 1.0
y0 = conv2d(x1, param([16, 16, 3, 3]), pad=1)
y1 = 1.0 + y0
y = y0 + y1
z2 = conv2d(y, param([16, 16, 1, 1]))
z3 = conv2d(y, param([16, 16, 3, 3]), pad=1)
z = z2 + z3
"""


fit, shared = ui.figure_view()
graph_figure, postdom_figure = shared(lab_graph_figure), shared(postdom_figure)


def load(model: str, program: str, simplify_first: bool):
    if model == PROGRAM:
        graph = engine.parse_program(program, title="program")
    elif model == ZOO:
        from engine.interop.torch_zoo import zoo_graph
        graph = zoo_graph("resnet18")
    else:
        graph = engine.preset(model)
    return optimize(graph, ["simplify", "dce"])[0] if simplify_first else graph


@st.cache_resource(max_entries=32, show_spinner=False)
def fusion(model: str, program: str, simplify_first: bool):
    graph = load(model, program, simplify_first)
    return graph, analyse(graph)


with ui.controls():
    c = st.columns([2, 1, 1])
    model = c[0].selectbox(t_("Model"), [PROGRAM, *engine.preset_names(), ZOO],
                           key="fu_model", bind="query-params")
    simplify_first = c[1].toggle(t_("Simplify first (fold BN)"), False,
                                 key="fu_simplify", bind="query-params")
    direction = c[2].radio(t_("Flow"), ["TB", "LR"], horizontal=True, key="fu_dir",
                           format_func=lambda d: t_("top → bottom") if d == "TB"
                           else t_("left → right"), bind="query-params")
    program = ""
    if model == PROGRAM:
        with st.expander(t_("Program (TVM's own conv2d fusion test; edit me)")):
            program = st.text_area(t_("Program"), EXAMPLE, height=210, key="fu_program",
                                   bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)

result = None
with ui.guard("Cannot build the graph"):
    graph, result = fusion(model, program, simplify_first)

if result is not None:
    n_ops, n_kernels = len(result.kinds), len(result.groups)
    ck = f"fu_ck_{model}_{simplify_first}_{hash(program)}"
    shown = f"{ck}_done" in st.session_state
    m = st.columns(3)
    m[0].metric(t_("ops"), n_ops)
    m[1].metric(t_("kernels after fusion"), n_kernels if shown else "?",
                n_kernels - n_ops if shown else None,
                help=t_("Answer the checkpoint below to reveal it."))
    m[2].metric(t_("largest kernel (ops)"), max(map(len, result.groups), default=0))
    left, right = st.columns(2)
    with left:
        ui.show_figure(fit(graph_figure(graph, groups=[list(g) for g in result.groups if len(g) > 1],
                                        title=t_("Fused groups (shaded = one kernel)"),
                                        direction=direction)),
                       "fu_groups", t_("Shaded rectangles are fused kernels; colour = pattern kind."),
                       data=[list(g) for g in result.groups])
    with right:
        ui.show_figure(fit(postdom_figure(result, t_("Post-dominator tree"))), "fu_postdom",
                       t_("An op can only fuse into its post-dominator: every path from it to the "
                          "output passes there."))
    rows = [{t_("kernel"): k + 1, t_("ops"): " + ".join(g),
             t_("pattern kinds"): " + ".join(result.kinds[n] for n in g)}
            for k, g in enumerate(result.groups)]
    question = t_("This graph has {n_ops} ops. How many kernels will TVM's rules leave?", n_ops=n_ops)
    if ui.checkpoint(ck, question, n_kernels,
                     t_("Each shaded rectangle above is one kernel; an op left alone is a kernel too."),
                     rel_tol=0.0) is not None and not shown:
        st.rerun()                       # reveal the kernel count above
    st.dataframe(rows, hide_index=True, width="stretch")
    with st.expander(t_("Every fusion decision, in order")):
        st.code("\n".join(map(ui.t_message, result.log)) or "—", language=None)
    with st.expander(t_("Pattern kind of every op (from the registry)")):
        ops = all_ops()
        st.dataframe([{t_("pattern kind"): k,
                       t_("ops"): ", ".join(sorted(n for n, o in ops.items() if o.kind == k))}
                      for k in KINDS], hide_index=True, width="stretch")

ui.lesson("fusion")
