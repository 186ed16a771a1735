"""Figures for the micro-kernel lab: the (mr, nr) search, the register file of one tile, and the packed
layouts of A and B with one k-step's reads outlined.

Every builder draws its words through ``tr`` (see :mod:`viz.words`; pages pass ``tr=ui.translator()``).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, apply_theme
from .view import in_column
from .words import Translate, same

ROLE_COLORS = {
    "accumulator (C)": OKABE_ITO["green"],
    "A operand": OKABE_ITO["orange"],
    "B operand": OKABE_ITO["sky"],
    "free": MEANING["idle"],
    "over the register file": MEANING["highlight"],
}
PANEL_COLORS = ("#CFE8F7", "#FBE3B0")  # alternate panels: light sky, light orange


def tile_search(grid: list, chosen, model, known, title: str, tr: Translate = same) -> go.Figure:
    """FMAs per load of every (mr, nr) the search tries; tiles over the register file left blank.
    Markers: this tile (circle), the model's pick (star), the well-known tile (diamond)."""
    nrs = sorted({t.nr for t in grid})
    mrs = sorted({t.mr for t in grid})
    z = np.full((len(mrs), len(nrs)), np.nan)
    for t in grid:
        if t.fits:
            z[mrs.index(t.mr), nrs.index(t.nr)] = t.fmas_per_load
    fig = go.Figure(
        go.Heatmap(
            x=nrs,
            y=mrs,
            z=z,
            colorscale="Viridis",
            colorbar=dict(title=tr("FMAs per load")),
            hovertemplate="mr %{y}, nr %{x}<br>%{z:.3f}<extra></extra>",
        )
    )
    marks = (
        (chosen, tr("this tile"), "circle-open", MEANING["highlight"]),
        (model, tr("model's pick"), "star", OKABE_ITO["yellow"]),
        (known, tr("well-known kernel"), "diamond-open", OKABE_ITO["purple"]),
    )
    for t, name, symbol, color in marks:
        if t is not None:
            fig.add_scatter(
                x=[t.nr],
                y=[t.mr],
                mode="markers",
                name=f"{name} {t.mr}×{t.nr}",
                marker=dict(symbol=symbol, size=16, color=color, line=dict(width=3, color=color)),
            )
    fig.update_xaxes(
        title=tr("nr (columns of C per tile, floats)"), type="category" if len(nrs) < 3 else None
    )
    fig.update_yaxes(title=tr("mr (rows of C per tile)"))
    fig = apply_theme(fig, title, 460)
    fig.update_layout(plot_bgcolor=MEANING["idle"])  # blank cells: the tile does not fit
    return fig


def register_file(t, title: str, tr: Translate = same) -> go.Figure:
    """One square per vector register, coloured by what it holds; registers a tile needs beyond the
    file drawn in red after it."""
    roles = (
        ["accumulator (C)"] * t.accumulators + ["A operand"] * t.a_registers + ["B operand"] * t.b_registers
    )
    roles += ["free"] * max(0, t.registers - len(roles))
    roles = [r if i < t.registers else "over the register file" for i, r in enumerate(roles)]
    cols = 8
    fig = go.Figure()
    for role, color in ROLE_COLORS.items():
        idx = [i for i, r in enumerate(roles) if r == role]
        if idx:
            fig.add_scatter(
                x=[i % cols for i in idx],
                y=[i // cols for i in idx],
                mode="markers+text",
                text=[str(i) for i in idx],
                name=tr(role),
                hoverinfo="name+text",
                marker=dict(symbol="square", size=34, color=color, line=dict(color="white", width=1)),
            )
    rows = max(1, (len(roles) + cols - 1) // cols)
    fig.update_xaxes(visible=False, range=[-0.7, cols - 0.3])
    fig.update_yaxes(visible=False, range=[rows - 0.4, -0.6])
    return apply_theme(fig, title, 140 + 52 * rows)


def packed_matrix(
    index: np.ndarray,
    panel: int,
    along: str,
    highlight: np.ndarray | None,
    title: str,
    tr: Translate = same,
    page_share: float = 1.0,
) -> go.Figure:
    """A matrix whose every cell shows its element's offset in the packed buffer; panels in
    alternating colours (``along`` = "rows" for A's mr-row panels, "cols" for B's nr-column panels),
    the cells of ``highlight`` (a boolean mask: one k-step's reads) outlined. ``page_share``: the
    width of the page's column it is drawn in (presenter type keeps only labels that fit)."""
    r, c = index.shape
    ii, jj = np.meshgrid(np.arange(r), np.arange(c), indexing="ij")
    panel_id = (ii if along == "rows" else jj) // panel % 2
    fig = go.Figure(
        go.Heatmap(
            z=panel_id,
            colorscale=[[0, PANEL_COLORS[0]], [1, PANEL_COLORS[1]]],
            zmin=0,
            zmax=1,
            showscale=False,
            text=index.astype(str),
            texttemplate="%{text}" if index.size <= 600 else "",
            hovertemplate=tr("row %{y}, column %{x}: packed offset %{text}") + "<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    if highlight is not None and highlight.any():
        ys, xs = np.nonzero(highlight)
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="markers",
            name=tr("read at this k-step"),
            hoverinfo="skip",
            marker=dict(symbol="square-open", size=18, color=MEANING["highlight"], line=dict(width=3)),
        )
    fig.update_xaxes(title=tr("column"), constrain="domain")
    fig.update_yaxes(title=tr("row"), autorange="reversed", scaleanchor="x")
    return in_column(apply_theme(fig, title, 200 + 26 * min(r, 24)), page_share)
