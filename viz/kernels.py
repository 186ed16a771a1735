"""Figures for the kernels lab: layouts, convolution, GEMM + cache, roofline, flash attention.

Every function takes engine data and returns a plotly Figure with a title and labelled axes.
"""
from __future__ import annotations

import math
import re

import numpy as np
import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, SEQUENCE, apply_theme

PAD_COLOR = "#DDDDDD"


def _t(zh: bool, en: str, cn: str) -> str:
    """Figure text in the page's language (pages pass ``zh=ui.lang() == "zh"``)."""
    return cn if zh else en


# ---------------------------------------------------------------- layouts
def _grid_2d(shape: tuple[int, ...]) -> tuple[int, int]:
    """Show any tensor as (product of leading dims) x (last dim)."""
    cols = shape[-1]
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1, cols


def address_grid(shape, order: np.ndarray, upto: int, title: str, zh: bool = False):
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
                               hovertemplate=_t(zh, "row %{y}, col %{x}: address %{text}",
                                                "行 %{y}，列 %{x}：地址 %{text}") + "<extra></extra>"))
    fig.add_trace(go.Heatmap(z=np.where(grid < upto, grid, np.nan), text=text,
                             texttemplate="%{text}", colorscale="Viridis", zmin=0,
                             zmax=max(len(order) - 1, 1),
                             colorbar=dict(title=_t(zh, "address (elements)", "地址（元素）")),
                             hoverongaps=False,
                             hovertemplate=_t(zh, "row %{y}, col %{x}: address %{text}",
                                              "行 %{y}，列 %{x}：地址 %{text}") + "<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=_t(zh, "leading index (flattened)", "前导维下标（展平）"))
    fig.update_xaxes(title=_t(zh, f"last dimension index (size {shape[-1]})",
                              f"最后一维下标（大小 {shape[-1]}）"))
    return apply_theme(fig, title, height=max(260, min(560, 40 * rows + 120)))


def memory_strip(shape, order: np.ndarray, upto: int, title: str, color_dim: int = -1,
                 width: int = 16, zh: bool = False):
    """Memory as rows of ``width`` slots; slots at addresses < upto are coloured by a logical
    dimension's index (e.g. the channel), padding light grey, later slots dark grey. Labels give
    the logical index."""
    n = len(order)
    rows = math.ceil(n / width)
    dim = color_dim % len(shape)
    shown = [i for i, size in enumerate(shape) if size > 1] or [len(shape) - 1]   # size-1 dims say nothing
    z = np.full(rows * width, np.nan)
    labels = [""] * (rows * width)
    for a, k in enumerate(order):
        if k < 0:
            z[a], labels[a] = -1, _t(zh, "pad", "填充")
            continue
        idx = np.unravel_index(int(k), shape)
        z[a] = idx[dim] if a < upto else -2
        labels[a] = ",".join(str(int(idx[i])) for i in shown)
    zmax = max(shape[dim] - 1, 1)
    colors = [OKABE_ITO["grey"], PAD_COLOR] + [SEQUENCE[i % len(SEQUENCE)] for i in range(zmax + 1)]
    fig = go.Figure(go.Heatmap(
        z=z.reshape(rows, width), zmin=-2.5, zmax=zmax + 0.5,
        colorscale=_discrete_scale(zmax + 3, colors),
        text=np.array(labels).reshape(rows, width), texttemplate="%{text}" if n <= 512 else "",
        textfont=dict(size=9),
        hovertemplate=_t(zh, "address %{customdata}: %{text}", "地址 %{customdata}：%{text}")
        + "<extra></extra>",
        customdata=np.arange(rows * width).reshape(rows, width), showscale=False, hoverongaps=False,
        xgap=1, ygap=1))
    fig.update_yaxes(autorange="reversed", title=_t(zh, f"address ÷ {width} (elements)",
                                                    f"地址 ÷ {width}（元素）"))
    fig.update_xaxes(title=_t(zh, f"address mod {width} (colour = index of dimension {dim})",
                              f"地址 mod {width}（颜色 = 第 {dim} 维的下标）"))
    return apply_theme(fig, title, height=max(220, min(560, 28 * rows + 140)))


def _discrete_scale(k: int, colors: list[str]) -> list:
    """A plotly colourscale with ``k`` equal bands."""
    out = []
    for i, c in enumerate(colors[:k]):
        out += [[i / k, c], [(i + 1) / k, c]]
    return out


def contiguity_reason_zh(why: str) -> str:
    """engine.compiler.layouts.is_contiguous's reason, said in Chinese (short, for a table cell)."""
    m = re.match(r"dimension (\d+) has stride (-?\d+) but row-major order needs (\d+)", why)
    return f"第 {m[1]} 维步长为 {m[2]}，行主序应为 {m[3]}" if m else "每个步长都等于其右侧各维大小之积"


def numpy_badge(ref: tuple, ok: bool, zh: bool = False) -> str:
    """The layout page's 'matches numpy' line (``ok``: our strides equal numpy's ``ref``)."""
    if ok:
        return _t(zh, f"Matches numpy: an int8 array stored this way reports strides {ref} (difference: none).",
                  f"与 numpy 一致：这样存放的 int8 数组报告的步长为 {ref}（无差异）。")
    return _t(zh, f"Differs from numpy, which reports strides {ref}.", f"与 numpy 不一致：numpy 报告的步长为 {ref}。")


def conversion_detail_zh(detail: str) -> str:
    """A layout-conversion step's detail in Chinese (the engine writes formulas plus a few words)."""
    return detail.replace(" with zeros", "，补零").replace("split C into", "把 C 拆成").replace("perm", "维度置换")


# ---------------------------------------------------------------- convolution
def im2col_heatmap(cols: np.ndarray, kh: int, kw: int, title: str | None = None, zh: bool = False):
    fig = go.Figure(go.Heatmap(z=cols, colorscale="RdBu", zmid=0,
                               colorbar=dict(title=_t(zh, "value", "值"))))
    fig.update_yaxes(autorange="reversed", title=_t(zh, f"row = (channel, kh, kw): C×{kh}×{kw} rows",
                                                    f"行 = (通道, kh, kw)：C×{kh}×{kw} 行"))
    fig.update_xaxes(title=_t(zh, "column = output pixel", "列 = 输出像素"))
    shape = f"{cols.shape[0]} × {cols.shape[1]}"
    return apply_theme(fig, title or _t(zh, f"im2col: the unrolled input ({shape})",
                                        f"im2col：展开后的输入（{shape}）"))


def conv_cost_bars(rows: list, title: str = "Multiplies and workspace per algorithm", zh: bool = False):
    names = [r.algorithm for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r.multiplies for r in rows], name=_t(zh, "multiplies", "乘法次数"),
                marker_color=MEANING["compute"])
    fig.add_bar(x=names, y=[r.extra_bytes / 4 for r in rows],
                name=_t(zh, "extra memory (fp32 elements)", "额外内存（fp32 元素）"),
                marker_color=MEANING["transfer"])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=_t(zh, "count (multiplies or elements)", "数量（乘法次数或元素个数）"))
    fig.update_xaxes(title=_t(zh, "algorithm", "算法"))
    return apply_theme(fig, title)


def matrix_table_fig(matrix: np.ndarray, title: str, zh: bool = False):
    fig = go.Figure(go.Heatmap(z=matrix, text=matrix, texttemplate="%{text:.2g}",
                               colorscale="RdBu", zmid=0, showscale=False))
    fig.update_yaxes(autorange="reversed", title=_t(zh, "row", "行"), dtick=1)
    fig.update_xaxes(title=_t(zh, "column", "列"), dtick=1)
    return apply_theme(fig, title, height=260)


# ---------------------------------------------------------------- GEMM + cache
def misses_by_order(rows: list[dict], title: str = "Cache misses for each of the six loop orders",
                    zh: bool = False):
    fig = go.Figure(go.Bar(x=[r["order"] for r in rows], y=[r["misses"] for r in rows],
                           marker_color=[MEANING["highlight"] if r["misses"] == max(
                               x["misses"] for x in rows) else MEANING["compute"] for r in rows],
                           text=[_t(zh, f"{r['hit_rate']:.0%} hits", f"命中 {r['hit_rate']:.0%}")
                                 for r in rows], textposition="outside", textangle=0))
    fig.update_xaxes(title=_t(zh, "loop order (outermost first)", "循环顺序（从外到内）"))
    top = max((r["misses"] for r in rows), default=1)
    low = min((r["misses"] for r in rows), default=1)
    fig.update_yaxes(title=_t(zh, "cache misses (count, log)", "缓存缺失（次，对数轴）"), type="log",
                     dtick=1, range=[max(0.0, math.floor(math.log10(max(low, 1))) - 0.3),
                                     math.log10(max(top, 1)) + 0.4])   # decades only; room for the labels
    return apply_theme(fig, title)


def misses_by_tile(rows: list[dict], title: str = "Misses and arithmetic intensity vs tile size",
                   zh: bool = False):
    xs = [str(r["tile"]) if r["tile"] else _t(zh, "none", "不分块") for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=xs, y=[r["misses"] for r in rows], mode="lines+markers", name=_t(zh, "misses", "缺失次数"),
                    marker_color=MEANING["compute"])
    fig.add_scatter(x=xs, y=[r["intensity"] for r in rows], mode="lines+markers",
                    name=_t(zh, "arithmetic intensity (FLOP/B)", "算术强度 (FLOP/B)"), yaxis="y2",
                    marker_color=MEANING["memory_bound"])
    fig.update_layout(yaxis=dict(title=_t(zh, "cache misses (count, log)", "缓存缺失（次，对数轴）"),
                                 type="log", dtick=1),
                      yaxis2=dict(title=_t(zh, "FLOP per byte of memory traffic", "每字节内存流量的 FLOP"),
                                  overlaying="y", side="right", type="log", dtick=1, showgrid=False))
    fig.update_xaxes(title=_t(zh, "tile size (elements per side, square tiles)", "分块边长（元素，方形分块）"),
                     type="category")
    apply_theme(fig, title)
    fig.update_layout(margin=dict(t=90, r=70))
    return fig


def misses_by_array(stats, title: str = "Which matrix misses", zh: bool = False):
    names = [a for a, _ in stats.misses_by_array]
    fig = go.Figure(go.Bar(x=names, y=[m for _, m in stats.misses_by_array],
                           marker_color=SEQUENCE[:len(names)]))
    fig.update_xaxes(title=_t(zh, "matrix", "矩阵"))
    fig.update_yaxes(title=_t(zh, "cache misses (count)", "缓存缺失（次）"))
    return apply_theme(fig, title, height=300)


# ---------------------------------------------------------------- roofline
def roofline_figure(peak: float, bandwidth: float, points: list, hw_name: str,
                    title: str | None = None, zh: bool = False):
    """Log-log roofline: the slanted memory roof, the flat compute roof, the ridge point, and one
    marker per kernel coloured memory- or compute-bound."""
    ridge = peak / bandwidth
    ais = [p.intensity for p in points if p.intensity > 0 and math.isfinite(p.intensity)]
    lo = min([ridge / 100, *ais]) / 2
    hi = max([ridge * 100, *ais]) * 2
    xs = np.logspace(math.log10(lo), math.log10(hi), 200)
    fig = go.Figure()
    fig.add_scatter(x=xs, y=np.minimum(peak, xs * bandwidth) / 1e12, mode="lines",
                    name=_t(zh, f"{hw_name} roof", f"{hw_name} 屋顶"), line=dict(color="black", width=3))
    # a scatter line, not add_vline: annotations on log axes take log10 coordinates
    y_lo = min(peak, lo * bandwidth) / 1e12
    fig.add_scatter(x=[ridge, ridge], y=[y_lo, peak / 1e12], mode="lines+text",
                    text=[_t(zh, f"ridge {ridge:.3g} FLOP/B", f"脊点 {ridge:.3g} FLOP/B"), ""],
                    textposition="top right", line=dict(dash="dash", color=OKABE_ITO["grey"]),
                    name=_t(zh, "ridge point", "脊点"))
    for kind, color in (("memory_bound", MEANING["memory_bound"]),
                        ("compute_bound", MEANING["compute_bound"])):
        sel = [p for p in points if (p.intensity >= ridge) == (kind == "compute_bound")]
        if not sel:
            continue
        fig.add_scatter(x=[p.intensity for p in sel],
                        y=[min(peak, p.intensity * bandwidth) / 1e12 for p in sel],
                        mode="markers", text=[p.name for p in sel],
                        name=_t(zh, kind.replace("_", "-"), "访存受限" if kind == "memory_bound" else "计算受限"),
                        marker=dict(color=color, size=11, line=dict(color="white", width=1)),
                        hovertemplate=_t(zh, "%{text}<br>AI %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s",
                                         "%{text}<br>算术强度 %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s")
                                      + "<extra></extra>")
    fig.update_xaxes(type="log", dtick=1, title=_t(zh, "arithmetic intensity (FLOP per byte of DRAM/HBM traffic)",
                                                   "算术强度（每字节 DRAM/HBM 流量的 FLOP）"))
    fig.update_yaxes(type="log", dtick=1, title=_t(zh, "attainable TFLOP/s", "可达性能 (TFLOP/s)"))
    return apply_theme(fig, title or _t(zh, f"Roofline: {hw_name}", f"Roofline 模型：{hw_name}"), height=480)


def kernel_name(name: str, zh: bool = False) -> str:
    """A roofline kernel's name in the page's language."""
    if not zh:
        return name
    return (name.replace("attention prefill", "注意力预填充").replace("attention decode (KV ", "注意力解码（KV ")
            .replace(")", "）") if name.startswith("attention") else name)


# ---------------------------------------------------------------- flash attention
def flash_block_grid(tr: int, tc: int, step, n_done: int,
                     title: str = "Blocks of S = QKᵀ computed on chip (red: this step)", zh: bool = False):
    """The Tr x Tc grid of S blocks: done, current, not yet."""
    z = np.zeros((tr, tc))
    flat = [(j, i) for j in range(tc) for i in range(tr)]
    for j, i in flat[:n_done]:
        z[i, j] = 1
    z[step.i, step.j] = 2
    fig = go.Figure(go.Heatmap(z=z, zmin=0, zmax=2, showscale=False, xgap=2, ygap=2,
                               colorscale=_discrete_scale(3, [PAD_COLOR, MEANING["compute"],
                                                              MEANING["highlight"]]),
                               hovertemplate=_t(zh, "Q block %{y}, K/V block %{x}",
                                                "Q 块 %{y}，K/V 块 %{x}") + "<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=_t(zh, "Q block i (rows of S)", "Q 块 i（S 的行）"))
    fig.update_xaxes(title=_t(zh, "K/V block j (outer loop)", "K/V 块 j（外层循环）"))
    return apply_theme(fig, title, height=360)


def flash_running_stats(step, title: str = "Online softmax: running max and rescaling of this Q block",
                        zh: bool = False):
    rows = list(range(*step.q_rows))
    fig = go.Figure()
    fig.add_bar(x=rows, y=step.m_old, name=_t(zh, "m before", "更新前的 m"), marker_color=PAD_COLOR)
    fig.add_bar(x=rows, y=step.m_new, name=_t(zh, "m after (running max)", "更新后的 m（运行最大值）"),
                marker_color=MEANING["compute"])
    fig.add_scatter(x=rows, y=step.rescale, name=_t(zh, "rescale e^(m_old − m_new)", "缩放因子 e^(m_old − m_new)"),
                    mode="markers+lines", yaxis="y2", marker_color=MEANING["highlight"])
    fig.update_layout(barmode="group",
                      yaxis=dict(title=_t(zh, "running max of scores (logit units)", "分数的运行最大值（logit）")),
                      yaxis2=dict(title=_t(zh, "rescale factor (0–1)", "缩放因子（0–1）"), overlaying="y",
                                  side="right", range=[0, 1.05], dtick=0.25, showgrid=False))
    fig.update_xaxes(title=_t(zh, "query row (index)", "查询行（下标）"))
    apply_theme(fig, title, height=380)
    fig.update_layout(margin=dict(t=60, r=70, b=110), legend=dict(y=-0.3, yanchor="top"))
    return fig


def hbm_traffic(rows: list[dict], x: str, title: str, zh: bool = False, x_title: str | None = None):
    xs = [r[x] for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=xs, y=[r["standard"] for r in rows], name=_t(zh, "standard attention", "标准注意力"),
                    mode="lines+markers", marker_color=MEANING["memory_bound"])
    fig.add_scatter(x=xs, y=[r["flash"] for r in rows], name=_t(zh, "FlashAttention (Alg. 1)",
                                                               "FlashAttention（算法 1）"),
                    mode="lines+markers", marker_color=MEANING["compute"])
    fig.add_scatter(x=xs, y=[r["bound"] for r in rows], name=_t(zh, "N²d²/M (paper's bound)",
                                                               "N²d²/M（论文中的界）"),
                    mode="lines", line=dict(dash="dot", color=OKABE_ITO["grey"]))
    fig.update_xaxes(type="log", title=x_title or x, tickvals=xs, ticktext=[f"{v:,}" for v in xs])
    fig.update_yaxes(type="log", dtick=1, title=_t(zh, "HBM accesses (elements, log)", "HBM 访问量（元素，对数轴）"))
    return apply_theme(fig, title)
