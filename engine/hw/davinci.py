"""Ascend DaVinci AI Core model: a tiled fp16 matmul through the buffer hierarchy, engine by engine.

Architecture (Liao et al., Hot Chips 2019 / HPCA 2021; Ascend CANN "AI Core architecture" docs):
the Cube unit multiplies a 16×16 by a 16×16 fp16 fractal per cycle (4096 MACs, fp32 accumulate) from
L0A/L0B into L0C; the Vector unit works on the Unified Buffer (UB); the Scalar unit issues instructions.
Data-movement engines: MTE2 GM→L1, MTE1 L1→L0A/L0B, FixPipe/Vector L0C→UB (fp32→fp16), MTE3 UB→GM.

Stages of :func:`cube_matmul`:
1. Pad M, K, N up to multiples of 16 and store operands as 16×16 fractals: A in zZ (blocks and
   elements row-major, L0A), B in zN (blocks row-major, elements column-major, L0B); C leaves L0C in
   nZ. Padding is zeros, so the product is unchanged.
2. Choose a tile (tm, tk, tn) (multiples of 16) and check it fits: L0A tm·tk·2 B, L0B tk·tn·2 B,
   L0C tm·tn·4 B, L1 both operand tiles, UB tm·tn·2 B — each ×2 with double buffering (ping-pong).
   A tile that does not fit is refused with the sizes named.
3. For every output tile and every k-step: MTE2 loads the A and B tiles, MTE1 moves them to L0A/L0B,
   the Cube accumulates (tm/16)(tn/16)(tk/16) fractal products in L0C; after the last k-step FixPipe
   drains L0C to UB and MTE3 writes the tile to GM. Each engine is a queue; an event starts when its
   engine is free, its input is ready and its buffer slot (ping or pong) has been released.
4. Cube utilisation = Cube busy cycles / makespan; stalls = cycles an engine sat idle waiting.

:func:`cube_timing` runs stages 1-3 on the sizes alone (no operands, no product): the schedule does not
depend on the values, so it equals :func:`cube_matmul`'s timeline and lets whole layers (any size
whose pipeline fits the step budget) be timed without multiplying them.

Transfer rates (bytes or elements per cycle) are teaching assumptions, not published per-core figures;
buffer sizes default to the Ascend 910 figures and are all user-editable. Not handled: L1 reuse of a
panel across several output tiles, bank conflicts, int8 mode (16×32×16), Scalar-unit overheads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.budget import check_flops, check_steps, check_tensor
from ..core.errors import EngineError, ShapeError
from ..core.trace import Event, Timeline

KB = 1024
FRACTAL = 16
CUBE_MACS = FRACTAL**3
LANES = ("MTE2", "MTE1", "Cube", "FixPipe/Vector", "MTE3")
#: Ascend 910 AI Core buffer sizes in bytes (Liao et al., HPCA 2021; Hot Chips 2019).
ASCEND910_BUFFERS = {"l1": 1024 * KB, "l0a": 64 * KB, "l0b": 64 * KB, "l0c": 256 * KB, "ub": 256 * KB}
DEFAULT_RATES = {"gm_bytes_per_cycle": 128, "l1_bytes_per_cycle": 256, "vector_elems_per_cycle": 128}
MAX_DIM = 4096  # cube_matmul: the operands are really drawn and multiplied
MODEL_MAX_DIM = 10_000_000  # cube_timing: sizes only; the step budget bounds the work


@dataclass(frozen=True)
class CubeResult:
    timeline: Timeline
    product: np.ndarray | None  # M×N float32 (None from cube_timing: sizes only)
    cycles: float
    cube_utilization: float  # Cube busy / makespan
    mac_utilization: float  # useful MACs / (makespan × 4096)
    stalls: dict = field(default_factory=dict)  # engine -> idle cycles waiting for inputs/slots
    tile: tuple[int, int, int] = (0, 0, 0)  # (tm, tk, tn)
    padded: tuple[int, int, int] = (0, 0, 0)  # (M, K, N) rounded up to 16
    buffer_use: dict = field(default_factory=dict)  # buffer -> (bytes used, capacity)
    steps: int = 0


# ------------------------------------------------------------------ fractal formats


def _pad16(x: np.ndarray) -> np.ndarray:
    r, c = x.shape
    out = np.zeros((-(-r // FRACTAL) * FRACTAL, -(-c // FRACTAL) * FRACTAL), dtype=x.dtype)
    out[:r, :c] = x
    return out


def to_zz(x: np.ndarray) -> np.ndarray:
    """zZ fractals (L0A): [row block, col block, 16 rows, 16 cols], blocks and elements row-major."""
    p = _pad16(np.asarray(x))
    r, c = p.shape
    return p.reshape(r // FRACTAL, FRACTAL, c // FRACTAL, FRACTAL).transpose(0, 2, 1, 3).copy()


def to_zn(x: np.ndarray) -> np.ndarray:
    """zN fractals (L0B): blocks row-major, each 16×16 block stored column by column."""
    return to_zz(x).transpose(0, 1, 3, 2).copy()


def to_nz(x: np.ndarray) -> np.ndarray:
    """nZ fractals (L0C out, GM FRACTAL_NZ): blocks column-major, elements row-major."""
    return to_zz(x).transpose(1, 0, 2, 3).copy()


def from_nz(f: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Back from nZ fractals to a plain rows×cols matrix (padding cropped)."""
    nb, mb = f.shape[:2]
    return f.transpose(1, 2, 0, 3).reshape(mb * FRACTAL, nb * FRACTAL)[:rows, :cols]


# ------------------------------------------------------------------ the model


def _check_dims(M, K, N, limit: int = MAX_DIM) -> None:
    for name, v in (("M", M), ("K", K), ("N", N)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise EngineError(f"{name} must be a whole number, got {v!r}")
        if not 1 <= v <= limit:
            raise ShapeError(
                f"{name} = {v} is out of range: the matrices must have 1 to {limit} "
                f"rows/columns (a zero-sized matrix has nothing to multiply)"
            )


def _tile(name: str, value, padded: int, default: int) -> int:
    t = default if value is None else value
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < FRACTAL or t % FRACTAL:
        raise EngineError(f"tile {name} = {t!r} must be a positive multiple of 16 (the fractal size)")
    return int(min(t, padded))


def _buffer_use(tm, tk, tn, nbuf, buffers) -> dict:
    need = {
        "l0a": tm * tk * 2 * nbuf,
        "l0b": tk * tn * 2 * nbuf,
        "l0c": tm * tn * 4 * nbuf,
        "l1": (tm * tk + tk * tn) * 2 * nbuf,
        "ub": tm * tn * 2 * nbuf,
    }
    for name, used in need.items():
        cap = buffers[name]
        if used > cap:
            what = {
                "l0a": f"an A tile of {tm}×{tk} fp16",
                "l0b": f"a B tile of {tk}×{tn} fp16",
                "l0c": f"a C tile of {tm}×{tn} fp32",
                "ub": f"a C tile of {tm}×{tn} fp16",
                "l1": f"A {tm}×{tk} plus B {tk}×{tn} fp16 tiles",
            }[name]
            raise EngineError(
                f"{what} needs {used // KB} KB of {name.upper()}"
                f"{' (×2 for double buffering)' if nbuf == 2 else ''}, but "
                f"{name.upper()} holds {cap // KB} KB: choose a smaller tile"
            )
    return {k: (need[k], buffers[k]) for k in need}


@dataclass(frozen=True)
class CubePlan:
    """Everything the schedule needs, fixed before any work: sizes, tile, tile grid, buffers, rates."""

    padded: tuple[int, int, int]  # (M, K, N) rounded up to 16
    tile: tuple[int, int, int]  # (tm, tk, tn)
    grid: tuple[int, int, int]  # tiles along M, K, N
    nbuf: int  # 2 with double buffering
    rates: tuple[tuple[str, float], ...]
    buffer_use: tuple[tuple[str, tuple[int, int]], ...]

    @property
    def steps(self) -> int:
        """Events the schedule will record (three per k-step, two per output tile)."""
        mt, kt, nt = self.grid
        return mt * kt * nt * 3 + mt * nt * 2


def plan_cube(
    M: int,
    K: int,
    N: int,
    *,
    tile_m: int | None = None,
    tile_k: int | None = None,
    tile_n: int | None = None,
    double_buffer: bool = True,
    **buffers,
) -> CubePlan:
    """Stages 1-2 on the sizes alone: padding, tile choice and the buffer check (refused if too big)."""
    _check_dims(M, K, N, MODEL_MAX_DIM)
    unknown = set(buffers) - set(ASCEND910_BUFFERS) - set(DEFAULT_RATES)
    if unknown:
        raise EngineError(
            f"unknown setting(s) {sorted(unknown)}; buffers are "
            f"{sorted(ASCEND910_BUFFERS)} and rates {sorted(DEFAULT_RATES)}"
        )
    sizes = {**ASCEND910_BUFFERS, **{k: v for k, v in buffers.items() if k in ASCEND910_BUFFERS}}
    rates = {**DEFAULT_RATES, **{k: v for k, v in buffers.items() if k in DEFAULT_RATES}}
    for k, v in {**sizes, **rates}.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise EngineError(f"{k} must be a positive number, got {v!r}")
    Mp, Kp, Np = (-(-d // FRACTAL) * FRACTAL for d in (M, K, N))
    tm, tk, tn = _tile("M", tile_m, Mp, 128), _tile("K", tile_k, Kp, 128), _tile("N", tile_n, Np, 128)
    nbuf = 2 if double_buffer else 1
    use = _buffer_use(tm, tk, tn, nbuf, sizes)
    return CubePlan(
        (Mp, Kp, Np),
        (tm, tk, tn),
        (-(-Mp // tm), -(-Kp // tk), -(-Np // tn)),
        nbuf,
        tuple(rates.items()),
        tuple(use.items()),
    )


def cube_timing(M: int, K: int, N: int, **settings) -> CubeResult:
    """The timeline of :func:`cube_matmul` from the sizes alone (``product`` is None); same settings."""
    plan = plan_cube(M, K, N, **settings)
    return _result(plan, _schedule(plan), None, M * K * N)


def cube_matmul(
    M: int,
    K: int,
    N: int,
    *,
    A=None,
    B=None,
    tile_m: int | None = None,
    tile_k: int | None = None,
    tile_n: int | None = None,
    double_buffer: bool = True,
    seed: int = 0,
    **buffers,
) -> CubeResult:
    """Simulate C = A·B (A: M×K, B: K×N, fp16 in, fp32 accumulate) on one DaVinci AI Core.

    ``buffers`` may override sizes in bytes (``l1``, ``l0a``, ``l0b``, ``l0c``, ``ub``) and the rates
    ``gm_bytes_per_cycle``, ``l1_bytes_per_cycle``, ``vector_elems_per_cycle``.
    """
    _check_dims(M, K, N)
    plan = plan_cube(
        M, K, N, tile_m=tile_m, tile_k=tile_k, tile_n=tile_n, double_buffer=double_buffer, **buffers
    )
    (Mp, Kp, Np), (tm, _, tn), (mt, _, nt) = plan.padded, plan.tile, plan.grid
    check_flops(2 * Mp * Kp * Np, f"the Cube's {M}x{K}x{N} product")  # before drawing A and B
    A, B = _operands(M, K, N, A, B, seed)
    sched = _schedule(plan)
    a_frac, b_frac = to_zz(A), to_zn(B)  # the formats L0A/L0B hold
    c_frac = np.zeros((Np // FRACTAL, Mp // FRACTAL, FRACTAL, FRACTAL), dtype=np.float32)  # nZ
    for mi in range(mt):
        for ni in range(nt):
            rows = slice(mi * tm // 16, min(Mp, (mi + 1) * tm) // 16)
            cols = slice(ni * tn // 16, min(Np, (ni + 1) * tn) // 16)
            # The Cube's k-steps accumulate C[n-block, m-block] += A[m, k] · B[k, n] in L0C; all k-steps
            # of one output tile are summed in one tensordot over (k-block, inner k): [i, a, j, c] -> nZ
            fa, fb = a_frac[rows], b_frac[:, cols]
            c_frac[cols, rows] += np.tensordot(fa, fb, axes=([1, 3], [0, 3])).transpose(2, 0, 1, 3)
    return _result(plan, sched, from_nz(c_frac, M, N), M * K * N)


def _schedule(plan: CubePlan) -> _Scheduler:
    """Stage 3: every k-step and drain of every output tile through the engine queues."""
    check_steps(plan.steps, "DaVinci pipeline")
    (Mp, Kp, Np), (tm, tk, tn), (mt, kt, nt) = plan.padded, plan.tile, plan.grid
    rates = dict(plan.rates)
    sched = _Scheduler(plan.nbuf)
    for mi in range(mt):
        for ni in range(nt):
            m_len, n_len = min(Mp, (mi + 1) * tm) - mi * tm, min(Np, (ni + 1) * tn) - ni * tn
            for ki in range(kt):
                k_len = min(Kp, (ki + 1) * tk) - ki * tk
                sched.k_step(mi, ni, ki, kt, m_len, k_len, n_len, rates)
            sched.drain(mi, ni, m_len, n_len, rates)
    return sched


def _result(plan: CubePlan, sched: _Scheduler, product, macs: int) -> CubeResult:
    timeline = Timeline(tuple(sched.events), LANES, "cycles")
    span = timeline.makespan
    busy = timeline.busy("Cube")
    return CubeResult(
        timeline,
        product,
        span,
        busy / span,
        macs / (span * CUBE_MACS),
        sched.stalls,
        plan.tile,
        plan.padded,
        dict(plan.buffer_use),
        len(sched.events),
    )


def _operands(M, K, N, A, B, seed):
    check_tensor((M, K), "A")
    check_tensor((K, N), "B")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K)) if A is None else np.asarray(A)
    B = rng.standard_normal((K, N)) if B is None else np.asarray(B)
    if A.shape != (M, K) or B.shape != (K, N):
        raise ShapeError(f"A must be {M}×{K} and B {K}×{N}; got A {list(A.shape)} and B {list(B.shape)}")
    return A.astype(np.float16).astype(np.float32), B.astype(np.float16).astype(np.float32)


class _Scheduler:
    """Engines as queues with ping-pong buffer slots; records events and waiting (stall) cycles."""

    def __init__(self, nbuf: int):
        self.nbuf = nbuf
        self.free = {lane: 0.0 for lane in LANES}
        self.events: list[Event] = []
        self.stalls = {lane: 0.0 for lane in LANES}
        self.mte1_end, self.cube_end, self.mte2_end = [], [], []
        self.fix_end, self.mte3_end = [], []
        self.tile_cube_end = 0.0

    def _run(self, lane, ready, duration, label, kind) -> float:
        start = max(self.free[lane], ready)
        if self.events and any(e.unit == lane for e in self.events):
            self.stalls[lane] += start - self.free[lane]
        end = start + duration
        self.free[lane] = end
        self.events.append(Event(lane, start, end, label, kind))
        return end

    def _slot(self, ends: list, back: int) -> float:
        return ends[-back] if len(ends) >= back else 0.0

    def k_step(self, mi, ni, ki, kt, m, k, n, rates):
        tag = f"C{mi},{ni} k{ki}"
        s = len(self.mte2_end)
        ab_bytes = (m * k + k * n) * 2
        e2 = self._run(
            "MTE2",
            self._slot(self.mte1_end, self.nbuf) if s >= self.nbuf else 0.0,
            ab_bytes / rates["gm_bytes_per_cycle"],
            f"GM→L1 {tag}",
            "transfer",
        )
        self.mte2_end.append(e2)
        ready1 = max(e2, self._slot(self.cube_end, self.nbuf) if s >= self.nbuf else 0.0)
        e1 = self._run("MTE1", ready1, ab_bytes / rates["l1_bytes_per_cycle"], f"L1→L0 {tag}", "transfer")
        self.mte1_end.append(e1)
        ready_c = e1
        if ki == 0 and len(self.fix_end) >= self.nbuf:  # L0C slot must have been drained
            ready_c = max(ready_c, self.fix_end[-self.nbuf])
        ec = self._run("Cube", ready_c, (m // 16) * (n // 16) * (k // 16), f"mmad {tag}", "compute")
        self.cube_end.append(ec)
        self.tile_cube_end = ec

    def drain(self, mi, ni, m, n, rates):
        tag = f"C{mi},{ni}"
        ready = self.tile_cube_end
        if len(self.mte3_end) >= self.nbuf:  # UB slot must have been written out
            ready = max(ready, self.mte3_end[-self.nbuf])
        ef = self._run(
            "FixPipe/Vector", ready, m * n / rates["vector_elems_per_cycle"], f"L0C→UB {tag}", "vector"
        )
        self.fix_end.append(ef)
        e3 = self._run("MTE3", ef, m * n * 2 / rates["gm_bytes_per_cycle"], f"UB→GM {tag}", "transfer")
        self.mte3_end.append(e3)


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, pad: int = 0) -> tuple[np.ndarray, int, int]:
    """(OH·OW) × (Cin·KH·KW) patch matrix of x (Cin, H, W), columns ordered (c, i, j)."""
    c, h, w = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise ShapeError(f"a {kh}×{kw} kernel does not fit the {h}×{w} input with padding {pad}")
    check_tensor((c, h + 2 * pad, w + 2 * pad), "the padded input")
    check_tensor((oh * ow, c * kh * kw), "the img2col matrix")
    check_steps(oh * ow, "img2col (one step per output pixel)")
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((oh * ow, c * kh * kw), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
            cols[i * ow + j] = patch.reshape(-1)
    return cols, oh, ow


def cube_conv2d(x, w, stride: int = 1, pad: int = 0, **kwargs) -> tuple[np.ndarray, CubeResult]:
    """Convolution (x: Cin×H×W, w: Cout×Cin×KH×KW) as img2col + :func:`cube_matmul`."""
    x, w = np.asarray(x, dtype=np.float32), np.asarray(w, dtype=np.float32)
    if x.ndim != 3 or w.ndim != 4 or x.shape[0] != w.shape[1]:
        raise ShapeError(
            f"input {list(x.shape)} (Cin, H, W) and weight {list(w.shape)} (Cout, Cin, KH, KW) do not match"
        )
    if not isinstance(stride, int) or stride < 1 or not isinstance(pad, int) or pad < 0:
        raise EngineError(f"stride must be ≥ 1 and padding ≥ 0, got stride {stride}, padding {pad}")
    cout, cin, kh, kw = w.shape
    cols, oh, ow = im2col(x, kh, kw, stride, pad)
    wmat = w.reshape(cout, -1).T
    res = cube_matmul(cols.shape[0], cols.shape[1], cout, A=cols, B=wmat, **kwargs)
    return res.product.T.reshape(cout, oh, ow), res
