"""Figures ready for the current view: presenter-mode type, colour theme, and a per-view figure cache.

A view is :class:`View`: presenter mode (``?present=1``), the colour theme (``?theme=dark|contrast``,
light by default) and the zoom of graph drawings (``?gsize=S|M|L``, the sidebar's "Graph size").
:func:`adapt` readies a figure for it, in stages:
1. Theme (dark or contrast only; light is how builders draw): paper and plot background, the text,
   grid and axis colours from :data:`viz.theme.THEMES`; text and lines a builder drew near-black (or
   grey, for contrast) are redrawn in the theme's text/axis colour, except text on its own box
   (``bgcolor``). Contrast also thickens lines and enlarges markers.
2. Presenter type (a projector at 1280×720 and 1920×1080): every axis gets ≥ 18 px tick labels and
   ≥ 20 px axis titles (set per axis: a builder's own tickfont would otherwise win over the global
   font), the figure title ≥ 24 px, legend, colour bars, annotations and trace text ≥ 18 px; the
   x tick labels of a categorical axis stay horizontal when they fit; the height is capped so the
   figure and a stepper fit under the page's title on a 720-pixel-high screen. Labels plotly would
   shrink to fit (inside a bar, in a heatmap cell) are kept at 18 px where they fit, else left out
   (the hover still shows them).
3. Graph drawings (marked by :func:`viz.graph.graph_figure`): markers, labels and height scaled by
   the view's zoom, then the labels placed again (:func:`viz.graph.fit_graph`) so the larger type of
   a projector or a zoom still draws no label over another; a label that no longer fits is hover-only.
Not handled: text drawn on a filled marker in the dark theme keeps the theme's light text colour;
inline HTML sizes inside a label (``<span style='font-size:11px'>``) are left as written.

Words are not handled here: builders draw them already translated (see :mod:`viz.words`). Shared by
every lab; no streamlit here (the cache decorator is passed in).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

import plotly.graph_objects as go

from .theme import DEFAULT_THEME, THEMES, Theme, theme_named
from .words import same

TICK_PX, AXIS_TITLE_PX, TITLE_PX, LEGEND_PX, TEXT_PX, FONT_PX = 18, 20, 24, 18, 18, 19
#: A presenter figure's height at most: page head (≈ 110 px), collapsed controls (≈ 60 px) and a
#: stepper (≈ 105 px) leave this much of a 720-pixel screen.
PRESENT_MAX_HEIGHT = 430
PRESENT_PLOT_WIDTH = 1100  # px a presenter figure's x axis has, about, at 1280 wide


@dataclass(frozen=True)
class View:
    """How the page is shown: presenter type (the view is truthy exactly then) and the colour theme.

    Hashable, so a figure cache keys on it; truthy like the ``present`` flag it replaces, so code
    that asks ``if presenting():`` keeps working.
    """

    present: bool = False
    theme: str = DEFAULT_THEME
    #: the "Graph size" control: markers, labels and height of every graph drawing scale by it
    graph_zoom: float = 1.0

    def __post_init__(self) -> None:
        if self.theme not in THEMES:
            object.__setattr__(self, "theme", DEFAULT_THEME)
        object.__setattr__(self, "graph_zoom", graph_zoom(self.graph_zoom))

    def __bool__(self) -> bool:
        return self.present


#: The "Graph size" choices (URL value -> zoom of graph drawings); anything else reads as "M".
GRAPH_SIZES = {"S": 0.8, "M": 1.0, "L": 1.3}
GRAPH_ZOOM_RANGE = (0.75, 1.5)


def graph_zoom(value) -> float:
    """``value`` as a zoom within :data:`GRAPH_ZOOM_RANGE`; a size name ("S", "M", "L") is read
    through :data:`GRAPH_SIZES`; anything unusable (text, NaN, infinity, a list) is 1.0."""
    if isinstance(value, str):
        return GRAPH_SIZES.get(value.strip().upper(), 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 1.0
    low, high = GRAPH_ZOOM_RANGE
    return float(min(max(value, low), high)) if abs(value) != float("inf") else 1.0


def as_view(present: bool | View) -> View:
    return present if isinstance(present, View) else View(bool(present))


def adapt(fig: go.Figure, present: bool | View = False) -> go.Figure:
    """Ready a figure for the view ``present`` (a :class:`View`, or a bool: presenter type, light)."""
    if getattr(fig, "_adapted", False):  # built by a figure_cache builder: already done
        return fig
    view = as_view(present)
    if view.theme != DEFAULT_THEME:
        recolour(fig, theme_named(view.theme))
    if view.present:
        presenter_type(fig)
    if is_graph(fig) and (view.present or view.graph_zoom != 1.0 or view.theme != DEFAULT_THEME):
        from .graph import fit_graph

        fit_graph(fig, view.graph_zoom)  # zoom, then labels placed again for the new type sizes
    return fig


def is_graph(fig: go.Figure) -> bool:
    """Whether ``fig`` is a graph drawing (:func:`viz.graph.graph_figure` marks it in ``layout.meta``)."""
    meta = fig.layout.meta
    return isinstance(meta, dict) and isinstance(meta.get("graph"), dict)


# -- presenter type ---------------------------------------------------------------------------------
def _at_least(size, floor: float) -> float:
    return max(size or 0, floor)


def presenter_type(fig: go.Figure) -> go.Figure:
    """Projector-sized type on every text the figure draws (in place)."""
    layout = fig.layout
    height = layout.height or 420
    fig.update_layout(
        font_size=_at_least(layout.font.size, FONT_PX),
        title_font_size=_at_least(layout.title.font.size, TITLE_PX),
        legend_font_size=_at_least(layout.legend.font.size, LEGEND_PX),
        height=min(round(height * 1.15), max(height, 300), PRESENT_MAX_HEIGHT),
        margin_t=(layout.margin.t or 70) + 30,  # room for the larger title and legend
    )
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        axis.tickfont.size = _at_least(axis.tickfont.size, TICK_PX)
        axis.title.font.size = _at_least(axis.title.font.size, AXIS_TITLE_PX)
    for name, labels in _categories(fig).items():
        if name.startswith("x") and _fits_flat(labels, _axis_share(fig, name)):
            fig.layout[name].tickangle = 0
    for note in layout.annotations or ():
        note.font.size = _at_least(note.font.size, TEXT_PX)
    for bar in _colorbars(fig):
        bar.tickfont.size = _at_least(bar.tickfont.size, TICK_PX)
        bar.title.font.size = _at_least(bar.title.font.size, AXIS_TITLE_PX)
    for trace in fig.data:
        _trace_type(trace)
        if trace.type == "heatmap" and trace.texttemplate:
            _cell_labels(fig, trace)
    if any(trace.type in ("bar", "funnel") and trace.text is not None for trace in fig.data):
        # plotly shrinks a bar's inside label to fit the bar: keep it at TEXT_PX or drop it
        fig.update_layout(uniformtext_minsize=TEXT_PX, uniformtext_mode="hide")
    return fig


def _colorbars(fig: go.Figure) -> list:
    """Every colour bar the figure may draw: a trace's, its markers' and the layout's colour axes'."""
    bars = [fig.layout[name].colorbar for name in fig.layout.to_plotly_json() if name.startswith("coloraxis")]
    for trace in fig.data:
        if "colorbar" in trace and trace.showscale is not False:
            bars.append(trace.colorbar)
        for owner in (getattr(trace, "marker", None), getattr(trace, "line", None)):
            if owner is not None and "colorbar" in owner and owner.showscale:
                bars.append(owner.colorbar)
    return bars


def _cell_labels(fig: go.Figure, trace) -> None:
    """A heatmap's cell labels at TEXT_PX where the cells hold them, else none (hover still has them):
    plotly would otherwise shrink them to fit the cells."""
    z = trace.z if trace.z is not None else ()
    rows = len(z)
    cols = max((len(row) for row in z), default=0) if rows else 0
    if not rows or not cols:
        return
    x_axis, _ = _axis_names(trace)
    plot_h = (fig.layout.height or 420) - (fig.layout.margin.t or 70) - (fig.layout.margin.b or 50)
    cell_w = PRESENT_PLOT_WIDTH * _axis_share(fig, x_axis) / cols
    if cell_w >= 2.2 * TEXT_PX and plot_h / rows >= 1.2 * TEXT_PX:
        trace.textfont.size = _at_least(trace.textfont.size, TEXT_PX)
    else:
        trace.texttemplate = None


def _trace_type(trace) -> None:
    if "textfont" in trace and trace.textfont.size is not None:
        sizes = trace.textfont.size
        trace.textfont.size = (
            [_at_least(s, TEXT_PX) for s in sizes]
            if isinstance(sizes, tuple | list)
            else _at_least(sizes, TEXT_PX)
        )


def _axis_names(trace) -> tuple[str, str]:
    x = getattr(trace, "xaxis", None) or "x"
    y = getattr(trace, "yaxis", None) or "y"
    return "xaxis" + x[1:], "yaxis" + y[1:]


def _categories(fig: go.Figure) -> dict[str, list[str]]:
    """Category labels per axis layout name: axes typed ``category``, or drawn with string data."""
    found: dict[str, list[str]] = {}
    for trace in fig.data:
        if not {"x", "y"} <= set(trace._props):
            continue
        for name, values in zip(_axis_names(trace), (trace.x, trace.y), strict=True):
            axis = fig.layout[name] if name in fig.layout else None
            if axis is None or axis.type not in (None, "-", "category", "multicategory"):
                continue
            if values is not None and len(values) and isinstance(values[0], str):
                found.setdefault(name, []).extend(str(v) for v in values)
            elif axis.type == "category" and axis.ticktext:
                found.setdefault(name, []).extend(str(v) for v in axis.ticktext)
    return {name: list(dict.fromkeys(labels)) for name, labels in found.items()}


def _axis_share(fig: go.Figure, name: str) -> float:
    """The share of a presenter page's width the axis ``name`` gets: its domain within the figure,
    times the figure's own share of the page (:func:`in_column`)."""
    domain = fig.layout[name].domain
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    return ((domain[1] - domain[0]) if domain else 1.0) * float(meta.get("page_share", 1.0))


def in_column(fig: go.Figure, share: float) -> go.Figure:
    """Mark ``fig`` as drawn in a column ``share`` of the page wide (a builder does this before the
    figure is adapted), so presenter type keeps only the cell and tick labels that fit the column."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.layout.meta = {**meta, "page_share": float(share)}
    return fig


_TAGS = re.compile(r"<[^>]+>")


def _fits_flat(labels: list[str], share: float) -> bool:
    """Whether ``labels`` side by side at tick size fit the axis (≈ 0.6 em a character, one line)."""
    longest = max((len(line) for lab in labels for line in _TAGS.sub("\n", lab).split("\n")), default=0)
    return len(labels) * (longest * 0.6 * TICK_PX + 10) <= PRESENT_PLOT_WIDTH * share


# -- colour themes ----------------------------------------------------------------------------------
_HEX = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB = re.compile(r"^rgba?\(([^)]*)\)$")
_NAMED = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128)}
_NAMED |= {"dimgrey": (105, 105, 105), "dimgray": (105, 105, 105), "darkgrey": (169, 169, 169)}


def rgb(color) -> tuple[float, float, float] | None:
    """``color`` (``#abc``, ``#aabbcc``, ``rgb()``/``rgba()`` or a grey's name) as 0–255 channels."""
    if not isinstance(color, str):
        return None
    text = color.strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    if m := _HEX.match(text):
        digits = m.group(1)
        digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    if m := _RGB.match(text):
        parts = [p.strip() for p in m.group(1).split(",")]
        if len(parts) >= 3:
            try:
                return tuple(float(p) for p in parts[:3])
            except ValueError:
                return None
    return None


def luminance(color) -> float | None:
    """WCAG relative luminance (0 black … 1 white) of ``color``, or None when it cannot be read."""
    channels = rgb(color)
    if channels is None:
        return None
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _greyish(color) -> bool:
    channels = rgb(color)
    return channels is not None and max(channels) - min(channels) < 24


def _redraw(color, theme: Theme, fallback: str):
    """The colour ``color`` (text or a line) becomes under ``theme``: near-black (dark) or any grey
    (contrast) turns into ``fallback``; everything else stays."""
    lum = luminance(color)
    if lum is None:
        return color
    if theme.name == "dark" and lum < 0.2:
        return fallback
    if theme.name == "contrast" and _greyish(color) and lum < 0.9:
        return fallback
    return color


def recolour(fig: go.Figure, theme: Theme) -> go.Figure:
    """Draw ``fig`` in ``theme``'s colours (in place); see the module docstring."""
    fig.update_layout(
        paper_bgcolor=theme.paper,
        plot_bgcolor=theme.plot,
        font_color=theme.text,
        legend_bgcolor=theme.legend_bg,
    )
    if fig.layout.title.font.color is not None:
        fig.layout.title.font.color = theme.text
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        axis.update(
            gridcolor=theme.grid, zerolinecolor=theme.grid, linecolor=theme.axis, tickcolor=theme.axis
        )
        axis.linewidth = max(axis.linewidth or 1, theme.axis_width)
        for font in (axis.tickfont, axis.title.font):
            if font.color is not None:
                font.color = theme.text
    for note in fig.layout.annotations or ():
        if note.bgcolor is None:
            note.font.color = _redraw(note.font.color, theme, theme.text)
        note.arrowcolor = _redraw(note.arrowcolor, theme, theme.axis)
    for shape in fig.layout.shapes or ():
        shape.line.color = _redraw(shape.line.color, theme, theme.axis)
    for trace in fig.data:
        _recolour_trace(trace, theme)
    return fig


def _recolour_trace(trace, theme: Theme) -> None:
    props = trace._props
    if "textfont" in trace and isinstance(trace.textfont.color, str):
        trace.textfont.color = _redraw(trace.textfont.color, theme, theme.text)
    if "line" in trace and "color" in trace.line:
        if isinstance(trace.line.color, str):
            trace.line.color = _redraw(trace.line.color, theme, theme.axis)
        if theme.line_width and "width" in trace.line and props.get("mode", "lines") != "markers":
            trace.line.width = max(trace.line.width or 2, theme.line_width)
    if theme.marker_size and trace.type == "scatter" and "markers" in (props.get("mode") or ""):
        size = trace.marker.size
        if size is None or isinstance(size, int | float):
            trace.marker.size = max(size or 6, theme.marker_size)


# -- the figure cache -------------------------------------------------------------------------------
def takes_tr(fn) -> bool:
    """Whether a figure builder draws words (has a ``tr`` parameter)."""
    try:
        return "tr" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def figure_cache(cache, view):
    """Make figure builders build each figure once per (arguments, language, view).

    ``cache`` is a memoising decorator that hashes arguments (a page passes
    ``st.cache_resource(...)``: the figure object is shared, not copied, so building a plotly figure
    — tens of milliseconds — is paid once); ``view()`` returns ``(tr, present)`` for the current
    view, where ``tr`` is a hashable translator (ui.i18n.Translator) and ``present`` a :class:`View`
    (or a bool). ``wrap(builder)`` returns a drop-in builder whose figures come back drawn in the
    view's language (``tr=`` passed to builders that take it), :func:`adapt`-ed and marked
    ``_adapted``; they must not be changed afterwards.
    """

    def wrap(fn):
        words = takes_tr(fn)

        def build(*args, tr=same, present: bool | View = False, **kwargs):
            fig = adapt(fn(*args, tr=tr, **kwargs) if words else fn(*args, **kwargs), present)
            fig._adapted = True
            return fig

        def build_keyed(key, _args, _kwargs, tr=same, present: bool | View = False):
            return build(*_args, tr=tr, present=present, **_kwargs)  # hashed: key, tr, present only

        for f, suffix in ((build, ""), (build_keyed, ".keyed")):
            f.__name__ = fn.__name__
            f.__qualname__ = f"figure_cache.{fn.__module__}.{fn.__qualname__}{suffix}"
        cached, cached_keyed = cache(build), cache(build_keyed)

        def call(*args, cache_key=None, **kwargs):
            """``cache_key``: a small hashable standing for big arguments (hashing them costs time)."""
            tr, present = view()
            if cache_key is not None:
                return cached_keyed(cache_key, args, kwargs, tr=tr, present=present)
            return cached(*args, tr=tr, present=present, **kwargs)

        return call

    return wrap
