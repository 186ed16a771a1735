"""Sharding-strategy propagation and redistribution on a small graph (MindSpore's auto-parallel idea).

Devices form a device matrix (mesh) d0 × d1. A 2-D tensor's layout is its tensor map — which mesh
axis cuts each tensor dimension (-1: not cut) — plus the mesh axes over which it holds partial sums.
Stages:
  1. The student fixes the layouts of some leaf tensors (inputs, weights); the others are free.
  2. Propagation, op by op in program order: each op lists its strategies (the input layouts it can
     compute from: matmul needs both K dims cut the same way and makes a partial sum over that axis;
     add and gelu need equal, complete layouts; transpose and reduce_sum, being linear, take any
     layout as it is). It picks the strategy of least cost = compute time of its local shard +
     redistribution of its inputs from their current layouts; a free leaf is created in the layout
     the chosen strategy wants (free of cost) and is fixed from then on.
  3. Redistribution between two layouts (:func:`plan_redistribution`): partial sums are resolved
     first (ReduceScatter when the target cuts a dimension the source leaves whole, else
     AllReduce), then a mesh axis that moves to the other dimension is an AllToAll, one that goes is
     an AllGather, one that comes is a Split (a local slice: no traffic). Costs: α-β on one link,
     bytes received per device.
  4. The graph's output must be complete (no partial sums); the cheapest complete layout is chosen.
  5. Search: every layout of every leaf (branch and bound in program order: an op's cost is added
     as soon as its inputs are known, and a branch stops when it already costs as much as the best).
  6. Check: the plan is run on every simulated device in numpy (local ops and collectives on
     shards); each device's shard equals the slice of the unsharded result.
Not handled: tensors of rank other than 2, a mesh of more than two axes, a tensor dimension cut by
two mesh axes at once, replicated-then-partial layouts produced by a collective, memory limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError
from .collectives import get_link

KINDS = ("matmul", "add", "gelu", "transpose", "reduce_sum")


@dataclass(frozen=True)
class Layout:
    map: tuple[int, int]  # mesh axis cutting each dimension, -1 = whole
    partial: tuple[int, ...] = ()  # mesh axes holding partial sums

    def text(self) -> str:
        return f"({self.map[0]}, {self.map[1]})" + (f" partial{list(self.partial)}" if self.partial else "")


MAPS = ((-1, -1), (0, -1), (-1, 0), (1, -1), (-1, 1), (0, 1), (1, 0))


@dataclass(frozen=True)
class Op:
    out: str
    kind: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Program:
    name: str
    leaves: tuple[tuple[str, tuple[str, str]], ...]  # leaf name -> dimension names
    ops: tuple[Op, ...]


PRESETS = {
    "matmul_chain": Program(
        "Y = (X·W1)·W2",
        (("X", ("B", "H")), ("W1", ("H", "F")), ("W2", ("F", "H"))),
        (Op("Y1", "matmul", ("X", "W1")), Op("Y", "matmul", ("Y1", "W2"))),
    ),
    "mlp": Program(
        "Y = gelu(X·W1)·W2",
        (("X", ("B", "H")), ("W1", ("H", "F")), ("W2", ("F", "H"))),
        (Op("A", "matmul", ("X", "W1")), Op("G", "gelu", ("A",)), Op("Y", "matmul", ("G", "W2"))),
    ),
    "mlp_residual": Program(
        "Z = X + gelu(X·W1)·W2",
        (("X", ("B", "H")), ("W1", ("H", "F")), ("W2", ("F", "H"))),
        (
            Op("A", "matmul", ("X", "W1")),
            Op("G", "gelu", ("A",)),
            Op("Y", "matmul", ("G", "W2")),
            Op("Z", "add", ("Y", "X")),
        ),
    ),
    "scores": Program(
        "R = reduce_sum((X·Wq)·(X·Wk)ᵀ)",
        (("X", ("B", "H")), ("Wq", ("H", "H")), ("Wk", ("H", "H"))),
        (
            Op("Q", "matmul", ("X", "Wq")),
            Op("K", "matmul", ("X", "Wk")),
            Op("KT", "transpose", ("K",)),
            Op("S", "matmul", ("Q", "KT")),
            Op("R", "reduce_sum", ("S",)),
        ),
    ),
}
SIM_DIMS = {"B": 8, "H": 8, "F": 16, "1": 1}


@dataclass(frozen=True)
class Move:
    """One collective of a redistribution."""

    collective: str  # AllReduce, ReduceScatter, AllToAll, AllGather, Split
    axis: int  # mesh axis
    dim: int  # tensor dimension (AllToAll: the one gathered)
    to_dim: int  # AllToAll: the one cut; else -1
    bytes: float  # received per device
    seconds: float


@dataclass(frozen=True)
class OpPlan:
    op: Op
    inputs: tuple[Layout, ...]  # the layouts the op computes from
    moves: tuple[tuple[Move, ...], ...]  # per input: what turned its current layout into that one
    out: Layout
    compute_s: float

    @property
    def comm_s(self) -> float:
        return sum(m.seconds for ms in self.moves for m in ms)


@dataclass(frozen=True)
class Plan:
    program: Program
    mesh: tuple[int, int]
    leaves: tuple[tuple[str, Layout], ...]
    ops: tuple[OpPlan, ...]
    final: tuple[Move, ...]  # makes the output complete
    output: Layout
    leaf_bytes: float  # the leaves' shards on one device (the tie-break between equal times)

    @property
    def cost_s(self) -> float:
        return sum(o.compute_s + o.comm_s for o in self.ops) + sum(m.seconds for m in self.final)

    @property
    def comm_s(self) -> float:
        return sum(o.comm_s for o in self.ops) + sum(m.seconds for m in self.final)


class _Costs:
    """Shapes, mesh and link of one problem: the cost of ops and redistributions."""

    def __init__(self, program: Program, dims: dict, mesh, link: str, tflops: float, elem_bytes: int = 2):
        self.program, self.dims, self.mesh = program, dims, tuple(mesh)
        self.link, self.rate, self.elem = get_link(link), tflops * 1e12, elem_bytes
        self.memo: dict = {}  # (op, current input layouts) -> its OpPlan
        self.shapes = {name: tuple(dims[d] for d in ds) for name, ds in program.leaves}
        for op in program.ops:
            self.shapes[op.out] = self._out_shape(op)

    def _out_shape(self, op: Op):
        a = self.shapes[op.inputs[0]]
        if op.kind == "matmul":
            b = self.shapes[op.inputs[1]]
            if a[1] != b[0]:
                raise EngineError(f"{op.out}: cannot multiply {list(a)} by {list(b)}")
            return (a[0], b[1])
        if op.kind == "transpose":
            return (a[1], a[0])
        if op.kind == "reduce_sum":
            return (a[0], 1)
        return a

    def local(self, name: str, lay: Layout) -> tuple[int, int]:
        shape = self.shapes[name]
        return tuple(s // (self.mesh[k] if k >= 0 else 1) for s, k in zip(shape, lay.map))

    def fits(self, name: str, lay: Layout) -> bool:
        return all(k < 0 or s % self.mesh[k] == 0 for s, k in zip(self.shapes[name], lay.map))

    def moves(self, name: str, src: Layout, dst: Layout) -> tuple[Move, ...]:
        return plan_redistribution(src, dst, self.local(name, src), self.mesh, self.link, self.elem)

    def compute(self, op: Op, ins: tuple[Layout, ...]) -> float:
        a = self.local(op.inputs[0], ins[0])
        if op.kind == "matmul":
            b = self.local(op.inputs[1], ins[1])
            return 2.0 * a[0] * a[1] * b[1] / self.rate
        return 0.0 if op.kind == "transpose" else float(a[0] * a[1]) / self.rate


def _axes_ok(*axes: int) -> bool:
    used = [a for a in axes if a >= 0]
    return len(used) == len(set(used))


def plan_redistribution(src: Layout, dst: Layout, local, mesh, link, elem_bytes: int = 2) -> tuple[Move, ...]:
    """The collectives that turn shards of layout ``src`` (local shape ``local``) into ``dst``."""
    if src == dst:
        return ()
    if dst.partial:
        raise EngineError("no collective produces partial sums from complete values")
    cur, partial, shape, out = list(src.map), list(src.partial), list(local), []

    def add(name, axis, dim, to_dim, factor, steps):
        g = mesh[axis]
        nbytes = factor * math.prod(shape) * elem_bytes
        out.append(Move(name, axis, dim, to_dim, nbytes, steps * (g - 1) * link.alpha + nbytes / link.beta))

    for k in sorted(partial):
        g = mesh[k]
        free = [i for i in range(2) if dst.map[i] == k and cur[i] == -1]
        if free:
            add("ReduceScatter", k, free[0], -1, (g - 1) / g, 1)
            cur[free[0]], shape[free[0]] = k, shape[free[0]] // g
        else:
            add("AllReduce", k, -1, -1, 2 * (g - 1) / g, 2)
    for i in range(2):
        k = cur[i]
        if k < 0 or dst.map[i] == k:
            continue
        g, j = mesh[k], 1 - i
        if dst.map[j] == k and cur[j] == -1:
            add("AllToAll", k, i, j, (g - 1) / g, 1)
            cur[i], cur[j], shape[i], shape[j] = -1, k, shape[i] * g, shape[j] // g
        else:
            add("AllGather", k, i, -1, g - 1, 1)
            cur[i], shape[i] = -1, shape[i] * g
    for i in range(2):
        if cur[i] == -1 and dst.map[i] >= 0:
            add("Split", dst.map[i], i, -1, 0.0, 0)
            cur[i], shape[i] = dst.map[i], shape[i] // mesh[dst.map[i]]
    return tuple(out)


def _strategies(costs: _Costs, op: Op, current: tuple[Layout | None, ...]):
    """The input layouts ``op`` can compute from (a None input is a free leaf) and the output layout."""
    names = op.inputs
    if op.kind == "matmul":
        for am, ak, bn in product((-1, 0, 1), repeat=3):
            a, b = Layout((am, ak)), Layout((ak, bn))
            if _axes_ok(am, ak, bn) and costs.fits(names[0], a) and costs.fits(names[1], b):
                yield (a, b), Layout((am, bn), (ak,) if ak >= 0 else ())
    elif op.kind in ("add", "gelu"):
        for m in MAPS:
            lay = Layout(m)
            if all(costs.fits(n, lay) for n in names):
                yield (lay,) * len(names), lay
    else:  # linear and one input: transpose, reduce_sum take the layout they are given
        options = [current[0]] if current[0] is not None else [Layout(m) for m in MAPS]
        for lay in options:
            if not costs.fits(names[0], lay):
                continue
            if op.kind == "transpose":
                yield (lay,), Layout((lay.map[1], lay.map[0]), lay.partial)
            else:
                cut = (lay.map[1],) if lay.map[1] >= 0 else ()
                yield (lay,), Layout((lay.map[0], -1), tuple(sorted(set(lay.partial) | set(cut))))


def _choose(costs: _Costs, op: Op, have: dict) -> OpPlan:
    current = tuple(have.get(n) for n in op.inputs)
    key = (op, current)
    if key not in costs.memo:
        costs.memo[key] = _cheapest(costs, op, current)
    return costs.memo[key]


def _cheapest(costs: _Costs, op: Op, current: tuple) -> OpPlan:
    best = None
    for ins, out in _strategies(costs, op, current):
        moves = tuple(
            () if cur is None else costs.moves(n, cur, want) for n, cur, want in zip(op.inputs, current, ins)
        )
        plan = OpPlan(op, ins, moves, out, costs.compute(op, ins))
        if best is None or plan.compute_s + plan.comm_s < best.compute_s + best.comm_s - 1e-15:
            best = plan
    if best is None:
        raise EngineError(f"{op.out}: no layout of {', '.join(op.inputs)} divides its shape on the mesh")
    return best


def _finish(costs: _Costs, program: Program, have: dict):
    name = program.ops[-1].out
    src = have[name]
    options = [Layout(m) for m in MAPS if costs.fits(name, Layout(m))]
    final = min((costs.moves(name, src, o) for o in options), key=lambda ms: sum(m.seconds for m in ms))
    dst = src if not final else next(o for o in options if costs.moves(name, src, o) == final)
    return final, dst


def _check(program: Program, dims: dict, mesh) -> None:
    d0, d1 = mesh
    if not (isinstance(d0, int) and isinstance(d1, int)) or d0 < 1 or d1 < 1 or d0 * d1 > 64:
        raise EngineError(f"the device matrix must be d0 × d1 with 1 ≤ d0·d1 ≤ 64, got {mesh}")
    for d, size in dims.items():
        if not isinstance(size, int) or not 1 <= size <= 1 << 20:
            raise EngineError(f"dimension {d} must be a whole number from 1 to {1 << 20:,}, got {size!r}")
    check_steps(len(MAPS) ** len(program.leaves) * len(program.ops) * 27, "the strategy search")


def propagate(
    program: Program,
    mesh=(2, 2),
    fixed: dict | None = None,
    dims: dict | None = None,
    link: str = "NVLink 3 (A100)",
    tflops: float = 150.0,
) -> Plan:
    """Propagate the student's leaf layouts (``fixed``: name -> tensor map) through ``program``."""
    dims = {**SIM_DIMS, **(dims or {})}
    _check(program, dims, mesh)
    costs = _Costs(program, dims, mesh, link, tflops)
    have: dict[str, Layout] = {}
    for name, m in (fixed or {}).items():
        lay = Layout(tuple(m))
        if name not in costs.shapes or tuple(m) not in MAPS or not costs.fits(name, lay):
            raise EngineError(
                f"{name}: tensor map {tuple(m)} does not cut its shape evenly on mesh {tuple(mesh)}"
            )
        have[name] = lay
    ops = []
    for op in program.ops:
        plan = _choose(costs, op, have)
        for n, lay in zip(op.inputs, plan.inputs):
            have.setdefault(n, lay)  # a free leaf is created where the op wants it
        have[op.out] = plan.out
        ops.append(plan)
    final, output = _finish(costs, program, have)
    leaves = tuple((n, have[n]) for n, _ in program.leaves)
    memory = sum(math.prod(costs.local(n, lay)) * costs.elem for n, lay in leaves)
    return Plan(program, tuple(mesh), leaves, tuple(ops), final, output, float(memory))


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(time, memory) ``a`` strictly cheaper than ``b``: less time, or the same time and less memory."""
    if a[0] < b[0] * (1 - 1e-9):
        return True
    return a[0] <= b[0] * (1 + 1e-9) and a[1] < b[1]


def plan_cost(plan: Plan) -> tuple[float, float]:
    """What the search minimises: step time first, then the leaves' bytes per device."""
    return plan.cost_s, plan.leaf_bytes


def search(
    program: Program,
    mesh=(2, 2),
    dims: dict | None = None,
    link: str = "NVLink 3 (A100)",
    tflops: float = 150.0,
) -> Plan:
    """The cheapest leaf layouts, by branch and bound over the leaves in program order."""
    dims = {**SIM_DIMS, **(dims or {})}
    _check(program, dims, mesh)
    costs = _Costs(program, dims, mesh, link, tflops)
    names = [n for n, _ in program.leaves]
    options = {n: [m for m in MAPS if costs.fits(n, Layout(m))] for n in names}
    best: list = [(math.inf, math.inf), None]

    def bound(assigned: dict) -> tuple[float, float]:
        """Cost of the ops whose inputs are all known, and the assigned leaves' bytes: a lower bound
        of every completion (costs are never negative)."""
        have, total = {n: Layout(m) for n, m in assigned.items()}, 0.0
        memory = float(sum(math.prod(costs.local(n, lay)) for n, lay in have.items()) * costs.elem)
        for op in program.ops:
            if any(i not in have for i in op.inputs):
                return total, memory
            plan = _choose(costs, op, have)
            have[op.out] = plan.out
            total += plan.compute_s + plan.comm_s
        return total + sum(m.seconds for m in _finish(costs, program, have)[0]), memory

    def visit(j: int, assigned: dict) -> None:
        low = bound(assigned)
        if not _better(low, best[0]):
            return
        if j == len(names):
            best[0], best[1] = low, dict(assigned)
            return
        for m in options[names[j]]:
            visit(j + 1, {**assigned, names[j]: m})

    visit(0, {})
    return propagate(program, mesh, best[1], dims, link, tflops)


# -- the numpy check: run the plan on every simulated device ------------------------------------------
def _devices(mesh):
    return [(a, b) for a in range(mesh[0]) for b in range(mesh[1])]


def _slice(full: np.ndarray, lay: Layout, dev, mesh) -> np.ndarray:
    out = full
    for i, k in enumerate(lay.map):
        if k >= 0:
            out = np.split(out, mesh[k], axis=i)[dev[k]]
    return out


def _group(dev, k: int, mesh):
    return [tuple(c if a != k else r for a, c in enumerate(dev)) for r in range(mesh[k])]


def _apply(move: Move, shards: dict, mesh) -> dict:
    out = {}
    for dev in shards:
        group = [shards[g] for g in _group(dev, move.axis, mesh)]
        me, g = dev[move.axis], mesh[move.axis]
        if move.collective == "AllReduce":
            out[dev] = sum(group)
        elif move.collective == "ReduceScatter":
            out[dev] = np.split(sum(group), g, axis=move.dim)[me]
        elif move.collective == "AllGather":
            out[dev] = np.concatenate(group, axis=move.dim)
        elif move.collective == "AllToAll":
            out[dev] = np.split(np.concatenate(group, axis=move.dim), g, axis=move.to_dim)[me]
        else:
            out[dev] = np.split(shards[dev], g, axis=move.dim)[me]
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def _local(kind: str, args):
    if kind == "matmul":
        return args[0] @ args[1]
    if kind == "add":
        return args[0] + args[1]
    if kind == "gelu":
        return _gelu(args[0])
    if kind == "transpose":
        return args[0].T
    return args[0].sum(axis=1, keepdims=True)


def reference(program: Program, seed: int = 0) -> dict:
    """Random leaves (simulation sizes) and every value of the unsharded program."""
    rng = np.random.default_rng(seed)
    vals = {n: rng.normal(size=tuple(SIM_DIMS[d] for d in ds)) for n, ds in program.leaves}
    for n in vals:
        check_tensor(vals[n].shape, n)
    for op in program.ops:
        vals[op.out] = _local(op.kind, [vals[i] for i in op.inputs])
    return vals


def execute(plan: Plan, seed: int = 0) -> tuple[bool, float]:
    """Run ``plan`` (built with the simulation sizes) shard by shard; (every shard right, max error)."""
    mesh, vals = plan.mesh, reference(plan.program, seed)
    shards = {n: {d: _slice(vals[n], lay, d, mesh) for d in _devices(mesh)} for n, lay in plan.leaves}
    for step in plan.ops:
        args = []
        for name, moves in zip(step.op.inputs, step.moves):
            cur = shards[name]
            for mv in moves:
                cur = _apply(mv, cur, mesh)
            args.append(cur)
        shards[step.op.out] = {d: _local(step.op.kind, [a[d] for a in args]) for d in _devices(mesh)}
    out = shards[plan.program.ops[-1].out]
    for mv in plan.final:
        out = _apply(mv, out, mesh)
    want = vals[plan.program.ops[-1].out]
    err = max(float(np.max(np.abs(out[d] - _slice(want, plan.output, d, mesh)))) for d in _devices(mesh))
    return err < 1e-9, err
