"""Operator fusion: TVM's pattern kinds and post-dominator tree decide what fuses."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

import engine
import ui
from engine.compiler.passes import optimize
from engine.compiler.passes.fusion import analyse
from engine.core.registry import KINDS, all_ops
from ui import workspace as ws
from ui.checkpoint import HIDDEN, masked, reveal, revealed
from viz.compiler import lab_graph_figure, postdom_figure

ui.setup("fusion",
         "Operator fusion",
         "Every op has a pattern kind; every op hangs under its post-dominator. Together they decide "
         "which ops become one kernel.")
t_ = ui.t
EXAMPLES = (*(f"preset:{n}" for n in engine.preset_names()), "zoo:resnet18")
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


@st.cache_resource(max_entries=32, show_spinner=False)
def fusion(g: str, simplify_first: bool):
    graph = ws.graph_of(ws.parse_g(g))[0]
    graph = optimize(graph, ["simplify", "dce"])[0] if simplify_first else graph
    return graph, analyse(graph)


def use_example() -> None:
    """The teaching example becomes your graph (the link's g), and the lab shows your graph."""
    ws.set_current(ws.Source("program", EXAMPLE))
    st.session_state["fu_model"] = ws.YOURS


@ui.section   # the graph and its fusion, and all they drive: a change reruns only this section
def fusion_view() -> None:
    with ui.controls():
        c = st.columns([2, 1, 1])
        choice = ws.choose("fu_model", EXAMPLES, label="Model", slot=c[0])
        simplify_first = c[1].toggle(t_("Simplify first (fold BN)"), False,
                                     key="fu_simplify", bind="query-params")
        direction = ui.by_id(c[2]).radio(t_("Flow"), ["TB", "LR"], horizontal=True, key="fu_dir",
                                         format_func=lambda d: t_("top → bottom") if d == "TB"
                                         else t_("left → right"), bind="query-params")
        st.button(t_("TVM's own conv2d fusion test as your graph"), key="fu_example", on_click=use_example,
                  icon=":material/school:")

    result, g = None, choice.source.g if choice is not None else ""
    with ui.guard("Cannot build the graph"):
        graph, result = fusion(g, simplify_first) if g else (None, None)
    if result is None:
        return
    n_ops, n_kernels = len(result.kinds), len(result.groups)
    ck = f"fu_ck_{hash(g)}_{simplify_first}"
    shown = revealed(ck)                 # until the student commits, nothing tells the kernel count
    hint = None if shown else t_("Answer the checkpoint below to reveal it.")
    m = st.columns(3)
    m[0].metric(t_("ops"), n_ops)
    m[1].metric(t_("kernels after fusion"), masked(ck, n_kernels), n_kernels - n_ops if shown else None,
                help=hint)
    m[2].metric(t_("largest kernel (ops)"), masked(ck, max(map(len, result.groups), default=0)), help=hint)
    left, right = st.columns(2)
    with left:
        ui.show_figure(fit(graph_figure(graph, groups=[list(k) for k in result.groups if len(k) > 1] if shown
                                        else None, title=t_("Fused groups (shaded = one kernel)") if shown
                                        else t_("Your graph (colour = pattern kind)"), direction=direction,
                                        cache_key=(g, simplify_first, direction, shown))),
                       "fu_groups", t_("Shaded rectangles are fused kernels; colour = pattern kind.") if shown
                       else t_("Colour = pattern kind. The fused kernels are shaded once you answer the "
                               "checkpoint below."), data=[list(k) for k in result.groups] if shown else None)
    with right:                          # its hover names each op's kernel: "kernel #?" until then
        tree = result if shown else replace(result, group_of=dict.fromkeys(result.group_of, HIDDEN))
        ui.show_figure(fit(postdom_figure(tree, t_("Post-dominator tree"),
                                          cache_key=(g, simplify_first, shown))), "fu_postdom",
                       t_("An op can only fuse into its post-dominator: every path from it to the "
                          "output passes there."))
    question = t_("This graph has {n_ops} ops. How many kernels will TVM's rules leave?", n_ops=n_ops)
    ui.checkpoint(ck, question, n_kernels, t_("Each shaded rectangle above is one kernel; an op left "
                                              "alone is a kernel too."), rel_tol=0.0)

    def kernels() -> None:
        st.dataframe([{t_("kernel"): k + 1, t_("ops"): " + ".join(grp),
                       t_("pattern kinds"): " + ".join(result.kinds[n] for n in grp)}
                      for k, grp in enumerate(result.groups)], hide_index=True, width="stretch")
        ui.folded(t_("Every fusion decision, in order"), "fu_log_box",   # drawn only while open
                  lambda: st.code("\n".join(map(ui.t_message, result.log)) or "—", language=None))
    reveal(ck, kernels)
    def kinds() -> None:
        ops = all_ops()
        st.dataframe([{t_("pattern kind"): k,
                       t_("ops"): ", ".join(sorted(n for n, o in ops.items() if o.kind == k))}
                      for k in KINDS], hide_index=True, width="stretch")
    ui.folded(t_("Pattern kind of every op (from the registry)"), "fu_kinds_box", kinds)


fusion_view()

ui.lesson("fusion")
