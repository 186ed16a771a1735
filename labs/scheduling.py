"""Graph scheduling lab: your graph (or an example) through a FIFO ready queue on streams and
devices, three execution modes, dispatch."""
from __future__ import annotations

import zlib
from dataclasses import replace

import streamlit as st

import ui
from engine import presets
from engine.framework import lab
from engine.framework.scheduling import MODES, PLACEMENTS, Config, dispatch_steps, simulate
from ui import workspace as ws
from ui.heavy import cached_heavy, run_heavy
from viz import scheduling as vs

ui.setup("scheduling",
         "Graph scheduling",
         "Ready queues, streams, devices and the critical path on a timeline.")
t_ = ui.t
fit, shared = ui.figure_view()   # figures built once per (cache_key, language, presenter mode)
gantt_fig, graph_fig, util_fig, modes_fig, dispatch_fig = map(shared, (
    vs.schedule_gantt, vs.scheduled_graph, vs.utilization_figure, vs.modes_figure, vs.dispatch_figure))
MODE_NAMES = {"op_by_op": "op by op (eager)",
              "whole_graph": "whole graph on the device",
              "split": "split across devices"}
PLACE_NAMES = {"accel": "all on the accelerator", "cpu": "all on the CPU",
               "heavy_on_accel": "heavy → accel, light → CPU",
               "halves": "halves on accel0 / accel1"}


def config(streams: int, accels: int, host_us: float, link_gbps: float) -> Config:
    return replace(Config(), streams=streams, accel_count=accels, host_dispatch_us=host_us,
                   link_bandwidth=link_gbps * 1e9, heavy_flops=2e5)


def built(g: str):
    return ws.graph_of(ws.parse_g(g))[0]


def run(g: str, mode: str, placement: str, streams: int, accels: int, host_us: float, link_gbps: float):
    return lab.schedule_view(built(g), mode, placement, config(streams, accels, host_us, link_gbps))


def totals(g: str, placement: str, streams: int, accels: int, host_us: float, link_gbps: float):
    """Total time per mode, and the busiest lane op by op (the checkpoint's answer)."""
    cfg, graph = config(streams, accels, host_us, link_gbps), built(g)
    runs = {m: simulate(graph, m, placement if m != "whole_graph" else "accel", cfg) for m in MODES}
    util = runs["op_by_op"].utilization
    return {m: r.total_us for m, r in runs.items()}, max(util, key=util.get), tuple(util)


@ui.section   # the graph, mode and machine controls and the schedule they drive: a pick reruns only them
def schedule_view() -> None:
    with ui.controls():
        c1, c2, c3 = st.columns(3)
        examples = [f"preset:{p}" for p in presets.preset_names() if p != "autodiff_example"]
        choice = ws.choose("sc_preset", examples=examples, label="Graph", slot=c1)
        mode = ui.by_id(c2).radio(t_("Execution mode"), MODES, index=1, key="sc_mode",
                                  bind="query-params",   # the URL keeps the id (op_by_op, ...)
                                  format_func=lambda m: t_(MODE_NAMES[m]))
        placement = ui.by_id(c3).selectbox(t_("Placement (op by op / split)"), PLACEMENTS,
                                           index=2, key="sc_place", bind="query-params",
                                           format_func=lambda p: t_(PLACE_NAMES[p]))
        d1, d2, d3, d4 = st.columns(4)
        streams = d1.slider(t_("Streams per device"), 1, 4, 2, key="sc_streams",
                            bind="query-params")
        accels = d2.slider(t_("Accelerators"), 1, 2, 1, key="sc_accels", bind="query-params")
        host_us = d3.slider(t_("Host dispatch per op (µs)"), 0, 50, 10,
                            key="sc_host", bind="query-params")
        link = d4.select_slider(t_("Link bandwidth (GB/s)"), [4, 8, 16, 25, 64, 300],
                                25, key="sc_link", bind="query-params")

    with ui.guard("Cannot schedule"):
        g = choice.source.g if choice is not None else ws.DEFAULT   # None: its message is shown
        graph, knobs = built(g), (streams, accels, float(host_us), float(link))
        trace = ui.cached_resource(run_heavy(run, "schedule"))(g, mode, placement, *knobs)
        sched, key = trace.summary, (g, mode, placement, *knobs)
        if len(graph.op_nodes) > len(trace) or len(sched.timeline.events) > vs.GANTT_BARS:
            st.caption(t_("This graph has {ops} ops: the stepper shows the first {steps} scheduling "
                          "decisions and the timeline the first {bars} bars; the totals cover the whole "
                          "schedule.", ops=len(graph.op_nodes), steps=len(trace), bars=vs.GANTT_BARS))
        def main_figure(k: int):
            return gantt_fig(sched, set(trace[k].data["scheduled"]), cache_key=(*key, k))

        def show_step(k: int) -> None:
            step = trace[k]
            title, log = vs.step_text(step, ui.t_message)
            # the timeline answers the controls: right under the stepper; then totals, the step, the graph
            ui.show_figure(main_figure(k), "sc_gantt",
                           t_("Bars appear as the scheduler places them; the black outline is the critical "
                              "path (each start fixed by the bar before it). Grey = host, yellow = "
                              "transfers."),
                           rows=[e.__dict__ for e in sched.timeline.events])
            m = st.columns(4)
            m[0].metric(t_("Total time"), f"{sched.total_us:.1f} µs")
            m[1].metric(t_("Host dispatches"), sched.dispatches)
            m[2].metric(t_("Data over the link"), f"{sched.transfer_bytes / 1024:,.1f} KiB")
            m[3].metric(t_("Critical path events"), len(sched.timeline.critical))
            st.info(log)
            if len(graph.nodes) > vs.DRAW_NODES:
                st.caption(t_("The graph itself is not drawn here: {n} nodes are too many to tell the "
                              "scheduled ones apart (the Graph Builder draws it).", n=len(graph.nodes)))
                return
            done = step.data["scheduled"][:-1]
            ui.show_figure(graph_fig(graph, step.highlight, done, title, cache_key=(*key, k)),
                           "sc_graph", t_("Lit: the op taken from the head of the ready queue; orange: ops "
                                          "already scheduled."))
        ui.stepper("sc_step", len(trace), render=show_step, frame=main_figure)
        u1, u2 = st.columns(2)
        with u1:
            ui.show_figure(util_fig(sched, t_("Busy share of each lane"), cache_key=key),
                           "sc_util", t_("Utilisation = busy time / total time. In eager mode the host is "
                                         "the busy lane."))
        with u2:
            tot, busiest, lanes = cached_heavy(totals, "schedule")(g, placement, *knobs)
            ui.show_figure(modes_fig({t_(MODE_NAMES[k_]): v for k_, v in tot.items()},
                                     t_("Total time by execution mode"), cache_key=(g, placement, *knobs)),
                           "sc_modes",
                           t_("The same graph in the three modes (whole graph always on the accelerator)."),
                           rows=[tot])
        ui.checkpoint(f"sc_ck_eager_{zlib.crc32(repr((g, lanes)).encode()):x}",
                      t_("With op-by-op execution, which lane is busiest for this graph?"), busiest,
                      t_("Each op pays the host dispatch before its kernel can start; a heavy op's kernel "
                         "can outlast it."), choices=list(lanes))


schedule_view()

st.subheader(t_("How one PyTorch op call is dispatched"))
e1, e2, e3 = st.columns(3)
op = e1.selectbox(t_("Op"), ["add", "mul", "matmul", "relu"], key="sc_op", bind="query-params")
grad = e2.toggle(t_("Inputs require grad"), True, key="sc_grad", bind="query-params")
device = e3.radio(t_("Device"), ["cuda", "cpu"], horizontal=True, key="sc_dev",
                  bind="query-params")
with ui.guard():
    dtrace = dispatch_steps(op, grad, device)
    def dispatch_figure(dk: int):
        return dispatch_fig(dtrace, dk, ui.t_message(dtrace.title), say=ui.t_message,
                            cache_key=(op, grad, device, dk))

    def show_dispatch(dk: int) -> None:
        ui.show_figure(dispatch_figure(dk),
                       "sc_dispatch", t_("The dispatcher picks the highest-priority key: Autograd "
                                         "first (records grad_fn), then the backend kernel."))
        st.caption(ui.t_message(dtrace[dk].log))
    ui.stepper("sc_dstep", len(dtrace), render=show_dispatch, main=False, frame=dispatch_figure)

ui.lesson("scheduling")
