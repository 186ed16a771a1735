"""Issue 14, autodiff: the step figure names the nodes only; the lit node's value and tangent (dot) or
adjoint (bar) are in one callout with an arrow to it. Oracles: the survey's closed forms at (2, 5)
(Baydin et al. 2018, Tables 2 and 3), the trace's own arrays, and torch autograd for a tensor graph."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import engine
from engine.core.interpreter import run
from engine.framework import lab
from engine.framework.autodiff import baydin_labels
from viz import autodiff as vz

X1, X2 = 2.0, 5.0  # the survey's point
VALUES = {
    "x1": X1,
    "x2": X2,
    "v1": math.log(X1),
    "v2": X1 * X2,
    "v3": math.sin(X2),
    "v4": math.log(X1) + X1 * X2,
}
VALUES["y"] = VALUES["v4"] - VALUES["v3"]
# forward mode seeded on x1: d/dx1 of each node
TANGENTS = {"x1": 1.0, "x2": 0.0, "v1": 1 / X1, "v2": X2, "v3": 0.0, "v4": 1 / X1 + X2, "y": 1 / X1 + X2}
# reverse mode: d y / d node
ADJOINTS = {"y": 1.0, "v4": 1.0, "v3": -1.0, "v1": 1.0, "v2": 1.0, "x1": 1 / X1 + X2, "x2": X1 - math.cos(X2)}
NUMBER = r"(-?[\d.]+(?:e[-+]?\d+)?)"


def _traces(name: str, mode: str):
    graph = engine.preset(name)
    pick = [n.name for n in graph.nodes if n.op in ("input", "param")][0] if mode == "forward" else None
    return lab.graph_traces(graph, mode, pick or graph.outputs[0], True)


def _figure(graph, trace, k: int):
    labels = baydin_labels(graph)
    return vz.step_graph_figure(
        graph,
        trace[k].highlight,
        vz.node_text(trace, k, labels),
        vz.step_text(trace[k])[0],
        callout=vz.callout(trace, k, labels),
    )


def _node_labels(fig) -> list[str]:
    """The text drawn beside the graph's nodes (node traces are those named after a kind)."""
    skip = {"edges", "arrows", "shapes", "highlighted", "changed"}
    return [
        t for tr in fig.data if tr.type == "scatter" and tr.name not in skip for t in (tr.text or ()) if t
    ]


def _callouts(fig) -> list:
    return [a for a in fig.layout.annotations if a.name == "callout"]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_every_step_has_one_callout_at_the_lit_node_and_no_numbers_beside_the_nodes(mode):
    graph, trace = _traces("autodiff_example", mode)
    labels = baydin_labels(graph)
    assert graph.outputs[0] == "y" and {"v1", "v4"} <= set(labels)
    for k in range(len(trace)):
        fig = _figure(graph, trace, k)
        notes = _callouts(fig)
        assert len(notes) == 1, k
        node = trace[k].highlight[0]
        x, y = notes[0].x, notes[0].y
        scatter = [
            (px, py, t)
            for tr in fig.data
            if tr.name not in ("edges", "arrows", "shapes")
            for px, py, t in zip(tr.x, tr.y, tr.text or [""] * len(tr.x))
            if isinstance(t, str) and t.split("<br>")[0].startswith(node)
        ]
        assert (x, y) in [(px, py) for px, py, _ in scatter], (k, node)  # the arrow points at the node
        assert notes[0].showarrow and notes[0].font.size >= 14
        assert node in notes[0].text
        for text in _node_labels(fig):
            assert "dot" not in text and "bar" not in text and len(text) <= 32, text
            extra = text.split("<br>")[1:]  # beside a node: at most its survey name (v-1, v0, v1 ...)
            assert all(re.fullmatch(r"[vc]-?\d+", e) for e in extra), text
            assert not re.search(r"= -?\d", text), text  # no value piled beside it


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_the_callout_value_tangent_and_adjoint_are_the_closed_forms(mode):
    graph, trace = _traces("autodiff_example", mode)
    seen = set()
    for k in range(len(trace)):
        node, text = vz.callout(trace, k, baydin_labels(graph))
        assert node == trace[k].highlight[0]
        value = re.search(r"value = " + NUMBER, text)
        assert value is not None, text
        assert float(value.group(1)) == pytest.approx(VALUES[node], rel=1e-3, abs=1e-4)
        recorded = vz.node_state(trace, k)[node]
        assert float(value.group(1)) == pytest.approx(recorded["value"], rel=1e-3, abs=1e-4)
        if mode == "forward":
            dot = re.search(r"tangent \(dot\) = " + NUMBER, text)
            assert float(dot.group(1)) == pytest.approx(TANGENTS[node], rel=1e-3, abs=1e-4), text
            assert "bar" not in text
        elif k >= len(graph.nodes):  # the backward sweep: the lit node's adjoint is complete
            bar = re.search(r"adjoint \(bar\) = " + NUMBER, text)
            assert float(bar.group(1)) == pytest.approx(ADJOINTS[node], rel=1e-3, abs=1e-4), text
            seen.add(node)
        else:
            assert "bar" not in text and "dot" not in text  # the forward sweep of reverse mode
    if mode == "reverse":
        assert {"y", "v4", "v3", "v2", "v1"} <= seen


def test_a_tensor_callout_is_bounded_and_its_numbers_are_the_engines_and_torchs():
    torch = pytest.importorskip("torch")
    from test_autodiff import _torch_eval

    graph, trace = _traces("mlp", "reverse")
    out = graph.outputs[0]
    values = run(graph, seed=0)
    env = _torch_eval(graph, values, torch)
    checked = 0
    for k in range(len(graph.nodes), len(trace)):  # the backward sweep
        node, text = vz.callout(trace, k, baydin_labels(graph))
        lines = text.split("<br>")
        assert len(lines) <= 5 and all(len(line) <= 60 for line in lines), text
        arr = np.asarray(values[node], np.float64)
        if arr.size == 1:
            continue
        # the first numbers of the value: the interpreter's, as printed
        value_at = lines.index(next(line for line in lines if line.startswith("value = ")))
        assert lines[value_at] == f"value = shape {list(arr.shape)}"
        shown = [float(v) for v in re.findall(NUMBER, lines[value_at + 1])]
        np.testing.assert_allclose(shown, arr.ravel()[:3], rtol=5e-3, atol=1e-6)
        # the adjoint: d sum(output) / d node by torch autograd
        (ref,) = torch.autograd.grad(env[out], env[node], retain_graph=True)
        ref = ref.numpy().ravel()
        bar_at = lines.index(next(line for line in lines if line.startswith("adjoint (bar) = ")))
        assert lines[bar_at] == f"adjoint (bar) = shape {list(arr.shape)}"
        got = [float(v) for v in re.findall(NUMBER, lines[bar_at + 1])]
        np.testing.assert_allclose(got, ref[:3], rtol=5e-3, atol=1e-6 + 5e-3 * np.abs(ref).max())
        checked += 1
    assert checked >= 3


def test_tensor_text_is_short_whatever_the_size():
    for shape in [(3,), (64, 64), (2, 3, 224, 224)]:
        text = vz.tensor_text(np.arange(np.prod(shape), dtype=np.float64).reshape(shape))
        head, numbers = text.split("<br>")
        assert head == f"shape {list(shape)}"
        assert len(numbers) <= 40 and numbers.startswith("[0, 1, 2")
    assert vz.tensor_text(np.float64(2.5)) == "2.5"


def test_the_wide_trace_columns_are_real_headers():
    graph, trace = _traces("autodiff_example", "reverse")
    headers = set(vz.forward_rows(trace, len(graph.nodes) - 1)[0]) | set(
        vz.reverse_rows(trace, len(trace))[0]
    )
    fwd_graph, fwd = _traces("autodiff_example", "forward")
    headers |= set(vz.forward_rows(fwd, len(fwd) - 1)[0])
    assert set(vz.WIDE_COLUMNS) <= headers
