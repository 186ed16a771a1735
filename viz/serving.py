"""Figures for the inference-systems labs: serving & batching, KV-cache memory, cloud vs edge."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

#: Chinese labels of the figures (pages pass ``zh=ui.lang() == "zh"``).
_ZH = {
    "none": "不批处理", "static": "静态批处理", "dynamic": "动态批处理", "continuous": "连续批处理",
    "read weights + acts": "读权重与激活", "compute": "计算", "time per pass": "单次前向耗时", "requests/s": "请求/秒",
    "batch size (requests per pass)": "批大小（每次前向的请求数）", "time per pass (ms)": "单次前向耗时（ms）",
    "throughput (requests/s)": "吞吐（请求/秒）", "offered load λ (requests/s)": "负载 λ（请求/秒）",
    "latency (ms, log scale)": "时延（ms，对数）", "achieved throughput (requests/s)": "实际吞吐（请求/秒）",
    "p99 latency (ms, log scale)": "p99 时延（ms，对数）", "request rate λ (requests/s)": "请求率 λ（请求/秒）",
    "allocator (contiguous to max length, or paged with block size)": "分配方式（按最大长度连续预留，或按块大小分页）",
    "wasted KV memory (% of reserved)": "浪费的 KV 显存（占预留的 %）", "weights": "权重", "KV cache": "KV 缓存",
    "model (attention type in the hover)": "模型（悬停查看注意力类型）", "memory (GiB)": "显存（GiB）",
    "device compute": "端侧计算", "upload": "上传", "round trip": "往返", "cloud queue": "云端排队",
    "cloud compute": "云端计算", "download": "下载", "best": "最佳",
    "split point (layers before it run on the device)": "切分点（之前的层在端侧运行）",
    "end-to-end latency (ms)": "端到端时延（ms）", "radio": "无线",
    "phone energy per inference (mJ)": "每次推理的手机能耗（mJ）", "max batch": "最大批", "knee": "拐点", "card": "显卡",
}


def _l(text: str, zh: bool) -> str:
    """The Chinese label for ``text`` when ``zh``."""
    return _ZH.get(text, text) if zh else text


POLICY_COLORS = {"none": OKABE_ITO["grey"], "static": OKABE_ITO["orange"],
                 "dynamic": OKABE_ITO["blue"], "continuous": OKABE_ITO["green"]}


def batch_cost(model, max_batch: int, title: str, zh: bool = False) -> go.Figure:
    """Time per pass (memory roof, compute roof) and requests/s against the batch size."""
    sizes = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, max_batch})
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_scatter(x=sizes, y=[1e3 * model.memory_time(b) for b in sizes], name=_l("read weights + acts", zh),
                    line=dict(color=MEANING["memory_bound"], dash="dot"))
    fig.add_scatter(x=sizes, y=[1e3 * model.compute_time(b) for b in sizes], name=_l("compute", zh),
                    line=dict(color=MEANING["compute_bound"], dash="dot"))
    fig.add_scatter(x=sizes, y=[1e3 * model.time(b) for b in sizes], name=_l("time per pass", zh),
                    line=dict(color=OKABE_ITO["black"], width=3))
    fig.add_scatter(x=sizes, y=[model.capacity(b) for b in sizes], name=_l("requests/s", zh),
                    line=dict(color=OKABE_ITO["green"], width=3), secondary_y=True)
    top = 1e3 * model.time(sizes[-1])
    marks = [(max_batch, "max batch", OKABE_ITO["orange"], [_l("max batch", zh), ""])]
    if 1 <= model.knee <= sizes[-1]:
        marks.append((model.knee, "knee", OKABE_ITO["grey"], ["", _l("knee", zh) + f" ≈ {model.knee:.0f}"]))
    for x, name, color, text in marks:   # vertical lines as traces: shapes on log axes need log units
        fig.add_scatter(x=[x, x], y=[1e3 * model.time(1) / 3, top], mode="lines+text", name=name,
                        text=text, textposition=["bottom center", "top center"],
                        line=dict(color=color, dash="dash"), showlegend=False)
    fig.update_xaxes(type="log", dtick=1, title=_l("batch size (requests per pass)", zh))
    fig.update_yaxes(type="log", dtick=1, title=_l("time per pass (ms)", zh), secondary_y=False)
    fig.update_yaxes(title=_l("throughput (requests/s)", zh), rangemode="tozero", secondary_y=True,
                     showgrid=False, tickmode="auto", tickformat="~s")
    return apply_theme(fig, title)


def latency_vs_load(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    """p99 (solid) and p50 (dotted) latency against offered load, one colour per policy."""
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        color = POLICY_COLORS.get(policy, SEQUENCE[0])
        fig.add_scatter(x=[r["rate"] for r in pts], y=[1e3 * r["p99"] for r in pts], name=f"{_l(policy, zh)} p99",
                        line=dict(color=color, width=3), mode="lines+markers")
        fig.add_scatter(x=[r["rate"] for r in pts], y=[1e3 * r["p50"] for r in pts], name=f"{_l(policy, zh)} p50",
                        line=dict(color=color, dash="dot"), mode="lines")
    fig.update_xaxes(title=_l("offered load λ (requests/s)", zh))
    fig.update_yaxes(type="log", dtick=1, title=_l("latency (ms, log scale)", zh))
    return apply_theme(fig, title)


def throughput_latency(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    """The trade-off curve: achieved throughput against p99 latency, one line per policy."""
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(x=[r["throughput"] for r in pts], y=[1e3 * r["p99"] for r in pts],
                        name=_l(policy, zh), mode="lines+markers",
                        line=dict(color=POLICY_COLORS.get(policy, SEQUENCE[0]), width=3),
                        text=[f"load {r['load']:.2f}, mean batch {r['mean_batch']:.1f}" for r in pts])
    fig.update_xaxes(title=_l("achieved throughput (requests/s)", zh))
    fig.update_yaxes(type="log", dtick=1, title=_l("p99 latency (ms, log scale)", zh))
    return apply_theme(fig, title)


def llm_sweep(rows: list[dict], metric: str, y_title: str, title: str, scale: float = 1.0,
              log: bool = False, zh: bool = False) -> go.Figure:
    fig = go.Figure()
    for policy in dict.fromkeys(r["policy"] for r in rows):
        pts = [r for r in rows if r["policy"] == policy]
        fig.add_scatter(x=[r["rate"] for r in pts], y=[scale * r[metric] for r in pts], name=_l(policy, zh),
                        mode="lines+markers", line=dict(color=POLICY_COLORS.get(policy), width=3))
    fig.update_xaxes(title=_l("request rate λ (requests/s)", zh))
    fig.update_yaxes(title=y_title, type="log" if log else "linear")
    return apply_theme(fig, title, 360)


def kv_waste(rows: list[dict], title: str, zh: bool = False) -> go.Figure:
    """Share of reserved KV memory that holds no token, per allocator."""
    fig = go.Figure(go.Bar(x=[r["allocator"] for r in rows], y=[100 * r["waste"] for r in rows],
                           marker_color=[OKABE_ITO["vermillion"] if r["allocator"] == "contiguous"
                                         else OKABE_ITO["blue"] for r in rows],
                           text=[f"{100 * r['waste']:.1f}%" for r in rows], textposition="outside"))
    fig.update_xaxes(title=_l("allocator (contiguous to max length, or paged with block size)", zh), type="category")
    fig.update_yaxes(title=_l("wasted KV memory (% of reserved)", zh), range=[0, 105])
    return apply_theme(fig, title, 360)


def kv_memory(rows: list[dict], card_gib: float, title: str, zh: bool = False) -> go.Figure:
    """Per model: weights and the KV cache of the chosen batch, against the card's memory."""
    names = [r["model"] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r["weights_gib"] for r in rows], name=_l("weights", zh),
                marker_color=OKABE_ITO["grey"])
    fig.add_bar(x=names, y=[r["kv_gib"] for r in rows], name=_l("KV cache", zh),
                marker_color=OKABE_ITO["purple"])
    fig.add_hline(y=card_gib, line=dict(color=OKABE_ITO["vermillion"], dash="dash"),
                  annotation_text=_l("card", zh) + f" {card_gib:g} GiB")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=_l("model (attention type in the hover)", zh))
    fig.update_yaxes(title=_l("memory (GiB)", zh))
    return apply_theme(fig, title, 380)


_SPLIT_PARTS = (("device_s", "device compute", OKABE_ITO["green"]),
                ("upload_s", "upload", MEANING["transfer"]),
                ("rtt_s", "round trip", MEANING["communication"]),
                ("queue_s", "cloud queue", MEANING["stall"]),
                ("cloud_s", "cloud compute", OKABE_ITO["blue"]),
                ("download_s", "download", OKABE_ITO["sky"]))


def split_latency(points, best_k: int, title: str, zh: bool = False) -> go.Figure:
    """Stacked latency of every split point; the best one marked, infeasible ones hatched."""
    labels = [p.label for p in points]
    fig = go.Figure()
    for attr, name, color in _SPLIT_PARTS:
        fig.add_bar(x=labels, y=[1e3 * getattr(p, attr) for p in points], name=_l(name, zh),
                    marker=dict(color=color, pattern_shape=["" if p.fits else "x" for p in points]))
    best = points[best_k]
    fig.add_annotation(x=best.label, y=1e3 * best.latency, text=_l("best", zh), showarrow=True, arrowhead=2)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=_l("split point (layers before it run on the device)", zh), tickangle=-45)
    fig.update_yaxes(title=_l("end-to-end latency (ms)", zh))
    return apply_theme(fig, title, 460)


def split_energy(points, best_k: int, title: str, zh: bool = False) -> go.Figure:
    labels = [p.label for p in points]
    fig = go.Figure()
    fig.add_bar(x=labels, y=[1e3 * p.device_j for p in points], name=_l("device compute", zh),
                marker_color=OKABE_ITO["green"])
    fig.add_bar(x=labels, y=[1e3 * p.radio_j for p in points], name=_l("radio", zh),
                marker_color=MEANING["communication"])
    best = points[best_k]
    fig.add_annotation(x=best.label, y=1e3 * best.energy, text=_l("best", zh), showarrow=True, arrowhead=2)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=_l("split point (layers before it run on the device)", zh), tickangle=-45)
    fig.update_yaxes(title=_l("phone energy per inference (mJ)", zh))
    return apply_theme(fig, title, 420)

