"""Figures of the DP vs DDP vs parameter-server lab: bytes per link, step time vs workers, the timeline."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go

from engine.core.trace import Timeline
from engine.parallel.dp_designs import DesignRun, gpu, server

from .parallel import keep_lanes
from .theme import OKABE_ITO, SEQUENCE, apply_theme
from .timeline import gantt
from .words import Translate, same

MB = 1e6
DESIGN_WORDS = {"dp": "DP", "ddp": "DDP", "ps": "parameter server"}


def link_rows(runs: dict[str, DesignRun]) -> list[tuple[str, str, float, float]]:
    """(design, which node, MB out, MB in) per step for the links that tell each design apart."""
    rows = []
    for design, run in runs.items():
        n = run.setup.workers
        nodes = {"dp": (gpu(0), gpu(n - 1)), "ddp": (gpu(0),), "ps": (gpu(0), server(0))}[design]
        for node in dict.fromkeys(nodes):
            rows.append((design, node, run.traffic[node]["out"] / MB, run.traffic[node]["in"] / MB))
    return rows


def traffic_bars(runs: dict[str, DesignRun], title: str, tr: Translate = same) -> go.Figure:
    """Grouped bars: MB sent and received per step by GPU 0, another worker and a server shard."""
    rows = link_rows(runs)
    x = [f"{tr(DESIGN_WORDS[d])} · {node}" for d, node, _, _ in rows]
    fig = go.Figure()
    for k, (name, color) in enumerate((("sent", OKABE_ITO["blue"]), ("received", OKABE_ITO["orange"]))):
        fig.add_bar(
            x=x,
            y=[r[2 + k] for r in rows],
            name=tr(name),
            marker_color=color,
            hovertemplate="%{x}: %{y:,.1f} MB<extra>" + tr(name) + "</extra>",
        )
    fig.update_yaxes(title=tr("MB per step (10⁶ bytes)"))
    fig.update_layout(barmode="group")
    return apply_theme(fig, title)


def scaling_plot(
    curves: dict, measured: dict[str, float], n: int, title: str, tr: Translate = same
) -> go.Figure:
    """Closed-form step time (ms) vs workers per design; markers = the simulation at the chosen N."""
    fig = go.Figure()
    for k, (design, (ns, secs)) in enumerate(curves.items()):
        color = SEQUENCE[k % len(SEQUENCE)]
        fig.add_scatter(
            x=ns,
            y=[s * 1e3 for s in secs],
            name=tr(DESIGN_WORDS[design]),
            mode="lines",
            line=dict(color=color),
        )
        if design in measured:
            fig.add_scatter(
                x=[n],
                y=[measured[design] * 1e3],
                mode="markers",
                marker=dict(size=12, symbol="circle-open", color=color, line=dict(width=3)),
                name=tr("simulated") + f" · {tr(DESIGN_WORDS[design])}",
                showlegend=k == 0,
            )
    fig.update_xaxes(title=tr("workers N"))
    fig.update_yaxes(title=tr("step time (ms)"), rangemode="tozero")
    return apply_theme(fig, title)


def design_timeline(run: DesignRun, title: str, now: float | None = None, tr: Translate = same) -> go.Figure:
    """The run's Gantt in ms for GPU 0, GPU 1, the last GPU and up to 4 server shards, up to ``now``."""
    n = run.setup.workers
    keep = {gpu(0), gpu(min(1, n - 1)), gpu(n - 1)} | {server(j) for j in range(min(4, run.setup.shards))}
    lanes = [lane for lane in run.timeline.lanes if lane.removesuffix(" out") in keep]
    events = tuple(
        replace(e, start=e.start * 1e3, end=e.end * 1e3, label=tr(e.label))
        for e in run.timeline.events
        if e.unit in lanes and (now is None or e.start <= now + 1e-12)
    )
    shown = [lane.replace(" out", " " + tr("sends")) for lane in lanes]
    events = tuple(replace(e, unit=shown[lanes.index(e.unit)]) for e in events)
    fig = gantt(Timeline(events, tuple(shown), "ms"), title, highlight_critical=False, tr=tr)
    if now is not None:
        fig.add_vline(x=now * 1e3, line_dash="dot")
    return keep_lanes(fig, shown, run.timeline.makespan * 1e3)
