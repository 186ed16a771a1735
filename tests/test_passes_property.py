"""Every pass in the PASSES registry keeps semantics: interpreter(before) ≈ interpreter(after), and
the result validates, keeps the input and output names — on random graphs, every preset and the zoo
ResNet-18 (torch -> ONNX -> our IR). New passes are covered by registering them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import random_graphs

import engine
from engine.compiler.passes import PASSES, optimize
from engine.core.ir import validate

PIPELINES = [[p] for p in PASSES] + [
    list(PASSES),
    ["simplify", "cse", "dce", "fusion", "layout"],
    ["layout", "simplify", "constant_folding", "cse", "dce"],
]


def assert_same(before, after, label):
    validate(after)
    assert after.outputs == before.outputs, label
    assert [n.name for n in after.inputs] == [n.name for n in before.inputs], label
    ref, got = engine.run(before), engine.run(after)
    for o in before.outputs:
        np.testing.assert_allclose(got[o], ref[o], rtol=1e-4, atol=1e-4, err_msg=f"{label}: {o}")


def check_all(graph, label):
    for pipeline in PIPELINES:
        after, log = optimize(graph, pipeline)
        assert all(isinstance(line, str) for line in log)
        assert_same(graph, after, f"{label} {pipeline}")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(max_nodes=10), st.sampled_from(PIPELINES))
def test_random_graphs_keep_their_values(graph, pipeline):
    after, _ = optimize(graph, pipeline)
    assert_same(graph, after, str(pipeline))


@st.composite
def cnn_graphs(draw):
    """Small random CNNs: conv/BN/activations/pools/residual adds, plus x*1, x+0 and transposes."""
    from engine.core.ir import GraphBuilder

    b = GraphBuilder("random cnn")
    c = draw(st.integers(1, 6))
    hw = draw(st.integers(4, 7))
    h = b.input((1, c, hw, hw), name="x")
    for _ in range(draw(st.integers(1, 6))):
        shape = b.shape_of(h)
        c, size = shape[1], shape[2]
        step = draw(st.sampled_from(["conv", "bn", "act", "pool", "res", "neutral", "perm"]))
        if step == "conv" and size >= 3:
            cout = draw(st.integers(1, 8))
            args = [h, b.param((cout, c, 3, 3))] + ([b.param((cout,))] if draw(st.booleans()) else [])
            h = b.op("conv2d", *args, pad=1)
        elif step == "bn":
            h = b.op(
                "batchnorm",
                h,
                b.param((c,), init="uniform"),
                b.param((c,)),
                b.param((c,)),
                b.param((c,), init="uniform"),
            )
        elif step == "act":
            h = b.op(draw(st.sampled_from(["relu", "relu6", "sigmoid", "hswish"])), h)
        elif step == "pool" and size >= 4:
            h = b.op(draw(st.sampled_from(["maxpool", "avgpool"])), h, kernel=2)
        elif step == "res":
            h = b.op("add", h, b.op("relu", h))
        elif step == "neutral":
            h = b.op(
                draw(st.sampled_from(["mul", "add"])), h, b.constant(1.0 if draw(st.booleans()) else 0.0)
            )
        else:
            h = b.op("transpose", b.op("transpose", h, perm=(0, 2, 3, 1)), perm=(0, 3, 1, 2))
    if draw(st.booleans()):
        h = b.op("flatten", b.op("global_avgpool", h))
    return b.build([h])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cnn_graphs(), st.sampled_from(PIPELINES))
def test_random_cnns_keep_their_values(graph, pipeline):
    after, _ = optimize(graph, pipeline)
    assert_same(graph, after, str(pipeline))


@pytest.mark.parametrize("name", engine.preset_names())
def test_presets_keep_their_values(name):
    check_all(engine.preset(name), name)


def test_zoo_resnet18_keeps_its_values():
    from engine.interop.torch_zoo import zoo_graph

    check_all(zoo_graph("resnet18"), "resnet18")
