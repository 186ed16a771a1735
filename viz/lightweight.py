"""Figures of the lightweight-models lab: engine data -> plotly Figure (never st.*).

Every function that draws words takes ``tr`` (see :mod:`viz.words`; pages pass ``tr=ui.translator()``).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, each, same

#: One colour per layer kind, fixed across the lab's figures.
KIND_COLOR = {
    "depthwise": MEANING["memory_bound"],
    "pointwise": OKABE_ITO["vermillion"],
    "standard": OKABE_ITO["orange"],
    "group": OKABE_ITO["purple"],
    "linear": OKABE_ITO["green"],
    "attention": OKABE_ITO["sky"],
    "elementwise & other": OKABE_ITO["grey"],
}


#: The legend name of each layer kind (the engine's short kinds are words other labs translate too).
KIND_NAME = {
    "depthwise": "depthwise conv",
    "pointwise": "pointwise 1x1 conv",
    "standard": "standard conv",
    "group": "group conv",
    "linear": "fully connected / linear",
    "attention": "attention matmul",
    "elementwise & other": "elementwise & other",
}


def _kind(kind: str, tr: Translate) -> str:
    return tr(KIND_NAME.get(kind, kind))


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f} %"


def networks_figure(costs: list, tr: Translate = same) -> go.Figure:
    """Params and MACs per network, engine bars beside the paper's numbers."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("Parameters (M)"), tr("MACs (M multiply-adds)")))
    names = [f"{c.name} @{c.resolution}" for c in costs]
    fig.add_bar(
        x=names,
        y=[c.params / 1e6 for c in costs],
        name=tr("engine"),
        row=1,
        col=1,
        marker_color=SEQUENCE[0],
        text=[f"{c.params / 1e6:.2f}" for c in costs],
        textposition="outside",
    )
    fig.add_scatter(
        x=names,
        y=[c.paper.params_m for c in costs],
        mode="markers",
        row=1,
        col=1,
        name=tr("paper"),
        marker=dict(symbol="line-ew-open", size=34, color="black", line=dict(width=3)),
        text=[f"{c.paper.source}: {c.paper.params_m} M ({pct(c.params_diff)})" for c in costs],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.add_bar(
        x=names,
        y=[c.macs / 1e6 for c in costs],
        name=tr("engine MACs"),
        row=1,
        col=2,
        marker_color=SEQUENCE[1],
        text=[f"{c.macs / 1e6:.0f}" for c in costs],
        textposition="outside",
        showlegend=False,
    )
    with_macs = [(n, c) for n, c in zip(names, costs) if c.paper.macs_m is not None]
    fig.add_scatter(
        x=[n for n, _ in with_macs],
        y=[c.paper.macs_m for _, c in with_macs],
        mode="markers",
        row=1,
        col=2,
        showlegend=False,
        marker=dict(symbol="line-ew-open", size=34, color="black", line=dict(width=3)),
        text=[f"{c.paper.source}: {c.paper.macs_m} M ({pct(c.macs_diff)})" for _, c in with_macs],
        hovertemplate="%{text}<extra></extra>",
    )
    fig.update_yaxes(title_text=tr("millions of parameters"), row=1, col=1)
    fig.update_yaxes(title_text=tr("millions of multiply-adds"), row=1, col=2)
    fig.update_xaxes(title_text=tr("network @ input side (α = 1)"), tickangle=-40)
    apply_theme(fig, tr("Engine counts (bars) vs the papers' tables (black ticks)"), 500)
    fig.update_layout(showlegend=False)
    return fig


def block_compare_figure(rows: list[dict], tr: Translate = same) -> go.Figure:
    """MACs and params of every block kind at the same channels/kernel/side (log scale)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("MACs"), tr("Parameters")))
    kinds = each(tr, [r["block"] for r in rows])
    fig.add_bar(
        x=kinds,
        y=[r["macs"] for r in rows],
        row=1,
        col=1,
        name=tr("MACs"),
        marker_color=SEQUENCE[1],
        texttemplate="%{y:.3s}",
        textposition="outside",
    )
    fig.add_bar(
        x=kinds,
        y=[r["params"] for r in rows],
        row=1,
        col=2,
        name=tr("Parameters"),
        marker_color=SEQUENCE[0],
        texttemplate="%{y:.3s}",
        textposition="outside",
    )
    fig.update_yaxes(type="log", dtick=1, title_text=tr("multiply-adds (log)"), row=1, col=1)
    fig.update_yaxes(type="log", dtick=1, title_text=tr("parameters (log)"), row=1, col=2)
    for col, key in ((1, "macs"), (2, "params")):  # headroom above the tallest bar for its label
        vals = [r[key] for r in rows if r[key] > 0] or [1]
        fig.update_yaxes(range=[math.log10(min(vals)) - 0.3, math.log10(max(vals)) + 0.5], row=1, col=col)
    fig.update_xaxes(title_text=tr("block"))
    apply_theme(fig, tr("Same input and output, different blocks"), 440)
    fig.update_layout(showlegend=False)  # the subplot titles already say which is which
    return fig


def layer_roofline_figure(
    points: list, peak: float, bandwidth: float, hw_name: str, tr: Translate = same
) -> go.Figure:
    """One marker per conv/matmul layer on the roofline, coloured by layer kind."""
    ridge = peak / bandwidth
    ais = [p.intensity for p in points] or [ridge]
    lo, hi = min(min(ais), ridge) / 3, max(max(ais), ridge) * 3
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=np.minimum(peak, xs * bandwidth) / 1e9,
        mode="lines",
        name=tr("roof"),
        line=dict(color="black", width=3),
    )
    fig.add_scatter(
        x=[ridge, ridge],
        y=[xs[0] * bandwidth / 1e9, peak / 1e9],
        mode="lines",
        line=dict(dash="dash", color=OKABE_ITO["grey"]),
        name=tr("ridge {ridge:.3g}").format(ridge=ridge),
    )
    for kind in KIND_COLOR:
        sel = [p for p in points if p.kind == kind]
        if not sel:
            continue
        fig.add_scatter(
            x=[p.intensity for p in sel],
            y=[p.attainable / 1e9 for p in sel],
            mode="markers",
            name=_kind(kind, tr),
            text=[p.name for p in sel],
            marker=dict(
                color=KIND_COLOR[kind],
                size=[6 + 10 * math.sqrt(p.flops / max(q.flops for q in points)) for p in sel],
                line=dict(color="white", width=1),
            ),
            hovertemplate="%{text}<br>AI %{x:.3g} FLOP/B<br>%{y:.3g} GFLOP/s<extra></extra>",
        )
    fig.update_xaxes(type="log", title=tr("arithmetic intensity (FLOP per byte, fp32)"), dtick=1)
    fig.update_yaxes(type="log", title=tr("attainable GFLOP/s"), dtick=1)
    apply_theme(fig, tr("Every conv/matmul layer on the {hw_name} roofline").format(hw_name=hw_name), 500)
    fig.update_layout(margin=dict(t=110))
    return fig


def time_breakdown_figure(rows: list[dict], tr: Translate = same) -> go.Figure:
    """Stacked roofline time per layer kind; each bar is labelled with the network's MACs."""
    fig = go.Figure()
    names = [r["network"] for r in rows]
    kinds = [k for k in KIND_COLOR if any(k in r["times"] for r in rows)]
    for kind in kinds:
        fig.add_bar(
            x=names,
            y=[1e3 * r["times"].get(kind, 0.0) for r in rows],
            name=_kind(kind, tr),
            marker_color=KIND_COLOR[kind],
        )
    totals = [1e3 * sum(r["times"].values()) for r in rows]
    fig.add_scatter(
        x=names,
        y=totals,
        mode="text",
        showlegend=False,
        textposition="top center",
        text=[tr("{macs:.0f} M MACs").format(macs=r["macs"] / 1e6) for r in rows],
        hoverinfo="skip",
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text=tr("roofline time (ms)"), range=[0, 1.15 * max(totals)])
    fig.update_xaxes(title_text=tr("network"), tickangle=-30)
    apply_theme(fig, tr("MACs are not latency: roofline time by layer kind (labels: MACs)"), 500)
    fig.update_layout(margin=dict(t=110))
    return fig


def g1_figure(
    curve: list, bound: float, chosen: tuple[float, float] | None = None, tr: Translate = same
) -> go.Figure:
    """ShuffleNet V2 G1: memory access cost vs c1/c2 at fixed FLOPs; minimum at c1 = c2."""
    fig = go.Figure()
    fig.add_scatter(
        x=[p.ratio for p in curve],
        y=[p.mac / 1e6 for p in curve],
        mode="lines",
        name="MAC = hw(c1+c2) + c1·c2",
        line=dict(color=SEQUENCE[0], width=3),
        text=[f"c1={p.c1:.0f}, c2={p.c2:.0f}" for p in curve],
        hovertemplate="c1/c2 = %{x:.3g}<br>%{text}<br>%{y:.3g} M<extra></extra>",
    )
    fig.add_scatter(
        x=[curve[0].ratio, curve[-1].ratio],
        y=[bound / 1e6] * 2,
        mode="lines",
        name=tr("bound 2√(hwB) + B/hw"),
        line=dict(color=OKABE_ITO["grey"], dash="dash"),
    )
    if chosen is not None:
        fig.add_scatter(
            x=[chosen[0]],
            y=[chosen[1] / 1e6],
            mode="markers",
            name=tr("your layer"),
            marker=dict(color=MEANING["highlight"], size=14, symbol="x"),
        )
    fig.update_xaxes(type="log", title=tr("c1 / c2 (input / output channels, log)"))
    fig.update_yaxes(title=tr("memory access cost (M elements)"))
    return apply_theme(fig, tr("G1: equal channel widths minimise memory access (FLOPs fixed)"), 420)


def sweep_figure(rows: list, tr: Translate = same) -> go.Figure:
    """MobileNetV1 Tables 6/7: engine MACs vs the paper, against α²ρ²."""
    x = [r.alpha**2 * (r.resolution / 224) ** 2 for r in rows]
    label = [f"α={r.alpha:g}, {r.resolution}" for r in rows]
    fig = go.Figure()
    fig.add_scatter(
        x=x,
        y=[r.macs / 1e6 for r in rows],
        mode="markers+text",
        name=tr("engine"),
        text=label,
        textposition="top left",
        marker=dict(size=12, color=SEQUENCE[0]),
    )
    fig.add_scatter(
        x=x,
        y=[r.paper_macs_m for r in rows],
        mode="markers",
        name=tr("paper"),
        marker=dict(size=16, symbol="circle-open", color="black", line=dict(width=2)),
    )
    fig.add_scatter(
        x=[0, 1],
        y=[0, rows[0].macs / 1e6],
        mode="lines",
        name="∝ α²ρ²",
        line=dict(dash="dot", color=OKABE_ITO["grey"]),
    )
    fig.update_xaxes(title=tr("α² ρ² (relative to 1.0-224)"), range=[-0.12, 1.08])
    fig.update_yaxes(title=tr("millions of multiply-adds"))
    return apply_theme(fig, tr("MobileNetV1 width and resolution multipliers (Tables 6 and 7)"), 420)


def paper_badge(cost, tr: Translate = same) -> tuple[str, str]:
    """The "matches <source>" badge text (with the differences) and its colour for one network."""
    paper = cost.paper
    text = f"{paper.source}: {paper.params_m} M params ({pct(cost.params_diff)})"
    if paper.macs_m is not None:
        text += f", {paper.macs_m} M MACs ({pct(cost.macs_diff)})"
    if cost.matches:
        return tr("matches {paper}").format(paper=text), "green"
    return tr("differs from {paper}").format(paper=text), "orange"


def roles_text(parts: dict[str, int], tr: Translate = same) -> str:
    """ "Parameters by role: ..." caption."""
    return tr("Parameters by role: {parts}").format(
        parts=", ".join(f"{tr(k)} {v:,}" for k, v in parts.items() if v)
    )


def block_graph_figure(graph, costs, title: str, tr: Translate = same) -> go.Figure:
    """:func:`viz.graph.graph_figure` of one block, its legend moved under the drawing so the
    title stays readable in a narrow column."""
    from .graph import graph_figure

    fig = graph_figure(graph, costs=costs, title=title, tr=tr)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0))
    return fig


# -- the model zoo lab ---------------------------------------------------------------------------------
def zoo_badge(cost, tr: Translate = same) -> tuple[str, str]:
    """ "matches <source>" (green) or "differs from <source>" (orange) for a zoo network, with the
    differences; where the authors' released code was counted too, its exact parameter count."""
    paper = cost.paper
    parts = [paper.source + ":"]
    if cost.params_diff is not None:
        parts.append(f"{paper.params_m} M params ({pct(cost.params_diff)})")
    if cost.macs_diff is not None:
        parts.append(f"{paper.macs_m:g} M MACs @{paper.resolution} ({pct(cost.macs_diff)})")
    text = " ".join(parts)
    if cost.oracle is not None:
        text += "; " + tr("released code: {n:,} params ({same})").format(
            n=cost.oracle, same=tr("equal") if cost.oracle == cost.params else tr("not equal")
        )
    if cost.matches:
        return tr("matches {paper}").format(paper=text), "green"
    return tr("differs from {paper}").format(paper=text), "orange"


def stage_figure(stages: list, title: str, tr: Translate = same) -> go.Figure:
    """MACs and parameters per stage (output stride), side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("MACs (M multiply-adds)"), tr("Parameters (M)")))
    names = [tr("head") if s.stage == "head" else s.stage for s in stages]
    for col, key, color in ((1, "macs", SEQUENCE[1]), (2, "params", SEQUENCE[0])):
        vals = [getattr(s, key) / 1e6 for s in stages]
        fig.add_bar(
            x=names,
            y=vals,
            row=1,
            col=col,
            marker_color=color,
            text=[f"{v:.3g}" for v in vals],
            textposition="outside",
            showlegend=False,
        )
        fig.update_yaxes(range=[0, 1.2 * max(vals + [1e-9])], row=1, col=col)
    fig.update_xaxes(title_text=tr("stage (output stride of the feature map)"))
    fig.update_yaxes(title_text=tr("millions"), row=1, col=1)
    return apply_theme(fig, title, 380)


def shuffle_figure(steps: list, groups: int, tr: Translate = same) -> go.Figure:
    """Channel shuffle: coloured channels before (top) and after (bottom), a line per channel."""
    before, after = steps[0][1], steps[-1][1]
    c = len(before)
    per = c // groups
    colors = [SEQUENCE[(int(i) // per) % len(SEQUENCE)] for i in range(c)]
    fig = go.Figure()
    where = {int(ch): pos for pos, ch in enumerate(after)}
    xs, ys = [], []
    for ch in range(c):
        xs += [ch, where[ch], None]
        ys += [1, 0, None]
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="lines",
        line=dict(color=OKABE_ITO["grey"], width=1),
        hoverinfo="skip",
        showlegend=False,
    )
    for y, order, label in ((1, before, tr("before: groups side by side")), (0, after, tr("after shuffle"))):
        fig.add_scatter(
            x=list(range(c)),
            y=[y] * c,
            mode="markers",
            name=label,
            marker=dict(
                symbol="square", size=max(6, min(18, 600 // c)), color=[colors[int(i)] for i in order]
            ),
            text=[f"channel {int(i)}" for i in order],
            hovertemplate="%{text}<extra></extra>",
        )
    fig.update_yaxes(
        tickvals=[0, 1], ticktext=[tr("after"), tr("before")], range=[-0.4, 1.4], title_text=tr("layout")
    )
    fig.update_xaxes(title_text=tr("channel position"))
    title = tr("Channel shuffle, g = {g}: reshape (g, C/g) → transpose → flatten").format(g=groups)
    fig = apply_theme(fig, title, 300)
    fig.update_layout(showlegend=False)
    return fig


def trials_figure(trials: list, title: str, tr: Translate = same) -> go.Figure:
    """A guideline experiment: measured time (left) and memory traffic (right) per variant, MACs in
    the hover text (equal, or nearly, by construction)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr("measured time (ms)"), tr("memory traffic (MB)")))
    labels = each(tr, [t.label for t in trials])
    hover = [f"{t.macs / 1e6:.1f} M MACs" for t in trials]
    fig.add_bar(
        x=labels,
        y=[t.ms for t in trials],
        row=1,
        col=1,
        marker_color=SEQUENCE[1],
        hovertext=hover,
        showlegend=False,
        texttemplate="%{y:.1f}",
        textposition="outside",
    )
    fig.add_bar(
        x=labels,
        y=[t.bytes / 1e6 for t in trials],
        row=1,
        col=2,
        marker_color=SEQUENCE[0],
        hovertext=hover,
        showlegend=False,
        texttemplate="%{y:.1f}",
        textposition="outside",
    )
    fig.update_yaxes(title_text=tr("ms (fastest of the runs)"), row=1, col=1)
    fig.update_yaxes(title_text=tr("MB read + written (fp32)"), row=1, col=2)
    fig.update_xaxes(title_text=tr("variant"), tickangle=-25)
    return apply_theme(fig, title, 400)


def compound_figure(rows: list, scaled=None, tr: Translate = same) -> go.Figure:
    """B0–B7: MACs relative to B0, counted vs the paper's and vs (α·β²·γ²)^φ and 2^φ."""
    b0 = rows[0].macs
    phis = [r.phi for r in rows]
    fig = go.Figure()
    fig.add_scatter(
        x=phis,
        y=[r.macs / b0 for r in rows],
        mode="markers+lines",
        name=tr("engine (B0–B7)"),
        text=[r.name for r in rows],
        marker=dict(size=11, color=SEQUENCE[0]),
    )
    fig.add_scatter(
        x=phis,
        y=[r.paper_macs_m / rows[0].paper_macs_m for r in rows],
        mode="markers",
        name=tr("paper Table 2"),
        marker=dict(size=15, symbol="circle-open", color="black"),
    )
    fig.add_scatter(
        x=phis,
        y=[r.rule for r in rows],
        mode="lines",
        name="(α·β²·γ²)^φ",
        line=dict(dash="dash", color=OKABE_ITO["orange"]),
    )
    fig.add_scatter(
        x=phis,
        y=[2.0**p for p in phis],
        mode="lines",
        name="2^φ",
        line=dict(dash="dot", color=OKABE_ITO["grey"]),
    )
    if scaled is not None:
        fig.add_scatter(
            x=[scaled.compound.phi],
            y=[scaled.growth],
            mode="markers",
            name=tr("your scaling"),
            marker=dict(size=16, symbol="x", color=MEANING["highlight"]),
        )
    fig.update_yaxes(type="log", title_text=tr("MACs relative to B0 (log)"))
    fig.update_xaxes(title_text=tr("φ (B0 … B7)"))
    return apply_theme(fig, tr("Compound scaling: every step of φ about doubles the FLOPs"), 420)


def attention_figure(costs: list, tr: Translate = same) -> go.Figure:
    """Token-mixing MACs vs sequence length: MHSA (quadratic) vs separable attention (linear)."""
    n = [c.tokens for c in costs]
    fig = go.Figure()
    fig.add_scatter(
        x=n,
        y=[c.mhsa_macs for c in costs],
        mode="lines+markers",
        name=tr("MHSA (MobileViT v1)"),
        line=dict(color=OKABE_ITO["vermillion"]),
    )
    fig.add_scatter(
        x=n,
        y=[c.separable_macs for c in costs],
        mode="lines+markers",
        name=tr("separable (MobileViT v2)"),
        line=dict(color=SEQUENCE[0]),
    )
    fig.update_xaxes(type="log", title_text=tr("tokens N (log)"))
    fig.update_yaxes(type="log", title_text=tr("multiply-adds of token mixing (log)"))
    return apply_theme(fig, tr("Attention cost: O(N²·d) vs O(N·d)"), 380)


def mqa_figure(traffic: list, tr: Translate = same) -> go.Figure:
    """Bytes one attention layer moves: multi-head vs Mobile MQA (shared key and value)."""
    h = [t.heads for t in traffic]
    fig = go.Figure()
    fig.add_scatter(
        x=h,
        y=[t.mha_bytes / 1e6 for t in traffic],
        mode="lines+markers",
        name=tr("multi-head"),
        line=dict(color=OKABE_ITO["vermillion"]),
    )
    fig.add_scatter(
        x=h,
        y=[t.mqa_bytes / 1e6 for t in traffic],
        mode="lines+markers",
        name="Mobile MQA",
        line=dict(color=SEQUENCE[0]),
    )
    fig.update_xaxes(type="log", dtick=0.30103, title_text=tr("heads"))
    fig.update_yaxes(title_text=tr("MB moved (fp32)"))
    return apply_theme(fig, tr("Same MACs, less memory traffic: one key and value for all heads"), 380)


def comparison_figure(rows: list, tr: Translate = same) -> go.Figure:
    """Published top-1 vs counted MACs, bubble area ∝ parameters, one colour per family."""
    fams = list(dict.fromkeys(r.family for r in rows))
    fig = go.Figure()
    for i, fam in enumerate(fams):
        sel = [r for r in rows if r.family == fam]
        fig.add_scatter(
            x=[r.macs / 1e6 for r in sel],
            y=[r.top1 for r in sel],
            mode="markers",
            name=fam,
            text=[f"{r.name} @{r.resolution}: {r.params / 1e6:.2f} M params ({r.source})" for r in sel],
            marker=dict(
                size=[6 + 3 * math.sqrt(r.params / 1e6) for r in sel],
                color=SEQUENCE[i % len(SEQUENCE)],
                line=dict(color="white", width=1),
            ),
            hovertemplate="%{text}<br>%{x:.0f} M MACs, %{y}%<extra></extra>",
        )
    fig.update_xaxes(type="log", title_text=tr("MACs at the paper's resolution (M, log)"))
    fig.update_yaxes(title_text=tr("published ImageNet top-1 (%)"))
    return apply_theme(fig, tr("Every family: accuracy vs MACs (bubble area ∝ parameters)"), 480)
