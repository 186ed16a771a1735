"""Roofline: is this kernel memory-bound or compute-bound on that chip?"""
from __future__ import annotations


import streamlit as st

import engine
import ui
from viz import kernels as vk

from engine.kernels import roofline_model as R

ui.setup("roofline", "Roofline", "Roofline 模型",
         "Attainable FLOP/s = min(peak, intensity × bandwidth): where a kernel lands says what to "
         "optimise.", "可达 FLOP/s = min(峰值, 算术强度 × 带宽)：算子落在哪里，决定了该优化什么。")
t_ = ui.t
zh = ui.lang() == "zh"
PRESETS = engine.hardware_presets()

with ui.controls():
    c = st.columns([2, 1, 1, 1, 1])
    hw_name = c[0].selectbox(t_("Hardware", "硬件"), [*PRESETS, "Custom · 自定义"], index=1, key="rf_hw",
                             bind="query-params")
    hw = PRESETS.get(hw_name) or R.Hardware("Custom", 100e12, 1000e9, None,
                                            t_("your own numbers: edit peak and bandwidth",
                                               "你自己的数字：修改峰值与带宽"))
    precision = c[1].radio(t_("Peak", "峰值"), ["fp16", "fp32"], key="rf_prec", horizontal=True,
                           bind="query-params",   # plain labels: the URL keeps them in both languages
                           help=t_("fp16: the matrix (tensor core) peak; fp32: the vector peak.",
                                   "fp16：矩阵单元（Tensor Core）峰值；fp32：向量单元峰值。"))
    default_peak = hw.peak_flops if precision == "fp16" or not hw.peak_fp32 else hw.peak_fp32
    slug = "".join(ch for ch in hw_name.lower() if ch.isascii() and ch.isalnum()) + ("" if precision == "fp16" else "32")
    peak_t = c[2].number_input(t_("Peak TFLOP/s", "峰值 TFLOP/s"), 0.0, 1e5, default_peak / 1e12,
                               key=f"rf_peak_{slug}", bind="query-params",
                               help=t_("Edit it to model another chip.", "可修改以模拟其他芯片。"))
    bw_g = c[3].number_input(t_("Bandwidth GB/s", "带宽 GB/s"), 0.0, 1e5, hw.bandwidth / 1e9,
                             key=f"rf_bw_{slug}", bind="query-params")
    dtype_bytes = c[4].selectbox(t_("Bytes per element", "每元素字节"), [2, 4, 1], key="rf_bytes",
                                 bind="query-params")
    st.caption(t_("Source: ", "来源：") + hw.source +
               (t_(f" · fp32 peak {hw.peak_fp32 / 1e12:g} TFLOP/s", f" · fp32 峰值 {hw.peak_fp32 / 1e12:g} TFLOP/s")
                if hw.peak_fp32 else ""))
    k = st.columns(6)
    m = k[0].number_input("GEMM M", 1, 1 << 20, 4096, key="rf_m", bind="query-params")
    n = k[1].number_input("GEMM N", 1, 1 << 20, 4096, key="rf_n", bind="query-params")
    kk = k[2].number_input("GEMM K", 1, 1 << 20, 4096, key="rf_k", bind="query-params")
    seq = k[3].number_input(t_("Sequence length", "序列长度"), 1, 1 << 20, 4096, key="rf_seq",
                            bind="query-params")
    head = k[4].number_input(t_("Head dim", "头维度"), 1, 1024, 128, key="rf_head", bind="query-params")
    graph_name = k[5].selectbox(t_("Graph layers", "计算图各层"), ["—", *engine.preset_names()],
                                key="rf_graph", bind="query-params")
    show_elem = st.toggle(t_("Elementwise ops", "逐元素算子"), True, key="rf_elem", bind="query-params")


def graph_points(name: str):
    return R.graph_points(engine.preset(name))


BOUND = {"memory_bound": t_("memory-bound", "访存受限"), "compute_bound": t_("compute-bound", "计算受限")}

with ui.guard():
    peak, bw = peak_t * 1e12, bw_g * 1e9
    ridge = R.ridge_point(peak, bw)
    points = [R.gemm_point(int(m), int(n), int(kk), dtype_bytes),
              *R.attention_points(int(seq), int(head), 32, 1, dtype_bytes)]
    if show_elem:
        points += R.elementwise_points(1 << 24, dtype_bytes)
    if graph_name != "—":
        points += ui.cached(graph_points)(graph_name)
    ui.show_figure(vk.roofline_figure(peak, bw, points, hw_name,
                                       t_(f"Roofline: {hw_name}", f"Roofline：{hw_name}"), zh=zh), "rf_plot",
                   t_(f"Left of the ridge point ({ridge:.0f} FLOP/B) a kernel waits for memory (blue); "
                      "right of it, for arithmetic (red). Decode attention and elementwise ops sit "
                      "far left; big GEMMs and long-prompt prefill sit right (hover a dot for its name; "
                      "the table lists every kernel).",
                      f"在脊点（{ridge:.0f} FLOP/B）左侧，算子在等内存（蓝色）；右侧在等计算（红色）。"
                      "解码阶段注意力与逐元素算子远在左侧；大 GEMM 与长提示词的预填充在右侧（鼠标悬停看名称，"
                      "下表列出全部算子）。"),
                   rows=[dict(kernel=p.name, flops=p.flops, bytes=p.bytes, intensity=p.intensity)
                         for p in points])
    table = []
    for p in points:
        attainable = engine.roofline(p.intensity, peak, bw)
        table.append({t_("kernel", "算子"): vk.kernel_name(p.name, zh), "GFLOP": p.flops / 1e9, "MB": p.bytes / 1e6,
                      t_("FLOP/B", "FLOP/B"): round(p.intensity, 3),
                      t_("attainable TFLOP/s", "可达 TFLOP/s"): attainable / 1e12,
                      t_("% of peak", "峰值占比"): f"{100 * attainable / peak:.1f} %",
                      t_("bound", "瓶颈"): BOUND[R.bound(p.intensity, peak, bw)],
                      t_("time (µs)", "时间 (µs)"): 1e6 * p.flops / attainable})
    nc = st.column_config.NumberColumn
    st.dataframe(table, hide_index=True, column_config={
        "GFLOP": nc(format="%.3g"), "MB": nc(t_("MB (10⁶ B)", "MB (10⁶ 字节)"), format="%.1f"),
        "FLOP/B": nc(format="%.3g"), t_("attainable TFLOP/s", "可达 TFLOP/s"): nc(format="%.3g"),
        t_("time (µs)", "时间 (µs)"): nc(format="%.1f")})
    st.caption(t_("Bytes count each tensor moved once between memory and the chip (a perfect cache); "
                  "graph layers use the cost model's bytes read + written (fp32).",
                  "字节数按每个张量在内存与芯片间只搬运一次计算（理想缓存）；计算图各层采用代价模型的"
                  "读写字节数（fp32）。"))
    ui.checkpoint("rf_decode", t_("On an A100, is decoding one token (attention over a 4096-token KV "
                                  "cache) memory- or compute-bound?",
                                  "在 A100 上，解码一个 token（对 4096 长度的 KV 缓存做注意力）是访存受限还是计算受限？"),
                  BOUND["memory_bound"], t_("About 1 FLOP per byte against a ridge point near 200.",
                                            "约 1 FLOP/B，而脊点约为 200。"),
                  choices=list(BOUND.values()))

ui.lesson("roofline")
