"""Inference engine pipeline: load, configure, optimise, plan memory, choose kernels, run, post-process."""
from __future__ import annotations

import streamlit as st

import ui
from engine.compiler.memory_plan import STRATEGIES
from engine.inference import engine_pipeline as ep
from engine.inference import kernel_choice as kc
from ui import workspace as ws
from ui.heavy import cached_heavy
from viz import inference_engine as vi

ui.setup("inference_engine",
         "Inference engine pipeline",
         "Load, optimise, plan memory, pick a kernel per layer, run: measured on this machine.")
t_ = ui.t
tr = ui.translator()
fit, shared = ui.figure_view()
kernel_fig, ops_fig = shared(vi.kernel_times), shared(vi.op_times)
EXAMPLES = ("preset:conv_bn_relu", "preset:resnet_basic_block", "preset:mobilenetv2_inverted_residual",
            "zoo:tiny_cnn", "zoo:mobilenetv2_block", "zoo:resnet18")
POLICY = {"cost_model": "cost model (predicted fastest)", "measured": "measured (autotune: timed fastest)"}


def tuned(g: str, repeats: int):
    return kc.tune(ws.graph_of(ws.parse_g(g))[0], repeats)


def engine_run(g: str, policy: str, memory: str, machine, tuning):
    config = ep.EngineConfig(memory=memory, policy=policy)
    return ep.run_pipeline(ws.graph_of(ws.parse_g(g))[0], config, machine, tuning)


@ui.section   # the graph, kernel choice, memory plan and timed runs and all they drive: the whole run
def engine_view() -> None:
    with ui.controls():
        c = st.columns([3, 3, 2, 2])
        choice = ws.choose("ie_graph", EXAMPLES, slot=c[0])
        policy = ui.by_id(c[1]).radio(t_("Kernel choice by"), list(POLICY),
                                      format_func=lambda p: t_(POLICY[p]), key="ie_policy",
                                      bind="query-params")
        memory = c[2].selectbox(t_("Memory plan"), STRATEGIES, index=1, key="ie_memory", bind="query-params")
        repeats = c[3].slider(t_("Timed runs per kernel"), 1, 7, 3, key="ie_repeats", bind="query-params")

    trace = None
    with ui.guard("The engine stopped"), st.spinner(t_("Calibrating, timing every kernel, running the "
                                                        "engine...")):
        if choice is not None:
            g = choice.source.g
            machine = cached_heavy(kc.calibrate, "tune", max_entries=1)()
            tuning = cached_heavy(tuned, "tune")(g, repeats)
            trace = cached_heavy(engine_run, "tune")(g, policy, memory, machine, tuning)

    if trace is not None:
        run = trace.summary
        offline = sum(s.seconds for s in run.stages if s.name not in ep.ONLINE)
        online = sum(s.seconds for s in run.stages if s.name in ep.ONLINE)
        measured = [c for c in run.choices if c.fastest]

        def show_kernels() -> None:
            if not run.choices:
                st.info(t_("This graph has no conv layers: there is no kernel to choose (matmul and gemm "
                           "run on BLAS). Pick an example with convolutions."))
                return
            ui.show_figure(fit(kernel_fig(run.choices, t_("Every candidate kernel: predicted vs measured"),
                                          cache_key=(g, policy, memory, repeats))), "ie_kernels",
                           t_("Bars: measured median; diamonds: the cost model's prediction. Where a diamond "
                              "sits far from its bar, the model is wrong about that kernel here."),
                           rows=vi.kernel_rows(run.choices))
            st.dataframe(vi.kernel_rows(run.choices, tr), hide_index=True)
            st.caption(t_("Cost model: t = FLOPs / F + bytes / B + calls × c, with F = {f:,.1f} GFLOP/s, "
                          "B = {b:,.1f} GB/s and c = {c:,.2f} µs measured here (medians). Measured: median "
                          "of {r} timed runs after one warm-up, {s:,.1f} s of tuning in all{skip}. This "
                          "machine is shared and noisy: run it again and the small layers may swap places. "
                          "★ = fastest measured.", f=machine.gemm_flops / 1e9, b=machine.bandwidth / 1e9,
                          c=1e6 * machine.call_s, r=tuning.repeats, s=tuning.seconds,
                          skip=t_("; {n} layer shapes left unmeasured (time budget)", n=tuning.skipped)
                          if tuning.skipped else ""))

        def main_figure(k: int):
            stage = trace[k].data
            return fit(vi.stage_gantt(run.timeline, k, t_("Stage {k} of {n}: {name} — {ms:,.2f} ms",
                                      k=k + 1, n=len(trace), name=t_(stage.name), ms=1e3 * stage.seconds),
                                      tr=tr))

        def show_stage(k: int) -> None:
            step, stage = trace[k], trace[k].data
            ui.show_figure(main_figure(k),
                           "ie_gantt", t_("Each bar is one stage's measured time on this machine; the "
                                          "outlined one is this step. Offline stages run once per model, "
                                          "online ones on every request."),
                           rows=vi.summary_rows(stage.summary))
            left, right = st.columns([2, 3])
            left.dataframe(vi.summary_rows(stage.summary, tr), hide_index=True)
            if step.log:
                right.code("\n".join(ui.t_message(line) for line in step.log.split("\n")), language=None)
            if stage.name == "choose kernels":
                show_kernels()
            elif stage.name == "run":
                ui.show_figure(fit(ops_fig(run.op_times, t_("The slowest ops of this run"),
                                           cache_key=(g, policy, memory, repeats))), "ie_ops",
                               t_("Colour = the kernel that ran the op. Notice where the time goes."))
            elif stage.name == "post-process" and run.top:
                st.dataframe([{t_("class"): c, t_("probability"): f"{p:.4f}"} for c, p in run.top],
                             hide_index=True)

        ui.stepper("ie_step", len(trace), render=show_stage, frame=main_figure)
        m = st.columns(5)
        m[0].metric(t_("offline stages"), f"{1e3 * offline:,.1f} ms")
        m[1].metric(t_("online: run + post-process"), f"{1e3 * online:,.1f} ms")
        m[2].metric(t_("memory arena"), f"{run.plan.arena / 2**10:,.1f} KiB",
                    t_("naive {n:,.1f} KiB", n=run.plan.naive / 2**10), delta_color="off")
        m[3].metric(t_("model picks the measured fastest"),
                    f"{sum(c.predicted == c.fastest for c in measured)} / {len(measured)}")
        m[4].metric(t_("max |engine − reference|"), f"{run.max_diff:.1e}",
                    "✓" if run.max_diff < 1e-3 else "✗", delta_color="off")
        if measured:
            big = max(measured, key=lambda c: c.layer.macs)
            ui.checkpoint(f"ie_ck_{abs(hash(g))}_{repeats}",
                          t_("The biggest conv layer ({layer}: {shape}) has these kernels: {algs}. Which one "
                             "measures fastest here?", layer=big.layer.node, shape=big.layer.describe(),
                             algs=", ".join(big.layer.candidates)),
                          big.fastest,
                          t_("Timed on this machine (median); the cost model said {p}.", p=big.predicted),
                          choices=list(big.layer.candidates))


engine_view()

ui.lesson("inference_engine")
