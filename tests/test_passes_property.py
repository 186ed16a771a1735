"""Every pass in the PASSES registry keeps semantics: interpreter(before) ≈ interpreter(after), and
the result validates, keeps the input and output names — on random graphs, every preset and the zoo
ResNet-18 (torch -> ONNX -> our IR). New passes are covered by registering them."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.ir import validate
from engine.passes import PASSES, optimize
from strategies import random_graphs

PIPELINES = [[p] for p in PASSES] + [list(PASSES), ["simplify", "cse", "dce", "fusion", "layout"],
                                     ["layout", "simplify", "constant_folding", "cse", "dce"]]


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


@pytest.mark.parametrize("name", engine.preset_names())
def test_presets_keep_their_values(name):
    check_all(engine.preset(name), name)


def test_zoo_resnet18_keeps_its_values():
    from engine.torch_zoo import zoo_graph

    check_all(zoo_graph("resnet18"), "resnet18")
