"""Memory planner: TFLite's reference results, no overlap of live buffers, the lower bound on chains."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.compiler.lab import random_buffers
from engine.compiler.memory_plan import STRATEGIES, check_plan, lower_bound, plan_memory
from engine.core.errors import EngineError

# TensorFlow Lite GPU delegate, common/memory_management_test.cc (the planner of Pisarchyk & Lee's
# paper): usage records (size, first_task, last_task) and the GREEDY_BY_SIZE offsets it expects.
TFLITE_CHAIN = [(16, 0, 1), (8, 1, 2), (64, 2, 3), (32, 3, 4), (8, 4, 5)]
TFLITE_CHAIN_OFFSETS = [0, 64, 0, 64, 0]
TFLITE_COMPLEX = [
    (32, 0, 1),
    (32, 1, 4),
    (8, 2, 5),
    (16, 3, 5),
    (8, 4, 5),
    (64, 5, 7),
    (8, 6, 8),
    (8, 7, 8),
    (16, 8, 9),
]
TFLITE_COMPLEX_OFFSETS = [0, 32, 80, 64, 88, 0, 64, 72, 0]


def test_public_name():
    assert engine.plan_memory is plan_memory


def test_greedy_by_size_matches_tflite_chain():
    assert plan_memory(TFLITE_CHAIN, "greedy_by_size") == (TFLITE_CHAIN_OFFSETS, 96)


def test_greedy_by_size_matches_tflite_complex():
    assert plan_memory(TFLITE_COMPLEX, "greedy_by_size") == (TFLITE_COMPLEX_OFFSETS, 96)


def test_naive_is_running_sum():
    offsets, total = plan_memory(TFLITE_CHAIN, "naive")
    assert offsets == [0, 16, 24, 88, 120] and total == 128


def test_lower_bound_by_hand():
    # ops 3: 64 + 32 live together; nothing else exceeds 96.
    assert lower_bound(TFLITE_CHAIN) == 96
    assert lower_bound([(10, 0, 0), (5, 1, 1)]) == 10  # disjoint lifetimes
    assert lower_bound([(10, 0, 2), (5, 2, 3)]) == 15  # inclusive end: both live at op 2


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100), st.integers(0, 40), st.integers(0, 12)), min_size=0, max_size=60),
    st.sampled_from(STRATEGIES),
)
def test_never_overlaps_live_buffers(raw, strategy):
    bufs = [(s, f, f + life) for s, f, life in raw]
    offsets, arena = plan_memory(bufs, strategy)
    check_plan(bufs, offsets)
    # brute-force check, independent of check_plan
    for i, (si, fi, li) in enumerate(bufs):
        assert 0 <= offsets[i] and offsets[i] + si <= arena
        for j in range(i):
            sj, fj, lj = bufs[j]
            if fi <= lj and fj <= li and si and sj:
                assert offsets[i] + si <= offsets[j] or offsets[j] + sj <= offsets[i]
    assert lower_bound(bufs) <= arena <= sum(b[0] for b in bufs)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 40), st.sampled_from(STRATEGIES[1:]))
def test_equal_size_chain_reaches_lower_bound(size, length, strategy):
    # A chain: tensor k is written by op k and read by op k+1 (a plain MLP/CNN without branches).
    bufs = [(size, k, k + 1) for k in range(length)]
    offsets, arena = plan_memory(bufs, strategy)
    assert arena == lower_bound(bufs) == (2 * size if length > 1 else size)
    assert set(offsets) <= {0, size}  # ping-pong between two slots


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_tflite_chain_reaches_lower_bound(strategy):
    assert plan_memory(TFLITE_CHAIN, strategy)[1] == lower_bound(TFLITE_CHAIN) == 96


def test_chain_rule_fixes_greedy_on_uneven_chains():
    # Chain sizes 2, 1, 1, 2: the bound is 3, but largest-first alone puts both 2-byte tensors at
    # offset 0 and the middle ones must stack above (arena 4). The two-colour stage reaches 3.
    bufs = [(2, 0, 1), (1, 1, 2), (1, 2, 3), (2, 3, 4)]
    assert lower_bound(bufs) == 3
    for strategy in STRATEGIES[1:]:
        offsets, arena = plan_memory(bufs, strategy)
        assert arena == 3
        check_plan(bufs, offsets)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=40), st.sampled_from(STRATEGIES[1:]))
def test_any_chain_reaches_lower_bound(sizes, strategy):
    bufs = [(size, k, k + 1) for k, size in enumerate(sizes)]
    offsets, arena = plan_memory(bufs, strategy)
    check_plan(bufs, offsets)
    assert arena == lower_bound(bufs)


def test_greedy_stays_a_heuristic_when_three_buffers_overlap():
    # A long-lived tensor beside an uneven chain: three live at once, so no two-colour shortcut.
    bufs = [(2, 0, 1), (1, 1, 2), (1, 2, 3), (2, 3, 4), (1, 0, 4)]
    offsets, arena = plan_memory(bufs, "greedy_by_size")
    check_plan(bufs, offsets)
    assert arena >= lower_bound(bufs)


def test_random_sets_are_reproducible_and_greedy_beats_naive():
    bufs = random_buffers(200, seed=3)
    assert bufs == random_buffers(200, seed=3)
    naive = plan_memory(bufs, "naive")[1]
    for strategy in STRATEGIES[1:]:
        arena = plan_memory(bufs, strategy)[1]
        assert lower_bound(bufs) <= arena < naive


@pytest.mark.parametrize("bad", [[(-1, 0, 1)], [(4, 3, 1)], [(4, 1)], "nope"])
def test_bad_records_are_engine_errors(bad):
    with pytest.raises(EngineError):
        plan_memory(bad)


def test_unknown_strategy_names_the_choices():
    with pytest.raises(EngineError, match="greedy_by_breadth"):
        plan_memory(TFLITE_CHAIN, "best")


def test_large_random_set_is_fast():
    import time

    bufs = [(64 + (k * 37) % 900, k, k + 1 + (k % 3)) for k in range(10_000)]
    t0 = time.perf_counter()
    offsets, arena = plan_memory(bufs, "greedy_by_size")
    assert time.perf_counter() - t0 < 20.0  # blow-up guard (~0.1 s measured); timings in make bench
    check_plan(bufs, offsets)


def test_parse_and_plan_buffers():
    from engine.compiler.lab import parse_buffers
    from engine.compiler.memory_plan import plan_buffers

    bufs = parse_buffers("# TFLite chain\n16 0 1\n8, 1, 2\n64 2 3\n32 3 4\n8 4 5\n")
    assert bufs == TFLITE_CHAIN
    plan = plan_buffers(bufs)
    assert plan.offsets == tuple(TFLITE_CHAIN_OFFSETS) and plan.arena == 96 == plan.lower_bound
    assert plan.naive == 128
    with pytest.raises(EngineError, match="line 2"):
        parse_buffers("1 2 3\n4 five 6")
    with pytest.raises(EngineError):
        parse_buffers("4 3 1")


def test_graph_liveness_and_inplace():
    from engine.compiler.memory_plan import graph_buffers, plan_graph
    from engine.core.ir import GraphBuilder

    b = GraphBuilder()
    x = b.input((4, 4), name="x")  # 64 bytes
    r = b.op("relu", b.op("matmul", x, b.param((4, 4)), name="m"), name="r")
    b.op("tanh", r, name="y")
    g = b.build()
    names, bufs, merged = graph_buffers(g)
    assert names == ["x", "m", "r", "y"]
    assert bufs == [(64, 0, 0), (64, 0, 1), (64, 1, 2), (64, 2, 2)]
    assert plan_graph(g).arena == 128
    names, bufs, merged = graph_buffers(g, inplace=True)
    assert merged == [("m", "r"), ("r", "y")] and bufs == [(64, 0, 0), (64, 0, 2)]
    assert plan_graph(g, inplace=True).arena == 128  # x and m overlap at op 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 30), st.integers(0, 8)), max_size=40))
def test_overlapping_pairs_equals_brute_force(raw):
    """The planner's work budget counts overlapping lifetimes in O(n log n); oracle: every pair."""
    import itertools

    from engine.compiler.memory_plan import overlapping_pairs

    recs = [(size, first, first + span) for size, first, span in raw]
    brute = sum(1 for a, b in itertools.combinations(recs, 2) if not (a[2] < b[1] or b[2] < a[1]))
    assert overlapping_pairs(recs) == brute


def test_all_lifetimes_overlapping_is_refused_before_the_quadratic_walk(monkeypatch):
    import engine.compiler.memory_plan as mp

    monkeypatch.setattr(mp, "_best_fit", lambda *a: pytest.fail("the planner started"))
    with pytest.raises(engine.BudgetError, match="pairs of overlapping buffers"):
        engine.plan_memory([(64, 0, 10)] * 2_500)  # 3.1 M pairs: best fit would take seconds
