"""Graph scheduling lab: a FIFO ready queue on streams and devices, three execution modes, dispatch."""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

import ui
from engine import presets
from engine.framework.scheduling import MODES, PLACEMENTS, Config, dispatch_steps, schedule_trace, simulate
from viz import scheduling as vs

ui.setup("scheduling",
         "Graph scheduling",
         "Ready queues, streams, devices and the critical path on a timeline.")
t_, tr = ui.t, ui.translator()
MODE_NAMES = {"op_by_op": "op by op (eager)",
              "whole_graph": "whole graph on the device",
              "split": "split across devices"}
PLACE_NAMES = {"accel": "all on the accelerator", "cpu": "all on the CPU",
               "heavy_on_accel": "heavy → accel, light → CPU",
               "halves": "halves on accel0 / accel1"}


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
    name = c1.selectbox(t_("Graph"), names, index=names.index("resnet_basic_block"),
                        key="sc_preset", bind="query-params")
    mode = c2.radio(t_("Execution mode"), MODES, index=1, key="sc_mode",
                    bind="query-params",   # same in both languages: the URL keeps it
                    format_func=lambda m: ui.both(MODE_NAMES[m]))
    placement = c3.selectbox(t_("Placement (op by op / split)"), PLACEMENTS,
                             index=2, key="sc_place", bind="query-params",
                             format_func=lambda p: ui.both(PLACE_NAMES[p]))
    d1, d2, d3, d4 = st.columns(4)
    streams = d1.slider(t_("Streams per device"), 1, 4, 2, key="sc_streams",
                        bind="query-params")
    accels = d2.slider(t_("Accelerators"), 1, 2, 1, key="sc_accels", bind="query-params")
    host_us = d3.slider(t_("Host dispatch per op (µs)"), 0, 50, 10,
                        key="sc_host", bind="query-params")
    link = d4.select_slider(t_("Link bandwidth (GB/s)"), [4, 8, 16, 25, 64, 300],
                            25, key="sc_link", bind="query-params")

with ui.guard("Cannot schedule"):
    trace = ui.cached(run)(name, mode, placement, streams, accels, float(host_us), float(link))
    sched = trace.summary
    def show_step(k: int) -> None:
        step = trace[k]
        title, log = vs.step_text(step, ui.t_message)
        # the timeline answers the controls: right under the stepper; then totals, the step, the graph
        ui.show_figure(vs.schedule_gantt(sched, set(step.data["scheduled"]), tr=tr), "sc_gantt",
                       t_("Bars appear as the scheduler places them; the black outline is the critical "
                          "path (each start fixed by the bar before it). Grey = host, yellow = transfers."),
                       rows=[e.__dict__ for e in sched.timeline.events])
        m = st.columns(4)
        m[0].metric(t_("Total time"), f"{sched.total_us:.1f} µs")
        m[1].metric(t_("Host dispatches"), sched.dispatches)
        m[2].metric(t_("Data over the link"), f"{sched.transfer_bytes / 1024:,.1f} KiB")
        m[3].metric(t_("Critical path events"), len(sched.timeline.critical))
        st.info(log)
        ui.show_figure(vs.scheduled_graph(presets.preset(name), step.highlight, step.data["scheduled"][:-1],
                                          title, tr=tr),
                       "sc_graph", t_("Lit: the op taken from the head of the ready queue; orange: ops "
                                      "already scheduled."))
    ui.stepper("sc_step", len(trace), render=show_step)
    u1, u2 = st.columns(2)
    with u1:
        ui.show_figure(vs.utilization_figure(sched, t_("Busy share of each lane"), tr=tr),
                       "sc_util", t_("Utilisation = busy time / total time. In eager mode the host is "
                                     "the busy lane."))
    with u2:
        tot = ui.cached(totals)(name, placement, streams, accels, float(host_us), float(link))
        ui.show_figure(vs.modes_figure({t_(MODE_NAMES[k_]): v for k_, v in tot.items()},
                                       t_("Total time by execution mode"), tr=tr), "sc_modes",
                       t_("The same graph in the three modes (whole graph always on the accelerator)."),
                       rows=[tot])
    ui.checkpoint("sc_ck_eager", t_("With op-by-op execution, which lane is busiest for this small "
                                    "graph?"),
                  "host", t_("Each op pays the host dispatch before its kernel can start."),
                  choices=["host", "accel0/s0", "cpu/s0", "link cpu->accel0"])

st.subheader(t_("How one PyTorch op call is dispatched"))
e1, e2, e3 = st.columns(3)
op = e1.selectbox(t_("Op"), ["add", "mul", "matmul", "relu"], key="sc_op", bind="query-params")
grad = e2.toggle(t_("Inputs require grad"), True, key="sc_grad", bind="query-params")
device = e3.radio(t_("Device"), ["cuda", "cpu"], horizontal=True, key="sc_dev",
                  bind="query-params")
with ui.guard():
    dtrace = dispatch_steps(op, grad, device)
    def show_dispatch(dk: int) -> None:
        ui.show_figure(vs.dispatch_figure(dtrace, dk, ui.t_message(dtrace.title), tr=tr, say=ui.t_message),
                       "sc_dispatch", t_("The dispatcher picks the highest-priority key: Autograd "
                                         "first (records grad_fn), then the backend kernel."))
        st.caption(ui.t_message(dtrace[dk].log))
    ui.stepper("sc_dstep", len(dtrace), render=show_dispatch, main=False)

ui.lesson("scheduling")
