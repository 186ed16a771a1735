"""Graphs a class can read (issue 14): the drawing uses its width, labels never overlap each other or
a node, no label is under 12 px, and the "Graph size" zoom reaches every graph through the view.

The label boxes here are this test's own estimate (0.6 em a character, 1.2 em a line: a lower bound
of what viz.graph assumes), placed as plotly.js places scatter text (textPointPosition: off a shown
marker by size / 1.6 + 1 px), from the figure alone: its axis ranges, height, margins and the plot
width the figure was laid out for, and again at a full-width figure of a 1280-wide page.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings

import engine
from tests.strategies import random_graphs
from viz.graph import MIN_LABEL_PX, PLOT_PX, graph_figure
from viz.view import GRAPH_SIZES, View, adapt, graph_zoom, in_column, is_graph

FULL_WIDTH_PX = 1280 - 2 * 48 - 300 - 20  # a 1280 page less its padding, sidebar, figure margins


def _lines(text: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", part) for part in re.split(r"(?i)<br\s*/?>", text)]


def _boxes(fig, plot_w: float):
    """Every drawn label's box and every node marker's box, px (y down), at plot width ``plot_w``."""
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    plot_h = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    sx, sy = plot_w / (x1 - x0), plot_h / (y1 - y0)
    labels, nodes = [], []
    for tr in fig.data:
        if tr.mode and "markers" in tr.mode and tr.name not in ("shapes", "arrows") and tr.meta:
            if tr.meta.get("role") in ("node", "side"):
                half = tr.marker.size / 2
                for x, y in zip(tr.x, tr.y):
                    cx, cy = (x - x0) * sx, (y1 - y) * sy
                    nodes.append((cx - half, cy - half, cx + half, cy + half))
        if not (tr.mode and "text" in tr.mode):
            continue
        font = tr.textfont.size
        r = tr.marker.size / 1.6 + 1 if "markers" in tr.mode else 0.0
        spots = tr.textposition
        for k, (x, y, text) in enumerate(zip(tr.x, tr.y, tr.text)):
            if not text:
                continue
            where = spots[k] if isinstance(spots, tuple | list) else spots
            lines = _lines(text)
            w, h = 0.6 * font * max(len(line) for line in lines), 1.2 * font * len(lines)
            cx, cy = (x - x0) * sx, (y1 - y) * sy
            left = cx - r - w if "left" in where else (cx + r if "right" in where else cx - w / 2)
            top = (
                cy - r - h
                if where.startswith("top")
                else (cy + r if where.startswith("bottom") else cy - h / 2)
            )
            labels.append(((left, top, left + w, top + h), text, font, plot_h))
    return labels, nodes


def _hits(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def assert_legible(fig, plot_w: float = PLOT_PX) -> int:
    """No label under 12 px, outside the plot, over another label or over a node; returns how many."""
    labels, nodes = _boxes(fig, plot_w)
    for k, (box, text, font, plot_h) in enumerate(labels):
        assert font >= MIN_LABEL_PX, text
        assert box[0] >= -0.5 and box[2] <= plot_w + 0.5 and box[1] >= -0.5 and box[3] <= plot_h + 0.5, text
        for other, other_text, _, _ in labels[k + 1 :]:
            assert not _hits(box, other), (text, other_text)
        assert not any(_hits(box, node) for node in nodes), text
    return len(labels)


def _figures(graph):
    for direction in ("TB", "LR"):
        yield graph_figure(graph, direction=direction)
    yield graph_figure(graph, highlight=[graph.nodes[-1].name], changed=[graph.nodes[0].name])


@pytest.mark.parametrize("name", engine.preset_names())
def test_preset_labels_clear_each_other_at_half_and_full_width(name):
    for fig in _figures(engine.preset(name)):
        shown = assert_legible(fig, PLOT_PX)
        assert shown > 0, "a small graph names its nodes"
        assert assert_legible(fig, FULL_WIDTH_PX) == shown  # wider: same labels, further apart


@settings(max_examples=40, deadline=None)
@given(random_graphs(max_nodes=14))
def test_random_graph_labels_clear_each_other(graph):
    for fig in _figures(graph):
        assert_legible(fig, PLOT_PX)
        assert_legible(fig, FULL_WIDTH_PX)


@pytest.mark.parametrize("present", [False, True])
@pytest.mark.parametrize("zoom", [0.8, 1.0, 1.3])
@pytest.mark.parametrize("name", ["mlp", "resnet_basic_block", "self_attention"])
def test_labels_clear_each_other_in_every_view(name, zoom, present):
    fig = adapt(graph_figure(engine.preset(name)), View(present, graph_zoom=zoom))
    assert_legible(fig)


def test_no_aspect_lock_and_a_chain_fills_the_plot_width():
    """The old figure locked x:y to 1:1, so a chain drew in a strip; now the plot is the figure's
    width (less 10 px margins) and a chain's names and shapes sit across the middle of it."""
    fig = graph_figure(engine.preset("mlp"))
    assert fig.layout.yaxis.scaleanchor is None
    assert fig.layout.margin.l + fig.layout.margin.r <= 0.1 * PLOT_PX
    labels, nodes = _boxes(fig, PLOT_PX)
    used = max(b[2] for b, *_ in labels) - min(b[0] for b, *_ in labels)
    assert used >= 0.6 * PLOT_PX
    chain = [b for b in nodes if b[2] - b[0] > 15]  # the main nodes: one column
    centre = (chain[0][0] + chain[0][2]) / 2
    assert 0.25 * PLOT_PX < centre < 0.75 * PLOT_PX


def test_edge_shape_and_param_label_do_not_collide():
    """The reported case: "4×16" was drawn over "W1 16×32"; both are now shown, apart."""
    fig = graph_figure(engine.preset("mlp"))
    labels, _ = _boxes(fig, PLOT_PX)
    texts = {text: box for box, text, _, _ in labels}
    assert "4×16" in texts and "W1 16×32" in texts
    assert not _hits(texts["4×16"], texts["W1 16×32"])


def _chain(n: int):
    from engine.core.ir import Graph, Node

    nodes = [Node("x", "input", (), (), (2,))]
    nodes += [Node(f"r{k}", "relu", (nodes[-1].name if k == 0 else f"r{k - 1}",), (), (2,)) for k in range(n)]
    return Graph(tuple(nodes), (nodes[-1].name,))


def test_sizes_follow_the_graph_and_labels_never_shrink_below_12_px():
    small, mid, big = (graph_figure(_chain(n)) for n in (4, 60, 200))

    def marker(fig):
        return next(tr.marker.size for tr in fig.data if tr.name == "elemwise")

    def font(fig):
        return next(tr.textfont.size for tr in fig.data if tr.name == "elemwise")

    assert marker(small) > marker(mid) > marker(big)
    assert font(small) > font(mid) >= MIN_LABEL_PX
    assert all("text" not in tr.mode for tr in big.data if tr.name == "elemwise")  # hover only
    assert "r3" in " ".join(next(tr.text for tr in small.data if tr.name == "elemwise"))


def test_a_label_that_cannot_fit_goes_to_hover_only():
    """Sixteen siblings on one layer cannot all be named side by side at 400 px: some names are
    left to the hover (which still has every one), and those shown still clear each other."""
    from engine.core.ir import Graph, Node

    kids = [Node(f"node{k}", "relu", ("x",), (), (2,)) for k in range(16)]
    g = Graph((Node("x", "input", (), (), (2,)), *kids), tuple(k.name for k in kids))
    fig = graph_figure(g)
    trace = next(tr for tr in fig.data if tr.name == "elemwise")
    shown = [t for t in trace.text if t]
    assert 0 < len(shown) < 16
    assert all(f"node{k}" in " ".join(trace.hovertext) for k in range(16))
    assert_legible(fig)


def test_legend_sits_under_the_drawing_clear_of_the_title():
    fig = graph_figure(engine.preset("mlp"), title="Fused groups")
    for f in (fig, adapt(graph_figure(engine.preset("mlp"), title="Fused groups"), View(True))):
        assert f.layout.legend.yanchor == "top" and f.layout.legend.y <= 0
        assert f.layout.legend.orientation == "h"
        assert f.layout.margin.b >= 2 * (f.layout.legend.font.size or 12)  # room for the rows


# -- the "Graph size" zoom through the view --------------------------------------------------------
def test_view_zoom_defaults_and_hostile_values():
    assert View() == View(False, "light", 1.0) and hash(View()) == hash(View(graph_zoom=1.0))
    assert View(graph_zoom=1.3) != View()
    for bad in ("", "XL", "nan", "inf", "<img>", None, [1], float("nan"), float("inf"), True, "9" * 1000):
        assert graph_zoom(bad) == 1.0, bad
    assert graph_zoom("l") == GRAPH_SIZES["L"] and graph_zoom(99) == 1.5 and graph_zoom(0.01) == 0.75
    assert View(graph_zoom=float("nan")).graph_zoom == 1.0


def test_zoom_scales_markers_labels_and_height_of_graphs_only():
    base = graph_figure(engine.preset("mlp"))
    big = adapt(graph_figure(engine.preset("mlp")), View(graph_zoom=GRAPH_SIZES["L"]))
    small = adapt(graph_figure(engine.preset("mlp")), View(graph_zoom=GRAPH_SIZES["S"]))

    def sizes(fig):
        tr = next(t for t in fig.data if t.name == "out_elemwise_fusable")
        return tr.marker.size, tr.textfont.size, fig.layout.height

    (m0, f0, h0), (m1, f1, h1), (m2, f2, h2) = sizes(base), sizes(big), sizes(small)
    assert m1 > m0 > m2 and f1 > f0 >= f2 >= MIN_LABEL_PX and h1 > h0 > h2
    assert math.isclose(m1 / m0, GRAPH_SIZES["L"], rel_tol=0.05)
    assert is_graph(big) and big.layout.meta["graph"]["zoom"] == GRAPH_SIZES["L"]
    import plotly.graph_objects as go

    other = go.Figure(go.Scatter(x=[1], y=[1], marker=dict(size=10)), layout=dict(height=300))
    adapt(other, View(graph_zoom=1.3))
    assert other.data[0].marker.size == 10 and other.layout.height == 300  # not a graph: untouched


def test_zoom_keeps_page_share_meta_and_presenter_height_cap():
    from viz.view import PRESENT_MAX_HEIGHT

    fig = in_column(graph_figure(engine.preset("resnet_basic_block")), 0.5)
    adapt(fig, View(True))
    assert fig.layout.meta["page_share"] == 0.5 and is_graph(fig)
    assert fig.layout.height <= PRESENT_MAX_HEIGHT  # the default size is no taller than before
