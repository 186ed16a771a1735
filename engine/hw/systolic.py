"""Systolic-array model compatible with SCALE-Sim v2's stall-free compute model, plus a register-level
simulation of the data waves that really computes the product.

GEMM is (M×K)·(K×N). Stages of :func:`systolic` (closed forms of SCALE-Sim v2's demand matrices,
``scalesim/compute/systolic_compute_{os,ws,is}.py``):

1. Map the GEMM to the array per dataflow (``scalesim/topology_utils.py`` ``calc_spatio_temporal_params``):
   os: Sr = M, Sc = N, T = K;   ws: Sr = K, Sc = N, T = M;   is: Sr = K, Sc = M, T = N.
2. Folds: ceil(Sr / rows) × ceil(Sc / cols); each fold maps a rows×cols tile (padded with idle PEs).
3. Cycles per fold (rows of the demand matrices): os T + R + C − 2; ws/is 2R + C + T − 2 (R cycles to
   preload the stationary operand). Total cycles = folds × cycles per fold (no stalls: infinite bandwidth).
4. Mapping efficiency = mean over folds of used PEs / (R·C); SCALE-Sim's "compute util" = mean over
   folds of used·T / (R·C·c_f) where c_f is the per-fold count its code uses (os T+R+C−2, ws/is
   2R+2C+T−3); overall utilisation = M·N·K MACs / (cycles · R·C).
5. SRAM traffic as SCALE-Sim counts it (``get_ifmap_requests`` etc.): each fold re-reads its operand
   tiles, so the operand that is not reused across folds is read once per fold in the other direction.

SCALE-Sim reports "Total Cycles" as the index of the last cycle (cycles − 1) and, for os, adds R + C to
its ofmap write counter per fold; both are reproduced in ``result["scalesim"]`` so the numbers can be
checked against its golden reports. Not handled: memory stalls (finite DRAM bandwidth), sparsity,
multi-core partitioning, batch > 1 in the conv mapping.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError, ShapeError

DATAFLOWS = ("os", "ws", "is")
MAX_DIM = 10_000_000
MAX_ARRAY = 4096


def _check_int(name: str, value, low: int = 1, high: int = MAX_DIM) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise EngineError(f"{name} must be a whole number, got {value!r}")
    if not low <= int(value) <= high:
        raise EngineError(f"{name} = {value} is out of range; it must be between {low} and {high:,}")
    return int(value)


def _check_dataflow(dataflow: str) -> str:
    if dataflow not in DATAFLOWS:
        raise EngineError(
            f"dataflow {dataflow!r} is unknown; choose one of 'os' (output stationary), "
            "'ws' (weight stationary) or 'is' (input stationary)"
        )
    return dataflow


def spatial_dims(M: int, N: int, K: int, dataflow: str) -> tuple[int, int, int]:
    """(Sr, Sc, T): what is spread over rows, over columns, and streamed in time."""
    return {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[dataflow]


def cycles_per_fold(rows: int, cols: int, T: int, dataflow: str) -> int:
    """Cycles for one fold without stalls (skewed fill + stream + drain)."""
    if dataflow == "os":
        return T + rows + cols - 2
    return 2 * rows + cols + T - 2


def systolic(M: int, N: int, K: int, rows: int, cols: int, dataflow: str) -> dict:
    """Cycles, utilisation and mapping efficiency (percent) of a GEMM on a rows×cols array."""
    M, N, K = (_check_int(n, v) for n, v in (("M", M), ("N", N), ("K", K)))
    rows = _check_int("rows", rows, 1, MAX_ARRAY)
    cols = _check_int("cols", cols, 1, MAX_ARRAY)
    dataflow = _check_dataflow(dataflow)
    Sr, Sc, T = spatial_dims(M, N, K, dataflow)
    row_folds, col_folds = math.ceil(Sr / rows), math.ceil(Sc / cols)
    folds = row_folds * col_folds
    per_fold = cycles_per_fold(rows, cols, T, dataflow)
    cycles = folds * per_fold
    pes = rows * cols
    macs = M * N * K
    mapping = Sr * Sc / (pes * folds)
    util_cycles = per_fold if dataflow == "os" else 2 * rows + 2 * cols + T - 3
    compute_util = Sr * Sc * T / (pes * util_cycles * folds)
    reads = _sram_counts(M, N, K, row_folds, col_folds, dataflow)
    ofmap_quirk = reads["ofmap_writes"] + (folds * (rows + cols) if dataflow == "os" else 0)
    return {
        "cycles": cycles,
        "utilization": 100.0 * macs / (cycles * pes),
        "mapping_efficiency": 100.0 * mapping,
        "compute_utilization": 100.0 * compute_util,
        "folds": folds,
        "row_folds": row_folds,
        "col_folds": col_folds,
        "cycles_per_fold": per_fold,
        "Sr": Sr,
        "Sc": Sc,
        "T": T,
        "macs": macs,
        "dataflow": dataflow,
        "rows": rows,
        "cols": cols,
        **reads,
        "scalesim": {
            "total_cycles": cycles - 1,
            "overall_util": 100.0 * macs / ((cycles - 1) * pes) if cycles > 1 else 100.0,
            "mapping_efficiency": 100.0 * mapping,
            "compute_util": 100.0 * compute_util,
            "ofmap_writes": ofmap_quirk,
        },
    }


def _sram_counts(M: int, N: int, K: int, row_folds: int, col_folds: int, dataflow: str) -> dict:
    """SRAM reads/writes in elements: the operand tile each fold needs, summed over folds."""
    if dataflow == "os":  # A re-read per column fold, B per row fold, C written once
        return {"ifmap_reads": col_folds * M * K, "filter_reads": row_folds * K * N, "ofmap_writes": M * N}
    if dataflow == "ws":  # weights read once; inputs per column fold; partial sums per K fold
        return {"ifmap_reads": col_folds * M * K, "filter_reads": K * N, "ofmap_writes": row_folds * M * N}
    return {"ifmap_reads": M * K, "filter_reads": col_folds * K * N, "ofmap_writes": row_folds * M * N}


def conv_to_gemm(H: int, W: int, KH: int, KW: int, Cin: int, Cout: int, stride: int = 1) -> dict:
    """im2col mapping as SCALE-Sim's operand matrices: M = output pixels, K = KH·KW·Cin, N = Cout.

    Output size follows SCALE-Sim (``topo_calc_hyperparams``): ceil((H − KH + s) / s), no padding.
    """
    H, W = _check_int("input height", H), _check_int("input width", W)
    KH, KW = _check_int("filter height", KH), _check_int("filter width", KW)
    Cin, Cout = _check_int("input channels", Cin), _check_int("output channels", Cout)
    stride = _check_int("stride", stride, 1, 64)
    if KH > H or KW > W:
        raise ShapeError(f"the {KH}×{KW} filter is larger than the {H}×{W} input")
    oh, ow = math.ceil((H - KH + stride) / stride), math.ceil((W - KW + stride) / stride)
    return {"M": oh * ow, "N": Cout, "K": KH * KW * Cin, "out_h": oh, "out_w": ow}


# ---------------------------------------------------------------- register-level simulation


@dataclass(frozen=True)
class PEState:
    """The array in one cycle: operands in the PE registers (nan = empty) and accumulators."""

    cycle: int
    fold: int
    phase: str  # "load" (preloading the stationary operand) or "compute"
    left: np.ndarray  # value flowing left→right in each PE
    top: np.ndarray  # os: value flowing down; ws/is: the stationary operand
    acc: np.ndarray  # os: accumulator per PE; ws/is: partial sum leaving each PE
    active: np.ndarray  # PEs doing a MAC this cycle


SIM_MAX_DIM = 64
SIM_MAX_ARRAY = 32


def _check_sim(A: np.ndarray, B: np.ndarray, rows: int, cols: int, dataflow: str):
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ShapeError(f"cannot multiply A of shape {list(A.shape)} by B of shape {list(B.shape)}")
    if 0 in A.shape or 0 in B.shape:
        raise ShapeError(f"empty matrices (A {list(A.shape)}, B {list(B.shape)}) have nothing to multiply")
    if max(*A.shape, *B.shape) > SIM_MAX_DIM:
        raise EngineError(
            f"the cycle-level animation is for small sizes: every dimension must be at most "
            f"{SIM_MAX_DIM}, got A {list(A.shape)} and B {list(B.shape)}"
        )
    rows, cols = _check_int("rows", rows, 1, SIM_MAX_ARRAY), _check_int("cols", cols, 1, SIM_MAX_ARRAY)
    dataflow = _check_dataflow(dataflow)
    M, K = A.shape
    N = B.shape[1]
    check_tensor((rows, cols, M, N), "simulated array state")
    info = systolic(M, N, K, rows, cols, dataflow)
    check_steps(info["cycles"], "systolic animation")
    return A, B, rows, cols, dataflow


def systolic_trace(A, B, rows: int, cols: int, dataflow: str = "os") -> Iterator[PEState]:
    """Yield the array state every cycle while it computes A @ B (the last state carries the product).

    The product is available from :func:`simulate_systolic`; this generator is what the stepper walks.
    """
    A, B, rows, cols, dataflow = _check_sim(A, B, rows, cols, dataflow)
    out = np.zeros((A.shape[0], B.shape[1]))
    yield from _run(A, B, rows, cols, dataflow, out)


def simulate_systolic(A, B, rows: int, cols: int, dataflow: str = "os") -> tuple[np.ndarray, int]:
    """Run the register-level simulation to the end: (product, cycles)."""
    A, B, rows, cols, dataflow = _check_sim(A, B, rows, cols, dataflow)
    out = np.zeros((A.shape[0], B.shape[1]))
    n = sum(1 for _ in _run(A, B, rows, cols, dataflow, out))
    return out, n


def _run(A, B, rows, cols, dataflow, out) -> Iterator[PEState]:
    clock = [0]
    if dataflow == "os":
        M, K = A.shape
        N = B.shape[1]
        fold = 0
        for n0 in range(0, N, cols):
            for m0 in range(0, M, rows):
                blk = out[m0 : m0 + rows, n0 : n0 + cols]
                yield from _os_fold(A[m0 : m0 + rows], B[:, n0 : n0 + cols], rows, cols, fold, clock, blk)
                fold += 1
    else:
        # is = ws on the transposed problem: C^T = B^T · A^T with A^T stationary
        stream, stat, target = (A, B, out) if dataflow == "ws" else (B.T, A.T, out.T)
        K = stat.shape[0]
        fold = 0
        for n0 in range(0, stat.shape[1], cols):
            for k0 in range(0, K, rows):
                blk = target[:, n0 : n0 + cols]
                yield from _ws_fold(
                    stream[:, k0 : k0 + rows],
                    stat[k0 : k0 + rows, n0 : n0 + cols],
                    rows,
                    cols,
                    fold,
                    clock,
                    blk,
                )
                fold += 1


def _os_fold(A, B, R, C, fold, clock, out) -> Iterator[PEState]:
    """Output stationary: A enters from the left (row i delayed i), B from the top (column j delayed j)."""
    r, T = A.shape
    c = B.shape[1]
    left, top, acc = np.full((R, C), np.nan), np.full((R, C), np.nan), np.zeros((R, C))
    for t in range(T + R + C - 2):
        left[:, 1:] = left[:, :-1].copy()
        top[1:, :] = top[:-1, :].copy()
        for i in range(R):
            left[i, 0] = A[i, t - i] if i < r and 0 <= t - i < T else np.nan
        for j in range(C):
            top[0, j] = B[t - j, j] if j < c and 0 <= t - j < T else np.nan
        active = ~np.isnan(left) & ~np.isnan(top)
        acc[active] += left[active] * top[active]
        yield PEState(clock[0], fold, "compute", left.copy(), top.copy(), acc.copy(), active)
        clock[0] += 1
    out += acc[:r, :c]


def _ws_fold(A, W, R, C, fold, clock, out) -> Iterator[PEState]:
    """Weight stationary: preload W (R cycles), stream A rows from the left, partial sums flow down."""
    T, r = A.shape
    c = W.shape[1]
    stat = np.full((R, C), np.nan)
    left, psum = np.full((R, C), np.nan), np.zeros((R, C))
    padded = np.full((R, C), np.nan)
    padded[:r, :c] = W
    for load in range(R):  # weights shift down row by row; the last row enters first
        stat[1:, :] = stat[:-1, :].copy()
        stat[0, :] = padded[R - 1 - load]
        yield PEState(
            clock[0], fold, "load", left.copy(), stat.copy(), psum.copy(), np.zeros((R, C), dtype=bool)
        )
        clock[0] += 1
    for t in range(T + R + C - 2):
        left[:, 1:] = left[:, :-1].copy()
        for k in range(R):
            left[k, 0] = A[t - k, k] if k < r and 0 <= t - k < T else np.nan
        active = ~np.isnan(left) & ~np.isnan(stat)
        incoming = np.vstack([np.zeros((1, C)), psum[:-1]])
        psum = incoming + np.where(active, np.nan_to_num(left) * np.nan_to_num(stat), 0.0)
        for j in range(c):  # bottom of column j emits output row m = t − (R−1) − j
            m = t - (R - 1) - j
            if 0 <= m < T:
                out[m, j] += psum[R - 1, j]
        yield PEState(clock[0], fold, "compute", left.copy(), stat.copy(), psum.copy(), active)
        clock[0] += 1
