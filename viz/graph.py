"""The computation-graph figure every lab uses: ``graph_figure(graph, ...) -> go.Figure``.

Typical calls::

    fig = graph_figure(graph, costs=engine.cost(graph), title="MLP")          # Graph Builder
    fig = graph_figure(step.graph, highlight=step.highlight, title=step.title)  # a stepper
    fig = graph_figure(after, changed=changed_names, groups=fused_kernels)      # passes / fusion
    fig = graph_figure(graph, node_text={"h": "h = 0.31, h̄ = -1.2"})          # autodiff values

Drawing stages:
  1. the layout comes from :func:`viz.graph_layout.compute_layout` (pure, tested on its own);
  2. ``groups`` become translucent rectangles *behind* their members;
  3. edges are one polyline trace (bends routed between nodes), with an arrowhead near each end;
     the tensor shape flowing along an edge is a label for small graphs and a hover point for big ones;
  4. nodes are one trace per kind (TVM pattern kind from the op registry; sources by op), so the
     legend explains the colours (:data:`viz.theme.KIND_COLORS`); params/constants are small diamonds
     beside their consumer;
  5. ``highlight`` and ``changed`` nodes get a thick ring in ``MEANING["highlight"]`` /
     ``MEANING["changed"]`` (their own legend entries).
Hover text: name, op, kind, attributes, shape/dtype, and FLOPs/MACs/params/bytes when ``costs`` is
given. Zoom and pan work through ``ui.show_figure`` (scrollZoom).
``fold=True`` first folds the longest back-to-back repeated block into one grey summary node
(:func:`viz.graph_fold.fold_repeats`): twelve identical transformer layers draw as one layer plus
"11× block".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from .graph_fold import FOLDED_OP, fold_repeats
from .graph_layout import GraphLayout, compute_layout, layout_graph
from .theme import KIND_COLORS, MEANING, SEQUENCE, apply_theme, theme_named
from .words import Translate, same

__all__ = [
    "graph_figure",
    "layout_graph",
    "compute_layout",
    "node_kind",
    "cost_rows_by_node",
    "value_figure",
    "flow_figure",
    "flow_svg",
    "fit_graph",
    "node_sizes",
    "text_px",
    "label_box",
    "PLOT_PX",
    "MIN_LABEL_PX",
]

_LABEL_LIMIT = 120  # above this many main nodes, names go to hover only
_EDGE_LABEL_LIMIT = 40  # above this many edges, shapes go to hover only
_SOURCE_KINDS = ("input", "param", "constant")
_KIND_COLORS = {**KIND_COLORS, "folded": MEANING["idle"]}


def node_kind(node, _cache: dict | None = None) -> str:
    """Colour class of a node: its op for sources, else its registry fusion kind ("opaque" if unknown)."""
    if node.op in _SOURCE_KINDS or node.op == FOLDED_OP:
        return node.op
    if _cache is not None and node.op in _cache:
        return _cache[node.op]
    try:
        from engine.core.registry import get_op

        kind = get_op(node.op).kind
    except Exception:  # noqa: BLE001 - an unregistered op still draws
        kind = "opaque"
    if _cache is not None:
        _cache[node.op] = kind
    return kind


def cost_rows_by_node(costs: Any) -> dict[str, dict]:
    """Node name -> a dict of cost fields, from an engine CostReport (or rows, or a mapping)."""
    if costs is None:
        return {}
    rows = getattr(costs, "nodes", None)  # engine.core.cost_model.CostReport.nodes: NodeCost rows
    if rows is None:
        rows = getattr(costs, "rows", costs)
        rows = rows() if callable(rows) else rows
    if isinstance(rows, Mapping):
        rows = [{"name": k, **_as_dict(v)} for k, v in rows.items()]
    out = {}
    for row in rows:
        d = _as_dict(row)
        if "name" in d:
            out[str(d["name"])] = d
    return out


def _as_dict(row: Any) -> dict:
    if isinstance(row, Mapping):
        return dict(row)
    if hasattr(row, "__dataclass_fields__"):
        return {k: getattr(row, k) for k in row.__dataclass_fields__}
    return {}


def _shape_text(shape: Iterable[int]) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt_count(v: Any) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.4g}"


_COST_FIELDS = (
    ("flops", "FLOPs"),
    ("macs", "MACs"),
    ("params", "params"),
    ("bytes_read", "bytes read"),
    ("bytes_written", "bytes written"),
)


def _hover(node, kind: str, cost: dict, extra: str | None, tr: Translate = same) -> str:
    lines = [
        f"<b>{node.name}</b> = {node.op}",
        f"{tr('kind')}: {tr(kind)}",
        f"{tr('shape')}: {_shape_text(node.shape)} ({node.dtype})",
    ]
    attrs = [(k, v) for k, v in node.attrs if k not in ("value",)]
    if attrs:
        lines.append(f"{tr('attrs')}: " + ", ".join(f"{k}={_short(v, 24)}" for k, v in attrs[:6]))
    if node.inputs:
        lines.append(f"{tr('inputs')}: " + _short(", ".join(node.inputs), 60))
    parts = [
        f"{tr(label)} {_fmt_count(cost[key])}"
        for key, label in _COST_FIELDS
        if cost.get(key) not in (None, 0)
    ]
    if parts:
        lines.append(" · ".join(parts))
    if extra:
        lines.append(str(extra))
    return "<br>".join(lines)


_NAME_CHARS = 18  # longer names (ONNX imports: "layer1.layer1.0.conv1.Conv") keep their tail


def _short_name(name: str) -> str:
    return name if len(name) <= _NAME_CHARS else "…" + name[-(_NAME_CHARS - 1) :]


def _label(node, extra: str | None) -> str:
    name = _short_name(node.name)
    base = name if node.name.startswith(node.op) else f"{name} = {node.op}"
    return f"{base}<br>{extra}" if extra else base


def _side_label(node, direction: str, crowded: bool) -> str:
    """Params are labelled beside themselves in TB graphs (where the label fits); otherwise on hover only."""
    if direction != "TB" or crowded:
        return ""
    return f"{_short_name(node.name)} {_shape_text(node.shape)}"


# -- sizes and label geometry ------------------------------------------------------------------------
#: The plot width (px) a graph's labels are placed for: a half-width column of a 1280-wide page (the
#: passes and fusion labs draw two graphs side by side). A wider figure only spreads the nodes further
#: apart, so labels that clear each other here clear each other there too.
PLOT_PX = 400
MIN_LABEL_PX = 12  # the least a class reads on a 1280-wide page; a label that cannot fit goes to hover
_MAX_UNIT_PX = 150  # px one layout unit may take across: a chain stays a chain, not a wide zig-zag
_LABEL_PAD = 3  # px of air kept around every label box
_MARGIN = dict(t=52, l=10, r=10)
_LEGEND_ROW_PX, _LEGEND_ITEM_PX = 1.45, 44  # a legend row's height (× font), an entry's swatch and gap
_TAGS = re.compile(r"<[^>]+>")
_NARROW = frozenset("iljtfr.,:;|!'()[] I1")
_WIDE = frozenset("mwMW@%×—…")


def node_sizes(n_main: int) -> tuple[int, int]:
    """(marker px, label font px) for a graph of ``n_main`` main nodes: few nodes draw large."""
    for limit, size, font in ((10, 26, 15), (25, 22, 14), (40, 20, 13), (_LABEL_LIMIT, 14, 12)):
        if n_main <= limit:
            return size, font
    return 8, MIN_LABEL_PX


def text_px(text: str, font: float) -> tuple[float, float]:
    """(width, height) in px a label takes at ``font`` px: a generous estimate per character (wide
    for DejaVu Sans, the widest fallback font), never under 0.6 em a character; lines split at <br>."""
    lines = [_TAGS.sub("", line) for line in re.split(r"(?i)<br\s*/?>", text)] or [""]

    def em(ch: str) -> float:
        if ch in _NARROW:
            return 0.36
        if ch in _WIDE or ord(ch) >= 0x2E80:
            return 1.0
        return 0.74 if ch.isupper() else 0.64

    width = max(max(sum(em(c) for c in line), 0.6 * len(line)) for line in lines) * font
    return width, font * (1.2 + 1.3 * (len(lines) - 1))


def _offset(marker: float | None) -> float:
    """How far plotly sets text off a shown marker of ``marker`` px (plotly.js textPointPosition)."""
    return marker / 2 / 0.8 + 1 if marker else 0.0


def label_box(x: float, y: float, text: str, font: float, position: str, marker: float | None):
    """The box (x0, y0, x1, y1), px with y down, that ``text`` drawn at ``position`` of a point at
    (x, y) px takes, as plotly places it (text set off ``marker`` by :func:`_offset`)."""
    w, h = text_px(text, font)
    r = _offset(marker)
    if "left" in position:
        x0 = x - r - w
    elif "right" in position:
        x0 = x + r
    else:
        x0 = x - w / 2
    if position.startswith("top"):
        y0 = y - r - h
    elif position.startswith("bottom"):
        y0 = y + r
    else:
        y0 = y - h / 2
    return (x0, y0, x0 + w, y0 + h)


def _overlap(a, b, pad: float = _LABEL_PAD) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


#: where each kind of label may go, in order of preference (none fits: hover only)
_CHOICES = {
    ("TB", "node"): ("middle left", "middle right"),
    ("TB", "side"): ("middle right",),
    ("TB", "edge"): ("middle right", "middle left"),
    ("LR", "node"): ("top center", "bottom center"),
    ("LR", "side"): (),
    ("LR", "edge"): ("bottom center", "top center"),
}
_ORDER = ("node", "side", "edge")  # names first, then params, then shapes


def _scale(lo: float, hi: float, plot_px: float, pad_lo: float, pad_hi: float, cap: float):
    """An axis range over [lo, hi] in ``plot_px`` px keeping ``pad_lo``/``pad_hi`` px free at the
    ends; the extent is centred when the cap on px per unit leaves room. Returns (range, px per unit)."""
    span = hi - lo
    room = max(plot_px - pad_lo - pad_hi, 1.0)
    unit = min(room / span, cap) if span > 0 else cap
    spare = (room - span * unit) / 2
    return [lo - (pad_lo + spare) / unit, hi + (pad_hi + spare) / unit], unit


def _legend_rows(fig: go.Figure, plot_px: float, font: float) -> int:
    names = [tr.name for tr in fig.data if tr.showlegend is not False and tr.name]
    if not names:
        return 0
    rows, used = 1, 0.0
    for name in names:
        w = _LEGEND_ITEM_PX + text_px(str(name), font)[0]
        if used and used + w > plot_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def fit_graph(fig: go.Figure, zoom: float | None = None) -> go.Figure:
    """Lay a :func:`graph_figure` out for its present sizes (in place): scale markers, label fonts and
    the drawing's height by ``zoom`` (relative to the zoom it was built at, labels never under
    :data:`MIN_LABEL_PX`), set both axis ranges so nodes use the width (no aspect lock) and every
    label stays inside the plot, then place each label where it clears every other label and node at
    :data:`PLOT_PX` wide, or leave it to the hover. :func:`viz.view.adapt` calls this after presenter
    type or a theme changed the sizes."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    info = dict(meta.get("graph") or {})
    if not info:
        return fig
    if zoom is not None and zoom != info.get("zoom", 1.0):
        _zoom(fig, zoom / info.get("zoom", 1.0))
        info["zoom"] = zoom
    fig.layout.meta = {**meta, "graph": info}
    _place(fig, info)
    return fig


def _zoom(fig: go.Figure, factor: float) -> None:
    for trace in fig.data:
        role = (trace.meta or {}).get("role") if isinstance(trace.meta, dict) else None
        if role is None:
            continue
        if role != "edge" and isinstance(trace.marker.size, int | float):
            trace.marker.size = max(4, round(trace.marker.size * factor, 1))
        if isinstance(trace.textfont.size, int | float):
            trace.textfont.size = max(MIN_LABEL_PX, round(trace.textfont.size * factor, 1))
    layout = fig.layout
    fixed = (layout.margin.t or 0) + (layout.margin.b or 0)
    layout.height = round(fixed + ((layout.height or 420) - fixed) * factor)


def _place(fig: go.Figure, info: dict) -> None:
    direction = info.get("direction", "TB")
    labelled = [tr for tr in fig.data if isinstance(tr.meta, dict) and "labels" in tr.meta]
    markers = [tr for tr in fig.data if isinstance(tr.meta, dict) and tr.meta.get("role") in ("node", "side")]
    points = [(x, y) for tr in markers for x, y in zip(tr.x, tr.y)]
    if not points:
        return
    plot_w = float(info.get("plot_px", PLOT_PX))
    legend_font = fig.layout.legend.font.size or fig.layout.font.size or 14
    rows = _legend_rows(fig, plot_w, legend_font)
    fig.layout.margin.b = 10 + round(rows * _LEGEND_ROW_PX * legend_font + (6 if rows else 0))
    height = fig.layout.height or 420
    plot_h = max(height - (fig.layout.margin.t or 0) - fig.layout.margin.b, 60)
    # room for labels at the ends of each axis: the widest (TB) or tallest (LR) label and a marker
    biggest = max((tr.marker.size or 0) for tr in markers)
    widest, tallest = 0.0, 0.0
    for tr in labelled:
        font = tr.textfont.size or MIN_LABEL_PX
        for text in tr.meta["labels"]:
            if text:
                w, h = text_px(text, font)
                widest, tallest = max(widest, w), max(tallest, h)
    reach = _offset(biggest) + _LABEL_PAD
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if direction == "TB":
        pad_x = min(widest + reach, 0.42 * plot_w)
        xrange, sx = _scale(min(xs), max(xs), plot_w, pad_x, pad_x, _MAX_UNIT_PX)
        pad_y = max(biggest, tallest) / 2 + _LABEL_PAD + 4
    else:
        pad_x = min(widest / 2 + _LABEL_PAD, 0.3 * plot_w)
        xrange, sx = _scale(min(xs), max(xs), plot_w, pad_x, pad_x, _MAX_UNIT_PX)
        pad_y = tallest + reach + 2
    yrange, sy = _scale(min(ys), max(ys), plot_h, pad_y, pad_y, info.get("unit_y", 1e9))
    fig.update_xaxes(range=xrange, autorange=False)
    fig.update_yaxes(range=yrange, autorange=False)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - xrange[0]) * sx, (yrange[1] - y) * sy

    taken = []
    for tr in markers:
        half = (tr.marker.size or 0) / 2
        for x, y in zip(tr.x, tr.y):
            cx, cy = px(x, y)
            taken.append((cx - half, cy - half, cx + half, cy + half))
    jobs = sorted(labelled, key=lambda tr: _ORDER.index(tr.meta["role"]))
    for tr in jobs:
        role, font = tr.meta["role"], tr.textfont.size or MIN_LABEL_PX
        marker = tr.marker.size if "markers" in (tr.mode or "") else None
        texts, spots = [], []
        for x, y, text in zip(tr.x, tr.y, tr.meta["labels"]):
            spot, shown = _CHOICES[(direction, role)][:1] or ("middle right",), ""
            if text and font >= MIN_LABEL_PX:
                cx, cy = px(x, y)
                for where in _CHOICES[(direction, role)]:
                    box = label_box(cx, cy, text, font, where, marker)
                    inside = box[0] >= 0 and box[2] <= plot_w and box[1] >= 0 and box[3] <= plot_h
                    if inside and not any(_overlap(box, other) for other in taken):
                        taken.append(box)
                        spot, shown = (where,), text
                        break
            texts.append(shown)
            spots.append(spot[0])
        tr.text = texts
        tr.textposition = spots


def _edge_traces(graph, lay: GraphLayout, big: bool, font: int) -> list[go.Scatter]:
    xs, ys, ax, ay, lx, ly, lt = [], [], [], [], [], [], []
    for (src, _dst), path in lay.edge_paths.items():
        side = src in lay.side
        for x, y in path:
            xs.append(x)
            ys.append(y)
        xs.append(None)
        ys.append(None)
        (x0, y0), (x1, y1) = path[-2], path[-1]
        ax.append(x0 + 0.78 * (x1 - x0))
        ay.append(y0 + 0.78 * (y1 - y0))
        if side:  # a param's shape is written beside the param itself
            continue
        mid = path[len(path) // 2 - 1] if len(path) > 2 else path[0]
        nxt = path[len(path) // 2]
        lx.append((mid[0] + nxt[0]) / 2)
        ly.append((mid[1] + nxt[1]) / 2)
        lt.append(_shape_text(graph.by_name[src].shape))
    line = go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line=dict(color="#8a8a8a", width=1.2),
        hoverinfo="skip",
        showlegend=False,
        name="edges",
    )
    symbol = "triangle-down" if lay.direction == "TB" else "triangle-right"
    heads = go.Scatter(
        x=ax,
        y=ay,
        mode="markers",
        hoverinfo="skip",
        showlegend=False,
        marker=dict(symbol=symbol, size=7, color="#8a8a8a"),
        name="arrows",
    )
    labels = go.Scatter(
        x=lx,
        y=ly,
        mode="markers" if big else "markers+text",
        text=lt,
        hovertext=lt,
        name="shapes",
        hoverinfo="text",
        showlegend=False,
        textfont=dict(size=max(MIN_LABEL_PX, font - 2), color="#666"),
        marker=dict(size=6, color="rgba(0,0,0,0)"),
        meta={"role": "edge"} if big else {"role": "edge", "labels": lt},
    )
    return [line, heads, labels]


def _group_shapes(groups, lay: GraphLayout) -> list[dict]:
    shapes = []
    for k, members in enumerate(groups or ()):
        pts = [lay.positions[m] for m in members if m in lay.positions]
        if not pts:
            continue
        color = SEQUENCE[k % len(SEQUENCE)]
        shapes.append(
            dict(
                type="rect",
                layer="below",
                line=dict(color=color, width=1),
                fillcolor=color,
                opacity=0.16,
                x0=min(p[0] for p in pts) - 0.35,
                x1=max(p[0] for p in pts) + 0.35,
                y0=min(p[1] for p in pts) - 0.35,
                y1=max(p[1] for p in pts) + 0.35,
            )
        )
    return shapes


def _ring(names, lay, color: str, label: str, size: int) -> go.Scatter | None:
    pts = [lay.positions[n] for n in names if n in lay.positions]
    if not pts:
        return None
    return go.Scatter(
        x=[p[0] for p in pts],
        y=[p[1] for p in pts],
        mode="markers",
        name=label,
        hoverinfo="skip",
        marker=dict(symbol="square", size=size + 10, color="rgba(0,0,0,0)", line=dict(color=color, width=4)),
        meta={"role": "ring"},
    )


def _node_traces(
    graph, lay, costs, node_text, big: bool, size: int, font: int, tr: Translate = same
) -> list[go.Scatter]:
    cache: dict = {}
    by_kind: dict[str, list] = {}
    for n in graph.nodes:
        by_kind.setdefault(node_kind(n, cache), []).append(n)
    order = [*_SOURCE_KINDS, *(k for k in KIND_COLORS if k not in _SOURCE_KINDS)]
    traces = []
    for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else len(order)):
        nodes = by_kind[kind]
        side = kind in ("param", "constant")
        extra = [node_text.get(n.name) if node_text else None for n in nodes]
        show_text = not big or bool(node_text)
        role = "side" if side else "node"
        labels = [
            _label(n, e) if not side else _side_label(n, lay.direction, n_side_crowded(lay))
            for n, e in zip(nodes, extra)
        ]
        traces.append(
            go.Scatter(
                x=[lay.positions[n.name][0] for n in nodes],
                y=[lay.positions[n.name][1] for n in nodes],
                mode="markers+text" if show_text else "markers",
                name=tr(kind),
                text=labels,
                textfont=dict(size=font),
                hovertext=[_hover(n, kind, costs.get(n.name, {}), e, tr) for n, e in zip(nodes, extra)],
                hoverinfo="text",
                marker=dict(
                    symbol="diamond" if side else ("circle" if kind == "input" else "square"),
                    size=max(8, round(size * 0.6)) if side else size,
                    color=_KIND_COLORS.get(kind, KIND_COLORS["opaque"]),
                    line=dict(color="#333", width=1),
                ),
                meta={"role": role, "labels": labels} if show_text else {"role": role},
            )
        )
    return traces


def n_side_crowded(lay: GraphLayout) -> bool:
    """Params go unlabelled in big graphs (the hover names them)."""
    return len(lay.layers) > 40


def graph_figure(
    graph,
    highlight: Iterable[str] = (),
    changed: Iterable[str] = (),
    groups: list[list[str]] | None = None,
    node_text: Mapping[str, str] | None = None,
    costs: Any = None,
    title: str = "",
    height: int | None = None,
    fold: bool = False,
    direction: str = "TB",
    tr: Translate = same,
) -> go.Figure:
    """Draw ``graph`` as a layered DAG (see the module docstring for every argument's meaning).

    ``tr``: the legend's words (fusion kinds, sources, highlight rings) in the view's language.

    ``direction``: "TB" (top to bottom, default) or "LR" (left to right).
    ``costs``: an engine.core.cost_model report (or rows with a ``name``) adds FLOPs/MACs/params/bytes
    to the hover text.

    Sizes follow the graph (:func:`node_sizes`: few nodes draw large, labels never under 12 px); the
    drawing fills the width it is given (no aspect lock) and :func:`fit_graph` places the labels
    clear of each other. The figure is marked ``layout.meta["graph"]``, so :func:`viz.view.adapt`
    applies the view's "Graph size" zoom to it.
    """
    if fold:
        graph = fold_repeats(graph)[0]
    lay = compute_layout(graph, direction)
    n_main = len(lay.layers)
    big = n_main > _LABEL_LIMIT
    size, font = node_sizes(n_main)
    rows = cost_rows_by_node(costs)
    fig = go.Figure()
    crowded = len(lay.edge_paths) > _EDGE_LABEL_LIMIT or (direction == "LR" and lay.n_layers > 8)
    for trace in _edge_traces(graph, lay, big or crowded, font):
        fig.add_trace(trace)
    for trace in _node_traces(graph, lay, rows, node_text, big, size, font, tr):
        fig.add_trace(trace)
    for names, key, label in ((changed, "changed", "changed"), (highlight, "highlight", "highlighted")):
        ring = _ring(list(names), lay, MEANING[key], tr(label), size)
        if ring is not None:
            fig.add_trace(ring)
    fig.update_layout(
        shapes=_group_shapes(groups, lay), hovermode="closest", dragmode="pan", hoverlabel=dict(align="left")
    )
    axis = dict(visible=False, showgrid=False, zeroline=False)
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    unit_y = max(44.0, size + 2.2 * font)  # px between two layers (TB)
    if height is None:
        span = lay.n_layers if direction == "TB" else lay.width + 1
        step = unit_y if direction == "TB" else max(40.0, size + 1.6 * font)
        height = int(min(2400, max(300, 120 + step * max(span - 1, 0) + 2 * (size + font))))
    apply_theme(fig, title or graph.title or tr("Computation graph"), height)
    # the title alone on top; the legend of kinds under the drawing, at the left, in as few rows as fit
    fig.update_layout(
        margin=dict(**_MARGIN, b=40),
        title=dict(y=1.0, yref="container", yanchor="top", pad=dict(t=12)),
        legend=dict(orientation="h", y=0, yanchor="top", x=0, xanchor="left", font=dict(size=font - 1)),
        meta={"graph": {"direction": direction, "plot_px": PLOT_PX, "zoom": 1.0, "unit_y": unit_y}},
    )
    return fit_graph(fig)


# -- one node's value ------------------------------------------------------------------------------
_HEATMAP_MAX = 256  # rows/columns shown in the heatmap (larger values are cut, the title says so)


#: The value heatmap's colours: plotly's "RdBu" runs red (lowest) to blue (highest); with zmid = 0 a
#: positive number is blue and a negative one red, as every diverging heatmap of the app draws them.
VALUE_COLORSCALE = "RdBu"
VALUE_COLOURS = {"positive": "blue", "negative": "red"}  # what a caption says of VALUE_COLORSCALE


def value_figure(name: str, array, tr: Translate = same) -> go.Figure:
    """A node's value: a heatmap of its 2-D view (leading axes flattened) and a histogram.

    Used for tensors too large for a table; the heatmap is cut to 256×256 (said in the title). Positive
    numbers are blue, negative red (:data:`VALUE_COLOURS`). The colour bar sits in the gap between the
    two panels and the histogram's count axis is on its right, so no axis title meets the bar.
    """
    import numpy as np
    from plotly.subplots import make_subplots

    arr = np.asarray(array, dtype=np.float64)
    view = arr.reshape(1, -1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1])
    cut = view[:_HEATMAP_MAX, :_HEATMAP_MAX]
    note = tr(" (first 256×256 shown)") if cut.shape != view.shape else ""
    widths, gap = (0.6, 0.4), 0.14
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=list(widths),
        horizontal_spacing=gap,
        subplot_titles=(
            tr("values as {rows}×{cols}").format(rows=view.shape[0], cols=view.shape[1]) + note,
            tr("distribution"),
        ),
    )
    heat_end = (1 - gap) * widths[0]  # the heatmap's right edge (paper x): the bar starts just after it
    fig.add_trace(
        go.Heatmap(
            z=cut,
            colorscale=VALUE_COLORSCALE,
            zmid=0.0,
            name=name,
            colorbar=dict(x=heat_end + 0.015, xanchor="left", len=0.9, thickness=14, title=tr("value")),
        ),
        row=1,
        col=1,
    )
    finite = arr[np.isfinite(arr)].ravel()
    fig.add_trace(
        go.Histogram(
            x=finite,
            nbinsx=40,
            marker=dict(color=MEANING["forward"], showscale=False),
            name=tr("count"),
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed", title_text=tr("row (leading axes flattened)"), row=1, col=1)
    fig.update_xaxes(title_text=tr("column (last axis)"), row=1, col=1)
    fig.update_xaxes(title_text=tr("value"), row=1, col=2)
    fig.update_yaxes(title_text=tr("count of elements"), side="right", row=1, col=2)
    shape = "×".join(str(d) for d in arr.shape) or tr("scalar")
    return apply_theme(fig, tr("Value of {name} ({shape})").format(name=name, shape=shape), 380)


# -- a simple left-to-right flow of labelled stages (the curriculum map) ---------------------------
def flow_figure(stages: list[tuple[str, str]], title: str, height: int = 230) -> go.Figure:
    """Boxes ``(label, detail)`` joined left to right by arrows, e.g. one graph through every lens.

    The axis is the order of the stages (no units); ``detail`` shows under each label and on hover.
    """
    fig = go.Figure()
    xs = list(range(len(stages)))
    for k in xs[:-1]:
        fig.add_annotation(
            x=k + 0.72,
            y=0,
            ax=k + 0.28,
            ay=0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.2,
            arrowwidth=2,
            arrowcolor="#888",
            text="",
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[0] * len(stages),
            mode="markers+text",
            showlegend=False,
            marker=dict(
                symbol="square",
                size=46,
                color=[SEQUENCE[k % len(SEQUENCE)] for k in xs],
                line=dict(color="#333", width=1),
                opacity=0.85,
            ),
            text=[f"<b>{k + 1}</b>" for k in xs],
            textfont=dict(color="white", size=16),
            hovertext=[f"{label}<br>{detail}" for label, detail in stages],
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[-0.55] * len(stages),
            mode="text",
            showlegend=False,
            hoverinfo="skip",
            text=[f"{label}<br><span style='font-size:11px'>{detail}</span>" for label, detail in stages],
            textposition="bottom center",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.6, len(stages) - 0.4])
    fig.update_yaxes(visible=False, range=[-1.6, 0.6])
    apply_theme(fig, title, height)
    fig.update_layout(margin=dict(l=10, r=10, t=50, b=10))
    return fig


FLOW_STEP, FLOW_BOX = 170, 46  # px between stage centres; side of a stage's numbered square


def flow_svg(stages: list[tuple[str, str]], title: str, theme: str = "light", present: bool = False) -> str:
    """:func:`flow_figure`'s picture as one standalone SVG: numbered squares joined by arrows, each
    stage's label and detail under it, the title above, in ``theme``'s text colour (presenter type
    1.4x larger). Drawn by the browser as markup, so a page that shows only this needs no plotly
    code there (a first visit's ~1 s here). Every text is escaped: labels come from translations.
    """
    import html

    k = 1.4 if present else 1.0
    ink, muted = theme_named(theme).text, theme_named(theme).axis
    step, box = FLOW_STEP * k, FLOW_BOX * k
    top = 40 * k
    width, height = max(len(stages), 1) * step, top + box + 62 * k
    cy = top + box / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="sans-serif">',
        f"<title>{html.escape(title)}</title>",
        '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{muted}"/></marker></defs>',
        f'<text x="4" y="{22 * k:.1f}" font-size="{16 * k:.1f}" fill="{ink}">{html.escape(title)}</text>',
    ]
    for i, (label, detail) in enumerate(stages):
        cx = step * (i + 0.5)
        if i + 1 < len(stages):
            parts.append(
                f'<line x1="{cx + box / 2 + 8 * k:.1f}" y1="{cy:.1f}" x2="{cx + step - box / 2 - 8 * k:.1f}" '
                f'y2="{cy:.1f}" stroke="{muted}" stroke-width="2" marker-end="url(#flow-arrow)"/>'
            )
        colour = SEQUENCE[i % len(SEQUENCE)]
        parts += [
            f'<rect x="{cx - box / 2:.1f}" y="{top:.1f}" width="{box:.1f}" height="{box:.1f}" rx="4" '
            f'fill="{colour}" fill-opacity="0.85" stroke="#333"/>',
            f'<text x="{cx:.1f}" y="{cy + 6 * k:.1f}" text-anchor="middle" font-size="{16 * k:.1f}" '
            f'font-weight="bold" fill="white">{i + 1}</text>',
            f'<text x="{cx:.1f}" y="{top + box + 24 * k:.1f}" text-anchor="middle" '
            f'font-size="{13 * k:.1f}" fill="{ink}">{html.escape(label)}</text>',
            f'<text x="{cx:.1f}" y="{top + box + 44 * k:.1f}" text-anchor="middle" '
            f'font-size="{11 * k:.1f}" fill="{muted}">{html.escape(detail)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)
