"""Graph Builder: write (or pick, or upload) a model, see its graph, run it, count its cost."""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import streamlit as st

import engine
import ui
from engine import budget, presets
from engine.cost import cost as graph_cost   # not engine.cost: the submodule can shadow it
from engine.language import format_program
from engine.torch_zoo import zoo_graph, zoo_names
from viz.export import to_csv
from viz.graph import graph_figure, value_figure
from viz.graph_text import cost_table, flops_formula, graph_json, to_dot, to_mermaid

ui.setup("graph_builder", "Graph Builder", "计算图构建器",
         "Write a model in a few lines, see its graph, run it, count its FLOPs.",
         "用几行代码写出模型，查看计算图、运行它并统计 FLOPs。")
t_ = ui.t
# a bound widget stores its *label* in the URL, so these labels are the same in both languages
SOURCES = {"preset": "Preset · 预设", "program": "Program · 程序", "onnx": "ONNX",
           "zoo": "torch zoo · 模型库"}


# -- cached engine calls: a source is (kind, payload) with payload = text, name or file bytes --------
def build(kind: str, payload, title: str):
    if kind == "onnx":
        graph = engine.from_onnx(payload)
    else:
        graph = zoo_graph(payload) if kind == "zoo" else engine.parse_program(payload, title=title)
    return graph, graph_cost(graph)


# big results (every intermediate value, ONNX bytes, figures) are shared, not copied per rerun:
# a ResNet-18's values are 70 MB, and copying them would cost ~1 s on every interaction
@st.cache_resource(max_entries=8, show_spinner=False)
def graph_values(kind, payload, title, seed: int):
    return engine.run(ui.cached(build)(kind, payload, title)[0], seed=seed)


@st.cache_resource(max_entries=8, show_spinner=False)
def onnx_bytes_of(kind, payload, title) -> bytes:
    return engine.to_onnx(ui.cached(build)(kind, payload, title)[0])


@st.cache_resource(max_entries=32, show_spinner=False)
def graph_fig(kind, payload, title, direction, fold, lang):
    graph, cost = ui.cached(build)(kind, payload, title)
    return graph_figure(graph, zh=lang == "zh", costs=cost, title=graph.title or ("计算图" if lang == "zh" else
                                                                 "Computation graph"),
                        direction=direction, fold=fold)


@st.cache_resource(max_entries=32, show_spinner=False)
def node_value_fig(kind, payload, title, seed: int, node: str):
    return value_figure(node, graph_values(kind, payload, title, seed)[node])


@st.cache_data(show_spinner=False)
def torch_counts(name: str) -> tuple[int, int]:
    """(parameters torch counts, BatchNorm channels) of zoo model ``name`` — the oracle."""
    import torch
    from engine.torch_zoo import zoo_module
    module = zoo_module(name)
    bn = sum(m.num_features for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    return sum(p.numel() for p in module.parameters()), bn


# -- controls ---------------------------------------------------------------------------------------
with ui.controls():
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    kind = c1.radio(t_("Source", "来源"), list(SOURCES), format_func=SOURCES.get,
                    horizontal=True, key="gb_source", bind="query-params")
    name = c2.selectbox(t_("Preset", "预设"), presets.preset_names(), index=1, key="gb_preset",
                        bind="query-params")
    c2.caption(t_(*presets.preset_info(name)))
    seed = c3.number_input(t_("Seed", "随机种子"), 0, 2**31 - 1, 0, key="gb_seed", bind="query-params")
    direction = c4.radio(t_("Flow", "方向"), ["TB", "LR"], key="gb_dir", bind="query-params",
                         horizontal=True, help=t_("top→bottom or left→right", "自上而下或自左向右"))
    fold = c4.checkbox(t_("Fold repeats", "折叠重复块"), key="gb_fold", bind="query-params",
                       help=t_("draw back-to-back identical blocks once, plus an 'N× block' node",
                               "相同的连续块只画一次，其余折叠成一个“N× block”节点"))
    payload = presets.program_text(name)
    if kind == "program":
        st.button(t_(f"Load the {name} preset into the editor", f"把预设 {name} 载入编辑器"),
                  key="gb_load", on_click=st.session_state.__setitem__,
                  args=("gb_program", presets.program_text(name)))
        st.session_state.setdefault("gb_program", payload)   # the URL's program, if any, wins
        payload = st.text_area(t_("Program (one op per line; the link carries it)",
                                  "程序（每行一个运算；分享链接会带上它）"), height=220,
                               key="gb_program", bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)
    elif kind == "onnx":
        up = st.file_uploader(t_("ONNX model", "ONNX 模型"), type=["onnx"], key="gb_upload")
        payload = up.getvalue() if up is not None else None
        if payload is None:
            st.info(t_("Upload an .onnx file; until then the preset is shown.",
                        "请上传 .onnx 文件；在此之前显示所选预设。"))
        if payload is not None and len(payload) > budget.MAX_ONNX_BYTES:
            st.error(t_(f"The file is {len(payload) >> 20} MiB; the limit is "
                        f"{budget.MAX_ONNX_BYTES >> 20} MiB.", "文件超过大小上限。"))
            payload = None
    elif kind == "zoo":
        payload = st.selectbox(t_("Model (exported through ONNX)", "模型（经 ONNX 导出）"),
                               zoo_names(), key="gb_zoo", bind="query-params")
    if kind != "program":
        with st.expander(t_("Program text", "程序文本")):
            st.code(payload if kind == "preset" else t_("(not a program)", "（不是程序）"), "python")
    if payload is None:
        kind, payload = "preset", presets.program_text(name)
    title = name if kind == "preset" else ""
    if kind == "preset":
        kind = "program"

graph = cost = None
with ui.guard(t_("Cannot build the graph", "无法构建计算图")):
    graph, cost = ui.cached(build)(kind, payload, title)

if graph is not None:
    ui.show_figure(graph_fig(kind, payload, title, direction, fold, ui.lang()), "gb_graph", t_(
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
        want, bn = torch_counts(payload)
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
        values = graph_values(kind, payload, title, int(seed))
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
            ui.show_figure(node_value_fig(kind, payload, title, int(seed), pick), "gb_value", t_(
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
        e = st.columns(5)
        e[0].download_button("DOT", to_dot(graph), "graph.dot", key="gb_dl_dot", on_click="ignore")
        e[1].download_button("Mermaid", to_mermaid(graph), "graph.mmd", key="gb_dl_mmd",
                             on_click="ignore")
        e[2].download_button("JSON", graph_json(graph), "graph.json", key="gb_dl_json",
                             on_click="ignore")
        program = payload if kind == "program" else format_program(graph)
        e[3].download_button(t_("Program", "程序"), program, "graph.txt", key="gb_dl_prog",
                             on_click="ignore")
        try:
            onnx_bytes = onnx_bytes_of(kind, payload, title)
        except (ImportError, engine.EngineError) as exc:
            onnx_bytes = None
            e[4].caption(t_(f"ONNX export unavailable: {exc}", f"无法导出 ONNX：{exc}"))
        if onnx_bytes is not None:
            e[4].download_button("ONNX", lambda: onnx_bytes, "graph.onnx", key="gb_dl_onnx",
                                 on_click="ignore", mime="application/octet-stream")
            with st.expander(t_("Open in Netron", "用 Netron 查看")):
                if st.toggle(t_("Show Netron here", "在此显示 Netron"), key="gb_netron_on",
                             bind="query-params"):
                    try:
                        from ui.netron import netron_view
                        netron_view(onnx_bytes, key="gb_netron")
                    except ImportError:
                        st.info(t_("Netron is not available here.", "此处无法使用 Netron。"))
        st.code(to_mermaid(graph), "text")
    with tab_text:
        st.code(str(graph), "text")
        module = st.radio(t_("Engine code", "引擎源码"), ["language", "interpreter", "cost"],
                          horizontal=True, key="gb_code", bind="query-params")
        st.code(inspect.getsource(importlib.import_module(f"engine.{module}")), "python")

ui.lesson("graph_builder")
