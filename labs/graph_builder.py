"""Graph Builder: write (or pick, or upload) a model, see its graph, run it, count its cost."""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import streamlit as st

import ui
from ui import graph_source as src
from ui import workspace as ws
from viz.export import to_csv
from viz.graph import value_figure
from viz.graph_text import cost_table, flops_formula, to_mermaid

SOURCES = {"language": "engine.core.language", "interpreter": "engine.core.interpreter",
           "cost": "engine.core.cost_model"}   # the engine code shown beside the graph

ui.setup("graph_builder",
         "Graph Builder",
         "Write a model in a few lines, see its graph, run it, count its FLOPs.")
t_ = ui.t
value_fig = ui.figure_view()[1](value_figure)  # built once per node, seed and view, in the view's language


@st.fragment   # the Run tab: picking another node reruns only this section
def values_view(graph, g: str, seed: int) -> None:
    with ui.guard("Cannot run the graph"):
        values = src.graph_values(g, seed)
        names = [n.name for n in graph.nodes]
        pick = st.selectbox(t_("Node"), names, index=names.index(graph.outputs[0]),
                            key="gb_node", bind="query-params")
        arr = np.asarray(values[pick])
        st.markdown(f"**{pick}** · `{graph.node(pick).op}` · shape `{list(arr.shape)}` · {arr.dtype}")
        s = st.columns(4)
        for col, (label, fn) in zip(s, (("min", np.min), ("max", np.max), ("mean", np.mean),
                                         ("std", np.std))):
            col.metric(label, f"{float(fn(arr)):.4g}")
        if arr.size <= 64:
            st.dataframe(arr.reshape(1, -1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1]),
                         key="gb_values_table")
        else:
            ui.show_figure(value_fig(pick, arr, cache_key=(g, seed, pick)), "gb_value",
                           t_("Left: the tensor as a matrix (blue positive, red negative); right: how its "
                              "values are spread. Change the seed to draw new weights and inputs."))


@st.fragment   # the engine's source code: choosing another module reruns only this section
def engine_code_view() -> None:
    with ui.guard():
        module = st.radio(t_("Engine code"), list(SOURCES), horizontal=True, key="gb_code",
                          bind="query-params")
        st.code(inspect.getsource(importlib.import_module(SOURCES[module])), "python")


@ui.section   # the source and drawing controls and all they drive (the whole page below the header)
def builder_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
        seed = c3.number_input(t_("Seed"), 0, 2**31 - 1, 0, key="gb_seed", bind="query-params")
        direction = c4.radio(t_("Flow"), ["TB", "LR"], key="gb_dir", bind="query-params",
                             horizontal=True, help=t_("top→bottom or left→right"))
        fold = c4.checkbox(t_("Fold repeats"), key="gb_fold", bind="query-params",
                           help=t_("draw back-to-back identical blocks once, plus an 'N× block' node"))
        source = src.pick_source(source_slot=c1, preset_slot=c2)

    graph = cost = None
    with ui.guard("Cannot build the graph"):
        graph, cost = ws.graph_of(source)

    if graph is not None:
        caption = t_("{n_op_nodes} ops, {n_params} params; colour = fusion kind, edge labels = tensor "
                     "shapes. Hover a node for its FLOPs and bytes; scroll to zoom.",
                     n_op_nodes=len(graph.op_nodes), n_params=len(graph.params))
        ui.show_figure(src.figure_of(source.g, direction, fold), "gb_graph", caption)
        top = max(cost.nodes, key=lambda c: (c.flops, c.name), default=None)
        if top is not None:
            node = graph.node(top.name)
            ui.checkpoint(
                "gb_ck_" + re.sub(r"\W", "_", top.name),
                t_("How many FLOPs does node **{name}** (`{op}`, output {list}) perform?",
                   name=top.name, op=node.op, list=list(node.shape)),
                top.flops, flops_formula(node.op, [graph.node(i).shape for i in node.inputs],
                                         node.shape, top.flops, top.macs, tr=ui.translator()))
        m = st.columns(4)
        m[0].metric("FLOPs", f"{cost.flops:,}")
        m[1].metric("MACs", f"{cost.macs:,}")
        m[2].metric(t_("Parameters"), f"{cost.params:,}")
        if source.kind == "zoo":
            want, bn = src.torch_counts(source.payload)
            if want == cost.params:
                m[2].caption(t_("✓ matches torch ({want:,})", want=want))
            else:
                m[2].caption(t_("torch counts {want:,}: the ONNX export folds each BatchNorm into its conv "
                                "(γ, β → one bias), {bn:,} fewer numbers", want=want, bn=bn))
        m[3].metric(t_("Bytes moved"), f"{cost.bytes:,}",
                    help=t_("every input read once, every output written once (no fusion, no cache)"))

        # only the open tab is drawn (switching tabs reruns this section; the open tab is in the URL): the
        # hidden ones' tables, code blocks and the engine's source were ~1.4 s of this page's first
        # paint in a browser and ~0.25 s of every move here
        tab_run, tab_cost, tab_export, tab_text = st.tabs(
            [t_("Run: every value"), t_("Cost per node"), t_("Export"), t_("Printout & code")],
            key="gb_tab", on_change="rerun", bind="query-params")
        if tab_run.open:
            with tab_run:
                values_view(graph, source.g, int(seed))
        if tab_cost.open:
            with tab_cost:
                rows = cost_table(cost, t_("TOTAL"))
                st.dataframe(rows, key="gb_cost_table", hide_index=True)
                st.download_button("CSV", to_csv(rows), "graph_cost.csv", "text/csv", key="gb_cost_csv",
                                   on_click="ignore")
                st.caption(t_("Arithmetic intensity = FLOPs / bytes moved (read + written)."))
        if tab_export.open:
            with tab_export:
                src.export_buttons(graph, "gb", lambda: src.onnx_bytes_of(source.g),
                                   source.payload if source.kind == "program" else None)
                st.code(to_mermaid(graph), "text")
        if tab_text.open:
            with tab_text:
                st.code(str(graph), "text")
                engine_code_view()

        st.subheader(t_("Your graph in every lab"))
        st.caption(t_("Each link opens that lab on this graph; the link carries it (share it as it is)."))
        src.open_in_links(source)


builder_view()

ui.lesson("graph_builder")
