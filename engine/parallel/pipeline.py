"""Pipeline-parallel schedules (GPipe, 1F1B, interleaved 1F1B) simulated as Timelines.

Stages:
  1. Each device gets a fixed order of operations (forward F / backward B of micro-batch j on
     model chunk c). Virtual stage = c·p + device; a forward needs the same micro-batch's forward
     on the previous virtual stage, a backward needs the backward on the next one.
       GPipe (Huang et al. 2019): all m forwards, then all m backwards.
       1F1B  (PipeDream-Flush, Narayanan et al. 2019/2021): device d runs p−d−1 warm-up forwards,
             then alternates one forward / one backward, then drains the backwards.
       Interleaved 1F1B (Narayanan et al. 2021, §2.2.2): v chunks per device, Megatron-LM's order
             (warm-up (p−d−1)·2 + (v−1)·p, micro-batches in groups of p); needs m divisible by p.
  2. Every op starts as soon as its device is free and its dependency has finished (chunk ops
     take t_f/v and t_b/v; or, with ``stage_times``, virtual stage s takes stage_times[s] forward
     and backward_times[s] — default 2 × forward — backward, e.g. the measured stage costs of
     :func:`engine.parallel.graph_split.pipeline_split`).
  3. The bubble fraction is *measured* on the timeline: idle device-time / total device-time
     = 1 − Σ busy / (p · makespan). With uniform stages it equals (p−1)/(m+p−1) for GPipe and 1F1B
     and (p−1)/(v·m+p−1) for interleaved — the papers' (p−1)/m and (p−1)/(v·m) are the same bubble
     measured relative to the ideal time m(t_f+t_b) instead of the total. With unequal stages
     f_s, b_s the slowest stage paces the pipe: GPipe's makespan is Σf + (m−1)·max f + Σb +
     (m−1)·max b (each phase is a flow shop of m identical jobs), so the bubble grows.
Not handled: communication time between stages, zero-bubble schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.budget import check_steps
from ..core.errors import EngineError
from ..core.trace import Event, Timeline

SCHEDULES = ("gpipe", "1f1b", "interleaved")


def _validate(p: int, m: int, schedule: str, v: int, layers: int | None) -> None:
    for name, value in (("pipeline stages p", p), ("micro-batches m", m), ("chunks per device v", v)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise EngineError(f"{name} must be a whole number ≥ 1, got {value!r}")
    if schedule not in SCHEDULES:
        raise EngineError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule != "interleaved" and v != 1:
        raise EngineError(
            f"{schedule} puts one chunk on each device: v must be 1, got {v} (choose 'interleaved' for v > 1)"
        )
    if schedule == "interleaved" and m % p:
        raise EngineError(
            f"the interleaved schedule sends micro-batches in groups of p = {p}: "
            f"m = {m} must be a multiple of {p}"
        )
    if layers is not None and p * v > layers:
        raise EngineError(
            f"{p} stages × {v} chunks = {p * v} model pieces but the model has only {layers} layers"
        )
    check_steps(2 * p * m * v, "pipeline schedule")


def _order(d: int, p: int, m: int, schedule: str, v: int) -> list[tuple[str, int, int]]:
    """Device d's operations in execution order: (kind, micro-batch, chunk)."""
    if schedule == "gpipe":
        return [("F", j, 0) for j in range(m)] + [("B", j, 0) for j in range(m)]
    total = m * v
    if schedule == "1f1b" or v == 1:  # Megatron runs plain 1F1B when there is one chunk
        warm = min(p - d - 1, m)
    else:
        warm = min((p - d - 1) * 2 + (v - 1) * p, total)

    def fwd(k):
        return ("F", (k // (p * v)) * p + k % p, (k % (p * v)) // p)

    def bwd(k):
        return ("B", (k // (p * v)) * p + k % p, v - 1 - (k % (p * v)) // p)

    ops = [fwd(k) for k in range(warm)]
    for i in range(total - warm):
        ops += [fwd(warm + i), bwd(i)]
    ops += [bwd(k) for k in range(total - warm, total)]
    return ops


def _durations(p: int, v: int, t_f: float, t_b: float, stage_times, backward_times):
    """Forward and backward time of every virtual stage."""
    if stage_times is None:
        if backward_times is not None:
            raise EngineError("backward_times needs stage_times (one forward time per stage)")
        return [t_f / v] * (p * v), [t_b / v] * (p * v)
    try:
        fwd = [float(t) for t in stage_times]
        bwd = [2 * t for t in fwd] if backward_times is None else [float(t) for t in backward_times]
    except (TypeError, ValueError):
        raise EngineError(
            f"stage times must be sequences of numbers, got {stage_times!r} and {backward_times!r}"
        ) from None
    for name, times in (("stage_times", fwd), ("backward_times", bwd)):
        if len(times) != p * v:
            raise EngineError(
                f"{name} needs one time per stage ({p * v} = {p} stages × {v} chunks), got {len(times)}"
            )
        bad = [(s, t) for s, t in enumerate(times) if not 0 < t < float("inf")]
        if bad:
            raise EngineError(
                f"{name}: stage {bad[0][0]} takes {bad[0][1]}; every stage time must be "
                f"positive (a stage of shape ops only costs 0 FLOPs)"
            )
    return fwd, bwd


def pipeline_schedule(
    p: int,
    m: int,
    schedule: str = "1f1b",
    v: int = 1,
    t_f: float = 1.0,
    t_b: float = 2.0,
    layers: int | None = None,
    stage_times: Sequence[float] | None = None,
    backward_times: Sequence[float] | None = None,
) -> Timeline:
    """Simulate the schedule; lanes "stage 0".."stage p−1", events of kind forward/backward.

    ``stage_times`` (one forward time per virtual stage, c·p + device) replaces the uniform
    t_f/v; ``backward_times`` defaults to twice it.
    """
    _validate(p, m, schedule, v, layers)
    if t_f <= 0 or t_b <= 0:
        raise EngineError(f"forward and backward times must be positive, got {t_f}, {t_b}")
    fwd, bwd = _durations(p, v, t_f, t_b, stage_times, backward_times)
    orders = [_order(d, p, m, schedule, v) for d in range(p)]
    done: dict[tuple[str, int, int], float] = {}  # (kind, micro-batch, virtual stage) -> end
    nxt, free = [0] * p, [0.0] * p
    events = []
    last = p * v - 1
    remaining = sum(len(o) for o in orders)
    while remaining:
        progressed = False
        for d in range(p):
            while nxt[d] < len(orders[d]):
                kind, j, c = orders[d][nxt[d]]
                vs = c * p + d
                if kind == "F":
                    dep = ("F", j, vs - 1) if vs > 0 else None
                else:
                    dep = ("B", j, vs + 1) if vs < last else ("F", j, vs)
                if dep is not None and dep not in done:
                    break
                start = max(free[d], done[dep] if dep else 0.0)
                end = start + (fwd[vs] if kind == "F" else bwd[vs])
                done[(kind, j, vs)] = end
                free[d] = end
                label = f"{kind}{j}" + (f".{c}" if v > 1 else "")
                events.append(
                    Event(
                        f"stage {d}",
                        start,
                        end,
                        label,
                        "forward" if kind == "F" else "backward",
                        (("micro_batch", j), ("chunk", c)),
                    )
                )
                nxt[d] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise EngineError(f"schedule {schedule} deadlocked (p={p}, m={m}, v={v})")
    return Timeline(tuple(events), tuple(f"stage {d}" for d in range(p)), "time units")


def measured_bubble(timeline: Timeline) -> float:
    """Idle share of all device-time on a timeline: 1 − Σ busy / (lanes · makespan)."""
    span = timeline.makespan
    if span <= 0:
        return 0.0
    busy = sum(e.duration for e in timeline.events)
    return 1.0 - busy / (len(timeline.lanes) * span)


def bubble_fraction(p: int, m: int, schedule: str = "1f1b", v: int = 1) -> float:
    """Idle share of the total pipeline time, measured on the simulated schedule."""
    return measured_bubble(pipeline_schedule(p, m, schedule, v))


def bubble_formula(p: int, m: int, schedule: str = "1f1b", v: int = 1) -> dict:
    """Closed forms: the share of total time, and the papers' ratio to the ideal time."""
    _validate(p, m, schedule, v, None)
    work = v * m if schedule == "interleaved" else m
    return {"of_total": (p - 1) / (work + p - 1), "of_ideal": (p - 1) / work}


def activations_held(timeline: Timeline, v: int = 1) -> dict[str, tuple[tuple[float, float], ...]]:
    """Per stage, (time, micro-batches of activations held) after each change.

    A forward stores its activations when it starts; its backward frees them when it ends.
    With v chunks, one chunk's forward holds 1/v of a micro-batch's activations on that device.
    """
    out = {}
    for lane in timeline.lanes:
        deltas = []
        for e in timeline.events:
            if e.unit == lane:
                if e.kind == "forward":
                    deltas.append((e.start, 1, 1.0 / v))
                else:
                    deltas.append((e.end, 0, -1.0 / v))
        deltas.sort()
        held, series = 0.0, [(0.0, 0.0)]
        for time, _, delta in deltas:
            held += delta
            series.append((time, round(held, 9)))
        out[lane] = tuple(series)
    return out


def peak_activations(timeline: Timeline, v: int = 1) -> dict[str, float]:
    return {lane: max(h for _, h in s) for lane, s in activations_held(timeline, v).items()}


def time_points(timeline: Timeline) -> tuple[float, ...]:
    """Every distinct event end time: the moments a stepper can stop at."""
    return tuple(sorted({round(e.end, 9) for e in timeline.events}))


def timeline_until(timeline: Timeline, t: float) -> Timeline:
    """The schedule as it stands at time ``t``: events started before ``t``, cut at ``t``."""
    from dataclasses import replace

    cut = tuple(replace(e, end=min(e.end, t)) for e in timeline.events if e.start < t - 1e-12)
    return Timeline(cut, timeline.units, timeline.time_unit)


def held_at(timeline: Timeline, t: float, v: int = 1) -> dict[str, float]:
    """Micro-batches of activations each stage holds at time ``t``."""
    return {
        lane: [h for time, h in series if time <= t + 1e-12][-1]
        for lane, series in activations_held(timeline, v).items()
    }
