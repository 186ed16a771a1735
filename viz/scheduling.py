"""Figures for the scheduling lab: Gantt of a simulated schedule (critical path outlined), per-lane
utilisation, a comparison of execution modes, and the PyTorch dispatch path as stacked layers."""
from __future__ import annotations

import plotly.graph_objects as go

from engine.core.trace import Timeline

from .theme import MEANING, OKABE_ITO, apply_theme
from .timeline import gantt

COLORS = {"host": OKABE_ITO["grey"], "compute": MEANING["compute"], "transfer": MEANING["transfer"]}
MODE_TEXT = {"op_by_op": ("op by op", "逐算子"), "whole_graph": ("whole graph", "整图下沉"),
             "split": ("split", "图切分")}


def _t(zh: bool, en: str, cn: str) -> str:
    return cn if zh else en


LEGEND_ZH = {  # graph-figure node kinds (viz.graph) and timeline kinds, said in Chinese
    "input": "输入", "param": "参数", "constant": "常量", "elemwise": "逐元素", "broadcast": "广播",
    "injective": "单射", "reduce": "规约", "out_elemwise_fusable": "可融合后继逐元素", "opaque": "不透明",
    "highlighted": "高亮", "changed": "已调度", "host": "主机", "transfer": "传输", "compute": "计算"}
LABEL_ZH = (("launch graph on ", "整图下发到 "), ("dispatch ", "分发 "), ("copy ", "拷贝 "))


def localize_legend(fig: go.Figure, zh: bool) -> go.Figure:
    """Legend entries (and timeline bar labels) in Chinese when ``zh``; the figure otherwise unchanged."""
    if not zh:
        return fig

    def one(tr):
        if tr.name in LEGEND_ZH:
            tr.name = LEGEND_ZH[tr.name]
        if tr.type == "bar" and tr.text is not None:
            texts = list(tr.text)
            for en, cn in LABEL_ZH:
                texts = [t.replace(en, cn, 1) if isinstance(t, str) and t.startswith(en) else t for t in texts]
            tr.text = texts
    fig.for_each_trace(one)
    return fig


def step_text(step, zh: bool = False) -> tuple[str, str]:
    """(title, log) of one scheduler step in the page's language, from the step's data."""
    d = step.data
    if not zh:
        return step.title, step.log.replace(" us", " µs")
    newly = f"；新就绪：{', '.join(d['newly_ready'])}" if d["newly_ready"] else ""
    return (step.title.replace("step", "第").replace(":", " 步：", 1),
            f"就绪队列 {list(d['queue'])}：从队首取出 {d['chosen']}（{d['op']}），在 {d['lane']} 上从 "
            f"{d['start']:.2f} µs 运行到 {d['end']:.2f} µs{newly}")


def schedule_gantt(schedule, upto_label: set[str] | None = None, title: str = "",
                   zh: bool = False) -> go.Figure:
    """Gantt of the schedule; with ``upto_label`` only those compute ops (and all else) are drawn."""
    tl = schedule.timeline
    if upto_label is not None:
        keep = [i for i, e in enumerate(tl.events) if e.kind != "compute" or e.label in upto_label]
        remap = {old: new for new, old in enumerate(keep)}
        tl = Timeline(tuple(tl.events[i] for i in keep), tl.units, tl.time_unit,
                      tuple(remap[i] for i in tl.critical if i in remap))
    mode = _t(zh, *MODE_TEXT.get(schedule.mode, (schedule.mode, schedule.mode)))
    fig = gantt(tl, title or _t(zh, f"Schedule ({mode}): {schedule.total_us:.1f} µs, critical path outlined",
                                f"调度（{mode}）：{schedule.total_us:.1f} µs，黑框为关键路径"), colors=COLORS)
    localize_legend(fig, zh)
    fig.update_yaxes(title=_t(zh, "lane (host, device/stream, link)", "通道（主机 / 流 / 链路）"))
    fig.update_xaxes(title=_t(zh, "time (µs)", "时间 (µs)"))
    if upto_label is not None:
        fig.update_xaxes(range=[0, schedule.total_us * 1.02])
    return fig


def utilization_figure(schedule, title: str = "Busy share of each lane", zh: bool = False) -> go.Figure:
    lanes = list(schedule.utilization)
    vals = [100 * schedule.utilization[u] for u in lanes]
    fig = go.Figure(go.Bar(x=vals, y=lanes, orientation="h", text=[f"{v:.0f}%" for v in vals],
                           textposition="outside", marker_color=MEANING["compute"]))
    fig.update_xaxes(title=_t(zh, "utilisation (% of total time)", "利用率（占总时间的 %）"), range=[0, 115])
    fig.update_yaxes(title=_t(zh, "lane", "通道"), categoryorder="array", categoryarray=lanes[::-1])
    return apply_theme(fig, title, max(260, 60 + 34 * len(lanes)))


def modes_figure(totals: dict[str, float], title: str = "Total time by execution mode",
                 zh: bool = False) -> go.Figure:
    names = list(totals)
    fig = go.Figure(go.Bar(x=names, y=[totals[n] for n in names],
                           text=[f"{totals[n]:.1f} µs" for n in names], textposition="outside",
                           marker_color=[OKABE_ITO["vermillion"], OKABE_ITO["blue"],
                                         OKABE_ITO["green"]][:len(names)]))
    fig.update_yaxes(title=_t(zh, "total time (µs)", "总时间 (µs)"), rangemode="tozero")
    fig.update_yaxes(range=[0, max(totals.values(), default=1) * 1.2])   # room for the labels
    fig.update_xaxes(title=_t(zh, "execution mode", "执行模式"))
    return apply_theme(fig, title, 360)


def dispatch_figure(trace, step: int, title: str = "", zh: bool = False) -> go.Figure:
    """The layers of one PyTorch op call, top to bottom; the current one lit, the passed ones dim."""
    layers = [s.data["layer"] for s in trace.steps]
    fig = go.Figure()
    for k, s in enumerate(trace.steps):
        color = MEANING["highlight"] if k == step else (OKABE_ITO["sky"] if k < step else "#EEEEEE")
        y = len(layers) - k
        fig.add_shape(type="rect", x0=0, x1=10, y0=y - 0.42, y1=y + 0.42, fillcolor=color,
                      line=dict(color="black", width=2 if k == step else 1), layer="below")
        layer = s.data.get("layer_zh", s.data["layer"]) if zh else s.data["layer"]
        what = s.data.get("what_zh", s.data["what"]) if zh else s.data["what"]
        fig.add_annotation(x=0.2, y=y, text=f"<b>{layer}</b>", showarrow=False,
                           xanchor="left", font=dict(size=15, color="black"))
        fig.add_annotation(x=2.6, y=y, text=_wrap(what, 40 if zh else 70), showarrow=False,
                           xanchor="left", align="left", font=dict(size=12, color="black"))
        if k < len(layers) - 1:
            fig.add_annotation(x=1.2, y=y - 0.58, ax=1.2, ay=y - 0.42, xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2, text="")
    fig.update_xaxes(visible=False, range=[0, 10])
    fig.update_yaxes(visible=False, range=[0.4, len(layers) + 0.6])
    return apply_theme(fig, title or trace.title, 110 + 70 * len(layers))


def _wrap(text: str, width: int) -> str:
    words, lines, cur = [], [], ""
    for w in text.split():       # a long run without spaces (Chinese) is cut every ``width`` chars
        words += [w[i:i + width] for i in range(0, len(w), width)] or [w]
    for w in words:
        if len(cur) + len(w) + 1 > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "<br>".join(lines)
