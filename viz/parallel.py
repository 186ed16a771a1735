"""Figures of the distributed-training labs (engine.parallel results -> plotly)."""
from __future__ import annotations

import re

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

GiB = float(1 << 30)
MiB = float(1 << 20)
STRATEGY_LABELS = {"dp": "plain DP", "zero1": "ZeRO-1", "zero2": "ZeRO-2", "zero3": "ZeRO-3", "fsdp": "FSDP",
                   "offload": "ZeRO-2 + CPU offload"}

#: Chinese for the fixed words in this module's figures (and the gantt lanes the pages draw).
ZH = {
    "weights": "权重", "gradients": "梯度", "optimizer states": "优化器状态", "activations": "激活",
    "memory per device (GiB)": "每卡显存（GiB）", "strategy": "策略", "card memory": "显存容量",
    "plain DP": "普通数据并行", "ZeRO-2 + CPU offload": "ZeRO-2 + CPU 卸载", "configuration": "配置",
    "value": "数值", "element index (thick lines = chunk boundaries; red = just received)":
    "元素下标（粗线 = 分块边界；红框 = 本步刚收到）", "device (← sender)": "设备（← 发送方）",
    "message size (bytes)": "消息大小（字节）", "all-reduce time (µs)": "All-Reduce 时间（µs）",
    "measured (gloo)": "实测（gloo）", "ring": "环形", "tree": "树形", "model": "模型",
    "least-squares optimum": "最小二乘最优值", "update (count)": "更新次数", "mean squared error": "均方误差",
    "sync": "同步", "async (stale)": "异步（陈旧梯度）",
    "smallest subnormal 2⁻²⁴": "最小非规格数 2⁻²⁴", "smallest normal 2⁻¹⁴": "最小规格数 2⁻¹⁴",
    "fp16 max 65504": "fp16 最大值 65504", "log2 |gradient| (before scaling)": "log2 |梯度|（缩放前）",
    "gradients (count)": "梯度个数", "log2 scale": "log2 缩放", "overflow → step skipped": "溢出 → 跳过该步",
    "training step": "训练步", "log2 loss scale": "log2 损失缩放", "row": "行", "column": "列",
    "A (h × 4h): columns per device": "A (h × 4h)：按列分给各卡", "B (4h × h): rows per device":
    "B (4h × h)：按行分给各卡", "pipeline stage": "流水线段", "node": "节点", "GPU in node": "节点内 GPU",
    "compute": "计算", "pipeline bubble": "流水线气泡", "TP all-reduce": "TP All-Reduce",
    "DP all-reduce": "DP All-Reduce", "PP send/recv": "PP 收发", "configuration (✗ = does not fit)":
    "配置（✗ = 放不下）", "estimated step time (s)": "估计单步时间（秒）", "backward": "反向", "forward": "前向",
    "communication": "通信", "all-reduce": "All-Reduce", "time (s)": "时间（秒）", "stage": "段",
    "time (time units)": "时间（时间单位）", "none": "无", "full recompute": "完全重计算",
    "selective": "选择性重计算", "activations per layer (MiB)": "每层激活（MiB）", "token": "token",
}

_ZH_PHRASES = [  # engine sentences shown on the distributed pages
    (r"start: every device holds its own gradient", "开始：每张卡持有自己的梯度"),
    (r"(reduce-scatter|all-gather) step (\d+) of (\d+)", r"\1 第 \2 步（共 \3 步）"),
    (r"reduce, stride (\d+)", r"规约，跨度 \1"), (r"^broadcast$", "广播"),
    (r"ring all-reduce", "环形 All-Reduce"), (r"tree all-reduce", "树形 All-Reduce"),
    (r"(\d+) devices, (\d+) chunks each", r"\1 张卡，每卡分成 \2 块"), (r"chunk (\d+)", r"第 \1 块"),
    (r"partial sums \(every device holds a full-size addend\)", "部分和（每卡持有一个完整形状的加数）"),
    (r"^replicated$", "全复制"), (r"rows cut (\d+) ways, columns cut (\d+) ways", r"行切 \1 份、列切 \2 份"),
    (r"AllReduce over the (\d+) devices that share a K slice", r"在共享同一 K 切片的 \1 张卡上做 AllReduce"),
    (r"^none$", "无"), (r"layouts already match", "布局已经一致"),
    (r"sum the addends; everyone keeps the sum", "把各加数求和，每卡都保留总和"),
    (r"sum and keep slice r along axis (\d+)", r"求和后每卡保留沿第 \1 维的第 r 片"),
    (r"gather all slices, concat along axis (\d+)", r"收集所有切片，沿第 \1 维拼接"),
    (r"each device keeps its own slice; nothing is sent", "每卡只保留自己的切片，无需发送"),
    (r"split axis (\d+) into (\d+), send piece r to device r, concat along axis (\d+)",
     r"把第 \1 维切成 \2 份，第 r 份发给第 r 张卡，再沿第 \3 维拼接"),
]


def zh_text(text: str) -> str:
    """Chinese for the engine's fixed step titles, logs and sharding descriptions."""
    for pattern, repl in _ZH_PHRASES:
        text = re.sub(pattern, repl, text)
    return text
PARTS = (("params", "weights", OKABE_ITO["blue"]), ("grads", "gradients", OKABE_ITO["orange"]),
         ("optimizer", "optimizer states", OKABE_ITO["green"]),
         ("activations", "activations", OKABE_ITO["purple"]))


def memory_bars(rows: list[dict], card_bytes: float | None, title: str, card_name: str = "") -> go.Figure:
    """Stacked bar per strategy: weights, gradients, optimizer states, activations (GiB)."""
    fig = go.Figure()
    labels = [STRATEGY_LABELS.get(r["label"], r["label"]) for r in rows]
    for key, name, color in PARTS:
        fig.add_bar(x=labels, y=[r.get(key, 0.0) / GiB for r in rows], name=name, marker_color=color,
                    hovertemplate="%{x}: %{y:.2f} GiB<extra>" + name + "</extra>")
    if card_bytes:
        fig.add_hline(y=card_bytes / GiB, line_dash="dash", line_color=MEANING["highlight"],
                      annotation_text=card_name or "card memory", annotation_position="top right")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="memory per device (GiB)")
    fig.update_xaxes(title="strategy")
    return apply_theme(fig, title)


def simple_bars(labels, values, title: str, y_title: str, colors=None, x_title: str = "configuration",
                name: str = "") -> go.Figure:
    fig = go.Figure(go.Bar(x=list(labels), y=list(values), marker_color=colors or SEQUENCE[0],
                           text=[f"{v:.3g}" for v in values], textposition="outside", name=name,
                           showlegend=bool(name)))
    fig.update_yaxes(title=y_title)
    fig.update_xaxes(title=x_title)
    return apply_theme(fig, title)


def ring_state(buffers: np.ndarray, chunks, sends, title: str) -> go.Figure:
    """Device × element heatmap of the buffers, chunk boundaries drawn, this step's sends listed."""
    n = buffers.shape[0]
    fig = go.Figure(go.Heatmap(z=buffers, x=list(range(buffers.shape[1])), y=list(range(n)), colorscale="Blues",
                               text=np.round(buffers, 2), texttemplate="%{text}",
                               colorbar=dict(title="value")))
    for b in list(chunks)[1:-1]:
        fig.add_vline(x=b - 0.5, line_color="black", line_width=2)
    received = {}
    for src, dst, *rest in sends:
        received[dst] = f" ← D{src}"
        lo, hi = (chunks[rest[0]], chunks[rest[0] + 1]) if rest else (0, buffers.shape[1])
        fig.add_shape(type="rect", x0=lo - 0.5, x1=hi - 0.5, y0=dst - 0.45, y1=dst + 0.45,
                      line=dict(color=MEANING["highlight"], width=3))
    fig.update_xaxes(title="element index (thick lines = chunk boundaries; red = just received)")
    fig.update_yaxes(title="device (← sender)", autorange="reversed",
                     tickvals=list(range(n)), ticktext=[f"D{i}{received.get(i, '')}" for i in range(n)])
    return apply_theme(fig, title, height=140 + 50 * n)


def alpha_beta(curves: dict[str, tuple], title: str, measured=None) -> go.Figure:
    """Time vs message size (log-log) for each named (sizes, seconds) curve, plus measured points."""
    fig = go.Figure()
    for k, (name, (x, y)) in enumerate(curves.items()):
        fig.add_scatter(x=list(x), y=[v * 1e6 for v in y], mode="lines", name=name,
                        line=dict(color=SEQUENCE[k % len(SEQUENCE)]))
    if measured:
        fig.add_scatter(x=[b for b, _ in measured], y=[t * 1e6 for _, t in measured],
                        mode="markers", name="measured (gloo)", marker=dict(size=11, symbol="x",
                                                                            color="black"))
    fig.update_xaxes(type="log", title="message size (bytes)")
    fig.update_yaxes(type="log", title="all-reduce time (µs)")
    apply_theme(fig, title, height=480)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, xanchor="left"),
                      margin=dict(b=120))
    return fig


def loss_curves(series: dict[str, tuple], title: str, optimum: float | None = None) -> go.Figure:
    fig = go.Figure()
    for k, (name, ys) in enumerate(series.items()):
        fig.add_scatter(y=list(ys), mode="lines", name=name, line=dict(color=SEQUENCE[k]))
    if optimum is not None:
        fig.add_hline(y=optimum, line_dash="dot", annotation_text="least-squares optimum")
    fig.update_xaxes(title="update (count)")
    fig.update_yaxes(title="mean squared error", type="log")
    return apply_theme(fig, title)


def underflow_hist(res, title: str) -> go.Figure:
    """Histogram of log2|g|; the fp16 window (shifted by the loss scale) shaded."""
    edges = np.array(res.edges)
    mids = (edges[:-1] + edges[1:]) / 2
    shift = np.log2(res.scale)
    lo, normal, hi = -24 - shift, -14 - shift, np.log2(65504) - shift
    colors = [MEANING["stall"] if m < lo else (MEANING["changed"] if m < normal else SEQUENCE[0])
              for m in mids]
    fig = go.Figure(go.Bar(x=mids, y=list(res.counts), marker_color=colors, name="gradients"))
    fig.add_vrect(x0=lo, x1=hi, fillcolor=OKABE_ITO["green"], opacity=0.08, line_width=0)
    for x, text, where in ((lo, "smallest subnormal 2⁻²⁴", "top left"), (normal, "smallest normal 2⁻¹⁴",
                                                                         "top right"),
                           (hi, "fp16 max 65504", "top left")):
        fig.add_vline(x=x, line_dash="dash", annotation_text=text, annotation_position=where)
    fig.update_xaxes(title="log2 |gradient| (before scaling)")
    fig.update_yaxes(title="gradients (count)", range=[0, 1.3 * max(list(res.counts) + [1])])
    return apply_theme(fig, title)


def loss_scale_plot(hist, title: str) -> go.Figure:
    steps = np.arange(len(hist.scales))
    fig = go.Figure(go.Scatter(x=steps, y=np.log2(hist.scales), mode="lines", name="log2 scale",
                               line=dict(shape="hv", color=SEQUENCE[0])))
    skipped = [k for k, s in enumerate(hist.skipped) if s]
    fig.add_scatter(x=skipped, y=[np.log2(hist.scales[k]) for k in skipped], mode="markers",
                    name="overflow → step skipped", marker=dict(color=MEANING["highlight"], size=10))
    fig.update_xaxes(title="training step")
    logs = np.log2(hist.scales)
    fig.update_yaxes(title="log2 loss scale", dtick=1, range=[float(logs.min()) - 1, float(logs.max()) + 1])
    return apply_theme(fig, title)


def mlp_shards(a: np.ndarray, b: np.ndarray, n: int, title: str) -> go.Figure:
    """A split by columns, B by rows: device colours over the two weight matrices."""
    fig = make_subplots(1, 2, subplot_titles=("A (h × 4h): columns per device",
                                              "B (4h × h): rows per device"))
    cols = a.shape[1] // n
    owner_a = np.tile(np.arange(a.shape[1]) // cols, (a.shape[0], 1))
    owner_b = np.tile((np.arange(b.shape[0]) // cols)[:, None], (1, b.shape[1]))
    scale = [[k / max(n - 1, 1), SEQUENCE[k % len(SEQUENCE)]] for k in range(n)] if n > 1 \
        else [[0, SEQUENCE[0]], [1, SEQUENCE[0]]]
    for col, (w, own) in enumerate(((a, owner_a), (b, owner_b)), start=1):
        fig.add_heatmap(z=own, text=np.round(w, 1), texttemplate="%{text}" if w.size <= 400 else None,
                        colorscale=scale, showscale=False, row=1, col=col,
                        hovertemplate="device %{z}<br>value %{text}<extra></extra>")
        fig.update_yaxes(autorange="reversed", title="row", dtick=1 if w.shape[0] <= 16 else None,
                         row=1, col=col)
        fig.update_xaxes(title="column", row=1, col=col)
    return apply_theme(fig, title)


def grouped_lines(series: dict[str, tuple], title: str, x_title: str, y_title: str,
                  step: bool = True) -> go.Figure:
    fig = go.Figure()
    for k, (name, points) in enumerate(series.items()):
        last = {}                       # one value per time: a free and an allocation at the same
        for x, y in points:             # instant would otherwise draw a spike to the lower level
            last[x] = y
        xs, ys = (tuple(last), tuple(last.values())) if last else ((), ())
        fig.add_scatter(x=xs, y=ys, mode="lines", name=name,
                        line=dict(shape="hv" if step else "linear", color=SEQUENCE[k % len(SEQUENCE)]))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    return apply_theme(fig, title)


def cluster_map(rows, nodes: int, gpus: int, title: str) -> go.Figure:
    """Nodes × GPUs grid coloured by pipeline stage, each cell labelled with (dp, tp)."""
    z = np.zeros((nodes, gpus))
    text = np.empty((nodes, gpus), dtype=object)
    for r in rows:
        z[r["node"], r["gpu"]] = r["pp"]
        text[r["node"], r["gpu"]] = f"d{r['dp']} t{r['tp']} p{r['pp']}"
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}" if nodes * gpus <= 128 else None,
                               colorscale="Viridis", colorbar=dict(title="pipeline stage", dtick=1),
                               x=[f"GPU {g}" for g in range(gpus)], y=[f"node {k}" for k in range(nodes)],
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="node")
    fig.update_xaxes(title="GPU in node")
    return apply_theme(fig, title, height=max(300, 120 + 34 * nodes))


def keep_lanes(fig: go.Figure, lanes, x_max: float, height: int | None = None) -> go.Figure:
    """Keep every lane of a Gantt visible (even with no bars yet) and fix the time axis."""
    fig.add_scatter(x=[0.0] * len(lanes), y=list(lanes), mode="markers", marker=dict(opacity=0),
                    showlegend=False, hoverinfo="skip")
    fig.update_xaxes(range=[0, x_max])
    if height:
        fig.update_layout(height=height)
    return fig


def step_breakdown(estimates, title: str) -> go.Figure:
    """Stacked bars of estimated step time per (dp, tp, pp) configuration."""
    labels = [f"d{e.dp} t{e.tp} p{e.pp}" + ("" if e.fits else " ✗") for e in estimates]
    parts = (("compute_s", "compute", MEANING["compute"]), ("bubble_s", "pipeline bubble", MEANING["idle"]),
             ("tp_comm_s", "TP all-reduce", MEANING["communication"]),
             ("dp_comm_s", "DP all-reduce", OKABE_ITO["sky"]), ("pp_comm_s", "PP send/recv", MEANING["transfer"]))
    fig = go.Figure()
    for attr, name, color in parts:
        fig.add_bar(x=labels, y=[getattr(e, attr) for e in estimates], name=name, marker_color=color)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="configuration (✗ = does not fit)")
    fig.update_yaxes(title="estimated step time (s)")
    return apply_theme(fig, title)
