import streamlit as st

import engine.parallel as par
import ui
from viz.parallel import STRATEGY_LABELS, GiB, MiB, memory_bars, simple_bars

ui.setup("dist_memory",
         "Training memory & ZeRO",
         "Where do the bytes of a training step live, and how much does each trick remove?")
RECOMPUTE = {"none": ui.t("no recompute"), "selective": ui.t("selective"), "full": ui.t("full")}


fit, shared = ui.figure_view()
memory_bars = shared(memory_bars)
simple_bars = shared(simple_bars)


with ui.controls():
    c1, c2, c3 = st.columns(3)
    billions = c1.number_input(ui.t("Parameters Ψ (billions)"), 0.1, 2000.0, 7.5,
                               key="dm_params", bind="query-params")
    dp = c2.select_slider(ui.t("Data-parallel devices N_d"),
                          [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], 64, key="dm_dp",
                          bind="query-params")
    card = c3.selectbox(ui.t("Card"), list(par.CARDS), index=2, key="dm_card",
                        bind="query-params")
    c4, c5, c6, c7 = st.columns(4)
    seq = c4.select_slider(ui.t("Sequence s"), [512, 1024, 2048, 4096, 8192], 2048,
                           key="dm_seq", bind="query-params")
    mb = c5.slider(ui.t("Micro-batch b"), 1, 16, 1, key="dm_mb", bind="query-params")
    tp = c6.select_slider(ui.t("Tensor parallel t"), [1, 2, 3, 4, 8, 16], 1,
                          key="dm_tp", bind="query-params")
    recompute = ui.by_id(c7).selectbox(ui.t("Recomputation"), list(RECOMPUTE),
                                       format_func=RECOMPUTE.get, key="dm_recompute", bind="query-params")
    c8, c9, c10, c11 = st.columns(4)
    hidden = c8.select_slider(ui.t("Hidden h"), [1024, 2048, 4096, 6144, 8192, 12288],
                              4096, key="dm_hidden", bind="query-params")
    heads = c9.select_slider(ui.t("Heads a"), [8, 16, 32, 48, 64, 96], 32,
                             key="dm_heads", bind="query-params")
    layers = c10.slider(ui.t("Layers L"), 1, 128, 32, key="dm_layers", bind="query-params")
    sp = c11.toggle(ui.t("Sequence parallel"), False, key="dm_sp", bind="query-params")

with ui.guard():
    rows = ui.cached(par.memory.per_device_table)(billions * 1e9, dp, layers, seq, mb, hidden,
                                                  heads, tp, sp, recompute)
    card_bytes = par.CARDS[card]
    ui.show_figure(
        fit(memory_bars(list(rows), card_bytes, ui.t("Memory per GPU by strategy (dashed = card "
                                                     "capacity)"), card)),
        "dm_bars",
        ui.t("Each ZeRO stage removes one replicated block; activations are untouched by ZeRO — "
             "tensor/sequence parallelism and recomputation shrink them."),
        data=rows, rows=list(rows))
    st.dataframe([{ui.t("strategy"): ui.t(STRATEGY_LABELS.get(r["label"], r["label"])),
                   ui.t("on GPU (GiB)"): round(r["total"] / GiB, 2),
                   ui.t("on CPU (GiB)"): round(r["cpu"] / GiB, 2),
                   ui.t("fits?"): ui.t("yes") if r["total"] <= card_bytes
                   else ui.t("no")} for r in rows],
                 hide_index=True)

@st.fragment   # activations per layer: a new t for this chart reruns only this section
def activations_view(seq: int, mb: int, hidden: int, heads: int) -> None:
    st.subheader(ui.t("Activation memory per layer"))
    with ui.guard():
        tp_c = st.select_slider(ui.t("t for this chart"), [1, 2, 4, 8, 16], 8,
                                key="dm_tact", bind="query-params")
        configs = [("none", 1, False, "none"), ("TP", tp_c, False, "none"), ("TP+SP", tp_c, True, "none"),
                   ("TP+selective", tp_c, False, "selective"), ("TP+SP+selective", tp_c, True, "selective"),
                   ("full recompute", tp_c, False, "full")]
        values = [ui.cached(par.activation_memory)(seq, mb, hidden, heads, t, s_, r) / MiB
                  for _, t, s_, r in configs]
        sel = ui.t("selective")
        names = [ui.t("no split"), "TP", "TP+SP", f"TP+{sel}", f"TP+SP+{sel}", ui.t("full recompute")]
        ui.show_figure(
            fit(simple_bars(names, values,
                            ui.t("Activations of one layer (s = {seq}, b = {mb}, h = {hidden}, a = "
                                 "{heads}, t = {tp_c}; Korthikanti et al. Table 2)",
                                 seq=seq, mb=mb, hidden=hidden, heads=heads, tp_c=tp_c),
                            ui.t("activations per layer (MiB)"))),
            "dm_acts",
            ui.t("The 5as/h attention-score term dominates at long sequences; selective recomputation "
                 "drops exactly that term."),
            rows=[{"config": c[0], "MiB": v} for c, v in zip(configs, values)])


activations_view(seq, mb, hidden, heads)

st.subheader(ui.t("The papers' own examples"))
fig1 = [par.zero_memory(7.5e9, 64, stage)["total"] / 1e9 for stage in range(4)]
paper = [120.0, 31.4, 16.6, 1.9]
st.caption(ui.t("ZeRO Fig. 1: Ψ = 7.5B, N_d = 64, K = 12 (GB = 10⁹ bytes, as in the paper)."))
st.dataframe([{ui.t("stage"): name, ui.t("engine (GB)"): round(v, 2),
               ui.t("paper (GB)"): p,
               "": ui.t("✓ matches ZeRO Fig. 1 (Δ {v2:.2f} GB)", v2=abs(v - p))}
              for name, v, p in zip(["DP", "P_os", "P_os+g", "P_os+g+p"], fig1, paper)],
             hide_index=True)
gpt3 = par.activation_memory(2048, 1, 12288, 96, 8, True, "selective") / \
    par.activation_memory(2048, 1, 12288, 96, 8, True)
st.caption(ui.t("GPT-3 (s=2048, h=12288, a=96, t=8, SP): selective recomputation keeps {gpt3:.1%} of "
                "the activations — a {v2:.0%} cut, matches Korthikanti et al. §5 (70%).",
                gpt3=gpt3, v2=1 - gpt3))

ui.checkpoint("dm_ck", ui.t("Ψ = 7.5B on 64 GPUs with ZeRO-2 (K = 12): how many GB per GPU?"),
              round(par.zero_memory(7.5e9, 64, 2)["total"] / 1e9, 1),
              ui.t("2Ψ weights stay; (2 + 12)Ψ/64 is sharded: 15 + 1.64 = 16.6 GB."))
ui.lesson("dist_memory")
