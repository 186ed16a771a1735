"""FlashAttention forward pass (Dao et al., NeurIPS 2022, Algorithm 1) with its HBM access counts.

Stages of Algorithm 1 (on-chip SRAM of M elements, head dimension d, sequence length N):
  1. block sizes Bc = ceil(M / 4d) (rows of K, V per block) and Br = min(ceil(M / 4d), d) (rows of
     Q per block); O = 0, l = 0, m = -inf written to HBM;
  2. outer loop over the Tc = ceil(N / Bc) blocks K_j, V_j (loaded once each);
  3. inner loop over the Tr = ceil(N / Br) blocks Q_i, with O_i, l_i, m_i loaded from HBM;
  4. S_ij = scale * Q_i K_j^T; block row max m~, P~ = exp(S_ij - m~), row sum l~;
  5. online softmax: m_new = max(m_i, m~), l_new = e^(m_i - m_new) l_i + e^(m~ - m_new) l~,
     O_i = (l_i e^(m_i - m_new) O_i + e^(m~ - m_new) P~ V_j) / l_new, written back with l_i, m_i.
``flash_steps`` yields one :class:`FlashStep` per (j, i) pair; ``flash_attention`` runs it to the end.
HBM accesses are counted in elements as the algorithm is written: flash = Nd + 2N (init) + 2Nd
(K, V) + Tc N (3d + 4) = Theta(N^2 d^2 / M); standard attention (the paper's Algorithm 0, S and P
written to and read from HBM) = 4Nd + 4N^2 = Theta(Nd + N^2).
Not handled: masking, dropout, the backward pass, multiple heads (call once per head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import ShapeError

MAX_N = 4096


@dataclass(frozen=True)
class FlashStep:
    j: int  # K/V block index
    i: int  # Q block index
    q_rows: tuple[int, int]  # [start, stop) rows of Q, O, l, m
    kv_rows: tuple[int, int]  # [start, stop) rows of K, V
    m_old: np.ndarray  # running max of the Q block before this step
    m_new: np.ndarray
    l_old: np.ndarray  # running softmax denominator before this step
    l_new: np.ndarray
    rescale: np.ndarray  # e^(m_old - m_new): how much the old O_i and l_i shrink
    hbm_reads: int  # cumulative element reads from HBM so far
    hbm_writes: int  # cumulative element writes so far


@dataclass(frozen=True)
class FlashResult:
    output: np.ndarray
    hbm_reads: int
    hbm_writes: int
    steps: int
    block_rows: int  # Br
    block_cols: int  # Bc


def block_sizes(n: int, d: int, sram: int) -> tuple[int, int]:
    """(Br, Bc) of Algorithm 1 line 1."""
    _check_sizes(n, d, sram)
    bc = math.ceil(sram / (4 * d))
    return min(bc, d), bc


def _check_sizes(n: int, d: int, sram: int) -> None:
    for name, v in (("N", n), ("d", d), ("M", sram)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ShapeError(f"{name} = {v!r} must be a positive whole number")
    if n > 1 << 22 or d > 1 << 12:
        raise ShapeError(f"N = {n} or d = {d} is too large (N up to 4,194,304, d up to 4,096)")
    if not d <= sram:
        raise ShapeError(
            f"on-chip memory M = {sram} elements must hold at least one row of "
            f"length d = {d} (the paper assumes d <= M <= N d)"
        )


def _check_qkv(q, k, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    if q.ndim != 2 or k.shape != q.shape or v.shape != q.shape:
        raise ShapeError(
            f"Q, K, V must be (N, d) matrices of one shape; got {list(q.shape)}, "
            f"{list(k.shape)}, {list(v.shape)}"
        )
    if q.shape[0] > MAX_N:
        raise ShapeError(f"N = {q.shape[0]} rows is over this lab's limit of {MAX_N}")
    n, d = q.shape
    budget.check_tensor((n, n), "the N x N score matrix")
    budget.check_flops(4 * n * n * d, f"attention over N = {n} rows of d = {d}")
    return q, k, v


def flash_steps(q, k, v, sram: int, scale: float | None = None):
    """Algorithm 1 as a generator of :class:`FlashStep`; returns a :class:`FlashResult`."""
    q, k, v = _check_qkv(q, k, v)
    n, d = q.shape
    br, bc = block_sizes(n, d, sram)
    tr, tc = math.ceil(n / br), math.ceil(n / bc)
    budget.check_steps(tr * tc, "flash attention (one step per pair of blocks)")
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    o, l, m = np.zeros((n, d)), np.zeros(n), np.full(n, -np.inf)
    reads, writes = 0, n * d + 2 * n  # line 2: O, l, m initialised in HBM
    for j in range(tc):
        k0, k1 = j * bc, min(n, (j + 1) * bc)
        kj, vj = k[k0:k1], v[k0:k1]
        reads += 2 * (k1 - k0) * d  # line 6
        for i in range(tr):
            q0, q1 = i * br, min(n, (i + 1) * br)
            rows = q1 - q0
            reads += 2 * rows * d + 2 * rows  # line 8: Q_i, O_i, l_i, m_i
            s = scale * q[q0:q1] @ kj.T  # line 9
            m_blk = s.max(axis=1)  # line 10
            p = np.exp(s - m_blk[:, None])
            l_blk = p.sum(axis=1)
            m_old, l_old = m[q0:q1].copy(), l[q0:q1].copy()
            m_new = np.maximum(m_old, m_blk)  # line 11
            alpha, beta = np.exp(m_old - m_new), np.exp(m_blk - m_new)
            l_new = alpha * l_old + beta * l_blk
            o[q0:q1] = ((l_old * alpha)[:, None] * o[q0:q1] + beta[:, None] * (p @ vj)) / l_new[
                :, None
            ]  # line 12
            l[q0:q1], m[q0:q1] = l_new, m_new  # line 13
            writes += rows * d + 2 * rows
            yield FlashStep(
                j, i, (q0, q1), (k0, k1), m_old, m_new.copy(), l_old, l_new.copy(), alpha, reads, writes
            )
    return FlashResult(o, reads, writes, tr * tc, br, bc)


def flash_attention(q, k, v, sram: int = 1024, scale: float | None = None) -> np.ndarray:
    """softmax(scale * Q K^T) V computed block by block (Algorithm 1 run to the end)."""
    return run_flash(q, k, v, sram, scale).output


def run_flash(q, k, v, sram: int = 1024, scale: float | None = None) -> FlashResult:
    gen = flash_steps(q, k, v, sram, scale)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def standard_attention(q, k, v, scale: float | None = None) -> np.ndarray:
    """The plain definition: S = scale Q K^T, P = softmax(S) row-wise, O = P V."""
    q, k, v = _check_qkv(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[1]) if scale is None else float(scale)
    s = scale * q @ k.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v


def standard_hbm_accesses(n: int, d: int) -> int:
    """Algorithm 0: read Q, K (2Nd), write S (N^2), read S and write P (2N^2), read P and V
    (N^2 + Nd), write O (Nd) = 4Nd + 4N^2 elements."""
    _check_sizes(n, d, d)
    return 4 * n * d + 4 * n * n


def flash_hbm_accesses(n: int, d: int, sram: int) -> int:
    """Element reads + writes of Algorithm 1 as written (the same tally ``flash_steps`` keeps)."""
    br, bc = block_sizes(n, d, sram)
    tc = math.ceil(n / bc)
    init = n * d + 2 * n
    kv = 2 * n * d
    inner = tc * n * (3 * d + 4)  # each inner step: read Q_i, O_i, l_i, m_i; write O_i, l_i, m_i
    return init + kv + inner


def extra_memory(n: int, d: int, sram: int, dtype_bytes: int = 2) -> dict[str, int]:
    """HBM bytes beyond Q, K, V, O: standard keeps S and P (N^2 each); flash keeps l and m (N each)."""
    block_sizes(n, d, sram)
    return {"standard": 2 * n * n * dtype_bytes, "flash": 2 * n * dtype_bytes}


def traffic_table(ns, d: int, sram: int) -> list[dict]:
    """HBM accesses of both algorithms for each N, with the paper's bound N^2 d^2 / M alongside."""
    rows = []
    for n in ns:
        rows.append(
            dict(
                N=int(n),
                d=d,
                M=sram,
                standard=standard_hbm_accesses(int(n), d),
                flash=flash_hbm_accesses(int(n), d, sram),
                bound=int(n) ** 2 * d**2 / sram,
            )
        )
    return rows
