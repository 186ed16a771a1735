"""Every lab that looks at a graph opens on the workspace graph of its link (``?g=``): it shows that
graph's chip (name, node count, output names), and a ``g`` it cannot use gives the engine's message
and the lab's default graph — never an exception. Each lab's own lens checks are in
tests/test_lens_*_pages.py."""

from __future__ import annotations

import pytest

import engine
from ui.graph_source import LENS_PAGES

# a conv layer (hardware, layouts, quantization) and a matmul head (tensor split, pipeline stages)
PROGRAM = (
    "x = input([1, 3, 16, 16])\n"
    "W = param([8, 3, 3, 3])\n"
    "h = relu(conv2d(x, W, pad=1))\n"
    "f = flatten(h)\n"
    "V = param([2048, 16])\n"
    "zebra = f @ V\n"
)


def _chip(at) -> str:
    chips = [c.value for c in at.caption if "zebra" in c.value or "Your graph" in c.value]
    return " ".join(chips)


@pytest.mark.parametrize("page", LENS_PAGES)
def test_a_link_with_g_opens_the_lab_on_that_graph(lab, page):
    graph = engine.parse_program(PROGRAM)
    at = lab(page, g=PROGRAM)
    chip = _chip(at)
    assert "zebra" in chip and f"{len(graph.nodes)} nodes" in chip, chip
    assert at.session_state["workspace_g"] == PROGRAM


@pytest.mark.parametrize("page", LENS_PAGES)
@pytest.mark.parametrize("bad", ["preset:nope", "onnx:" + "0" * 64, "x = input([2])\ny = relu5(x)\n"])
def test_an_unusable_g_shows_the_message_and_the_default_graph(lab, page, bad):
    at = lab(page, g=bad)
    errors = " ".join(e.value for e in at.error)
    assert "cannot be used" in errors, errors
    assert at.session_state["workspace_g"] == "preset:mlp"
