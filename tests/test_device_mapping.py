"""Topology-aware 3-D mapping (engine/parallel/device_mapping.py).

Oracles: the process groups torch.distributed would be given, computed independently here with numpy
(arange(world) reshaped with the slowest dimension first, the group's axis moved last) and, for the
Megatron order, with the loops of Megatron-LM's ``initialize_model_parallel``; the Megatron-LM
convention (TP innermost) for the best order of common configurations.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import BudgetError, EngineError
from engine.parallel import device_mapping as dm
from engine.parallel.auto import MODELS


def numpy_groups(kind: str, order: str, tp: int, dp: int, pp: int) -> list[tuple[int, ...]]:
    dims = order.split("-")  # fastest first
    sizes = {"tp": tp, "dp": dp, "pp": pp}
    slow_first = dims[::-1]
    grid = np.arange(tp * dp * pp).reshape([sizes[d] for d in slow_first])
    moved = np.moveaxis(grid, slow_first.index(kind), -1).reshape(-1, sizes[kind])
    return sorted(tuple(int(r) for r in row) for row in moved)


def megatron_groups(tp: int, dp: int, pp: int) -> dict[str, list[tuple[int, ...]]]:
    """The loops of Megatron-LM's initialize_model_parallel (order tp-dp-pp)."""
    world = tp * dp * pp
    per_stage = world // pp
    dp_groups = [
        tuple(range(i * per_stage + j, (i + 1) * per_stage, tp)) for i in range(pp) for j in range(tp)
    ]
    tp_groups = [tuple(range(i * tp, (i + 1) * tp)) for i in range(world // tp)]
    pp_groups = [tuple(range(i, world, per_stage)) for i in range(per_stage)]
    return {"tp": sorted(tp_groups), "dp": sorted(dp_groups), "pp": sorted(pp_groups)}


@pytest.mark.parametrize("order", dm.ORDERS)
@pytest.mark.parametrize("tp, dp, pp", [(2, 3, 4), (4, 2, 2), (1, 8, 2), (8, 1, 1)])
def test_groups_equal_numpy_rank_arithmetic(order, tp, dp, pp):
    for kind in dm.DIMS:
        assert list(dm.process_groups(kind, order, tp, dp, pp)) == numpy_groups(kind, order, tp, dp, pp)


@pytest.mark.parametrize("tp, dp, pp", [(2, 4, 2), (8, 4, 4), (4, 1, 8)])
def test_megatron_order_equals_initialize_model_parallel(tp, dp, pp):
    want = megatron_groups(tp, dp, pp)
    for kind in dm.DIMS:
        assert list(dm.process_groups(kind, dm.MEGATRON_ORDER, tp, dp, pp)) == want[kind]


def test_coordinates_round_trip():
    sizes = {"tp": 4, "dp": 3, "pp": 2}
    for order in dm.ORDERS:
        for r in range(24):
            assert dm.rank_of(dm.coordinates(r, order, sizes), order, sizes) == r


@pytest.mark.parametrize(
    "model, nodes, tp, pp",
    [("GPT-3 175B", 64, 8, 8), ("Megatron 22B", 4, 8, 2), ("GPT-3 175B", 16, 4, 8), ("Llama-2 70B", 8, 8, 4)],
)
def test_best_order_keeps_tp_innermost(model, nodes, tp, pp):
    ranked = dm.compare_orders(MODELS[model], nodes, 8, tp, pp)
    assert ranked[0].order.startswith("tp")
    best = ranked[0]
    assert next(c for c in best.costs if c.kind == "tp").crossing == 0
    worst = ranked[-1]
    assert next(c for c in worst.costs if c.kind == "tp").crossing > 0 and worst.step_s > best.step_s


def test_crossing_groups_use_the_network_and_bandwidth_changes_the_estimate():
    m = MODELS["Megatron 22B"]
    inner = dm.map_cluster(m, 4, 8, 8, 2, "tp-dp-pp")
    outer = dm.map_cluster(m, 4, 8, 8, 2, "dp-pp-tp")
    tp_in = next(c for c in inner.costs if c.kind == "tp")
    tp_out = next(c for c in outer.costs if c.kind == "tp")
    assert (tp_in.crossing, tp_in.link) == (0, "NVLink")
    assert tp_out.crossing == tp_out.groups and tp_out.link == "network"
    faster = dm.map_cluster(m, 4, 8, 8, 2, "dp-pp-tp", ib_gbits=800.0)
    assert faster.step_s < outer.step_s
    assert dm.map_cluster(m, 4, 8, 8, 2, "tp-dp-pp", ib_gbits=800.0).costs[0] == inner.costs[0]


def test_bad_inputs_are_engine_errors():
    with pytest.raises(EngineError, match="rank order"):
        dm.process_groups("tp", "tp-tp-pp", 2, 2, 2)
    with pytest.raises(EngineError, match="does not divide"):
        dm.map_cluster(MODELS["Llama-2 7B"], 1, 8, 3, 1)
    with pytest.raises(EngineError, match="bandwidths"):
        dm.links(0.0, 200.0)


def test_the_comparison_is_budgeted_before_any_work():
    with pytest.raises(BudgetError):
        dm.compare_orders(MODELS["GPT-3 175B"], 1024, 16, 8, 8, global_batch=16384)
