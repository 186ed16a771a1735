"""Compiler vs interpreter, JIT vs AOT, and a shape-specialising JIT with a guard table.

Stages of :func:`compare_run_modes` (one kernel, three ways, same inputs):
  1. interpreted: the engine's numpy kernel of each lowered node (what ``engine.run`` does for it),
     timed on its first call and in steady state (median of ``repeat`` calls);
  2. JIT: compile on the first call (parse, optimise, code generation — measured fresh, never from
     the cache), then steady state;
  3. AOT: compiled once ahead of time to object-file bytes (timed, but paid before the program
     runs), then at run time only loaded into a fresh engine and called;
  4. break-even: the number of calls after which compiling has paid for itself,
     ``ceil(one-off cost / (interpreted - compiled per call))`` — none when compiled is not faster.
:class:`SpecializingJit` compiles one kernel per input-shape signature, like ``torch.compile``'s
guards: each entry of its guard table is a condition on the shapes; a call whose shapes match no
entry is a *recompile*; beyond :data:`RECOMPILE_LIMIT` entries it falls back to the interpreter
(torch's ``recompile_limit`` is also 8). :func:`generic_kernel` is the other answer: one kernel
compiled once with the sizes as run-time arguments. :func:`shape_specialization` runs both on a
sequence of shapes. Timings are wall-clock on a shared machine: compare ratios.
Not handled: fused groups in the specialising JIT (one node at a time), guards on values or dtypes.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core import budget
from ...core.errors import EngineError
from ...core.interpreter import apply_op
from ...core.ir import Graph
from ...core.registry import get_op
from . import backend
from .from_graph import compute_for_node, generic_compute
from .kernel import Kernel
from .llvm_codegen import generate_llvm, llvm_name
from .loop_ir import build_loops
from .lower import Lowered, lower
from .schedule import default_schedule

RECOMPILE_LIMIT = 8
MAX_CALLS = 64  # calls of one shape-specialisation run


@dataclass(frozen=True)
class AotArtifact:
    """A kernel compiled ahead of time: the bytes of a host object file."""

    function: str
    object_code: bytes = field(repr=False)
    opt_level: int
    compile_s: float
    host: str
    sha256: str  # of object_code: only bytes this process wrote are ever loaded


def aot_compile(lowered: Lowered, opt_level: int = 2) -> AotArtifact:
    obj, seconds = backend.emit_object(lowered.llvm_ir, opt_level)
    digest = hashlib.sha256(obj).hexdigest()
    return AotArtifact(lowered.function, obj, opt_level, seconds, backend.host_description(), digest)


def load_aot(lowered: Lowered, artifact: AotArtifact) -> Kernel:
    """The artifact's machine code linked into this process (no optimiser, no code generator)."""
    if not isinstance(artifact, AotArtifact):
        raise EngineError(f"load_aot() needs an artifact from aot_compile, got {type(artifact).__name__}")
    if hashlib.sha256(artifact.object_code).hexdigest() != artifact.sha256:
        raise EngineError("the object code does not match its artifact's checksum; compile it again")
    if artifact.host != backend.host_description():
        raise EngineError(f"the object code was compiled for {artifact.host}, not this machine")
    compiled = backend.load_object(artifact.object_code, artifact.function)
    return Kernel(lowered.program, compiled, lowered.default_inputs)


@dataclass(frozen=True)
class ModeTiming:
    mode: str  # interpreted | jit | aot
    one_off_s: float  # paid at run time before the first result: JIT compile, AOT load, 0
    ahead_s: float  # paid before the program runs: AOT compile, else 0
    first_call_s: float  # one_off_s + the first call
    steady_s: float  # median per call afterwards


@dataclass(frozen=True)
class RunModes:
    nodes: tuple[str, ...]
    opt_level: int
    interpreted: ModeTiming
    jit: ModeTiming
    aot: ModeTiming
    object_bytes: int
    max_abs_diff: float  # JIT and AOT results vs the interpreter
    break_even_jit: int | None
    break_even_aot: int | None
    host: str

    @property
    def speedup(self) -> float:
        """Interpreted steady time / JIT steady time."""
        return self.interpreted.steady_s / max(self.jit.steady_s, 1e-12)


def _timed(fn) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        times.append(_timed(fn)[1])
    return float(np.median(times))


def _break_even(one_off: float, slow: float, fast: float) -> int | None:
    if fast >= slow:
        return None
    return max(1, math.ceil(one_off / (slow - fast)))


def _interpret(lowered: Lowered, values: dict[str, np.ndarray]) -> np.ndarray:
    env = dict(values)
    for name in lowered.nodes:
        node = lowered.graph.node(name)
        env[name] = apply_op(node, [env[i] for i in node.inputs])
    return env[lowered.output]


def compare_run_modes(
    graph: Graph, node: Any = None, schedule: Any = None, opt_level: int = 2, repeat: int = 5
) -> RunModes:
    """The same kernel interpreted, JIT-compiled and AOT-compiled (see the module docstring)."""
    if not isinstance(repeat, int) or not 1 <= repeat <= 50:
        raise EngineError(f"repeat={repeat!r} must be a whole number from 1 to 50")
    lowered = lower(graph, node, schedule)
    if lowered.program.iterations is not None:
        budget.check_work(lowered.program.iterations * (3 * repeat + 6), "timing the kernel three ways")
    values = lowered.default_inputs()
    inputs = {n: values[n] for n in lowered.inputs}
    ref, interp_first = _timed(lambda: _interpret(lowered, values))
    interp = _median(lambda: _interpret(lowered, values), repeat)
    compiled = backend.compile_fresh(lowered.llvm_ir, lowered.function, opt_level)
    jit_kernel = Kernel(lowered.program, compiled, lowered.default_inputs)
    jit_out, jit_first = _timed(lambda: jit_kernel(inputs))
    jit_steady = _median(lambda: jit_kernel(inputs), repeat)
    artifact = aot_compile(lowered, opt_level)
    aot_kernel, load_s = _timed(lambda: load_aot(lowered, artifact))
    aot_out, aot_first = _timed(lambda: aot_kernel(inputs))
    aot_steady = _median(lambda: aot_kernel(inputs), repeat)
    diff = max(
        float(np.max(np.abs(jit_out[lowered.output] - ref), initial=0.0)),
        float(np.max(np.abs(aot_out[lowered.output] - ref), initial=0.0)),
    )
    return RunModes(
        lowered.nodes,
        opt_level,
        ModeTiming("interpreted", 0.0, 0.0, interp_first, interp),
        ModeTiming("jit", compiled.seconds, 0.0, compiled.seconds + jit_first, jit_steady),
        ModeTiming("aot", load_s, artifact.compile_s, load_s + aot_first, aot_steady),
        len(artifact.object_code),
        diff,
        _break_even(compiled.seconds, interp, jit_steady),
        _break_even(load_s, interp, aot_steady),
        artifact.host,
    )


# -- shapes: specialise or stay generic ----------------------------------------------------------------
@dataclass(frozen=True)
class GuardEntry:
    guard: str  # e.g. "x.shape == (4, 16) and W1.shape == (16, 32)"
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    compile_s: float


class SpecializingJit:
    """A JIT that compiles one kernel per input-shape signature and keeps a guard table.

    Stateful by nature (its table grows as it sees shapes); build one per experiment."""

    def __init__(
        self, graph: Graph, node: str | None = None, opt_level: int = 2, limit: int = RECOMPILE_LIMIT
    ):
        base = lower(graph, node)
        if len(base.nodes) != 1:
            raise EngineError("the shape-specialising JIT compiles one node at a time")
        self.node = graph.node(base.nodes[0])
        self.opt_level = opt_level
        self.limit = limit
        self.inputs = tuple(dict.fromkeys(self.node.inputs))
        self._table: dict[tuple, tuple[GuardEntry, Kernel]] = {}
        self.calls = self.hits = self.recompiles = self.fallbacks = 0

    @property
    def guards(self) -> tuple[GuardEntry, ...]:
        return tuple(entry for entry, _ in self._table.values())

    def _compile(self, key: tuple) -> tuple[GuardEntry, Kernel]:
        shapes = dict(key)
        comp = compute_for_node(self.node, [shapes[i] for i in self.node.inputs])
        for b in comp.buffers:
            budget.check_tensor(b.shape, f"buffer {b.name!r}")
        program = build_loops(comp, default_schedule(comp))
        function = "kernel_" + llvm_name(comp.output)
        compiled = backend.compile_fresh(generate_llvm(program, function), function, self.opt_level)
        guard = " and ".join(f"{n}.shape == {s}" for n, s in key)
        return GuardEntry(guard, key, compiled.seconds), Kernel(program, compiled)

    def __call__(self, inputs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], str]:
        """(outputs, what happened: "hit", "recompile" or "fallback")."""
        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise EngineError(
                f"the kernel needs a value for {missing[0]!r}; it takes {', '.join(self.inputs)}"
            )
        arrays = {n: np.asarray(inputs[n], np.float32) for n in self.inputs}
        key = tuple((n, tuple(arrays[n].shape)) for n in self.inputs)
        self.calls += 1
        if key in self._table:
            self.hits += 1
            return self._table[key][1](arrays), "hit"
        if len(self._table) >= self.limit:
            self.fallbacks += 1
            op = get_op(self.node.op)  # the interpreter's kernel, at the new shapes
            value = op.kernel([arrays[i] for i in self.node.inputs], {**op.attrs, **self.node.attr_dict})
            return {self.node.name: value}, "fallback"
        self._table[key] = self._compile(key)
        self.recompiles += 1
        return self._table[key][1](arrays), "recompile"


def generic_kernel(graph: Graph, node: str | None = None, opt_level: int = 2) -> Kernel:
    """One kernel for every shape: sizes are arguments (elementwise on equal shapes, 2-D matmul/gemm)."""
    base = lower(graph, node)
    n = graph.node(base.nodes[0])
    comp = generic_compute(n, [graph.node(i).shape for i in n.inputs])
    program = build_loops(comp, default_schedule(comp))
    function = "generic_" + llvm_name(comp.output)
    text = generate_llvm(program, function)
    return Kernel(program, backend.jit(text, function, opt_level), flat=program.sizes == ("n",), llvm_ir=text)


@dataclass(frozen=True)
class ShapeCall:
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    event: str  # hit | recompile | fallback
    specialized_s: float  # including the compile on a recompile
    generic_s: float
    max_abs_diff: float


@dataclass(frozen=True)
class SpecializationReport:
    node: str
    calls: tuple[ShapeCall, ...]
    guards: tuple[GuardEntry, ...]
    recompiles: int
    hits: int
    fallbacks: int
    generic_compile_s: float
    generic_ir: str = field(repr=False)


def _default_shapes(graph: Graph, node: str) -> list[dict[str, tuple[int, ...]]]:
    n = graph.node(node)
    first = graph.node(n.inputs[0]).shape
    if not first:
        raise EngineError(f"{node!r} reads a scalar; give the shapes to try")
    out = []
    for lead in (1, 2, 4, 8, 4, 2, 16, 1):
        shapes = {}
        for i in dict.fromkeys(n.inputs):
            s = graph.node(i).shape
            shapes[i] = (lead, *s[1:]) if s and s[0] == first[0] and len(s) == len(first) else tuple(s)
        out.append(shapes)
    return out


def shape_specialization(
    graph: Graph,
    node: str | None = None,
    shapes: Sequence[Mapping[str, Sequence[int]]] | None = None,
    opt_level: int = 2,
) -> SpecializationReport:
    """Run a sequence of input shapes through a :class:`SpecializingJit` and the generic kernel."""
    jit = SpecializingJit(graph, node, opt_level)
    name = jit.node.name
    plan = list(shapes) if shapes is not None else _default_shapes(graph, name)
    if not 1 <= len(plan) <= MAX_CALLS:
        raise EngineError(f"give 1 to {MAX_CALLS} shape signatures, got {len(plan)}")
    t0 = time.perf_counter()
    generic = generic_kernel(graph, name, opt_level)
    generic_s = generic.compiled.seconds if generic.compiled.seconds else time.perf_counter() - t0
    rng = np.random.default_rng(0)
    calls = []
    for sig in plan:
        missing = set(jit.inputs) - set(sig)
        if missing:
            raise EngineError(f"shape signature {dict(sig)} lacks {sorted(missing)[0]!r}")
        for n, s in sig.items():
            budget.check_tensor(tuple(s), f"input {n!r}")
        arrays = {n: rng.standard_normal(tuple(sig[n])).astype(np.float32) for n in jit.inputs}
        (spec_out, event), spec_s = _timed(lambda a=arrays: jit(a))
        gen_out, gen_s = _timed(lambda a=arrays: generic(a))
        diff = float(np.max(np.abs(spec_out[name] - gen_out[name]), initial=0.0))
        key = tuple((n, tuple(int(d) for d in sig[n])) for n in jit.inputs)
        calls.append(ShapeCall(key, event, spec_s, gen_s, diff))
    return SpecializationReport(
        name, tuple(calls), jit.guards, jit.recompiles, jit.hits, jit.fallbacks, generic_s, generic.llvm_ir
    )
