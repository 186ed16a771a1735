"""Figures of the distributed-training labs (engine.parallel results -> plotly).

Every builder draws its fixed words through ``tr`` (see :mod:`viz.words`); titles and names the
page passes come already in the view's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.core.trace import Timeline

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same

GiB = float(1 << 30)
MiB = float(1 << 20)
STRATEGY_LABELS = {
    "dp": "plain DP",
    "zero1": "ZeRO-1",
    "zero2": "ZeRO-2",
    "zero3": "ZeRO-3",
    "fsdp": "FSDP",
    "offload": "ZeRO-2 + CPU offload",
}

PARTS = (
    ("params", "weights", OKABE_ITO["blue"]),
    ("grads", "gradients", OKABE_ITO["orange"]),
    ("optimizer", "optimizer states", OKABE_ITO["green"]),
    ("activations", "activations", OKABE_ITO["purple"]),
)


def memory_bars(
    rows: list[dict], card_bytes: float | None, title: str, card_name: str = "", tr: Translate = same
) -> go.Figure:
    """Stacked bar per strategy: weights, gradients, optimizer states, activations (GiB)."""
    fig = go.Figure()
    labels = [tr(STRATEGY_LABELS.get(r["label"], r["label"])) for r in rows]
    for key, name, color in PARTS:
        fig.add_bar(
            x=labels,
            y=[r.get(key, 0.0) / GiB for r in rows],
            name=tr(name),
            marker_color=color,
            hovertemplate="%{x}: %{y:.2f} GiB<extra>" + tr(name) + "</extra>",
        )
    if card_bytes:
        fig.add_hline(
            y=card_bytes / GiB,
            line_dash="dash",
            line_color=MEANING["highlight"],
            annotation_text=card_name or tr("card memory"),
            annotation_position="top right",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=tr("memory per device (GiB)"))
    fig.update_xaxes(title=tr("strategy"))
    return apply_theme(fig, title)


def simple_bars(
    labels,
    values,
    title: str,
    y_title: str,
    colors=None,
    x_title: str | None = None,
    name: str = "",
    tr: Translate = same,
) -> go.Figure:
    """One bar per label, its value written above; ``x_title`` defaults to "configuration"."""
    fig = go.Figure(
        go.Bar(
            x=list(labels),
            y=list(values),
            marker_color=colors or SEQUENCE[0],
            text=[f"{v:.3g}" for v in values],
            textposition="outside",
            name=name,
            showlegend=bool(name),
        )
    )
    fig.update_yaxes(title=y_title)
    fig.update_xaxes(title=tr("configuration") if x_title is None else x_title)
    return apply_theme(fig, title)


def ring_state(buffers: np.ndarray, chunks, sends, title: str, tr: Translate = same) -> go.Figure:
    """Device × element heatmap of the buffers, chunk boundaries drawn, this step's sends listed."""
    n = buffers.shape[0]
    fig = go.Figure(
        go.Heatmap(
            z=buffers,
            x=list(range(buffers.shape[1])),
            y=list(range(n)),
            colorscale="Blues",
            text=np.round(buffers, 2),
            texttemplate="%{text}",
            colorbar=dict(title=tr("value")),
        )
    )
    for b in list(chunks)[1:-1]:
        fig.add_vline(x=b - 0.5, line_color="black", line_width=2)
    received = {}
    for src, dst, *rest in sends:
        received[dst] = f" ← D{src}"
        lo, hi = (chunks[rest[0]], chunks[rest[0] + 1]) if rest else (0, buffers.shape[1])
        fig.add_shape(
            type="rect",
            x0=lo - 0.5,
            x1=hi - 0.5,
            y0=dst - 0.45,
            y1=dst + 0.45,
            line=dict(color=MEANING["highlight"], width=3),
        )
    fig.update_xaxes(title=tr("element index (thick lines = chunk boundaries; red = just received)"))
    fig.update_yaxes(
        title=tr("device (← sender)"),
        autorange="reversed",
        tickvals=list(range(n)),
        ticktext=[f"D{i}{received.get(i, '')}" for i in range(n)],
    )
    return apply_theme(fig, title, height=140 + 50 * n)


def alpha_beta(curves: dict[str, tuple], title: str, measured=None, tr: Translate = same) -> go.Figure:
    """Time vs message size (log-log) for each named (sizes, seconds) curve, plus measured points."""
    fig = go.Figure()
    for k, (name, (x, y)) in enumerate(curves.items()):
        fig.add_scatter(
            x=list(x),
            y=[v * 1e6 for v in y],
            mode="lines",
            name=name,
            line=dict(color=SEQUENCE[k % len(SEQUENCE)]),
        )
    if measured:
        fig.add_scatter(
            x=[b for b, _ in measured],
            y=[t * 1e6 for _, t in measured],
            mode="markers",
            name=tr("measured (gloo)"),
            marker=dict(size=11, symbol="x", color="black"),
        )
    fig.update_xaxes(type="log", title=tr("message size (bytes)"))
    fig.update_yaxes(type="log", title=tr("all-reduce time (µs)"))
    apply_theme(fig, title, height=480)
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, xanchor="left"), margin=dict(b=120)
    )
    return fig


def loss_curves(
    series: dict[str, tuple], title: str, optimum: float | None = None, tr: Translate = same
) -> go.Figure:
    fig = go.Figure()
    for k, (name, ys) in enumerate(series.items()):
        fig.add_scatter(y=list(ys), mode="lines", name=name, line=dict(color=SEQUENCE[k]))
    if optimum is not None:
        fig.add_hline(y=optimum, line_dash="dot", annotation_text=tr("least-squares optimum"))
    fig.update_xaxes(title=tr("update (count)"))
    fig.update_yaxes(title=tr("mean squared error"), type="log")
    return apply_theme(fig, title)


def underflow_hist(res, title: str, tr: Translate = same) -> go.Figure:
    """Histogram of log2|g|; the fp16 window (shifted by the loss scale) shaded."""
    edges = np.array(res.edges)
    mids = (edges[:-1] + edges[1:]) / 2
    shift = np.log2(res.scale)
    lo, normal, hi = -24 - shift, -14 - shift, np.log2(65504) - shift
    colors = [
        MEANING["stall"] if m < lo else (MEANING["changed"] if m < normal else SEQUENCE[0]) for m in mids
    ]
    fig = go.Figure(go.Bar(x=mids, y=list(res.counts), marker_color=colors, name=tr("gradients")))
    fig.add_vrect(x0=lo, x1=hi, fillcolor=OKABE_ITO["green"], opacity=0.08, line_width=0)
    for x, text, where in (
        (lo, "smallest subnormal 2⁻²⁴", "top left"),
        (normal, "smallest normal 2⁻¹⁴", "top right"),
        (hi, "fp16 max 65504", "top left"),
    ):
        fig.add_vline(x=x, line_dash="dash", annotation_text=tr(text), annotation_position=where)
    fig.update_xaxes(title=tr("log2 |gradient| (before scaling)"))
    fig.update_yaxes(title=tr("gradients (count)"), range=[0, 1.3 * max(list(res.counts) + [1])])
    return apply_theme(fig, title)


def loss_scale_plot(hist, title: str, tr: Translate = same) -> go.Figure:
    steps = np.arange(len(hist.scales))
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=np.log2(hist.scales),
            mode="lines",
            name=tr("log2 scale"),
            line=dict(shape="hv", color=SEQUENCE[0]),
        )
    )
    skipped = [k for k, s in enumerate(hist.skipped) if s]
    fig.add_scatter(
        x=skipped,
        y=[np.log2(hist.scales[k]) for k in skipped],
        mode="markers",
        name=tr("overflow → step skipped"),
        marker=dict(color=MEANING["highlight"], size=10),
    )
    fig.update_xaxes(title=tr("training step"))
    logs = np.log2(hist.scales)
    fig.update_yaxes(
        title=tr("log2 loss scale"), dtick=1, range=[float(logs.min()) - 1, float(logs.max()) + 1]
    )
    return apply_theme(fig, title)


def mlp_shards(a: np.ndarray, b: np.ndarray, n: int, title: str, tr: Translate = same) -> go.Figure:
    """A split by columns, B by rows: device colours over the two weight matrices."""
    fig = make_subplots(
        1, 2, subplot_titles=(tr("A (h × 4h): columns per device"), tr("B (4h × h): rows per device"))
    )
    hover = tr("device {d}<br>value {v}").format(d="%{z}", v="%{text}") + "<extra></extra>"
    cols = a.shape[1] // n
    owner_a = np.tile(np.arange(a.shape[1]) // cols, (a.shape[0], 1))
    owner_b = np.tile((np.arange(b.shape[0]) // cols)[:, None], (1, b.shape[1]))
    scale = (
        [[k / max(n - 1, 1), SEQUENCE[k % len(SEQUENCE)]] for k in range(n)]
        if n > 1
        else [[0, SEQUENCE[0]], [1, SEQUENCE[0]]]
    )
    for col, (w, own) in enumerate(((a, owner_a), (b, owner_b)), start=1):
        fig.add_heatmap(
            z=own,
            text=np.round(w, 1),
            texttemplate="%{text}" if w.size <= 400 else None,
            colorscale=scale,
            showscale=False,
            row=1,
            col=col,
            hovertemplate=hover,
        )
        fig.update_yaxes(
            autorange="reversed", title=tr("row"), dtick=1 if w.shape[0] <= 16 else None, row=1, col=col
        )
        fig.update_xaxes(title=tr("column"), row=1, col=col)
    return apply_theme(fig, title)


def grouped_lines(
    series: dict[str, tuple], title: str, x_title: str, y_title: str, step: bool = True
) -> go.Figure:
    fig = go.Figure()
    for k, (name, points) in enumerate(series.items()):
        last = {}  # one value per time: a free and an allocation at the same
        for x, y in points:  # instant would otherwise draw a spike to the lower level
            last[x] = y
        xs, ys = (tuple(last), tuple(last.values())) if last else ((), ())
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=name,
            line=dict(shape="hv" if step else "linear", color=SEQUENCE[k % len(SEQUENCE)]),
        )
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    return apply_theme(fig, title)


def cluster_map(rows, nodes: int, gpus: int, title: str, tr: Translate = same) -> go.Figure:
    """Nodes × GPUs grid coloured by pipeline stage, each cell labelled with (dp, tp)."""
    z = np.zeros((nodes, gpus))
    text = np.empty((nodes, gpus), dtype=object)
    for r in rows:
        z[r["node"], r["gpu"]] = r["pp"]
        text[r["node"], r["gpu"]] = f"d{r['dp']} t{r['tp']} p{r['pp']}"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}" if nodes * gpus <= 128 else None,
            colorscale="Viridis",
            colorbar=dict(title=tr("pipeline stage"), dtick=1),
            x=[f"GPU {g}" for g in range(gpus)],
            y=[tr("node {k}").format(k=k) for k in range(nodes)],
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("node"))
    fig.update_xaxes(title=tr("GPU in node"))
    return apply_theme(fig, title, height=max(300, 120 + 34 * nodes))


def named_lanes(timeline: Timeline, say: Callable[[str], str]) -> Timeline:
    """The timeline with its lane names and time unit as ``say`` shows them (a page passes
    ``ui.t_message``, so "stage 2" reads as the catalog has it); events keep their times, kinds and labels."""
    return replace(
        timeline,
        events=tuple(replace(e, unit=say(e.unit)) for e in timeline.events),
        units=tuple(say(lane) for lane in timeline.lanes),
        time_unit=say(timeline.time_unit),
    )


def keep_lanes(fig: go.Figure, lanes, x_max: float, height: int | None = None) -> go.Figure:
    """Keep every lane of a Gantt visible (even with no bars yet) and fix the time axis."""
    fig.add_scatter(
        x=[0.0] * len(lanes),
        y=list(lanes),
        mode="markers",
        marker=dict(opacity=0),
        showlegend=False,
        hoverinfo="skip",
    )
    fig.update_xaxes(range=[0, x_max])
    if height:
        fig.update_layout(height=height)
    return fig


def step_breakdown(estimates, title: str, tr: Translate = same) -> go.Figure:
    """Stacked bars of estimated step time per (dp, tp, pp) configuration."""
    labels = [f"d{e.dp} t{e.tp} p{e.pp}" + ("" if e.fits else " ✗") for e in estimates]
    parts = (
        ("compute_s", "compute", MEANING["compute"]),
        ("bubble_s", "pipeline bubble", MEANING["idle"]),
        ("tp_comm_s", "TP all-reduce", MEANING["communication"]),
        ("dp_comm_s", "DP all-reduce", OKABE_ITO["sky"]),
        ("pp_comm_s", "PP send/recv", MEANING["transfer"]),
    )
    fig = go.Figure()
    for attr, name, color in parts:
        fig.add_bar(x=labels, y=[getattr(e, attr) for e in estimates], name=tr(name), marker_color=color)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("configuration (✗ = does not fit)"))
    fig.update_yaxes(title=tr("estimated step time (s)"))
    return apply_theme(fig, title)


# -- a student's graph, split (engine.parallel.lab) ------------------------------------------------
def _shape(shape) -> str:
    return "×".join(map(str, shape)) or "scalar"


def stage_cost_bars(split, title: str, v: int = 1, tr: Translate = same) -> go.Figure:
    """One bar per pipeline stage: its cost (FLOPs or roofline µs; colour = the stage's group on the
    graph drawing), and a line of the activation bytes crossing the cut after it."""
    p = len(split.stages) // v
    labels = [
        tr("stage {d}").format(d=s.index) if v == 1 else f"D{s.index % p}.{s.index // p}"
        for s in split.stages
    ]
    scale = 1.0 if split.measure == "flops" else 1e6
    y_title = tr("stage cost (FLOPs)") if split.measure == "flops" else tr("stage roofline time (µs)")
    hover = [
        ", ".join(s.nodes[:8]) + (f" … (+{len(s.nodes) - 8})" if len(s.nodes) > 8 else "")
        for s in split.stages
    ]
    fig = go.Figure()  # a second y axis by layout (make_subplots costs ~50 ms more)
    fig.add_bar(
        x=labels,
        y=[s.cost * scale for s in split.stages],
        marker_color=[SEQUENCE[s.index % len(SEQUENCE)] for s in split.stages],
        texttemplate="%{y:.3s}",
        textposition="outside",
        name=y_title,
        customdata=hover,
        hovertemplate="%{x}: %{y:.4s}<br>%{customdata}<extra></extra>",
    )
    cuts = list(split.stages[:-1])
    fig.add_scatter(
        x=labels[: len(cuts)],
        y=[s.send_bytes for s in cuts],
        mode="lines+markers",
        name=tr("activations sent to the next stage (bytes)"),
        line=dict(color=MEANING["communication"], dash="dot"),
        marker=dict(size=10, symbol="diamond"),
        customdata=[", ".join(s.sends[:6]) + (" …" if len(s.sends) > 6 else "") for s in cuts],
        hovertemplate="%{x} → : %{y:.4s}B<br>%{customdata}<extra></extra>",
        yaxis="y2",
    )
    fig.add_hline(y=split.bottleneck * scale, line_dash="dash", annotation_text=tr("bottleneck"))
    fig.update_layout(
        yaxis=dict(title=y_title, tickformat="~s"),
        yaxis2=dict(
            title=tr("bytes sent"),
            tickformat="~s",
            showgrid=False,
            rangemode="tozero",
            overlaying="y",
            tickmode="auto",
            side="right",
        ),
    )
    fig.update_xaxes(title=tr("stage") if v == 1 else tr("device.chunk"))
    return apply_theme(fig, title)


def stage_rows(split, v: int = 1, tr: Translate = same) -> list[dict]:
    """The stage table of a pipeline split (headers in the view's language)."""
    p, total = len(split.stages) // v, sum(split.costs) or 1
    rows = []
    for s in split.stages:
        row = {tr("stage"): s.index}
        if v > 1:
            row.update({tr("device index"): s.index % p, tr("chunk"): s.index // p})
        row[tr("nodes in the stage")] = (
            f"{s.nodes[0]} … {s.nodes[-1]} ({len(s.nodes)})" if len(s.nodes) > 1 else s.nodes[0]
        )
        row["FLOPs"] = s.flops
        if split.measure == "time":
            row[tr("roofline time (µs)")] = round(s.cost * 1e6, 4)
        row[tr("share of the work (%)")] = round(100 * s.cost / total, 1)
        row[tr("parameters")] = s.params
        row[tr("activations sent (bytes)")] = s.send_bytes
        row[tr("tensors sent")] = ", ".join(s.sends)
        rows.append(row)
    return rows


def tp_memory_bars(split, title: str, tr: Translate = same) -> go.Figure:
    """Stacked bars: parameters + activations per device, beside the unsplit graph on one device."""
    labels = [tr("unsplit")] + [tr("device {r}").format(r=r) for r in range(split.devices)]
    fig = go.Figure()
    for name, whole, per, color in (
        ("parameters", split.unsplit_param_bytes, split.param_bytes, OKABE_ITO["blue"]),
        ("activations", split.unsplit_activation_bytes, split.activation_bytes, OKABE_ITO["purple"]),
    ):
        fig.add_bar(
            x=labels,
            y=[whole, *per],
            name=tr(name),
            marker_color=color,
            hovertemplate="%{x}: %{y:,} B<extra>" + tr(name) + "</extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=tr("memory (bytes)"), tickformat="~s")
    fig.update_xaxes(title=tr("device index"))
    return apply_theme(fig, title)


def tp_layer_rows(split, graph, kind_words: dict[str, str], tr: Translate = same) -> list[dict]:
    """Per layer of a tensor split: its kind, shard shapes and the collective inserted after it."""
    rows = []
    for x in split.layers:
        c = x.collective
        shards = list(dict.fromkeys(_shape(s) for s in x.weight_shards))
        outs = list(dict.fromkeys(_shape(s) for s in x.output_shards))
        rows.append(
            {
                tr("layer"): x.node,
                tr("weight"): x.weight,
                tr("split"): tr(kind_words[x.kind]),
                tr("weight shape"): _shape(graph.node(x.weight).shape),
                tr("weight shard per device"): " | ".join(shards),
                tr("output per device"): " | ".join(outs),
                tr("collective"): tr(c.kind) if c else "—",
                tr("message (bytes)"): c.message_bytes if c else 0,
                tr("sent per device (bytes)"): round(c.sent_per_device_bytes, 1) if c else 0,
            }
        )
    return rows
