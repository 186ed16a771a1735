"""Compression Pareto view: every variant of the lab on accuracy vs size vs latency."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from ui.heavy import cached_heavy
from engine.compression.lab import lab_variants
from viz import compression as vc

ui.setup("compression_pareto", "Compression Pareto view", "压缩帕累托视图",
         "Quantised, pruned, factorised and distilled models on one chart: which ones are worth it?",
         "量化、剪枝、低秩分解与蒸馏后的模型画在同一张图上：哪些值得用？")
t_ = ui.t
ZH = ui.lang() == "zh"
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
PRESETS = list(engine.hardware_presets())

with ui.controls():
    c = st.columns(2)
    model = c[0].selectbox(t_("Model", "模型"), ["mlp", "cnn"], key="cp_model", bind="query-params")
    hw = c[1].selectbox(t_("Latency model: hardware preset", "时延模型：硬件预设"), PRESETS,
                        index=PRESETS.index("Phone CPU (assumed)") if "Phone CPU (assumed)" in PRESETS else 0,
                        key="cp_hw", bind="query-params")

with ui.guard():
    variants = cached_heavy(lab_variants, "train")(model, 0, hw)
    ui.show_figure(fig(vc.pareto_figure)(variants, t_(f"{model}: every compressed variant ({hw})",
                                                 f"{model}：所有压缩变体（{hw}）"), zh=ZH),
                   "cp_pareto", t_("Big outlined markers are Pareto-optimal: no other variant is at once "
                                   "as accurate, as small and as fast. Unstructured pruning shrinks size "
                                   "but not latency (dense kernels still do every multiply).",
                                   "带黑边的大标记是帕累托最优：没有别的变体同时更准、更小、更快。非结构化剪枝减小了体积却不减时延（稠密算子仍做每一次乘法）。"),
                   rows=[dict(name=v.name, family=v.family, accuracy=v.accuracy, size_bytes=v.size_bytes,
                              latency_us=v.latency_us, flops=v.flops, pareto=v.pareto, note=v.note)
                         for v in variants])
    st.dataframe([{t_("variant", "变体"): v.name, t_("accuracy", "精度"): f"{v.accuracy:.1%}",
                   t_("size (bytes)", "大小（字节）"): v.size_bytes,
                   t_("latency (µs)", "时延（µs）"): float(f"{v.latency_us:.3g}"), "FLOPs": v.flops,
                   "Pareto": "★" if v.pareto else "", t_("note", "说明"): v.note} for v in variants],
                 hide_index=True)
    fp32 = variants[0]
    int8 = next(v for v in variants if v.name == "PTQ int8")
    ui.checkpoint("cp_ck", t_("By what factor does int8 PTQ shrink the model's bytes compared with fp32?",
                              "与 fp32 相比，int8 PTQ 把模型字节数缩小到几分之一？"),
                  round(fp32.size_bytes / int8.size_bytes, 2),
                  t_("A little under 4: weights go from 4 bytes to 1, but biases stay fp32 and every "
                     "output channel keeps a 4-byte scale.",
                     "略小于 4：权重从 4 字节变成 1 字节，但偏置仍是 fp32，且每个输出通道还要存一个 4 字节的缩放因子。"),
                  rel_tol=0.1)
    st.caption(t_("Latency: sum over graph nodes of max(FLOPs / peak, bytes / bandwidth) for one image "
                  "(engine.core.cost_model + engine.roofline); int8 compute assumed 4x the fp32 rate. A lower "
                  "bound for comparing variants, not a wall-clock prediction.",
                  "时延：单张图像下，对计算图每个节点取 max(FLOPs / 峰值, 字节 / 带宽) 再求和（engine.core.cost_model + engine.roofline）；"
                  "假设 int8 计算速率为 fp32 的 4 倍。这是用于比较变体的下界，而非实际耗时预测。"))

ui.lesson("compression_pareto")
