"""Memory planning: tensor lifetimes packed into one arena, naive vs greedy strategies."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler import lab, memory_plan as mp
from viz.compiler import ZH, arena_figure, lifetime_gantt

ui.setup("memory_planning", "Memory planning", "内存规划",
         "Each tensor needs its bytes only while it is live. Packing lifetimes into one arena is a "
         "2-D puzzle: time × bytes.", "张量只在存活期间需要内存。把生命周期装进同一块内存是一个“时间 × 字节”的二维拼图。")
t_ = ui.t
SOURCES = {"graph": t_("Graph", "计算图"), "random": t_("Random intervals", "随机区间"),
           "custom": t_("Your intervals", "自定义区间")}
ZOO = "resnet18 (torch → ONNX)"
# TFLite GPU delegate's memory_management_test.cc, ComplexRecords: size first last
STRATEGY_NAMES = {"naive": t_("naive (no reuse)", "朴素（不复用）"),
                  "greedy_by_size": t_("greedy by size (Pisarchyk & Lee)", "按大小贪心（Pisarchyk & Lee）"),
                  "greedy_by_breadth": t_("greedy by breadth", "按宽度贪心")}
TFLITE = "32 0 1\n32 1 4\n8 2 5\n16 3 5\n8 4 5\n64 5 7\n8 6 8\n8 7 8\n16 8 9\n"


fit, shared = ui.figure_view(ZH)
arena_figure = shared(arena_figure)
lifetime_gantt = shared(lifetime_gantt, words=False)


def graph_plan(model: str, strategy: str, inplace: bool):
    if model == ZOO:
        from engine.interop.torch_zoo import zoo_graph
        graph = zoo_graph("resnet18")
    else:
        graph = engine.preset(model)
    return mp.plan_graph(graph, strategy, inplace)


def buffers_of(source: str, count: int, seed: int, text: str):
    return lab.random_buffers(count, seed) if source == "random" else lab.parse_buffers(text)


def interval_plan(source: str, count: int, seed: int, text: str, strategy: str):
    return mp.plan_buffers(buffers_of(source, count, seed, text), strategy)


with ui.controls():
    c = st.columns([2, 2, 2])
    source = c[0].radio(t_("Tensors from", "张量来源"), list(SOURCES), format_func=SOURCES.get,
                        key="mp_source", bind="query-params")
    strategy = c[1].selectbox(t_("Strategy", "策略"), list(mp.STRATEGIES), index=1,
                              format_func=lambda k: STRATEGY_NAMES.get(k, k), key="mp_strategy", bind="query-params")
    model, inplace, count, seed, text = "resnet_basic_block", False, 40, 0, TFLITE
    if source == "graph":
        model = c[2].selectbox(t_("Model", "模型"), [*engine.preset_names(), ZOO], index=3,
                               key="mp_model", bind="query-params")
        inplace = c[2].toggle(t_("In-place reuse for elementwise ops", "逐元素算子原地复用"), False,
                              key="mp_inplace", bind="query-params")
    elif source == "random":
        count = c[2].slider(t_("Tensors", "张量数"), 2, 400, 40, key="mp_count", bind="query-params")
        seed = c[2].number_input(t_("Seed", "随机种子"), 0, 10_000, 0, key="mp_seed",
                                 bind="query-params")
    else:
        text = c[2].text_area(t_("One tensor per line: size first_op last_op",
                                 "每行一个张量：大小 首个算子 末个算子"), TFLITE, height=200,
                              key="mp_text", bind="query-params")

plan = None
with ui.guard(t_("Cannot plan", "无法规划")):
    if source == "graph":
        plan = ui.cached(graph_plan)(model, strategy, inplace)
    else:
        plan = ui.cached(interval_plan)(source, count, seed, text, strategy)

CK = f"mp_ck_{source}_{model}_{count}_{seed}_{hash(text)}_{inplace}"


def revealed() -> bool:
    return f"{CK}_done" in st.session_state


if plan is not None:
    m = st.columns(4)
    m[0].metric(t_("arena (bytes)", "内存池（字节）"), f"{plan.arena:,}")
    m[1].metric(t_("naive: no reuse (bytes)", "朴素：不复用（字节）"), f"{plan.naive:,}")
    m[2].metric(t_("lower bound (bytes)", "下界（字节）"), f"{plan.lower_bound:,}" if revealed() else "?",
                help=t_("Answer the checkpoint below to reveal it.", "先回答下方的预测题再揭晓。"))
    m[3].metric(t_("arena / lower bound", "内存池 / 下界"),
                f"{plan.arena / plan.lower_bound:.3f}" if plan.lower_bound and revealed() else "?")
    if plan.merged:
        st.caption(t_(f"In place: {len(plan.merged)} elementwise outputs overwrite an input that dies "
                      "there.", f"原地复用：{len(plan.merged)} 个逐元素算子的输出覆盖了在此处死亡的输入。"))
    ui.show_figure(fit(arena_figure(plan, t_(f"Arena packing — {STRATEGY_NAMES.get(strategy, strategy)}",
                                             f"内存池布局 —— {STRATEGY_NAMES.get(strategy, strategy)}"),
                                    show_bound=revealed())),
                   "mp_arena",
                   t_("Each rectangle is a tensor: its width is its lifetime, its height its bytes; "
                      "rectangles may touch but never overlap.",
                      "每个矩形是一个张量：宽度是生命周期，高度是字节数；矩形可以相邻但不能重叠。"),
                   data=plan, rows=[{"name": n, "size": s, "first": f, "last": la, "offset": o}
                                    for n, s, f, la, o in zip(plan.names, plan.sizes, plan.firsts,
                                                              plan.lasts, plan.offsets)])
    ui.show_figure(fit(lifetime_gantt(plan, t_("Tensor lifetimes (bar text = bytes)", "张量生命周期（条内 = 字节数）")),
                       words=False), "mp_life",
                   t_("The lower bound is the tallest stack of bars at one op.",
                      "下界就是某一时刻叠得最高的那一摞。"))
    shown = revealed()
    answer = ui.checkpoint(CK, t_("What is the lower bound: the most bytes live at the same op?",
                                  "下界是多少：同一时刻存活张量字节数的最大值？"),
                           plan.lower_bound, t_("Find the op where the bars of the lifetime chart stack "
                                                "highest.", "在生命周期图中找到叠得最高的那个时刻。"), rel_tol=0.0)
    if answer is not None and not shown:
        st.rerun()                       # reveal the lower-bound metric above
    with ui.guard():
        rows = []
        for s in mp.STRATEGIES:
            other = (ui.cached(graph_plan)(model, s, inplace) if source == "graph"
                     else ui.cached(interval_plan)(source, count, seed, text, s))
            rows.append({t_("strategy", "策略"): STRATEGY_NAMES.get(s, s),
                         t_("arena (bytes)", "内存池（字节）"): other.arena,
                         t_("arena / lower bound", "内存池 / 下界"): round(other.arena / max(other.lower_bound, 1), 3)})
        st.dataframe(rows, hide_index=True, width="stretch")

ui.lesson("memory_planning")
