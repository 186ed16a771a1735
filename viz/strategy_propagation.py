"""Figures of the strategy-propagation lab: the cost of each op and redistribution, and who holds what."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.parallel.strategy_propagation import Layout, Plan

from .theme import MEANING, apply_theme
from .words import Translate, same


def cost_bars(plan: Plan, title: str, upto: int | None = None, tr: Translate = same) -> go.Figure:
    """Compute and communication time (µs) of each op up to op ``upto`` (all when None), plus the
    output's final redistribution; each bar names the collectives it needed."""
    ops = plan.ops if upto is None else plan.ops[: upto + 1]
    labels = [f"{o.op.out} = {o.op.kind}({', '.join(o.op.inputs)})" for o in ops]
    comm = [o.comm_s * 1e6 for o in ops]
    names = [" + ".join(m.collective for ms in o.moves for m in ms) for o in ops]
    if upto is None or upto >= len(plan.ops) - 1:
        labels.append(tr("output"))
        comm.append(sum(m.seconds for m in plan.final) * 1e6)
        names.append(" + ".join(m.collective for m in plan.final))
    compute = [o.compute_s * 1e6 for o in ops] + [0.0] * (len(labels) - len(ops))
    fig = go.Figure()
    fig.add_bar(x=labels, y=compute, name=tr("compute"), marker_color=MEANING["compute"])
    fig.add_bar(
        x=labels,
        y=comm,
        name=tr("redistribution"),
        marker_color=MEANING["communication"],
        text=names,
        textposition="outside",
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("op"))
    fig.update_yaxes(title=tr("time (µs)"))
    return apply_theme(fig, title)


def shard_map(layout: Layout, mesh, title: str, tr: Translate = same) -> go.Figure:
    """The device matrix: which block of a tensor each device holds (rows / columns), or partial sums."""
    d0, d1 = mesh
    text = np.empty((d0, d1), dtype=object)
    for a in range(d0):
        for b in range(d1):
            parts = []
            for dim, word in ((0, tr("rows")), (1, tr("cols"))):
                k = layout.map[dim]
                parts.append(f"{word} {(a, b)[k] + 1}/{mesh[k]}" if k >= 0 else f"{word} {tr('all')}")
            if layout.partial:
                parts.append(tr("partial sum"))
            text[a, b] = "<br>".join(parts)
    z = np.arange(d0 * d1, dtype=float).reshape(d0, d1)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            x=[f"{tr('axis 1')} = {b}" for b in range(d1)],
            y=[f"{tr('axis 0')} = {a}" for a in range(d0)],
            hoverinfo="skip",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return apply_theme(fig, title, height=max(240, 90 + 70 * d0))
