"""Pipeline schedules: bubble fraction measured on the timeline vs the papers' closed forms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.parallel import (
    activations_held,
    bubble_formula,
    bubble_fraction,
    peak_activations,
    pipeline_schedule,
)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 8), m=st.integers(1, 24), schedule=st.sampled_from(["gpipe", "1f1b"]))
def test_bubble_equals_closed_form(p, m, schedule):
    # Huang et al. 2019 / Narayanan et al. 2021: bubble (p−1)/m of the ideal time, i.e.
    # (p−1)/(m+p−1) of the total.
    got = bubble_fraction(p, m, schedule)
    assert got == pytest.approx((p - 1) / (m + p - 1), abs=1e-12)
    f = bubble_formula(p, m, schedule)
    assert f["of_ideal"] == pytest.approx((p - 1) / m)
    assert got / (1 - got) == pytest.approx(f["of_ideal"], abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(2, 6), groups=st.integers(1, 4), v=st.integers(2, 4))
def test_interleaved_bubble_equals_closed_form(p, groups, v):
    m = p * groups
    got = bubble_fraction(p, m, "interleaved", v)
    assert got == pytest.approx((p - 1) / (v * m + p - 1), abs=1e-12)
    assert got < bubble_fraction(p, m, "1f1b")


@settings(max_examples=25, deadline=None)
@given(
    p=st.integers(1, 6),
    m=st.integers(1, 12),
    schedule=st.sampled_from(["gpipe", "1f1b", "interleaved"]),
    v=st.integers(1, 3),
)
def test_schedule_is_valid(p, m, schedule, v):
    if schedule == "interleaved":
        m = p * max(1, m // p)
    else:
        v = 1
    tl = pipeline_schedule(p, m, schedule, v)
    tl.check_no_overlap()
    ends = {}
    for e in tl.events:
        info = dict(e.info)
        vs = info["chunk"] * p + int(e.unit.split()[1])
        key = (e.kind, info["micro_batch"], vs)
        assert key not in ends
        ends[key] = (e.start, e.end)
    assert len(ends) == 2 * p * m * v
    last = p * v - 1
    for (kind, j, vs), (start, _) in ends.items():  # dependencies are respected
        if kind == "forward" and vs > 0:
            assert start >= ends[("forward", j, vs - 1)][1] - 1e-9
        if kind == "backward":
            dep = ("backward", j, vs + 1) if vs < last else ("forward", j, vs)
            assert start >= ends[dep][1] - 1e-9


def test_interleaved_with_one_chunk_is_1f1b():
    assert pipeline_schedule(4, 8, "interleaved", 1).events == pipeline_schedule(4, 8, "1f1b").events


def test_gpipe_makespan_and_activation_peaks():
    p, m = 4, 8
    gpipe, one = pipeline_schedule(p, m, "gpipe"), pipeline_schedule(p, m, "1f1b")
    assert gpipe.makespan == (m + p - 1) * 3.0 == one.makespan
    assert peak_activations(gpipe) == {f"stage {d}": m for d in range(p)}
    assert peak_activations(one) == {f"stage {d}": p - d for d in range(p)}
    series = activations_held(one)["stage 0"]
    assert series[-1][1] == 0


@pytest.mark.parametrize(
    "args, fragment",
    [
        (dict(p=4, m=6, schedule="interleaved", v=2), "multiple of 4"),
        (dict(p=4, m=8, schedule="gpipe", v=2), "v must be 1"),
        (dict(p=0, m=8, schedule="1f1b"), "stages"),
        (dict(p=4, m=8, schedule="zigzag"), "schedule"),
        (dict(p=8, m=8, schedule="1f1b", layers=4), "only 4 layers"),
    ],
)
def test_schedule_errors(args, fragment):
    with pytest.raises(EngineError, match=fragment):
        pipeline_schedule(**args)


def test_stepping_through_time():
    from engine.parallel.pipeline import held_at, time_points, timeline_until

    tl = pipeline_schedule(4, 8, "gpipe")
    points = time_points(tl)
    assert points[-1] == tl.makespan and len(points) == len(set(points))
    half = timeline_until(tl, points[len(points) // 2])
    half.check_no_overlap()
    assert 0 < len(half.events) < len(tl.events)
    assert timeline_until(tl, tl.makespan).makespan == tl.makespan
    # GPipe: just before the first backward, stage 0 holds all m micro-batches
    first_b = min(e.start for e in tl.events if e.kind == "backward" and e.unit == "stage 0")
    assert held_at(tl, first_b, 1)["stage 0"] == 8
    assert held_at(tl, tl.makespan, 1) == {f"stage {d}": 0 for d in range(4)}
