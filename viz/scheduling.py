"""Figures for the scheduling lab: Gantt of a simulated schedule (critical path outlined), per-lane
utilisation, a comparison of execution modes, the graph with the ops scheduled so far, and the
PyTorch dispatch path as stacked layers.

A large graph stays readable: the Gantt draws at most :data:`GANTT_BARS` bars (the earliest to
start; its title says how many of all), and the lab draws the graph only up to :data:`DRAW_NODES`.

Words are drawn through ``tr`` (see :mod:`viz.words`); the engine's sentences through ``say``
(a page passes ``ui.t_message``, which also reads the catalog's message templates)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import plotly.graph_objects as go

from engine.core.trace import Timeline

from .graph import graph_figure
from .theme import MEANING, OKABE_ITO, apply_theme
from .timeline import gantt
from .words import Translate, same

COLORS = {"host": OKABE_ITO["grey"], "compute": MEANING["compute"], "transfer": MEANING["transfer"]}
MODE_TEXT = {"op_by_op": "op by op", "whole_graph": "whole graph", "split": "split across devices"}
GANTT_BARS = 300  # bars a Gantt draws: beyond this the labels overlap and the browser slows
DRAW_NODES = 150  # nodes of the scheduled-graph figure: beyond this the rings cannot be told apart


def step_text(step, say: Translate = same) -> tuple[str, str]:
    """(title, log) of one scheduler step in the view's language (times in µs)."""
    return say(step.title), say(step.log).replace(" us", " µs")


def _bar_labels(timeline: Timeline, tr: Translate) -> Timeline:
    """The host and transfer bars' labels ("dispatch conv2d#1", "copy x") in the view's language."""
    heads = (
        ("launch graph on ", tr("launch graph on {name}")),
        ("dispatch ", tr("dispatch {name}")),
        ("copy ", tr("copy {name}")),
    )

    def label(text: str) -> str:
        for head, template in heads:
            if text.startswith(head):
                return template.format(name=text[len(head) :])
        return text

    return replace(timeline, events=tuple(replace(e, label=label(e.label)) for e in timeline.events))


def _keep(tl: Timeline, keep: list[int]) -> Timeline:
    """The events of ``tl`` at indices ``keep`` (in order), the critical path renumbered."""
    remap = {old: new for new, old in enumerate(keep)}
    return Timeline(
        tuple(tl.events[i] for i in keep),
        tl.units,
        tl.time_unit,
        tuple(remap[i] for i in tl.critical if i in remap),
    )


def capped(timeline: Timeline, max_bars: int = GANTT_BARS) -> Timeline:
    """``timeline`` with only its ``max_bars`` earliest-starting events (all of them if fewer)."""
    if len(timeline.events) <= max_bars:
        return timeline
    order = sorted(range(len(timeline.events)), key=lambda i: (timeline.events[i].start, i))
    return _keep(timeline, sorted(order[:max_bars]))


def schedule_gantt(
    schedule,
    upto_label: set[str] | None = None,
    title: str = "",
    tr: Translate = same,
    max_bars: int = GANTT_BARS,
) -> go.Figure:
    """Gantt of the schedule; with ``upto_label`` only those compute ops (and all else) are drawn.

    At most ``max_bars`` bars, the earliest to start; the title then says "first n of m bars" and the
    time axis ends with the last bar drawn."""
    full = schedule.timeline
    tl = capped(full, max_bars)
    end = max((e.end for e in tl.events), default=0.0) if len(tl.events) < len(full.events) else None
    if upto_label is not None:
        tl = _keep(tl, [i for i, e in enumerate(tl.events) if e.kind != "compute" or e.label in upto_label])
    mode = tr(MODE_TEXT[schedule.mode]) if schedule.mode in MODE_TEXT else schedule.mode
    title = title or tr("Schedule ({mode}): {total:.1f} µs, critical path outlined").format(
        mode=mode, total=schedule.total_us
    )
    if end is not None:
        shown = tr("first {shown} of {total} bars").format(shown=max_bars, total=len(full.events))
        title = f"{title} — {shown}"
    fig = gantt(_bar_labels(tl, tr), title, colors=COLORS, tr=tr)
    fig.update_yaxes(title=tr("lane (host, device/stream, link)"))
    fig.update_xaxes(title=tr("time ({unit})").format(unit="µs"))
    if end is not None or upto_label is not None:
        fig.update_xaxes(range=[0, (end if end is not None else schedule.total_us) * 1.02])
    return fig


def scheduled_graph(graph, highlight, scheduled, title: str = "", tr: Translate = same) -> go.Figure:
    """The graph with the op just taken lit and the ops ``scheduled`` before it ringed.

    :func:`viz.graph.graph_figure` names its ring of ``changed`` nodes "changed"; here they are the
    ops already scheduled, so the ring is drawn as "scheduled".
    """

    def words(text: str) -> str:
        return tr("scheduled") if text == "changed" else tr(text)

    fig = graph_figure(
        graph, highlight=highlight, changed=scheduled, title=title, direction="LR", height=340, tr=words
    )
    return fig.update_layout(legend_xanchor="left")  # legend inside the plot: the graph keeps the width


def utilization_figure(schedule, title: str = "Busy share of each lane", tr: Translate = same) -> go.Figure:
    lanes = list(schedule.utilization)
    vals = [100 * schedule.utilization[u] for u in lanes]
    fig = go.Figure(
        go.Bar(
            x=vals,
            y=lanes,
            orientation="h",
            text=[f"{v:.0f}%" for v in vals],
            textposition="outside",
            marker_color=MEANING["compute"],
        )
    )
    fig.update_xaxes(title=tr("utilisation (% of total time)"), range=[0, 115])
    fig.update_yaxes(title=tr("lane"), categoryorder="array", categoryarray=lanes[::-1])
    return apply_theme(fig, title, max(260, 60 + 34 * len(lanes)))


def modes_figure(
    totals: dict[str, float], title: str = "Total time by execution mode", tr: Translate = same
) -> go.Figure:
    names = list(totals)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[totals[n] for n in names],
            text=[f"{totals[n]:.1f} µs" for n in names],
            textposition="outside",
            marker_color=[OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["green"]][: len(names)],
        )
    )
    fig.update_yaxes(title=tr("total time (µs)"), rangemode="tozero")
    fig.update_yaxes(range=[0, max(totals.values(), default=1) * 1.2])  # room for the labels
    fig.update_xaxes(title=tr("execution mode"))
    return apply_theme(fig, title, 360)


def dispatch_figure(
    trace, step: int, title: str = "", tr: Translate = same, say: Translate | None = None
) -> go.Figure:
    """The layers of one PyTorch op call, top to bottom; the current one lit, the passed ones dim.

    ``tr`` names the layers; ``say`` (default ``tr``) says what happens in each (engine sentences
    with values: a page passes ``ui.t_message``).
    """
    say = say or tr
    layers = [s.data["layer"] for s in trace.steps]
    fig = go.Figure()
    for k, s in enumerate(trace.steps):
        color = MEANING["highlight"] if k == step else (OKABE_ITO["sky"] if k < step else "#EEEEEE")
        y = len(layers) - k
        fig.add_shape(
            type="rect",
            x0=0,
            x1=10,
            y0=y - 0.42,
            y1=y + 0.42,
            fillcolor=color,
            line=dict(color="black", width=2 if k == step else 1),
            layer="below",
        )
        fig.add_annotation(
            x=0.2,
            y=y,
            text=f"<b>{tr(s.data['layer'])}</b>",
            showarrow=False,
            xanchor="left",
            font=dict(size=15, color="black"),
        )
        fig.add_annotation(
            x=2.6,
            y=y,
            text=_wrap(say(s.data["what"]), 70),
            showarrow=False,
            xanchor="left",
            align="left",
            font=dict(size=12, color="black"),
        )
        if k < len(layers) - 1:
            fig.add_annotation(
                x=1.2,
                y=y - 0.58,
                ax=1.2,
                ay=y - 0.42,
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=2,
                text="",
            )
    fig.update_xaxes(visible=False, range=[0, 10])
    fig.update_yaxes(visible=False, range=[0.4, len(layers) + 0.6])
    return apply_theme(fig, title or trace.title, 110 + 70 * len(layers))


def _width(text: str) -> int:
    """Columns ``text`` takes: wide (CJK) characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(text: str, width: int) -> str:
    """Lines of at most ``width`` columns; a long run without spaces (CJK text) is cut to fit."""
    words, lines, cur = [], [], ""
    for w in text.split():
        while _width(w) > width:
            cut = next(i for i in range(len(w), 0, -1) if _width(w[:i]) <= width)
            words.append(w[:cut])
            w = w[cut:]
        words.append(w)
    for w in words:
        if _width(cur) + _width(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "<br>".join(lines)
