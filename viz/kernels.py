"""Figures for the kernels lab: layouts, convolution, GEMM + cache, roofline, flash attention.

Every function takes engine data and returns a plotly Figure with a title and labelled axes.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

PAD_COLOR = "#DDDDDD"


# ---------------------------------------------------------------- layouts
def _grid_2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """Show any tensor as (product of leading dims) x (last dim)."""
    cols = shape[-1]
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1, cols


def address_grid(shape, order: np.ndarray, upto: int, title: str):
    """The logical tensor as a grid; each cell shows its address. Cells stored at addresses < upto
    are coloured by address, the rest grey: stepping ``upto`` animates the memory walk."""
    rows, cols = _grid_2d(shape)
    addr_of = np.full(rows * cols, -1)
    logical = order[order >= 0]
    addr_of[logical] = np.flatnonzero(order >= 0)
    grid = addr_of.reshape(rows, cols).astype(float)
    text = [[str(int(v)) for v in row] for row in grid]
    fig = go.Figure(go.Heatmap(z=np.ones_like(grid), showscale=False, text=text,
                               texttemplate="%{text}", colorscale=[[0, PAD_COLOR], [1, PAD_COLOR]],
                               hovertemplate="row %{y}, col %{x}: address %{text}<extra></extra>"))
    fig.add_trace(go.Heatmap(z=np.where(grid < upto, grid, np.nan), text=text,
                             texttemplate="%{text}", colorscale="Viridis", zmin=0,
                             zmax=max(len(order) - 1, 1), colorbar=dict(title="address"),
                             hoverongaps=False,
                             hovertemplate="row %{y}, col %{x}: address %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="leading index (flattened)")
    fig.update_xaxes(title=f"last dimension (size {shape[-1]})")
    return apply_theme(fig, title, height=max(260, min(560, 40 * rows + 120)))


def memory_strip(shape, order: np.ndarray, upto: int, title: str, color_dim: int = -1,
                 width: int = 16):
    """Memory as rows of ``width`` slots; slots at addresses < upto are coloured by a logical
    dimension's index (e.g. the channel), padding light grey, later slots dark grey. Labels give
    the logical index."""
    n = len(order)
    rows = math.ceil(n / width)
    dim = color_dim % len(shape)
    z = np.full(rows * width, np.nan)
    labels = [""] * (rows * width)
    for a, k in enumerate(order):
        if k < 0:
            z[a], labels[a] = -1, "pad"
            continue
        idx = np.unravel_index(int(k), shape)
        z[a] = idx[dim] if a < upto else -2
        labels[a] = ",".join(str(int(v)) for v in idx)
    zmax = max(shape[dim] - 1, 1)
    colors = [OKABE_ITO["grey"], PAD_COLOR] + [SEQUENCE[i % len(SEQUENCE)] for i in range(zmax + 1)]
    fig = go.Figure(go.Heatmap(
        z=z.reshape(rows, width), zmin=-2.5, zmax=zmax + 0.5,
        colorscale=_discrete_scale(zmax + 3, colors),
        text=np.array(labels).reshape(rows, width), texttemplate="%{text}" if n <= 512 else "",
        textfont=dict(size=9), hovertemplate="address %{customdata}: %{text}<extra></extra>",
        customdata=np.arange(rows * width).reshape(rows, width), showscale=False, hoverongaps=False,
        xgap=1, ygap=1))
    fig.update_yaxes(autorange="reversed", title=f"address ÷ {width}")
    fig.update_xaxes(title=f"address mod {width} (colour = index of dimension {dim})")
    return apply_theme(fig, title, height=max(220, min(560, 28 * rows + 140)))


def _discrete_scale(k: int, colors: list[str]) -> list:
    """A plotly colourscale with ``k`` equal bands."""
    out = []
    for i, c in enumerate(colors[:k]):
        out += [[i / k, c], [(i + 1) / k, c]]
    return out


# ---------------------------------------------------------------- convolution
def im2col_heatmap(cols: np.ndarray, kh: int, kw: int, title: str | None = None):
    fig = go.Figure(go.Heatmap(z=cols, colorscale="RdBu", zmid=0,
                               colorbar=dict(title="value")))
    fig.update_yaxes(autorange="reversed", title=f"row = (channel, kh, kw): C×{kh}×{kw} rows")
    fig.update_xaxes(title="column = output pixel")
    return apply_theme(fig, title or f"im2col: the unrolled input ({cols.shape[0]} × {cols.shape[1]})")


def conv_cost_bars(rows: list, title: str = "Multiplies and workspace per algorithm"):
    names = [r.algorithm for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r.multiplies for r in rows], name="multiplies",
                marker_color=MEANING["compute"])
    fig.add_bar(x=names, y=[r.extra_bytes / 4 for r in rows], name="extra memory (elements)",
                marker_color=MEANING["transfer"])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="count")
    fig.update_xaxes(title="algorithm")
    return apply_theme(fig, title)


def matrix_table_fig(matrix: np.ndarray, title: str):
    fig = go.Figure(go.Heatmap(z=matrix, text=matrix, texttemplate="%{text:.2g}",
                               colorscale="RdBu", zmid=0, showscale=False))
    fig.update_yaxes(autorange="reversed", title="row")
    fig.update_xaxes(title="column")
    return apply_theme(fig, title, height=260)


# ---------------------------------------------------------------- GEMM + cache
def misses_by_order(rows: list[dict], title: str = "Cache misses for each of the six loop orders"):
    fig = go.Figure(go.Bar(x=[r["order"] for r in rows], y=[r["misses"] for r in rows],
                           marker_color=[MEANING["highlight"] if r["misses"] == max(
                               x["misses"] for x in rows) else MEANING["compute"] for r in rows],
                           text=[f"{r['hit_rate']:.1%} hits" for r in rows]))
    fig.update_xaxes(title="loop order (outermost first)")
    fig.update_yaxes(title="cache misses", type="log")
    return apply_theme(fig, title)


def misses_by_tile(rows: list[dict], title: str = "Misses and arithmetic intensity vs tile size"):
    xs = [str(r["tile"]) if r["tile"] else "none" for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=xs, y=[r["misses"] for r in rows], mode="lines+markers", name="misses",
                    marker_color=MEANING["compute"])
    fig.add_scatter(x=xs, y=[r["intensity"] for r in rows], mode="lines+markers",
                    name="arithmetic intensity (FLOP/byte)", yaxis="y2",
                    marker_color=MEANING["memory_bound"])
    fig.update_layout(yaxis=dict(title="cache misses", type="log"),
                      yaxis2=dict(title="FLOP per byte of memory traffic", overlaying="y",
                                  side="right", type="log"))
    fig.update_xaxes(title="tile size (square tiles)", type="category")
    apply_theme(fig, title)
    fig.update_layout(margin=dict(t=90, r=70))
    return fig


def misses_by_array(stats, title: str = "Which matrix misses"):
    names = [a for a, _ in stats.misses_by_array]
    fig = go.Figure(go.Bar(x=names, y=[m for _, m in stats.misses_by_array],
                           marker_color=SEQUENCE[:len(names)]))
    fig.update_xaxes(title="matrix")
    fig.update_yaxes(title="cache misses")
    return apply_theme(fig, title, height=300)


# ---------------------------------------------------------------- roofline
def roofline_figure(peak: float, bandwidth: float, points: list, hw_name: str,
                    title: str | None = None):
    """Log-log roofline: the slanted memory roof, the flat compute roof, the ridge point, and one
    marker per kernel coloured memory- or compute-bound."""
    ridge = peak / bandwidth
    ais = [p.intensity for p in points if p.intensity > 0 and math.isfinite(p.intensity)]
    lo = min([ridge / 100, *ais]) / 2
    hi = max([ridge * 100, *ais]) * 2
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    fig = go.Figure()
    fig.add_scatter(x=xs, y=np.minimum(peak, xs * bandwidth) / 1e12, mode="lines",
                    name=f"{hw_name} roof", line=dict(color="black", width=3))
    # a scatter line, not add_vline: annotations on log axes take log10 coordinates
    y_lo = min(peak, lo * bandwidth) / 1e12
    fig.add_scatter(x=[ridge, ridge], y=[y_lo, peak / 1e12], mode="lines+text",
                    text=["", f"ridge {ridge:.3g} FLOP/B"], textposition="top right",
                    line=dict(dash="dash", color=OKABE_ITO["grey"]), name="ridge point")
    for kind, color in (("memory_bound", MEANING["memory_bound"]),
                        ("compute_bound", MEANING["compute_bound"])):
        sel = [p for p in points if (p.intensity >= ridge) == (kind == "compute_bound")]
        if not sel:
            continue
        fig.add_scatter(x=[p.intensity for p in sel],
                        y=[min(peak, p.intensity * bandwidth) / 1e12 for p in sel],
                        mode="markers", name=kind.replace("_", "-"), text=[p.name for p in sel],
                        marker=dict(color=color, size=11, line=dict(color="white", width=1)),
                        hovertemplate="%{text}<br>AI %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s"
                                      "<extra></extra>")
    fig.update_xaxes(type="log", title="arithmetic intensity (FLOP per byte of DRAM/HBM traffic)")
    fig.update_yaxes(type="log", title="attainable TFLOP/s")
    return apply_theme(fig, title or f"Roofline: {hw_name}", height=480)


# ---------------------------------------------------------------- flash attention
def flash_block_grid(tr: int, tc: int, step, n_done: int,
                     title: str = "Blocks of S = QKᵀ computed on chip (red: this step)"):
    """The Tr x Tc grid of S blocks: done, current, not yet."""
    z = np.zeros((tr, tc))
    flat = [(j, i) for j in range(tc) for i in range(tr)]
    for j, i in flat[:n_done]:
        z[i, j] = 1
    z[step.i, step.j] = 2
    fig = go.Figure(go.Heatmap(z=z, zmin=0, zmax=2, showscale=False, xgap=2, ygap=2,
                               colorscale=_discrete_scale(3, [PAD_COLOR, MEANING["compute"],
                                                              MEANING["highlight"]]),
                               hovertemplate="Q block %{y}, K/V block %{x}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="Q block i (rows of S)")
    fig.update_xaxes(title="K/V block j (outer loop)")
    return apply_theme(fig, title, height=360)


def flash_running_stats(step, title: str = "Online softmax: running max and rescaling of this Q block"):
    rows = list(range(*step.q_rows))
    fig = go.Figure()
    fig.add_bar(x=rows, y=step.m_old, name="m before", marker_color=PAD_COLOR)
    fig.add_bar(x=rows, y=step.m_new, name="m after (running max)", marker_color=MEANING["compute"])
    fig.add_scatter(x=rows, y=step.rescale, name="rescale e^(m_old − m_new)", mode="markers+lines",
                    yaxis="y2", marker_color=MEANING["highlight"])
    fig.update_layout(barmode="group", yaxis=dict(title="running max of scores"),
                      yaxis2=dict(title="rescale factor", overlaying="y", side="right",
                                  range=[0, 1.05]))
    fig.update_xaxes(title="query row")
    apply_theme(fig, title, height=380)
    fig.update_layout(margin=dict(t=60, r=70, b=110), legend=dict(y=-0.3, yanchor="top"))
    return fig


def hbm_traffic(rows: list[dict], x: str, title: str):
    xs = [r[x] for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=xs, y=[r["standard"] for r in rows], name="standard attention",
                    mode="lines+markers", marker_color=MEANING["memory_bound"])
    fig.add_scatter(x=xs, y=[r["flash"] for r in rows], name="FlashAttention (Alg. 1)",
                    mode="lines+markers", marker_color=MEANING["compute"])
    fig.add_scatter(x=xs, y=[r["bound"] for r in rows], name="N²d²/M (paper's bound)",
                    mode="lines", line=dict(dash="dot", color=OKABE_ITO["grey"]))
    fig.update_xaxes(type="log", title=x)
    fig.update_yaxes(type="log", title="HBM accesses (elements)")
    return apply_theme(fig, title)
