"""The heavy-work limiter (engine/core/limits.py) and its Streamlit adapter (ui/heavy.py).

Threads race for slots (the losers must be refused, not queued), slots survive exceptions, the
per-session token bucket trips and refills on an injected clock (no sleeping), a cache hit never
touches the limiter, and a heavy page shows the refusal as st.error while the test holds every slot.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from engine.core.errors import BusyError, EngineError
from engine.core.limits import HeavyLimiter, TokenBucket, default_limiter

ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_more_concurrent_starts_than_slots_are_refused_not_queued():
    lim = HeavyLimiter(slots=2, wait_s=0.05)
    release, ready = threading.Event(), threading.Barrier(6)
    outcome: list[str] = []
    lock = threading.Lock()

    def start():
        ready.wait()
        try:
            with lim.slot("train"):
                with lock:
                    outcome.append("ran")
                release.wait(30)  # hold the slot until every loser has been answered
        except BusyError as e:
            with lock:
                outcome.append(f"busy {e.reason} {e.running}")

    threads = [threading.Thread(target=start) for _ in range(6)]
    for th in threads:
        th.start()
    for _ in range(600):  # the four losers answer within wait_s, not after `release`
        with lock:
            if len(outcome) == 6:
                break
        threading.Event().wait(0.05)
    with lock:
        answered = sorted(outcome)
    release.set()
    for th in threads:
        th.join(30)
    assert answered == ["busy slots 2"] * 4 + ["ran"] * 2
    assert lim.running() == 0


def test_a_slot_is_released_when_the_work_raises():
    lim = HeavyLimiter(slots=1, wait_s=0)
    for _ in range(3):
        with pytest.raises(ZeroDivisionError):
            with lim.slot("train"):
                raise ZeroDivisionError
    assert lim.running() == 0
    with lim.slot("train"):  # still grantable: the failures gave it back
        with pytest.raises(BusyError, match="busy with 1 other heavy run;"):
            with lim.slot("gloo"):
                pass


def test_rate_limit_trips_and_recovers_on_the_clock():
    clock = FakeClock()
    lim = HeavyLimiter(slots=4, wait_s=0, per_minute=6, burst=3, clock=clock)
    for _ in range(3):
        with lim.slot("train", "student-a"):
            pass
    with pytest.raises(BusyError) as refused:
        with lim.slot("train", "student-a"):
            pass
    assert refused.value.reason == "rate" and refused.value.retry_s == pytest.approx(10.0)
    with lim.slot("train", "student-b"):  # one session's burst does not limit another
        pass
    clock.now += 9.0
    with pytest.raises(BusyError, match="~1 s"):
        with lim.slot("train", "student-a"):
            pass
    clock.now += 1.0  # 6 a minute = one token every 10 s
    with lim.slot("train", "student-a"):
        pass
    clock.now += 600.0  # a long pause refills only up to the burst
    for _ in range(3):
        with lim.slot("train", "student-a"):
            pass
    with pytest.raises(BusyError, match="too many heavy runs"):
        with lim.slot("train", "student-a"):
            pass


def test_a_start_refused_for_slots_costs_no_token():
    clock = FakeClock()
    lim = HeavyLimiter(slots=1, wait_s=0, per_minute=1, burst=1, clock=clock)
    with lim.slot("train"):  # the server is full ...
        for _ in range(5):
            with pytest.raises(BusyError, match="server is busy"):
                with lim.slot("train", "student-a"):
                    pass
    with lim.slot("train", "student-a"):  # ... and the session's one token is still there
        pass


def test_retry_estimate_uses_the_kinds_mean_duration():
    clock = FakeClock()
    lim = HeavyLimiter(slots=1, wait_s=0, clock=clock)
    with lim.slot("gloo"):
        clock.now += 40.0  # a gloo run took 40 s
    with lim.slot("gloo"):
        clock.now += 15.0
        with pytest.raises(BusyError) as refused:
            with lim.slot("train"):
                pass
    assert refused.value.retry_s == pytest.approx(25.0) and "~25 s" in str(refused.value)


def test_bad_sizes_are_refused_with_their_values():
    with pytest.raises(EngineError, match="slots = 0"):
        HeavyLimiter(slots=0)
    with pytest.raises(EngineError, match="burst = 0"):
        TokenBucket(0, 5)


@contextlib.contextmanager
def all_slots_held():
    lim = default_limiter()
    with contextlib.ExitStack() as stack:
        for _ in range(lim.slots):
            stack.enter_context(lim.slot("test"))
        yield lim


def _square(n: int) -> int:
    return n * n


def _cube(n: int) -> int:
    return n * n * n


def test_a_cache_hit_never_takes_a_slot():
    from ui.heavy import cached_heavy

    square, cube = cached_heavy(_square, "train"), cached_heavy(_cube, "train")
    square.clear()
    cube.clear()
    assert square(3) == 9 and cube(3) == 27  # separate caches although one wrapper wraps both
    with all_slots_held():
        assert square(3) == 9  # hit: served while every slot is taken
        with pytest.raises(BusyError, match="busy"):
            square(4)  # miss: real work, refused
    assert square(4) == 16  # the refusal was not cached


def test_a_heavy_page_shows_busy_as_an_error_while_slots_are_held():
    from streamlit.testing.v1 import AppTest

    from engine.compression import distill
    from ui.heavy import cached_heavy

    for fn in (distill.softened, distill.kd_over_seeds):  # make sure the page must really work
        cached_heavy(fn, "train").clear()
    at = AppTest.from_file(str(ROOT / "labs" / "distillation.py"), default_timeout=60)
    with all_slots_held() as lim:
        at.run()
        assert lim.running() == lim.slots
    assert not at.exception
    assert at.error and all("busy with" in e.value for e in at.error)
    assert any(f"{lim.slots} other heavy run" in e.value for e in at.error)


def test_a_page_that_needs_a_refused_result_stops_with_the_message():
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from engine.compression.training import train_model
    from ui.heavy import cached_heavy

    cached_heavy(train_model, "train").clear()
    st.cache_data.clear()  # the lens on your graph too: a result cached by an earlier test would hide it
    at = AppTest.from_file(str(ROOT / "labs" / "pruning.py"), default_timeout=60)
    with all_slots_held():
        at.run()
    assert not at.exception  # no NameError from the sections below
    n = default_limiter().slots
    # two heavy results, two messages: the lens on your graph (its section says so and the page goes
    # on) and the trained model every later section needs (the page stops there: no third message)
    assert [e.value.split(";")[0] for e in at.error] == [
        f"The server is busy with {n} other heavy run{'s' * (n > 1)}"
    ] * 2
