"""Compression Pareto view: every variant of the lab on accuracy vs size vs latency."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compression.lab import lab_variants
from ui.heavy import cached_heavy
from viz import compression as vc

ui.setup("compression_pareto",
         "Compression Pareto view",
         "Quantised, pruned, factorised and distilled models on one chart: which ones are worth it?")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
PRESETS = list(engine.hardware_presets())


@ui.section   # the model and hardware picks and all they drive (the whole page below the header)
def pareto_view() -> None:
    with ui.controls():
        c = st.columns(2)
        model = c[0].selectbox(t_("Model"), ["mlp", "cnn"], key="cp_model", bind="query-params")
        hw = c[1].selectbox(t_("Latency model: hardware preset"), PRESETS,
                            index=PRESETS.index("Phone CPU (assumed)") if "Phone CPU (assumed)" in PRESETS
                            else 0, key="cp_hw", bind="query-params")

    with ui.guard():
        with st.spinner(t_("Training the model and every compressed variant (the first time takes a few "
                           "seconds)..."), show_time=True):
            variants = cached_heavy(lab_variants, "train")(model, 0, hw)
        ui.show_figure(fig(vc.pareto_figure)(variants, t_("{model}: every compressed variant ({hw})",
                                                          model=model, hw=hw), tr=TR),
                       "cp_pareto", t_("Big outlined markers are Pareto-optimal: no other variant is at "
                                       "once as accurate, as small and as fast. Unstructured pruning "
                                       "shrinks size but not latency (dense kernels still do every "
                                       "multiply)."),
                       rows=[dict(name=v.name, family=v.family, accuracy=v.accuracy,
                                  size_bytes=v.size_bytes, latency_us=v.latency_us, flops=v.flops,
                                  pareto=v.pareto, note=v.note)
                             for v in variants])
        ui.table([{t_("variant"): v.name, t_("accuracy"): f"{v.accuracy:.1%}",
                   t_("size (bytes)"): v.size_bytes,
                   t_("latency (µs)"): float(f"{v.latency_us:.3g}"), "FLOPs": v.flops,
                   "Pareto": "★" if v.pareto else "", t_("note"): ui.t_message(v.note)}
                  for v in variants])
        fp32 = variants[0]
        int8 = next(v for v in variants if v.name == "PTQ int8")
        ui.checkpoint("cp_ck", t_("By what factor does int8 PTQ shrink the model's bytes compared with "
                                  "fp32?"),
                      round(fp32.size_bytes / int8.size_bytes, 2),
                      t_("A little under 4: weights go from 4 bytes to 1, but biases stay fp32 and every "
                         "output channel keeps a 4-byte scale."),
                      rel_tol=0.1)
        st.caption(t_("Latency: sum over graph nodes of max(FLOPs / peak, bytes / bandwidth) for one "
                      "image (engine.core.cost_model + engine.roofline); int8 compute assumed 4x the fp32 "
                      "rate. A lower bound for comparing variants, not a wall-clock prediction."))


pareto_view()

ui.lesson("compression_pareto")
