"""A set-associative LRU cache simulator (write-back, write-allocate) for address traces.

Stages:
  1. an address maps to line = addr // line_size, set = line % n_sets, tag = line // n_sets;
  2. sets never interact, so the trace is split per set (stable order kept inside each set);
  3. inside a set, back-to-back accesses to the same line are always hits that leave the LRU order
     unchanged: they are collapsed into one run (its dirty bit is the OR of the run's writes);
  4. each set's runs go through an LRU list of ``associativity`` tags: a hit moves the tag to the
     most-recent end, a miss inserts it and evicts the least recently used tag when the set is
     full (a dirty victim is written back). The trace length is bounded by ``MAX_ACCESSES``;
  5. at the end the dirty lines are flushed; traffic = (misses + write-backs) * line size.
Not handled: prefetching, multiple cache levels, non-LRU policies, accesses that straddle two lines
(an access is attributed to the line of its first byte).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import BudgetError, ShapeError

MAX_ACCESSES = 1 << 22  # raw trace length accepted before collapsing (4 M accesses)


@dataclass(frozen=True)
class CacheConfig:
    capacity: int = 8192  # bytes
    line_size: int = 64  # bytes
    associativity: int = 8  # ways per set

    @property
    def n_sets(self) -> int:
        return self.capacity // (self.line_size * self.associativity)

    def validate(self) -> CacheConfig:
        for name in ("capacity", "line_size", "associativity"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 or v & (v - 1):
                raise ShapeError(f"cache {name} = {v!r} must be a positive power of two")
        if self.capacity < self.line_size * self.associativity:
            raise ShapeError(
                f"a {self.capacity}-byte cache cannot hold {self.associativity} ways "
                f"of {self.line_size}-byte lines"
            )
        if self.capacity > 1 << 26 or self.associativity > 64:
            raise ShapeError(
                f"cache of {self.capacity} bytes with {self.associativity} ways is "
                f"beyond this simulator (at most 64 MiB and 64 ways)"
            )
        return self


@dataclass(frozen=True)
class CacheStats:
    accesses: int
    hits: int
    misses: int
    writebacks: int
    line_size: int
    misses_by_array: tuple[tuple[str, int], ...] = ()

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0

    @property
    def traffic_bytes(self) -> int:
        """Bytes moved between cache and memory: lines filled plus lines written back."""
        return (self.misses + self.writebacks) * self.line_size


def simulate(
    addresses,
    config: CacheConfig = CacheConfig(),
    writes=None,
    array_ids=None,
    array_names: tuple[str, ...] = (),
) -> CacheStats:
    """Run a byte-address trace through the cache. ``writes`` (bool per access) marks stores;
    ``array_ids`` (small int per access) lets misses be counted per array."""
    config.validate()
    addr = np.asarray(addresses, dtype=np.int64).reshape(-1)
    n = addr.size
    if n > MAX_ACCESSES:
        raise BudgetError(
            f"trace of {n:,} accesses is over the simulator's limit of {MAX_ACCESSES:,}; use smaller matrices"
        )
    if n and addr.min() < 0:
        raise ShapeError("addresses must be non-negative")
    wr = np.zeros(n, bool) if writes is None else np.asarray(writes, bool).reshape(-1)
    ids = np.zeros(n, np.int64) if array_ids is None else np.asarray(array_ids, np.int64).reshape(-1)
    if wr.size != n or ids.size != n:
        raise ShapeError(f"writes/array_ids must have one entry per access ({n})")
    if n == 0:
        return CacheStats(0, 0, 0, 0, config.line_size)
    line = addr // config.line_size
    n_sets, ways = config.n_sets, config.associativity
    sets, tags = line % n_sets, line // n_sets
    # stage 2: per-set order
    order = np.argsort(sets, kind="stable")
    s_sorted, t_sorted, w_sorted, id_sorted = sets[order], tags[order], wr[order], ids[order]
    # stage 3: collapse runs of the same (set, tag)
    head = np.ones(n, bool)
    head[1:] = (s_sorted[1:] != s_sorted[:-1]) | (t_sorted[1:] != t_sorted[:-1])
    starts = np.flatnonzero(head)
    run_set, run_tag, run_id = s_sorted[starts], t_sorted[starts], id_sorted[starts]
    run_dirty = np.logical_or.reduceat(w_sorted, starts)
    miss_flags, writebacks = _lru_runs(run_set.tolist(), run_tag.tolist(), run_dirty.tolist(), ways)
    run_miss = np.frombuffer(miss_flags, dtype=np.uint8).astype(bool)
    misses = int(run_miss.sum())
    names = array_names or tuple(f"array{i}" for i in range(int(ids.max()) + 1))
    by_array = tuple(
        (names[i] if i < len(names) else f"array{i}", int(run_miss[run_id == i].sum()))
        for i in range(int(ids.max()) + 1)
    )
    return CacheStats(n, n - misses, misses, writebacks, config.line_size, by_array)


def _lru_runs(run_set: list, run_tag: list, run_dirty: list, ways: int) -> tuple[bytearray, int]:
    """Stage 4: one LRU list per set, runs taken set by set (sets are independent).

    A dict keeps insertion order, so popping a tag and inserting it again makes it most recent and
    the first key is the least recently used one. Returns (miss flag per run, write-backs including
    the final flush of dirty lines).
    """
    miss = bytearray(len(run_tag))
    writebacks = 0
    lines: dict = {}
    current = -1
    for r, (s, tag, dirty) in enumerate(zip(run_set, run_tag, run_dirty)):
        if s != current:
            writebacks += sum(lines.values())
            lines, current = {}, s
        if tag in lines:
            lines[tag] = lines.pop(tag) or dirty
            continue
        miss[r] = 1
        if len(lines) == ways:
            writebacks += lines.pop(next(iter(lines)))
        lines[tag] = dirty
    writebacks += sum(lines.values())
    return miss, writebacks
