"""Graph Builder: write (or pick, or upload) a model, see its graph, run it, count its cost."""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import streamlit as st

import ui
from engine import presets
from ui import graph_source as src
from viz.export import to_csv
from viz.graph_text import cost_table, flops_formula, to_mermaid

SOURCES = {"language": "engine.core.language", "interpreter": "engine.core.interpreter",
           "cost": "engine.core.cost_model"}   # the engine code shown beside the graph

ui.setup("graph_builder", "Graph Builder", "计算图构建器",
         "Write a model in a few lines, see its graph, run it, count its FLOPs.",
         "用几行代码写出模型，查看计算图、运行它并统计 FLOPs。")
t_ = ui.t

# -- controls ---------------------------------------------------------------------------------------
with ui.controls():
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    name = c2.selectbox(t_("Preset", "预设"), presets.preset_names(), index=1, key="gb_preset",
                        bind="query-params")
    c2.caption(t_(*presets.preset_info(name)))
    seed = c3.number_input(t_("Seed", "随机种子"), 0, 2**31 - 1, 0, key="gb_seed", bind="query-params")
    direction = c4.radio(t_("Flow", "方向"), ["TB", "LR"], key="gb_dir", bind="query-params",
                         horizontal=True, help=t_("top→bottom or left→right", "自上而下或自左向右"))
    fold = c4.checkbox(t_("Fold repeats", "折叠重复块"), key="gb_fold", bind="query-params",
                       help=t_("draw back-to-back identical blocks once, plus an 'N× block' node",
                               "相同的连续块只画一次，其余折叠成一个“N× block”节点"))
    kind, payload, title = src.pick_source(name, radio_slot=c1)

graph = cost = None
with ui.guard(t_("Cannot build the graph", "无法构建计算图")):
    graph, cost = src.build(kind, payload, title)

if graph is not None:
    ui.show_figure(src.figure_of(kind, payload, title, direction, fold), "gb_graph", t_(
        f"{len(graph.op_nodes)} ops, {len(graph.params)} params; colour = fusion kind, "
        f"edge labels = tensor shapes. Hover a node for its FLOPs and bytes; scroll to zoom.",
        f"{len(graph.op_nodes)} 个运算、{len(graph.params)} 个参数；颜色表示融合类别，"
        f"边上是张量形状。悬停查看 FLOPs 与访存量，滚轮缩放。"))
    top = max(cost.nodes, key=lambda c: (c.flops, c.name), default=None)
    if top is not None:
        node = graph.node(top.name)
        ui.checkpoint(
            "gb_ck_" + re.sub(r"\W", "_", top.name),
            t_(f"How many FLOPs does node **{top.name}** (`{node.op}`, output "
               f"{list(node.shape)}) perform?",
               f"节点 **{top.name}**（`{node.op}`，输出 {list(node.shape)}）需要多少次浮点运算（FLOPs）？"),
            top.flops, t_(*flops_formula(node.op, [graph.node(i).shape for i in node.inputs],
                                          node.shape, top.flops, top.macs)))
    m = st.columns(4)
    m[0].metric("FLOPs", f"{cost.flops:,}")
    m[1].metric("MACs", f"{cost.macs:,}")
    m[2].metric(t_("Parameters", "参数量"), f"{cost.params:,}")
    if kind == "zoo":
        want, bn = src.torch_counts(payload)
        if want == cost.params:
            m[2].caption(t_(f"✓ matches torch ({want:,})", f"✓ 与 torch 一致（{want:,}）"))
        else:
            m[2].caption(t_(f"torch counts {want:,}: the ONNX export folds each BatchNorm into its "
                            f"conv (γ, β → one bias), {bn:,} fewer numbers",
                            f"torch 统计为 {want:,}：导出 ONNX 时 BatchNorm 被折叠进卷积"
                            f"（γ、β 变成一个偏置），少了 {bn:,} 个数"))
    m[3].metric(t_("Bytes moved", "访存字节"), f"{cost.bytes:,}",
                help=t_("every input read once, every output written once (no fusion, no cache)",
                        "每个输入读一次、每个输出写一次（不融合、无缓存）"))

    tab_run, tab_cost, tab_export, tab_text = st.tabs(
        [t_("Run: every value", "运行：每个中间值"), t_("Cost per node", "逐节点开销"),
         t_("Export", "导出"), t_("Printout & code", "文本与代码")])
    with tab_run, ui.guard(t_("Cannot run the graph", "无法运行计算图")):
        values = src.graph_values(kind, payload, title, int(seed))
        names = [n.name for n in graph.nodes]
        pick = st.selectbox(t_("Node", "节点"), names, index=names.index(graph.outputs[0]),
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
            ui.show_figure(src.node_value_fig(kind, payload, title, int(seed), pick), "gb_value", t_(
                "Left: the tensor as a matrix (red positive, blue negative); right: how its values "
                "are spread. Change the seed to draw new weights and inputs.",
                "左：张量按矩阵展示（红正蓝负）；右：数值分布。改变随机种子会重新抽取权重与输入。"))
    with tab_cost:
        rows = cost_table(cost, t_("TOTAL", "合计"))
        st.dataframe(rows, key="gb_cost_table", hide_index=True)
        st.download_button("CSV", to_csv(rows), "graph_cost.csv", "text/csv", key="gb_cost_csv",
                           on_click="ignore")
        st.caption(t_("Arithmetic intensity = FLOPs / bytes moved (read + written).",
                      "算术强度 = FLOPs / 访存字节（读 + 写）。"))
    with tab_export:
        src.export_buttons(graph, kind, payload, title)
        st.code(to_mermaid(graph), "text")
    with tab_text:
        st.code(str(graph), "text")
        module = st.radio(t_("Engine code", "引擎源码"), list(SOURCES), horizontal=True, key="gb_code",
                          bind="query-params")
        st.code(inspect.getsource(importlib.import_module(SOURCES[module])), "python")

ui.lesson("graph_builder")
