"""Dynamic vs static graphs: what eager autograd, torch.fx, jit.trace and dynamo/export see in one
function."""
from __future__ import annotations

import streamlit as st

import ui
from engine.framework import graph_capture as tg
from ui.heavy import cached_heavy
from viz.graph import graph_figure

ui.setup("dynamic_static",
         "Dynamic vs static graphs",
         "What eager autograd, torch.fx, jit.trace and export see in the same code.")
t_ = ui.t
TITLES = {"eager": "1. Eager autograd (define-by-run)",
          "fx": "2. torch.fx symbolic trace",
          "jit": "3. torch.jit.trace",
          "dynamo": "4a. torch._dynamo (torch.compile)",
          "export": "4b. torch.export"}


def captures(name: str):
    return tg.capture_all(name)


def say(cap) -> str:
    """What happened to this capture, in the page's language (numbers from the engine)."""
    d = cap.details
    if cap.method == "eager":
        return t_("The result has grad_fn={grad_fn}; {nodes} backward nodes were recorded while the "
                  "code ran — a fresh graph on every call.", grad_fn=d['grad_fn'], nodes=d['nodes'])
    if cap.method == "fx":
        return t_("{calls} calls recorded on Proxy objects, without real data.", calls=d['calls'])
    if cap.method == "jit":
        if not d["frozen"]:
            return t_("The traced graph also gives the right answer on the other input.")
        return t_("On an input taking the other path the traced graph returns {traced_other:.4g} but "
                  "eager Python returns {eager_other:.4g}: tracing froze the example's path.",
                  traced_other=d['traced_other'], eager_other=d['eager_other'])
    if cap.method == "dynamo":
        why = "; ".join(d["reasons"])
        head = t_("{graphs} graph(s), {breaks} graph break(s)", graphs=d["graphs"], breaks=d["breaks"])
        if not why:
            return head + t_(".")
        return head + t_(": {why} (a jump on a tensor's value cannot be decided while compiling, so the "
                         "graph ends there and Python decides).", why=why)
    if d.get("other_ok", True):
        return t_("One graph captured; it also runs on the other input.")
    return t_("One graph captured; {other}.", other=d["other"])


def verdict(cap) -> str:
    """One short line per capture for the summary table."""
    if not cap.ok:
        return t_("✗ refused: ") + cap.message.split(":")[0]
    d, n = cap.details, len(cap.dag.nodes)
    if cap.method == "jit" and d["frozen"]:
        return t_("⚠ graph of {n} nodes, silently wrong on the other branch", n=n)
    if cap.method == "dynamo":
        return t_("✓ {graphs} graph(s), {breaks} graph break(s)", graphs=d['graphs'], breaks=d['breaks'])
    if cap.method == "export" and not d.get("other_ok", True):
        return t_("⚠ graph of {n} nodes, refuses the other input (guard)", n=n)
    return t_("✓ graph of {n} nodes", n=n)



def draw(cap, key: str) -> None:
    if not cap.ok:
        st.warning(cap.message)          # torch's own error text, as the student would see it
        if "why" in cap.details:
            st.caption(t_("Why: ") + t_(cap.details["why"]))
        return
    groups = [list(m) for _, m in cap.dag.groups] or None
    fig = graph_figure(cap.dag.to_graph(), groups=groups, tr=ui.translator(), title=t_(TITLES[cap.method]),
                       height=400)
    fig.update_layout(legend_xanchor="left")       # legend inside the plot: the graph keeps the width
    ui.show_figure(fig, key, say(cap), data=cap.dag, main=True)


with ui.controls():
    name = ui.by_id(st).selectbox(t_("Function"), list(tg.MENU), index=1, key="ds_fn", bind="query-params",
                                  format_func=lambda n: f"{n} · {t_(tg.MENU[n].en)}")
    st.code(tg.menu_source(name), "python")

with ui.guard("Capture failed"), st.spinner(t_("Tracing with torch (the first compile "
                                                           "takes a few seconds)...")):
    caps = cached_heavy(captures, "torch")(name)
    ui.table([{t_("capture"): t_(TITLES[c.method]), t_("result"): verdict(c)} for c in caps.all()])
    # only the open tab is drawn (switching reruns the page; the open tab is in the URL), so a move
    # redraws one capture's graph, not four; labels without their bracket
    tabs = st.tabs([t_(title).split(" (")[0].split("\uff08")[0] for title in TITLES.values()],
                   key="ds_capture", on_change="rerun", bind="query-params")
    for tab, cap in zip(tabs, caps.all()):
        if not tab.open:
            continue
        with tab:
            draw(cap, f"ds_{cap.method}")
            if cap.method == "jit" and cap.ok:
                jit = cap.details
                a, b = st.columns(2)
                a.metric(t_("Eager on the other input"), f"{jit['eager_other']:.4g}")
                b.metric(t_("Traced graph on it"), f"{jit['traced_other']:.4g}",
                         t_("frozen path: wrong") if jit["frozen"] else
                         t_("same"), delta_color="inverse" if jit["frozen"] else "off")
                for w in jit["warnings"]:
                    st.caption(f"TracerWarning: {w}")
    ui.checkpoint("ds_ck_" + name, t_("Which capture can return a wrong number without raising any "
                                      "error on an input that takes the other branch?"),
                  "torch.jit.trace", t_("Tracing records only the tensor ops that ran; the Python "
                                        "if/while left no trace (only a TracerWarning)."),
                  choices=["eager autograd", "torch.fx", "torch.jit.trace", "torch.export"])

st.markdown(t_("| | define-by-run (dynamic) | define-then-run (static) |\n|---|---|---|\n| graph built "
               "| while the code runs, every call | once, before running |\n| Python if / while | just "
               "work (the branch taken is recorded) | must be captured: break, guard, `torch.cond`, or "
               "frozen |\n| whole-program optimisation | no (op by op) | yes: fusion, memory planning "
               "|\n| used in | PyTorch eager, research, debugging | torch.compile / export, ONNX, TF "
               "1.x, XLA |"))

ui.lesson("dynamic_static")
