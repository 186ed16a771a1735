"""The GEMM lab's algorithm and schedule written again in TVM, compiled by TVM's LLVM back end.

``C[i, j] = sum_k A[i, k] * B[k, j]`` is the same algorithm as :mod:`engine.kernels.gemm`; only the
language changes. Stages of :func:`tvm_gemm`:
  1. budget: sizes, tiles, loop order, vector width and unroll factor are checked before TVM is
     imported or anything is compiled (:class:`ShapeError`; 256 per side bounds the work to 256³);
  2. our schedule: :func:`lab_schedule` builds the loop nest with the GEMM lab's own primitives
     (each axis split by its tile, outer pieces then inner pieces in the loop order, the innermost
     loop split and vectorised, the loop around it split and unrolled). It is the one description of
     the loops: TVM replays it and our cost model prices it;
  3. algorithm in TVM: ``te.compute`` with a reduce axis, ``te.create_prim_func`` -> TensorIR;
  4. schedule in TVM: ``tvm.s_tir.Schedule`` replays stage 2 (``split`` per axis into the same
     pieces, ``reorder``, ``vectorize``, ``unroll``; no ``parallel``), printed as TVMScript;
  5. ``tvm.compile(target=llvm for this CPU)``, run on random float32 A and B, compared with A @ B;
  6. medians of a few timed calls of the kernel and of numpy (one BLAS thread, like the kernel's one
     thread), and our cost model's estimate for the same schedule: :func:`gemm.run_gemm`'s cache
     misses and loop iterations priced by :class:`CoreModel` (stated assumptions, not measured).
TVM refuses to vectorise a reduction loop (k) without rewriting the reduction (rfactor); when the
innermost loop is k the vector width is dropped to 1 for both TVM and our model, and ``notes`` says so.
Not handled: parallel loops, cache_read/cache_write staging, rfactor, MetaSchedule auto-tuning.
TVM is heavy (``apache-tvm``, ~300 MB installed, it imports torch): it is imported inside functions only,
and :func:`tvm_available` lets a page say how to install it where it is missing.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError, ShapeError
from . import gemm
from .cache_sim import CacheConfig

MAX_DIM = gemm.MAX_DIM  # 256 per side, as in the GEMM lab's engine: at most 256³ multiply-adds, tens of ms
TILES = (0, 4, 8, 16, 32, 64)  # 0 = that axis is not tiled
VECTOR_WIDTHS = (1, 2, 4, 8, 16)
UNROLL_FACTORS = (1, 2, 4, 8, 16)
INSTALL_HINT = ".venv/bin/pip install apache-tvm==0.27.0.post1  (about 100 MB download, 300 MB installed)"


@dataclass(frozen=True)
class CoreModel:
    """The constants that turn the GEMM cost model's counts into seconds (assumed, not measured)."""

    clock_hz: float = 3.0e9
    cache: CacheConfig = CacheConfig(32 * 1024, 64, 8)  # a typical x86 L1 data cache
    miss_cycles: float = 14.0  # an L1 miss served by the L2 cache
    branch_cycles: float = 1.0  # compare and branch per iteration of a serial (not unrolled) loop
    source: str = (
        "assumed: one 3 GHz core, one vector multiply-add per cycle, 1 cycle per serial loop "
        "iteration, 14 cycles per miss of a 32 KiB 8-way L1 with 64-byte lines; no overlap"
    )


@dataclass(frozen=True)
class Estimate:
    seconds: float
    compute_cycles: float
    loop_cycles: float
    memory_cycles: float
    misses: int
    source: str


@dataclass(frozen=True)
class TvmLoop:
    name: str  # TVM's loop variable (i_0, i_1, ...)
    extent: int
    kind: str  # serial | vectorize | unroll


@dataclass(frozen=True)
class TvmGemmResult:
    m: int
    n: int
    k: int
    schedule: gemm.Schedule  # ours, the one TVM replays
    our_code: str  # the GEMM lab's loop nest text for the same schedule
    script: str  # the scheduled TensorIR as TVMScript
    loops: tuple[TvmLoop, ...]  # TVM's loop nest, outermost first
    target: str
    compile_s: float
    tvm_s: float  # median seconds per kernel call
    numpy_s: float  # median seconds per A @ B (one BLAS thread)
    max_abs_diff: float
    estimate: Estimate | None  # None when the cache simulation is over its budget
    notes: tuple[str, ...]

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k


def tvm_available() -> bool:
    """Whether TVM can be imported here (never raises)."""
    try:
        import tvm  # noqa: F401
        from tvm import s_tir, te  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install is as unavailable as a missing one
        return False
    return True


def _choice(name: str, v, choices) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v not in choices:
        raise ShapeError(f"{name} = {v!r} must be one of {', '.join(map(str, choices))}")


def check_request(m, n, k, tile_m, tile_n, tile_k, order, vectorize, unroll) -> None:
    """Stage 1: every argument checked before any import or compile."""
    for name, v in (("M", m), ("N", n), ("K", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= MAX_DIM:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to {MAX_DIM}")
    for name, v in (("tile_m", tile_m), ("tile_n", tile_n), ("tile_k", tile_k)):
        _choice(name, v, TILES)
    _choice("vector width", vectorize, VECTOR_WIDTHS)
    _choice("unroll factor", unroll, UNROLL_FACTORS)
    if order not in gemm.LOOP_ORDERS:
        raise ShapeError(f"loop order {order!r} is not one of {', '.join(gemm.LOOP_ORDERS)}")


def lab_schedule(m, n, k, tiles=(0, 0, 0), order="ijk", vectorize=1, unroll=1) -> tuple[gemm.Schedule, list]:
    """Stage 2: the schedule in the GEMM lab's primitives, and notes on factors it had to change."""
    # built directly: gemm_schedule stops at the cache simulator's 2^20 iterations, TVM runs up to 256³
    s = gemm.Schedule(m, n, k, tuple(gemm.Loop(a, a, e, 1) for a, e in zip(gemm.AXES, (m, n, k))))
    notes = []
    split = [a for a, t in zip(gemm.AXES, tiles) if t]
    for axis, t in zip(gemm.AXES, tiles):
        if t:
            s = s.split(axis, t)
    inner = [f"{a}_i" if a in split else a for a in order]
    s = s.reorder(*[f"{a}_o" for a in order if a in split], *inner)
    target = s.loops[-1].name
    if vectorize > 1 and s.loops[-1].axis == "k":
        notes.append(
            f"TVM does not vectorize a reduction loop ({target}) without rewriting the reduction "
            "(rfactor): vector width 1 is used here, for TVM and for our model alike"
        )
        vectorize = 1
    if vectorize > 1:
        s = s.split(target, s.legal_factor(target, vectorize))
        s = s.vectorize(f"{target}_i")
        target = f"{target}_o"
    if unroll > 1:
        s = s.split(target, s.legal_factor(target, unroll))
        s = s.unroll(f"{target}_i")
    used = gemm.applied_factors(s)
    if used["vector"] != vectorize or used["unroll"] != unroll:
        notes.append(
            f"the loops left after tiling allow vector width {used['vector']} and unroll "
            f"{used['unroll']} (the largest factors that divide them)"
        )
    return s, notes


def estimate(s: gemm.Schedule, model: CoreModel = CoreModel()) -> Estimate | None:
    """Our cost model for schedule ``s``: the cache simulator's misses and the loop count, priced."""
    if s.iterations > gemm.MAX_ITERATIONS:
        return None
    r = gemm.run_gemm(s, model.cache)
    width = gemm.applied_factors(s)["vector"]
    compute = s.iterations / width
    loops = r.loop_iterations * model.branch_cycles
    memory = r.stats.misses * model.miss_cycles
    return Estimate(
        (compute + loops + memory) / model.clock_hz, compute, loops, memory, r.stats.misses, model.source
    )


def _tvm_loops(s: gemm.Schedule) -> dict[str, list[gemm.Loop]]:
    """Per axis, our loops of more than one trip, outermost (largest step) first."""
    out = {}
    for axis in gemm.AXES:
        pieces = [lp for lp in s.loops if lp.axis == axis and lp.extent > 1]
        out[axis] = sorted(pieces, key=lambda lp: -lp.step)
    return out


def _apply_in_tvm(s: gemm.Schedule):
    """Stages 3 and 4: the algorithm in TE, then our schedule replayed on its TensorIR."""
    from tvm import s_tir, te
    from tvm.tirx import ForKind

    a = te.placeholder((s.m, s.k), "float32", name="A")
    b = te.placeholder((s.k, s.n), "float32", name="B")
    r = te.reduce_axis((0, s.k), name="k")
    c = te.compute((s.m, s.n), lambda i, j: te.sum(a[i, r] * b[r, j], axis=r), name="C")
    sch = s_tir.Schedule(te.create_prim_func([a, b, c]))
    block = sch.get_sblock("C")
    rv = {}  # our loop name -> TVM loop
    for axis, loop in zip(gemm.AXES, sch.get_loops(block)):
        pieces = _tvm_loops(s)[axis]
        if len(pieces) == 1:
            rv[pieces[0].name] = loop
        elif len(pieces) > 1:
            factors = [None] + [p.extent for p in pieces[1:]]
            for piece, new in zip(pieces, sch.split(loop, factors)):
                rv[piece.name] = new
    ordered = [lp for lp in s.loops if lp.name in rv]
    sch.reorder(*[rv[lp.name] for lp in ordered])
    for lp in ordered:
        if lp.kind == "vectorize":
            sch.vectorize(rv[lp.name])
        elif lp.kind == "unroll":
            sch.unroll(rv[lp.name])
    kinds = {ForKind.VECTORIZED: "vectorize", ForKind.UNROLLED: "unroll"}
    loops = tuple(
        TvmLoop(f.loop_var.name, int(f.extent), kinds.get(f.kind, "serial"))
        for f in (sch.get(lp) for lp in sch.get_loops(block))
    )
    return sch, loops


def _target():
    import tvm
    from tvm.target import codegen

    try:
        return tvm.target.Target({"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu()})
    except Exception:  # noqa: BLE001 - an unknown host CPU: the generic x86-64 target still works
        return tvm.target.Target("llvm")


def one_blas_thread():
    """One BLAS thread while numpy is timed: the compiled kernel runs on one core too (no parallel
    loop), and on a shared machine a second BLAS thread mostly waits for a core."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: only steadier timings
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def median_seconds(fn, repeats: int = 5, min_s: float = 2e-3) -> float:
    """Median seconds per call: each of ``repeats`` samples times enough calls to last ``min_s``."""
    fn()
    t0 = time.perf_counter()
    fn()
    calls = max(1, min(1000, int(min_s / max(time.perf_counter() - t0, 1e-7))))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


@dataclass(frozen=True)
class CompiledGemm:
    script: str  # the scheduled TensorIR as TVMScript
    loops: tuple[TvmLoop, ...]
    target: str  # the CPU LLVM compiled for
    compile_s: float
    kernel: object  # TVM's packed function main(A, B, C) on TVM tensors
    m: int
    n: int
    k: int

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """C = A @ B by the compiled kernel (float32 numpy in, float32 numpy out)."""
        import tvm

        if a.shape != (self.m, self.k) or b.shape != (self.k, self.n):
            raise ShapeError(
                f"the kernel is compiled for A {(self.m, self.k)} and B {(self.k, self.n)}, "
                f"not A {a.shape} and B {b.shape}"
            )
        dev = tvm.cpu()
        ta = tvm.runtime.tensor(np.ascontiguousarray(a, np.float32), dev)
        tb = tvm.runtime.tensor(np.ascontiguousarray(b, np.float32), dev)
        tc = tvm.runtime.tensor(np.empty((self.m, self.n), np.float32), dev)
        self.kernel(ta, tb, tc)
        return tc.numpy()


def _require_tvm() -> None:
    if not tvm_available():
        raise EngineError(f"TVM is not installed on this server; install it with: {INSTALL_HINT}")


def compile_gemm(s: gemm.Schedule) -> CompiledGemm:
    """Stages 3 to 5 for one of our schedules: TE -> TensorIR -> scheduled -> compiled by LLVM."""
    _require_tvm()
    import tvm

    sch, loops = _apply_in_tvm(s)
    target = _target()
    t0 = time.perf_counter()
    kernel = tvm.compile(sch.mod, target=target)["main"]
    compile_s = time.perf_counter() - t0
    cpu = str(target.attrs.get("mcpu", "")) or "generic x86-64"
    return CompiledGemm(sch.mod.script(), loops, cpu, compile_s, kernel, s.m, s.n, s.k)


def tvm_gemm(
    m: int,
    n: int,
    k: int,
    tile_m: int = 0,
    tile_n: int = 0,
    tile_k: int = 0,
    order: str = "ijk",
    vectorize: int = 1,
    unroll: int = 1,
    repeats: int = 5,
    seed: int = 0,
) -> TvmGemmResult:
    """The GEMM lab's schedule in TVM: TVMScript, compiled kernel time, numpy's time, our estimate."""
    check_request(m, n, k, tile_m, tile_n, tile_k, order, vectorize, unroll)
    s, notes = lab_schedule(m, n, k, (tile_m, tile_n, tile_k), order, vectorize, unroll)
    compiled = compile_gemm(s)
    import tvm

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    diff = float(np.abs(compiled(a, b) - a @ b).max())
    dev = tvm.cpu()
    ta, tb = tvm.runtime.tensor(a, dev), tvm.runtime.tensor(b, dev)
    tc = tvm.runtime.tensor(np.zeros((m, n), np.float32), dev)
    tvm_s = median_seconds(lambda: compiled.kernel(ta, tb, tc), repeats)
    with one_blas_thread():
        numpy_s = median_seconds(lambda: a @ b, repeats)
    return TvmGemmResult(
        m,
        n,
        k,
        s,
        gemm.loop_nest_text(s),
        compiled.script,
        compiled.loops,
        compiled.target,
        compiled.compile_s,
        tvm_s,
        numpy_s,
        diff,
        estimate(s),
        tuple(notes),
    )
