"""The schedule language of the loop level: the GEMM lab's primitives for any tensor expression.

The vocabulary is :mod:`engine.kernels.gemm`'s (its :class:`~engine.kernels.gemm.Loop` is reused):
a schedule is the ordered list of loops over the computation's axes, and every primitive returns a
new schedule (stages of each primitive):
  1. ``split(x, f)``: loop x becomes ``x_o`` (ceil(E/f) trips, step f) around ``x_i`` (f trips); only
     the outermost piece of an axis may overshoot (a guard ``axis < extent`` drops the extra
     iterations), an inner piece must divide evenly;
  2. ``reorder(a, b, ...)``: the named loops swap places among the positions they occupy (any order
     is legal: a reduction loop outside a spatial loop accumulates in memory instead of a register);
  3. ``tile(x, y, fx, fy)``: split both and order ``x_o, y_o, x_i, y_i``;
  4. ``unroll(x)``: the body is copied x's trip count (<= 16) times;
  5. ``vectorize(x)``: the innermost loop becomes one vector instruction of its width (<= 16); its
     axis must be covered evenly (no guard), so every lane is a real element.
A schedule can be given to :func:`engine.lower` as this object, as text
(``"tile(i, j, 4, 4); vectorize(j_i)"``, parsed with :mod:`ast` against a whitelist — never
evaluated), as a list of tuples (``[("split", "j", 4), ("vectorize", "j_i")]``), as page controls
(``{"tile": 8, "vector": 4, "unroll": 2}``, clamped to legal factors like ``make_schedule``) or, for
a 2-D matmul/gemm, as a :class:`engine.kernels.gemm.Schedule` from the GEMM lab.
Not handled: fuse, parallel, compute_at/cache_read (TVM's other primitives); symbolic loop bounds
(a shape-generic kernel keeps the default schedule).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ...core.errors import ProgramError, ShapeError
from ...kernels import gemm
from ...kernels.gemm import Loop
from .texpr import Axis, Compute

MAX_LANES = 16
MAX_UNROLL = 16
MAX_PRIMITIVES = 32
PRIMITIVES = {
    "split": (str, int),
    "reorder": None,
    "tile": (str, str, int, int),
    "unroll": (str,),
    "vectorize": (str,),
}


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class LoopSchedule:
    axes: tuple[Axis, ...]
    loops: tuple[Loop, ...]  # outermost first
    applied: tuple[tuple[str, tuple[Loop, ...]], ...] = ()  # (primitive as text, loops after it)

    def _find(self, name: str) -> int:
        for pos, loop in enumerate(self.loops):
            if loop.name == name:
                return pos
        raise ShapeError(f"no loop named {name!r}; the loops are {', '.join(l.name for l in self.loops)}")

    def _extent(self, loop: Loop) -> int:
        if not isinstance(loop.extent, int):
            raise ShapeError(
                f"loop {loop.name} runs to a size known only at run time ({loop.extent}); "
                "a shape-generic kernel keeps the default schedule"
            )
        return loop.extent

    def axis(self, name: str) -> Axis:
        return next(a for a in self.axes if a.name == name)

    def outermost(self, name: str) -> bool:
        loop = self.loops[self._find(name)]
        return all(l.step <= loop.step for l in self.loops if l.axis == loop.axis)

    def _note(self, text: str, loops: tuple[Loop, ...]) -> LoopSchedule:
        return replace(self, loops=loops, applied=self.applied + ((text, loops),))

    def split(self, name: str, factor: int) -> LoopSchedule:
        pos = self._find(name)
        loop = self.loops[pos]
        extent = self._extent(loop)
        if not _whole(factor) or factor < 1:
            raise ShapeError(f"split factor {factor!r} must be a positive whole number")
        factor = min(int(factor), extent)
        if extent % factor and not self.outermost(name):
            raise ShapeError(
                f"split {name} ({extent} iterations) by {factor}: the factor must divide the trip count "
                f"of a loop nested inside another {loop.axis} loop"
            )
        outer = Loop(f"{name}_o", loop.axis, math.ceil(extent / factor), loop.step * factor)
        inner = Loop(f"{name}_i", loop.axis, factor, loop.step)
        loops = self.loops[:pos] + (outer, inner) + self.loops[pos + 1 :]
        return self._note(f"split({name}, {factor})", loops)

    def legal_factor(self, name: str, factor: int) -> int:
        """``factor`` if splitting ``name`` by it is legal, else the largest legal factor below it."""
        extent = self._extent(self.loops[self._find(name)])
        factor = max(1, min(int(factor), extent))
        if self.outermost(name):
            return factor
        return max(f for f in range(1, factor + 1) if extent % f == 0)

    def reorder(self, *names: str) -> LoopSchedule:
        if len(set(names)) != len(names):
            raise ShapeError(f"reorder names a loop twice: {', '.join(names)}")
        positions = sorted(self._find(nm) for nm in names)
        loops = list(self.loops)
        for pos, nm in zip(positions, names):
            loops[pos] = self.loops[self._find(nm)]
        return self._note(f"reorder({', '.join(names)})", tuple(loops))

    def tile(self, x: str, y: str, fx: int, fy: int) -> LoopSchedule:
        s = self.split(x, fx).split(y, fy).reorder(f"{x}_o", f"{y}_o", f"{x}_i", f"{y}_i")
        return replace(s, applied=self.applied + ((f"tile({x}, {y}, {fx}, {fy})", s.loops),))

    def _mark(self, name: str, kind: str, limit: int) -> LoopSchedule:
        pos = self._find(name)
        loop = self.loops[pos]
        if self._extent(loop) > limit:
            raise ShapeError(f"cannot {kind} loop {name} of {loop.extent} iterations; at most {limit}")
        loops = list(self.loops)
        loops[pos] = replace(loop, kind=kind)
        return self._note(f"{kind}({name})", tuple(loops))

    def unroll(self, name: str) -> LoopSchedule:
        return self._mark(name, "unroll", MAX_UNROLL)

    def vectorize(self, name: str) -> LoopSchedule:
        if self._find(name) != len(self.loops) - 1:
            raise ShapeError(f"only the innermost loop can be vectorized; {name} is not innermost")
        loop = self.loops[-1]
        if loop.step != 1:
            raise ShapeError(f"loop {name} steps by {loop.step}: vector lanes must be neighbours (step 1)")
        covered = math.prod(self._extent(l) for l in self.loops if l.axis == loop.axis)
        extent = self.axis(loop.axis).extent
        if covered != extent:
            raise ShapeError(
                f"cannot vectorize {name}: its axis {loop.axis} has {extent} iterations, not a multiple "
                f"of the split; the last vector would run past the edge — pick a factor that divides {extent}"
            )
        return self._mark(name, "vectorize", MAX_LANES)

    def check(self) -> None:
        """A vectorized loop must still be innermost after later reorders."""
        for pos, loop in enumerate(self.loops):
            if loop.kind == "vectorize" and pos != len(self.loops) - 1:
                raise ShapeError(f"loop {loop.name} is vectorized but no longer innermost; reorder it last")

    @property
    def vector_width(self) -> int:
        return self.loops[-1].extent if self.loops and self.loops[-1].kind == "vectorize" else 1

    @property
    def register_accumulation(self) -> bool:
        """Whether every reduction loop lies inside every spatial loop (the sum stays in a register)."""
        reduce = {a.name for a in self.axes if a.reduce}
        seen_reduce = False
        for loop in self.loops:
            if loop.axis in reduce:
                seen_reduce = True
            elif seen_reduce:
                return False
        return True


def default_schedule(compute: Compute) -> LoopSchedule:
    """One loop per axis: the spatial axes in output order, then the reduction axes."""
    axes = compute.all_axes
    loops = tuple(Loop(a.name, a.name, a.extent if isinstance(a.extent, int) else a.extent, 1) for a in axes)
    return LoopSchedule(axes, loops)


# -- the ways a schedule can be given --------------------------------------------------------------
def apply_primitives(s: LoopSchedule, prims: Sequence[Sequence[Any]]) -> LoopSchedule:
    if len(prims) > MAX_PRIMITIVES:
        raise ShapeError(f"a schedule of {len(prims)} primitives; the limit is {MAX_PRIMITIVES}")
    for prim in prims:
        if not isinstance(prim, (tuple, list)) or not prim or prim[0] not in PRIMITIVES:
            raise ShapeError(
                f"a schedule step must be one of {', '.join(PRIMITIVES)} with its arguments, got {prim!r}"
            )
        name, args = prim[0], tuple(prim[1:])
        kinds = PRIMITIVES[name]
        if kinds is None:
            ok = bool(args) and all(isinstance(a, str) for a in args)
        else:
            ok = len(args) == len(kinds) and all(
                isinstance(a, str) if k is str else _whole(a) for a, k in zip(args, kinds)
            )
        if not ok:
            raise ShapeError(f"{name} takes ({_signature(name)}), got {name}{args!r}")
        s = getattr(s, name)(*args)
    s.check()
    return s


def _signature(name: str) -> str:
    return {
        "split": "loop, factor",
        "reorder": "loop, loop, ...",
        "tile": "loop, loop, factor, factor",
        "unroll": "loop",
        "vectorize": "loop",
    }[name]


def parse_schedule_text(text: str) -> list[tuple]:
    """``"split(i, 4); vectorize(i_i)"`` -> ``[("split", "i", 4), ("vectorize", "i_i")]``."""
    if len(text) > 2000:
        raise ProgramError(f"a schedule of {len(text):,} characters; the limit is 2,000")
    try:
        lines = (part.strip() for part in text.replace(";", "\n").splitlines())
        tree = ast.parse("\n".join(lines), mode="exec")
    except SyntaxError as exc:
        raise ProgramError(f"schedule syntax error: {exc.msg}", exc.lineno or 0, exc.offset or 0) from None
    out = []
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
            raise ProgramError(
                "each schedule step is a call like split(i, 4)", stmt.lineno, stmt.col_offset + 1
            )
        args = []
        for a in call.args:
            if isinstance(a, ast.Name):
                args.append(a.id)
            elif isinstance(a, ast.Constant) and _whole(a.value):
                args.append(a.value)
            else:
                raise ProgramError(
                    "schedule arguments are loop names and whole numbers", a.lineno, a.col_offset + 1
                )
        out.append((call.func.id, *args))
    return out


def from_controls(s: LoopSchedule, controls: Mapping[str, Any]) -> LoopSchedule:
    """Page controls: ``tile`` (square, over the two innermost spatial axes), ``vector`` (the
    innermost spatial loop moves innermost and is split and vectorised; reductions then sum in
    memory) and ``unroll`` (the loop just outside), each clamped to a legal factor."""
    unknown = set(controls) - {"tile", "vector", "unroll"}
    if unknown:
        raise ShapeError(f"unknown schedule control {sorted(unknown)[0]!r}; use tile, vector and unroll")
    for key, value in controls.items():
        if not _whole(value) or value < 0:
            raise ShapeError(f"schedule control {key}={value!r} must be a whole number >= 0")
    spatial = [a.name for a in s.axes if not a.reduce and isinstance(a.extent, int) and a.extent > 1]
    tile = controls.get("tile", 0)
    if tile > 1 and len(spatial) >= 2:
        x, y = spatial[-2], spatial[-1]
        s = s.tile(x, y, s.legal_factor(x, tile), s.legal_factor(y, tile))
    vector = controls.get("vector", 1)
    if vector > 1 and spatial:  # vectorise the innermost spatial loop: move it innermost (ikj-style)
        last = [l for l in s.loops if l.axis == spatial[-1]][-1].name
        s = s.reorder(*[l.name for l in s.loops if l.name != last], last)
    target = s.loops[-1].name if s.loops else None
    if target and vector > 1:
        f = _even_factor(s, target, vector)
        if f > 1:
            s = s.split(target, f).vectorize(f"{target}_i")
            target = f"{target}_o"
    unroll = controls.get("unroll", 1)
    if target and unroll > 1:
        s = s.split(target, s.legal_factor(target, min(unroll, MAX_UNROLL)))
        s = s.unroll(f"{target}_i")
    return s


def _even_factor(s: LoopSchedule, name: str, want: int) -> int:
    loop = s.loops[s._find(name)]
    covered = math.prod(l.extent for l in s.loops if l.axis == loop.axis)
    if covered != s.axis(loop.axis).extent:
        return 1
    extent = int(loop.extent)
    return max(f for f in range(1, min(want, MAX_LANES, extent) + 1) if extent % f == 0)


def from_gemm(s: LoopSchedule, g: gemm.Schedule) -> LoopSchedule:
    extents = {a.name: a.extent for a in s.axes}
    if set(extents) != {"i", "j", "k"} or (extents["i"], extents["j"], extents["k"]) != (g.m, g.n, g.k):
        raise ShapeError(
            f"a GEMM-lab schedule for {g.m}x{g.n}x{g.k} fits a 2-D matmul of those sizes; this node's "
            f"axes are {', '.join(f'{n}<{e}' for n, e in extents.items())}"
        )
    out = replace(s, loops=g.loops, applied=(("the GEMM lab's schedule", g.loops),))
    out.check()
    return out


def resolve(compute: Compute, schedule: Any) -> LoopSchedule:
    """Any accepted form of ``schedule`` (see the module docstring) -> a LoopSchedule."""
    base = default_schedule(compute)
    if schedule is None:
        return base
    if isinstance(schedule, LoopSchedule):
        if {a.name for a in schedule.axes} != {a.name for a in base.axes}:
            raise ShapeError("this schedule was made for other axes; build it from this node's default")
        schedule.check()
        return schedule
    if isinstance(schedule, gemm.Schedule):
        return from_gemm(base, schedule)
    if not compute.static:
        raise ShapeError("a shape-generic kernel keeps the default schedule")
    if isinstance(schedule, str):
        return apply_primitives(base, parse_schedule_text(schedule))
    if isinstance(schedule, Mapping):
        return from_controls(base, schedule)
    if isinstance(schedule, (list, tuple)):
        return apply_primitives(base, schedule)
    raise ShapeError(
        "a schedule is text, a list of steps, a dict of controls or a schedule object, "
        f"not {type(schedule).__name__}"
    )
