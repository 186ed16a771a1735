"""One look for every figure: Okabe–Ito colours with fixed meanings across labs, one font scale.

Colour meanings are fixed app-wide: the colour for "elementwise" or "memory-bound" is the same on
every page. Figures are sized for a 1280×720 projector as well as a laptop.
"""

from __future__ import annotations

# Okabe & Ito (2008), colour-blind safe.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#999999",
}
SEQUENCE = [
    OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")
]

#: Fusion pattern kinds (TVM OpPatternKind) and graph sources.
KIND_COLORS = {
    "elemwise": OKABE_ITO["sky"],
    "broadcast": OKABE_ITO["green"],
    "injective": OKABE_ITO["yellow"],
    "reduce": OKABE_ITO["purple"],
    "out_elemwise_fusable": OKABE_ITO["orange"],
    "opaque": OKABE_ITO["vermillion"],
    "input": OKABE_ITO["grey"],
    "param": "#CCCCCC",
    "constant": "#DDDDDD",
}
#: Meanings shared by every lab.
MEANING = {
    "memory_bound": OKABE_ITO["blue"],
    "compute_bound": OKABE_ITO["vermillion"],
    "highlight": OKABE_ITO["vermillion"],
    "changed": OKABE_ITO["orange"],
    "idle": "#DDDDDD",
    "forward": OKABE_ITO["sky"],
    "backward": OKABE_ITO["orange"],
    "communication": OKABE_ITO["purple"],
    "compute": OKABE_ITO["green"],
    "transfer": OKABE_ITO["yellow"],
    "stall": OKABE_ITO["grey"],
}
FONT = dict(family="Inter, 'Source Sans Pro', 'WenQuanYi Micro Hei', sans-serif", size=14)


GRID = "#E5E5E5"


def apply_theme(fig, title: str | None = None, height: int = 420):
    """Give ``fig`` the app's look (in place) and return it.

    Title top-left, legend top-right (so the two never overlap), white background with light grid
    lines. Colours are set directly rather than through a plotly template: merging a template costs
    ~18 ms per figure, which a live page redrawing several figures cannot afford.
    """
    fig.update_layout(
        font=FONT,
        colorway=SEQUENCE,
        height=height,
        margin=dict(l=60, r=20, t=70, b=50),
        title=dict(text=title, x=0.01, xanchor="left") if title is not None else fig.layout.title,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor="#888888")
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor="#888888")
    return fig
