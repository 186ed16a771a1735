"""Figures of the topology-aware mapping lab: the cluster coloured by process group, step time per order."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.parallel.device_mapping import Mapping, process_groups

from .theme import MEANING, OKABE_ITO, apply_theme
from .words import Translate, same


def group_grid(mapping: Mapping, kind: str, nodes: int, title: str, tr: Translate = same) -> go.Figure:
    """Nodes × GPUs (first ``nodes`` nodes), each GPU coloured by its ``kind`` group, labelled with its
    rank and group; a group that spans several nodes is marked ✕."""
    g = mapping.gpus_per_node
    groups = process_groups(kind, mapping.order, mapping.tp, mapping.dp, mapping.pp)
    which, crosses = {}, {}
    for k, members in enumerate(groups):
        spread = len({r // g for r in members}) > 1
        for r in members:
            which[r], crosses[r] = k, spread
    z = np.full((nodes, g), np.nan)
    text = np.empty((nodes, g), dtype=object)
    for r in range(min(nodes * g, len(mapping.rows))):
        z[r // g, r % g] = which[r] % 12
        text[r // g, r % g] = f"r{r} g{which[r]}" + (" ✕" if crosses[r] else "")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}" if nodes * g <= 128 else None,
            colorscale="Turbo",
            showscale=False,
            x=[f"GPU {i}" for i in range(g)],
            y=[tr("node {k}").format(k=k) for k in range(nodes)],
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("node"))
    fig.update_xaxes(title=tr("GPU in node"))
    return apply_theme(fig, title, height=max(280, 110 + 40 * nodes))


def order_bars(mappings, title: str, tr: Translate = same) -> go.Figure:
    """Stacked estimated step time (s) per rank order: compute, bubble, TP, DP and PP communication."""
    labels = [m.order for m in mappings]
    parts = [
        (tr("compute"), [m.compute_s for m in mappings], MEANING["compute"]),
        (tr("pipeline bubble"), [m.bubble_s for m in mappings], MEANING["idle"]),
    ]
    colors = {"tp": OKABE_ITO["vermillion"], "dp": OKABE_ITO["purple"], "pp": OKABE_ITO["sky"]}
    for kind in ("tp", "dp", "pp"):
        values = [next(c.seconds for c in m.costs if c.kind == kind) for m in mappings]
        parts.append((tr("{kind} communication").format(kind=kind.upper()), values, colors[kind]))
    fig = go.Figure()
    for name, values, color in parts:
        fig.add_bar(
            x=labels,
            y=values,
            name=name,
            marker_color=color,
            hovertemplate="%{x}: %{y:.3f} s<extra>" + name + "</extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("rank order (fastest-varying first)"))
    fig.update_yaxes(title=tr("estimated step time (s)"))
    return apply_theme(fig, title)
