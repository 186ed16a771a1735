"""Figures and table rows for the autodiff lab: the evaluation trace, error vs h, expression swell,
Jacobian sweep cost, and the gradient norms of a graph too large to step. Engine data in, plotly
figures (or plain rows) out; never streamlit.

Words are drawn through ``tr`` (see :mod:`viz.words`); the engine's step sentences through ``say``
(a page passes ``ui.t_message``, which also reads the catalog's message templates)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from engine.framework.autodiff import show

from .graph import graph_figure
from .graph_layout import compute_layout
from .theme import MEANING, OKABE_ITO, apply_theme
from .words import Translate, same


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def step_text(step, say: Translate = same) -> tuple[str, str]:
    """(title, log) of one autodiff step in the view's language.

    A backward step's log is one sentence per adjoint contribution joined by "; "; each is said on
    its own (a template matches one contribution, whatever the fan-out).
    """
    if (step.data or {}).get("contributions"):
        log = say("; ").join(say(part) for part in step.log.split("; "))
    else:
        log = say(step.log or step.title)
    return say(step.title), log


def survey_badge(rows: list[dict], table: int, tr: Translate = same) -> str:
    """'Matches Baydin et al. Table n' with the key numbers and the largest difference."""
    diff = max(r["diff"] for r in rows)
    got = {r["v"]: r.get("tangent", r.get("adjoint")) for r in rows}
    key = f"y_dot = {got['v5']:.3f}" if table == 2 else f"x1_bar = {got['v-1']:.3f}, x2_bar = {got['v0']:.3f}"
    return tr(
        "Matches Baydin et al. (2018) Table {table}: {key}; every row within {diff:.1e} "
        "(the survey prints 3 decimals)."
    ).format(table=table, key=key, diff=diff)


def survey_table(rows: list[dict], tr: Translate = same) -> list[dict]:
    """engine.framework.lab.survey_rows as display rows: the survey's number, ours, the difference."""
    out = []
    for r in rows:
        if "tangent" in r:
            out.append(
                {
                    "v": r["v"],
                    tr("value (survey)"): r["source_value"],
                    tr("value (engine)"): f"{r['value']:.4f}",
                    tr("tangent (survey)"): r["source_tangent"],
                    tr("tangent (engine)"): f"{r['tangent']:.4f}",
                    tr("|difference|"): f"{r['diff']:.1e}",
                }
            )
        else:
            out.append(
                {
                    "v": r["v"],
                    tr("adjoint (survey)"): r["source_adjoint"],
                    tr("adjoint (engine)"): f"{r['adjoint']:.4f}",
                    tr("|difference|"): f"{r['diff']:.1e}",
                }
            )
    return out


#: Trace-table columns whose cells run long (tensor summaries, rule formulas): drawn wide by the page.
WIDE_COLUMNS = ("expression", "value", "tangent", "rule", "contribution", "adjoint now")


def forward_rows(trace, upto: int, tr: Translate = same) -> list[dict]:
    """The forward evaluation-trace table (Baydin Table 2) filled in up to step ``upto``."""
    rows = []
    for step in trace.steps[: upto + 1]:
        d = step.data
        row = {
            "v": d.get("v", ""),
            tr("node"): d["node"],
            tr("expression"): d["expression"],
            tr("value"): _num(d["value"]),
        }
        if d.get("tangent") is not None:
            row[tr("tangent")] = _num(d["tangent"])
            rule = d.get("rule", "")
            row[tr("rule")] = tr("seed") if rule == "seed" else rule
        rows.append(row)
    return rows


def reverse_rows(trace, upto: int, tr: Translate = same) -> list[dict]:
    """Adjoint contributions (Baydin Table 3) up to step ``upto`` of a reverse trace."""
    rows = []
    for step in trace.steps[: upto + 1]:
        for c in (step.data or {}).get("contributions", ()) or ():
            rows.append(
                {
                    tr("from (consumer)"): c["source"],
                    tr("to (adjoint)"): f"{c['to']}_bar",
                    tr("contribution"): _num(c["contribution"]),
                    tr("accumulate"): "+=" if c["accumulated"] else "=",
                    tr("adjoint now"): _num(c["adjoint"]),
                }
            )
    return rows


def node_state(trace, upto: int) -> dict[str, dict[str, Any]]:
    """What the trace has recorded for each node up to step ``upto``: ``value``, ``tangent`` (forward
    mode) and ``adjoint`` (reverse mode, the running sum so far), as the engine recorded them (a
    float for a scalar, a short description for a tensor)."""
    state: dict[str, dict[str, Any]] = {}
    for step in trace.steps[: upto + 1]:
        d = step.data or {}
        if "node" not in d:
            continue
        if "value" in d:
            state.setdefault(d["node"], {})["value"] = d["value"]
            if d.get("tangent") is not None:
                state[d["node"]]["tangent"] = d["tangent"]
        if "adjoint" in d:
            state.setdefault(d["node"], {})["adjoint"] = d["adjoint"]
        for c in d.get("contributions", ()) or ():
            state.setdefault(c["to"], {})["adjoint"] = c["adjoint"]
    return state


def node_text(trace, upto: int, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Text beside each node reached by step ``upto``: its short survey name (v1, v-1, ...) only.
    The numbers go in :func:`callout` (the lit node) and the trace table, not beside every node."""
    return {k: labels[k] for k in node_state(trace, upto) if labels and k in labels}


CALLOUT_NUMBERS = 3  # numbers of a tensor shown in the callout (then "…")


def tensor_text(x: Any, tr: Translate = same) -> str:
    """A scalar as ``1.234``; a tensor as its shape, then (a second line) its first few numbers: bounded
    length whatever the tensor's size."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 1:
        return f"{float(a.reshape(())):.4g}"
    flat = a.ravel()
    head = ", ".join(f"{v:.3g}" for v in flat[:CALLOUT_NUMBERS])
    more = ", …" if flat.size > CALLOUT_NUMBERS else ""
    return tr("shape {shape}").format(shape=list(a.shape)) + f"<br>[{head}{more}]"


def callout(trace, k: int, labels: dict[str, str] | None = None, tr: Translate = same) -> tuple[str, str]:
    """(node, text) for the lit node of step ``k``: its name, value and tangent (dot) or adjoint (bar).

    Tensors show their shape and first numbers, read from the trace's final arrays when those are what
    the step recorded (a value or tangent never changes once computed; an adjoint is complete when its
    node is lit in the backward sweep), else the step's own short description."""
    node = trace[k].highlight[0]
    state = node_state(trace, k).get(node, {})
    arrays = trace.summary if isinstance(trace.summary, dict) else {}
    label = labels.get(node) if labels else None
    lines = [f"<b>{label} · {node}</b>" if label and label != node else f"<b>{node}</b>"]
    for key, store, word in (
        ("value", "values", "value"),
        ("tangent", "tangents", "tangent (dot)"),
        ("adjoint", "adjoints", "adjoint (bar)"),
    ):
        if key not in state:
            continue
        got, full = state[key], (arrays.get(store) or {}).get(node)
        if not isinstance(got, float) and full is not None and show(full) == got:
            got = tensor_text(full, tr)
        lines.append(f"{tr(word)} = {_num(got)}")
    return node, "<br>".join(lines)


def error_vs_h_figure(
    rows, title: str = "Finite-difference error vs step h", tr: Translate = same
) -> go.Figure:
    """Log-log: forward and central difference error against h, the truncation/round-off U."""
    fig = go.Figure()
    for attr, name, color in (
        ("forward_error", tr("forward (f(x+h)-f(x))/h"), OKABE_ITO["blue"]),
        ("central_error", tr("central (f(x+h)-f(x-h))/2h"), OKABE_ITO["vermillion"]),
    ):
        pts = [
            (r.h, getattr(r, attr)) for r in rows if math.isfinite(getattr(r, attr)) and getattr(r, attr) > 0
        ]
        fig.add_scatter(
            x=[p[0] for p in pts],
            y=[p[1] for p in pts],
            mode="lines+markers",
            name=name,
            line=dict(color=color),
        )
    fig.update_xaxes(
        type="log",
        title=tr("step h (log, shrinking to the right)"),
        autorange="reversed",
        exponentformat="power",
    )
    fig.update_yaxes(type="log", title=tr("absolute error of the derivative (log)"), exponentformat="power")
    return apply_theme(fig, title, 420)


def swell_figure(
    rows, title: str = "Expression swell: size vs nesting depth", tr: Translate = same
) -> go.Figure:
    """Log-scale sizes: l_n, its symbolic derivative (naive, simplified), the AD trace."""
    ns = [r.n for r in rows]
    fig = go.Figure()
    for attr, name, color in (
        ("f_size", tr("l_n itself (tree nodes)"), OKABE_ITO["grey"]),
        ("naive_size", tr("symbolic d/dx, textbook rules"), OKABE_ITO["vermillion"]),
        ("simplified_size", tr("symbolic d/dx, simplified"), OKABE_ITO["orange"]),
        ("ad_trace", tr("AD evaluation trace (ops)"), OKABE_ITO["blue"]),
    ):
        fig.add_scatter(
            x=ns,
            y=[max(1, getattr(r, attr)) for r in rows],
            mode="lines+markers",
            name=name,
            line=dict(color=color),
        )
    fig.update_xaxes(title=tr("nesting depth n of the logistic map l_(n+1) = 4 l_n (1 - l_n)"), dtick=1)
    fig.update_yaxes(type="log", dtick=1, title=tr("size (nodes, log scale)"))
    return apply_theme(fig, title, 420)


def jacobian_cost_figure(
    fwd, rev, title: str = "Cost of the full Jacobian", tr: Translate = same
) -> go.Figure:
    """Sweeps and measured rule applications for forward vs reverse mode."""
    fig = go.Figure()
    modes = [tr("forward mode (JVP)"), tr("reverse mode (VJP)")]
    fig.add_bar(
        x=modes,
        y=[fwd.sweeps, rev.sweeps],
        name=tr("sweeps"),
        marker_color=[MEANING["forward"], MEANING["backward"]],
        text=[fwd.sweeps, rev.sweeps],
        textposition="outside",
    )
    fig.add_scatter(
        x=modes,
        y=[fwd.rule_calls, rev.rule_calls],
        name=tr("rule applications (measured)"),
        mode="markers+text",
        text=[fwd.rule_calls, rev.rule_calls],
        textposition="top right",
        marker=dict(size=14, color=OKABE_ITO["black"], symbol="diamond"),
    )
    top = max(fwd.sweeps, rev.sweeps, fwd.rule_calls, rev.rule_calls)
    fig.update_yaxes(
        title=tr("count (sweeps / rule applications)"), range=[0, top * 1.2 + 1]
    )  # room for the labels above the tallest mark
    fig.update_xaxes(title=tr("mode"))
    return apply_theme(fig, title, 380)


GRADIENT_BARS = 40  # bars of the gradient figure: the largest norms; the table holds every row


def gradient_figure(
    rows: list[dict], title: str = "Gradient size per input and parameter", tr: Translate = same
):
    """Horizontal bars (log scale): the L2 norm of each source's gradient, from
    :func:`engine.framework.lab.gradient_summary` rows; at most :data:`GRADIENT_BARS`, the largest."""
    top = sorted(rows, key=lambda r: -r["l2_norm"])[:GRADIENT_BARS]
    colors = [MEANING["backward"] if r["op"] == "param" else OKABE_ITO["grey"] for r in top]
    fig = go.Figure(
        go.Bar(
            x=[max(r["l2_norm"], 1e-30) for r in top],
            y=[r["name"] for r in top],
            orientation="h",
            marker_color=colors,
            text=[f"{r['l2_norm']:.3g}" for r in top],
            textposition="outside",
            customdata=[[r["shape"], r["max_abs"]] for r in top],
            hovertemplate="%{y} %{customdata[0]}<br>||g|| = %{x:.4g}<br>"
            "max |g| = %{customdata[1]:.4g}<extra></extra>",
        )
    )
    if len(rows) > len(top):
        title = f"{title} — " + tr("largest {shown} of {total}").format(shown=len(top), total=len(rows))
    fig.update_xaxes(type="log", title=tr("L2 norm of the gradient (log)"), exponentformat="power")
    fig.update_yaxes(
        title=tr("input / parameter"), categoryorder="array", categoryarray=[r["name"] for r in top][::-1]
    )
    return apply_theme(fig, title, max(280, 80 + 24 * len(top)))


def gradient_rows(rows: list[dict], tr: Translate = same) -> list[dict]:
    """:func:`engine.framework.lab.gradient_summary` rows as a display table (headers translated)."""
    return [
        {
            tr("input / parameter"): r["name"],
            tr("op"): r["op"],
            tr("shape"): r["shape"],
            tr("elements"): r["elements"],
            tr("mean |g|"): f"{r['mean_abs']:.4g}",
            tr("max |g|"): f"{r['max_abs']:.4g}",
            tr("L2 norm"): f"{r['l2_norm']:.4g}",
        }
        for r in rows
    ]


def step_graph_figure(
    graph, highlight=(), node_text=None, title: str = "", tr: Translate = same, callout=None
):
    """The graph at one autodiff step: ``highlight`` lit, ``node_text`` (short names) beside the nodes,
    and ``callout`` = (node, text) a boxed note with an arrow to that node (its value, tangent or
    adjoint), drawn left to right with the legend inside the plot (the graph keeps the width)."""
    fig = graph_figure(
        graph, tr=tr, highlight=highlight, height=420, direction="LR", node_text=node_text, title=title
    )
    fig.update_layout(legend_xanchor="left")
    if callout is not None:
        node, text = callout
        positions = compute_layout(graph, "LR").positions
        if node in positions:
            x, y = positions[node]
            xs = [p[0] for p in positions.values()]
            ys = [p[1] for p in positions.values()]
            right = x > (min(xs) + max(xs)) / 2  # the box opens toward the middle of the graph
            below = y >= (min(ys) + max(ys)) / 2  # (a one-row graph: below, away from the legend)
            fig.add_annotation(
                x=x,
                y=y,
                text=text,
                showarrow=True,
                arrowhead=2,
                arrowwidth=2,
                arrowcolor=MEANING["highlight"],
                ax=-36 if right else 36,
                ay=56 if below else -56,
                xanchor="right" if right else "left",
                yanchor="top" if below else "bottom",
                align="left",
                font=dict(size=15, color="#111"),
                bgcolor="rgba(255,255,255,0.94)",
                bordercolor=MEANING["highlight"],
                borderwidth=2,
                borderpad=6,
                name="callout",
            )
    # no marker colour scale is meant here: keep presenter type from drawing empty colour bars
    fig.update_traces(marker_showscale=False, selector=dict(type="scatter"))
    return fig
