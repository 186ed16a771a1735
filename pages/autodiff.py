"""Autodiff lab: forward and reverse mode stepped on any program, Jacobian cost, four ways to differentiate."""
from __future__ import annotations

import streamlit as st

import ui
from engine.framework import autodiff as ad, four_ways, lab
from engine.core import budget
from engine import presets
from engine.core.language import parse_program
from viz import autodiff as vz
from viz.graph import graph_figure
from viz.scheduling import localize_legend

ui.setup("autodiff", "Automatic differentiation", "自动微分",
         "Step through forward and reverse mode on any program.",
         "在任意程序上单步执行前向模式与反向模式。")
t_, zh = ui.t, ui.lang() == "zh"
SOURCES = {"preset": "preset · 预设", "program": "edit · 编辑"}   # one label in both languages: URL-safe
MODES = {"forward": "forward · 前向", "reverse": "reverse · 反向"}

with ui.controls():
    c1, c2, c3 = st.columns(3)
    from_link = "gb_program" in st.query_params          # a Graph Builder share link carries it
    src = c1.radio(t_("Program", "程序"), list(SOURCES), index=1 if from_link else 0, horizontal=True,
                   key="ad_source", bind="query-params", format_func=SOURCES.get)
    name = c2.selectbox(t_("Preset", "预设"), presets.preset_names(), key="ad_preset",
                        bind="query-params")
    mode = c3.radio(t_("Mode", "模式"), list(MODES), horizontal=True, key="ad_mode",
                    bind="query-params", format_func=MODES.get)
    program = presets.program_text(name)
    if src == "program":   # same URL key as the Graph Builder, so its share links open here too
        program = st.text_area(t_("Program", "程序"), program, height=180, key="gb_program",
                               bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)

graph = None
with ui.guard(t_("Cannot build the graph", "无法构建计算图")):
    graph = ui.cached(parse_program)(program, title="program")

if graph is not None:
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    with ui.guard(t_("Cannot differentiate", "无法求导")):
        p1, p2 = st.columns(2)
        if mode == "forward":
            pick = p1.selectbox(t_("Seed direction: tangent 1 on", "种子方向：切向量为 1 的输入"),
                                sources, key="ad_seed", bind="query-params")
            total = False
        else:
            pick = p1.selectbox(t_("Output (must be a scalar)", "输出（须为标量）"),
                                [n.name for n in graph.op_nodes][::-1], key="ad_out", bind="query-params")
            total = p2.toggle(t_("Differentiate the sum of a vector output", "对向量输出先求和再求导"),
                              True, key="ad_sum", bind="query-params")
        graph, trace = ui.cached(lab.program_traces)(program, mode, pick, total)
        def show_step(k: int) -> None:
            step = trace[k]
            title, log = vz.step_text(step, zh)
            left, right = st.columns([3, 2])
            with left:
                fig = graph_figure(graph, zh=ui.lang() == "zh", highlight=step.highlight, height=420, direction="LR",
                                   node_text=vz.node_text(trace, k, ad.baydin_labels(graph)), title=title)
                fig.update_layout(legend_xanchor="left")  # legend inside the plot: the graph keeps the width
                ui.show_figure(localize_legend(fig, zh), "ad_graph", t_(
                    "The lit node is the current step; beside each node: its value, tangent (dot) or "
                    "adjoint (bar) so far.", "高亮的是当前步骤的节点；节点旁是至今算出的值、切向量 (dot) 或伴随值 (bar)。"))
            with right:
                st.markdown(f"**{title}**")
                st.info(log)
                if mode == "reverse":
                    st.caption(t_(f"Values kept for the backward sweep: {trace.summary['saved_bytes']:,} B "
                                  "(reverse mode trades memory for speed).",
                                  f"为反向扫描保存的中间值：{trace.summary['saved_bytes']:,} 字节（反向模式以内存换速度）。"))
                nxt = trace[k + 1].data if k + 1 < len(trace) else {}
                if mode == "forward" and isinstance(nxt.get("tangent"), float):
                    ui.checkpoint(f"ad_ckf_{pick}_{k}", t_(
                        f"Before you step: what tangent (d{nxt['node']}/d{pick}) will {nxt['node']} get?",
                        f"下一步之前先预测：{nxt['node']} 的切向量 (d{nxt['node']}/d{pick}) 是多少？"),
                        nxt["tangent"], t_(f"Rule: {nxt['rule']}, times the inputs' tangents.",
                                           f"规则：{nxt['rule']}，再乘以输入的切向量。"))
                if mode == "reverse" and len(sources) > 1:
                    last, y_name = sources[-1], graph.outputs[0]
                    ui.checkpoint("ad_ck_" + last, t_(
                        f"When the backward sweep ends, what is d{y_name}/d{last} (summed over its "
                        "elements if it is a tensor)?",
                        f"反向扫描结束时，d{y_name}/d{last}（若为张量则对各元素求和）是多少？"),
                        float(trace.summary["gradients"][last].sum()),
                        t_("Add every consumer's contribution to the adjoint.", "把每个使用者的贡献加到伴随值上。"))
            st.markdown(t_("**Evaluation trace** (Baydin et al., Table 2 style), filled in step by step",
                           "**求值轨迹**（Baydin 等综述表 2 的形式），逐步填写"))
            cols = st.columns(2) if mode == "reverse" else [st.container()]
            cols[0].dataframe(vz.localize(vz.forward_rows(trace, min(k, len(graph.nodes) - 1)), zh),
                              hide_index=True, key="ad_table")
            if mode == "reverse":
                cols[1].dataframe(vz.localize(vz.reverse_rows(trace, k), zh), hide_index=True,
                                  key="ad_rtable")
            survey = lab.survey_rows(mode, graph, trace)
            if survey:
                table = 2 if mode == "forward" else 3
                st.success(vz.survey_badge(survey, table, zh))
                with st.expander(t_(f"Table {table} of the survey next to ours", f"论文表 {table} 与本引擎逐行对照")):
                    st.dataframe(vz.survey_table(survey, zh), hide_index=True)
        ui.stepper("ad_step", len(trace), render=show_step)

tab_jac, tab_ways = st.tabs([t_("Jacobian cost", "雅可比矩阵的代价"),
                             t_("Four ways to differentiate", "四种求导方法")])
with tab_jac, ui.guard():
    j1, j2 = st.columns(2)
    n = j1.slider(t_("inputs n", "输入维度 n"), 1, 32, 8, key="ad_n", bind="query-params")
    m = j2.slider(t_("outputs m", "输出维度 m"), 1, 32, 2, key="ad_m", bind="query-params")
    fwd, rev = ui.cached(lab.jacobian_demo)(n, m)
    ui.show_figure(vz.jacobian_cost_figure(fwd, rev, t_("Cost of the full Jacobian", "完整雅可比矩阵的代价"),
                                           zh=zh), "ad_jac", t_(
        f"f(x) = tanh(W x), W is {m}×{n}: forward mode needs n = {fwd.sweeps} sweeps (one per "
        f"column), reverse mode m = {rev.sweeps} (one per row). Make m = 1 (a loss): reverse wins.",
        f"f(x) = tanh(W x)，W 为 {m}×{n}：前向模式需要 n = {fwd.sweeps} 次扫描（每列一次），"
        f"反向模式需要 m = {rev.sweeps} 次（每行一次）。令 m = 1（损失函数）时反向模式胜出。"),
        rows=[dict(mode=r.mode, sweeps=r.sweeps, rule_calls=r.rule_calls) for r in (fwd, rev)])

with tab_ways, ui.guard():
    w1, w2 = st.columns(2)
    dtype = w1.radio(t_("Arithmetic", "浮点精度"), ["float64", "float32"], horizontal=True,
                     key="ad_dtype", bind="query-params")
    depth = w2.slider(t_("Nesting depth for swell", "表达式膨胀的嵌套深度"), 2, 12, 8, key="ad_depth",
                      bind="query-params")
    ways = ui.cached(four_ways.four_ways_text)(program, dtype, depth)
    if ways.fallback:
        st.caption(t_("This program is not a scalar elementwise one: the survey's example is used.",
                      "当前程序不是标量逐元素程序：这里改用综述中的例子。"))
    best, swell = four_ways.best_step(ways.differences), ways.swell
    a, b, c, d = st.columns(4)
    a.metric(t_("Manual / symbolic", "手工 / 符号"), f"{ways.exact:.6g}")
    b.metric(t_("Best central difference", "最佳中心差分"), f"{best.central:.6g}",
             f"h = {best.h:.0e}, " + t_(f"error {best.central_error:.1e}", f"误差 {best.central_error:.1e}"),
             delta_color="off", delta_arrow="off")
    c.metric(t_(f"Symbolic tree size (depth {depth})", f"符号导数规模（深度 {depth}）"), f"{swell[-1].naive_size:,}")
    d.metric(t_(f"AD trace size (depth {depth})", f"AD 轨迹规模（深度 {depth}）"), f"{swell[-1].ad_trace:,}")
    st.code(f"d/d{ways.var} = {ways.derivative}", "text")
    st.caption(t_(f"AD on this program: {ways.trace_ops} ops in the forward sweep, at most {ways.trace_ops} "
                  "VJPs in the backward sweep — the trace grows with the program, not with the "
                  "size of the derivative's formula.",
                  f"对本程序做 AD：前向扫描 {ways.trace_ops} 个运算，反向扫描至多 {ways.trace_ops} 次 VJP——"
                  "轨迹随程序长度增长，而不随导数公式的大小增长。"))
    ui.show_figure(vz.error_vs_h_figure(ways.differences, t_("Finite-difference error vs step h",
                                                             "有限差分误差随步长 h 的变化"), zh=zh), "ad_h", t_(
        "Left to right, h shrinks: the error first falls (truncation, slope 1 forward, 2 central) "
        "then rises again (round-off ~ eps/h). Switch to float32 to see the bottom move up.",
        "从左往右 h 变小：误差先下降（截断误差，前向斜率 1、中心斜率 2），再上升（舍入误差约 eps/h）。"
        "切换到 float32，U 形底部会抬高。"), rows=[r.__dict__ for r in ways.differences])
    ui.show_figure(vz.swell_figure(swell, t_("Expression swell: size vs nesting depth",
                                             "表达式膨胀：规模随嵌套深度的变化"), zh=zh), "ad_swell", t_(
        "The symbolic derivative's tree roughly doubles per level; the AD trace grows by 3 ops.",
        "符号导数的表达式树每加一层约翻一倍；AD 轨迹每层只多 3 个运算。"),
        rows=[r.__dict__ for r in swell])

ui.lesson("autodiff")
