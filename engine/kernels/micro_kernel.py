"""A register-blocked GEMM micro-kernel (mr x nr) with packed operands, counted per k-step.

The BLIS picture (Van Zee & van de Geijn 2015; Low et al. 2016): C is cut into mr x nr tiles that
live in vector registers for the whole k loop; A is packed into mr-row panels and B into nr-column
panels, so each k-step reads mr consecutive floats of A and nr consecutive floats of B.
Stages:
  1. an ISA is a vector width (fp32 lanes = width / 32) and a register file (NEON: 32 x 128-bit
     V registers; AVX2: 16 ymm; AVX-512: 32 zmm) and how the A operand reaches the FMA:
     x86 broadcasts one A element per FMA row (``vbroadcastss``; AVX-512 can embed the broadcast
     in the FMA itself: no register), Arm's by-element FMA (``fmla v.4s, v.4s, v.s[i]``) takes A
     as whole vectors and picks a lane;
  2. one k-step of a tile (vectors along nr, so nr is a multiple of the lanes):
     FMAs = mr * nr / lanes; loads = nr / lanes (B) + mr (broadcast) or ceil(mr / lanes) (by-element);
     registers = mr * nr / lanes accumulators + nr / lanes for B + the A registers;
  3. the model's pick: among tiles that fit the register file, the most FMAs per load, then the most
     FMAs per k-step, then the wider nr. :func:`model_best` finds it in closed form (for each count
     of B vectors and of A vectors, the largest mr that fits); :func:`brute_force_best` tries every
     (mr, nr) — the tests hold the two equal;
  4. packing (:func:`pack_a`, :func:`pack_b`; zero-padded edges) and a numpy emulation of the
     blocked loop: every tile's rank-1 update of one k-step at once, k after k (equals A @ B).
Not handled: FMA latency and port counts (how many independent accumulators hide the FMA latency:
said in the lesson, not a constraint here), the cache blocking above the micro-kernel (kc, mc, nc),
fp64/fp16, prefetching, and the stores of C after the k loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..core.budget import check_tensor, check_work
from ..core.errors import ShapeError

MAX_MR = 32  # rows of a tile the search tries
MAX_NR = 512  # columns of a tile: up to 32 registers of 16 lanes
MAX_DIM = 512  # M, N, K of the emulation


@dataclass(frozen=True)
class Isa:
    name: str
    width_bits: int
    registers: int  # vector registers of the architectural register file
    a_operand: str  # "broadcast" (one register), "embedded" (no register) or "by-element" (vectors)
    source: str

    @property
    def lanes(self) -> int:
        """fp32 lanes per vector register."""
        return self.width_bits // 32


ISAS = {
    "NEON": Isa(
        "NEON",
        128,
        32,
        "by-element",
        "Arm Architecture Reference Manual for A-profile (DDI 0487), AArch64 SIMD&FP registers V0-V31, "
        "128 bits; FMLA (by element)",
    ),
    "AVX2": Isa(
        "AVX2",
        256,
        16,
        "broadcast",
        "Intel 64 and IA-32 Architectures Software Developer's Manual, Vol. 1, ch. 14: 16 YMM registers "
        "(64-bit mode), 256 bits; VBROADCASTSS, VFMADD231PS",
    ),
    "AVX-512": Isa(
        "AVX-512",
        512,
        32,
        "embedded",
        "Intel SDM Vol. 1, ch. 15: 32 ZMM registers, 512 bits; EVEX embedded broadcast {1to16}",
    ),
}

#: well-known fp32 micro-kernels: (ISA, name in its source, mr, nr as this model orients it, source)
KNOWN_TILES = (
    (
        "NEON",
        "BLIS sgemm armv8a 8x12",
        8,
        12,
        "BLIS kernels/armv8a/3/bli_gemm_armv8a_asm_d6x8.c (bli_sgemm_armv8a_asm_8x12; config/armv8a)",
    ),
    (
        "AVX2",
        "BLIS sgemm haswell 6x16",
        6,
        16,
        "BLIS kernels/haswell/3/bli_gemm_haswell_asm_d6x8.c (bli_sgemm_haswell_asm_6x16; config/haswell)",
    ),
    (
        "AVX-512",
        "BLIS sgemm skx 32x12",
        12,
        32,
        "BLIS kernels/skx/3/bli_sgemm_skx_asm_32x12_l2.c: "
        "32 rows in 2 zmm x 12 broadcast columns = this model's 12 x 32 on the transposed product",
    ),
)


def isa(name: str) -> Isa:
    if name not in ISAS:
        raise ShapeError(f"unknown SIMD instruction set {name!r}; choose one of {', '.join(ISAS)}")
    return ISAS[name]


@dataclass(frozen=True)
class Tile:
    isa: str
    mr: int
    nr: int
    fmas: int  # vector FMAs per k-step
    b_loads: int  # vector loads of B per k-step
    a_loads: int  # loads (broadcasts or vectors) of A per k-step
    accumulators: int
    a_registers: int
    b_registers: int
    registers: int  # available in the register file

    @property
    def loads(self) -> int:
        return self.a_loads + self.b_loads

    @property
    def used(self) -> int:
        return self.accumulators + self.a_registers + self.b_registers

    @property
    def fits(self) -> bool:
        return self.used <= self.registers

    @property
    def fmas_per_load(self) -> float:
        return self.fmas / self.loads

    @property
    def flops_per_byte(self) -> float:
        """FLOPs per byte loaded from L1 (each lane's FMA is 2 FLOPs, each float 4 bytes)."""
        lanes = ISAS[self.isa].lanes
        floats = self.mr + self.nr  # one column of A's panel and one row of B's per k-step
        return 2.0 * self.fmas * lanes / (4.0 * floats)

    def row(self) -> dict:
        return dict(
            isa=self.isa,
            mr=self.mr,
            nr=self.nr,
            fmas=self.fmas,
            loads=self.loads,
            a_loads=self.a_loads,
            b_loads=self.b_loads,
            accumulators=self.accumulators,
            registers_used=self.used,
            registers=self.registers,
            fits=self.fits,
            fmas_per_load=round(self.fmas_per_load, 4),
            flops_per_byte=round(self.flops_per_byte, 4),
        )


def _a_cost(spec: Isa, mr: int) -> tuple[int, int]:
    """(loads, registers) of the A operand per k-step."""
    if spec.a_operand == "by-element":
        vectors = math.ceil(mr / spec.lanes)
        return vectors, vectors
    return mr, (0 if spec.a_operand == "embedded" else 1)


def tile(isa_name: str, mr: int, nr: int) -> Tile:
    """Counts of one k-step of an mr x nr tile (nr a multiple of the fp32 lanes)."""
    spec = isa(isa_name)
    for name, v, top in (("mr", mr, MAX_MR), ("nr", nr, MAX_NR)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to {top}")
    if nr % spec.lanes:
        raise ShapeError(f"nr = {nr} is not a multiple of the {spec.lanes} fp32 lanes of {spec.name}")
    vectors = nr // spec.lanes
    a_loads, a_regs = _a_cost(spec, mr)
    return Tile(
        spec.name, mr, nr, mr * vectors, vectors, a_loads, mr * vectors, a_regs, vectors, spec.registers
    )


def _rank(t: Tile) -> tuple:
    """The model's order: most FMAs per load, then most FMAs, then the wider nr."""
    return (t.fmas / t.loads, t.fmas, t.nr)


def nr_choices(isa_name: str) -> list[int]:
    spec = isa(isa_name)
    return [spec.lanes * v for v in range(1, spec.registers) if spec.lanes * v <= MAX_NR]


def search_grid(isa_name: str) -> list[Tile]:
    """Every (mr, nr) the search tries: mr 1..MAX_MR, nr = lanes, 2 lanes, ... (fitting or not)."""
    return [tile(isa_name, mr, nr) for nr in nr_choices(isa_name) for mr in range(1, MAX_MR + 1)]


def brute_force_best(isa_name: str) -> Tile:
    """The best tile by trying every (mr, nr) of :func:`search_grid` that fits."""
    return max((t for t in search_grid(isa_name) if t.fits), key=_rank)


def model_best(isa_name: str) -> Tile:
    """The best tile in closed form: for each count v of B vectors (and, by-element, of A vectors c)
    the largest mr whose registers fit, mr * v + v + a_regs <= R; then the best of those."""
    spec = isa(isa_name)
    r, lanes = spec.registers, spec.lanes
    candidates = []
    for v in range(1, min(r, MAX_NR // lanes + 1)):
        if spec.a_operand == "by-element":
            for c in range(1, math.ceil(MAX_MR / lanes) + 1):
                mr = min(c * lanes, MAX_MR, (r - v - c) // v)  # more A vectors only pay if filled
                if mr > (c - 1) * lanes:
                    candidates.append(tile(spec.name, mr, v * lanes))
        else:
            mr = min(MAX_MR, (r - v - _a_cost(spec, 1)[1]) // v)
            if mr >= 1:
                candidates.append(tile(spec.name, mr, v * lanes))
    return max(candidates, key=_rank)


def known_rows() -> list[dict]:
    """Each ISA: the model's pick, the brute-force pick and the well-known BLIS tile, counted alike."""
    rows = []
    for isa_name, label, mr, nr, source in KNOWN_TILES:
        pick, brute, known = model_best(isa_name), brute_force_best(isa_name), tile(isa_name, mr, nr)
        rows.append(
            dict(
                isa=isa_name,
                model=f"{pick.mr}x{pick.nr}",
                brute_force=f"{brute.mr}x{brute.nr}",
                model_fmas_per_load=round(pick.fmas_per_load, 3),
                model_flops_per_byte=round(pick.flops_per_byte, 3),
                known=label,
                known_as_mr_x_nr=f"{mr}x{nr}",
                known_fmas_per_load=round(known.fmas_per_load, 3),
                known_flops_per_byte=round(known.flops_per_byte, 3),
                known_registers=f"{known.used}/{known.registers}",
                source=source,
            )
        )
    return rows


# -- packing -------------------------------------------------------------------------------------
def _dims(**dims) -> None:
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_DIM:
            raise ShapeError(f"{name} = {v!r} must be a whole number from 1 to {MAX_DIM}")


def pack_a(a: np.ndarray, mr: int) -> np.ndarray:
    """A (M x K) as panels of mr rows, shape (ceil(M/mr), K, mr): panel p, k-step k holds
    A[p*mr : p*mr+mr, k] contiguously (rows past M are zeros)."""
    m, k = a.shape
    panels = math.ceil(m / mr)
    padded = np.zeros((panels * mr, k), dtype=a.dtype)
    padded[:m] = a
    return np.ascontiguousarray(padded.reshape(panels, mr, k).transpose(0, 2, 1))


def pack_b(b: np.ndarray, nr: int) -> np.ndarray:
    """B (K x N) as panels of nr columns, shape (ceil(N/nr), K, nr): panel q, k-step k holds
    B[k, q*nr : q*nr+nr] contiguously (columns past N are zeros)."""
    k, n = b.shape
    panels = math.ceil(n / nr)
    padded = np.zeros((k, panels * nr), dtype=b.dtype)
    padded[:, :n] = b
    return np.ascontiguousarray(padded.reshape(k, panels, nr).transpose(1, 0, 2))


def packed_index_a(m: int, k: int, mr: int) -> np.ndarray:
    """For each element A[i, kk]: its offset in the packed buffer of :func:`pack_a`."""
    _dims(M=m, K=k, mr=mr)
    i, kk = np.meshgrid(np.arange(m), np.arange(k), indexing="ij")
    return (i // mr) * (k * mr) + kk * mr + i % mr


def packed_index_b(k: int, n: int, nr: int) -> np.ndarray:
    """For each element B[kk, j]: its offset in the packed buffer of :func:`pack_b`."""
    _dims(K=k, N=n, nr=nr)
    kk, j = np.meshgrid(np.arange(k), np.arange(n), indexing="ij")
    return (j // nr) * (k * nr) + kk * nr + j % nr


def blocked_gemm(a: np.ndarray, b: np.ndarray, mr: int, nr: int) -> np.ndarray:
    """C = A @ B the micro-kernel's way: pack, then for k = 0..K-1 every mr x nr accumulator tile
    takes the rank-1 update (column k of its A panel) x (row k of its B panel); unpack, crop."""
    m, k = a.shape
    n = b.shape[1]
    ap, bp = pack_a(a, mr), pack_b(b, nr)  # (P, K, mr), (Q, K, nr)
    acc = np.zeros((ap.shape[0], bp.shape[0], mr, nr), dtype=np.result_type(a, b))
    for step in range(k):  # the micro-kernel's loop; the tiles of one step run at once
        acc += ap[:, None, step, :, None] * bp[None, :, step, None, :]
    c = acc.transpose(0, 2, 1, 3).reshape(ap.shape[0] * mr, bp.shape[0] * nr)
    return c[:m, :n]


@dataclass(frozen=True)
class Emulation:
    m: int
    n: int
    k: int
    mr: int
    nr: int
    emulated_s: float
    blas_s: float
    max_abs_error: float
    padded_fraction: float  # share of the tile work spent on zero padding at the edges

    def row(self) -> dict:
        flops = 2.0 * self.m * self.n * self.k
        return dict(
            M=self.m,
            N=self.n,
            K=self.k,
            mr=self.mr,
            nr=self.nr,
            emulated_ms=round(1e3 * self.emulated_s, 3),
            blas_ms=round(1e3 * self.blas_s, 3),
            emulated_gflops=round(flops / self.emulated_s / 1e9, 3),
            blas_gflops=round(flops / self.blas_s / 1e9, 3),
            max_abs_error=self.max_abs_error,
            padded_fraction=round(self.padded_fraction, 4),
        )


def _median_time(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], fn()  # one warm-up run (BLAS starts its threads on the first call)
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def emulate(m: int, n: int, k: int, mr: int, nr: int, seed: int = 0, repeats: int = 3) -> Emulation:
    """Time :func:`blocked_gemm` (packing included) against numpy's A @ B on random fp32 matrices."""
    _dims(M=m, N=n, K=k, mr=mr, nr=nr)
    padded_m, padded_n = math.ceil(m / mr) * mr, math.ceil(n / nr) * nr
    check_tensor((padded_m, padded_n), "the accumulator tiles")
    check_work(padded_m * padded_n * k * (repeats + 1), "the emulated micro-kernel")
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    emulated_s, c = _median_time(lambda: blocked_gemm(a, b, mr, nr), repeats)
    blas_s, ref = _median_time(lambda: a @ b, repeats)
    return Emulation(
        m,
        n,
        k,
        mr,
        nr,
        emulated_s,
        blas_s,
        float(np.abs(c - ref).max()),
        1.0 - (m * n) / (padded_m * padded_n),
    )
