"""3-D mapping and configuration search; MindSpore-style sharding and redistribution."""

from __future__ import annotations

import pytest

from engine.core.errors import EngineError
from engine.parallel import (
    MODELS,
    Cluster,
    Layout,
    activation_memory,
    estimate,
    map_devices,
    matmul_strategy,
    redistribute,
    search,
    strategy_transition,
    zero_memory,
)


def test_mapping_keeps_tp_inside_a_node():
    c = Cluster(nodes=4, gpus_per_node=8)
    rows = map_devices(dp=4, tp=4, pp=2, cluster=c)
    assert len(rows) == 32
    groups = {}
    for r in rows:
        groups.setdefault((r["dp"], r["pp"]), []).append(r)
    assert len(groups) == 8
    for members in groups.values():
        assert sorted(m["tp"] for m in members) == [0, 1, 2, 3]
        assert len({m["node"] for m in members}) == 1
    assert len({(r["dp"], r["tp"], r["pp"]) for r in rows}) == 32


def test_estimate_memory_is_states_plus_first_stage_activations():
    model, c = MODELS["GPT-3 175B"], Cluster(nodes=128)
    e = estimate(model, c, dp=8, tp=8, pp=16, global_batch=1024)
    states = zero_memory(model.params / 128, 8, 1)["total"]
    acts = activation_memory(2048, 1, 12288, 96, 8, True, "selective") * 96  # Eq. 5: L layers
    assert e.state_bytes == pytest.approx(states) and e.activation_bytes == pytest.approx(acts)
    assert e.micro_batches == 128
    assert e.bubble_s == pytest.approx(e.compute_s * 15 / 128)


def test_search_on_1024_gpus():
    model, c = MODELS["GPT-3 175B"], Cluster(nodes=128)
    found = search(model, c, global_batch=1536)
    fitting = [e for e in found if e.fits]
    assert fitting and all(e.fits for e in found[: len(fitting)])
    assert [e.step_s for e in fitting] == sorted(e.step_s for e in fitting)
    # 175B parameters need 2.8 TB of model states: plain DP/ZeRO-1 cannot fit without model parallelism
    assert all(e.tp * e.pp > 1 for e in fitting)
    for e in found:
        assert e.dp * e.tp * e.pp == 1024 and 8 % e.tp == 0 and 96 % e.pp == 0


def test_search_errors():
    with pytest.raises(EngineError, match="tensor-parallel size 3"):
        map_devices(8, 3, 1, Cluster(nodes=3, gpus_per_node=8))
    with pytest.raises(EngineError, match="cluster has 16 GPUs"):
        map_devices(2, 2, 2, Cluster(nodes=2, gpus_per_node=8))
    with pytest.raises(EngineError, match="node"):
        search(MODELS["Llama-2 7B"], Cluster(nodes=0), 64)
    with pytest.raises(EngineError, match="layers"):
        estimate(MODELS["Llama-2 7B"], Cluster(nodes=8, gpus_per_node=8), dp=1, tp=1, pp=64, global_batch=64)


@pytest.mark.parametrize(
    "strategy, layout, collective",
    [
        (((4, 1), (1, 1)), Layout(4, 1), "none"),
        (((1, 1), (1, 4)), Layout(1, 4), "none"),
        (((1, 4), (4, 1)), Layout(1, 1, True), "AllReduce"),
        (((2, 2), (2, 1)), Layout(2, 1, True), "AllReduce"),
    ],
)
def test_matmul_strategies(strategy, layout, collective):
    res = matmul_strategy(strategy, 4)
    assert res["equal"] and res["output_layout"] == layout
    assert res["collective"].startswith(collective)


@pytest.mark.parametrize(
    "src, dst, name",
    [
        (Layout(4, 1), Layout(1, 1), "AllGather"),
        (Layout(1, 4), Layout(1, 1), "AllGather"),
        (Layout(4, 1), Layout(1, 4), "AllToAll"),
        (Layout(1, 4), Layout(4, 1), "AllToAll"),
        (Layout(1, 1, True), Layout(4, 1), "ReduceScatter"),
        (Layout(1, 1, True), Layout(1, 1), "AllReduce"),
        (Layout(1, 1), Layout(4, 1), "Split"),
        (Layout(4, 1), Layout(4, 1), "none"),
    ],
)
def test_redistribution_rules_are_verified_by_simulation(src, dst, name):
    res = redistribute(src, dst, 4)
    assert res.collective == name and res.equal


def test_strategy_transition_and_errors():
    assert strategy_transition(((4, 1), (1, 1)), ((1, 1), (1, 4)), 4).collective == "AllGather"
    assert strategy_transition(((1, 4), (4, 1)), ((4, 1), (1, 1)), 4).collective == "ReduceScatter"
    with pytest.raises(EngineError, match="must match"):
        matmul_strategy(((2, 2), (1, 2)), 4)
    with pytest.raises(EngineError, match="uses a·b·d = 8"):
        matmul_strategy(((8, 1), (1, 1)), 4)
    with pytest.raises(EngineError, match="partial"):
        redistribute(Layout(4, 1), Layout(1, 1, True), 4)
