"""Figures and tables of the conversion and inference-engine labs (engine data in, plotly out).

* :func:`conversion_sankey`: torch ops (direct path) -> our ops <- ONNX ops, one ribbon per node;
* :func:`stage_gantt`: the engine's stages on their measured times, the current one outlined;
* :func:`kernel_times`: per conv layer, each kernel's measured median (bars) and the cost model's
  prediction (markers), log scale;
* :func:`op_times`: the slowest ops of the run, coloured by kernel;
* row builders for the pages' tables (:func:`kernel_rows`, :func:`summary_rows`, :func:`opset_rows`).
"""

from __future__ import annotations

from collections import Counter

import plotly.graph_objects as go

from engine.core.registry import all_ops
from engine.core.trace import Timeline

from .theme import KIND_COLORS, OKABE_ITO, apply_theme
from .timeline import gantt
from .words import Translate, same

KERNEL_COLORS = {
    "direct": OKABE_ITO["blue"],
    "im2col": OKABE_ITO["orange"],
    "winograd": OKABE_ITO["green"],
    "depthwise": OKABE_ITO["purple"],
    "reference": OKABE_ITO["grey"],
    "interpreter": "#CCCCCC",
}
STAGE_COLORS = {"offline": OKABE_ITO["sky"], "online": OKABE_ITO["vermillion"]}


def conversion_sankey(comparison, title: str, tr: Translate = same) -> go.Figure:
    """Left: the direct path's source ops; middle: our ops; right: the ONNX ops. Ribbon width =
    how many source nodes map that way; "(no op)" collects nodes folded or passed through."""
    labels: list[str] = []
    index: dict[tuple[str, str], int] = {}

    def node(column: str, label: str) -> int:
        if (column, label) not in index:
            index[column, label] = len(labels)
            labels.append(label)
        return index[column, label]

    links: dict[tuple[int, int], int] = {}
    for side, result in (("left", comparison.direct), ("right", comparison.onnx)):
        for row in result.rows:
            src = node(side, row.source_op)
            for op in row.ours or (tr("(no op)"),):
                mid = node("mid", op)
                key = (src, mid) if side == "left" else (mid, src)
                links[key] = links.get(key, 0) + 1
    kinds = {name: KIND_COLORS.get(op.kind, OKABE_ITO["grey"]) for name, op in all_ops().items()}
    colors = [kinds.get(lbl, "#BBBBBB") if col == "mid" else "#888888" for (col, lbl) in index]
    # fixed columns, each node at the middle of its share of the column (a node with links on one
    # side only would otherwise drift to an edge)
    flow = Counter()
    for (a, b), v in links.items():
        flow[a] += v
        flow[b] += v
    size = [max(1, flow[k] // (2 if col == "mid" else 1)) for k, (col, _) in enumerate(index)]
    column_x, xs, ys, filled = {"left": 0.001, "mid": 0.5, "right": 0.999}, [], [], Counter()
    for k, (col, _) in enumerate(index):
        members = [j for j, (c, _) in enumerate(index) if c == col]
        total = sum(size[j] for j in members) * 1.15
        xs.append(column_x[col])
        ys.append(min(0.999, max(0.001, (filled[col] + size[k] / 2) / total)))
        filled[col] += size[k] * 1.15
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            node=dict(label=labels, color=colors, pad=12, thickness=14, x=xs, y=ys),
            link=dict(source=[a for a, _ in links], target=[b for _, b in links], value=list(links.values())),
        )
    )
    for x, text in ((0.0, tr("torch (direct)")), (0.5, tr("our IR")), (1.0, tr("ONNX"))):
        fig.add_annotation(x=x, y=1.06, xref="paper", yref="paper", text=f"<b>{text}</b>", showarrow=False)
    return apply_theme(fig, title, 460)


def stage_gantt(timeline: Timeline, current: int, title: str, tr: Translate = same) -> go.Figure:
    """The stages on their measured times (ms); stage ``current`` outlined."""
    marked = Timeline(timeline.events, timeline.units, timeline.time_unit, (current,))
    fig = gantt(marked, title, colors=STAGE_COLORS, tr=tr, height=320)
    fig.update_yaxes(ticktext=[tr(u) for u in timeline.lanes], tickvals=list(timeline.lanes))
    return fig


def kernel_times(choices, title: str, tr: Translate = same) -> go.Figure:
    """Measured median (bars) and predicted time (diamonds) of each kernel on each conv layer."""
    fig = go.Figure()
    layers = [c.layer.node for c in choices if c.estimates]
    for alg, color in KERNEL_COLORS.items():
        measured = [
            (c.layer.node, 1e3 * m.median_s) for c in choices for m in c.measured if m.algorithm == alg
        ]
        predicted = [
            (c.layer.node, 1e3 * e.seconds) for c in choices for e in c.estimates if e.algorithm == alg
        ]
        if measured:
            fig.add_bar(
                x=[a for a, _ in measured],
                y=[b for _, b in measured],
                name=tr("{alg} measured").format(alg=alg),
                marker_color=color,
                offsetgroup=alg,
            )
        if predicted:
            fig.add_scatter(
                x=[a for a, _ in predicted],
                y=[b for _, b in predicted],
                mode="markers",
                name=tr("{alg} predicted").format(alg=alg),
                offsetgroup=alg,
                marker=dict(symbol="diamond-open", size=11, color=color, line=dict(width=2)),
            )
    fig.update_layout(barmode="group", scattermode="group")
    fig.update_xaxes(title=tr("conv layer"), categoryorder="array", categoryarray=layers)
    fig.update_yaxes(title=tr("time (ms, log scale)"), type="log")
    return apply_theme(fig, title, 440)


def op_times(times, title: str, tr: Translate = same, top: int = 12) -> go.Figure:
    """The ``top`` slowest ops of the run (ms), coloured by the kernel that ran them."""
    slow = sorted(times, key=lambda t: -t.seconds)[:top][::-1]
    fig = go.Figure(
        go.Bar(
            y=[f"{t.node} ({t.op})" for t in slow],
            x=[1e3 * t.seconds for t in slow],
            orientation="h",
            marker_color=[KERNEL_COLORS.get(t.kernel, "#CCCCCC") for t in slow],
            text=[t.kernel for t in slow],
            textposition="auto",
        )
    )
    fig.update_xaxes(title=tr("time (ms)"))
    return apply_theme(fig, title, max(300, 60 + 24 * len(slow)))


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{1e3 * seconds:,.2f}"


def kernel_rows(choices, tr: Translate = same) -> list[dict]:
    """One row per conv layer: predicted and measured ms per kernel, the two picks (★ = fastest measured)."""
    rows = []
    for c in choices:
        row = {tr("layer"): c.layer.node, tr("shape"): c.layer.describe()}
        measured = {m.algorithm: m.median_s for m in c.measured}
        for e in c.estimates:
            star = " ★" if e.algorithm == c.fastest else ""
            row[f"{e.algorithm} · {tr('model')}"] = _ms(e.seconds)
            row[f"{e.algorithm} · {tr('measured')}"] = _ms(measured.get(e.algorithm)) + star
        row[tr("model picks")] = c.predicted or "—"
        row[tr("fastest measured")] = c.fastest or tr("not measured")
        row[tr("engine runs")] = c.chosen
        rows.append(row)
    return rows


def summary_rows(summary, tr: Translate = same) -> list[dict]:
    """A stage's numbers as (what, value) rows, labels translated."""
    return [
        {tr("what"): tr(k.replace("_", " ")), tr("value"): f"{v:,}" if isinstance(v, int) else str(v)}
        for k, v in summary
    ]


def opset_rows(rows, tr: Translate = same, message: Translate = same) -> list[dict]:
    """One row per target opset: converted or why not (the op named), imported, equal to torch."""
    out = []
    for r in rows:
        out.append(
            {
                tr("target opset"): r.target,
                tr("converted"): "✓" if r.converted else "✗ " + message(r.reason),
                tr("ops whose definition changes"): ", ".join(r.changed) or "—",
                tr("imported"): ("✓" if r.imported else "✗ " + message(r.import_error))
                if r.converted
                else "—",
                tr("max |ours − torch|"): "—" if r.max_diff is None else f"{r.max_diff:.1e}",
                tr("same graph as opset 17"): "✓" if r.same_graph else ("✗" if r.imported else "—"),
                tr("round trip to 17"): {True: "✓", False: "✗", None: "—"}[r.round_trip],
            }
        )
    return out
