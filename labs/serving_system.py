"""Serving system: a Triton-style server, simulated (repository, batcher, ensemble, canary) and real."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

import engine
import ui
from engine.inference import kv_cache as kv
from engine.inference import real_compare as rc
from engine.inference import serving_metrics as sm
from engine.inference import serving_system_lab as lab
from engine.inference.serving_repo import Batcher, next_batch
from ui import workspace as ws
from ui.heavy import cached_heavy
from viz import serving_system as vz
from viz.timeline import gantt

ui.setup("serving_system", "Serving system",
         "A Triton-style server: model repository, dynamic batching, ensembles, canary and rollback.")
t_, TR = ui.t, ui.translator()
fig = ui.cached_resource  # figures are rebuilt only when their inputs change (read-only)
PARTS = {"batcher": "Batcher & instances", "ensemble": "Ensemble", "rollout": "Lifecycle & canary",
         "real": "Serve it for real", "stacks": "Triton and MindIE"}  # URL ids -> labels (page's language)
ROLLOUTS = {"canary": "Canary with rollback", "swap": "Swap versions", "overlap": "Load, then unload"}
HW = [name for name in engine.hardware_presets() if name in kv.CARD_MEMORY_GIB]
EXAMPLES = ("preset:self_attention", "preset:resnet_basic_block", "zoo:resnet18")
LABS = Path(__file__).resolve().parent

with ui.controls():
    part = ui.by_id(st).radio(t_("Part"), list(PARTS), format_func=lambda p: t_(PARTS[p]), horizontal=True,
                              key="ssy_part", bind="query-params")
    c, d = st.columns(4), st.columns(4)
    choice = ws.choose("ssy_graph", EXAMPLES, slot=c[0])
    max_batch = c[1].slider("max_batch_size", 1, 32, 8, key="ssy_batch", bind="query-params")
    preferred = c[2].multiselect("preferred_batch_size", [2, 4, 8, 16, 32], key="ssy_pref",
                                 bind="query-params")
    delay_ms = c[3].slider("max_queue_delay (ms)", 0.0, 10.0, 2.0, 0.1, key="ssy_delay", bind="query-params")
    copies = d[0].slider(t_("Instances (count)"), 1, 4, 1, key="ssy_inst", bind="query-params")
    if part == "real":
        backend = d[1].radio(t_("Back end"), ["sleep", "engine", "onnxruntime"], key="ssy_backend",
                             bind="query-params")
        rate = d[2].slider(t_("Request rate (requests/s)"), 50, 800, 250, key="ssy_rate", bind="query-params")
        n_req = d[3].slider(t_("Requests"), 50, 1000, 300, key="ssy_nreq", bind="query-params")
        e = st.columns(4)
        base_ms = e[0].number_input(t_("Sleep per pass (ms)"), 0.0, 20.0, 2.0, key="ssy_base",
                                    bind="query-params")
        item_ms = e[1].number_input(t_("Sleep per request (ms)"), 0.0, 5.0, 0.5, key="ssy_item",
                                    bind="query-params")
    else:
        hw = d[1].selectbox(t_("GPU"), HW, index=2, key="ssy_hw", bind="query-params")
        overhead_ms = d[2].number_input(t_("Fixed overhead per pass (ms)"), 0.0, 100.0, 0.5, key="ssy_over",
                                        bind="query-params")
        load = d[3].slider(t_("Offered load (share of capacity)"), 0.05, 0.99, 0.7, key="ssy_load",
                           bind="query-params")
    if part == "ensemble":
        e = st.columns(4)
        pre_ms = e[0].number_input(t_("Preprocess per request (ms)"), 0.0, 50.0, 0.3, key="ssy_pre",
                                   bind="query-params")
        post_ms = e[1].number_input(t_("Postprocess per request (ms)"), 0.0, 50.0, 0.1, key="ssy_post",
                                    bind="query-params")
    if part == "rollout":
        rollout = ui.by_id(st).radio(t_("Rollout"), list(ROLLOUTS), format_func=lambda r: t_(ROLLOUTS[r]),
                                     horizontal=True, key="ssy_rollout", bind="query-params")
        e = st.columns(5)
        percent = e[0].slider(t_("Canary traffic (%)"), 1, 100, 10, key="ssy_pct", bind="query-params")
        bad = e[1].slider(t_("Canary error rate (%)"), 0.0, 50.0, 8.0, key="ssy_bad", bind="query-params")
        slowdown = e[2].slider(t_("Canary slowdown (×)"), 0.5, 5.0, 1.0, key="ssy_slow", bind="query-params")
        slo_err = e[3].slider(t_("SLO: error rate (%)"), 0.0, 50.0, 5.0, key="ssy_sloerr",
                              bind="query-params")
        slo_p99 = e[4].number_input(t_("SLO: p99 (ms)"), 0.1, 1000.0, 20.0, key="ssy_slop99",
                                    bind="query-params")

pref = tuple(sorted(p for p in preferred if p <= max_batch))
if len(pref) < len(preferred):
    st.caption(t_("Preferred sizes above max_batch_size are left out (Triton refuses them)."))


def times_for(g: str, hw: str, overhead: float, max_batch: int):
    return lab.graph_times(ws.graph_of(ws.parse_g(g))[0], hw, "fp16", overhead, max_batch)


def real_view(g: str, *settings, go: int):
    return rc.serve_and_predict(ws.graph_of(ws.parse_g(g))[0], *settings, seed=go)


def repository(scen, table) -> None:   # drawn only while its expander is open (ui.folded)
    repo = lab.scenario_config(scen).repository
    st.dataframe(lab.repository_rows(repo), hide_index=True)
    st.code(lab.config_text(repo, lab.MODEL), language="protobuf")
    st.code(sm.prometheus(table), language="text")


with ui.guard():
    batcher = Batcher(max_batch, pref, delay_ms / 1e3)
    if part == "stacks":
        rows = lab.stack_rows()
        ui.show_figure(fig(vz.stack_diagram)(rows, t_("One pipeline, two stacks: Triton and MindIE"), tr=TR),
                       "ssy_stacks", t_("Each row is one job of a serving system; the lesson's sources say "
                                        "which component does it in each stack."), rows=rows)
        for name in dict.fromkeys(r["lab"] for r in rows):
            if (LABS / f"{name}.py").exists():
                ws.page_link(name, t_("Open the lab: {name}", name=name), ws.current())
    elif part == "real" and choice is not None:
        if st.button(t_("Serve it for real"), key="ssy_go", type="primary"):
            st.session_state["ssy_runs"] = st.session_state.get("ssy_runs", 0) + 1
        go = st.session_state.get("ssy_runs", 0)
        if go == 0:
            st.info(t_("Press the button: a server starts on 127.0.0.1, takes the load, and stops."))
        else:
            real, sim, rows = cached_heavy(real_view, "serve")(
                choice.source.g, batcher, n_req, rate, copies, backend, (base_ms / 1e3, item_ms / 1e3), go=go)
            by, m = {r["quantity"]: r for r in rows}, st.columns(2)
            m[0].metric(t_("Answered"), f"{int(real.answered.sum())} / {n_req}")
            m[1].metric(t_("Mean batch, measured"), f"{by['mean batch']['measured']:.2f}")
            curves = {"measured (server)": real.server_latency, "simulated": sim.latency,
                      "measured (client)": real.client_latency}
            ui.show_figure(vz.latency_cdfs(curves, t_("Real server vs the simulator: latency"), tr=TR),
                           "ssy_real", t_("The simulator got the same arrivals and the measured pass times; "
                                          "the gap is what it leaves out: thread wake-ups, the GIL, this "
                                          "shared machine. The client curve adds HTTP."), rows=rows)
            (st.success if rc.agrees(rows) else st.warning)(t_(
                "Medians: measured / simulated = {ratio:.2f} (stated tolerance: within 35% or 1 ms).",
                ratio=by["median (ms)"]["ratio"]))
            st.dataframe(rows, hide_index=True)
            ui.folded(t_("The server's /metrics after the run"), "ssy_metrics_box",
                      lambda: st.code(real.metrics_text, language="text"))
    elif choice is not None:
        times = ui.cached(times_for)(choice.source.g, hw, overhead_ms / 1e3, max_batch)
        extra = (dict(rollout=rollout, percent=percent, canary_error=bad / 100, slowdown=slowdown,
                      max_error_rate=slo_err / 100, max_p99=slo_p99 / 1e3) if part == "rollout" else
                 dict(ensemble=True, pre_s=pre_ms / 1e3, post_s=post_ms / 1e3) if part == "ensemble" else {})
        scen = lab.Scenario(times, batcher, copies, load, **extra)
        run, summ, intervals, table, marks = ui.cached_resource(lab.scenario_view)(scen)
        m = st.columns(4)
        m[0].metric(t_("Answered"), f"{summ['ok']:,} / {summ['requests']:,}")
        m[1].metric(t_("Throughput"), f"{summ['throughput']:,.0f} req/s")
        m[2].metric("p50", f"{summ['p50'] * 1e3:.3g} ms")
        m[3].metric("p99", f"{summ['p99'] * 1e3:.3g} ms")
        if part == "rollout":
            when = f"{run.rollback_at:.4f} s" if run.rollback_at is not None else t_("none")
            st.caption(t_("{errors} requests failed with a model error, {unavailable} found no ready "
                          "version. Rollback: {when}.", errors=summ["errors"],
                          unavailable=summ["unavailable"], when=when))
        title = t_("Monitoring, as Triton's metrics show it")
        ui.show_figure(fig(vz.dashboard)(intervals, marks, title, tr=TR), "ssy_dash",
                       t_("Requests answered per second, latency percentiles, where the time goes, and how "
                          "busy each model's copies are — over the run."), rows=intervals)
        if part == "batcher":
            shown = min(30, run.n_batches)
            def main_figure(k: int):
                return fig(gantt)(sm.batch_timeline(run, shown, k), t_("The first {n} batches", n=shown),
                                  tr=TR)
            def show_batch(k: int) -> None:
                st.info(ui.t_message(sm.batch_log(run, k)))
                ui.show_figure(main_figure(k), "ssy_gantt",
                               t_("One lane per copy of the model; the outlined batch is this step."))
            ui.stepper("ssy_step", shown, render=show_batch, frame=main_figure)
            st.caption(t_("Queueing check: the same copies and load with batch 1 and exponential pass times "
                          "(M/M/c, 20,000 requests) beside Erlang C and the M/M/c mean wait."))
            st.dataframe([ui.cached(lab.erlang_check)(times[0], copies, load)], hide_index=True)
            ui.checkpoint("ssy_pref7", t_("preferred_batch_size is [4, 8] and 7 requests are queued when a "
                                          "copy frees up. How many does Triton send?"),
                          next_batch(Batcher(16, (4, 8)), 7, 0.0)[0],
                          t_("The largest preferred size that can be formed: 4. The other 3 wait."))
        if part == "ensemble":
            title = t_("Where a request's time goes, step by step")
            ui.show_figure(fig(vz.step_breakdown)(table, title, tr=TR), "ssy_steps",
                           t_("Each model of the ensemble has its own queue, batcher and copies."),
                           rows=table)
        if part == "rollout" and rollout == "canary":
            ui.show_figure(fig(vz.canary_windows)(list(run.windows), slo_err / 100, slo_p99,
                                                  t_("The canary against its SLO, window by window"), tr=TR),
                           "ssy_canary", t_("Red: the window that broke the SLO; from then on all traffic "
                                            "goes to the stable version."), rows=list(run.windows))
        st.dataframe(table, hide_index=True)
        ui.folded(t_("Model repository and config.pbtxt"), "ssy_repo_box", lambda: repository(scen, table))

ui.lesson("serving_system")
