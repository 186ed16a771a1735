"""Figures for the serving-system lab: the monitoring dashboard, where an ensemble's time goes, the
canary's windows against its SLO, real serving beside the simulator, and Triton beside MindIE.

Every builder draws its words through ``tr`` (see :mod:`viz.words`; pages pass ``tr=ui.translator()``).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same

COLORS = {
    "queue": MEANING["stall"],
    "compute": MEANING["compute"],
    "p50": OKABE_ITO["sky"],
    "p99": OKABE_ITO["blue"],
}


#: the dashboard's four panels: (x axis, y axis, x domain, y domain)
_PANELS = (
    ("x", "y", (0.0, 0.46), (0.58, 1.0)),
    ("x2", "y2", (0.54, 1.0), (0.58, 1.0)),
    ("x3", "y3", (0.0, 0.46), (0.0, 0.42)),
    ("x4", "y4", (0.54, 1.0), (0.0, 0.42)),
)


def _panel_traces(rows: list[dict], tr: Translate) -> list[list[dict]]:
    """The traces of each panel as plain dicts (one figure built at once is far faster in plotly)."""
    t = [r["t (s)"] for r in rows]

    def line(y, name, color, width=2, **kw):
        return dict(
            type="scatter", mode="lines", x=t, y=y, name=name, line=dict(color=color, width=width), **kw
        )

    busy = [k for k in rows[0] if k.startswith("busy ")] if rows else []
    col = lambda key: [r[key] for r in rows]  # noqa: E731
    return [
        [
            line(col("requests/s"), tr("answered/s"), OKABE_ITO["green"], 3),
            dict(
                type="bar", x=t, y=col("failures/s"), name=tr("failures/s"), marker_color=MEANING["highlight"]
            ),
        ],
        [line(col(f"{q} (ms)"), q, COLORS[q], 3 if q == "p99" else 2) for q in ("p50", "p99")],
        [line(col(f"{k} (ms)"), tr(k), COLORS[k], stackgroup="t") for k in ("queue", "compute")],
        [line(col(k), k[5:-4], SEQUENCE[(i + 2) % len(SEQUENCE)]) for i, k in enumerate(busy)],
    ]


def dashboard(rows: list[dict], marks: list[tuple], title: str, tr: Translate = same) -> go.Figure:
    """Four panels over time from ``interval_metrics`` rows: throughput and failures, p50/p99
    latency, mean queue and compute time, each model's busy share. ``marks``: (time, action, version)
    — lifecycle events and the rollback, drawn as dashed lines across every panel."""
    titles = [tr("requests/s"), tr("latency (ms)"), tr("queue and compute (ms)"), tr("copies busy (%)")]
    data, layout = [], dict(shapes=[], annotations=[])
    for (xa, ya, xd, yd), traces, head in zip(_PANELS, _panel_traces(rows, tr), titles):
        data += [{**trace, "xaxis": xa, "yaxis": ya} for trace in traces]
        layout[xa.replace("x", "xaxis")] = dict(domain=xd, anchor=ya, matches="x" if xa != "x" else None)
        layout[ya.replace("y", "yaxis")] = dict(domain=yd, anchor=xa, rangemode="tozero")
        layout["annotations"].append(dict(text=head, x=sum(xd) / 2, y=yd[1], xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False))  # fmt: skip
    for t, text in _mark_labels(marks, tr).items():
        for xa, ya, _, _ in _PANELS:
            layout["shapes"].append(dict(type="line", x0=t, x1=t, xref=xa, y0=0, y1=1, yref=f"{ya} domain",
                                         line=dict(color=MEANING["highlight"], dash="dash")))  # fmt: skip
        layout["annotations"].append(dict(x=t, y=1.0, xref="x", yref="y domain", text=text, showarrow=False,
                                          xanchor="left", yanchor="top"))  # fmt: skip
    layout["xaxis3"]["title"] = layout["xaxis4"]["title"] = tr("time (s)")
    fig = apply_theme(go.Figure(data=data, layout=layout), title, 600)
    fig.update_layout(legend=dict(y=-0.14, yanchor="top", x=0.0, xanchor="left"), margin_b=100)
    return fig


def _mark_labels(marks, tr: Translate) -> dict[float, str]:
    """One label per marked time ("loaded v2 · unloaded v1" when two events share an instant)."""
    words = {"load": tr("loaded"), "unload": tr("unloaded"), "rollback": tr("rolled back")}
    out: dict[float, str] = {}
    for t, action, version in marks:
        text = words.get(action, action) + (f" v{version}" if version else "")
        out[t] = f"{out[t]} · {text}" if t in out else text
    return out


def step_breakdown(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Mean queue and compute time per request at each model (``station_table`` rows), stacked."""
    fig = go.Figure()
    names = [f"{r['model']} v{r['version']}" for r in rows]
    for part, key in (("queue", "queue_duration_us"), ("compute", "compute_infer_duration_us")):
        per = [r[key] / 1e3 / max(1, r["success"] + r["failure"]) for r in rows]
        fig.add_bar(y=names, x=per, orientation="h", name=tr(part), marker_color=COLORS[part],
                    text=[f"{v:.3g}" for v in per], textposition="inside")  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("mean time per request (ms)"))
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1])
    return apply_theme(fig, title, max(260, 90 + 50 * len(rows)))


def canary_windows(
    windows, max_error: float, max_p99_ms: float, title: str, tr: Translate = same
) -> go.Figure:
    """Per monitor window: the canary's error share and p99 against the SLO; the rollback marked."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[tr("canary error rate (%)"), tr("canary p99 (ms)")])
    t = [w["end"] for w in windows]
    colors = [MEANING["highlight"] if w["rollback"] else OKABE_ITO["sky"] for w in windows]
    fig.add_bar(x=t, y=[100 * w["error_rate"] for w in windows], marker_color=colors, name=tr("error rate"),
                row=1, col=1)  # fmt: skip
    fig.add_bar(x=t, y=[1e3 * w["p99"] for w in windows], marker_color=colors, name="p99", row=1, col=2)
    slo = dict(color=OKABE_ITO["black"], dash="dash")
    fig.add_hline(y=100 * max_error, line=slo, row=1, col=1, annotation_text=tr("SLO"))
    if np.isfinite(max_p99_ms):
        fig.add_hline(y=max_p99_ms, line=slo, row=1, col=2, annotation_text=tr("SLO"))
    fig.update_xaxes(title=tr("window end (s)"))
    fig.update_layout(showlegend=False)
    return apply_theme(fig, title, 360)


def latency_cdfs(curves: dict[str, np.ndarray], title: str, tr: Translate = same) -> go.Figure:
    """Empirical CDFs of latency samples (seconds), one line per named curve, medians marked."""
    fig = go.Figure()
    for k, (name, xs) in enumerate(curves.items()):
        xs = np.sort(np.asarray(xs, dtype=float)) * 1e3
        if xs.size == 0:
            continue
        dash = "dot" if k == 2 else None
        fig.add_scatter(x=xs, y=np.arange(1, xs.size + 1) / xs.size, name=tr(name), mode="lines",
                        line=dict(color=SEQUENCE[k % len(SEQUENCE)], width=3, dash=dash))  # fmt: skip
    fig.add_hline(y=0.5, line=dict(color=OKABE_ITO["grey"], dash="dot"), annotation_text=tr("median"))
    fig.update_xaxes(title=tr("latency (ms)"), type="log")
    fig.update_yaxes(title=tr("share of requests"), range=[0, 1.02])
    return apply_theme(fig, title)


def stack_diagram(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Stages (rows) × {Triton, MindIE / CANN} as labelled boxes: the same pipeline in two stacks."""
    fig = go.Figure()
    heads = [tr("serving stage"), "Triton", "MindIE / CANN"]
    keys, xs = ("stage", "triton", "mindie"), (0.0, 1.0, 2.0)
    fills = (OKABE_ITO["grey"], OKABE_ITO["sky"], OKABE_ITO["orange"])
    n = len(rows)
    for x, head in zip(xs, heads):
        fig.add_annotation(x=x + 0.48, y=n + 0.1, text=f"<b>{head}</b>", showarrow=False)
    for i, row in enumerate(rows):
        y = n - 1 - i
        for x, key, fill in zip(xs, keys, fills):
            fig.add_shape(type="rect", x0=x, x1=x + 0.96, y0=y + 0.06, y1=y + 0.94,
                          fillcolor=fill, opacity=0.35, line=dict(color=fill))  # fmt: skip
            text = tr(row[key]) if key == "stage" else row[key]
            fig.add_annotation(
                x=x + 0.48, y=y + 0.5, text=_wrap(text, 34), showarrow=False, font=dict(size=12)
            )
    fig.update_xaxes(visible=False, range=[-0.05, 3.0])
    fig.update_yaxes(visible=False, range=[-0.1, n + 0.5])
    return apply_theme(fig, title, 110 + 62 * n)


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "<br>".join([*lines, line])
