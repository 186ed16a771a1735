"""The layout lens on a whole graph: slot counts against the arrays the converters really build.

Oracle: for every tensor, random data of its shape (int8 values 0..99, small to hold) is converted
with ``to_nc1hwc0`` / ``fractal_nz`` (-1 as the pad value), or transposed to NHWC with numpy; the
array's size is the stored slot count and its -1 entries are the padding. The graph totals are a
brute-force sum of those arrays' padding bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.compiler import layouts as L
from engine.core import budget
from engine.core.errors import BudgetError, GraphError, ShapeError
from engine.core.ir import GraphBuilder
from tests.strategies import random_cnn_graphs, random_graphs

GRAPH_PRESETS = [p for p in engine.preset_names() if p != "autodiff_example"]


def _converted(shape: tuple[int, ...], layout: str, c0: int, rng) -> np.ndarray:
    """The stored array the existing converters produce for random data of ``shape``.

    The rank rule under test: 4-D as NCHW, 2-D (M, N) as (M, N, 1, 1); FRACTAL_NZ on any tensor of
    rank >= 2 (16 x 16 fractals of the last two dims); everything else stays dense.
    """
    x = rng.integers(0, 100, shape, dtype=np.int8)
    if x.size == 0:
        return x.reshape(-1)
    as4 = x.reshape(*shape, 1, 1) if x.ndim == 2 else x
    if layout == "FRACTAL_NZ" and x.ndim >= 2:
        return L.fractal_nz(x, 16, 16, pad_value=-1)
    if as4.ndim != 4:
        return x.reshape(-1)
    if layout == "NHWC":
        return np.ascontiguousarray(as4.transpose(0, 2, 3, 1))
    if layout == "NC1HWC0":
        return L.to_nc1hwc0(as4, c0, pad_value=-1)
    return np.ascontiguousarray(as4)


def _check_against_converters(graph, c0: int = 16) -> None:
    rng = np.random.default_rng(0)
    got = L.graph_layouts(graph, c0)
    assert got.layouts == ("NCHW", "NHWC", "NC1HWC0", "FRACTAL_NZ")
    assert [t.name for t in got.tensors] == [n.name for n in graph.nodes]
    brute = [0] * len(got.layouts)
    for node, t in zip(graph.nodes, got.tensors):
        itemsize = np.empty(0, dtype=node.dtype).itemsize
        for i, layout in enumerate(got.layouts):
            arr = _converted(tuple(node.shape), layout, c0, rng)
            pads = int((arr == -1).sum())
            assert t.slots[i] == arr.size, (node.name, node.shape, layout)
            assert arr.size - pads == int(np.prod(node.shape))  # every element stored once
            assert t.waste_pct[i] == pytest.approx(100.0 * pads / arr.size if arr.size else 0.0)
            brute[i] += pads * itemsize
            assert t.overhead_bytes[i] == pads * itemsize
    assert got.overhead_bytes == tuple(brute)
    assert got.logical_bytes == sum(np.empty(n.shape, dtype=n.dtype).nbytes for n in graph.nodes)


@pytest.mark.parametrize("name", GRAPH_PRESETS)
def test_presets_match_the_converters(name):
    _check_against_converters(engine.preset(name))


@pytest.mark.parametrize("c0", [4, 8, 32])
def test_other_c0_match_the_converters(c0):
    _check_against_converters(engine.preset("mobilenetv2_inverted_residual"), c0)


@settings(max_examples=25, deadline=None)
@given(random_cnn_graphs(max_nodes=5), st.sampled_from([4, 16, 32]))
def test_random_cnns_match_the_converters(graph, c0):
    _check_against_converters(graph, c0)


@settings(max_examples=40, deadline=None)
@given(random_graphs(max_nodes=8))
def test_random_programs_match_the_converters_or_say_why_not(graph):
    if any(len(n.shape) >= 2 for n in graph.nodes):
        _check_against_converters(graph)
    else:
        with pytest.raises(ShapeError, match="no tensor with two or more dimensions"):
            L.graph_layouts(graph)


def test_dtype_widths_and_ranks_beyond_two_and_four():
    b = GraphBuilder("mixed")
    x = b.input((3, 5, 7, 9), dtype="float16")
    b.op("relu", x)
    b.input((2, 17, 18), dtype="float64")  # 3-D: FRACTAL_NZ only, leading dim as a batch
    b.input((5,), dtype="int8")  # 1-D: dense everywhere
    b.input((), dtype="int64")  # a scalar
    graph = b.build()
    _check_against_converters(graph)
    t3 = L.graph_layouts(graph).tensors[2]
    assert t3.applies == (False, False, False, True) and t3.itemsize == 8
    assert t3.slots[3] == 2 * 32 * 32  # ceil(17/16)*16 x ceil(18/16)*16 per item


@pytest.fixture(scope="module")
def resnet18():
    from engine.interop.torch_zoo import zoo_graph

    return zoo_graph("resnet18")


def test_resnet18_against_the_converters_and_a_worked_example(resnet18, monkeypatch):
    # layer4's 512x256x3x3 weights pad to 33.5 M slots in FRACTAL_NZ (3x3 -> 16x16 fractals): over the
    # converter's own per-tensor budget, which the lens never allocates; lift it for the oracle only
    monkeypatch.setattr(budget, "MAX_TENSOR_ELEMENTS", 1 << 26)
    _check_against_converters(resnet18)
    got = L.graph_layouts(resnet18)
    conv1 = next(t for t in got.tensors if t.shape == (64, 3, 7, 7))
    # 3 input channels padded to one C0 block of 16: 13 of every 16 slots are zeros
    assert conv1.slots[2] == 64 * 16 * 7 * 7 and conv1.waste_pct[2] == pytest.approx(81.25)
    # NCHW and NHWC never pad; every channel count past the stem is a multiple of 16
    assert got.overhead("NCHW") == got.overhead("NHWC") == 0
    assert got.overhead("NC1HWC0") > 0


def test_deterministic_and_rows_carry_every_layout():
    g = engine.preset("conv_bn_relu")
    assert L.graph_layouts(g) == L.graph_layouts(g)
    rows = L.graph_layouts(g).rows()
    assert len(rows) == len(g.nodes)
    assert {f"{lay} slots" for lay in L.GRAPH_LAYOUTS} <= set(rows[0])


def test_cannot_apply_says_why():
    with pytest.raises(ShapeError, match="try the conv_bn_relu preset"):
        L.graph_layouts(engine.preset("autodiff_example"))
    with pytest.raises(GraphError, match="needs a Graph"):
        L.graph_layouts("conv_bn_relu")
    with pytest.raises(ShapeError, match="C0"):
        L.graph_layouts(engine.preset("mlp"), c0=0)
    with pytest.raises(ShapeError, match="not one of"):
        L.graph_layouts(engine.preset("mlp")).overhead("FRACTAL_Z")


def test_node_budget_is_checked_before_any_work(monkeypatch):
    monkeypatch.setattr(budget, "MAX_NODES", 3)
    monkeypatch.setattr(L, "stored_slots", lambda *a: pytest.fail("work started before the budget"))
    with pytest.raises(BudgetError, match="nodes"):
        L.graph_layouts(engine.preset("mlp"))


def test_engine_exports_the_lens():
    assert engine.graph_layouts is L.graph_layouts
