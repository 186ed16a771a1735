"""The AI-compiler landscape as a lowering diagram: levels as rows (top: the model, bottom: the
chip), compilers as columns, each cell naming the representation that compiler uses at that level.

:func:`landscape_figure` draws the grid as a heatmap (the chosen level shaded), the representation
names as cell text, and a hover with the cell's facts; the y axis says which way lowering goes. Cell text
is data (IR names, as the sources spell them); the fixed words go through ``tr``.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go

from .theme import OKABE_ITO, apply_theme
from .words import Translate, same

_WRAP = 17  # characters per line of a cell's text


def _wrap(text: str, width: int = _WRAP) -> str:
    return "<br>".join(textwrap.wrap(text, width)) or text


def landscape_figure(table, chosen: str, title: str | None = None, tr: Translate = same) -> go.Figure:
    """``table`` is an :class:`engine.compiler.landscape.Landscape`; ``chosen`` a level key."""
    levels, compilers = table.levels, table.compilers
    rows = [tr(lv.title) for lv in levels]
    cols = [c.name for c in compilers]
    z, text, hover = [], [], []
    for lv in levels:
        cells = [table.cell(c.key, lv.key) for c in compilers]
        z.append([1 if lv.key == chosen else 0 for _ in compilers])
        text.append([_wrap(c.ir) for c in cells])
        hover.append(["<br>".join(_wrap(tr(f.text), 60) for f in c.facts) for c in cells])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=cols,
            y=rows,
            text=text,
            customdata=hover,
            texttemplate="%{text}",
            textfont=dict(size=13),
            hovertemplate="<b>%{x} · %{y}</b><br>%{customdata}<extra></extra>",
            colorscale=[[0, "#F2F2F2"], [1, "#FBE3C4"]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=4,
            ygap=4,
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("level (lowering goes down)"), tickfont=dict(size=13))
    fig.update_xaxes(side="top", title=None, tickfont=dict(size=13))
    fig = apply_theme(fig, title or tr("Five AI compilers, level by level"), 560)
    fig.update_layout(margin=dict(l=230, t=110))
    return fig


def tvm_timing_figure(
    tvm_s: float, numpy_s: float, model_s: float | None, title: str | None = None, tr: Translate = same
) -> go.Figure:
    """Measured TVM kernel and numpy against our cost model's estimate, in microseconds per call.

    ``model_s`` is None when the cost model did not run (over the cache simulator's budget): its bar
    is left out and the axis says so."""
    bars = [(tr("TVM kernel (measured)"), tvm_s, OKABE_ITO["vermillion"])]
    bars.append((tr("numpy A @ B (measured)"), numpy_s, OKABE_ITO["blue"]))
    if model_s is not None:
        bars.append((tr("our cost model (estimate)"), model_s, OKABE_ITO["grey"]))
    micro = [s * 1e6 for _, s, _ in bars]
    fig = go.Figure(
        go.Bar(
            x=[name for name, _, _ in bars],
            y=micro,
            marker_color=[colour for _, _, colour in bars],
            text=[f"{us:,.1f} µs" for us in micro],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:,.2f} µs<extra></extra>",
        )
    )
    fig.update_yaxes(title=tr("time per call (µs)"), rangemode="tozero")
    fig.update_xaxes(title=None if model_s is not None else tr("(over the cost model's budget: no estimate)"))
    return apply_theme(fig, title or tr("One GEMM, three numbers"), 380)
