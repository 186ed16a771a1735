"""Figures for the scheduling lab: Gantt of a simulated schedule (critical path outlined), per-lane
utilisation, a comparison of execution modes, and the PyTorch dispatch path as stacked layers."""
from __future__ import annotations

import plotly.graph_objects as go

from engine.trace import Timeline

from .theme import MEANING, OKABE_ITO, apply_theme
from .timeline import gantt

COLORS = {"host": OKABE_ITO["grey"], "compute": MEANING["compute"], "transfer": MEANING["transfer"]}


def schedule_gantt(schedule, upto_label: set[str] | None = None, title: str = "") -> go.Figure:
    """Gantt of the schedule; with ``upto_label`` only those compute ops (and all else) are drawn."""
    tl = schedule.timeline
    if upto_label is not None:
        keep = [i for i, e in enumerate(tl.events) if e.kind != "compute" or e.label in upto_label]
        remap = {old: new for new, old in enumerate(keep)}
        tl = Timeline(tuple(tl.events[i] for i in keep), tl.units, tl.time_unit,
                      tuple(remap[i] for i in tl.critical if i in remap))
    fig = gantt(tl, title or f"Schedule ({schedule.mode}): {schedule.total_us:.1f} us, critical "
                "path outlined", colors=COLORS)
    fig.update_yaxes(title="lane (host, device/stream, link)")
    if upto_label is not None:
        fig.update_xaxes(range=[0, schedule.total_us * 1.02])
    return fig


def utilization_figure(schedule, title: str = "Busy share of each lane") -> go.Figure:
    lanes = list(schedule.utilization)
    vals = [100 * schedule.utilization[u] for u in lanes]
    fig = go.Figure(go.Bar(x=vals, y=lanes, orientation="h", text=[f"{v:.0f}%" for v in vals],
                           textposition="outside", marker_color=MEANING["compute"]))
    fig.update_xaxes(title="utilisation (% of total time)", range=[0, 110])
    fig.update_yaxes(title="lane", categoryorder="array", categoryarray=lanes[::-1])
    return apply_theme(fig, title, max(260, 60 + 34 * len(lanes)))


def modes_figure(totals: dict[str, float], title: str = "Total time by execution mode") -> go.Figure:
    names = list(totals)
    fig = go.Figure(go.Bar(x=names, y=[totals[n] for n in names],
                           text=[f"{totals[n]:.1f} us" for n in names], textposition="outside",
                           marker_color=[OKABE_ITO["vermillion"], OKABE_ITO["blue"],
                                         OKABE_ITO["green"]][:len(names)]))
    fig.update_yaxes(title="total time (us)", rangemode="tozero")
    fig.update_xaxes(title="execution mode")
    return apply_theme(fig, title, 360)


def dispatch_figure(trace, step: int, title: str = "") -> go.Figure:
    """The layers of one PyTorch op call, top to bottom; the current one lit, the passed ones dim."""
    layers = [s.data["layer"] for s in trace.steps]
    fig = go.Figure()
    for k, s in enumerate(trace.steps):
        color = MEANING["highlight"] if k == step else (OKABE_ITO["sky"] if k < step else "#EEEEEE")
        y = len(layers) - k
        fig.add_shape(type="rect", x0=0, x1=10, y0=y - 0.42, y1=y + 0.42, fillcolor=color,
                      line=dict(color="black", width=2 if k == step else 1), layer="below")
        fig.add_annotation(x=0.2, y=y, text=f"<b>{s.data['layer']}</b>", showarrow=False,
                           xanchor="left", font=dict(size=15, color="black"))
        fig.add_annotation(x=2.6, y=y, text=_wrap(s.data["what"], 70), showarrow=False,
                           xanchor="left", align="left", font=dict(size=12, color="black"))
        if k < len(layers) - 1:
            fig.add_annotation(x=1.2, y=y - 0.58, ax=1.2, ay=y - 0.42, xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2, text="")
    fig.update_xaxes(visible=False, range=[0, 10])
    fig.update_yaxes(visible=False, range=[0.4, len(layers) + 0.6])
    return apply_theme(fig, title or trace.title, 110 + 70 * len(layers))


def _wrap(text: str, width: int) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "<br>".join(lines)
