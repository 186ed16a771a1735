"""Strategy propagation and redistribution (engine/parallel/strategy_propagation.py).

Oracles: numpy — every plan is run shard by shard on simulated devices (local ops and collectives)
and each device's output is compared with the slice of the unsharded program's result; every
redistribution between any two layouts is checked the same way; the branch-and-bound search against
a brute-force enumeration of every leaf layout written here; Megatron-LM's MLP split as the optimum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.core.errors import EngineError
from engine.parallel import strategy_propagation as sp
from engine.parallel.collectives import LINKS

REAL = {"B": 4096, "H": 1024, "F": 4096}
MESHES = [(2, 2), (4, 1), (1, 4), (2, 4)]


@pytest.mark.parametrize("preset", list(sp.PRESETS))
@pytest.mark.parametrize("mesh", MESHES)
def test_every_propagated_plan_computes_the_unsharded_result(preset, mesh):
    program = sp.PRESETS[preset]
    for fixed in ({}, {"X": (0, -1)}, {"X": (-1, 1), program.leaves[1][0]: (0, -1)}):
        plan = sp.propagate(program, mesh, fixed, REAL)
        ok, err = sp.execute(plan, seed=len(fixed))
        assert ok, (preset, mesh, fixed, err)
        assert dict(plan.leaves)["X"].map == fixed.get("X", dict(plan.leaves)["X"].map)


def test_every_redistribution_is_right_on_random_shards():
    """Any complete or partial layout to any complete layout on a 2 x 4 mesh: the planned collectives,
    applied to random shards (partial sums as random addends), give the target's slices."""
    mesh, rng = (2, 4), np.random.default_rng(1)
    link = LINKS["NVLink 3 (A100)"]
    devices = sp._devices(mesh)
    full = rng.normal(size=(8, 16))
    sources = [sp.Layout(m) for m in sp.MAPS] + [
        sp.Layout(m, p) for m in sp.MAPS for p in ((0,), (1,), (0, 1)) if p[0] not in m and p[-1] not in m
    ]
    for src, dst in itertools.product(sources, [sp.Layout(m) for m in sp.MAPS]):
        shards = {d: sp._slice(full, sp.Layout(src.map), d, mesh) for d in devices}
        for k in src.partial:  # split each value into random addends over axis k
            noisy = {}
            for d in devices:
                if d[k] == mesh[k] - 1:
                    group = sp._group(d, k, mesh)
                    addends = [rng.normal(size=shards[d].shape) for _ in group[:-1]]
                    for g, a in zip(group, addends):
                        noisy[g] = a
                    noisy[d] = shards[d] - sum(addends)
            shards = noisy
        local = tuple(s // (mesh[a] if a >= 0 else 1) for s, a in zip(full.shape, src.map))
        for move in sp.plan_redistribution(src, dst, local, mesh, link):
            shards = sp._apply(move, shards, mesh)
        for d in devices:
            assert np.allclose(shards[d], sp._slice(full, dst, d, mesh)), (src, dst, d)


def test_redistribution_names_and_volumes():
    link, mesh = LINKS["NVLink 3 (A100)"], (4, 1)
    gather = sp.plan_redistribution(sp.Layout((0, -1)), sp.Layout((-1, -1)), (2, 8), mesh, link)
    assert [m.collective for m in gather] == ["AllGather"] and gather[0].bytes == 3 * 2 * 8 * 2
    swap = sp.plan_redistribution(sp.Layout((0, -1)), sp.Layout((-1, 0)), (2, 8), mesh, link)
    assert [m.collective for m in swap] == ["AllToAll"] and swap[0].bytes == pytest.approx(0.75 * 32)
    assert [
        m.collective
        for m in sp.plan_redistribution(sp.Layout((-1, -1)), sp.Layout((-1, 0)), (8, 8), mesh, link)
    ] == ["Split"]
    reduce = sp.plan_redistribution(sp.Layout((-1, -1), (0,)), sp.Layout((0, -1)), (8, 8), mesh, link)
    assert [m.collective for m in reduce] == ["ReduceScatter"]
    allred = sp.plan_redistribution(sp.Layout((-1, -1), (0,)), sp.Layout((-1, -1)), (8, 8), mesh, link)
    assert [m.collective for m in allred] == ["AllReduce"] and allred[0].bytes == pytest.approx(1.5 * 128)


def brute_force(program, mesh):
    names = [n for n, _ in program.leaves]
    best = None
    for maps in itertools.product(sp.MAPS, repeat=len(names)):
        try:
            plan = sp.propagate(program, mesh, dict(zip(names, maps)), REAL)
        except EngineError:
            continue
        cost = sp.plan_cost(plan)
        if best is None or sp._better(cost, best):
            best = cost
    return best


@pytest.mark.parametrize("preset, mesh", [("mlp", (2, 2)), ("scores", (4, 1)), ("matmul_chain", (2, 4))])
def test_search_equals_brute_force(preset, mesh):
    program = sp.PRESETS[preset]
    found = sp.search(program, mesh, REAL)
    cost, want = sp.plan_cost(found), brute_force(program, mesh)
    assert cost[0] == pytest.approx(want[0], rel=1e-9) and cost[1] == want[1]
    assert sp.execute(found)[0]


def test_search_finds_data_parallel_on_a_line_and_megatron_on_a_grid():
    """1-D mesh: cutting X's rows needs no communication at all (data parallelism). 2 x 2 mesh: rows
    of X on axis 0 and Megatron's MLP split on axis 1 (W1 by columns, W2 by rows, one reduction)."""
    line = sp.search(sp.PRESETS["mlp"], (1, 4), REAL)
    assert dict(line.leaves)["X"].map == (1, -1) and line.comm_s == 0.0
    grid = sp.search(sp.PRESETS["mlp"], (2, 2), REAL)
    leaves = dict(grid.leaves)
    assert (leaves["X"].map, leaves["W1"].map, leaves["W2"].map) == ((0, -1), (-1, 1), (1, -1))
    assert grid.ops[-1].out.partial == (1,)
    assert [m.collective for m in grid.final] == ["ReduceScatter"]


def test_the_four_strategy_matmul_demo_is_one_case():
    """parallel_3d's ((4,1),(1,1)) then ((1,1),(1,4)): X rows cut, then W2 columns cut, mesh 4 x 1."""
    program = sp.PRESETS["matmul_chain"]
    plan = sp.propagate(program, (4, 1), {"X": (0, -1), "W1": (-1, -1), "W2": (-1, 0)}, REAL)
    first = plan.ops[0]
    assert first.out == sp.Layout((0, -1)) and not any(first.moves)
    second = plan.ops[1]  # Y1 rows cut but W2 wants whole rows of Y1 against its cut columns
    assert [m.collective for ms in second.moves for m in ms] == ["AllGather"]
    assert sp.execute(plan)[0]


def test_bad_inputs_are_engine_errors():
    program = sp.PRESETS["mlp"]
    with pytest.raises(EngineError, match="does not cut"):
        sp.propagate(program, (2, 2), {"X": (0, 0)}, REAL)
    with pytest.raises(EngineError, match="device matrix"):
        sp.propagate(program, (0, 2), {}, REAL)
    with pytest.raises(EngineError, match="partial"):
        sp.plan_redistribution(
            sp.Layout((0, -1)), sp.Layout((-1, -1), (0,)), (2, 2), (2, 1), LINKS["NVLink 3 (A100)"]
        )
