"""Figures of the compression lab (quantisation, pruning, low rank, distillation, Pareto view).

Every function turns engine results into a plotly Figure with a title and labelled axes.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

def _t(zh: bool, en: str, cn: str) -> str:
    return cn if zh else en


def _line(fig: go.Figure, axis: str, at: float, xref: str = "x", yref: str = "y", **line) -> None:
    """A vertical (axis="x") or horizontal (axis="y") line across one subplot.

    Appends a plain shape dict: ``add_vline`` / ``add_hline`` validate every subplot each call and
    cost ~30 ms apiece, which a page redrawing on every slider move cannot afford.
    """
    if axis == "x":
        shape = dict(type="line", x0=at, x1=at, xref=xref, y0=0, y1=1, yref=f"{yref} domain", line=line)
    else:
        shape = dict(type="line", y0=at, y1=at, yref=yref, x0=0, x1=1, xref=f"{xref} domain", line=line)
    fig.layout.shapes = (*fig.layout.shapes, shape)


def _band(fig: go.Figure, x0: float, x1: float, xref: str, yref: str, color: str) -> None:
    fig.layout.shapes = (*fig.layout.shapes, dict(type="rect", x0=x0, x1=x1, xref=xref, y0=0, y1=1,
                                                  yref=f"{yref} domain", fillcolor=color,
                                                  opacity=0.10, line_width=0, layer="below"))


def _legend_below(fig: go.Figure, height: int = 460) -> go.Figure:
    """Side-by-side subplots carry their own titles on top: put the legend underneath instead."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0),
                      margin=dict(b=110), height=height)
    return fig


LOG_TICKS = dict(dtick=1, minor=dict(ticks="outside", ticklen=3, showgrid=False))

#: Chinese one-line notes on each observer (the engine's ``note`` is English).
OBSERVER_NOTES_ZH = {"minmax": "取见到的最小值与最大值", "moving_average": "先取第一批的最值，之后每批向新最值移动 1%",
                     "percentile": "取第 p 百分位：最罕见的那部分值被截断",
                     "mse": "在全范围的 1%..100% 之间找量化-反量化误差最小的截断值",
                     "entropy": "取使量化后直方图与原直方图 KL 散度最小的阈值（TensorRT 校准）"}

METHOD_COLORS = {"minmax": OKABE_ITO["blue"], "moving_average": OKABE_ITO["sky"],
                 "percentile": OKABE_ITO["orange"], "mse": OKABE_ITO["green"],
                 "entropy": OKABE_ITO["purple"]}


def observer_figure(x: np.ndarray, observations: dict, selected: str, title: str,
                    zh: bool = False) -> go.Figure:
    """Histogram of the values with every observer's clipping range as vertical lines."""
    fig = go.Figure(go.Histogram(x=np.ravel(x), nbinsx=120, name=_t(zh, "values", "数值"),
                                 marker_color=OKABE_ITO["grey"], opacity=0.7))
    for k, (method, o) in enumerate(observations.items()):
        width = 4 if method == selected else 1.5
        color = METHOD_COLORS.get(method, SEQUENCE[k % len(SEQUENCE)])
        for v in (float(np.min(o.min_val)), float(np.max(o.max_val))):
            _line(fig, "x", v, color=color, width=width, dash="solid" if method == selected else "dot")
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=method,
                                 line=dict(color=color, width=width)))
    fig.update_xaxes(title_text=_t(zh, "value x (tensor units)", "数值 x（张量原单位）"))
    fig.update_yaxes(title_text=_t(zh, "count (log)", "个数（对数）"), type="log", **LOG_TICKS)
    return apply_theme(fig, title)


def grid_figure(x: np.ndarray, xq: np.ndarray, scale: float, lo: float, hi: float,
                title: str, zh: bool = False) -> go.Figure:
    """The quantisation staircase x -> x^ and the error x^ - x per value."""
    order = np.argsort(np.ravel(x))
    xs, qs = np.ravel(x)[order], np.ravel(xq)[order]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        _t(zh, "dequantised value x^ vs x", "反量化值 x^ 与 x"),
        _t(zh, "error x^ − x (clipped values stand out)", "误差 x^ − x（被截断的值很显眼）")))
    fig.add_trace(go.Scatter(x=xs, y=xs, mode="lines", name=_t(zh, "x (ideal)", "x（理想）"),
                             line=dict(color=OKABE_ITO["grey"], dash="dot")), 1, 1)
    fig.add_trace(go.Scatter(x=xs, y=qs, mode="lines", name="x^ = s (q − z)",
                             line=dict(color=MEANING["highlight"], shape="hv")), 1, 1)
    fig.add_trace(go.Scattergl(x=xs, y=qs - xs, mode="markers", name=_t(zh, "error", "误差"),
                               marker=dict(size=3, color=OKABE_ITO["blue"])), 1, 2)
    for ax in ("", "2"):
        _band(fig, lo, hi, f"x{ax}", f"y{ax}", OKABE_ITO["green"])
    for y in (scale / 2, -scale / 2):
        _line(fig, "y", y, "x2", "y2", color=OKABE_ITO["green"], dash="dash")
    fig.update_xaxes(title_text=_t(zh, "value x (tensor units)", "数值 x（张量原单位）"))
    fig.update_yaxes(title_text=_t(zh, "x^ (tensor units)", "x^（张量原单位）"), row=1, col=1)
    fig.update_yaxes(title_text=_t(zh, "error (tensor units)", "误差（张量原单位）"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


def bitwidth_figure(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    fig = go.Figure()
    names = {"weights": _t(zh, "PTQ weights only", "PTQ 仅权重"),
             "dynamic": _t(zh, "PTQ dynamic (activations per batch)", "PTQ 动态（激活逐批）"),
             "static": _t(zh, "PTQ static (calibrated activations)", "PTQ 静态（校准激活）")}
    for k, mode in enumerate(("weights", "dynamic", "static")):
        pts = [r for r in rows if r["mode"] == mode]
        fig.add_trace(go.Scatter(x=[r["bits"] for r in pts], y=[100 * r["accuracy"] for r in pts],
                                 mode="lines+markers", name=names[mode], line=dict(color=SEQUENCE[k])))
    if rows:
        fig.add_trace(go.Scatter(x=[8, 2], y=[100 * rows[0]["fp32_accuracy"]] * 2, mode="lines",
                                 name="fp32", line=dict(color=OKABE_ITO["black"], dash="dot")))
    fig.update_xaxes(title_text=_t(zh, "bit width (bits)", "位宽（位）"), autorange="reversed", dtick=1)
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"))
    return apply_theme(fig, title)


def ste_figure(w: np.ndarray, wq: np.ndarray, mask: np.ndarray, clip: float, title: str,
               zh: bool = False) -> go.Figure:
    """Fake-quantised weight vs weight, and the straight-through gradient mask."""
    order = np.argsort(np.ravel(w))
    ws = np.ravel(w)[order]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        _t(zh, "forward: fake-quantised weight", "前向：伪量化后的权重"),
        _t(zh, "backward: STE gradient mask", "反向：STE 梯度掩码")))
    fig.add_trace(go.Scatter(x=ws, y=np.ravel(wq)[order], mode="lines", name="FakeQuant(w)",
                             line=dict(color=MEANING["forward"], shape="hv")), 1, 1)
    fig.add_trace(go.Scatter(x=ws, y=np.ravel(mask)[order], mode="lines",
                             name=_t(zh, "dL/dw passes (1) or not (0)", "dL/dw 通过 (1) 或被挡 (0)"),
                             line=dict(color=MEANING["backward"], shape="hv", width=3)), 1, 2)
    passing = ws[np.ravel(mask)[order] > 0]      # where the mask switches (the grid's ends ± s/2)
    for ax in ("", "2"):
        for v in ((passing.min(), passing.max()) if passing.size else (-clip, clip)):
            _line(fig, "x", float(v), f"x{ax}", f"y{ax}", color=OKABE_ITO["grey"], dash="dash")
    fig.update_xaxes(title_text=_t(zh, "weight w", "权重 w"))
    fig.update_yaxes(title_text=_t(zh, "value used forward", "前向使用的值"), row=1, col=1)
    fig.update_yaxes(title_text=_t(zh, "gradient multiplier", "梯度乘数"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


def accuracy_bars(labels: list[str], values: list[float], title: str, colors=None,
                  zh: bool = False) -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=[100 * v for v in values],
                           text=[f"{100 * v:.1f}%" for v in values], textposition="outside",
                           marker_color=colors or SEQUENCE[:len(labels)]))
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"), range=[0, 105])
    fig.update_xaxes(title_text=_t(zh, "variant", "变体"))
    return apply_theme(fig, title)


# -- pruning and low rank ----------------------------------------------------------------------
def mask_heatmap(w: np.ndarray, mask: np.ndarray, title: str, zh: bool = False) -> go.Figure:
    """The weight matrix with pruned entries blank (grey background)."""
    w2 = np.asarray(w).reshape(w.shape[0], -1)
    m2 = np.asarray(mask).reshape(w2.shape)
    shown = np.where(m2 > 0, w2, np.nan)
    lim = float(np.nanmax(np.abs(w2))) if w2.size and np.any(w2) else 1.0
    fig = go.Figure(go.Heatmap(z=shown, zmin=-lim, zmax=lim, colorscale="RdBu", zmid=0,
                               colorbar=dict(title=_t(zh, "weight", "权重"))))
    fig.update_xaxes(title_text=_t(zh, "column: output unit (dense) or flattened kernel (conv)",
                                   "列：输出单元（全连接）或展平的卷积核（卷积）"), showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=_t(zh, "row: input unit / filter", "行：输入单元 / 卷积核"),
                     autorange="reversed", showgrid=False, zeroline=False)
    apply_theme(fig, title)
    fig.update_layout(plot_bgcolor="#BBBBBB")      # after the theme: pruned (NaN) cells show grey
    return fig


METHOD_NAMES = {"l1_unstructured": ("magnitude, per layer", "按幅值，逐层"),
                "global_unstructured": ("magnitude, global", "按幅值，全局"),
                "ln_structured": ("structured (L2 channels)", "结构化（按 L2 剪通道）"),
                "2:4": ("2:4 semi-structured", "2:4 半结构化")}


def sparsity_figure(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    fig = go.Figure()
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        pts = [r for r in rows if r["method"] == method]
        en, cn = METHOD_NAMES.get(method, (method, method))
        fig.add_trace(go.Scatter(x=[100 * r["sparsity"] for r in pts],
                                 y=[100 * r["accuracy"] for r in pts], mode="lines+markers",
                                 name=_t(zh, en, cn), line=dict(color=SEQUENCE[k])))
    fig.update_xaxes(title_text=_t(zh, "sparsity (% of weights zero)", "稀疏度（权重为零的百分比）"))
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"), range=[0, 102])
    return apply_theme(fig, title)


def schedule_figure(schedule, accuracies, one_shot: float, title: str, zh: bool = False) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = [s for s, _ in schedule]
    fig.add_trace(go.Scatter(x=steps, y=[100 * t for _, t in schedule],
                             name=_t(zh, "target sparsity s_t", "目标稀疏度 s_t"),
                             mode="lines+markers", line=dict(color=OKABE_ITO["orange"])), secondary_y=False)
    fig.add_trace(go.Scatter(x=steps, y=[100 * a for a in accuracies],
                             name=_t(zh, "accuracy after fine-tuning", "微调后精度"),
                             mode="lines+markers", line=dict(color=OKABE_ITO["blue"])), secondary_y=True)
    fig.add_trace(go.Scatter(x=[steps[-1]], y=[100 * one_shot],
                             name=_t(zh, "one shot to the final sparsity", "一次剪到最终稀疏度"),
                             mode="markers", marker=dict(symbol="x", size=14, color=MEANING["highlight"])),
                  secondary_y=True)
    fig.update_xaxes(title_text=_t(zh, "pruning step (one epoch of fine-tuning each)",
                                   "剪枝步（每步微调一轮）"), dtick=1)
    fig.update_yaxes(title_text=_t(zh, "sparsity (%)", "稀疏度（%）"), secondary_y=False, range=[0, 100])
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"), secondary_y=True,
                     range=[0, 100])
    return apply_theme(fig, title)


def lowrank_figure(rows: list[dict], rank: int, title: str, zh: bool = False) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        _t(zh, "error and accuracy", "误差与精度"), _t(zh, "cost: layer params, model FLOPs", "代价：该层参数、模型 FLOPs")))
    r = [x["rank"] for x in rows]
    fig.add_trace(go.Scatter(x=r, y=[100 * x["rel_error"] for x in rows],
                             name=_t(zh, "‖W − W_r‖/‖W‖ (%)", "‖W − W_r‖/‖W‖（%）"),
                             line=dict(color=OKABE_ITO["vermillion"])), 1, 1)
    fig.add_trace(go.Scatter(x=r, y=[100 * x["accuracy"] for x in rows],
                             name=_t(zh, "test accuracy (%)", "测试精度（%）"),
                             line=dict(color=OKABE_ITO["blue"])), 1, 1)
    fig.add_trace(go.Scatter(x=r, y=[x["layer_params"] for x in rows],
                             name=_t(zh, "params r·(in + out)", "参数 r·(in + out)"),
                             line=dict(color=OKABE_ITO["green"])), 1, 2)
    fig.add_trace(go.Scatter(x=r, y=[x["dense_layer_params"] for x in rows],
                             name=_t(zh, "params in·out (dense)", "参数 in·out（稠密）"),
                             line=dict(color=OKABE_ITO["grey"], dash="dot")), 1, 2)
    fig.add_trace(go.Scatter(x=r, y=[x["flops"] for x in rows],
                             name=_t(zh, "model FLOPs per image", "整个模型每张图的 FLOPs"),
                             line=dict(color=OKABE_ITO["orange"])), 1, 2)
    fig.add_trace(go.Scatter(x=r, y=[x["dense_flops"] for x in rows],
                             name=_t(zh, "model FLOPs, dense", "整个模型 FLOPs（稠密）"),
                             line=dict(color=OKABE_ITO["orange"], dash="dot")), 1, 2)
    for ax in ("", "2"):
        _line(fig, "x", rank, f"x{ax}", f"y{ax}", color=OKABE_ITO["black"], dash="dash")
    fig.update_xaxes(title_text=_t(zh, "rank r", "秩 r"))
    fig.update_yaxes(title_text=_t(zh, "percent (%)", "百分比（%）"), row=1, col=1)
    fig.update_yaxes(title_text=_t(zh, "count (parameters or FLOPs)", "个数（参数或 FLOPs）"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


# -- distillation and the Pareto view -----------------------------------------------------------
def softened_figure(probs: dict, label: int, title: str, zh: bool = False) -> go.Figure:
    fig = go.Figure()
    for k, (t, p) in enumerate(probs.items()):
        fig.add_trace(go.Bar(x=list(range(10)), y=p, name=f"T = {t:g}", marker_color=SEQUENCE[k % 8]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=_t(zh, f"digit (true label {label})", f"数字（真实标签 {label}）"), dtick=1)
    fig.update_yaxes(title_text=_t(zh, "probability softmax(z / T) (log)", "概率 softmax(z / T)（对数）"),
                     type="log", range=[-6, 0.05], exponentformat="power", **LOG_TICKS)
    return apply_theme(fig, title)


def kd_seeds_figure(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    fig = go.Figure()
    names = {"teacher": _t(zh, "teacher 64-128-10", "教师 64-128-10"),
             "student_alone": _t(zh, "student alone 64-8-10", "单独训练的学生 64-8-10"),
             "student_kd": _t(zh, "student with KD", "蒸馏的学生")}
    for k, (key, name) in enumerate(names.items()):
        fig.add_trace(go.Bar(x=[_t(zh, f"seed {r['seed']}", f"种子 {r['seed']}") for r in rows],
                             y=[100 * r[key] for r in rows], name=name, marker_color=SEQUENCE[k]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=_t(zh, "data split and initialisation seed", "数据划分与初始化种子"))
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"), range=[70, 100])
    return apply_theme(fig, title)


FAMILY_SYMBOL = {"fp32": "star", "ptq": "circle", "qat": "diamond", "pruned": "square",
                 "2:4": "square-open", "lowrank": "triangle-up", "kd": "hexagon"}
FAMILY_ZH = {"fp32": "fp32", "ptq": "训练后量化", "qat": "量化感知训练", "pruned": "剪枝",
             "2:4": "2:4 稀疏", "lowrank": "低秩", "kd": "蒸馏"}


def pareto_figure(variants, title: str, zh: bool = False) -> go.Figure:
    """Accuracy vs size and vs latency; only Pareto-optimal variants are labelled (others: hover)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        _t(zh, "accuracy vs size", "精度与大小"), _t(zh, "accuracy vs latency", "精度与时延")))
    for k, fam in enumerate(dict.fromkeys(v.family for v in variants)):
        vs = [v for v in variants if v.family == fam]
        for col, xs in ((1, [v.size_bytes / 1024 for v in vs]), (2, [v.latency_us for v in vs])):
            fig.add_trace(go.Scatter(
                x=xs, y=[100 * v.accuracy for v in vs], mode="markers+text",
                text=[v.name if v.pareto else "" for v in vs], textposition="bottom center",
                hovertext=[f"{v.name}: {100 * v.accuracy:.1f}%, {v.size_bytes / 1024:.2f} KiB, "
                           f"{v.latency_us:.3g} µs" for v in vs], hoverinfo="text",
                name=_t(zh, fam, FAMILY_ZH.get(fam, fam)), legendgroup=fam, showlegend=col == 1,
                cliponaxis=False,
                marker=dict(symbol=FAMILY_SYMBOL.get(fam, "circle"), size=[16 if v.pareto else 10 for v in vs],
                            color=SEQUENCE[k % 8], line=dict(width=[3 if v.pareto else 0 for v in vs],
                                                             color=OKABE_ITO["black"]))), 1, col)
    fig.update_xaxes(title_text=_t(zh, "model size (KiB, log)", "模型大小（KiB，对数）"), type="log",
                     dtick="D2", row=1, col=1)
    fig.update_xaxes(title_text=_t(zh, "estimated latency per image (µs, log)", "估计单张时延（µs，对数）"),
                     type="log", dtick="D2", row=1, col=2)
    fig.update_yaxes(title_text=_t(zh, "test accuracy (%)", "测试精度（%）"))
    return _legend_below(apply_theme(fig, title), height=540)


def channel_ranges_figure(observations: dict, selected: str, title: str, zh: bool = False) -> go.Figure:
    """Per-channel clipping ranges: one vertical bar [min, max] per output channel and observer."""
    fig = go.Figure()
    lo = np.zeros(0)
    for k, (method, o) in enumerate(observations.items()):
        lo, hi = np.ravel(o.min_val), np.ravel(o.max_val)
        ch = np.arange(len(lo)) + (k - 2) * 0.12
        fig.add_trace(go.Scatter(
            x=ch, y=(lo + hi) / 2, mode="markers", name=method,
            marker=dict(size=4 if method != selected else 7,
                        color=METHOD_COLORS.get(method, SEQUENCE[k % 8])),
            error_y=dict(type="data", symmetric=False, array=hi - (lo + hi) / 2,
                         arrayminus=(lo + hi) / 2 - lo, thickness=3 if method == selected else 1,
                         width=0)))
    fig.update_xaxes(title_text=_t(zh, "output channel", "输出通道"), dtick=1 if len(lo) <= 16 else 4)
    fig.update_yaxes(title_text=_t(zh, "clipping range [min, max] (weight value)",
                                   "截断范围 [min, max]（权重值）"))
    return apply_theme(fig, title)


def kl_figure(edges: np.ndarray, candidates: np.ndarray, divergences: np.ndarray, amax: float,
              title: str, zh: bool = False) -> go.Figure:
    """KL(P || Q) for every candidate threshold of the entropy calibration, the winner marked."""
    thresholds = np.asarray(edges)[candidates]
    shown = np.where(np.isfinite(divergences), divergences, np.nan)
    fig = go.Figure(go.Scatter(x=thresholds, y=shown, mode="lines", name="KL(P ‖ Q)",
                               line=dict(color=METHOD_COLORS["entropy"])))
    fig.add_trace(go.Scatter(x=[amax, amax], y=[np.nanmin(shown), np.nanmax(shown)], mode="lines",
                             name=_t(zh, f"chosen amax = {amax:.4g}", f"选中的 amax = {amax:.4g}"),
                             line=dict(color=MEANING["highlight"], dash="dash")))
    fig.update_xaxes(title_text=_t(zh, "candidate clipping threshold t (|x| ≤ t, tensor units)",
                                   "候选截断阈值 t（|x| ≤ t，张量原单位）"))
    fig.update_yaxes(title_text=_t(zh, "KL divergence (nats, log)", "KL 散度（nat，对数）"), type="log",
                     **LOG_TICKS)
    return apply_theme(fig, title)
