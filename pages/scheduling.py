"""Graph scheduling lab: a FIFO ready queue on streams and devices, three execution modes, dispatch."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

import ui
from engine import presets
from engine.framework.scheduling import MODES, PLACEMENTS, Config, dispatch_steps, schedule_trace, simulate
from viz import scheduling as vs
from viz.graph import graph_figure

ui.setup("scheduling", "Graph scheduling", "计算图调度与执行",
         "Ready queues, streams, devices and the critical path on a timeline.",
         "就绪队列、多流、多设备与关键路径的时间线。")
t_ = ui.t
zh = ui.lang() == "zh"
MODE_NAMES = {"op_by_op": ("op by op (eager)", "逐算子（动态图）"),
              "whole_graph": ("whole graph on the device", "整图下沉"),
              "split": ("split across devices", "切分到多设备")}
PLACE_NAMES = {"accel": ("all on the accelerator", "全部在加速器"), "cpu": ("all on the CPU", "全部在 CPU"),
               "heavy_on_accel": ("heavy → accel, light → CPU", "重算子→加速器，轻算子→CPU"),
               "halves": ("halves on accel0 / accel1", "前后两半分到 accel0 / accel1")}


def config(streams: int, accels: int, host_us: float, link_gbps: float) -> Config:
    return replace(Config(), streams=streams, accel_count=accels, host_dispatch_us=host_us,
                   link_bandwidth=link_gbps * 1e9, heavy_flops=2e5)


def run(name: str, mode: str, placement: str, streams: int, accels: int, host_us: float,
        link_gbps: float):
    cfg = config(streams, accels, host_us, link_gbps)
    return schedule_trace(presets.preset(name), mode, placement, cfg)


def totals(name: str, placement: str, streams: int, accels: int, host_us: float, link_gbps: float):
    cfg = config(streams, accels, host_us, link_gbps)
    graph = presets.preset(name)
    return {m: simulate(graph, m, placement if m != "whole_graph" else "accel", cfg).total_us
            for m in MODES}


with ui.controls():
    c1, c2, c3 = st.columns(3)
    names = [p for p in presets.preset_names() if p != "autodiff_example"]
    name = c1.selectbox(t_("Graph", "计算图"), names, index=names.index("resnet_basic_block"),
                        key="sc_preset", bind="query-params")
    mode = c2.radio(t_("Execution mode", "执行模式"), MODES, index=1, key="sc_mode",
                    bind="query-params", format_func=lambda m: " · ".join(MODE_NAMES[m]))  # same in both languages: the URL keeps it
    placement = c3.selectbox(t_("Placement (op by op / split)", "放置策略（逐算子 / 切分）"), PLACEMENTS,
                             index=2, key="sc_place", bind="query-params",
                             format_func=lambda p: " · ".join(PLACE_NAMES[p]))
    d1, d2, d3, d4 = st.columns(4)
    streams = d1.slider(t_("Streams per device", "每个设备的流数"), 1, 4, 2, key="sc_streams",
                        bind="query-params")
    accels = d2.slider(t_("Accelerators", "加速器个数"), 1, 2, 1, key="sc_accels", bind="query-params")
    host_us = d3.slider(t_("Host dispatch per op (µs)", "每个算子的主机分发开销 (µs)"), 0, 50, 10,
                        key="sc_host", bind="query-params")
    link = d4.select_slider(t_("Link bandwidth (GB/s)", "链路带宽 (GB/s)"), [4, 8, 16, 25, 64, 300],
                            25, key="sc_link", bind="query-params")

with ui.guard(t_("Cannot schedule", "无法调度")):
    trace = ui.cached(run)(name, mode, placement, streams, accels, float(host_us), float(link))
    sched = trace.summary
    def show_step(k: int) -> None:
        step = trace[k]
        title, log = vs.step_text(step, zh)
        # the timeline answers the controls: right under the stepper; then totals, the step, the graph
        ui.show_figure(vs.schedule_gantt(sched, set(step.data["scheduled"]), zh=zh), "sc_gantt", t_(
            "Bars appear as the scheduler places them; the black outline is the critical path "
            "(each start fixed by the bar before it). Grey = host, yellow = transfers.",
            "条形随调度逐步出现；黑框是关键路径（每个开始时刻由前一个条形决定）。灰色=主机，黄色=传输。"),
            rows=[e.__dict__ for e in sched.timeline.events])
        m = st.columns(4)
        m[0].metric(t_("Total time", "总时间"), f"{sched.total_us:.1f} µs")
        m[1].metric(t_("Host dispatches", "主机分发次数"), sched.dispatches)
        m[2].metric(t_("Data over the link", "链路传输量"), f"{sched.transfer_bytes / 1024:,.1f} KiB")
        m[3].metric(t_("Critical path events", "关键路径事件数"), len(sched.timeline.critical))
        st.info(log)
        ui.show_figure(vs.localize_legend(graph_figure(presets.preset(name), highlight=step.highlight,
                                    changed=step.data["scheduled"][:-1], title=title, direction="LR",
                                    height=340).update_layout(legend_xanchor="left"), zh),  # legend inside the plot
                       "sc_graph", t_("Lit: the op taken from the head of the ready queue; "
                                      "orange: ops already scheduled.",
                                      "高亮：从就绪队列队首取出的算子；橙色：已调度的算子。"))
    ui.stepper("sc_step", len(trace), render=show_step)
    u1, u2 = st.columns(2)
    with u1:
        ui.show_figure(vs.utilization_figure(sched, t_("Busy share of each lane", "各通道的忙碌占比"), zh=zh),
                       "sc_util", t_(
            "Utilisation = busy time / total time. In eager mode the host is the busy lane.",
            "利用率 = 忙碌时间 / 总时间。逐算子执行时，主机才是最忙的那一条。"))
    with u2:
        tot = ui.cached(totals)(name, placement, streams, accels, float(host_us), float(link))
        ui.show_figure(vs.modes_figure({t_(*MODE_NAMES[k_]): v for k_, v in tot.items()},
                                       t_("Total time by execution mode", "各执行模式的总时间"), zh=zh), "sc_modes",
                       t_("The same graph in the three modes (whole graph always on the accelerator).",
                          "同一张图的三种执行模式（整图下沉时全部在加速器上）。"), rows=[tot])
    ui.checkpoint("sc_ck_eager", t_("With op-by-op execution, which lane is busiest for this small "
                                    "graph?", "逐算子执行这张小图时，哪条通道最忙？"),
                  "host", t_("Each op pays the host dispatch before its kernel can start.",
                             "每个算子在内核启动前都要付主机分发的开销。"),
                  choices=["host", "accel0/s0", "cpu/s0", "link cpu->accel0"])

st.subheader(t_("How one PyTorch op call is dispatched", "PyTorch 中一次算子调用如何被分发"))
e1, e2, e3 = st.columns(3)
op = e1.selectbox(t_("Op", "算子"), ["add", "mul", "matmul", "relu"], key="sc_op", bind="query-params")
grad = e2.toggle(t_("Inputs require grad", "输入需要梯度"), True, key="sc_grad", bind="query-params")
device = e3.radio(t_("Device", "设备"), ["cuda", "cpu"], horizontal=True, key="sc_dev",
                  bind="query-params")
with ui.guard():
    dtrace = dispatch_steps(op, grad, device)
    def show_dispatch(dk: int) -> None:
        call = dtrace.title.split(" of ", 1)[-1].split(" on ")[0]
        ui.show_figure(vs.dispatch_figure(dtrace, dk, t_(dtrace.title, f"{call} 在 {device} 上的分发路径"), zh=zh),
                       "sc_dispatch", t_(
            "The dispatcher picks the highest-priority key: Autograd first (records grad_fn), then the "
            "backend kernel.", "分发器选择优先级最高的键：先是 Autograd（记录 grad_fn），再是后端内核。"))
        d = dtrace[dk].data
        st.caption(t_(dtrace[dk].log, f"{d['what_zh']}（{d['why_zh']}）"))
    ui.stepper("sc_dstep", len(dtrace), render=show_dispatch, main=False)

ui.lesson("scheduling")
