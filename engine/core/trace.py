"""Shared result types for steppable algorithms and timelines.

* A :class:`Trace` is a tuple of :class:`Step` — what a stepper page walks through. An algorithm
  written as a generator of steps is the single source of truth: the plain API runs it to the end.
* A :class:`Timeline` is a tuple of :class:`Event` on named units (lanes) — what a Gantt chart draws:
  scheduler streams, DaVinci engines, pipeline stages, DDP buckets, tensor lifetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import EngineError


@dataclass(frozen=True)
class Step:
    """One step: a title, an optional graph/state, the node names to highlight, and a log line."""

    title: str
    highlight: tuple[str, ...] = ()
    log: str = ""
    graph: Any = None
    data: Any = None  # step-specific payload (a table row, arrays, a state snapshot)


@dataclass(frozen=True)
class Trace:
    steps: tuple[Step, ...]
    title: str = ""
    summary: Any = None  # the final result of the algorithm

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, k: int) -> Step:
        return self.steps[k]


@dataclass(frozen=True)
class Event:
    """Work on one unit (lane) from ``start`` to ``end`` (same time unit for the whole timeline)."""

    unit: str
    start: float
    end: float
    label: str = ""
    kind: str = "compute"  # colour meaning, see viz.theme.MEANING (compute, communication, ...)
    info: tuple[tuple[str, Any], ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    events: tuple[Event, ...]
    units: tuple[str, ...] = ()  # lane order; default = order of first appearance
    time_unit: str = "cycles"
    critical: tuple[int, ...] = field(default=())  # indices of events on the critical path

    @property
    def lanes(self) -> tuple[str, ...]:
        return self.units or tuple(dict.fromkeys(e.unit for e in self.events))

    @property
    def makespan(self) -> float:
        return max((e.end for e in self.events), default=0.0)

    def busy(self, unit: str) -> float:
        return sum(e.duration for e in self.events if e.unit == unit)

    def utilization(self) -> dict[str, float]:
        """Busy share of the makespan per lane, 0..1."""
        span = self.makespan or 1.0
        return {u: self.busy(u) / span for u in self.lanes}

    def check_no_overlap(self) -> None:
        """Raise if two events overlap on one lane (a simulator bug, not user input)."""
        for unit in self.lanes:
            spans = sorted((e.start, e.end, e.label) for e in self.events if e.unit == unit)
            for (s0, e0, l0), (s1, e1, l1) in zip(spans, spans[1:]):
                if s1 < e0 - 1e-9:
                    raise EngineError(f"lane {unit!r}: {l0!r} [{s0}, {e0}) overlaps {l1!r} [{s1}, {e1})")
