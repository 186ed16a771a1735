import streamlit as st

import ui
from engine.parallel import dp_designs as dpd
from engine.parallel.rpc_run import run_rpc
from ui.heavy import cached_heavy
from viz.dp_designs import DESIGN_WORDS, design_timeline, scaling_plot, traffic_bars

ui.setup("data_parallel_designs",
         "DP vs DDP vs parameter server",
         "Who sends what to whom every step: GPU 0's bottleneck, the ring, the server shards — and a "
         "parameter server for real with PyTorch RPC.")
fit, shared = ui.figure_view()
traffic_bars, scaling_plot = shared(traffic_bars), shared(scaling_plot)
design_timeline = shared(design_timeline)
BANDWIDTHS = [1.25, 3.0, 12.5, 25.0, 32.0, 64.0, 150.0, 300.0]


@ui.section   # the cluster, model, links and design pickers and all they drive: timeline, bytes, scaling
def designs_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns(4)
        n = c1.slider(ui.t("Workers N"), 2, dpd.MAX_SIM_WORKERS, 4, key="dpd_n", bind="query-params")
        psi = c2.select_slider(ui.t("Model Ψ (MB)"), [10, 25, 50, 100, 250, 500, 1000], 100, key="dpd_psi",
                               bind="query-params")
        compute = c3.slider(ui.t("Forward + backward per worker (ms)"), 3, 300, 30, key="dpd_compute",
                            bind="query-params")
        gpu_bw = c4.select_slider(ui.t("GPU link (GB/s per direction)"), BANDWIDTHS, 32.0, key="dpd_gpu_bw",
                                  bind="query-params")
        c5, c6, c7, c8 = st.columns(4)
        alpha = c5.slider(ui.t("Latency α per message (µs)"), 1, 200, 10, key="dpd_alpha",
                          bind="query-params")
        ps_bw = c6.select_slider(ui.t("Server link (GB/s per direction)"), BANDWIDTHS, 12.5, key="dpd_ps_bw",
                                 bind="query-params")
        shards = c7.slider(ui.t("Server shards S"), 1, 8, 1, key="dpd_shards", bind="query-params")
        mode = ui.by_id(c8).radio(ui.t("Parameter server"), ["sync", "async"], format_func=ui.t,
                                  horizontal=True, key="dpd_mode", bind="query-params")
        c9, c10, c11, c12 = st.columns(4)
        buckets = c9.slider(ui.t("DDP buckets B"), 1, 8, 4, key="dpd_buckets", bind="query-params")
        straggler = c10.select_slider(ui.t("Slowest worker (× compute)"), [1.0, 1.5, 2.0, 3.0, 4.0], 1.0,
                                      key="dpd_straggler", bind="query-params")
        inputs = c11.slider(ui.t("Input batch (MB)"), 0, 200, 10, key="dpd_in", bind="query-params")
        outputs = c12.slider(ui.t("Outputs (MB)"), 0, 200, 4, key="dpd_out", bind="query-params")
        design = ui.by_id(st).radio(ui.t("Design"), list(dpd.DESIGNS), horizontal=True, key="dpd_design",
                                    format_func=lambda d: ui.t(DESIGN_WORDS[d]), bind="query-params")

    setup = dpd.Setup(n, psi * 1e6, inputs * 1e6, outputs * 1e6, compute / 3e3, compute * 2 / 3e3,
                      alpha * 1e-6, gpu_bw * 1e9, ps_bw * 1e9, shards, buckets, mode, straggler)
    with ui.guard():
        runs = {d: ui.cached(dpd.run_design)(d, setup, 2) for d in dpd.DESIGNS}
        if not ui.presenting():  # presenter mode: the timeline and its stepper open the first screen
            st.subheader(ui.t("One design on a timeline"))
        chosen = runs[design]
        frames = 24

        def main_figure(k: int):
            now = chosen.timeline.makespan * k / (frames - 1)
            title = ui.t("{design}, two steps: t = {ms:.2f} ms", design=ui.t(DESIGN_WORDS[design]),
                         ms=now * 1e3)
            return fit(design_timeline(chosen, title, now, cache_key=(design, repr(setup), k)))

        def show_moment(k: int) -> None:
            now = chosen.timeline.makespan * k / (frames - 1)
            moved, running = dpd.snapshot(chosen, now)
            ui.show_figure(main_figure(k), "dpd_timeline",
                           ui.t("Bars = computation (forward, backward) and messages each node sends; GPU 0, "
                                "GPU 1, the last GPU and the server shards are drawn."),
                           rows=[{"lane": e.unit, "start_s": e.start, "end_s": e.end, "phase": e.label}
                                 for e in chosen.timeline.events])
            busy = max(moved, key=lambda node: moved[node]["out"] + moved[node]["in"])
            st.caption(ui.t("Running now: {phases}. Busiest node so far: {node}, {out:.1f} MB sent and "
                            "{inb:.1f} MB received.", phases=", ".join(ui.t(p) for p in running) or "—",
                            node=busy,
                            out=moved[busy]["out"] / 1e6, inb=moved[busy]["in"] / 1e6))
        ui.stepper("dpd_step", frames, render=show_moment, frame=main_figure)

        cols = st.columns(3)
        for col, (d, r) in zip(cols, runs.items()):
            col.metric(ui.t("{design}: step time", design=ui.t(DESIGN_WORDS[d])), f"{r.step_s * 1e3:.2f} ms")
        st.subheader(ui.t("Bytes over each link, per step"))
        ui.show_figure(fit(traffic_bars(runs, ui.t("What the busiest links carry ({n} workers)", n=n),
                                        cache_key=repr(setup))),   # hashing the runs' events: ~30 ms
                       "dpd_bytes",
                       ui.t("DP: GPU 0 sends the weights to and receives the gradients from every other GPU, "
                            "(N−1)·Ψ each way. DDP: every GPU sends 2(N−1)/N·Ψ, whatever N. A server shard: "
                            "N·Ψ/S each way."),
                       rows=[{"design": d, "node": node, "out": v["out"], "in": v["in"]}
                             for d, r in runs.items() for node, v in r.traffic.items()])
        rows = [(d, node, word, v[way], r.traffic[node][way]) for d, r in runs.items()
                for node, v in dpd.closed_traffic(d, setup).items()
                for way, word in (("out", "sent"), ("in", "received"))]
        agree = all(abs(sim - want) <= 1e-9 * max(1.0, want) for *_, want, sim in rows)
        st.dataframe([{ui.t("design"): ui.t(DESIGN_WORDS[d]), ui.t("node"): node,
                       ui.t("direction"): ui.t(word),
                       ui.t("closed form (MB)"): round(want / 1e6, 3),
                       ui.t("simulated (MB)"): round(sim / 1e6, 3)}
                      for d, node, word, want, sim in rows], hide_index=True)
        (st.success if agree else st.error)(ui.t(
            "✓ The message-level simulation moves exactly the closed-form bytes over every link."
            if agree else "✗ The simulation and the closed forms disagree."))

        st.subheader(ui.t("Step time vs number of workers (α-β model)"))
        curves = ui.cached(dpd.scaling_curves)(setup, 64)
        ui.show_figure(fit(scaling_plot(curves, {d: r.timeline.makespan / 2 for d, r in runs.items()}, n,
                                        ui.t("Step time as workers are added (per-worker batch fixed)"),
                                        cache_key=repr(setup))),
                       "dpd_scaling",
                       ui.t("DP and a single server grow linearly with N (one link carries everyone's "
                            "bytes); DDP's ring stays flat apart from 2(N−1)·α; S shards divide the server's "
                            "load by S."),
                       rows=[{"design": d, "workers": k, "step_s": v} for d, (ns, ts) in curves.items()
                             for k, v in zip(ns, ts)])


designs_view()


@st.fragment   # the real parameter server: the steps slider and the run button rerun only this section
def rpc_view() -> None:
    st.subheader(ui.t("A parameter server for real: PyTorch RPC, RRef, distributed autograd"))
    st.markdown(ui.t("Two local processes: **worker** holds the data and an RRef; **ps** owns an "
                     "nn.Linear(4, 3). Forward runs through rpc_sync, backward through distributed autograd, "
                     "and a DistributedOptimizer makes the server update its own weights."))
    steps = st.slider(ui.t("SGD steps"), 1, 10, 3, key="dpd_rpc_steps", bind="query-params")
    if st.button(ui.t("Run it for real"), key="dpd_rpc_run"):
        with ui.guard(), st.spinner(ui.t("Starting the worker and the server (≤ 60 s)…")):
            st.session_state["dpd_rpc"] = cached_heavy(run_rpc, "rpc", max_entries=4)(steps, 0.1, 60.0)
    res = st.session_state.get("dpd_rpc")
    if res is not None:
        (st.success if res.agrees else st.error)(ui.t(
            "✓ After {steps} steps the server's weights equal one-process torch and numpy (max |Δ| = "
            "{d:.1e}); {wall:.1f} s, both processes gone." if res.agrees else
            "✗ After {steps} steps the server's weights differ from one-process torch (max |Δ| = {d:.1e}).",
            steps=res.steps, d=max(res.max_abs_diff.values()), wall=res.wall_s))
        st.dataframe([{ui.t("row"): r, "W (RPC, ps)": str(res.rpc_weight[r].round(6)),
                       ui.t("W (torch, one process)"): str(res.local_weight[r].round(6))} for r in range(3)],
                     hide_index=True)
        st.dataframe([{ui.t("time (ms)"): t, ui.t("from"): src, ui.t("to"): dst,
                       ui.t("message"): ui.t_message(what)}
                      for t, src, dst, what in res.trace], hide_index=True)


rpc_view()

ui.checkpoint("dpd_ck", ui.t("DP on 8 GPUs with a 1 GB model: how many GB of gradients does GPU 0 receive "
                             "every step?"), 7.0,
              ui.t("(N−1)·Ψ = 7 GB, while a DDP GPU sends and receives 2·7/8 = 1.75 GB."))
ui.lesson("data_parallel_designs")
