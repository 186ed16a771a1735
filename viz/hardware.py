"""Figures for the hardware lab: lanes per cycle, coalescing, bank conflicts, occupancy curves, the
DaVinci block diagram and pipeline, and the systolic array's data waves.

Every builder takes ``tr`` (see :mod:`viz.words`) and draws its fixed words through it."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from engine.core.trace import Timeline

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .timeline import gantt
from .words import Translate, same


def limit_labels(tr: Translate = same) -> dict[str, str]:
    """The resource each occupancy limiter stands for, in the view's language."""
    return {
        "warps": tr("warp slots"),
        "blocks": tr("block slots"),
        "registers": tr("registers"),
        "shared_memory": tr("shared memory"),
    }


LIMIT_COLORS = {
    "warps": OKABE_ITO["blue"],
    "blocks": OKABE_ITO["orange"],
    "registers": OKABE_ITO["vermillion"],
    "shared_memory": OKABE_ITO["green"],
}


def lanes_heatmap(
    run, title: str, max_cycles: int = 120, current: int | None = None, tr: Translate = same
) -> go.Figure:
    """Cycles (rows) × lanes (columns): busy lanes coloured, idle (masked) lanes grey; the stepper's
    ``current`` cycle is outlined."""
    lanes = run.lanes[:max_cycles]
    labels = list(run.labels[:max_cycles])
    fig = go.Figure(
        go.Heatmap(
            z=lanes,
            x=list(range(run.width)),
            y=list(range(lanes.shape[0])),
            colorscale=[[0, MEANING["idle"]], [1, MEANING["compute"]]],
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=1,
            ygap=1,
            customdata=np.array(labels)[:, None].repeat(run.width, axis=1),
            hovertemplate=tr("cycle {cycle}, lane {lane}").format(cycle="%{y}", lane="%{x}")
            + "<br>%{customdata}<extra></extra>",
        )
    )
    if current is not None and 0 <= current < lanes.shape[0]:
        fig.add_shape(
            type="rect",
            x0=-0.5,
            x1=run.width - 0.5,
            y0=current - 0.5,
            y1=current + 0.5,
            line=dict(color="black", width=3),
        )
    fig.update_yaxes(title=tr("cycle"), autorange="reversed")
    fig.update_xaxes(title=tr("lane (index)"))
    return apply_theme(fig, title, height=min(700, 200 + 8 * lanes.shape[0]))


def utilization_bars(runs, title: str, tr: Translate = same) -> go.Figure:
    """Cycles and lane utilisation of each execution model."""
    names = [r.model for r in runs]
    fig = go.Figure()
    fig.add_bar(
        x=names,
        y=[100 * r.utilization for r in runs],
        name=tr("lane utilisation (%)"),
        marker_color=MEANING["compute"],
        text=[tr("{n} cycles").format(n=r.cycles) for r in runs],
        textposition="outside",
    )
    fig.update_yaxes(title=tr("lane utilisation (%)"), range=[0, 115])
    fig.update_xaxes(title=tr("execution model"))
    return apply_theme(fig, title)


def _pattern(pattern: str, tr: Translate) -> str:
    """An access pattern's name ("stride 4", "random") in the view's language."""
    if pattern == "random":
        return tr("random")
    kind, _, n = pattern.partition(" ")
    return tr("stride {n}").format(n=n) if kind == "stride" else pattern


def coalescing_chart(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """32-byte sectors and 128-byte lines per warp load, per access pattern; efficiency on the right."""
    x = [_pattern(r["pattern"], tr) for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=x, y=[r["sectors"] for r in rows], name=tr("32-byte sectors"), marker_color=MEANING["memory_bound"]
    )
    fig.add_bar(
        x=x, y=[r["lines"] for r in rows], name=tr("128-byte lines"), marker_color=OKABE_ITO["orange"]
    )
    fig.add_scatter(
        x=x,
        y=[100 * r["efficiency"] for r in rows],
        mode="lines+markers",
        name=tr("efficiency (%)"),
        yaxis="y2",
        line=dict(color="black", dash="dot"),
        marker=dict(color="black", symbol="diamond", size=9),
        hovertemplate=tr("{pct}% of fetched bytes used").format(pct="%{y:.1f}") + "<extra></extra>",
    )
    fig.update_yaxes(title=tr("transactions per warp (count)"))
    fig.update_xaxes(title=tr("access pattern (stride in elements)"))
    fig.update_layout(
        barmode="group",
        yaxis2=dict(
            title=tr("efficiency (% of fetched bytes used)"),
            overlaying="y",
            side="right",
            range=[0, 105],
            tickmode="linear",
            dtick=20,
            showgrid=False,
        ),
    )
    fig = apply_theme(fig, title)
    fig.update_layout(margin=dict(r=70))
    return fig


def bank_picture(bank_of_lane, per_bank, title: str, tr: Translate = same) -> go.Figure:
    """How many distinct words queue on each of the 32 banks (hover: which lanes hit it)."""
    lanes_of = {b: [] for b in range(len(per_bank))}
    for lane, bank in enumerate(bank_of_lane):
        lanes_of[int(bank)].append(lane)
    worst = max(per_bank)
    fig = go.Figure(
        go.Bar(
            x=list(range(len(per_bank))),
            y=per_bank,
            name=tr("distinct words in bank"),
            marker_color=[
                MEANING["highlight"] if v == worst and v > 1 else MEANING["compute"] for v in per_bank
            ],
            hovertext=[
                tr("bank {bank}: lanes {lanes}").format(bank=b, lanes=", ".join(map(str, lanes)) or "-")
                for b, lanes in lanes_of.items()
            ],
            hoverinfo="text",
        )
    )
    fig.update_xaxes(title=tr("shared-memory bank (0–31)"), dtick=4)
    fig.update_yaxes(
        title=tr("words served one after another (count)"), rangemode="tozero", dtick=max(1, int(worst) // 8)
    )
    return apply_theme(fig, title, height=340)


def occupancy_curve_fig(
    rows: list[dict], x: str, title: str, marker_x=None, tr: Translate = same
) -> go.Figure:
    """Occupancy vs block size or registers per thread; markers coloured by the binding limit."""
    labels = limit_labels(tr)
    xs = [r[x] for r in rows]
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=[100 * r["occupancy"] for r in rows],
            mode="lines",
            line=dict(color=OKABE_ITO["grey"]),
            showlegend=False,
        )
    )
    for lim, color in LIMIT_COLORS.items():
        pts = [r for r in rows if r["limiter"] == lim]
        if pts:
            fig.add_scatter(
                x=[r[x] for r in pts],
                y=[100 * r["occupancy"] for r in pts],
                mode="markers",
                name=tr("limited by {resource}").format(resource=labels[lim]),
                marker=dict(color=color, size=7),
            )
    if marker_x is not None:
        fig.add_vline(x=marker_x, line=dict(color="black", dash="dash"))
    fig.update_yaxes(title=tr("occupancy (% of max warps per SM)"), range=[0, 105])
    fig.update_xaxes(title=tr("threads per block") if x == "threads" else tr("registers per thread"))
    return apply_theme(fig, title)


def limiter_bars(result: dict, title: str, tr: Translate = same) -> go.Figure:
    """Blocks per SM each resource would allow; the smallest one binds."""
    keys = ["warps", "blocks", "registers", "shared_memory"]
    vals = [result[f"blocks_by_{k}"] for k in keys]
    labels = limit_labels(tr)
    fig = go.Figure(
        go.Bar(
            x=[labels[k] for k in keys],
            y=vals,
            marker_color=[LIMIT_COLORS[k] for k in keys],
            marker_line=dict(color=["black" if k == result["limiter"] else "white" for k in keys], width=3),
            text=vals,
            textposition="outside",
        )
    )
    fig.update_yaxes(title=tr("blocks per SM allowed (count)"), range=[0, max(vals) * 1.2 + 1])
    fig.update_xaxes(title=tr("resource"))
    return apply_theme(fig, title, height=360)


_BOXES = {  # name: (x0, y0, x1, y1, kind)
    "GM (HBM)": (0, 0, 1.4, 6, "grey"),
    "L1 Buffer": (2.2, 3.5, 4.0, 5.5, "sky"),
    "L0A": (5.0, 4.6, 6.2, 5.5, "sky"),
    "L0B": (5.0, 3.5, 6.2, 4.4, "sky"),
    "Cube 16×16×16": (7.0, 3.5, 8.8, 5.5, "vermillion"),
    "L0C": (9.6, 3.5, 10.8, 5.5, "sky"),
    "Unified Buffer": (5.0, 0.6, 7.0, 2.2, "sky"),
    "Vector": (7.8, 0.6, 9.2, 2.2, "purple"),
    "Scalar": (9.8, 0.6, 10.8, 2.2, "orange"),
}
_ARROWS = [
    ((1.4, 4.5), (2.2, 4.5), "MTE2"),
    ((4.0, 5.0), (5.0, 5.0), "MTE1"),
    ((4.0, 4.0), (5.0, 4.0), "MTE1"),
    ((6.2, 5.0), (7.0, 5.0), ""),
    ((6.2, 4.0), (7.0, 4.0), ""),
    ((8.8, 4.5), (9.6, 4.5), ""),
    ((10.2, 3.5), (7.0, 2.0), "FixPipe"),
    ((7.0, 1.4), (7.8, 1.4), ""),
    ((5.0, 1.0), (1.4, 1.0), "MTE3"),
    ((1.4, 1.8), (5.0, 1.8), "MTE2"),
]


def davinci_diagram(
    title: str, highlight: str = "", sizes: dict | None = None, tr: Translate = same
) -> go.Figure:
    """Block diagram of one AI Core: buffers, compute units, and the engines that move data.

    ``highlight`` is a box's English name; unit names (L0A, Cube, MTE2 …) are drawn as they are."""
    fig = go.Figure()
    sizes = sizes or {}
    shown = {"L1 Buffer": tr("L1 Buffer"), "Unified Buffer": tr("Unified Buffer")}
    for name, (x0, y0, x1, y1, color) in _BOXES.items():
        key = {"L1 Buffer": "l1", "L0A": "l0a", "L0B": "l0b", "L0C": "l0c", "Unified Buffer": "ub"}.get(name)
        label = shown.get(name, name) + (f"<br>{sizes[key] // 1024} KB" if key in sizes else "")
        fig.add_shape(
            type="rect",
            x0=x0,
            y0=y0,
            x1=x1,
            y1=y1,
            fillcolor=OKABE_ITO[color],
            opacity=0.35,
            line=dict(color="black", width=3 if name == highlight else 1),
        )
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=label, showarrow=False)
    for (x0, y0), (x1, y1), label in _ARROWS:
        fig.add_annotation(
            x=x1,
            y=y1,
            ax=x0,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowwidth=2,
            text="",
        )
        if label:
            fig.add_annotation(
                x=(x0 + x1) / 2,
                y=(y0 + y1) / 2 + 0.25,
                text=f"<b>{label}</b>",
                showarrow=False,
                font=dict(color=OKABE_ITO["blue"]),
            )
    fig.update_xaxes(visible=False, range=[-0.2, 11], title="")
    fig.update_yaxes(visible=False, range=[0, 6.2], title="")
    return apply_theme(fig, title, height=380)


def davinci_gantt(timeline: Timeline, title: str, max_events: int = 600, tr: Translate = same) -> go.Figure:
    """Per-engine pipeline (MTE2 → MTE1 → Cube → FixPipe → MTE3) as a Gantt chart."""
    if len(timeline.events) > max_events:
        timeline = Timeline(timeline.events[:max_events], timeline.units, timeline.time_unit)
    fig = gantt(timeline, title, colors={"vector": OKABE_ITO["purple"]}, tr=tr)
    if timeline.time_unit == "cycles":  # the unit as a word, not the engine's unit name
        fig.update_xaxes(title=tr("time (cycles)"))
    return fig


def pe_heatmap(
    state, title: str, show: str = "acc", zmax: float | None = None, tr: Translate = same
) -> go.Figure:
    """The array in one cycle: grey = idle PE, colour = accumulator / partial sum, text = operands."""
    values = state.acc
    rows, cols = values.shape
    text = []
    for i in range(rows):
        row = []
        for j in range(cols):
            a, b = state.left[i, j], state.top[i, j]
            row.append(
                f"{'' if np.isnan(a) else f'{a:.0f}'}·{'' if np.isnan(b) else f'{b:.0f}'}"
                if state.active[i, j]
                else ""
            )
        text.append(row)
    xs, ys = list(range(cols)), list(range(rows))
    fig = go.Figure(
        go.Heatmap(
            z=np.zeros((rows, cols)),
            x=xs,
            y=ys,
            colorscale=[[0, MEANING["idle"]], [1, MEANING["idle"]]],
            showscale=False,
            xgap=2,
            ygap=2,
            hoverinfo="skip",
        )
    )
    active = np.where(state.active, values, np.nan)
    top = zmax if zmax is not None else float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig.add_heatmap(
        z=active,
        x=xs,
        y=ys,
        text=text,
        texttemplate="%{text}",
        colorscale="Blues",
        xgap=2,
        ygap=2,
        zmin=0,
        zmax=max(top, 1e-9),
        colorbar=dict(title=tr("partial sum")),
        hovertemplate="PE (%{y}, %{x}): %{z}<extra></extra>",
    )
    fig.update_yaxes(title=tr("PE row"), autorange="reversed", dtick=1)
    fig.update_xaxes(title=tr("PE column"), dtick=1)
    return apply_theme(fig, title, height=max(320, 60 + 40 * rows))


def active_pes_chart(
    active_counts, total_pes: int, current: int, title: str, tr: Translate = same
) -> go.Figure:
    """How many PEs do a MAC in each cycle: the fill and drain ramps of the wavefront."""
    fig = go.Figure(
        go.Scatter(
            y=active_counts,
            mode="lines",
            line=dict(color=MEANING["compute"]),
            fill="tozeroy",
            name=tr("active PEs"),
        )
    )
    fig.add_hline(y=total_pes, line=dict(dash="dot", color="black"))
    fig.add_vline(x=current, line=dict(color=MEANING["highlight"]))
    fig.update_xaxes(title=tr("cycle"))
    fig.update_yaxes(title=tr("PEs doing a MAC (count)"))
    return apply_theme(fig, title, height=300)


def dataflow_names(tr: Translate = same) -> dict[str, str]:
    """The three dataflows' names in the view's language."""
    return {"os": tr("output stationary"), "ws": tr("weight stationary"), "is": tr("input stationary")}


def dataflow_compare(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Cycles and utilisation of os / ws / is for one GEMM."""
    names = dataflow_names(tr)
    fig = go.Figure()
    fig.add_bar(
        x=[f"{names.get(r['dataflow'], r['dataflow'])} ({r['dataflow']})" for r in rows],
        y=[r["cycles"] for r in rows],
        name=tr("cycles"),
        marker_color=SEQUENCE[: len(rows)],
        text=[tr("{pct}% util").format(pct=f"{r['utilization']:.1f}") for r in rows],
        textposition="outside",
    )
    fig.update_yaxes(
        title=tr("cycles (stall-free)"), range=[0, 1.15 * max([r["cycles"] for r in rows] + [1])]
    )
    fig.update_xaxes(title=tr("dataflow"))
    return apply_theme(fig, title, height=360)


# ------------------------------------------------------------------ a whole graph on the hardware


def _by_layer(fig: go.Figure, names: list[str], tr: Translate) -> None:
    """Layers on a category axis in graph order (a node named "1" stays a name, not a number)."""
    fig.update_xaxes(
        title=tr("layer (graph order)"), type="category", categoryorder="array", categoryarray=names
    )


def _right_axis(fig: go.Figure, title: str) -> None:
    fig.update_layout(yaxis2=dict(title=title, overlaying="y", side="right", range=[0, 105], showgrid=False))


def systolic_layers_chart(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Cycles of every conv2d/matmul/gemm layer (bars) and its utilisation (diamonds, right axis)."""
    names = [r["layer"] for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=names,
        y=[r["layer cycles"] for r in rows],
        name=tr("cycles (stall-free)"),
        marker_color=MEANING["compute"],
        customdata=[[r["op"], r["M"], r["N"], r["K"], r["GEMMs"]] for r in rows],
        hovertemplate="%{x} (%{customdata[0]}): %{y:,} "
        + tr("cycles")
        + "<br>M×N×K = %{customdata[1]}×%{customdata[2]}×%{customdata[3]} ×%{customdata[4]}<extra></extra>",
    )
    fig.add_scatter(
        x=names,
        y=[r["utilisation (%)"] for r in rows],
        yaxis="y2",
        mode="markers",
        name=tr("utilisation (%)"),
        marker=dict(color="black", symbol="diamond", size=10),
        hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
    )
    fig.update_yaxes(title=tr("cycles (stall-free)"), rangemode="tozero")
    _by_layer(fig, names, tr)
    _right_axis(fig, tr("utilisation (%)"))
    fig = apply_theme(fig, title, height=400)
    fig.update_layout(margin=dict(r=70))
    return fig


def davinci_layers_chart(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Makespan of every layer with the Cube's busy cycles inside it; text = 16×16×16 fractal products."""
    names = [r["layer"] for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=names,
        y=[r["layer cycles"] for r in rows],
        name=tr("layer time (cycles)"),
        marker_color=MEANING["transfer"],
        text=[tr("{n} fractals").format(n=f"{r['fractal products']:,}") for r in rows],
        textposition="outside",
        hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
    )
    fig.add_bar(
        x=names,
        y=[r["Cube busy (cycles)"] for r in rows],
        name=tr("Cube busy (cycles)"),
        marker_color=MEANING["compute"],
        width=0.5,
        hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
    )
    top = max([r["layer cycles"] for r in rows] + [1])
    fig.update_yaxes(title=tr("time (cycles)"), range=[0, 1.15 * top])
    fig.update_layout(barmode="overlay")
    _by_layer(fig, names, tr)
    return apply_theme(fig, title, height=400)


def gpu_layers_chart(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Roofline time of every layer, coloured by what bounds it (memory or compute)."""
    names = [r["layer"] for r in rows]
    fig = go.Figure()
    for kind, color in (
        ("memory-bound", MEANING["memory_bound"]),
        ("compute-bound", MEANING["compute_bound"]),
    ):
        pick = [r for r in rows if r["bound"] == kind]
        if not pick:
            continue
        fig.add_bar(
            x=[r["layer"] for r in pick],
            y=[r["time (µs)"] for r in pick],
            name=tr(kind),
            marker_color=color,
            customdata=[[r["arithmetic intensity (FLOP/byte)"], r["attainable (TFLOP/s)"]] for r in pick],
            hovertemplate="%{x}: %{y:.3g} µs<br>"
            + tr("{ai} FLOP/byte, {tflops} TFLOP/s attainable").format(
                ai="%{customdata[0]:.1f}", tflops="%{customdata[1]:.1f}"
            )
            + "<extra></extra>",
        )
    fig.update_yaxes(title=tr("time (µs)"), rangemode="tozero")
    fig.update_layout(barmode="relative")
    _by_layer(fig, names, tr)
    return apply_theme(fig, title, height=400)


def lens_table(rows: list[dict], tr: Translate = same, message: Translate = same) -> list[dict]:
    """Layer rows (engine/hw/lab.py) for display: headers and words through ``tr``, the engine's
    GEMM-mapping sentence through ``message``; numbers kept."""
    words = {"bound"}
    return [
        {
            tr(k): message(v) if k == "GEMM mapping" else tr(v) if k in words and v else v
            for k, v in row.items()
        }
        for row in rows
    ]
