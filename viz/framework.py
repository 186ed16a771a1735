"""Figures for the framework-depth labs: custom autograd functions, control flow, the landscape.

Engine data in, plotly figures (or plain rows) out; never streamlit. Fixed words are drawn through
``tr`` (see :mod:`viz.words`); the landscape's names and sentences are catalog keys too, so they are
drawn through ``tr`` as well. Op names, variable names and code stay as they are.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .graph import graph_figure
from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same


# -- custom autograd --------------------------------------------------------------------------------
def vjp_figure(checks, title: str, tr: Translate = same) -> go.Figure:
    """Every gradient element: central differences (x) against the student's backward (y); on the
    diagonal means right."""
    fig = go.Figure()
    lo, hi = 0.0, 0.0
    for k, c in enumerate(checks):
        if c.yours is None:
            continue
        x, y = np.ravel(c.numeric), np.ravel(c.yours)
        lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=c.name,
                marker=dict(size=10, color=SEQUENCE[k % len(SEQUENCE)], line=dict(width=1)),
            )
        )
    pad = 0.05 * (hi - lo or 1.0)
    fig.add_trace(
        go.Scatter(
            x=[lo - pad, hi + pad],
            y=[lo - pad, hi + pad],
            mode="lines",
            name=tr("yours = numeric"),
            line=dict(color=OKABE_ITO["grey"], dash="dot"),
        )
    )
    fig.update_xaxes(title_text=tr("central differences (numeric VJP)"))
    fig.update_yaxes(title_text=tr("your backward (VJP)"))
    return apply_theme(fig, title, 420)


def dag_figure(dag, title: str, mark: str = "", tr: Translate = same, height: int = 420) -> go.Figure:
    """A captured graph (graph_capture.Dag) with its groups shaded; nodes whose label contains
    ``mark`` (the custom op) ringed."""
    graph = dag.to_graph()
    ops = {n.name: n.op for n in graph.nodes}
    ringed = [n.id for n in dag.nodes if mark and mark in n.label]
    groups = [list(members) for _, members in dag.groups if members] or None
    fig = graph_figure(
        graph,
        highlight=ringed,
        groups=groups,
        title=title,
        height=height,
        tr=tr,
        node_text={n.id: n.label for n in dag.nodes if n.label != ops.get(n.id)},
    )
    fig.update_layout(legend_xanchor="left")
    return fig


def tape_rows(entries, tr: Translate = same) -> list[dict]:
    """The tape as table rows, in the order the ops ran."""
    return [
        {
            "#": e.index,
            tr("line"): e.line,
            tr("op"): e.op,
            tr("inputs"): ", ".join(e.inputs),
            tr("output"): e.output,
            tr("shape"): "×".join(map(str, e.shape)) or tr("scalar"),
            tr("VJP rule per input"): " | ".join(r or "—" for r in e.rules),
        }
        for e in entries
    ]


# -- control flow -------------------------------------------------------------------------------------
def values_figure(labels, series: dict, title: str, tr: Translate = same) -> go.Figure:
    """Grouped bars: one group per input, one bar per way of running the function (``series`` maps
    a shown name to values, None where that way gave nothing)."""
    fig = go.Figure()
    colors = (MEANING["forward"], MEANING["compute"], MEANING["highlight"], OKABE_ITO["purple"])
    for k, (name, values) in enumerate(series.items()):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[np.nan if v is None else v for v in values],
                name=name,
                marker_color=colors[k % len(colors)],
            )
        )
    fig.update_xaxes(title_text=tr("input (the first argument scaled by)"), type="category")
    fig.update_yaxes(title_text=tr("value (sum of the output)"))
    fig.update_layout(barmode="group")
    return apply_theme(fig, title, 380)


# -- landscape ---------------------------------------------------------------------------------------
def timeline_figure(milestones, concepts, title: str, tr: Translate = same) -> go.Figure:
    """One lane per concept; a framework appears in every lane it belongs to, at its release year."""
    fig = go.Figure()
    lanes = {c.key: k for k, c in enumerate(concepts)}
    for k, c in enumerate(concepts):
        members = [m for m in milestones if c.key in m.tags]
        taken: dict[int, int] = {}
        xs, ys, text, hover = [], [], [], []
        for m in members:
            slot = taken.get(m.year, 0)
            taken[m.year] = slot + 1
            xs.append(m.year + 0.12 * slot)
            ys.append(lanes[c.key] + (0.22 if slot % 2 else -0.0) - 0.11 * (slot // 2))
            text.append(m.name)
            hover.append(f"<b>{m.name}</b> ({m.year}, {m.org})<br>{tr(m.introduced)}")
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers+text",
                text=text,
                textposition="top center",
                hovertext=hover,
                hoverinfo="text",
                name=tr(c.name),
                marker=dict(size=14, color=SEQUENCE[k % len(SEQUENCE)], line=dict(width=1)),
            )
        )
    fig.update_yaxes(
        tickvals=list(range(len(concepts))),
        ticktext=[tr(c.name) for c in concepts],
        range=[-0.6, len(concepts) - 0.2],
        title_text="",
    )
    years = [m.year for m in milestones] or [2010, 2023]
    fig.update_xaxes(
        title_text=tr("year of first public release"), dtick=1, range=[min(years) - 0.8, max(years) + 1.2]
    )
    fig.update_layout(showlegend=False)
    return apply_theme(fig, title, 160 + 80 * max(1, len(concepts)))


def architecture_figure(components, selected: str, layer: str, title: str, tr: Translate = same) -> go.Figure:
    """MindSpore's layers as boxes on a grid; the selected component filled. Each box carries its key
    as ``customdata`` so a click (plotly selection) names it."""
    fig = go.Figure()
    shapes = []
    for c in components:
        on = c.key == selected
        shapes.append(
            dict(
                type="rect",
                x0=c.col + 0.06,
                x1=c.col + c.width - 0.06,
                y0=c.row - 0.42,
                y1=c.row + 0.42,
                line=dict(color="#333", width=2 if on else 1),
                fillcolor=MEANING["highlight"] if on else MEANING["forward"],
                opacity=0.85 if on else 0.35,
            )
        )
    rows = {c.row for c in components if c.row == 3}
    for row in rows:
        shapes.append(
            dict(
                type="rect",
                x0=-0.1,
                x1=12.1,
                y0=row - 0.5,
                y1=row + 0.5,
                line=dict(color=OKABE_ITO["purple"], dash="dash", width=2),
            )
        )
        fig.add_annotation(
            x=12.15,
            y=row,
            text=tr(layer),
            showarrow=False,
            xanchor="left",
            font=dict(color=OKABE_ITO["purple"]),
        )
    fig.add_trace(
        go.Scatter(
            x=[c.col + c.width / 2 for c in components],
            y=[c.row for c in components],
            mode="markers+text",
            text=[tr(c.name) for c in components],
            customdata=[c.key for c in components],
            hovertext=[tr(c.description) for c in components],
            hoverinfo="text",
            marker=dict(symbol="square", size=46, opacity=0.01, color="#000"),
            textfont=dict(size=12),
            showlegend=False,
        )
    )
    fig.update_layout(shapes=shapes, clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False, range=[-0.2, 13.8])
    fig.update_yaxes(visible=False, range=[0.4, 5.6])
    return apply_theme(fig, title, 470)
