"""Dynamic vs static graphs: what eager autograd, torch.fx, jit.trace and dynamo/export see in one function."""
from __future__ import annotations

import streamlit as st

import ui
from engine import torch_graphs as tg
from viz.graph import graph_figure

ui.setup("dynamic_static", "Dynamic vs static graphs", "动态图与静态图",
         "What eager autograd, torch.fx, jit.trace and export see in the same code.",
         "同一段代码在 eager、torch.fx、jit.trace 与 export 眼中的样子。")
t_ = ui.t
TITLES = {"eager": ("1. Eager autograd (define-by-run)", "1. Eager 自动微分图（边运行边定义）"),
          "fx": ("2. torch.fx symbolic trace", "2. torch.fx 符号追踪"),
          "jit": ("3. torch.jit.trace", "3. torch.jit.trace 追踪"),
          "dynamo": ("4a. torch._dynamo (torch.compile)", "4a. torch._dynamo（torch.compile 前端）"),
          "export": ("4b. torch.export", "4b. torch.export 导出")}


def captures(name: str):
    return tg.capture_all(name)


def draw(cap, key: str) -> None:
    st.markdown(f"**{t_(*TITLES[cap.method])}**")
    if not cap.ok:
        st.warning(cap.message)
        if "why" in cap.details:
            st.caption(t_("Why: ", "原因：") + cap.details["why"])
        return
    groups = [list(m) for _, m in cap.dag.groups] or None
    fig = graph_figure(cap.dag.to_graph(), groups=groups, title=cap.dag.title, height=420)
    ui.show_figure(fig, key, cap.message, data=cap.dag)


with ui.controls():
    c1, c2 = st.columns([2, 3])
    name = c1.selectbox(t_("Function", "函数"), list(tg.MENU), index=1, key="ds_fn",
                        bind="query-params",
                        format_func=lambda n: f"{n}: {t_(tg.MENU[n].en, tg.MENU[n].zh)}")
    c2.code(tg.menu_source(name), "python")

with ui.guard(t_("Capture failed", "捕获失败")), st.spinner(t_("Tracing with torch (the first "
                                                           "compile takes a few seconds)...",
                                                           "正在用 torch 追踪（首次编译需要几秒）...")):
    caps = ui.cached(captures)(name)
    row1 = st.columns(2)
    with row1[0]:
        draw(caps.eager, "ds_eager")
    with row1[1]:
        draw(caps.fx, "ds_fx")
    row2 = st.columns(2)
    with row2[0]:
        draw(caps.jit, "ds_jit")
        jit = caps.jit.details
        if caps.jit.ok:
            a, b = st.columns(2)
            a.metric(t_("Eager on the other input", "Eager 在另一输入上"), f"{jit['eager_other']:.4g}")
            b.metric(t_("Traced graph on it", "追踪图在该输入上"), f"{jit['traced_other']:.4g}",
                     t_("frozen path: wrong", "路径被冻结：结果错误") if jit["frozen"] else
                     t_("same", "一致"), delta_color="inverse" if jit["frozen"] else "off")
            for w in jit["warnings"]:
                st.caption(f"TracerWarning: {w}")
    with row2[1]:
        draw(caps.dynamo, "ds_dynamo")
        draw(caps.export, "ds_export")
    ui.checkpoint("ds_ck_" + name, t_("Which capture can return a wrong number without raising "
                                      "any error on an input that takes the other branch?",
                                      "哪种捕获方式在另一分支的输入上会不报错却给出错误的数值？"),
                  "torch.jit.trace", t_("Tracing records only the tensor ops that ran; the Python "
                                        "if/while left no trace (only a TracerWarning).",
                                        "追踪只记录实际执行的张量运算；Python 的 if/while 不留痕迹（只有一条 TracerWarning）。"),
                  choices=["eager autograd", "torch.fx", "torch.jit.trace", "torch.export"])

st.markdown(t_(
    "| | define-by-run (dynamic) | define-then-run (static) |\n|---|---|---|\n"
    "| graph built | while the code runs, every call | once, before running |\n"
    "| Python if / while | just work (the branch taken is recorded) | must be captured: "
    "break, guard, `torch.cond`, or frozen |\n"
    "| whole-program optimisation | no (op by op) | yes: fusion, memory planning |\n"
    "| used in | PyTorch eager, research, debugging | torch.compile / export, ONNX, TF 1.x, XLA |",
    "| | 边运行边定义（动态图） | 先定义后运行（静态图） |\n|---|---|---|\n"
    "| 何时建图 | 代码运行时，每次调用都建 | 运行前建一次 |\n"
    "| Python 的 if / while | 直接可用（记录实际分支） | 必须被捕获：图中断、守卫、`torch.cond`，或被冻结 |\n"
    "| 全程序优化 | 无（逐算子） | 有：算子融合、内存规划 |\n"
    "| 用在哪里 | PyTorch eager、研究与调试 | torch.compile / export、ONNX、TF 1.x、XLA |"))

ui.lesson("dynamic_static")
