"""Figures for the LLM per-layer analyzer: where a phase's time goes op by op, what each op moves, and
every op of both phases on the chip's roofline.

Builders take :func:`engine.inference.llm_layers.op_rows` rows and draw their words through ``tr``.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, apply_theme
from .words import Translate, same

BYTE_PARTS = {
    "load_weight": OKABE_ITO["blue"],
    "load_act": OKABE_ITO["sky"],
    "store_act": OKABE_ITO["green"],
    "load_kv": OKABE_ITO["orange"],
    "store_kv": OKABE_ITO["vermillion"],
}
BOUND_NAMES = {"memory_bound": "memory-bound", "compute_bound": "compute-bound"}


def op_times(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Horizontal bars: each op's time in the whole pass (a layer's op x layers), by its bound."""
    fig = go.Figure()
    for bound, color in (
        ("memory_bound", MEANING["memory_bound"]),
        ("compute_bound", MEANING["compute_bound"]),
    ):
        sel = [r for r in rows if r["bound"] == bound]
        if sel:
            fig.add_bar(
                y=[r["op"] for r in sel],
                x=[r["total_time_us"] / 1e3 for r in sel],
                orientation="h",
                name=tr(BOUND_NAMES[bound]),
                marker_color=color,
                customdata=[r["intensity"] for r in sel],
                hovertemplate="%{y}: %{x:.4g} ms<br>AI %{customdata:.3g} FLOP/B<extra></extra>",
            )
    fig.update_yaxes(categoryorder="array", categoryarray=[r["op"] for r in rows][::-1], title=None)
    fig.update_xaxes(title=tr("time in the whole pass (ms)"))
    return apply_theme(fig, title, 520)


def bytes_by_op(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Stacked bars: the bytes each op moves per layer (or once, for the model's ops), by kind."""
    fig = go.Figure()
    ops = [r["op"] for r in rows]
    for part, color in BYTE_PARTS.items():
        fig.add_bar(
            x=ops,
            y=[r[part] / 2**20 for r in rows],
            name=part,
            marker_color=color,
            hovertemplate="%{x}: %{y:.4g} MiB<extra>" + part + "</extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=tr("MiB moved per run of the op"))
    fig.update_xaxes(tickangle=-40)
    return apply_theme(fig, title, 460)


def roofline(rows: list[dict], peak: float, bandwidth: float, title: str, tr: Translate = same) -> go.Figure:
    """Log-log roofline of the chip with one marker per op per phase (circles prefill, diamonds
    decode), coloured by the roof that bounds it."""
    pts = [r for r in rows if r["flops"] > 0 and r["bytes"] > 0]
    ridge = peak / bandwidth
    ais = [r["intensity"] for r in pts]
    lo, hi = min([ridge / 100, *ais]) / 2, max([ridge * 10, *ais]) * 2
    xs = np.logspace(math.log10(lo), math.log10(hi), 120)
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=np.minimum(peak, xs * bandwidth) / 1e12,
        mode="lines",
        name=tr("roof"),
        line=dict(color="black", width=3),
    )
    for phase, symbol in (("prefill", "circle"), ("decode", "diamond")):
        for bound, color in (
            ("memory_bound", MEANING["memory_bound"]),
            ("compute_bound", MEANING["compute_bound"]),
        ):
            sel = [r for r in pts if r["phase"] == phase and r["bound"] == bound]
            if sel:
                fig.add_scatter(
                    x=[r["intensity"] for r in sel],
                    y=[min(peak, r["intensity"] * bandwidth) / 1e12 for r in sel],
                    text=[r["op"] for r in sel],
                    mode="markers",
                    name=f"{tr(phase)} · {tr(BOUND_NAMES[bound])}",
                    marker=dict(symbol=symbol, size=11, color=color, line=dict(color="white", width=1)),
                    hovertemplate="%{text}<br>AI %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s<extra></extra>",
                )
    fig.update_xaxes(
        type="log", dtick=1, title=tr("arithmetic intensity (FLOP per byte of DRAM/HBM traffic)")
    )
    fig.update_yaxes(type="log", dtick=1, title=tr("attainable TFLOP/s"))
    return apply_theme(fig, title, 480)
