"""Figures for the inference-systems labs: serving & batching, KV-cache memory, cloud vs edge."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

POLICY_COLORS = {"none": OKABE_ITO["grey"], "static": OKABE_ITO["orange"],
                 "dynamic": OKABE_ITO["blue"], "continuous": OKABE_ITO["green"]}


def batch_cost(model, max_batch: int, title: str) -> go.Figure:
    """Time per pass (memory roof, compute roof) and requests/s against the batch size."""
    sizes = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, max_batch})
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=sizes, y=[1e3 * model.memory_time(b) for b in sizes], name="read weights + acts",
                    line=dict(color=MEANING["memory_bound"], dash="dot"))
    fig.add_scatter(x=sizes, y=[1e3 * model.compute_time(b) for b in sizes], name="compute",
                    line=dict(color=MEANING["compute_bound"], dash="dot"))
    fig.add_scatter(x=sizes, y=[1e3 * model.time(b) for b in sizes], name="time per pass",
                    line=dict(color=OKABE_ITO["black"], width=3))
    fig.add_scatter(x=sizes, y=[model.capacity(b) for b in sizes], name="requests/s",
                    line=dict(color=OKABE_ITO["green"], width=3), secondary_y=True)
    top = 1e3 * model.time(sizes[-1])
    marks = [(max_batch, "max batch", OKABE_ITO["orange"], ["max batch", ""])]
    if 1 <= model.knee <= sizes[-1]:
        marks.append((model.knee, "knee", OKABE_ITO["grey"], ["", f"knee ≈ {model.knee:.0f}"]))
    for x, name, color, text in marks:   # vertical lines as traces: shapes on log axes need log units
        fig.add_scatter(x=[x, x], y=[1e3 * model.time(1) / 3, top], mode="lines+text", name=name,
                        text=text, textposition=["bottom center", "top center"],
                        line=dict(color=color, dash="dash"), showlegend=False)
    fig.update_xaxes(type="log", title="batch size (requests per pass)")
    fig.update_yaxes(type="log", title="time per pass (ms)", secondary_y=False)
    fig.update_yaxes(title="throughput (requests/s)", rangemode="tozero", secondary_y=True,
                     showgrid=False)
    return apply_theme(fig, title)


def latency_vs_load(rows: list[dict], title: str) -> go.Figure:
    """p99 (solid) and p50 (dotted) latency against offered load, one colour per policy."""
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        color = POLICY_COLORS.get(policy, SEQUENCE[0])
        fig.add_scatter(x=[r["rate"] for r in pts], y=[1e3 * r["p99"] for r in pts], name=f"{policy} p99",
                        line=dict(color=color, width=3), mode="lines+markers")
        fig.add_scatter(x=[r["rate"] for r in pts], y=[1e3 * r["p50"] for r in pts], name=f"{policy} p50",
                        line=dict(color=color, dash="dot"), mode="lines")
    fig.update_xaxes(title="offered load λ (requests/s)")
    fig.update_yaxes(type="log", title="latency (ms, log scale)")
    return apply_theme(fig, title)


def throughput_latency(rows: list[dict], title: str) -> go.Figure:
    """The trade-off curve: achieved throughput against p99 latency, one line per policy."""
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(x=[r["throughput"] for r in pts], y=[1e3 * r["p99"] for r in pts],
                        name=policy, mode="lines+markers",
                        line=dict(color=POLICY_COLORS.get(policy, SEQUENCE[0]), width=3),
                        text=[f"load {r['load']:.2f}, mean batch {r['mean_batch']:.1f}" for r in pts])
    fig.update_xaxes(title="achieved throughput (requests/s)")
    fig.update_yaxes(type="log", title="p99 latency (ms, log scale)")
    return apply_theme(fig, title)


def llm_sweep(rows: list[dict], metric: str, y_title: str, title: str, scale: float = 1.0,
              log: bool = False) -> go.Figure:
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(x=[r["rate"] for r in pts], y=[scale * r[metric] for r in pts], name=policy,
                        mode="lines+markers", line=dict(color=POLICY_COLORS.get(policy), width=3))
    fig.update_xaxes(title="request rate λ (requests/s)")
    fig.update_yaxes(title=y_title, type="log" if log else "linear")
    return apply_theme(fig, title, 360)


def kv_waste(rows: list[dict], title: str) -> go.Figure:
    """Share of reserved KV memory that holds no token, per allocator."""
    fig = go.Figure(go.Bar(x=[r["allocator"] for r in rows], y=[100 * r["waste"] for r in rows],
                           marker_color=[OKABE_ITO["vermillion"] if r["allocator"] == "contiguous"
                                         else OKABE_ITO["blue"] for r in rows],
                           text=[f"{100 * r['waste']:.1f}%" for r in rows], textposition="outside"))
    fig.update_xaxes(title="allocator (contiguous to max length, or paged with block size)", type="category")
    fig.update_yaxes(title="wasted KV memory (% of reserved)", range=[0, 105])
    return apply_theme(fig, title, 360)


def kv_memory(rows: list[dict], card_gib: float, title: str) -> go.Figure:
    """Per model: weights and the KV cache of the chosen batch, against the card's memory."""
    names = [r["model"] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r["weights_gib"] for r in rows], name="weights",
                marker_color=OKABE_ITO["grey"])
    fig.add_bar(x=names, y=[r["kv_gib"] for r in rows], name="KV cache",
                marker_color=OKABE_ITO["purple"])
    fig.add_hline(y=card_gib, line=dict(color=OKABE_ITO["vermillion"], dash="dash"),
                  annotation_text=f"card {card_gib:g} GiB")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="model (attention type in the hover)")
    fig.update_yaxes(title="memory (GiB)")
    return apply_theme(fig, title, 380)


_SPLIT_PARTS = (("device_s", "device compute", OKABE_ITO["green"]),
                ("upload_s", "upload", MEANING["transfer"]),
                ("rtt_s", "round trip", MEANING["communication"]),
                ("queue_s", "cloud queue", MEANING["stall"]),
                ("cloud_s", "cloud compute", OKABE_ITO["blue"]),
                ("download_s", "download", OKABE_ITO["sky"]))


def split_latency(points, best_k: int, title: str) -> go.Figure:
    """Stacked latency of every split point; the best one marked, infeasible ones hatched."""
    labels = [p.label for p in points]
    fig = go.Figure()
    for attr, name, color in _SPLIT_PARTS:
        fig.add_bar(x=labels, y=[1e3 * getattr(p, attr) for p in points], name=name,
                    marker=dict(color=color, pattern_shape=["" if p.fits else "x" for p in points]))
    best = points[best_k]
    fig.add_annotation(x=best.label, y=1e3 * best.latency, text="best", showarrow=True, arrowhead=2)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="split point (layers before it run on the device)", tickangle=-45)
    fig.update_yaxes(title="end-to-end latency (ms)")
    return apply_theme(fig, title, 460)


def split_energy(points, best_k: int, title: str) -> go.Figure:
    labels = [p.label for p in points]
    fig = go.Figure()
    fig.add_bar(x=labels, y=[1e3 * p.device_j for p in points], name="device compute",
                marker_color=OKABE_ITO["green"])
    fig.add_bar(x=labels, y=[1e3 * p.radio_j for p in points], name="radio",
                marker_color=MEANING["communication"])
    best = points[best_k]
    fig.add_annotation(x=best.label, y=1e3 * best.energy, text="best", showarrow=True, arrowhead=2)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="split point (layers before it run on the device)", tickangle=-45)
    fig.update_yaxes(title="phone energy per inference (mJ)")
    return apply_theme(fig, title, 420)

