"""Figures for the kernels lab: layouts (one tensor, and a whole graph in each layout), convolution,
GEMM + cache, roofline, flash attention.

Every function takes engine data and returns a plotly Figure with a title and labelled axes (except
:func:`layout_rows`, a table's rows); ``tr`` draws each fixed word in the view's language (see
:mod:`viz.words`).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme
from .words import Translate, same

PAD_COLOR = "#DDDDDD"


# ---------------------------------------------------------------- layouts
def _grid_2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """Show any tensor as (product of leading dims) x (last dim)."""
    cols = shape[-1]
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1, cols


def address_grid(shape, order: np.ndarray, upto: int, title: str, tr: Translate = same):
    """The logical tensor as a grid; each cell shows its address. Cells stored at addresses < upto
    are coloured by address, the rest grey: stepping ``upto`` animates the memory walk."""
    rows, cols = _grid_2d(shape)
    addr_of = np.full(rows * cols, -1)
    logical = order[order >= 0]
    addr_of[logical] = np.flatnonzero(order >= 0)
    grid = addr_of.reshape(rows, cols).astype(float)
    text = [[str(int(v)) for v in row] for row in grid]
    hover = tr("row %{y}, col %{x}: address %{text}") + "<extra></extra>"
    fig = go.Figure(
        go.Heatmap(
            z=np.ones_like(grid),
            showscale=False,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, PAD_COLOR], [1, PAD_COLOR]],
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=np.where(grid < upto, grid, np.nan),
            text=text,
            texttemplate="%{text}",
            colorscale="Viridis",
            zmin=0,
            zmax=max(len(order) - 1, 1),
            colorbar=dict(title=tr("address (elements)")),
            hoverongaps=False,
            hovertemplate=hover,
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("leading index (flattened)"))
    fig.update_xaxes(title=tr("last dimension index (size {size})").format(size=shape[-1]))
    return apply_theme(fig, title, height=max(260, min(560, 40 * rows + 120)))


def memory_strip(
    shape,
    order: np.ndarray,
    upto: int,
    title: str,
    color_dim: int = -1,
    width: int = 16,
    tr: Translate = same,
):
    """Memory as rows of ``width`` slots; slots at addresses < upto are coloured by a logical
    dimension's index (e.g. the channel), padding light grey, later slots dark grey. Labels give
    the logical index."""
    n = len(order)
    rows = math.ceil(n / width)
    dim = color_dim % len(shape)
    shown = [i for i, size in enumerate(shape) if size > 1] or [len(shape) - 1]  # size-1 dims say nothing
    z = np.full(rows * width, np.nan)
    labels = [""] * (rows * width)
    for a, k in enumerate(order):
        if k < 0:
            z[a], labels[a] = -1, tr("pad")
            continue
        idx = np.unravel_index(int(k), shape)
        z[a] = idx[dim] if a < upto else -2
        labels[a] = ",".join(str(int(idx[i])) for i in shown)
    zmax = max(shape[dim] - 1, 1)
    colors = [OKABE_ITO["grey"], PAD_COLOR] + [SEQUENCE[i % len(SEQUENCE)] for i in range(zmax + 1)]
    fig = go.Figure(
        go.Heatmap(
            z=z.reshape(rows, width),
            zmin=-2.5,
            zmax=zmax + 0.5,
            colorscale=_discrete_scale(zmax + 3, colors),
            text=np.array(labels).reshape(rows, width),
            texttemplate="%{text}" if n <= 512 else "",
            textfont=dict(size=9),
            hovertemplate=tr("address %{customdata}: %{text}") + "<extra></extra>",
            customdata=np.arange(rows * width).reshape(rows, width),
            showscale=False,
            hoverongaps=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("address ÷ {width} (elements)").format(width=width))
    fig.update_xaxes(
        title=tr("address mod {width} (colour = index of dimension {dim})").format(width=width, dim=dim)
    )
    return apply_theme(fig, title, height=max(220, min(560, 28 * rows + 140)))


def _discrete_scale(k: int, colors: list[str]) -> list:
    """A plotly colourscale with ``k`` equal bands."""
    out = []
    for i, c in enumerate(colors[:k]):
        out += [[i / k, c], [(i + 1) / k, c]]
    return out


def numpy_badge(ref: tuple, ok: bool, tr: Translate = same) -> str:
    """The layout page's 'matches numpy' line (``ok``: our strides equal numpy's ``ref``)."""
    if ok:
        return tr(
            "Matches numpy: an int8 array stored this way reports strides {ref} (difference: none)."
        ).format(ref=ref)
    return tr("Differs from numpy, which reports strides {ref}.").format(ref=ref)


# ---------------------------------------------------------------- a whole graph in each layout
def layout_overhead_figure(layouts, title: str | None = None, tr: Translate = same):
    """Padding bytes of a whole graph (``engine.graph_layouts``) per layout: one bar per layout,
    its text the share of the graph's logical bytes it adds."""
    logical = max(layouts.logical_bytes, 1)
    fig = go.Figure(
        go.Bar(
            x=list(layouts.layouts),
            y=list(layouts.overhead_bytes),
            text=[f"+{100 * b / logical:.1f} %" for b in layouts.overhead_bytes],
            textposition="outside",
            marker_color=[
                OKABE_ITO["grey"] if b == 0 else MEANING["memory_bound"] for b in layouts.overhead_bytes
            ],
            hovertemplate=tr("%{x}: %{y:,} padding bytes") + "<extra></extra>",
        )
    )
    fig.update_xaxes(title=tr("layout"))
    fig.update_yaxes(title=tr("padding over the graph (bytes)"), rangemode="tozero")
    return apply_theme(fig, title or tr("Padding each layout adds to the graph"), height=360)


def layout_rows(layouts, tr: Translate = same, message: Translate = same) -> list[dict]:
    """``GraphLayouts.rows()`` with headers in the view's language (the numbers as the engine gives
    them); ``message`` translates the engine's sentence on how each tensor's rank is read."""
    words = {
        "tensor": tr("tensor"),
        "role": tr("role"),
        "shape": tr("shape"),
        "dtype": tr("dtype"),
        "elements": tr("elements"),
        "rule": tr("how its rank is read"),
    }

    def head(key: str) -> str:
        lay, _, rest = key.partition(" ")
        if lay in layouts.layouts:
            return (tr("{layout} slots") if rest == "slots" else tr("{layout} padding (%)")).format(
                layout=lay
            )
        return words.get(key, key)

    rows = []
    for row in layouts.rows():
        row = {**row, "role": tr(row["role"]), "rule": message(row["rule"])}
        rows.append({head(k): v for k, v in row.items()})
    return rows


# ---------------------------------------------------------------- convolution
def im2col_heatmap(cols: np.ndarray, kh: int, kw: int, title: str | None = None, tr: Translate = same):
    fig = go.Figure(go.Heatmap(z=cols, colorscale="RdBu", zmid=0, colorbar=dict(title=tr("value"))))
    fig.update_yaxes(
        autorange="reversed", title=tr("row = (channel, kh, kw): C×{kh}×{kw} rows").format(kh=kh, kw=kw)
    )
    fig.update_xaxes(title=tr("column = output pixel"))
    return apply_theme(
        fig,
        title or tr("im2col: the unrolled input ({v2} × {v3})").format(v2=cols.shape[0], v3=cols.shape[1]),
    )


def conv_cost_bars(rows: list, title: str | None = None, tr: Translate = same):
    names = [r.algorithm for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=names, y=[r.multiplies for r in rows], name=tr("multiplies"), marker_color=MEANING["compute"]
    )
    fig.add_bar(
        x=names,
        y=[r.extra_bytes / 4 for r in rows],
        name=tr("extra memory (fp32 elements)"),
        marker_color=MEANING["transfer"],
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=tr("count (multiplies or elements)"))
    fig.update_xaxes(title=tr("algorithm"))
    return apply_theme(fig, title or tr("Multiplies and workspace per algorithm"))


def matrix_table_fig(matrix: np.ndarray, title: str, tr: Translate = same):
    fig = go.Figure(
        go.Heatmap(
            z=matrix, text=matrix, texttemplate="%{text:.2g}", colorscale="RdBu", zmid=0, showscale=False
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("row"), dtick=1)
    fig.update_xaxes(title=tr("column"), dtick=1)
    return apply_theme(fig, title, height=260)


# ---------------------------------------------------------------- GEMM + cache
def misses_by_order(rows: list[dict], title: str | None = None, tr: Translate = same):
    fig = go.Figure(
        go.Bar(
            x=[r["order"] for r in rows],
            y=[r["misses"] for r in rows],
            marker_color=[
                MEANING["highlight"] if r["misses"] == max(x["misses"] for x in rows) else MEANING["compute"]
                for r in rows
            ],
            text=[tr("{rate:.0%} hits").format(rate=r["hit_rate"]) for r in rows],
            textposition="outside",
            textangle=0,
        )
    )
    fig.update_xaxes(title=tr("loop order (outermost first)"))
    top = max((r["misses"] for r in rows), default=1)
    low = min((r["misses"] for r in rows), default=1)
    fig.update_yaxes(
        title=tr("cache misses (count, log)"),
        type="log",
        dtick=1,
        range=[max(0.0, math.floor(math.log10(max(low, 1))) - 0.3), math.log10(max(top, 1)) + 0.4],
    )  # decades only; room for the labels
    return apply_theme(fig, title or tr("Cache misses for each of the six loop orders"))


def misses_by_tile(rows: list[dict], title: str | None = None, tr: Translate = same):
    xs = [str(r["tile"]) if r["tile"] else tr("untiled") for r in rows]
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=[r["misses"] for r in rows],
        mode="lines+markers",
        name=tr("misses"),
        marker_color=MEANING["compute"],
    )
    fig.add_scatter(
        x=xs,
        y=[r["intensity"] for r in rows],
        mode="lines+markers",
        name=tr("arithmetic intensity (FLOP/B)"),
        yaxis="y2",
        marker_color=MEANING["memory_bound"],
    )
    fig.update_layout(
        yaxis=dict(title=tr("cache misses (count, log)"), type="log", dtick=1),
        yaxis2=dict(
            title=tr("FLOP per byte of memory traffic"),
            overlaying="y",
            side="right",
            type="log",
            dtick=1,
            showgrid=False,
        ),
    )
    fig.update_xaxes(title=tr("tile size (elements per side, square tiles)"), type="category")
    apply_theme(fig, title or tr("Misses and arithmetic intensity vs tile size"))
    fig.update_layout(margin=dict(t=90, r=70))
    return fig


def misses_by_array(stats, title: str | None = None, tr: Translate = same):
    names = [a for a, _ in stats.misses_by_array]
    fig = go.Figure(
        go.Bar(x=names, y=[m for _, m in stats.misses_by_array], marker_color=SEQUENCE[: len(names)])
    )
    fig.update_xaxes(title=tr("matrix"))
    fig.update_yaxes(title=tr("cache misses (count)"))
    return apply_theme(fig, title or tr("Which matrix misses"), height=300)


# ---------------------------------------------------------------- roofline
def roofline_figure(
    peak: float, bandwidth: float, points: list, hw_name: str, title: str | None = None, tr: Translate = same
):
    """Log-log roofline: the slanted memory roof, the flat compute roof, the ridge point, and one
    marker per kernel coloured memory- or compute-bound (a graph's layers, kind "layer", as diamonds)."""
    ridge = peak / bandwidth
    ais = [p.intensity for p in points if p.intensity > 0 and math.isfinite(p.intensity)]
    lo = min([ridge / 100, *ais]) / 2
    hi = max([ridge * 100, *ais]) * 2
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=np.minimum(peak, xs * bandwidth) / 1e12,
        mode="lines",
        name=tr("{hw} roof").format(hw=hw_name),
        line=dict(color="black", width=3),
    )
    # a scatter line, not add_vline: annotations on log axes take log10 coordinates
    y_lo = min(peak, lo * bandwidth) / 1e12
    fig.add_scatter(
        x=[ridge, ridge],
        y=[y_lo, peak / 1e12],
        mode="lines+text",
        text=[tr("ridge {ridge:.3g} FLOP/B").format(ridge=ridge), ""],
        textposition="top right",
        line=dict(dash="dash", color=OKABE_ITO["grey"]),
        name=tr("ridge point"),
    )
    hover = tr("%{text}<br>AI %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s") + "<extra></extra>"
    for kind, color in (
        ("memory_bound", MEANING["memory_bound"]),
        ("compute_bound", MEANING["compute_bound"]),
    ):
        for layers in (False, True):  # a graph's layers (kind "layer") as diamonds, in their own legend entry
            sel = [
                p
                for p in points
                if (p.intensity >= ridge) == (kind == "compute_bound") and (p.kind == "layer") == layers
            ]
            if not sel:
                continue
            name = tr("memory-bound") if kind == "memory_bound" else tr("compute-bound")
            fig.add_scatter(
                x=[p.intensity for p in sel],
                y=[min(peak, p.intensity * bandwidth) / 1e12 for p in sel],
                mode="markers",
                text=[p.name for p in sel],
                name=tr("{bound}: a layer of the graph").format(bound=name) if layers else name,
                marker=dict(
                    color=color,
                    size=12 if layers else 11,
                    symbol="diamond" if layers else "circle",
                    line=dict(color="white", width=1),
                ),
                hovertemplate=hover,
            )
    fig.update_xaxes(
        type="log", dtick=1, title=tr("arithmetic intensity (FLOP per byte of DRAM/HBM traffic)")
    )
    fig.update_yaxes(type="log", dtick=1, title=tr("attainable TFLOP/s"))
    return apply_theme(fig, title or tr("Roofline: {hw_name}").format(hw_name=hw_name), height=480)


# ---------------------------------------------------------------- flash attention
def flash_block_grid(
    q_blocks: int, kv_blocks: int, step, n_done: int, title: str | None = None, tr: Translate = same
):
    """The Tr x Tc grid of S blocks (``q_blocks`` x ``kv_blocks``): done, current, not yet."""
    z = np.zeros((q_blocks, kv_blocks))
    flat = [(j, i) for j in range(kv_blocks) for i in range(q_blocks)]
    for j, i in flat[:n_done]:
        z[i, j] = 1
    z[step.i, step.j] = 2
    fig = go.Figure(
        go.Heatmap(
            z=z,
            zmin=0,
            zmax=2,
            showscale=False,
            xgap=2,
            ygap=2,
            colorscale=_discrete_scale(3, [PAD_COLOR, MEANING["compute"], MEANING["highlight"]]),
            hovertemplate=tr("Q block %{y}, K/V block %{x}") + "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title=tr("Q block i (rows of S)"))
    fig.update_xaxes(title=tr("K/V block j (outer loop)"))
    return apply_theme(fig, title or tr("Blocks of S = QKᵀ computed on chip (red: this step)"), height=360)


def flash_running_stats(step, title: str | None = None, tr: Translate = same):
    rows = list(range(*step.q_rows))
    fig = go.Figure()
    fig.add_bar(x=rows, y=step.m_old, name=tr("m before"), marker_color=PAD_COLOR)
    fig.add_bar(x=rows, y=step.m_new, name=tr("m after (running max)"), marker_color=MEANING["compute"])
    fig.add_scatter(
        x=rows,
        y=step.rescale,
        name=tr("rescale e^(m_old − m_new)"),
        mode="markers+lines",
        yaxis="y2",
        marker_color=MEANING["highlight"],
    )
    fig.update_layout(
        barmode="group",
        yaxis=dict(title=tr("running max of scores (logit units)")),
        yaxis2=dict(
            title=tr("rescale factor (0–1)"),
            overlaying="y",
            side="right",
            range=[0, 1.05],
            dtick=0.25,
            showgrid=False,
        ),
    )
    fig.update_xaxes(title=tr("query row (index)"))
    apply_theme(fig, title or tr("Online softmax: running max and rescaling of this Q block"), height=380)
    fig.update_layout(margin=dict(t=60, r=70, b=110), legend=dict(y=-0.3, yanchor="top"))
    return fig


def hbm_traffic(rows: list[dict], x: str, title: str, tr: Translate = same, x_title: str | None = None):
    xs = [r[x] for r in rows]
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=[r["standard"] for r in rows],
        name=tr("standard attention"),
        mode="lines+markers",
        marker_color=MEANING["memory_bound"],
    )
    fig.add_scatter(
        x=xs,
        y=[r["flash"] for r in rows],
        name=tr("FlashAttention (Alg. 1)"),
        mode="lines+markers",
        marker_color=MEANING["compute"],
    )
    fig.add_scatter(
        x=xs,
        y=[r["bound"] for r in rows],
        name=tr("N²d²/M (paper's bound)"),
        mode="lines",
        line=dict(dash="dot", color=OKABE_ITO["grey"]),
    )
    fig.update_xaxes(type="log", title=x_title or x, tickvals=xs, ticktext=[f"{v:,}" for v in xs])
    fig.update_yaxes(type="log", dtick=1, title=tr("HBM accesses (elements, log)"))
    return apply_theme(fig, title)
