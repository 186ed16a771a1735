"""Autodiff lab: forward and reverse mode stepped on any program, Jacobian cost, four ways to differentiate."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine import budget, presets, symbolic
from engine.autodiff import baydin_labels, jacobian, scalarize, survey_check
from viz import autodiff as vz
from viz.graph import graph_figure

ui.setup("autodiff", "Automatic differentiation", "自动微分",
         "Step through forward and reverse mode on any program.",
         "在任意程序上单步执行前向模式与反向模式。")
t_ = ui.t


def build(program: str):
    return engine.parse_program(program, title="program")


def forward(program: str, seed_name: str):
    return engine.forward_trace(build(program), {seed_name: 1.0})


def reverse(program: str, output: str, total: bool):
    graph = build(program)
    if total:        # a vector output: differentiate its sum (a scalar), as a loss would
        graph, output = scalarize(graph, output)
    return graph, engine.reverse_trace(graph, output)


def jacobian_cost(n: int, m: int):
    b = engine.GraphBuilder(f"f: R^{n} -> R^{m}")
    x = b.input((n,), name="x")
    w = b.param((m, n), name="W")
    b.op("tanh", b.op("matmul", w, x), name="y")
    g = b.build()
    return jacobian(g, "y", ["x"], mode="forward"), jacobian(g, "y", ["x"], mode="reverse")


def four_ways(program: str, dtype: str, depth: int):
    return symbolic.four_ways(build(program), dtype, depth)


def ui_badge(mode: str, trace) -> None:
    """'Matches the source' badge for the survey's example (numbers from the engine's trace)."""
    check = survey_check(mode, trace)
    if check is not None and check[2] < 5e-4:
        table, got, diff = check
        shown = ", ".join(f"{k} → {v:.3f}" for k, v in got.items())
        st.success(t_(f"Matches Baydin et al. (2018) Table {table}: {shown} (difference {diff:.1e}).",
                      f"与 Baydin 等 (2018) 表 {table} 一致：{shown}（差 {diff:.1e}）。"))


with ui.controls():
    c1, c2, c3 = st.columns([2, 2, 2])
    from_link = "gb_program" in st.query_params          # a Graph Builder share link carries it
    src = c1.radio(t_("Program", "程序"), ["preset", "program"], index=1 if from_link else 0,
                   horizontal=True, key="ad_source", bind="query-params",
                   format_func=lambda s: t_("preset", "预设") if s == "preset" else t_("edit", "编辑"))
    name = c2.selectbox(t_("Preset", "预设"), presets.preset_names(), key="ad_preset",
                        bind="query-params")
    mode = c3.radio(t_("Mode", "模式"), ["forward", "reverse"], horizontal=True, key="ad_mode",
                    bind="query-params", format_func=lambda m: t_(m, "前向" if m == "forward" else "反向"))
    program = presets.program_text(name)
    if src == "program":   # same URL key as the Graph Builder, so its share links open here too
        program = st.text_area(t_("Program", "程序"), program, height=180, key="gb_program",
                               bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)

graph = None
with ui.guard(t_("Cannot build the graph", "无法构建计算图")):
    graph = ui.cached(build)(program)

if graph is not None:
    labels = baydin_labels(graph)
    sources = [n.name for n in graph.nodes if n.op in ("input", "param")]
    with ui.guard(t_("Cannot differentiate", "无法求导")):
        if mode == "forward":
            seed_name = st.selectbox(t_("Seed direction: tangent 1 on", "种子方向：切向量为 1 的输入"),
                                     sources, key="ad_seed", bind="query-params")
            trace = ui.cached(forward)(program, seed_name)
        else:
            out = st.selectbox(t_("Output (must be a scalar)", "输出（须为标量）"),
                               [n.name for n in graph.op_nodes][::-1], key="ad_out",
                               bind="query-params")
            total = st.toggle(t_("Differentiate the sum of a vector output", "对向量输出先求和再求导"),
                              True, key="ad_sum", bind="query-params")
            graph, trace = ui.cached(reverse)(program, out, total)
            labels = baydin_labels(graph)
            st.caption(t_(f"Values kept for the backward sweep: {trace.summary['saved_bytes']:,} bytes "
                          "(reverse mode trades memory for speed).",
                          f"为反向扫描保存的中间值：{trace.summary['saved_bytes']:,} 字节（反向模式以内存换速度）。"))
        k = ui.stepper("ad_step", len(trace))
        step = trace[k]
        left, right = st.columns([3, 2])
        with left:
            ui.show_figure(graph_figure(graph, highlight=step.highlight,
                                        node_text=vz.node_text(trace, k, labels), title=step.title),
                           "ad_graph", t_("The lit node is the current step; under each node: its "
                                          "value, tangent (dot) or adjoint (bar) so far.",
                                          "高亮的是当前步骤的节点；节点下方是至今算出的值、切向量 (dot) 或伴随值 (bar)。"))
        with right:
            st.markdown(f"**{step.title}**")
            st.info(step.log or step.title)
            st.dataframe(vz.forward_rows(trace, min(k, len(graph.nodes) - 1)), hide_index=True,
                         key="ad_table")
            if mode == "reverse":
                st.markdown(t_("**Adjoint contributions** (fan-out adds up)", "**伴随值贡献**（扇出累加）"))
                st.dataframe(vz.reverse_rows(trace, k), hide_index=True, key="ad_rtable")
        if program == presets.program_text("autodiff_example") and k == len(trace) - 1:
            ui_badge(mode, trace)
        nxt = trace[k + 1].data if k + 1 < len(trace) else {}
        if mode == "forward" and isinstance(nxt.get("tangent"), float):
            ui.checkpoint(f"ad_ckf_{seed_name}_{k}", t_(
                f"Before you step: what tangent (d{nxt['node']}/d{seed_name}) will "
                f"{nxt['node']} get?", f"下一步之前先预测：{nxt['node']} 的切向量 "
                f"(d{nxt['node']}/d{seed_name}) 是多少？"), nxt["tangent"],
                t_(f"Rule: {nxt['rule']}, times the inputs' tangents.",
                   f"规则：{nxt['rule']}，再乘以输入的切向量。"))
        if mode == "reverse" and len(sources) > 1:
            last = sources[-1]
            y_name = graph.outputs[0]
            ui.checkpoint("ad_ck_" + last, t_(f"When the backward sweep ends, what is d{y_name}/d{last}"
                                             " (summed over its elements if it is a tensor)?",
                                             f"反向扫描结束时，d{y_name}/d{last}（若为张量则对各元素求和）是多少？"),
                          float(trace.summary["gradients"][last].sum()),
                          t_("Add every consumer's contribution to the adjoint.",
                             "把每个使用者的贡献加到伴随值上。"))

tab_jac, tab_ways = st.tabs([t_("Jacobian cost", "雅可比矩阵的代价"),
                             t_("Four ways to differentiate", "四种求导方法")])
with tab_jac, ui.guard():
    j1, j2 = st.columns(2)
    n = j1.slider(t_("inputs n", "输入维度 n"), 1, 32, 8, key="ad_n", bind="query-params")
    m = j2.slider(t_("outputs m", "输出维度 m"), 1, 32, 2, key="ad_m", bind="query-params")
    fwd, rev = ui.cached(jacobian_cost)(n, m)
    ui.show_figure(vz.jacobian_cost_figure(fwd, rev), "ad_jac", t_(
        f"f(x) = tanh(W x), W is {m}x{n}: forward mode needs n = {fwd.sweeps} sweeps (one per "
        f"column), reverse mode m = {rev.sweeps} (one per row). Make m = 1 (a loss): reverse wins.",
        f"f(x) = tanh(W x)，W 为 {m}x{n}：前向模式需要 n = {fwd.sweeps} 次扫描（每列一次），"
        f"反向模式需要 m = {rev.sweeps} 次（每行一次）。令 m = 1（损失函数）时反向模式胜出。"),
        rows=[dict(mode=r.mode, sweeps=r.sweeps, rule_calls=r.rule_calls) for r in (fwd, rev)])

with tab_ways, ui.guard():
    w1, w2 = st.columns(2)
    dtype = w1.radio(t_("Arithmetic", "浮点精度"), ["float64", "float32"], horizontal=True,
                     key="ad_dtype", bind="query-params")
    depth = w2.slider(t_("Nesting depth for swell", "表达式膨胀的嵌套深度"), 2, 12, 8, key="ad_depth",
                      bind="query-params")
    ways = ui.cached(four_ways)(program, dtype, depth)
    var, text, exact, rows, swell, trace_len = (ways.var, ways.derivative, ways.exact,
                                                ways.differences, ways.swell, ways.trace_ops)
    if ways.fallback:
        st.caption(t_("This program is not a scalar elementwise one: the survey's example is used.",
                      "当前程序不是标量逐元素程序：这里改用综述中的例子。"))
    best = symbolic.best_step(rows)
    a, b, c, d = st.columns(4)
    a.metric(t_("Manual / symbolic", "手工 / 符号"), f"{exact:.6g}")
    b.metric(t_("Best central difference", "最佳中心差分"), f"{best.central:.6g}",
             f"h = {best.h:.0e}, error {best.central_error:.1e}", delta_color="off")
    c.metric(t_("Symbolic tree size (depth n)", "符号导数规模（深度 n）"), f"{swell[-1].naive_size:,}")
    d.metric(t_("AD trace size (depth n)", "AD 轨迹规模（深度 n）"), f"{swell[-1].ad_trace:,}")
    st.code(f"d/d{var} = {text}", "text")
    st.caption(t_(f"AD on this program: {trace_len} ops in the forward sweep, at most {trace_len} "
                  "VJPs in the backward sweep — the trace grows with the program, not with the "
                  "size of the derivative's formula.",
                  f"对本程序做 AD：前向扫描 {trace_len} 个运算，反向扫描至多 {trace_len} 次 VJP——"
                  "轨迹随程序长度增长，而不随导数公式的大小增长。"))
    ui.show_figure(vz.error_vs_h_figure(rows), "ad_h", t_(
        "Right to left, h shrinks: the error first falls (truncation, slope 1 forward, 2 central) "
        "then rises again (round-off ~ eps/h). Switch to float32 to see the bottom move up.",
        "从右往左 h 变小：误差先下降（截断误差，前向斜率 1、中心斜率 2），再上升（舍入误差约 eps/h）。"
        "切换到 float32，U 形底部会抬高。"), rows=[r.__dict__ for r in rows])
    ui.show_figure(vz.swell_figure(swell), "ad_swell", t_(
        "The symbolic derivative's tree roughly doubles per level; the AD trace grows by 3 ops.",
        "符号导数的表达式树每加一层约翻一倍；AD 轨迹每层只多 3 个运算。"),
        rows=[r.__dict__ for r in swell])

ui.lesson("autodiff")
