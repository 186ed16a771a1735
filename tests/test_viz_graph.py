"""The graph figure: layout properties, drawing options, DOT/Mermaid text."""

from __future__ import annotations

import math
import random
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.core.cost_model import cost as graph_cost
from engine.core.ir import Graph, Node
from tests.strategies import random_graphs
from viz.graph import cost_rows_by_node, graph_figure, node_kind
from viz.graph_layout import compute_layout, layout_graph
from viz.graph_text import mermaid_ids, to_dot, to_mermaid
from viz.theme import KIND_COLORS, MEANING


def random_dag(n: int, seed: int = 0) -> Graph:
    """A random DAG of ``n`` nodes built from Node objects (ops need not be registered)."""
    rnd = random.Random(seed)
    nodes = [Node("in0", "input", (), (), (2,))]
    for i in range(1, n):
        r = rnd.random()
        if r < 0.15:
            nodes.append(Node(f"p{i}", "param", (), (), (2,)))
        elif r < 0.2:
            nodes.append(Node(f"in{i}", "input", (), (), (2,)))
        else:
            recent = [x.name for x in nodes[-20:]]
            ins = tuple(dict.fromkeys(rnd.choice(recent) for _ in range(rnd.randint(1, 3))))
            nodes.append(Node(f"op#{i}", "add", ins, (), (2,)))
    return Graph(tuple(nodes), (nodes[-1].name,))


def residual_chain(blocks: int) -> Graph:
    nodes = [Node("x", "input", (), (), (4, 8))]
    prev = "x"
    for b in range(blocks):
        nodes += [
            Node(f"W{b}", "param", (), (), (8, 8)),
            Node(f"b{b}", "param", (), (), (8,)),
            Node(f"mm{b}", "matmul", (prev, f"W{b}"), (), (4, 8)),
            Node(f"add{b}", "add", (f"mm{b}", f"b{b}"), (), (4, 8)),
            Node(f"relu{b}", "relu", (f"add{b}",), (), (4, 8)),
            Node(f"res{b}", "add", (f"relu{b}", prev), (), (4, 8)),
        ]
        prev = f"res{b}"
    return Graph(tuple(nodes), (prev,))


def _edges(graph):
    return [(i, n.name) for n in graph.nodes for i in dict.fromkeys(n.inputs) if i in graph]


def check_layout(graph, direction="TB"):
    pos = layout_graph(graph, direction)
    assert set(pos) == {n.name for n in graph.nodes}
    rounded = {(round(x, 6), round(y, 6)) for x, y in pos.values()}
    assert len(rounded) == len(pos), "two nodes share a position"
    if len(pos) <= 200:  # no two markers overlap: side nodes are the closest, 0.3 units apart
        pts = sorted(pos.values())
        for k, (x0, y0) in enumerate(pts):
            for x1, y1 in pts[k + 1 :]:
                if x1 - x0 >= 0.29:
                    break
                assert math.hypot(x1 - x0, y1 - y0) >= 0.29, "two nodes overlap"
    for src, dst in _edges(graph):
        if direction == "TB":
            assert pos[dst][1] < pos[src][1], f"edge {src}->{dst} does not point down"
        else:
            assert pos[dst][0] > pos[src][0], f"edge {src}->{dst} does not point right"
    return pos


# -- layout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", engine.preset_names())
@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_presets_lay_out_forward_without_overlap(name, direction):
    check_layout(engine.preset(name), direction)


@settings(max_examples=40, deadline=None)
@given(random_graphs(max_nodes=12))
def test_random_graphs_lay_out_forward_without_overlap(graph):
    check_layout(graph)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 120), st.integers(0, 10**6), st.sampled_from(["TB", "LR"]))
def test_random_dags_with_shared_params_lay_out_forward_without_overlap(n, seed, direction):
    check_layout(random_dag(n, seed), direction)


def test_params_sit_beside_their_consumer_not_on_a_layer():
    g = engine.preset("mlp")
    lay = compute_layout(g)
    assert {p.name for p in g.params} == set(lay.side)
    assert not set(lay.side) & set(lay.layers)
    for p in g.params:
        consumer = g.users[p.name][0]
        (px, py), (cx, cy) = lay.positions[p.name], lay.positions[consumer]
        assert 0 < px - cx < 1.5  # to the right of its consumer, closer than a node gap
        assert 0 < py - cy < 0.5  # slightly before it along the flow
    # the ops are a single chain: matmul, add, relu, matmul, add, softmax on 6 consecutive layers
    ops = [n.name for n in g.op_nodes]
    assert [lay.layers[o] for o in ops] == list(range(1, 7))


def test_late_input_is_pulled_next_to_its_consumer():
    nodes = (
        Node("x", "input", (), (), (2,)),
        Node("a", "relu", ("x",), (), (2,)),
        Node("b", "relu", ("a",), (), (2,)),
        Node("c", "relu", ("b",), (), (2,)),
        Node("label", "input", (), (), (2,)),
        Node("loss", "sub", ("c", "label"), (), (2,)),
    )
    lay = compute_layout(Graph(nodes, ("loss",)))
    assert lay.layers["label"] == lay.layers["loss"] - 1 == 3


def test_long_edges_are_routed_through_bend_points():
    g = residual_chain(2)
    lay = compute_layout(g)
    path = lay.edge_paths[("x", "res0")]
    assert len(path) == lay.layers["res0"] - lay.layers["x"] + 1
    pos = lay.positions
    # the bend points stay clear of the main chain's nodes on their layers
    for point in path[1:-1]:
        for name in ("mm0", "add0", "relu0"):
            assert abs(point[0] - pos[name][0]) >= 0.99 or abs(point[1] - pos[name][1]) > 0.1


def test_a_chain_is_drawn_straight_and_a_diamond_without_crossing():
    chain = Graph(
        tuple(
            [Node("x", "input", (), (), (2,))]
            + [Node(f"r{k}", "relu", (f"r{k - 1}" if k else "x",), (), (2,)) for k in range(6)]
        ),
        ("r5",),
    )
    xs = {round(x, 6) for x, _ in layout_graph(chain).values()}
    assert len(xs) == 1
    diamond = Graph(
        (
            Node("x", "input", (), (), (2,)),
            Node("a", "relu", ("x",), (), (2,)),
            Node("b", "exp", ("x",), (), (2,)),
            Node("c", "add", ("a", "b"), (), (2,)),
        ),
        ("c",),
    )
    pos = layout_graph(diamond)
    assert pos["a"][1] == pos["b"][1] and abs(pos["a"][0] - pos["b"][0]) >= 2.0
    assert min(pos["a"][0], pos["b"][0]) < pos["c"][0] < max(pos["a"][0], pos["b"][0])


def test_bad_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        layout_graph(engine.preset("mlp"), "BT")


# Guards against accidental quadratic blow-ups, not benchmarks (make bench has the real timings):
# the limits are ~10x the medians measured on a quiet 2-core machine, so a shared CI box passes.
@pytest.mark.parametrize("n, limit", [(300, 2.0), (500, 3.5), (2000, 10.0)])
def test_layout_is_fast(n, limit):
    g = random_dag(n, seed=n)
    check_layout(g)
    best = min(_timed(lambda: compute_layout(g)) for _ in range(3))
    assert best < limit, f"{n} nodes took {best:.3f} s"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- drawing --------------------------------------------------------------------------------------
def test_figure_colours_nodes_by_registry_kind_and_shows_costs():
    g = engine.preset("mlp")
    costs = graph_cost(g)
    fig = graph_figure(g, costs=costs, title="MLP")
    assert fig.layout.title.text == "MLP"
    by_name = {tr.name: tr for tr in fig.data}
    assert engine.get_op("matmul").kind == "out_elemwise_fusable"
    mm = by_name["out_elemwise_fusable"]
    assert mm.marker.color == KIND_COLORS["out_elemwise_fusable"]
    hover = " ".join(mm.hovertext)
    # 4x16 @ 16x32: 2048 MACs, 4096 FLOPs -- the same numbers engine.core.cost_model reports
    assert costs.by_name("matmul#1").macs == 4 * 16 * 32
    assert "MACs 2.05k" in hover and "FLOPs 4.1k" in hover
    assert {"input", "param", "broadcast", "elemwise"} <= set(by_name)


def test_highlight_changed_groups_and_node_text():
    g = engine.preset("mlp")
    fig = graph_figure(
        g,
        highlight=["h"],
        changed=["logits"],
        groups=[["matmul#1", "add#1", "h"]],
        node_text={"h": "value 0.5"},
    )
    by_name = {tr.name: tr for tr in fig.data}
    ring = by_name["highlighted"]
    assert ring.marker.line.color == MEANING["highlight"] and ring.marker.line.width >= 3
    assert by_name["changed"].marker.line.color == MEANING["changed"]
    pos = layout_graph(g)
    assert (ring.x[0], ring.y[0]) == pos["h"]
    (rect,) = fig.layout.shapes
    assert rect.layer == "below"
    for name in ("matmul#1", "add#1", "h"):
        x, y = pos[name]
        assert rect.x0 < x < rect.x1 and rect.y0 < y < rect.y1
    assert any(
        "value 0.5" in t for tr in fig.data if tr.text is not None for t in tr.text if isinstance(t, str)
    )


def test_edge_labels_carry_shapes_and_big_graphs_hide_labels():
    g = engine.preset("mlp")
    labels = next(tr for tr in fig_traces(g) if tr.name == "shapes")
    assert "4×32" in labels.text and "text" in labels.mode
    big = random_dag(400, seed=1)
    fig = graph_figure(big)
    assert all("text" not in tr.mode for tr in fig.data if tr.name in ("shapes", "broadcast"))


def fig_traces(g):
    return graph_figure(g).data


def test_unknown_op_draws_as_opaque():
    n = Node("y", "my_custom_op", ("x",), (), (2,))
    assert node_kind(n) == "opaque"
    g = Graph((Node("x", "input", (), (), (2,)), n), ("y",))
    assert "opaque" in {tr.name for tr in graph_figure(g).data}


def test_cost_rows_accept_report_rows_and_mapping():
    costs = graph_cost(engine.preset("mlp"))
    a = cost_rows_by_node(costs)
    b = cost_rows_by_node(costs.rows())
    c = cost_rows_by_node({"h": {"flops": 128}})
    assert a["h"]["flops"] == b["h"]["flops"] == c["h"]["flops"] == 128  # relu on 4x32


def test_figure_for_2000_nodes_is_quick():
    g = random_dag(2000, seed=3)
    assert _timed(lambda: graph_figure(g)) < 15.0  # a blow-up guard; timings live in make bench


# -- DOT and Mermaid ------------------------------------------------------------------------------
_DOT_NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*")\s*\[label=')
_DOT_EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*")\s*->\s*("(?:[^"\\]|\\.)*")')


def _unquote(s: str) -> str:
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")


@pytest.mark.parametrize("name", ["mlp", "resnet_basic_block", "self_attention"])
def test_dot_lists_every_node_and_edge_once(name):
    g = engine.preset(name)
    text = to_dot(g)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}") == 1
    nodes = [_unquote(m.group(1)) for line in text.splitlines() if (m := _DOT_NODE.match(line))]
    edges = [
        (_unquote(m.group(1)), _unquote(m.group(2)))
        for line in text.splitlines()
        if (m := _DOT_EDGE.match(line))
    ]
    assert nodes == [n.name for n in g.nodes]
    assert sorted(edges) == sorted(_edges(g))


def test_dot_quotes_awkward_names():
    g = Graph((Node('a "b"\\', "input", (), (), (2,)), Node("c#1", "relu", ('a "b"\\',), (), (2,))), ("c#1",))
    text = to_dot(g)
    edge = next(m for line in text.splitlines() if (m := _DOT_EDGE.match(line)))
    assert _unquote(edge.group(1)) == 'a "b"\\' and _unquote(edge.group(2)) == "c#1"


@pytest.mark.parametrize("name", ["mlp", "shufflenetv2_unit"])
def test_mermaid_ids_are_unique_words_and_every_edge_is_present(name):
    g = engine.preset(name)
    text = to_mermaid(g)
    assert text.startswith("flowchart TD")
    ids = mermaid_ids(g)
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"n\d+", i) for i in ids.values())
    edges = re.findall(r"^\s*(n\d+) -->\|[^|]*\| (n\d+)$", text, flags=re.M)
    assert sorted(edges) == sorted((ids[a], ids[b]) for a, b in _edges(g))
    declared = re.findall(r'^\s*(n\d+)[\[(]"', text, flags=re.M)
    assert declared == list(ids.values())
    assert '"' not in "".join(re.findall(r'\["(.*)"\]', text))  # quotes inside labels escaped


def test_graph_json_keeps_structure_and_summarises_large_weights():
    import json

    import numpy as np

    from engine.core.ir import GraphBuilder
    from viz.graph_text import graph_json

    b = GraphBuilder("t")
    x = b.input((2, 3), name="x")
    w = b.param((3, 100), value=np.ones((3, 100)), name="W")
    b.op("matmul", x, w, name="y")
    data = json.loads(graph_json(b.build()))
    assert [n["name"] for n in data["nodes"]] == ["x", "W", "y"]
    assert data["nodes"][2]["inputs"] == ["x", "W"] and data["outputs"] == ["y"]
    assert data["nodes"][1]["attrs"]["value"] == {"tensor": [3, 100], "dtype": "float32"}


def test_partial_and_empty_graphs_still_draw():
    partial = Graph((Node("y", "relu", ("missing",), (), (2,)), Node("z", "exp", ("y",), (), (2,))), ("z",))
    pos = check_layout(partial)
    assert set(pos) == {"y", "z"}
    assert len(graph_figure(partial, highlight=["z", "not-a-node"]).data) > 0
    empty = Graph((), ())
    assert layout_graph(empty) == {}
    assert graph_figure(empty, title="nothing").layout.title.text == "nothing"


def test_fold_collapses_back_to_back_repeats_into_one_node():
    from viz.graph_fold import FOLDED_OP, fold_repeats

    g = residual_chain(6)
    folded, info = fold_repeats(g)
    assert (info.period, info.copies) == (4, 5)  # matmul, add, relu, add; 5 more copies
    summary = folded.node(info.name)
    assert summary.op == FOLDED_OP and summary.inputs == ("res0",)
    assert folded.outputs == (info.name,)
    assert [n.name for n in folded.nodes] == ["x", "W0", "b0", "mm0", "add0", "relu0", "res0", info.name]
    assert set(info.hidden) == {n.name for n in g.nodes} - {n.name for n in folded.nodes}
    check_layout(folded)
    fig = graph_figure(g, fold=True)
    assert "folded" in {tr.name for tr in fig.data}
    # nothing repeats in the mlp (the two matmuls differ in shape): unchanged
    mlp = engine.preset("mlp")
    assert fold_repeats(mlp)[0] is mlp


def test_flops_formula_explains_the_bias_term():
    from engine.core.ir import GraphBuilder
    from viz.graph_text import flops_formula

    b = GraphBuilder()
    a, w, c = b.input((4, 8)), b.param((8, 3)), b.param((3,))
    b.op("gemm", a, w, c)
    row = graph_cost(b.build()).nodes[0]
    assert (row.macs, row.flops) == (4 * 8 * 3, 2 * 4 * 8 * 3 + 4 * 3)  # ONNX Gemm: A·B + C
    from ui.i18n import Translator

    shapes = [(4, 8), (8, 3), (3,)]
    en = flops_formula("gemm", shapes, (4, 3), row.flops, row.macs)
    zh = flops_formula("gemm", shapes, (4, 3), row.flops, row.macs, tr=Translator("zh"))
    assert "gemm(4×8, 8×3, 3) → 4×3" in en and "+ 12 (one add per output" in en and "= 204" in en
    assert "MAC 数 = 96" in zh and "+ 12（偏置" in zh and "= 204。" in zh
    en = flops_formula("relu", [(4, 32)], (4, 32), 128, 0)
    assert "no multiply-accumulates: 128 FLOPs" in en


def test_cost_table_has_a_totals_row_matching_the_sum_of_nodes():
    from viz.graph_text import cost_table

    report = graph_cost(engine.preset("conv_bn_relu"))
    rows = cost_table(report)
    *nodes, total = rows
    assert [r["name"] for r in nodes] == ["c", "n", "y"] and nodes[0]["shape"] == "1×16×32×32"
    for key in ("flops", "macs", "bytes_read", "bytes_written"):
        assert total[key] == sum(r[key] for r in nodes)
    # 3x3 conv, 3 -> 16 channels on 32x32 with padding 1: 16·32·32 outputs × 3·3·3 MACs each
    assert total["macs"] == 16 * 32 * 32 * 27


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_every_text_the_graph_draws_is_at_least_12_px(direction):
    """Node names, params' labels and edge shapes: none below 12 px (a class reads a 1280-wide page)."""
    for name in engine.preset_names():
        fig = graph_figure(engine.preset(name), direction=direction)
        drawn = [tr for tr in fig.data if tr.mode and "text" in tr.mode]
        assert drawn, name
        for trace in drawn:
            assert (trace.textfont.size or fig.layout.font.size) >= 12, (name, trace.name)


# -- the curriculum flow as SVG (the home page's drawing: no plotly code in the browser) ------------
def test_flow_svg_is_well_formed_escaped_and_themed():
    import xml.etree.ElementTree as ET

    from viz.graph import flow_svg
    from viz.theme import SEQUENCE, THEMES

    stages = [("Frameworks", "6 of 6 labs open"), ('<b>x</b> & "y"', "9 of 9"), ("推理系统", "已开放")]
    ns = {"s": "http://www.w3.org/2000/svg"}
    for theme in THEMES:
        root = ET.fromstring(flow_svg(stages, "Flow <title>", theme))  # raises if not well formed
        rects, lines = root.findall("s:rect", ns), root.findall("s:line", ns)
        assert len(rects) == 3 and len(lines) == 2  # a box per stage, an arrow between neighbours
        assert [r.get("fill") for r in rects] == SEQUENCE[:3]
        texts = [t.text for t in root.findall("s:text", ns)]
        # every label and detail is text, exactly as given (escaped markup never becomes markup)
        assert texts == [
            "Flow <title>",
            "1",
            "Frameworks",
            "6 of 6 labs open",
            "2",
            '<b>x</b> & "y"',
            "9 of 9",
        ] + [
            "3",
            "推理系统",
            "已开放",
        ]
        assert root.find("s:title", ns).text == "Flow <title>"
        ink = {t.get("fill") for t in root.findall("s:text", ns)}
        assert THEMES[theme].text in ink and THEMES[theme].axis in ink
    plain, large = (ET.fromstring(flow_svg(stages, "t", present=p)) for p in (False, True))
    assert float(large.get("width")) == pytest.approx(1.4 * float(plain.get("width")), abs=1)
    assert float(large.get("height")) == pytest.approx(1.4 * float(plain.get("height")), abs=1)
