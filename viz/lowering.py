"""Figures and tables of the lowering lab: LLVM's pipeline per level, run modes, shape guards.

* :func:`opt_level_figure` — instructions, blocks, phi nodes and vector instructions of our IR as
  written and after LLVM's -O0..-O3 (grouped bars);
* :func:`run_modes_figure` — total run-time cost of n calls, ``one-off + n × steady``, for the
  interpreter, the JIT and the AOT kernel on log-log axes, with the engine's break-even counts
  marked where the compiled line crosses the interpreter's;
* :func:`shape_calls_figure` — each call of a shape sequence: the specialising JIT's time (coloured
  by what its guard table did: recompile, hit, fallback) beside the shape-generic kernel's;
* :func:`mode_rows` / :func:`guard_rows` / :func:`level_rows` — the same data as table rows.
Every builder draws its fixed words through ``tr`` (see :mod:`viz.words`); engine names are data.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from .theme import MEANING, SEQUENCE, apply_theme
from .words import Translate, same

_COUNTS = (
    ("instructions", "instructions"),
    ("blocks", "basic blocks"),
    ("phis", "phi nodes"),
    ("vector_instructions", "vector instructions"),
)
_MODES = {"interpreted": "interpreted", "jit": "JIT", "aot": "AOT"}
_EVENT_COLOURS = {"recompile": MEANING["changed"], "hit": MEANING["compute"], "fallback": MEANING["stall"]}


def _level_name(level: str, tr: Translate) -> str:
    return tr("our IR") if level == "ours" else level


def opt_level_figure(levels, title: str | None = None, tr: Translate = same) -> go.Figure:
    """Grouped bars: each count of :class:`~engine.compiler.lab_lowering.LevelStats` per level."""
    fig = go.Figure()
    x = [_level_name(s.level, tr) for s in levels]
    for k, (attr, word) in enumerate(_COUNTS):
        fig.add_bar(
            x=x,
            y=[getattr(s, attr) for s in levels],
            name=tr(word),
            marker_color=SEQUENCE[k],
            hovertemplate="%{x}: %{y:,} " + tr(word) + "<extra></extra>",
        )
    fig.update_xaxes(title=tr("LLVM optimisation level"))
    fig.update_yaxes(title=tr("count in the kernel's function"))
    fig.update_layout(barmode="group")
    return apply_theme(fig, title or tr("What LLVM's pipeline does to the kernel"), 380)


def level_rows(levels, tr: Translate = same) -> list[dict]:
    return [
        {
            tr("level"): _level_name(s.level, tr),
            **{tr(word): getattr(s, attr) for attr, word in _COUNTS},
            tr("pipeline time (ms)"): round(s.seconds * 1e3, 2),
        }
        for s in levels
    ]


def _cost(mode, n: float) -> float:
    return (mode.one_off_s + n * mode.steady_s) * 1e3


def run_modes_figure(modes, title: str | None = None, tr: Translate = same) -> go.Figure:
    """Total time at run time after n calls, per mode (the engine's break-even model)."""
    evens = [e for e in (modes.break_even_jit, modes.break_even_aot) if e]
    top = min(10**7, max(100, 4 * max(evens, default=25)))
    ns = sorted({max(1, round(10 ** (i * math.log10(top) / 80))) for i in range(81)})
    fig = go.Figure()
    for k, mode in enumerate((modes.interpreted, modes.jit, modes.aot)):
        name = tr(_MODES[mode.mode])
        fig.add_scatter(
            x=ns,
            y=[_cost(mode, n) for n in ns],
            mode="lines",
            name=name,
            line=dict(color=SEQUENCE[k], width=3, dash="solid" if k == 0 else ("dash" if k == 1 else "dot")),
            hovertemplate=name
            + ": %{y:.3g} ms "
            + tr("after")
            + " %{x:,} "
            + tr("calls")
            + "<extra></extra>",
        )
    for k, (mode, even) in enumerate(((modes.jit, modes.break_even_jit), (modes.aot, modes.break_even_aot))):
        if even:
            fig.add_scatter(
                x=[even],
                y=[_cost(mode, even)],
                mode="markers+text",
                marker=dict(size=12, color=SEQUENCE[k + 1], symbol="diamond"),
                text=[
                    tr("{name} pays off after {n} calls").format(name=tr(_MODES[mode.mode]), n=f"{even:,}")
                ],
                textposition="top left" if k == 0 else "bottom right",
                showlegend=False,
                hoverinfo="skip",
            )
    fig.update_xaxes(type="log", title=tr("calls (log scale)"))
    fig.update_yaxes(type="log", title=tr("total time at run time (ms, log scale)"))
    return apply_theme(fig, title or tr("Compile once, call many times"), 400)


def mode_rows(modes, tr: Translate = same) -> list[dict]:
    """One row per way of running the kernel, in milliseconds, with its break-even call count."""
    even = {"jit": modes.break_even_jit, "aot": modes.break_even_aot}
    rows = []
    for m in (modes.interpreted, modes.jit, modes.aot):
        if m.mode == "interpreted":
            pays = "—"
        else:
            pays = f"{even[m.mode]:,}" if even[m.mode] else tr("never")
        rows.append(
            {
                tr("mode"): tr(_MODES[m.mode]),
                tr("compiled ahead (ms)"): round(m.ahead_s * 1e3, 2),
                tr("one-off at run time (ms)"): round(m.one_off_s * 1e3, 2),
                tr("first call (ms)"): round(m.first_call_s * 1e3, 3),
                tr("steady call (ms)"): round(m.steady_s * 1e3, 4),
                tr("break-even (calls)"): pays,
            }
        )
    return rows


def _shape_text(shapes) -> str:
    return ", ".join(f"{name} {'×'.join(map(str, s))}" for name, s in shapes)


def shape_calls_figure(report, title: str | None = None, tr: Translate = same) -> go.Figure:
    """Per call: the specialising JIT (bar, by event) and the generic kernel (markers), log time."""
    calls = report.calls
    x = [f"{k + 1}" for k in range(len(calls))]
    fig = go.Figure()
    for event, colour in _EVENT_COLOURS.items():
        idx = [k for k, c in enumerate(calls) if c.event == event]
        if not idx:
            continue
        fig.add_bar(
            x=[x[k] for k in idx],
            y=[calls[k].specialized_s * 1e3 for k in idx],
            name=tr("specialising JIT: {event}").format(event=tr(event)),
            marker_color=colour,
            hovertext=[_shape_text(calls[k].shapes) for k in idx],
            hovertemplate="%{hovertext}<br>%{y:.3g} ms<extra></extra>",
        )
    fig.add_scatter(
        x=x,
        y=[c.generic_s * 1e3 for c in calls],
        mode="markers+lines",
        name=tr("shape-generic kernel"),
        marker=dict(size=9, color=SEQUENCE[0]),
        line=dict(color=SEQUENCE[0], dash="dot"),
        hovertext=[_shape_text(c.shapes) for c in calls],
        hovertemplate="%{hovertext}<br>%{y:.3g} ms<extra></extra>",
    )
    fig.update_xaxes(title=tr("call (a new input shape each time, some repeated)"), type="category")
    fig.update_yaxes(type="log", title=tr("time of the call (ms, log scale)"))
    return apply_theme(fig, title or tr("Recompile per shape, or one kernel for all shapes"), 380)


def guard_rows(report, tr: Translate = same) -> list[dict]:
    """The specialising JIT's guard table: one compiled kernel per row."""
    return [{tr("guard"): g.guard, tr("compile (ms)"): round(g.compile_s * 1e3, 2)} for g in report.guards]


def duration(seconds: float) -> str:
    """A time with a unit that keeps three significant digits readable: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"
