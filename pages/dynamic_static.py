"""Dynamic vs static graphs: what eager autograd, torch.fx, jit.trace and dynamo/export see in one function."""
from __future__ import annotations

import streamlit as st

import ui
from ui.heavy import cached_heavy
from engine.framework import graph_capture as tg
from viz.graph import graph_figure
from viz.scheduling import localize_legend

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


def say(cap) -> str:
    """What happened to this capture, in the page's language (numbers from the engine)."""
    d = cap.details
    if cap.method == "eager":
        return t_(f"The result has grad_fn={d['grad_fn']}; {d['nodes']} backward nodes were recorded "
                  "while the code ran — a fresh graph on every call.",
                  f"结果的 grad_fn={d['grad_fn']}；代码运行时记录了 {d['nodes']} 个反向节点——每次调用都重建一张新图。")
    if cap.method == "fx":
        return t_(f"{d['calls']} calls recorded on Proxy objects, without real data.",
                  f"在 Proxy 对象上记录了 {d['calls']} 个调用，没有用到真实数据。")
    if cap.method == "jit":
        if not d["frozen"]:
            return t_("The traced graph also gives the right answer on the other input.",
                      "追踪得到的图在另一输入上也给出正确答案。")
        return t_(f"On an input taking the other path the traced graph returns {d['traced_other']:.4g} "
                  f"but eager Python returns {d['eager_other']:.4g}: tracing froze the example's path.",
                  f"在走另一条分支的输入上，追踪图返回 {d['traced_other']:.4g}，而 eager Python 返回 "
                  f"{d['eager_other']:.4g}：追踪把示例输入走过的路径冻结了。")
    if cap.method == "dynamo":
        why = "; ".join(d["reasons"])
        return t_(f"{d['graphs']} graph(s), {d['breaks']} graph break(s)"
                  + (f": {why} (a jump on a tensor's value cannot be decided while compiling, so the "
                     "graph ends there and Python decides)." if why else "."),
                  f"{d['graphs']} 张图，{d['breaks']} 次图中断"
                  + (f"：{why}（依赖张量数值的跳转在编译时无法决定，于是图在此结束，交给 Python 决定）。"
                     if why else "。"))
    if d.get("other_ok", True):
        return t_("One graph captured; it also runs on the other input.", "捕获到一张图；它在另一输入上也能运行。")
    return t_("One graph captured; " + d["other"] + ".",
              "捕获到一张图；导出的程序拒绝了另一输入（它特化时设下的守卫失败了）："
              + d["other"].split("failed): ", 1)[-1] + "。")


def verdict(cap) -> str:
    """One short line per capture for the summary table."""
    if not cap.ok:
        return t_("✗ refused: ", "✗ 拒绝：") + cap.message.split(":")[0]
    d, n = cap.details, len(cap.dag.nodes)
    if cap.method == "jit" and d["frozen"]:
        return t_(f"⚠ graph of {n} nodes, silently wrong on the other branch",
                  f"⚠ 得到 {n} 个节点的图，但在另一分支上悄悄算错")
    if cap.method == "dynamo":
        return t_(f"✓ {d['graphs']} graph(s), {d['breaks']} graph break(s)",
                  f"✓ {d['graphs']} 张图，{d['breaks']} 次图中断")
    if cap.method == "export" and not d.get("other_ok", True):
        return t_(f"⚠ graph of {n} nodes, refuses the other input (guard)",
                  f"⚠ 得到 {n} 个节点的图，但拒绝另一输入（守卫）")
    return t_(f"✓ graph of {n} nodes", f"✓ 得到 {n} 个节点的图")


WHY_ZH = {"fx": "符号追踪在 Proxy 对象上运行代码；对 Proxy 做 if/while 需要一个真正的 True/False，而此时它还不存在",
          "export": "导出需要一张对所有输入都成立的图；而分支依赖一个导出时还不知道的值"}


def draw(cap, key: str) -> None:
    if not cap.ok:
        st.warning(cap.message)          # torch's own error text, as the student would see it
        if "why" in cap.details:
            st.caption(t_("Why: ", "原因：") + t_(cap.details["why"], WHY_ZH.get(cap.method, cap.details["why"])))
        return
    groups = [list(m) for _, m in cap.dag.groups] or None
    fig = graph_figure(cap.dag.to_graph(), groups=groups, zh=ui.lang() == "zh", title=t_(*TITLES[cap.method]), height=400)
    fig.update_layout(legend_xanchor="left")       # legend inside the plot: the graph keeps the width
    localize_legend(fig, ui.lang() == "zh")
    ui.show_figure(fig, key, say(cap), data=cap.dag)


with ui.controls():
    name = st.selectbox(t_("Function", "函数"), list(tg.MENU), index=1, key="ds_fn",
                        bind="query-params",   # one label in both languages: the URL keeps it
                        format_func=lambda n: f"{n} · {tg.MENU[n].en} · {tg.MENU[n].zh}")
    st.code(tg.menu_source(name), "python")

with ui.guard(t_("Capture failed", "捕获失败")), st.spinner(t_("Tracing with torch (the first "
                                                           "compile takes a few seconds)...",
                                                           "正在用 torch 追踪（首次编译需要几秒）...")):
    caps = cached_heavy(captures, "torch")(name)
    st.dataframe([{t_("capture", "捕获方式"): t_(*TITLES[c.method]), t_("result", "结果"): verdict(c)}
                  for c in caps.all()], hide_index=True)
    tabs = st.tabs([t_(*TITLES[m]).split(" (")[0].split("（")[0] for m in ("eager", "fx", "jit", "dynamo", "export")])
    for tab, cap in zip(tabs, caps.all()):
        with tab:
            draw(cap, f"ds_{cap.method}")
            if cap.method == "jit" and cap.ok:
                jit = cap.details
                a, b = st.columns(2)
                a.metric(t_("Eager on the other input", "Eager 在另一输入上"), f"{jit['eager_other']:.4g}")
                b.metric(t_("Traced graph on it", "追踪图在该输入上"), f"{jit['traced_other']:.4g}",
                         t_("frozen path: wrong", "路径被冻结：结果错误") if jit["frozen"] else
                         t_("same", "一致"), delta_color="inverse" if jit["frozen"] else "off")
                for w in jit["warnings"]:
                    st.caption(f"TracerWarning: {w}")
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
