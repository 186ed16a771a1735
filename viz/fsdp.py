"""Figures of the FSDP lab: memory per device over time and the two-stream overlap timeline."""

from __future__ import annotations

from dataclasses import replace

import plotly.graph_objects as go

from engine.parallel.fsdp import FSDPRun

from .parallel import GiB, keep_lanes
from .theme import MEANING, OKABE_ITO, apply_theme
from .timeline import gantt
from .words import Translate, same

PARTS = (
    ("states", "sharded model states", OKABE_ITO["green"]),
    ("params", "gathered parameters", OKABE_ITO["blue"]),
    ("grads", "unsharded gradients", OKABE_ITO["orange"]),
    ("activations", "activations", OKABE_ITO["purple"]),
)


def memory_curve(
    run: FSDPRun, title: str, now: float | None = None, closed_form: float | None = None, tr: Translate = same
) -> go.Figure:
    """Stacked step curve of the bytes on one device (GiB) over the step (ms); dotted line = now."""
    fig = go.Figure()
    times = [t for t, _ in run.memory]
    for key, name, color in PARTS:
        fig.add_scatter(
            x=times,
            y=[m[key] / GiB for _, m in run.memory],
            name=tr(name),
            mode="lines",
            line=dict(shape="hv", width=0.5, color=color),
            stackgroup="one",
            hovertemplate="%{x:.2f} ms: %{y:.2f} GiB<extra>" + tr(name) + "</extra>",
        )
    if closed_form is not None:
        fig.add_hline(
            y=closed_form / GiB,
            line_dash="dash",
            line_color=MEANING["highlight"],
            annotation_text=tr("ZeRO-3 + gathered units (closed form)"),
            annotation_position="top left",
        )
    if now is not None:
        fig.add_vline(x=now, line_dash="dot")
    fig.update_xaxes(title=tr("time (ms)"), range=[0, run.step_ms])
    fig.update_yaxes(title=tr("memory per device (GiB)"))
    return apply_theme(fig, title)


def overlap_timeline(run: FSDPRun, title: str, now: float | None = None, tr: Translate = same) -> go.Figure:
    """Compute and communication streams up to ``now`` (the whole step when None)."""
    tl = run.timeline
    if now is not None:
        tl = replace(tl, events=tuple(e for e in tl.events if e.start <= now + 1e-12))
    lanes = (tr("compute"), tr("communication"))
    named = replace(tl, events=tuple(replace(e, unit=tr(e.unit)) for e in tl.events), units=lanes)
    fig = gantt(named, title, highlight_critical=False, tr=tr)
    return keep_lanes(fig, lanes, run.step_ms, height=300)
