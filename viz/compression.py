"""Figures of the compression lab (quantisation, pruning, low rank, distillation, Pareto view).

Every function turns engine results into a plotly Figure with a title and labelled axes.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

METHOD_COLORS = {"minmax": OKABE_ITO["blue"], "moving_average": OKABE_ITO["sky"],
                 "percentile": OKABE_ITO["orange"], "mse": OKABE_ITO["green"],
                 "entropy": OKABE_ITO["purple"]}


def observer_figure(x: np.ndarray, observations: dict, selected: str, title: str) -> go.Figure:
    """Histogram of the values with every observer's clipping range as vertical lines."""
    fig = go.Figure(go.Histogram(x=np.ravel(x), nbinsx=120, name="values",
                                 marker_color=OKABE_ITO["grey"], opacity=0.7))
    for k, (method, o) in enumerate(observations.items()):
        width = 4 if method == selected else 1.5
        color = METHOD_COLORS.get(method, SEQUENCE[k % len(SEQUENCE)])
        for v, side in ((float(o.min_val), "min"), (float(o.max_val), "max")):
            fig.add_vline(x=v, line=dict(color=color, width=width,
                                         dash="solid" if method == selected else "dot"))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=method,
                                 line=dict(color=color, width=width)))
    fig.update_xaxes(title_text="value")
    fig.update_yaxes(title_text="count", type="log")
    return apply_theme(fig, title)


def grid_figure(x: np.ndarray, xq: np.ndarray, scale: float, lo: float, hi: float,
                title: str) -> go.Figure:
    """The quantisation staircase x -> x^ and the error x^ - x per value."""
    order = np.argsort(np.ravel(x))
    xs, qs = np.ravel(x)[order], np.ravel(xq)[order]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("dequantised value x^ vs x",
                                                        "error x^ - x (clipped values stand out)"))
    fig.add_trace(go.Scatter(x=xs, y=xs, mode="lines", name="x (ideal)",
                             line=dict(color=OKABE_ITO["grey"], dash="dot")), 1, 1)
    fig.add_trace(go.Scatter(x=xs, y=qs, mode="lines", name="x^ = s (q - z)",
                             line=dict(color=MEANING["highlight"], shape="hv")), 1, 1)
    fig.add_trace(go.Scattergl(x=xs, y=qs - xs, mode="markers", name="error",
                               marker=dict(size=3, color=OKABE_ITO["blue"])), 1, 2)
    for c in (1, 2):
        fig.add_vrect(x0=lo, x1=hi, fillcolor=OKABE_ITO["green"], opacity=0.08, line_width=0,
                      row=1, col=c)
    for y in (scale / 2, -scale / 2):
        fig.add_hline(y=y, line=dict(color=OKABE_ITO["green"], dash="dash"), row=1, col=2)
    fig.update_xaxes(title_text="value x")
    fig.update_yaxes(title_text="x^", row=1, col=1)
    fig.update_yaxes(title_text="error (same units as x)", row=1, col=2)
    return apply_theme(fig, title)


def bitwidth_figure(rows: list[dict], title: str) -> go.Figure:
    fig = go.Figure()
    for k, mode in enumerate(("weights", "dynamic", "static")):
        pts = [r for r in rows if r["mode"] == mode]
        fig.add_trace(go.Scatter(x=[r["bits"] for r in pts], y=[100 * r["accuracy"] for r in pts],
                                 mode="lines+markers", name=f"PTQ {mode}", line=dict(color=SEQUENCE[k])))
    if rows:
        fig.add_hline(y=100 * rows[0]["fp32_accuracy"], line=dict(color=OKABE_ITO["black"], dash="dot"),
                      annotation_text="fp32")
    fig.update_xaxes(title_text="bit width (weights and activations)", autorange="reversed", dtick=1)
    fig.update_yaxes(title_text="test accuracy (%)")
    return apply_theme(fig, title)


def ste_figure(w: np.ndarray, wq: np.ndarray, mask: np.ndarray, clip: float, title: str) -> go.Figure:
    """Fake-quantised weight vs weight, and the straight-through gradient mask."""
    order = np.argsort(np.ravel(w))
    ws = np.ravel(w)[order]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("forward: fake-quantised weight",
                                                        "backward: STE gradient mask"))
    fig.add_trace(go.Scatter(x=ws, y=np.ravel(wq)[order], mode="lines", name="FakeQuant(w)",
                             line=dict(color=MEANING["forward"], shape="hv")), 1, 1)
    fig.add_trace(go.Scatter(x=ws, y=np.ravel(mask)[order], mode="lines", name="dL/dw passes (1) or not (0)",
                             line=dict(color=MEANING["backward"], shape="hv", width=3)), 1, 2)
    for c in (1, 2):
        for v in (-clip, clip):
            fig.add_vline(x=v, line=dict(color=OKABE_ITO["grey"], dash="dash"), row=1, col=c)
    fig.update_xaxes(title_text="weight w")
    fig.update_yaxes(title_text="value used in the forward pass", row=1, col=1)
    fig.update_yaxes(title_text="gradient multiplier", row=1, col=2)
    return apply_theme(fig, title)


def accuracy_bars(labels: list[str], values: list[float], title: str, colors=None) -> go.Figure:
    fig = go.Figure(go.Bar(x=labels, y=[100 * v for v in values],
                           text=[f"{100 * v:.1f}%" for v in values], textposition="outside",
                           marker_color=colors or SEQUENCE[:len(labels)]))
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 105])
    fig.update_xaxes(title_text="variant")
    return apply_theme(fig, title)


# -- pruning and low rank ----------------------------------------------------------------------
def mask_heatmap(w: np.ndarray, mask: np.ndarray, title: str) -> go.Figure:
    """The weight matrix with pruned entries blank (grey background)."""
    w2 = np.asarray(w).reshape(w.shape[0], -1)
    m2 = np.asarray(mask).reshape(w2.shape)
    shown = np.where(m2 > 0, w2, np.nan)
    lim = float(np.nanmax(np.abs(w2))) or 1.0
    fig = go.Figure(go.Heatmap(z=shown, zmin=-lim, zmax=lim, colorscale="RdBu", zmid=0,
                               colorbar=dict(title="weight")))
    fig.update_layout(plot_bgcolor="#DDDDDD")
    fig.update_xaxes(title_text="column (output unit, or flattened kernel)")
    fig.update_yaxes(title_text="row (input unit / filter)", autorange="reversed")
    return apply_theme(fig, title)


def sparsity_figure(rows: list[dict], title: str) -> go.Figure:
    fig = go.Figure()
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        pts = [r for r in rows if r["method"] == method]
        fig.add_trace(go.Scatter(x=[100 * r["sparsity"] for r in pts],
                                 y=[100 * r["accuracy"] for r in pts], mode="lines+markers",
                                 name=method, line=dict(color=SEQUENCE[k])))
    fig.update_xaxes(title_text="sparsity (% of weights zero)")
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 102])
    return apply_theme(fig, title)


def schedule_figure(schedule, accuracies, one_shot: float, title: str) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = [s for s, _ in schedule]
    fig.add_trace(go.Scatter(x=steps, y=[100 * t for _, t in schedule], name="target sparsity s_t",
                             mode="lines+markers", line=dict(color=OKABE_ITO["orange"])), secondary_y=False)
    fig.add_trace(go.Scatter(x=steps, y=[100 * a for a in accuracies], name="accuracy after fine-tuning",
                             mode="lines+markers", line=dict(color=OKABE_ITO["blue"])), secondary_y=True)
    fig.add_trace(go.Scatter(x=[steps[-1]], y=[100 * one_shot], name="one-shot at the final sparsity",
                             mode="markers", marker=dict(symbol="x", size=14, color=MEANING["highlight"])),
                  secondary_y=True)
    fig.update_xaxes(title_text="pruning step (one epoch of fine-tuning each)")
    fig.update_yaxes(title_text="sparsity (%)", secondary_y=False, range=[0, 100])
    fig.update_yaxes(title_text="test accuracy (%)", secondary_y=True, range=[0, 100])
    return apply_theme(fig, title)


def lowrank_figure(rows: list[dict], rank: int, title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("error and accuracy", "cost"))
    r = [x["rank"] for x in rows]
    fig.add_trace(go.Scatter(x=r, y=[100 * x["rel_error"] for x in rows], name="‖W − W_r‖/‖W‖ (%)",
                             line=dict(color=OKABE_ITO["vermillion"])), 1, 1)
    fig.add_trace(go.Scatter(x=r, y=[100 * x["accuracy"] for x in rows], name="test accuracy (%)",
                             line=dict(color=OKABE_ITO["blue"])), 1, 1)
    fig.add_trace(go.Scatter(x=r, y=[x["layer_params"] for x in rows], name="layer params (low rank)",
                             line=dict(color=OKABE_ITO["green"])), 1, 2)
    fig.add_trace(go.Scatter(x=r, y=[x["dense_layer_params"] for x in rows], name="layer params (dense)",
                             line=dict(color=OKABE_ITO["grey"], dash="dot")), 1, 2)
    fig.add_trace(go.Scatter(x=r, y=[x["flops"] for x in rows], name="model FLOPs per image",
                             line=dict(color=OKABE_ITO["orange"])), 1, 2)
    for c in (1, 2):
        fig.add_vline(x=rank, line=dict(color=OKABE_ITO["black"], dash="dash"), row=1, col=c)
    fig.update_xaxes(title_text="rank r")
    fig.update_yaxes(title_text="percent", row=1, col=1)
    fig.update_yaxes(title_text="count (params or FLOPs)", row=1, col=2)
    return apply_theme(fig, title)


# -- distillation and the Pareto view -----------------------------------------------------------
def softened_figure(probs: dict, label: int, title: str) -> go.Figure:
    fig = go.Figure()
    for k, (t, p) in enumerate(probs.items()):
        fig.add_trace(go.Bar(x=list(range(10)), y=p, name=f"T = {t:g}", marker_color=SEQUENCE[k % 8]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=f"digit (true label {label})", dtick=1)
    fig.update_yaxes(title_text="probability softmax(z / T)", type="log", range=[-6, 0.05])
    return apply_theme(fig, title)


def kd_seeds_figure(rows: list[dict], title: str) -> go.Figure:
    fig = go.Figure()
    names = {"teacher": "teacher 64-128-10", "student_alone": "student alone 64-8-10",
             "student_kd": "student with KD"}
    for k, (key, name) in enumerate(names.items()):
        fig.add_trace(go.Bar(x=[f"seed {r['seed']}" for r in rows], y=[100 * r[key] for r in rows],
                             name=name, marker_color=SEQUENCE[k]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="data split and initialisation seed")
    fig.update_yaxes(title_text="test accuracy (%)", range=[70, 100])
    return apply_theme(fig, title)


FAMILY_SYMBOL = {"fp32": "star", "ptq": "circle", "qat": "diamond", "pruned": "square",
                 "2:4": "square-open", "lowrank": "triangle-up", "kd": "hexagon"}


def pareto_figure(variants, title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy vs size", "accuracy vs latency"))
    for k, fam in enumerate(dict.fromkeys(v.family for v in variants)):
        vs = [v for v in variants if v.family == fam]
        for col, xs in ((1, [v.size_bytes / 1024 for v in vs]), (2, [v.latency_us for v in vs])):
            fig.add_trace(go.Scatter(
                x=xs, y=[100 * v.accuracy for v in vs], mode="markers+text",
                text=[v.name for v in vs], textposition="top center", name=fam, legendgroup=fam,
                showlegend=col == 1,
                marker=dict(symbol=FAMILY_SYMBOL.get(fam, "circle"), size=[16 if v.pareto else 10 for v in vs],
                            color=SEQUENCE[k % 8], line=dict(width=[3 if v.pareto else 0 for v in vs],
                                                             color=OKABE_ITO["black"]))), 1, col)
    fig.update_xaxes(title_text="model size (KiB)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="estimated latency per image (µs)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="test accuracy (%)")
    return apply_theme(fig, title, height=520)


def channel_ranges_figure(observations: dict, selected: str, title: str) -> go.Figure:
    """Per-channel clipping ranges: one vertical bar [min, max] per output channel and observer."""
    fig = go.Figure()
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
    fig.update_xaxes(title_text="output channel", dtick=1 if len(lo) <= 16 else 4)
    fig.update_yaxes(title_text="clipping range [min, max] (weight value)")
    return apply_theme(fig, title)


def kl_figure(edges: np.ndarray, candidates: np.ndarray, divergences: np.ndarray, amax: float,
              title: str) -> go.Figure:
    """KL(P || Q) for every candidate threshold of the entropy calibration, the winner marked."""
    thresholds = np.asarray(edges)[candidates]
    shown = np.where(np.isfinite(divergences), divergences, np.nan)
    fig = go.Figure(go.Scatter(x=thresholds, y=shown, mode="lines", name="KL(P ‖ Q)",
                               line=dict(color=METHOD_COLORS["entropy"])))
    fig.add_vline(x=amax, line=dict(color=MEANING["highlight"], dash="dash"),
                  annotation_text=f"amax = {amax:.4g}")
    fig.update_xaxes(title_text="candidate clipping threshold |x| ≤ t")
    fig.update_yaxes(title_text="KL divergence (nats)", type="log")
    return apply_theme(fig, title)
