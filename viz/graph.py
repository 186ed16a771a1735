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

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from .graph_fold import FOLDED_OP, fold_repeats
from .graph_layout import GraphLayout, compute_layout, layout_graph
from .theme import KIND_COLORS, MEANING, SEQUENCE, apply_theme
from .words import Translate, same

__all__ = [
    "graph_figure",
    "layout_graph",
    "compute_layout",
    "node_kind",
    "cost_rows_by_node",
    "value_figure",
    "flow_figure",
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
    """Params are labelled beside themselves in small TB graphs; otherwise on hover only."""
    if direction != "TB" or crowded:
        return ""
    return f"{_short_name(node.name)} {_shape_text(node.shape)}"


def _edge_traces(graph, lay: GraphLayout, big: bool) -> list[go.Scatter]:
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
    label_mode = "markers" if big else "markers+text"
    labels = go.Scatter(
        x=lx,
        y=ly,
        mode=label_mode,
        text=lt,
        hovertext=lt,
        name="shapes",
        hoverinfo="text",
        showlegend=False,
        textfont=dict(size=12, color="#666"),  # 12 px: the least a class reads on a 1280-wide page
        textposition="middle right" if lay.direction == "TB" else "top center",
        marker=dict(size=6, color="rgba(0,0,0,0)"),
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
    )


def _node_traces(
    graph, lay, costs, node_text, big: bool, size: int, tr: Translate = same
) -> list[go.Scatter]:
    cache: dict = {}
    by_kind: dict[str, list] = {}
    for n in graph.nodes:
        by_kind.setdefault(node_kind(n, cache), []).append(n)
    text_pos = "middle left" if lay.direction == "TB" else "top center"
    order = [*_SOURCE_KINDS, *(k for k in KIND_COLORS if k not in _SOURCE_KINDS)]
    traces = []
    for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else len(order)):
        nodes = by_kind[kind]
        side = kind in ("param", "constant")
        extra = [node_text.get(n.name) if node_text else None for n in nodes]
        show_text = not big or node_text
        traces.append(
            go.Scatter(
                x=[lay.positions[n.name][0] for n in nodes],
                y=[lay.positions[n.name][1] for n in nodes],
                mode="markers+text" if show_text else "markers",
                name=tr(kind),
                text=[
                    _label(n, e) if not side else _side_label(n, lay.direction, size < 22)
                    for n, e in zip(nodes, extra)
                ],
                textposition="middle right" if side else text_pos,
                textfont=dict(size=12),
                hovertext=[_hover(n, kind, costs.get(n.name, {}), e, tr) for n, e in zip(nodes, extra)],
                hoverinfo="text",
                marker=dict(
                    symbol="diamond" if side else ("circle" if kind == "input" else "square"),
                    size=max(6, size // 2) if side else size,
                    color=_KIND_COLORS.get(kind, KIND_COLORS["opaque"]),
                    line=dict(color="#333", width=1),
                ),
            )
        )
    return traces


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
    """
    if fold:
        graph = fold_repeats(graph)[0]
    lay = compute_layout(graph, direction)
    n_main = len(lay.layers)
    big = n_main > _LABEL_LIMIT
    size = 22 if n_main <= 40 else (14 if n_main <= _LABEL_LIMIT else 8)
    rows = cost_rows_by_node(costs)
    fig = go.Figure()
    crowded = len(lay.edge_paths) > _EDGE_LABEL_LIMIT or (direction == "LR" and lay.n_layers > 8)
    for trace in _edge_traces(graph, lay, big or crowded):
        fig.add_trace(trace)
    for trace in _node_traces(graph, lay, rows, node_text, big, size, tr):
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
    fig.update_yaxes(**axis, scaleanchor="x", scaleratio=1)
    _pad_axes(fig, lay)
    if height is None:
        span = lay.n_layers if direction == "TB" else lay.width + 1
        height = int(min(2400, max(360, 130 + 60 * span)))
    apply_theme(fig, title or graph.title or tr("Computation graph"), height)
    # title on its own line above the legend of kinds
    fig.update_layout(
        margin=dict(t=90, l=10, r=10, b=10),
        title=dict(y=0.99, yanchor="top"),
        legend=dict(y=1.0, yanchor="bottom", x=0, xanchor="left"),
    )
    return fig


def _pad_axes(fig: go.Figure, lay: GraphLayout) -> None:
    """Leave room for labels left of (TB) or above (LR) the nodes."""
    if not lay.positions:
        return
    xs = [p[0] for p in lay.positions.values()]
    ys = [p[1] for p in lay.positions.values()]
    left, top = (2.4, 0.6) if lay.direction == "TB" else (1.2, 1.0)
    fig.update_xaxes(range=[min(xs) - left, max(xs) + 1.2])
    fig.update_yaxes(range=[min(ys) - 0.6, max(ys) + top])


# -- one node's value ------------------------------------------------------------------------------
_HEATMAP_MAX = 256  # rows/columns shown in the heatmap (larger values are cut, the title says so)


def value_figure(name: str, array) -> go.Figure:
    """A node's value: a heatmap of its 2-D view (leading axes flattened) and a histogram.

    Used for tensors too large for a table; the heatmap is cut to 256×256 (said in the title).
    """
    import numpy as np
    from plotly.subplots import make_subplots

    arr = np.asarray(array, dtype=np.float64)
    view = arr.reshape(1, -1) if arr.ndim < 2 else arr.reshape(-1, arr.shape[-1])
    cut = view[:_HEATMAP_MAX, :_HEATMAP_MAX]
    note = " (first 256×256 shown)" if cut.shape != view.shape else ""
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        subplot_titles=(f"values as {view.shape[0]}×{view.shape[1]}{note}", "distribution"),
    )
    fig.add_trace(
        go.Heatmap(
            z=cut, colorscale="RdBu", zmid=0.0, name=name, colorbar=dict(x=0.58, len=0.9, title="value")
        ),
        row=1,
        col=1,
    )
    finite = arr[np.isfinite(arr)].ravel()
    fig.add_trace(
        go.Histogram(x=finite, nbinsx=40, marker_color=MEANING["forward"], name="count", showlegend=False),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed", title_text="row (leading axes flattened)", row=1, col=1)
    fig.update_xaxes(title_text="column (last axis)", row=1, col=1)
    fig.update_xaxes(title_text="value", row=1, col=2)
    fig.update_yaxes(title_text="count of elements", row=1, col=2)
    shape = "×".join(str(d) for d in arr.shape) or "scalar"
    return apply_theme(fig, f"Value of {name} ({shape})", 380)


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
