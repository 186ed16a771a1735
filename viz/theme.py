"""One look for every figure: Okabe–Ito colours with fixed meanings across labs, one font scale.

Colour meanings are fixed app-wide: the colour for "elementwise" or "memory-bound" is the same on
every page. Figures are sized for a 1280×720 projector as well as a laptop.

Builders draw in the light theme; :data:`THEMES` holds the colours of the dark theme (a
plotly_dark-like look on Streamlit's dark background) and of a projector's high-contrast theme (pure
black on white, thick lines, large markers), which :func:`viz.view.adapt` applies for ``?theme=``.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# -- colour themes: light (the default above), dark, and a projector's high contrast ------------------
@dataclass(frozen=True)
class Theme:
    """The colours a figure is drawn in; ``line_width``/``marker_size``: minimums (0: leave as built)."""

    name: str
    paper: str
    plot: str
    text: str
    grid: str
    axis: str
    legend_bg: str
    line_width: float = 0.0
    marker_size: float = 0.0
    axis_width: float = 1.0


#: The page background of each Streamlit base theme, so a figure's paper blends into the page
#: (Streamlit 1.67's dark theme background is #171614).
THEMES = {
    "light": Theme("light", "white", "white", "#2F2D2B", GRID, "#888888", "rgba(255,255,255,0)"),
    "dark": Theme("dark", "#171614", "#171614", "#EDEBE8", "#3A3835", "#8A8782", "rgba(23,22,20,0)"),
    # pure black on white, thick lines, large markers: a washed-out projector still shows them
    "contrast": Theme(
        "contrast", "#FFFFFF", "#FFFFFF", "#000000", "#9A9A9A", "#000000", "rgba(255,255,255,0)", 3.5, 11, 2.0
    ),
}
DEFAULT_THEME = "light"


def theme_named(name: str) -> Theme:
    """The theme called ``name`` (an unknown name reads as the default, light)."""
    return THEMES.get(name, THEMES[DEFAULT_THEME])
