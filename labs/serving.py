"""Serving & batching: why a server batches, what it costs in latency, and where LLM memory goes."""
from __future__ import annotations

import math

import streamlit as st

import engine
import ui
from engine.inference import kv_cache as kv
from engine.inference import lab as il
from engine.inference import llm_serving as llm
from engine.inference import serving as sv
from ui import workspace as ws
from ui.checkpoint import masked, masked_rows, reveal, revealed
from viz import serving as vs
from viz.timeline import gantt

ui.setup("serving", "Serving & batching",
         "One GPU, a stream of requests: batching shares each read of the weights among many requests "
         "— until the compute roof, and at the price of waiting.")
t_ = ui.t
TR = ui.translator()
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
HW = {name: hw for name, hw in engine.hardware_presets().items() if name in kv.CARD_MEMORY_GIB}
PARTS = {"batching": t_("Batching"), "llm": t_("LLM decoding"), "kv": t_("KV cache")}
SERVED = {"graph": t_("A graph"), "llm": t_("LLM-size model")}  # URL ids (ui.by_id) -> shown labels
EXAMPLES = ("preset:self_attention", "preset:resnet_basic_block", "zoo:resnet18")

with ui.controls():
    part = ui.by_id(st).radio(t_("Part"), list(PARTS), format_func=PARTS.get, horizontal=True,
                              key="sv_part", bind="query-params")
    c = st.columns(4)
    hw_name = c[0].selectbox(t_("GPU"), list(HW), index=2, key="sv_hw", bind="query-params")
    if part == "batching":
        served = ui.by_id(c[1]).selectbox(t_("Served model"), list(SERVED), format_func=SERVED.get,
                                          key="sv_served", bind="query-params")
    else:
        model_name = c[1].selectbox(t_("Model"), list(kv.model_configs()), index=1,
                                    key="sv_model", bind="query-params")
        cfg = kv.model_configs()[model_name]
    dtype = c[2].selectbox(t_("Weight dtype"), list(sv.DTYPE_BYTES), index=1, key="sv_dtype",
                           bind="query-params")
    overhead_ms = c[3].number_input(t_("Fixed overhead per pass (ms)"), 0.0, 100.0, 0.2,
                                    key="sv_overhead", bind="query-params")
    d = st.columns(5 if part == "batching" else 4)
    if part == "batching":
        if served == "graph":
            choice = ws.choose("sv_graph", EXAMPLES, slot=d[0])
            acts = d[1].toggle(t_("Count activation traffic"), True, key="sv_acts", bind="query-params",
                               help=t_("Every op reads its inputs from memory and writes its output back, "
                                       "once per request; off: weights only, as the LLM-size model."))
        else:
            params_b = d[0].number_input(t_("Parameters (billions)"), 0.0, 2000.0, 1.0,
                                         key="sv_params_batching", bind="query-params")
            tokens = d[1].number_input(t_("Tokens per request"), 1, 4096, 16, key="sv_tokens",
                                       bind="query-params")
        batch = d[2].slider(t_("Max batch size B"), 1, 64, 8, key="sv_batch", bind="query-params")
        delay_ms = d[3].slider(t_("Max queue delay τ (ms)"), 0.0, 20.0, 2.0, key="sv_delay",
                               bind="query-params")
        load = d[4].slider(t_("Offered load (share of capacity at B)"), 0.05, 0.99, 0.7, key="sv_load",
                           bind="query-params")
    elif part == "llm":
        prompt = d[0].number_input(t_("Prompt tokens"), 1, 8192, 256, key="sv_prompt", bind="query-params")
        mean_out = d[1].number_input(t_("Mean output tokens"), 1, 1024, 64, key="sv_out", bind="query-params")
        dist = d[2].selectbox(t_("Output lengths"), llm.LENGTH_DISTS, index=2, key="sv_dist",
                              bind="query-params")
        batch = d[3].slider(t_("Max sequences in flight"), 1, 128, 16, key="sv_seqs", bind="query-params")
    else:
        n_seqs = d[0].slider(t_("Sequences (memory chart)"), 1, 256, 16, key="sv_nseqs", bind="query-params")
        max_len = d[1].number_input(t_("Max length (tokens)"), 1, 1 << 17, 2048, key="sv_maxlen",
                                    bind="query-params")
        mean_out = d[2].number_input(t_("Mean output tokens"), 1, 1 << 16, 256, key="sv_kvout",
                                     bind="query-params")
        kv_dtype = d[3].selectbox(t_("KV dtype"), ["fp16", "int8", "fp32"], key="sv_kvdtype",
                                  bind="query-params")
def graph_service(g: str, hw_name: str, dtype: str, overhead: float, acts: bool, sizes: tuple):
    graph = ws.graph_of(ws.parse_g(g))[0]
    return (engine.model_from_graph(graph, hw_name, dtype, overhead, acts),
            engine.batch_cost_curve(graph, hw_name, sizes, dtype, overhead, acts))
hw, card_bytes = HW[hw_name], kv.CARD_MEMORY_GIB[hw_name] * kv.GIB
with ui.guard():
    if part == "batching" and (served == "llm" or choice is not None):  # None: ws.choose said why
        sizes = il.batch_sizes(batch)
        if served == "graph":
            model, curve = ui.cached(graph_service)(choice.source.g, hw_name, dtype, overhead_ms / 1e3,
                                                    acts, sizes)
        else:
            model = sv.ServiceModel(params_b * 1e9, dtype, hw.peak_flops, hw.bandwidth, int(tokens),
                                    overhead=overhead_ms / 1e3, memory=card_bytes)
            curve = il.service_curve(model, sizes)
        rate, knee = load * model.capacity(batch), model.knee
        told = not (asked := 1 <= knee < math.inf) or revealed("sv_knee")  # nothing states it before
        title = t_("Cost of one pass vs batch size") + (f": {choice.name}" if served == "graph" else "")
        ui.show_figure(fig(vs.batch_cost)(curve, batch, knee if told else math.nan, title, tr=TR), "sv_cost",
                       ui.t_message(il.batch_cost_note(model, told)), rows=il.curve_rows(curve))
        for col, (label, value) in zip(st.columns(4), il.service_facts(model)):
            col.metric(t_(label), masked("sv_knee", value, when=asked and label == "Knee (batch size)"))
        if asked:
            ui.checkpoint("sv_knee", t_("Predict: at which batch size does the compute time catch up with "
                                        "the weight read?"), round(knee, 1),
                          t_("Knee = (weight bytes / bandwidth) / (FLOPs per request / peak − activation "
                             "bytes per request / bandwidth)."), rel_tol=0.2)
        loads = [0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]
        rows = ui.cached(sv.load_sweep)(model, loads, sv.POLICIES, 2000, batch, delay_ms / 1e3)
        ui.show_figure(fig(vs.latency_vs_load)(rows, t_("Latency vs offered load"), tr=TR), "sv_knee",
                       t_("No batching saturates at one request per pass; static batching waits for a "
                          "full batch (bad at light load); dynamic batching with a delay bound gets "
                          "both."), rows=rows)
        ui.show_figure(fig(vs.throughput_latency)(rows, t_("Throughput–latency trade-off"), tr=TR),
            "sv_tradeoff", t_("Each point is one load; up and to the right is the price of throughput."))
        runs = {p: ui.cached(sv.simulate)(model, rate, 2000, p, batch, delay_ms / 1e3) for p in sv.POLICIES}
        st.dataframe(sv.policy_table(runs, model.tokens), hide_index=True)
        st.caption(t_("λ = {rate:,.1f} requests/s. little_L is the time-average number in the system; "
                      "Little's law says it equals λ × mean latency.", rate=rate))
        shown = min(40, len(runs["dynamic"].batches))
        def batch_fig(k): return gantt(sv.batch_timeline(runs["dynamic"], shown, k),  # GIF frames too
                                       t_("Dynamic batching: the first {shown} batches", shown=shown), tr=TR)
        def show_batch(k: int) -> None:
            st.info(ui.t_message(sv.batch_log(runs["dynamic"], k)))
            ui.show_figure(batch_fig(k), "sv_gantt", t_("Grey: the batcher holds an idle GPU to let the "
                                                        "batch fill, at most τ. The outlined batch is the "
                                                        "current step."))
        ui.stepper("sv_step", shown, render=show_batch, frame=batch_fig)
    elif part == "llm":
        model = llm.model_for(cfg, dtype, hw.peak_flops, hw.bandwidth, overhead_ms / 1e3, card_bytes)
        rates = llm.sweep_rates(model, batch, int(prompt), int(mean_out))
        rows = ui.cached(llm.llm_sweep)(model, rates, 300, int(prompt), int(mean_out), dist, batch)
        reveal("sv_orca", ui.show_figure, fig(vs.llm_sweep)(rows, "tokens_per_s", t_("output tokens/s"),
                                         t_("Throughput: request-level vs iteration-level batching"), tr=TR),
            "sv_llm_tps", t_("Static batching decodes until the longest sequence ends; continuous "
                             "batching refills a slot the moment one frees."), rows=rows)
        ui.show_figure(fig(vs.llm_sweep)(rows, "ttft_p99", t_("p99 time to first token (ms)"),
                                         t_("Time to first token"), 1e3, log=True, tr=TR), "sv_llm_ttft",
            t_("A new request waits for a whole static batch, but only one iteration under continuous "
               "batching."))
        ui.checkpoint("sv_orca", t_("Predict: at the highest rate, how many times the static tokens/s "
                                    "does continuous batching reach?"), round(llm.continuous_gain(rows), 2),
                      t_("The gap grows with the spread of output lengths."), rel_tol=0.15)
        reveal("sv_orca", st.dataframe, llm.sweep_table(rows), hide_index=True, note=False)
        longest, cap = kv.in_flight_capacity(cfg, kv.CARD_MEMORY_GIB[hw_name], prompt, mean_out, dtype)
        (st.warning if batch > cap.sequences_paged else st.caption)(
            t_("KV cache: {sequences_contiguous} sequences fit at {longest} tokens each (contiguous), "
               "about {sequences_paged} with paging; this run keeps up to {batch} in flight.",
               sequences_contiguous=cap.sequences_contiguous, longest=longest,
               sequences_paged=cap.sequences_paged, batch=batch))
        slots = min(batch, 6)
        timelines = ui.cached(llm.slot_timelines)(model, rates[3], int(prompt), int(mean_out), dist, slots)
        for col, (policy, tl) in zip(st.columns(2), timelines.items()):
            with col:
                title = t_("{policy}: 24 requests, {slots} slots", policy=vs.policy_name(policy, TR),
                           slots=slots)
                ui.show_figure(gantt(tl, title, tr=TR), f"sv_slots_{policy}",
                               t_("Blue prefill, green decode, grey padding (the result is held back)."))
    elif part == "kv":
        card = kv.CARD_MEMORY_GIB[hw_name]
        cap = kv.capacity(cfg, card, int(max_len), min(int(mean_out) + 256, int(max_len)), dtype, kv_dtype)
        m = st.columns(4)
        kib, gqa = cap.kv_per_token / 1024, kv.kv_bytes_per_token(80, 8, 128) / 1024  # gqa: sv_gqa's answer
        m[0].metric(t_("KV bytes per token"), masked("sv_gqa", f"{kib:,.0f} KiB", when=kib == gqa))
        m[1].metric(t_("Attention"), cfg.attention)
        m[2].metric(t_("Sequences (contiguous)"), f"{cap.sequences_contiguous:,}")
        m[3].metric(t_("Sequences (paged)"), f"{cap.sequences_paged:,}")
        st.caption(t_("Source: ") + cfg.source + t_(". 256 prompt tokens assumed."))
        lengths = kv.sample_lengths(2000, 256, int(mean_out), int(max_len))
        ui.show_figure(fig(vs.kv_waste)(kv.waste_rows(lengths, int(max_len)),
                                        t_("Wasted KV memory: reserve max length vs allocate blocks"), tr=TR),
            "sv_waste", t_("Contiguous reservation wastes everything a sequence never reaches; paging "
                           "wastes at most one partly filled block per sequence."))
        ui.checkpoint("sv_gqa", t_("Predict: how many KiB of fp16 KV cache does one token of "
                                   "Llama-2-70B need (80 layers, 8 KV heads of 128)?"),
                      gqa, "2 · 80 · 8 · 128 · 2 B = 320 KiB.")
        rows = kv.memory_rows(card, n_seqs, int(max_len), kv_dtype, dtype)
        title = t_("{n_seqs} sequences × {max_len} tokens on {hw_name}", n_seqs=n_seqs, max_len=max_len,
                   hw_name=hw_name)
        ui.show_figure(fig(vs.kv_memory)(rows, card, title, tr=TR), "sv_kvmem",
                       t_("GQA and MQA shrink the cache by the number of query heads per KV head."),
                       rows=masked_rows("sv_gqa", rows, "kv_kib_per_token"))

ui.lesson("serving")
