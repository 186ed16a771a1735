"""GEMM written once, scheduled Halide/TVM style, and run through the cache simulator.

The algorithm never changes: ``C[i, j] += A[i, k] * B[k, j]`` over i < M, j < N, k < K (row-major
fp32 matrices). A :class:`Schedule` only changes *the order* of the iterations:
  1. ``split(x, f)``: loop x becomes x_o (trip count ceil(E/f)) around x_i (trip count f); a guard
     ``if x < E`` appears when f does not divide E (allowed for the outermost loop of an axis,
     whose overshoot lies past the matrix edge; an inner piece must be split evenly, or it would
     repeat iterations of the next tile); ``make_schedule`` picks, for page controls, the largest
     legal factor not above the one asked for, so every combination of controls is a schedule;
  2. ``reorder(a, b, ...)``: the named loops swap places among the positions they occupy;
  3. ``tile(x, y, fx, fy)``: split x and y, then reorder to x_o, y_o, x_i, y_i;
  4. ``unroll(x)``: the loop body is copied x's trip count times (no branch per iteration);
  5. ``vectorize(x)``: the innermost loop becomes one vector instruction of that width.
``loop_nest_text`` prints the generated loop nest; ``address_trace`` enumerates the iterations in
schedule order (vectorised with numpy) and emits the byte addresses of A, B and C for each one;
``run_gemm`` feeds them to :mod:`engine.kernels.cache_sim` and reports misses, traffic and arithmetic
intensity (FLOPs / bytes moved from memory).
Not handled: register blocking (C is read-modified-written in the cache every iteration), multiple
cache levels, parallel loops, other algorithms than GEMM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np

from ..core.errors import ShapeError
from .cache_sim import CacheConfig, CacheStats, simulate

AXES = ("i", "j", "k")
LOOP_ORDERS = tuple("".join(p) for p in permutations(AXES))
MAX_DIM = 256
MAX_ITERATIONS = 1 << 20
ELEM_BYTES = 4
ARRAY_ALIGN = 4096  # each matrix starts on its own 4 KiB page


@dataclass(frozen=True)
class Loop:
    name: str
    axis: str  # which of i, j, k it walks
    extent: int  # trip count
    step: int  # axis value contributed per iteration
    kind: str = "serial"  # serial | unroll | vectorize


@dataclass(frozen=True)
class Schedule:
    m: int
    n: int
    k: int
    loops: tuple[Loop, ...]  # outermost first

    def _find(self, name: str) -> int:
        for pos, loop in enumerate(self.loops):
            if loop.name == name:
                return pos
        raise ShapeError(f"no loop named {name!r}; loops are {', '.join(l.name for l in self.loops)}")

    def split(self, name: str, factor: int) -> Schedule:
        pos = self._find(name)
        loop = self.loops[pos]
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ShapeError(f"split factor {factor!r} must be a positive whole number")
        factor = min(int(factor), loop.extent)
        if loop.extent % factor and not self.outermost(name):
            # an inner piece overshooting would repeat iterations of the next tile; the outermost
            # piece's overshoot lies past the matrix edge, where the guard ``axis < size`` drops it
            raise ShapeError(
                f"split {name} ({loop.extent} iterations) by {factor}: the factor must "
                f"divide the trip count of a loop nested inside another {loop.axis} loop"
            )
        outer = Loop(f"{name}_o", loop.axis, math.ceil(loop.extent / factor), loop.step * factor)
        inner = Loop(f"{name}_i", loop.axis, factor, loop.step)
        return replace(self, loops=self.loops[:pos] + (outer, inner) + self.loops[pos + 1 :])

    def outermost(self, name: str) -> bool:
        """Whether loop ``name`` is the outermost piece (largest step) of its axis."""
        loop = self.loops[self._find(name)]
        return all(l.step <= loop.step for l in self.loops if l.axis == loop.axis)

    def legal_factor(self, name: str, factor: int) -> int:
        """``factor`` if ``split(name, factor)`` is legal, else the largest legal factor below it."""
        extent = self.loops[self._find(name)].extent
        factor = max(1, min(int(factor), extent))
        if self.outermost(name):
            return factor
        return max(f for f in range(1, factor + 1) if extent % f == 0)

    def reorder(self, *names: str) -> Schedule:
        positions = sorted(self._find(nm) for nm in names)
        if len(set(names)) != len(names):
            raise ShapeError(f"reorder names a loop twice: {names}")
        loops = list(self.loops)
        for pos, nm in zip(positions, names):
            loops[pos] = self.loops[self._find(nm)]
        return replace(self, loops=tuple(loops))

    def tile(self, x: str, y: str, fx: int, fy: int) -> Schedule:
        return self.split(x, fx).split(y, fy).reorder(f"{x}_o", f"{y}_o", f"{x}_i", f"{y}_i")

    def _mark(self, name: str, kind: str, limit: int) -> Schedule:
        pos = self._find(name)
        loop = self.loops[pos]
        if loop.extent > limit:
            raise ShapeError(f"cannot {kind} loop {name} of {loop.extent} iterations; at most {limit}")
        loops = list(self.loops)
        loops[pos] = replace(loop, kind=kind)
        return replace(self, loops=tuple(loops))

    def unroll(self, name: str) -> Schedule:
        return self._mark(name, "unroll", 16)

    def vectorize(self, name: str) -> Schedule:
        if self._find(name) != len(self.loops) - 1:
            raise ShapeError(f"only the innermost loop can be vectorized; {name} is not innermost")
        if self.loops[-1].step != 1:
            raise ShapeError(
                f"loop {name} steps by {self.loops[-1].step}: vector lanes must be neighbours (step 1)"
            )
        return self._mark(name, "vectorize", 16)

    @property
    def iterations(self) -> int:
        return math.prod(loop.extent for loop in self.loops)


def gemm_schedule(m: int, n: int, k: int) -> Schedule:
    """The unscheduled GEMM: loops i, j, k in that order."""
    for name, v in (("M", m), ("N", n), ("K", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= MAX_DIM:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to {MAX_DIM}")
    if m * n * k > MAX_ITERATIONS:
        raise ShapeError(f"{m}x{n}x{k} = {m * n * k:,} iterations; the limit is {MAX_ITERATIONS:,}")
    return Schedule(int(m), int(n), int(k), tuple(Loop(a, a, e, 1) for a, e in zip(AXES, (m, n, k))))


def make_schedule(
    m: int, n: int, k: int, order: str = "ijk", tile: int = 0, unroll: int = 1, vector: int = 1
) -> Schedule:
    """A schedule from page controls: a loop order, one square tile size (0 = no tiling), an
    unroll factor and a vector width applied to the innermost loop.

    Vector width and unroll factor are clamped to the largest legal factor (see ``split``); the
    widths actually used are in the returned loops (:func:`applied_factors`)."""
    if order not in LOOP_ORDERS:
        raise ShapeError(f"loop order {order!r} is not one of {', '.join(LOOP_ORDERS)}")
    s = gemm_schedule(m, n, k)
    if tile and tile > 0:
        for axis in AXES:
            s = s.split(axis, tile)
        s = s.reorder(*[f"{a}_o" for a in order], *[f"{a}_i" for a in order])
    else:
        s = s.reorder(*order)
    target = s.loops[-1].name
    if vector > 1:
        s = s.split(target, s.legal_factor(target, vector))
        s = s.vectorize(f"{target}_i")
        target = f"{target}_o"
    if unroll > 1:
        s = s.split(target, s.legal_factor(target, unroll))
        s = s.unroll(f"{target}_i")
    return s


def applied_factors(s: Schedule) -> dict[str, int]:
    """Vector width and unroll factor that a schedule really uses (1 when absent)."""
    out = {"vector": 1, "unroll": 1}
    for loop in s.loops:
        if loop.kind == "vectorize":
            out["vector"] = loop.extent
        elif loop.kind == "unroll":
            out["unroll"] = loop.extent
    return out


def _axis_expr(s: Schedule, axis: str) -> str:
    """The axis value from its loop variables (a vector loop contributes its first lane, 0)."""
    terms = [
        (f"{l.name}*{l.step}" if l.step > 1 else l.name)
        for l in s.loops
        if l.axis == axis and l.extent > 1 and l.kind != "vectorize"
    ]
    return " + ".join(terms) or "0"


def loop_nest_text(s: Schedule) -> str:
    """The generated loop nest, as Python-like code."""
    lines, depth = [], 0
    guards = []
    for loop in s.loops:
        pad = "    " * depth
        if loop.kind == "vectorize" or loop.extent == 1:
            continue  # a one-trip loop disappears
        pragma = "  # unrolled: body copied" if loop.kind == "unroll" else ""
        lines.append(f"{pad}for {loop.name} in range({loop.extent}):{pragma}")
        depth += 1
    for axis, size in zip(AXES, (s.m, s.n, s.k)):
        parts = [l for l in s.loops if l.axis == axis]
        covered = math.prod(l.extent for l in parts)
        plain = (
            len(parts) == 1 and parts[0].name == axis and parts[0].extent > 1 and parts[0].kind != "vectorize"
        )
        if not plain:
            lines.append("    " * depth + f"{axis} = {_axis_expr(s, axis)}")
        if covered != size:
            guards.append(f"{axis} < {size}")
    pad = "    " * depth
    if guards:
        lines.append(f"{pad}if {' and '.join(guards)}:")
        pad += "    "
    vec = s.loops[-1] if s.loops[-1].kind == "vectorize" else None
    if vec is None:
        lines.append(f"{pad}C[i, j] += A[i, k] * B[k, j]")
    else:
        w = vec.extent
        idx = {a: a for a in AXES}
        idx[vec.axis] = f"{vec.axis}:{vec.axis}+{w}"
        lines.append(f"{pad}# {vec.name}: one {w}-wide vector instruction")
        product = f"A[{idx['i']}, {idx['k']}] * B[{idx['k']}, {idx['j']}]"
        if vec.axis == "k":  # vectorising the reduction: a w-wide dot product
            product = f"sum({product})"
        lines.append(f"{pad}C[{idx['i']}, {idx['j']}] += {product}")
    return "\n".join(lines)


def _axis_values(s: Schedule) -> dict[str, np.ndarray]:
    shape = tuple(l.extent for l in s.loops)
    out = {a: np.zeros(shape, np.int64) for a in AXES}
    for pos, loop in enumerate(s.loops):
        view = [1] * len(shape)
        view[pos] = loop.extent
        out[loop.axis] = out[loop.axis] + (np.arange(loop.extent) * loop.step).reshape(view)
    return {a: v.reshape(-1) for a, v in out.items()}


def array_bases(m: int, n: int, k: int) -> dict[str, int]:
    """Byte address where A (MxK), B (KxN) and C (MxN) start, each on its own 4 KiB page."""
    a_bytes = -(-m * k * ELEM_BYTES // ARRAY_ALIGN) * ARRAY_ALIGN
    b_bytes = -(-k * n * ELEM_BYTES // ARRAY_ALIGN) * ARRAY_ALIGN
    return {"A": 0, "B": a_bytes, "C": a_bytes + b_bytes}


def address_trace(s: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(addresses, is_write, array_id) in execution order: per iteration A[i,k], B[k,j] read,
    C[i,j] read-modify-write; a vector instruction touches all lanes of A, then of B, then of C."""
    if s.iterations > MAX_ITERATIONS:
        raise ShapeError(f"schedule has {s.iterations:,} iterations; the limit is {MAX_ITERATIONS:,}")
    v = _axis_values(s)
    i, j, k = v["i"], v["j"], v["k"]
    base = array_bases(s.m, s.n, s.k)
    addr = np.stack(
        [
            base["A"] + (i * s.k + k) * ELEM_BYTES,
            base["B"] + (k * s.n + j) * ELEM_BYTES,
            base["C"] + (i * s.n + j) * ELEM_BYTES,
        ],
        axis=1,
    )
    valid = (i < s.m) & (j < s.n) & (k < s.k)
    width = s.loops[-1].extent if s.loops[-1].kind == "vectorize" else 1
    addr = addr.reshape(-1, width, 3).transpose(0, 2, 1)  # (vector instr, array, lane)
    valid = np.broadcast_to(valid.reshape(-1, width)[:, None, :], addr.shape)
    ids = np.broadcast_to(np.arange(3)[None, :, None], addr.shape)
    keep = valid.reshape(-1)
    addr, ids = addr.reshape(-1)[keep], ids.reshape(-1)[keep]
    return addr, ids == 2, ids


@dataclass(frozen=True)
class GemmResult:
    schedule: Schedule
    code: str
    stats: CacheStats
    flops: int
    compulsory_bytes: int  # each matrix read once, C written once
    loop_iterations: int  # branch overhead: iterations of non-unrolled, non-vector loops

    @property
    def arithmetic_intensity(self) -> float:
        """FLOPs per byte actually moved between memory and the cache."""
        return self.flops / max(self.stats.traffic_bytes, 1)

    @property
    def ideal_intensity(self) -> float:
        """FLOPs per byte if every matrix crossed the memory bus exactly once."""
        return self.flops / self.compulsory_bytes


def run_gemm(s: Schedule, cache: CacheConfig = CacheConfig()) -> GemmResult:
    addr, writes, ids = address_trace(s)
    stats = simulate(addr, cache, writes, ids, ("A", "B", "C"))
    m, n, k = s.m, s.n, s.k
    overhead = 1
    for loop in s.loops:
        if loop.kind == "serial":
            overhead *= loop.extent
    return GemmResult(
        s, loop_nest_text(s), stats, 2 * m * n * k, (m * k + k * n + 2 * m * n) * ELEM_BYTES, overhead
    )


def summary_row(r: GemmResult, order: str, tile: int = 0) -> dict:
    """One row of a sweep: loop order, tile, misses, traffic, hit rate, arithmetic intensity."""
    return dict(
        order=order,
        tile=tile,
        misses=r.stats.misses,
        traffic_bytes=r.stats.traffic_bytes,
        hit_rate=r.stats.hit_rate,
        intensity=r.arithmetic_intensity,
    )


def sweep_orders(m: int, n: int, k: int, tile: int = 0, cache: CacheConfig = CacheConfig()) -> list[dict]:
    """Misses and traffic for each of the six loop orders."""
    rows = []
    for order in LOOP_ORDERS:
        rows.append(summary_row(run_gemm(make_schedule(m, n, k, order, tile), cache), order, tile))
    return rows


def sweep_tiles(
    m: int, n: int, k: int, order: str = "ijk", tiles=(0, 4, 8, 16, 32), cache: CacheConfig = CacheConfig()
) -> list[dict]:
    """Misses and traffic as the (square) tile size grows; tile 0 = untiled."""
    rows = []
    for t in tiles:
        rows.append(summary_row(run_gemm(make_schedule(m, n, k, order, t), cache), order, t))
    return rows
