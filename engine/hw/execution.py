"""One tiny kernel, four execution models: SISD, SIMD (masked vector lanes), SIMT (warps with an active
mask and a reconvergence stack) and SPMD (independent program instances).

The kernel: ``c[i] = a[i] + b[i] if a[i] > 0 else a[i] - b[i]``. Stages of each model:

* SISD: one lane, one element per instruction; 3 instructions per element (compare, branch body, store
  counted as the body op) -> the per-cycle trace has one lane.
* SIMD (width W): a vector compare makes a mask, then *both* sides execute on all W lanes with the
  mask choosing which lanes write (predication); every chunk pays for both paths.
* SIMT (warp of 32): each warp executes the branch; if lanes disagree the warp diverges: the
  reconvergence stack pushes the taken/not-taken masks, runs each path with only its lanes active and
  pops back to the full mask at the reconvergence point. A warp whose lanes all agree runs one path.
* SPMD: every program instance runs the scalar code on its own (a thread per element on a CPU core
  or a GPU thread mapped by the compiler to SIMT): per-instance path lengths, no lock-step.

Each model returns a :class:`ModelRun` with the result, the instruction slots per cycle and lanes busy
per cycle (``lanes`` matrix: cycles × width, 1 = useful work), and lane utilisation = useful lane-cycles
/ issued lane-cycles. Also here: global-memory coalescing (32-byte sectors, 128-byte lines per warp
request, as in the CUDA C++ Best Practices Guide) and shared-memory bank conflicts (32 banks of 4 bytes;
lanes reading the same word are served by a broadcast). Not handled: caches, latency hiding,
independent thread scheduling of Volta+ (the stack model is the pre-Volta textbook model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_steps, check_tensor
from ..core.errors import EngineError, ShapeError

WARP = 32
SECTOR = 32  # bytes
LINE = 128  # bytes
BANKS = 32
BANK_WIDTH = 4  # bytes


def kernel_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernel in plain numpy: the oracle for every model."""
    return np.where(a > 0, a + b, a - b)


@dataclass(frozen=True)
class ModelRun:
    model: str
    width: int
    result: np.ndarray
    lanes: np.ndarray  # cycles × width: 1 useful, 0 idle (masked or no element)
    labels: tuple[str, ...]  # what each cycle executed
    stack_log: tuple[str, ...] = ()

    @property
    def cycles(self) -> int:
        return int(self.lanes.shape[0])

    @property
    def utilization(self) -> float:
        return float(self.lanes.mean()) if self.lanes.size else 0.0


def _check(a, b, width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ShapeError(
            f"a and b must be vectors of the same length, got shapes {list(a.shape)} and {list(b.shape)}"
        )
    if a.size == 0:
        raise ShapeError("the vectors are empty: there is nothing to execute")
    if not isinstance(width, int) or not 1 <= width <= 1024:
        raise EngineError(f"vector width {width!r} is out of range; use 1 to 1024 lanes")
    check_tensor(a.shape, "input vector")
    check_steps(3 * a.size, "execution trace")
    return a, b


def sisd(a, b) -> ModelRun:
    """One element at a time: compare, then the chosen add/sub."""
    a, b = _check(a, b)
    out, rows, labels = np.empty_like(a), [], []
    for i in range(a.size):
        rows.append([1])
        labels.append(f"cmp a[{i}]>0")
        out[i] = a[i] + b[i] if a[i] > 0 else a[i] - b[i]
        rows.append([1])
        labels.append(f"{'add' if a[i] > 0 else 'sub'} [{i}]")
    return ModelRun("SISD", 1, out, np.array(rows, dtype=int), tuple(labels))


def simd(a, b, width: int = 8) -> ModelRun:
    """Vector lanes with a mask: compare, add under mask, sub under the inverted mask."""
    a, b = _check(a, b, width)
    out, rows, labels = np.empty_like(a), [], []
    for s in range(0, a.size, width):
        idx = np.arange(s, min(s + width, a.size))
        valid = np.zeros(width, dtype=int)
        valid[: idx.size] = 1
        mask = np.zeros(width, dtype=int)
        mask[: idx.size] = a[idx] > 0
        rows.append(valid)
        labels.append(f"vcmp [{s}:{s + width}]")
        rows.append(mask)
        labels.append("vadd (mask)")
        rows.append(valid - mask)
        labels.append("vsub (~mask)")
        out[idx] = np.where(mask[: idx.size] == 1, a[idx] + b[idx], a[idx] - b[idx])
    return ModelRun(f"SIMD×{width}", width, out, np.array(rows, dtype=int), tuple(labels))


def simt(a, b, warp: int = WARP) -> ModelRun:
    """Warps in lock-step; divergent branches serialised through a reconvergence stack."""
    a, b = _check(a, b, warp)
    out, rows, labels, log = np.empty_like(a), [], [], []
    for w, s in enumerate(range(0, a.size, warp)):
        idx = np.arange(s, min(s + warp, a.size))
        active = np.zeros(warp, dtype=bool)
        active[: idx.size] = True
        taken = active.copy()
        taken[: idx.size] = a[idx] > 0
        rows.append(active.astype(int))
        labels.append(f"warp {w}: setp a>0")
        stack = [("reconverge", active)]
        paths = [("add", taken), ("sub", active & ~taken)]
        live = [(name, m) for name, m in paths if m.any()]
        if len(live) == 2:
            log.append(
                f"warp {w}: diverges ({int(taken.sum())} take the add, "
                f"{int((active & ~taken).sum())} the sub): push both masks"
            )
            stack += list(reversed(live))
        else:
            log.append(f"warp {w}: all active lanes agree, no divergence")
            stack += live
        while len(stack) > 1:
            name, m = stack.pop()
            rows.append(m.astype(int))
            labels.append(f"warp {w}: {name} ({int(m.sum())} lanes)")
        _, m = stack.pop()
        log.append(f"warp {w}: pop to reconvergence point, mask back to {int(m.sum())} lanes")
        out[idx] = kernel_reference(a[idx], b[idx])
    return ModelRun(f"SIMT warp={warp}", warp, out, np.array(rows, dtype=int), tuple(labels), tuple(log))


def spmd(a, b, instances: int = 8) -> ModelRun:
    """Independent program instances, each running the scalar code on its share of the elements."""
    a, b = _check(a, b, instances)
    out = kernel_reference(a, b)
    per = [list(range(p, a.size, instances)) for p in range(instances)]
    length = max(2 * len(p) for p in per)
    lanes = np.zeros((length, instances), dtype=int)
    for p, elems in enumerate(per):
        lanes[: 2 * len(elems), p] = 1
    labels = tuple(f"step {t}" for t in range(length))
    return ModelRun(f"SPMD×{instances}", instances, out, lanes, labels)


def divergence_utilization(fraction_taken: float, warp: int = WARP) -> dict:
    """Lane utilisation of one warp's branch when a fraction of lanes take the ``if`` side.

    Both paths are one instruction long; a mixed warp runs both with part of the lanes idle.
    """
    if not 0.0 <= fraction_taken <= 1.0:
        raise EngineError(
            f"fraction of lanes taking the branch must be between 0 and 1, got {fraction_taken}"
        )
    taken = round(fraction_taken * warp)
    paths = (taken > 0) + (taken < warp)
    return {"taken": taken, "paths": int(paths), "utilization": warp / (paths * warp)}


# ------------------------------------------------------------------ memory: coalescing and banks


def warp_addresses(
    pattern: str, stride: int = 1, elem_bytes: int = 4, offset: int = 0, seed: int = 0, warp: int = WARP
) -> np.ndarray:
    """Byte addresses one warp touches: 'strided' (lane × stride × size + offset) or 'random'."""
    if elem_bytes not in (1, 2, 4, 8, 16):
        raise EngineError(f"element size {elem_bytes} bytes is not a CUDA load width; use 1, 2, 4, 8 or 16")
    if not isinstance(stride, int) or not 0 <= stride <= 4096:
        raise EngineError(f"stride {stride!r} is out of range; use 0 to 4096 elements")
    if isinstance(warp, bool) or not isinstance(warp, (int, np.integer)) or not 1 <= warp <= 1024:
        raise EngineError(f"warp = {warp!r} lanes is out of range; use 1 to 1024")
    lanes = np.arange(warp)
    if pattern == "strided":
        return offset + lanes * stride * elem_bytes
    if pattern == "random":
        rng = np.random.default_rng(seed)
        return offset + rng.integers(0, 1 << 20, size=warp) * elem_bytes
    raise EngineError(f"access pattern {pattern!r} is unknown; use 'strided' or 'random'")


def coalescing(addresses, elem_bytes: int = 4) -> dict:
    """32-byte sectors and 128-byte lines one warp-wide load needs, and the bus efficiency."""
    addr = np.asarray(addresses, dtype=np.int64)
    if addr.ndim != 1 or addr.size == 0 or (addr < 0).any():
        raise EngineError("addresses must be a non-empty list of non-negative byte addresses")
    if elem_bytes not in (1, 2, 4, 8, 16):
        raise EngineError(f"element size {elem_bytes} bytes is not a CUDA load width; use 1, 2, 4, 8 or 16")
    check_tensor(addr.shape, "the address list")
    touched = np.unique(np.concatenate([(addr + k) // SECTOR for k in range(elem_bytes)]))
    lines = np.unique(touched * SECTOR // LINE)
    useful = np.unique(np.concatenate([addr + k for k in range(elem_bytes)])).size
    return {
        "sectors": int(touched.size),
        "lines": int(lines.size),
        "bytes_moved": int(touched.size * SECTOR),
        "bytes_used": int(useful),
        "efficiency": useful / (touched.size * SECTOR),
    }


def bank_conflicts(word_indices, banks: int = BANKS) -> dict:
    """Shared-memory bank conflict degree for one warp reading 4-byte words.

    Bank = word index mod 32; lanes reading the *same* word share one broadcast, so the degree is the
    largest number of *distinct* words mapped to one bank (1 = conflict-free).
    """
    words = np.asarray(word_indices, dtype=np.int64)
    if words.ndim != 1 or words.size == 0 or (words < 0).any():
        raise EngineError("word indices must be a non-empty list of non-negative integers")
    if isinstance(banks, bool) or not isinstance(banks, (int, np.integer)) or not 1 <= banks <= 1024:
        raise EngineError(f"banks = {banks!r} is out of range; use 1 to 1024 banks")
    check_tensor(words.shape, "the word list")
    distinct = np.unique(words)
    per_bank = np.bincount(distinct % banks, minlength=banks)
    return {
        "degree": int(per_bank.max()),
        "per_bank": per_bank,
        "bank_of_lane": words % banks,
        "wavefronts": int(per_bank.max()),
    }


def stride_conflict_degree(stride: int, banks: int = BANKS, warp: int = WARP) -> int:
    """n-way conflict of ``s[lane * stride]`` (4-byte words): gcd(stride, 32) for stride > 0."""
    if not isinstance(stride, int) or not 0 <= stride <= 4096:
        raise EngineError(f"stride {stride!r} is out of range; use 0 to 4096 words")
    return bank_conflicts(np.arange(warp) * stride, banks)["degree"]
