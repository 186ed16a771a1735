"""Figures for the inference-systems labs: serving & batching, KV-cache memory, cloud vs edge.

Every builder draws its words through ``tr`` (see :mod:`viz.words`; pages pass ``tr=ui.translator()``).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same

POLICY_COLORS = {
    "none": OKABE_ITO["grey"],
    "static": OKABE_ITO["orange"],
    "dynamic": OKABE_ITO["blue"],
    "continuous": OKABE_ITO["green"],
}
#: The legend name of each batching policy (the engine's short names are words other labs use too).
POLICY_NAMES = {
    "none": "no batching",
    "static": "static batching",
    "dynamic": "dynamic batching",
    "continuous": "continuous batching",
}


def policy_name(policy: str, tr: Translate = same) -> str:
    """A batching policy's name ("static" -> "static batching") in the view's words."""
    return tr(POLICY_NAMES.get(policy, policy))


def batch_cost(rows, max_batch: int, knee: float, title: str, tr: Translate = same) -> go.Figure:
    """Time per pass (memory roof, compute roof) and requests/s against the batch size.

    ``rows``: ``engine.batch_cost_curve``'s rows (batch, compute_s, memory_s, time_s); ``knee``: the
    batch size where the pass turns compute-bound (infinite: memory-bound at every batch size).
    """
    sizes = [r.batch for r in rows]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for attr, name, line in (
        ("memory_s", tr("read weights + acts"), dict(color=MEANING["memory_bound"], dash="dot")),
        ("compute_s", tr("compute"), dict(color=MEANING["compute_bound"], dash="dot")),
        ("time_s", tr("time per pass"), dict(color=OKABE_ITO["black"], width=3)),
    ):
        fig.add_scatter(x=sizes, y=[1e3 * getattr(r, attr) for r in rows], name=name, line=line)
    fig.add_scatter(
        x=sizes,
        y=[r.requests_per_s for r in rows],
        name=tr("requests/s"),
        line=dict(color=OKABE_ITO["green"], width=3),
        secondary_y=True,
    )
    low, top = 1e3 * rows[0].time_s / 3, 1e3 * rows[-1].time_s
    marks = [(max_batch, tr("max batch"), OKABE_ITO["orange"], [tr("max batch"), ""])]
    if 1 <= knee <= sizes[-1]:
        label = tr("knee ≈ {knee:.0f}").format(knee=knee)
        marks.append((knee, label, OKABE_ITO["grey"], ["", label]))
    elif math.isinf(knee) or knee < 1:
        fig.add_annotation(
            xref="paper",
            yref="paper",
            x=0.02,
            y=0.98,
            xanchor="left",
            showarrow=False,
            text=tr("memory-bound at every batch size")
            if knee > 1
            else tr("compute-bound at every batch size"),
            font=dict(color=MEANING["memory_bound" if knee > 1 else "compute_bound"]),
        )
    for x, name, color, text in marks:  # vertical lines as traces: shapes on log axes need log units
        fig.add_scatter(
            x=[x, x],
            y=[low, top],
            mode="lines+text",
            name=name,
            text=text,
            textposition=["bottom center", "top center"],
            line=dict(color=color, dash="dash"),
            showlegend=False,
        )
    fig.update_xaxes(type="log", dtick=1, title=tr("batch size (requests per pass)"))
    fig.update_yaxes(type="log", dtick=1, title=tr("time per pass (ms)"), secondary_y=False)
    fig.update_yaxes(
        title=tr("throughput (requests/s)"),
        rangemode="tozero",
        secondary_y=True,
        showgrid=False,
        tickmode="auto",
        tickformat="~s",
    )
    return apply_theme(fig, title)


def latency_vs_load(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """p99 (solid) and p50 (dotted) latency against offered load, one colour per policy."""
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        color, name = POLICY_COLORS.get(policy, SEQUENCE[0]), policy_name(policy, tr)
        fig.add_scatter(
            x=[r["rate"] for r in pts],
            y=[1e3 * r["p99"] for r in pts],
            name=f"{name} p99",
            line=dict(color=color, width=3),
            mode="lines+markers",
        )
        fig.add_scatter(
            x=[r["rate"] for r in pts],
            y=[1e3 * r["p50"] for r in pts],
            name=f"{name} p50",
            line=dict(color=color, dash="dot"),
            mode="lines",
        )
    fig.update_xaxes(title=tr("offered load λ (requests/s)"))
    fig.update_yaxes(type="log", dtick=1, title=tr("latency (ms, log scale)"))
    return apply_theme(fig, title)


def throughput_latency(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """The trade-off curve: achieved throughput against p99 latency, one line per policy."""
    fig = go.Figure()
    hover = tr("load {load:.2f}, mean batch {mean_batch:.1f}")
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(
            x=[r["throughput"] for r in pts],
            y=[1e3 * r["p99"] for r in pts],
            name=policy_name(policy, tr),
            mode="lines+markers",
            line=dict(color=POLICY_COLORS.get(policy, SEQUENCE[0]), width=3),
            text=[hover.format(load=r["load"], mean_batch=r["mean_batch"]) for r in pts],
        )
    fig.update_xaxes(title=tr("achieved throughput (requests/s)"))
    fig.update_yaxes(type="log", dtick=1, title=tr("p99 latency (ms, log scale)"))
    return apply_theme(fig, title)


def llm_sweep(
    rows: list[dict],
    metric: str,
    y_title: str,
    title: str,
    scale: float = 1.0,
    log: bool = False,
    tr: Translate = same,
) -> go.Figure:
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(
            x=[r["rate"] for r in pts],
            y=[scale * r[metric] for r in pts],
            name=policy_name(policy, tr),
            mode="lines+markers",
            line=dict(color=POLICY_COLORS.get(policy), width=3),
        )
    fig.update_xaxes(title=tr("request rate λ (requests/s)"))
    fig.update_yaxes(title=y_title, type="log" if log else "linear")
    return apply_theme(fig, title, 360)


def _allocator(name: str, tr: Translate) -> str:
    """ "contiguous" or "paged <block size>" (engine.inference.kv_cache.waste_rows) in the view's words."""
    if name.startswith("paged "):
        return tr("paged {block}").format(block=name.removeprefix("paged "))
    return tr("contiguous") if name == "contiguous" else name


def kv_waste(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Share of reserved KV memory that holds no token, per allocator."""
    fig = go.Figure(
        go.Bar(
            x=[_allocator(r["allocator"], tr) for r in rows],
            y=[100 * r["waste"] for r in rows],
            marker_color=[
                OKABE_ITO["vermillion"] if r["allocator"] == "contiguous" else OKABE_ITO["blue"] for r in rows
            ],
            text=[f"{100 * r['waste']:.1f}%" for r in rows],
            textposition="outside",
        )
    )
    fig.update_xaxes(
        title=tr("allocator (contiguous to max length, or paged with block size)"), type="category"
    )
    fig.update_yaxes(title=tr("wasted KV memory (% of reserved)"), range=[0, 105])
    return apply_theme(fig, title, 360)


def kv_memory(rows: list[dict], card_gib: float, title: str, tr: Translate = same) -> go.Figure:
    """Per model: weights and the KV cache of the chosen batch, against the card's memory."""
    names = [r["model"] for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=names, y=[r["weights_gib"] for r in rows], name=tr("weights"), marker_color=OKABE_ITO["grey"]
    )
    fig.add_bar(x=names, y=[r["kv_gib"] for r in rows], name=tr("KV cache"), marker_color=OKABE_ITO["purple"])
    fig.add_hline(
        y=card_gib,
        line=dict(color=OKABE_ITO["vermillion"], dash="dash"),
        annotation_text=tr("card {gib:g} GiB").format(gib=card_gib),
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("model (attention type in the hover)"))
    fig.update_yaxes(title=tr("memory (GiB)"))
    return apply_theme(fig, title, 380)


_SPLIT_PARTS = (
    ("device_s", "device compute", OKABE_ITO["green"]),
    ("upload_s", "upload", MEANING["transfer"]),
    ("rtt_s", "round trip", MEANING["communication"]),
    ("queue_s", "cloud queue", MEANING["stall"]),
    ("cloud_s", "cloud compute", OKABE_ITO["blue"]),
    ("download_s", "download", OKABE_ITO["sky"]),
)


def split_label(label: str, tr: Translate = same) -> str:
    """A split point's label ("all cloud", "after <layer>", "all device") in the view's words."""
    if label.startswith("after "):
        return tr("after {layer}").format(layer=label.removeprefix("after "))
    return {"all cloud": tr("all cloud"), "all device": tr("all device")}.get(label, label)


def _split_bars(fig: go.Figure, points, best_k: int, total: str, tr: Translate) -> list[str]:
    """The x labels of every split point, with the best one marked; returns the labels."""
    labels = [split_label(p.label, tr) for p in points]
    fig.add_annotation(
        x=labels[best_k], y=1e3 * getattr(points[best_k], total), text=tr("best"), showarrow=True, arrowhead=2
    )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=tr("split point (layers before it run on the device)"), tickangle=-45)
    return labels


def split_latency(points, best_k: int, title: str, tr: Translate = same) -> go.Figure:
    """Stacked latency of every split point; the best one marked, infeasible ones hatched."""
    fig = go.Figure()
    labels = _split_bars(fig, points, best_k, "latency", tr)
    for attr, name, color in _SPLIT_PARTS:
        fig.add_bar(
            x=labels,
            y=[1e3 * getattr(p, attr) for p in points],
            name=tr(name),
            marker=dict(color=color, pattern_shape=["" if p.fits else "x" for p in points]),
        )
    fig.update_yaxes(title=tr("end-to-end latency (ms)"))
    return apply_theme(fig, title, 460)


def split_energy(points, best_k: int, title: str, tr: Translate = same) -> go.Figure:
    fig = go.Figure()
    labels = _split_bars(fig, points, best_k, "energy", tr)
    fig.add_bar(
        x=labels,
        y=[1e3 * p.device_j for p in points],
        name=tr("device compute"),
        marker_color=OKABE_ITO["green"],
    )
    fig.add_bar(
        x=labels, y=[1e3 * p.radio_j for p in points], name=tr("radio"), marker_color=MEANING["communication"]
    )
    fig.update_yaxes(title=tr("phone energy per inference (mJ)"))
    return apply_theme(fig, title, 420)
