import streamlit as st

import engine.parallel as par
import ui
from engine.parallel import fsdp
from engine.parallel import memory_conventions as mc
from viz.fsdp import memory_curve, overlap_timeline

ui.setup("fsdp",
         "FSDP step by step",
         "Shard every unit, gather it just in time, free it, reduce-scatter its gradient: watch the "
         "memory of one GPU and the two streams, one unit at a time.")
POLICIES = {"block": ui.t("one unit per transformer block"), "size": ui.t("k blocks per unit"),
            "none": ui.t("no wrapping (one unit)")}
GiB = float(1 << 30)

fit, shared = ui.figure_view()
memory_curve, overlap_timeline = shared(memory_curve), shared(overlap_timeline)


@ui.section   # the model, cluster and wrapping controls and all they drive (the whole page below the header)
def fsdp_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns(4)
        layers = c1.slider(ui.t("Layers L"), 1, 96, 12, key="fs_layers", bind="query-params")
        hidden = c2.select_slider(ui.t("Hidden h"), [256, 512, 768, 1024, 1600, 2048, 4096, 8192, 12288],
                                  768, key="fs_hidden", bind="query-params")
        heads = c3.select_slider(ui.t("Heads a"), [4, 8, 12, 16, 25, 32, 64, 96], 12, key="fs_heads",
                                 bind="query-params")
        seq = c4.select_slider(ui.t("Sequence s"), [256, 512, 1024, 2048, 4096], 1024, key="fs_seq",
                               bind="query-params")
        c5, c6, c7, c8 = st.columns(4)
        mb = c5.slider(ui.t("Micro-batch b"), 1, 16, 1, key="fs_mb", bind="query-params")
        world = c6.select_slider(ui.t("World size N"), [1, 2, 4, 8, 16, 32, 64, 128, 256], 8,
                                 key="fs_world", bind="query-params")
        policy = ui.by_id(c7).selectbox(ui.t("Wrap policy"), list(POLICIES), format_func=POLICIES.get,
                                        key="fs_policy", bind="query-params")
        k = c8.slider(ui.t("Blocks per unit k"), 1, 8, 2, key="fs_k", bind="query-params",
                      disabled=policy != "size")
        c9, c10, c11, c12 = st.columns(4)
        fwd = c9.toggle(ui.t("Forward prefetch"), False, key="fs_fwd", bind="query-params")
        bwd = c10.toggle(ui.t("Backward prefetch"), True, key="fs_bwd", bind="query-params")
        offload = c11.toggle(ui.t("CPU offload"), False, key="fs_offload", bind="query-params")
        link = c12.selectbox(ui.t("Link between the N devices"), list(par.LINKS), key="fs_link",
                             bind="query-params")

    with ui.guard():
        run = ui.cached(fsdp.fsdp_run)(layers, hidden, heads, seq, mb, world, policy, k, fwd, bwd,
                                       offload, 50257, link)
        closed = fsdp.peak_closed_form(run, fwd, bwd)
        simulated = run.peak(("states", "params"))
        c1, c2, c3, c4 = st.columns(4)
        c1.metric(ui.t("Parameters Ψ"), f"{run.total_params / 1e9:.3f} B")
        c2.metric(ui.t("Peak: states + gathered parameters"), f"{simulated / GiB:.3f} GiB")
        c3.metric(ui.t("Peak with gradients and activations"), f"{run.peak() / GiB:.3f} GiB")
        c4.metric(ui.t("Step time (one device)"), f"{run.step_ms:.2f} ms")
        same = abs(simulated - closed) <= 1e-6 * closed
        (st.success if same else st.error)(ui.t(
            "{ok} Simulated peak {sim:.3f} GiB = ZeRO-3 closed form 16Ψ/N ({z3:.3f} GiB) + the gathered "
            "units at the worst moment ({extra:.3f} GiB).", ok="✓" if same else "✗", sim=simulated / GiB,
            z3=run.zero3_bytes / GiB, extra=(closed - run.zero3_bytes) / GiB))
        st.dataframe([{ui.t("unit"): ui.t_message(u.name), ui.t("parameters"): f"{u.params:,}",
                       ui.t("gathered (MiB)"): round(2 * u.params / 2**20, 1),
                       ui.t("shard per device (MiB)"): round(2 * u.params / world / 2**20, 2)}
                      for u in run.units[:40]], hide_index=True, height=180)

        st.subheader(ui.t("One unit at a time"))
        key = (layers, hidden, heads, seq, mb, world, policy, k, fwd, bwd, offload, link)

        def main_figure(i: int):
            now = run.trace[i].data["time"]
            return fit(memory_curve(run, ui.t("Memory of one device over the step"), now, closed,
                                    cache_key=key + ("mem", now)))

        def show_visit(i: int) -> None:
            step = run.trace[i]
            now = step.data["time"]
            st.markdown(f"**{ui.t_message(step.title)}** · " + ui.t("t = {now:.2f} ms", now=now))
            ui.show_figure(main_figure(i), "fs_memory",
                           ui.t("Each unit's parameters appear just before it runs and vanish after "
                                "(reshard); backward also holds its unsharded gradient until the "
                                "reduce-scatter ends. Prefetch makes two units overlap."),
                           rows=[dict(time_ms=t, **m) for t, m in run.memory])
            ui.show_figure(fit(overlap_timeline(run, ui.t("Compute and communication streams"), now,
                                                cache_key=key + ("tl", now))), "fs_streams",
                           ui.t("Without prefetch every all-gather waits for the compute before it (and "
                                "in backward for the previous reduce-scatter); with prefetch it runs "
                                "under the previous unit's compute."),
                           rows=[dict(lane=e.unit, start=e.start, end=e.end, label=e.label)
                                 for e in run.timeline.events])
            mem = step.data["memory"]
            st.caption(" · ".join(f"{ui.t(name)} {mem[p] / GiB:.3f} GiB" for p, name in
                                  (("states", "states"), ("params", "gathered parameters"),
                                   ("grads", "unsharded gradients"), ("activations", "activations"))))
            st.code("\n".join(ui.t_message(line) for line in step.log.split("\n") if line) or "-",
                    language=None)
        ui.stepper("fs_step", len(run.trace), render=show_visit, frame=main_figure)

        st.subheader(ui.t("Conventions side by side"))
        largest = max(u.params for u in run.units)
        rows = mc.conventions_table(run.total_params, largest, min(world, 8), max(1, world // 8))
        st.dataframe([{ui.t("source"): r.source, ui.t("convention"): ui.t(r.convention),
                       ui.t("bytes per parameter (GPU)"): round(r.bytes_per_param, 3),
                       ui.t("GiB per GPU"): round(r.gpu_bytes / GiB, 3)} for r in rows], hide_index=True)
        st.caption(ui.t("ZeRO counts fp16 weights + fp16 gradients + K = 12 bytes of Adam states; "
                        "DeepSpeed's estimator keeps 4 bytes per parameter for the largest layer gathered at "
                        "once and 18 sharded; Megatron-LM counts 18 bytes (6 + 12/d with its distributed "
                        "optimizer)."))
        st.dataframe([{ui.t("stage"): name, ui.t("communication per device per step"): f"{v:g}Ψ",
                       ui.t("source"): mc.ZERO_PAPER}
                      for name, v in (("DP", mc.zero_comm_volume(0)), ("ZeRO-1", mc.zero_comm_volume(1)),
                                      ("ZeRO-2", mc.zero_comm_volume(2)), ("ZeRO-3 / FSDP",
                                                                           mc.zero_comm_volume(3)))],
                     hide_index=True)
        counts = [(name, mc.gpt_params(L, h, 50257, s), pub, src) for name, L, h, s, pub, src in mc.PUBLISHED]
        st.dataframe([{ui.t("model"): name, ui.t("L(12h² + 13h) + Vh + sh + 2h"): f"{ours:,}",
                       ui.t("published"): f"{pub:,.0f}", ui.t("source"): src, "Δ": f"{ours / pub - 1:+.2%}"}
                      for name, ours, pub, src in counts], hide_index=True)
        meg, kor = mc.selective_activations_agree(seq, mb, hidden, heads, 1)
        st.caption(ui.t("Megatron-LM's activations with SP + selective recompute, s·b·h(18 + 4·ffn/h)/t = "
                        "{meg:.1f} MiB per layer here; Korthikanti et al. Table 2's 34·s·b·h/t = "
                        "{kor:.1f} MiB.", meg=meg / 2**20, kor=kor / 2**20))


fsdp_view()

ui.checkpoint("fs_ck", ui.t("GPT-2 small (12 × 768, V = 50257, s = 1024) on N = 8 without prefetch: how "
                            "many MiB of gathered parameters at the peak (the embedding unit is "
                            "the largest)?"),
              round(2 * mc.root_params(768, 50257, 1024) / 2**20, 1),
              ui.t("2 bytes × (V·h + s·h + 2h) = 2 × 39,385,344 B ≈ 75.1 MiB: the root unit, larger than "
                   "any block (7.09 M parameters)."))
ui.lesson("fsdp")
