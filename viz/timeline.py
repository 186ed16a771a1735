"""Gantt chart of an engine Timeline: one row per lane, bars coloured by event kind."""

from __future__ import annotations

import plotly.graph_objects as go

from engine.core.trace import Timeline

from .theme import MEANING, SEQUENCE, apply_theme
from .words import Translate, same

#: A bar's label is drawn inside it only where it fits: at least this many pixels per character, on a
#: plot about PLOT_PX wide (plotly shrinks a label to its bar, so a narrower one would be unreadable).
#: Measured in chromium (plotly.js alone, medians of 5): DaVinci's ResNet-18 pipeline, 600 bars, drew
#: in 123 ms with a label in every bar and in 28 ms with the labels that fit (none there); the hover
#: keeps every label.
PX_PER_CHAR, PLOT_PX = 3.5, 900


def gantt(
    timeline: Timeline,
    title: str,
    highlight_critical: bool = True,
    height: int | None = None,
    colors: dict[str, str] | None = None,
    tr: Translate = same,
) -> go.Figure:
    """Horizontal bars per lane; the critical path (if any) outlined in black.

    ``tr`` draws the time axis and the legend of event kinds in the view's language.
    """
    palette = {**MEANING, **(colors or {})}
    lanes = list(timeline.lanes)
    fig = go.Figure()
    kinds = list(dict.fromkeys(e.kind for e in timeline.events))
    starts, ends = [e.start for e in timeline.events], [e.end for e in timeline.events]
    px = PLOT_PX / max(max(ends, default=1) - min(starts, default=0), 1e-300)  # pixels per time unit
    critical = set(timeline.critical) if highlight_critical else set()
    for k, kind in enumerate(kinds):
        idx = [i for i, e in enumerate(timeline.events) if e.kind == kind]
        evs = [timeline.events[i] for i in idx]
        fig.add_bar(
            y=[e.unit for e in evs],
            x=[e.duration for e in evs],
            base=[e.start for e in evs],
            orientation="h",
            name=tr(kind),
            text=[e.label if e.duration * px >= PX_PER_CHAR * len(e.label) else "" for e in evs],
            hovertext=[e.label for e in evs],
            textposition="inside",
            insidetextanchor="middle",
            marker=dict(
                color=palette.get(kind, SEQUENCE[k % len(SEQUENCE)]),
                line=dict(
                    color=["black" if i in critical else "white" for i in idx],
                    width=[3 if i in critical else 1 for i in idx],
                ),
            ),
            hovertemplate="%{hovertext}<br>%{base} → %{x:+}<extra>" + tr(kind) + "</extra>",
        )
    fig.update_yaxes(categoryorder="array", categoryarray=lanes[::-1], title=None)
    unit = timeline.time_unit
    axis = tr(f"time ({unit})")  # a whole phrase the catalog knows, e.g. "time (cycles)"
    fig.update_xaxes(title=axis if axis != f"time ({unit})" else tr("time ({unit})").format(unit=unit))
    fig.update_layout(barmode="overlay", bargap=0.25)
    return apply_theme(fig, title, height or max(260, 60 + 36 * len(lanes)))
