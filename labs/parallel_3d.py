import numpy as np
import streamlit as st

import engine.parallel as par
import ui
from engine.parallel.real_run import run_real
from ui.heavy import cached_heavy
from viz.parallel import GiB, alpha_beta, cluster_map, step_breakdown

ui.setup("parallel_3d",
         "3D parallel & auto-parallel",
         "Place DP × TP × PP on real nodes, search the configurations, and run a split for real.")


fit, shared = ui.figure_view()
cluster_map = shared(cluster_map)
step_breakdown = shared(step_breakdown)
alpha_beta = shared(alpha_beta)


def say(text: str) -> str:
    """An engine sharding phrase in the view's language; its "none" means no collective is needed."""
    return ui.t("none needed") if text == "none" else ui.t_message(text)


@st.fragment   # the configuration search: a new global batch reruns only this section
def search_view(model, cluster) -> None:
    st.subheader(ui.t("Configuration search"))
    with ui.guard():
        batch = st.select_slider(ui.t("Global batch (sequences)"),
                                 [64, 128, 256, 512, 1024, 1536, 2048, 4096], 512, key="p3_batch",
                                 bind="query-params")
        found = ui.cached(par.search)(model, cluster, batch)
        table = [dict(dp=f.dp, tp=f.tp, pp=f.pp, m=f.micro_batches, GiB=round(f.memory_bytes / GiB, 1),
                      fits=ui.t("yes") if f.fits else ui.t("no"), step_s=round(f.step_s, 3),
                      bubble_s=round(f.bubble_s, 3), tp_comm_s=round(f.tp_comm_s, 3),
                      dp_comm_s=round(f.dp_comm_s, 3)) for f in found]
        ui.show_figure(fit(step_breakdown(found[:10], ui.t("Where the step time goes (top 10 of {n_found}, "
                                                           "batch {batch})",
                                                           n_found=len(found), batch=batch))), "p3_steps",
                       ui.t("More pipeline stages add bubble; more tensor parallelism adds per-layer "
                            "all-reduces; pure data parallelism pays one big gradient all-reduce."),
                       rows=table)
        st.dataframe(table, hide_index=True, column_config={
            "m": ui.t("micro-batches m"), "GiB": ui.t("GiB per GPU"),
            "fits": ui.t("fits?"), "step_s": ui.t("step (s)"),
            "bubble_s": ui.t("bubble (s)"), "tp_comm_s": ui.t("TP comm (s)"),
            "dp_comm_s": ui.t("DP comm (s)")})
        st.caption(ui.t("Ranked: configurations that fit first, then by estimated step time (A100 80 GB, "
                        "50 % of peak, NVLink in a node, HDR InfiniBand between nodes, ZeRO-1, SP + "
                        "selective recomputation)."))


@st.fragment   # the sharding strategies: picking MatMul 1 or 2 reruns only this section
def strategies_view() -> None:
    st.subheader(ui.t("Sharding strategies and redistribution"))
    with ui.guard():
        options = {"((4,1),(1,1))": ((4, 1), (1, 1)), "((1,1),(1,4))": ((1, 1), (1, 4)),
                   "((1,4),(4,1))": ((1, 4), (4, 1)), "((2,2),(2,1))": ((2, 2), (2, 1))}
        s1, s2 = st.columns(2)
        first = s1.selectbox(ui.t("MatMul 1 strategy"), list(options), key="p3_s1",
                             bind="query-params")
        second = s2.selectbox(ui.t("MatMul 2 strategy"), list(options), index=1,
                              key="p3_s2", bind="query-params")
        out = par.matmul_strategy(options[first], 4)
        ok = "✓" if out["equal"] else "✗"
        st.write(ui.t("MatMul 1 output: {describe}; its own collective: {collective}; {ok} equals X·W on 4 "
                      "simulated devices.",
                      describe=say(out['output_layout'].describe()), collective=say(out['collective']),
                      ok=ok))
        red = par.strategy_transition(options[first], options[second], 4)
        (st.success if red.equal else st.error)(
            f"{say(red.collective)}: {say(red.detail)} — " + (
                ui.t("✓ verified on random data") if red.equal else ui.t("✗ differs on random data")))


@st.fragment   # the real gloo run: the process count and the button rerun only this section
def real_view() -> None:
    st.subheader(ui.t("Run it for real (torch.distributed, gloo)"))
    with ui.guard():
        world = st.radio(ui.t("Processes"), [2, 3, 4], horizontal=True, key="p3_world",
                         bind="query-params")
        if st.button(ui.t("Run it for real"), key="p3_run"):
            with ui.guard(), st.spinner(ui.t("Starting gloo workers (≤ 60 s)…")):
                st.session_state["p3_result"] = cached_heavy(run_real, "gloo", max_entries=4)(world, 60.0)
        result = st.session_state.get("p3_result")
        if result is not None:
            st.dataframe([{ui.t("quantity"): k, ui.t("max |real − simulated|"): f"{v:.1e}"}
                          for k, v in result.max_abs_diff.items()], hide_index=True)
            (st.success if result.agrees else st.error)(
                ui.t("✓ {world_size} processes finished in {wall_s:.1f} s; every result equals the "
                     "simulation." if result.agrees else
                     "✗ {world_size} processes finished in {wall_s:.1f} s; some results differ from the "
                     "simulation.",
                     world_size=result.world_size, wall_s=result.wall_s))
            sizes = np.logspace(np.log10(1024), np.log10(16 << 20), 30)
            fitted = par.Link("fitted", result.alpha, result.beta, "least squares on the measurements")
            curves = {ui.t("α-β fitted to gloo"):
                      (sizes, [par.allreduce_time(s, result.world_size, fitted) for s in sizes]),
                      ui.t("PCIe 4.0 x16 model"): (sizes, [par.allreduce_time(
                          s, result.world_size, par.LINKS["PCIe 4.0 x16"]) for s in sizes])}
            ui.show_figure(fit(alpha_beta(curves, ui.t("Measured gloo all-reduce vs the α-β model"),
                                          result.timings)),
                           "p3_measured", ui.t("Fitted α = {v2:.0f} µs, β = {v3:.2f} GB/s: processes on one "
                                               "CPU pay far more latency than NVLink.",
                                               v2=result.alpha * 1e6, v3=result.beta / 1e9))


@ui.section   # the model and cluster controls, the map and search they drive: a pick reruns only this section
def cluster_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns(4)
        model_name = c1.selectbox(ui.t("Model"), list(par.MODELS), index=3, key="p3_model",
                                  bind="query-params")
        nodes = c2.select_slider(ui.t("Nodes (8 GPUs each)"),
                                 [1, 2, 4, 8, 16, 32, 64, 128, 256], 4, key="p3_nodes", bind="query-params")
        tp = c3.select_slider(ui.t("Tensor parallel"), [1, 2, 4, 8], 4, key="p3_tp",
                              bind="query-params")
        pp = c4.select_slider(ui.t("Pipeline stages"), [1, 2, 4, 8, 16, 32], 2, key="p3_pp",
                              bind="query-params")

    cluster = par.Cluster(nodes=nodes)
    model = par.MODELS[model_name]
    with ui.guard():
        dp = par.dp_degree(cluster, tp, pp)
        rows = ui.cached(par.map_devices)(dp, tp, pp, cluster)
        shown = min(nodes, 8)
        ui.show_figure(fit(cluster_map([r for r in rows if r["node"] < shown], shown, 8,
                                       ui.t("dp={dp} × tp={tp} × pp={pp} on {nodes} nodes (first {shown} "
                                            "shown; cell = d·t·p rank)",
                                            dp=dp, tp=tp, pp=pp, nodes=nodes, shown=shown))),
                       "p3_map", ui.t("TP varies fastest, so each tensor-parallel group sits on one node's "
                                      "NVLink; data and pipeline groups cross the slower network."),
                       rows=list(rows[:512]))
        e = ui.cached(par.estimate)(model, cluster, dp, tp, pp, 8 * cluster.gpus)
        c1, c2, c3 = st.columns(3)
        c1.metric(ui.t("Memory per GPU"), f"{e.memory_bytes / GiB:.1f} GiB",
                  ui.t("fits 80 GiB") if e.fits else ui.t("does not fit"),
                  delta_color="normal" if e.fits else "inverse")
        c2.metric(ui.t("Estimated step"), f"{e.step_s:.2f} s")
        c3.metric(ui.t("Micro-batches m"), e.micro_batches)
    search_view(model, cluster)


cluster_view()
strategies_view()
real_view()

ui.checkpoint("p3_ck", ui.t("GPT-3 175B with ZeRO-1 and no model parallelism: how many GB of weights + "
                            "gradients does each GPU hold, whatever the DP degree?"),
              4 * 175.0, ui.t("2Ψ + 2Ψ = 700 GB stay replicated under ZeRO-1 — hence TP and PP."))
ui.lesson("parallel_3d")
