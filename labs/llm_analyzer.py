"""LLM per-layer analyzer: every op of a decoder layer, prefill vs decode, on a chip's roofline."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.inference import llm_layers as ll
from viz import llm_layers as vl

ui.setup("llm_analyzer",
         "LLM per-layer analyzer",
         "Each op of a decoder layer: FLOPs, bytes of weights, activations and KV cache, and the roof that "
         "bounds it — prefill vs decode.")
t_ = ui.t
_, shared = ui.figure_view()
times_fig, bytes_fig, roof_fig = shared(vl.op_times), shared(vl.bytes_by_op), shared(vl.roofline)
CUSTOM = "custom"
HW = list(engine.hardware_presets())
FIELDS = (("hidden", "hidden size", 1, 1 << 16), ("heads", "attention heads", 1, 1024),
          ("kv_heads", "KV heads", 1, 1024), ("layers", "layers", 1, 1024),
          ("intermediate", "intermediate size", 1, 1 << 18), ("vocab", "vocabulary size", 1, 1 << 20))

def analyze(name: str, edits: tuple, hw: str, seq: int, kv_len: int, batch: int, bits: tuple):
    cfg = ll.with_overrides(ll.PRESETS["Llama-2-7B"], **dict(edits)) if name == CUSTOM else ll.PRESETS[name]
    return ll.analyze(cfg, hw, seq, kv_len, batch, ll.Bits(*bits))


@ui.section   # the model, chip, shape and bit pickers and all they drive: a pick reruns only this section
def analyzer_view() -> None:
    with ui.controls():
        c = st.columns([3, 3, 2, 2, 2])
        name = c[0].selectbox(t_("Model"), [*ll.PRESETS, CUSTOM], key="la_model", bind="query-params")
        hw_name = c[1].selectbox(t_("Chip"), HW, index=HW.index("A100 80GB SXM"), key="la_hw",
                                 bind="query-params")
        seq = c[2].number_input(t_("Prompt length (tokens)"), 1, 1 << 20, 1024, key="la_seq",
                                bind="query-params")
        kv_len = c[3].number_input(t_("KV length at decode"), 1, 1 << 20, 1024, key="la_kv",
                                   bind="query-params")
        batch = c[4].number_input(t_("Batch"), 1, 4096, 1, key="la_batch", bind="query-params")
        d = st.columns(4)
        w_bits = d[0].select_slider(t_("Weight bits"), ll.BITS, 16, key="la_wbits", bind="query-params")
        a_bits = d[1].select_slider(t_("Activation bits"), ll.BITS, 16, key="la_abits", bind="query-params")
        kv_bits = d[2].select_slider(t_("KV cache bits"), ll.BITS, 16, key="la_kvbits", bind="query-params")
        phase = ui.by_id(d[3]).radio(t_("Phase"), ll.PHASES, format_func=t_, horizontal=True, key="la_phase",
                                     bind="query-params")
        if name == CUSTOM:
            e, base = st.columns(len(FIELDS)), ll.PRESETS["Llama-2-7B"]
            edits = {f: e[j].number_input(t_(label), lo, hi, getattr(base, f), key=f"la_{f}",
                                          bind="query-params") for j, (f, label, lo, hi) in enumerate(FIELDS)}

    with ui.guard():
        custom = tuple(edits.items()) if name == CUSTOM else ()
        a = ui.cached(analyze)(name, custom, hw_name, seq, kv_len, batch, (w_bits, a_bits, kv_bits))
        cfg, hw = a.config, engine.hardware_presets()[hw_name]
        chosen = a.prefill if phase == "prefill" else a.decode
        total = a.params["total"]
        m = st.columns(5)
        published = t_("published {p:,.2f} B", p=cfg.published_params / 1e9) if cfg.published_params else None
        m[0].metric(t_("Parameters"), f"{total / 1e9:,.3f} B", published, delta_color="off")
        m[1].metric(t_("Time to first token"), f"{1e3 * a.ttft_s:,.2f} ms")
        m[2].metric(t_("Time per output token"), f"{1e3 * a.tpot_s:,.3f} ms",
                    t_("{r:,.0f} tokens/s per sequence", r=1 / a.tpot_s), delta_color="off")
        m[3].metric(t_("Weights"), f"{a.weight_bytes / 2**30:,.2f} GiB")
        m[4].metric(t_("KV cache at decode"), f"{a.kv_cache_bytes / 2**30:,.3f} GiB")
        st.caption(t_("{name}: hidden {h}, {heads} heads, {kv} KV heads (head_dim {d}), {layers} layers, "
                      "intermediate {i}, vocabulary {v}. {src}", name=cfg.name, h=cfg.hidden, heads=cfg.heads,
                      kv=cfg.kv_heads, d=cfg.head_dim, layers=cfg.layers, i=cfg.intermediate, v=cfg.vocab,
                      src=cfg.source) + " " + t_("Chip: {src}", src=hw.source))

        rows = ll.op_rows(chosen)
        key = (name, custom, hw_name, seq, kv_len, batch, w_bits, a_bits, kv_bits, phase)
        st.markdown(t_("**{phase}**: tokens through the linear layers: {tokens:,}; attention over {ctx:,} "
                       "keys; {flops:,.1f} GFLOPs and {gib:,.3g} GiB moved; {share:.0%} of the time in "
                       "memory-bound ops.", phase=t_(phase), tokens=chosen.shape.tokens,
                       ctx=chosen.shape.context, flops=chosen.flops / 1e9, gib=chosen.bytes / 2**30,
                       share=chosen.share("memory_bound")))
        left, right = st.columns(2)
        with left:
            ui.show_figure(times_fig(rows, t_("Where the {phase} time goes ({hw})", phase=t_(phase),
                                              hw=hw_name), cache_key=key), "la_times",
                           t_("Each layer's op × {n} layers; blue = memory-bound, red = compute-bound.",
                              n=cfg.layers),
                           rows=rows, main=True)
        with right:
            ui.show_figure(bytes_fig(rows, t_("Bytes each op moves ({phase}, one layer)", phase=t_(phase)),
                                     cache_key=key), "la_bytes",
                           t_("In decode the weights dominate every projection; the KV cache grows with the "
                              "context, and narrower bits shrink each part."), rows=rows)
        both = ll.op_rows(a.prefill) + ll.op_rows(a.decode)
        roof_title = t_("Both phases on the {hw} roofline", hw=hw_name)
        ui.show_figure(roof_fig(both, hw.peak_flops, hw.bandwidth, roof_title, cache_key=key[:-1]), "la_roof",
                       t_("Prefill's projections sit right of the ridge (compute-bound); decode's sit far "
                          "left: one token reuses each weight once."), rows=both)
        st.dataframe(ll.summary_rows(a), hide_index=True)
        ui.folded(t_("Every op of this phase (LLM-Viewer's columns)"), "la_ops_box",  # drawn only while open
                  lambda: st.dataframe(rows, hide_index=True))
        ui.checkpoint("la_ck_decode", t_("Llama-2-7B, batch 1, fp16, decoding on an A100: is q_proj "
                                         "memory-bound or compute-bound?"), t_("memory-bound"),
                      t_("2 FLOPs per weight, 2 bytes per weight: about 1 FLOP/B, far below the ridge "
                         "(~150)."), choices=[t_("memory-bound"), t_("compute-bound")])


analyzer_view()

ui.lesson("llm_analyzer")
