"""Figures of the compression lab (quantisation, pruning, low rank, distillation, Pareto view).

Every function turns engine results into a plotly Figure with a title and labelled axes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same


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
    fig.layout.shapes = (
        *fig.layout.shapes,
        dict(
            type="rect",
            x0=x0,
            x1=x1,
            xref=xref,
            y0=0,
            y1=1,
            yref=f"{yref} domain",
            fillcolor=color,
            opacity=0.10,
            line_width=0,
            layer="below",
        ),
    )


def _legend_below(fig: go.Figure, height: int = 460) -> go.Figure:
    """Side-by-side subplots carry their own titles on top: put the legend underneath instead."""
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0),
        margin=dict(b=110),
        height=height,
    )
    return fig


LOG_TICKS = dict(dtick=1, minor=dict(ticks="outside", ticklen=3, showgrid=False))

METHOD_COLORS = {
    "minmax": OKABE_ITO["blue"],
    "moving_average": OKABE_ITO["sky"],
    "percentile": OKABE_ITO["orange"],
    "mse": OKABE_ITO["green"],
    "entropy": OKABE_ITO["purple"],
}


def observer_figure(
    x: np.ndarray, observations: dict, selected: str, title: str, tr: Translate = same
) -> go.Figure:
    """Histogram of the values with every observer's clipping range as vertical lines."""
    fig = go.Figure(
        go.Histogram(
            x=np.ravel(x), nbinsx=120, name=tr("values"), marker_color=OKABE_ITO["grey"], opacity=0.7
        )
    )
    for k, (method, o) in enumerate(observations.items()):
        width = 4 if method == selected else 1.5
        color = METHOD_COLORS.get(method, SEQUENCE[k % len(SEQUENCE)])
        for v in (float(np.min(o.min_val)), float(np.max(o.max_val))):
            _line(fig, "x", v, color=color, width=width, dash="solid" if method == selected else "dot")
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="lines", name=method, line=dict(color=color, width=width))
        )
    fig.update_xaxes(title_text=tr("value x (tensor units)"))
    fig.update_yaxes(title_text=tr("count (log)"), type="log", **LOG_TICKS)
    return apply_theme(fig, title)


def grid_figure(
    x: np.ndarray, xq: np.ndarray, scale: float, lo: float, hi: float, title: str, tr: Translate = same
) -> go.Figure:
    """The quantisation staircase x -> x^ and the error x^ - x per value."""
    order = np.argsort(np.ravel(x))
    xs, qs = np.ravel(x)[order], np.ravel(xq)[order]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=(tr("dequantised value x^ vs x"), tr("error x^ − x (clipped values stand out)")),
    )
    fig.add_trace(
        go.Scatter(
            x=xs, y=xs, mode="lines", name=tr("x (ideal)"), line=dict(color=OKABE_ITO["grey"], dash="dot")
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=xs, y=qs, mode="lines", name="x^ = s (q − z)", line=dict(color=MEANING["highlight"], shape="hv")
        ),
        1,
        1,
    )
    # the error as a line over the sorted values (a sawtooth inside the range, a ramp where clipped):
    # 2,048 markers cost the browser 110 ms as SVG and ~200 ms as WebGL (its context start-up), the
    # line ~30 ms (plotly.js alone in chromium, medians of 3)
    fig.add_trace(
        go.Scatter(
            x=xs, y=qs - xs, mode="lines", name=tr("error"), line=dict(width=1, color=OKABE_ITO["blue"])
        ),
        1,
        2,
    )
    for ax in ("", "2"):
        _band(fig, lo, hi, f"x{ax}", f"y{ax}", OKABE_ITO["green"])
    for y in (scale / 2, -scale / 2):
        _line(fig, "y", y, "x2", "y2", color=OKABE_ITO["green"], dash="dash")
    fig.update_xaxes(title_text=tr("value x (tensor units)"))
    fig.update_yaxes(title_text=tr("x^ (tensor units)"), row=1, col=1)
    fig.update_yaxes(title_text=tr("error (tensor units)"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


def bitwidth_figure(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    fig = go.Figure()
    names = {
        "weights": tr("PTQ weights only"),
        "dynamic": tr("PTQ dynamic (activations per batch)"),
        "static": tr("PTQ static (calibrated activations)"),
    }
    for k, mode in enumerate(("weights", "dynamic", "static")):
        pts = [r for r in rows if r["mode"] == mode]
        fig.add_trace(
            go.Scatter(
                x=[r["bits"] for r in pts],
                y=[100 * r["accuracy"] for r in pts],
                mode="lines+markers",
                name=names[mode],
                line=dict(color=SEQUENCE[k]),
            )
        )
    if rows:
        fig.add_trace(
            go.Scatter(
                x=[8, 2],
                y=[100 * rows[0]["fp32_accuracy"]] * 2,
                mode="lines",
                name="fp32",
                line=dict(color=OKABE_ITO["black"], dash="dot"),
            )
        )
    fig.update_xaxes(title_text=tr("bit width (bits)"), autorange="reversed", dtick=1)
    fig.update_yaxes(title_text=tr("test accuracy (%)"))
    return apply_theme(fig, title)


def ste_figure(
    w: np.ndarray, wq: np.ndarray, mask: np.ndarray, clip: float, title: str, tr: Translate = same
) -> go.Figure:
    """Fake-quantised weight vs weight, and the straight-through gradient mask."""
    order = np.argsort(np.ravel(w))
    ws = np.ravel(w)[order]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=(tr("forward: fake-quantised weight"), tr("backward: STE gradient mask")),
    )
    fig.add_trace(
        go.Scatter(
            x=ws,
            y=np.ravel(wq)[order],
            mode="lines",
            name="FakeQuant(w)",
            line=dict(color=MEANING["forward"], shape="hv"),
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=ws,
            y=np.ravel(mask)[order],
            mode="lines",
            name=tr("dL/dw passes (1) or not (0)"),
            line=dict(color=MEANING["backward"], shape="hv", width=3),
        ),
        1,
        2,
    )
    passing = ws[np.ravel(mask)[order] > 0]  # where the mask switches (the grid's ends ± s/2)
    for ax in ("", "2"):
        for v in (passing.min(), passing.max()) if passing.size else (-clip, clip):
            _line(fig, "x", float(v), f"x{ax}", f"y{ax}", color=OKABE_ITO["grey"], dash="dash")
    fig.update_xaxes(title_text=tr("weight w"))
    fig.update_yaxes(title_text=tr("value used forward"), row=1, col=1)
    fig.update_yaxes(title_text=tr("gradient multiplier"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


def accuracy_bars(
    labels: list[str], values: list[float], title: str, colors=None, tr: Translate = same
) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=[100 * v for v in values],
            text=[f"{100 * v:.1f}%" for v in values],
            textposition="outside",
            marker_color=colors or SEQUENCE[: len(labels)],
        )
    )
    fig.update_yaxes(title_text=tr("test accuracy (%)"), range=[0, 105])
    fig.update_xaxes(title_text=tr("variant"))
    return apply_theme(fig, title)


# -- pruning and low rank ----------------------------------------------------------------------
def mask_heatmap(w: np.ndarray, mask: np.ndarray, title: str, tr: Translate = same) -> go.Figure:
    """The weight matrix with pruned entries blank (grey background)."""
    w2 = np.asarray(w).reshape(w.shape[0], -1)
    m2 = np.asarray(mask).reshape(w2.shape)
    shown = np.where(m2 > 0, w2, np.nan)
    lim = float(np.nanmax(np.abs(w2))) if w2.size and np.any(w2) else 1.0
    fig = go.Figure(
        go.Heatmap(z=shown, zmin=-lim, zmax=lim, colorscale="RdBu", zmid=0, colorbar=dict(title=tr("weight")))
    )
    fig.update_xaxes(
        title_text=tr("column: output unit (dense) or flattened kernel (conv)"),
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        title_text=tr("row: input unit / filter"), autorange="reversed", showgrid=False, zeroline=False
    )
    apply_theme(fig, title)
    fig.update_layout(plot_bgcolor="#BBBBBB")  # after the theme: pruned (NaN) cells show grey
    return fig


#: Each pruning method's English name (the catalog key of its translation).
METHOD_NAMES = {
    "l1_unstructured": "magnitude, per layer",
    "global_unstructured": "magnitude, global",
    "ln_structured": "structured (L2 channels)",
    "2:4": "2:4 semi-structured",
}


def sparsity_figure(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    fig = go.Figure()
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        pts = [r for r in rows if r["method"] == method]
        fig.add_trace(
            go.Scatter(
                x=[100 * r["sparsity"] for r in pts],
                y=[100 * r["accuracy"] for r in pts],
                mode="lines+markers",
                name=tr(METHOD_NAMES.get(method, method)),
                line=dict(color=SEQUENCE[k]),
            )
        )
    fig.update_xaxes(title_text=tr("sparsity (% of weights zero)"))
    fig.update_yaxes(title_text=tr("test accuracy (%)"), range=[0, 102])
    return apply_theme(fig, title)


def schedule_figure(schedule, accuracies, one_shot: float, title: str, tr: Translate = same) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = [s for s, _ in schedule]
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=[100 * t for _, t in schedule],
            name=tr("target sparsity s_t"),
            mode="lines+markers",
            line=dict(color=OKABE_ITO["orange"]),
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=[100 * a for a in accuracies],
            name=tr("accuracy after fine-tuning"),
            mode="lines+markers",
            line=dict(color=OKABE_ITO["blue"]),
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=[steps[-1]],
            y=[100 * one_shot],
            name=tr("one shot to the final sparsity"),
            mode="markers",
            marker=dict(symbol="x", size=14, color=MEANING["highlight"]),
        ),
        secondary_y=True,
    )
    fig.update_xaxes(title_text=tr("pruning step (one epoch of fine-tuning each)"), dtick=1)
    fig.update_yaxes(title_text=tr("sparsity (%)"), secondary_y=False, range=[0, 100])
    fig.update_yaxes(title_text=tr("test accuracy (%)"), secondary_y=True, range=[0, 100])
    return apply_theme(fig, title)


def lowrank_figure(rows: list[dict], rank: int, title: str, tr: Translate = same) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=(tr("error and accuracy"), tr("cost: layer params, model FLOPs")),
    )
    r = [x["rank"] for x in rows]
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[100 * x["rel_error"] for x in rows],
            name=tr("‖W − W_r‖/‖W‖ (%)"),
            line=dict(color=OKABE_ITO["vermillion"]),
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[100 * x["accuracy"] for x in rows],
            name=tr("test accuracy (%)"),
            line=dict(color=OKABE_ITO["blue"]),
        ),
        1,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[x["layer_params"] for x in rows],
            name=tr("params r·(in + out)"),
            line=dict(color=OKABE_ITO["green"]),
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[x["dense_layer_params"] for x in rows],
            name=tr("params in·out (dense)"),
            line=dict(color=OKABE_ITO["grey"], dash="dot"),
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[x["flops"] for x in rows],
            name=tr("model FLOPs per image"),
            line=dict(color=OKABE_ITO["orange"]),
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Scatter(
            x=r,
            y=[x["dense_flops"] for x in rows],
            name=tr("model FLOPs, dense"),
            line=dict(color=OKABE_ITO["orange"], dash="dot"),
        ),
        1,
        2,
    )
    for ax in ("", "2"):
        _line(fig, "x", rank, f"x{ax}", f"y{ax}", color=OKABE_ITO["black"], dash="dash")
    fig.update_xaxes(title_text=tr("rank r"))
    fig.update_yaxes(title_text=tr("percent (%)"), row=1, col=1)
    fig.update_yaxes(title_text=tr("count (parameters or FLOPs)"), row=1, col=2)
    return _legend_below(apply_theme(fig, title))


# -- distillation and the Pareto view -----------------------------------------------------------
def softened_figure(probs: dict, label: int, title: str, tr: Translate = same) -> go.Figure:
    fig = go.Figure()
    for k, (t, p) in enumerate(probs.items()):
        fig.add_trace(go.Bar(x=list(range(10)), y=p, name=f"T = {t:g}", marker_color=SEQUENCE[k % 8]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=tr("digit (true label {label})").format(label=label), dtick=1)
    fig.update_yaxes(
        title_text=tr("probability softmax(z / T) (log)"),
        type="log",
        range=[-6, 0.05],
        exponentformat="power",
        **LOG_TICKS,
    )
    return apply_theme(fig, title)


def kd_seeds_figure(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    fig = go.Figure()
    names = {
        "teacher": tr("teacher 64-128-10"),
        "student_alone": tr("student alone 64-8-10"),
        "student_kd": tr("student with KD"),
    }
    for k, (key, name) in enumerate(names.items()):
        fig.add_trace(
            go.Bar(
                x=[tr("seed {seed}").format(seed=r["seed"]) for r in rows],
                y=[100 * r[key] for r in rows],
                name=name,
                marker_color=SEQUENCE[k],
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=tr("data split and initialisation seed"))
    fig.update_yaxes(title_text=tr("test accuracy (%)"), range=[70, 100])
    return apply_theme(fig, title)


FAMILY_SYMBOL = {
    "fp32": "star",
    "ptq": "circle",
    "qat": "diamond",
    "pruned": "square",
    "2:4": "square-open",
    "lowrank": "triangle-up",
    "kd": "hexagon",
}


def pareto_figure(variants, title: str, tr: Translate = same) -> go.Figure:
    """Accuracy vs size and vs latency; only Pareto-optimal variants are labelled (others: hover)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=(tr("accuracy vs size"), tr("accuracy vs latency")),
    )
    for k, fam in enumerate(dict.fromkeys(v.family for v in variants)):
        vs = [v for v in variants if v.family == fam]
        for col, xs in ((1, [v.size_bytes / 1024 for v in vs]), (2, [v.latency_us for v in vs])):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[100 * v.accuracy for v in vs],
                    mode="markers+text",
                    text=[v.name if v.pareto else "" for v in vs],
                    textposition="bottom center",
                    hovertext=[
                        f"{v.name}: {100 * v.accuracy:.1f}%, {v.size_bytes / 1024:.2f} KiB, "
                        f"{v.latency_us:.3g} µs"
                        for v in vs
                    ],
                    hoverinfo="text",
                    name=tr(fam),
                    legendgroup=fam,
                    showlegend=col == 1,
                    cliponaxis=False,
                    marker=dict(
                        symbol=FAMILY_SYMBOL.get(fam, "circle"),
                        size=[16 if v.pareto else 10 for v in vs],
                        color=SEQUENCE[k % 8],
                        line=dict(width=[3 if v.pareto else 0 for v in vs], color=OKABE_ITO["black"]),
                    ),
                ),
                1,
                col,
            )
    fig.update_xaxes(title_text=tr("model size (KiB, log)"), type="log", dtick="D2", row=1, col=1)
    fig.update_xaxes(
        title_text=tr("estimated latency per image (µs, log)"), type="log", dtick="D2", row=1, col=2
    )
    fig.update_yaxes(title_text=tr("test accuracy (%)"))
    return _legend_below(apply_theme(fig, title), height=540)


def channel_ranges_figure(observations: dict, selected: str, title: str, tr: Translate = same) -> go.Figure:
    """Per-channel clipping ranges: one vertical bar [min, max] per output channel and observer."""
    fig = go.Figure()
    lo = np.zeros(0)
    for k, (method, o) in enumerate(observations.items()):
        lo, hi = np.ravel(o.min_val), np.ravel(o.max_val)
        ch = np.arange(len(lo)) + (k - 2) * 0.12
        fig.add_trace(
            go.Scatter(
                x=ch,
                y=(lo + hi) / 2,
                mode="markers",
                name=method,
                marker=dict(
                    size=4 if method != selected else 7, color=METHOD_COLORS.get(method, SEQUENCE[k % 8])
                ),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=hi - (lo + hi) / 2,
                    arrayminus=(lo + hi) / 2 - lo,
                    thickness=3 if method == selected else 1,
                    width=0,
                ),
            )
        )
    fig.update_xaxes(title_text=tr("output channel"), dtick=1 if len(lo) <= 16 else 4)
    fig.update_yaxes(title_text=tr("clipping range [min, max] (weight value)"))
    return apply_theme(fig, title)


def kl_figure(
    edges: np.ndarray,
    candidates: np.ndarray,
    divergences: np.ndarray,
    amax: float,
    title: str,
    tr: Translate = same,
) -> go.Figure:
    """KL(P || Q) for every candidate threshold of the entropy calibration, the winner marked."""
    thresholds = np.asarray(edges)[candidates]
    shown = np.where(np.isfinite(divergences), divergences, np.nan)
    fig = go.Figure(
        go.Scatter(
            x=thresholds, y=shown, mode="lines", name="KL(P ‖ Q)", line=dict(color=METHOD_COLORS["entropy"])
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[amax, amax],
            y=[np.nanmin(shown), np.nanmax(shown)],
            mode="lines",
            name=tr("chosen amax = {amax:.4g}").format(amax=amax),
            line=dict(color=MEANING["highlight"], dash="dash"),
        )
    )
    fig.update_xaxes(title_text=tr("candidate clipping threshold t (|x| ≤ t, tensor units)"))
    fig.update_yaxes(title_text=tr("KL divergence (nats, log)"), type="log", **LOG_TICKS)
    return apply_theme(fig, title)


# -- "your graph": the quantization and pruning lenses ----------------------------------------------
def sensitivity_figure(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Per quantised layer: the relative error of its output when only it is quantised, and when
    every layer is (rows of :func:`engine.compression.lab.quant_rows`)."""
    layers = [r["layer"] for r in rows]
    fig = go.Figure()
    for key, name, color in (
        ("error_alone", "only this layer quantised", OKABE_ITO["sky"]),
        ("error_with_all", "every layer quantised", OKABE_ITO["vermillion"]),
    ):
        fig.add_trace(
            go.Bar(
                x=layers,
                y=[100 * r[key] for r in rows],
                name=tr(name),
                marker_color=color,
                hovertemplate="%{x}: %{y:.3g}%<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=tr("layer (graph order)"), type="category")
    fig.update_yaxes(title_text=tr("relative error of the layer's output ‖ŷ − y‖/‖y‖ (%)"))
    return apply_theme(fig, title)


def quant_graph_figure(lens, title: str, tr: Translate = same) -> go.Figure:
    """The quantised graph with the Q/DQ ops quantize inserted marked as changed (their integer
    weights, scales and zero points are the diamonds beside them) and the quantised layers
    highlighted (``lens``: :class:`engine.compression.lab.QuantLens`)."""
    from .graph import graph_figure

    return graph_figure(lens.q_graph, highlight=lens.layers, changed=lens.qdq_ops, title=title, tr=tr)


def prune_layers_figure(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Per pruned layer: its sparsity (top) and its weights, all and nonzero (bottom, log), from the
    rows of :func:`engine.compression.lab.prune_rows`."""
    layers = [r["layer"] for r in rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.45, 0.55])
    fig.add_trace(
        go.Bar(
            x=layers,
            y=[100 * r["sparsity"] for r in rows],
            name=tr("sparsity (%)"),
            marker_color=OKABE_ITO["vermillion"],
            text=[f"{r['sparsity']:.0%}" for r in rows],
            textposition="outside",
            cliponaxis=False,
        ),
        row=1,
        col=1,
    )
    for name, key, color in (
        ("weights", "weights", OKABE_ITO["grey"]),
        ("nonzero (kept)", "nonzero", OKABE_ITO["blue"]),
    ):
        fig.add_trace(
            go.Bar(x=layers, y=[r[key] for r in rows], name=tr(name), marker_color=color),
            row=2,
            col=1,
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=tr("sparsity (%)"), range=[0, 110], row=1, col=1)
    fig.update_yaxes(title_text=tr("weights (log)"), type="log", row=2, col=1)
    fig.update_xaxes(type="category")
    fig.update_xaxes(title_text=tr("layer (graph order)"), row=2, col=1)
    return _legend_below(apply_theme(fig, title), height=560)
