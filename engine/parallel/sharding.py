"""MindSpore-style sharding strategies of a matmul and the collective that redistributes between them.

Stages:
  1. A strategy ((a, b), (c, d)) for Y = X[M, K] · W[K, N] splits X's rows a ways and its K axis b
     ways, W's K axis c ways and its columns d ways (MindSpore ``shard`` notation). K must be cut
     the same way on both sides (b = c) and a·b·d devices are used. Device (i, k, j) multiplies
     X block (i, k) by W block (k, j); if b > 1 the outputs are partial sums over k.
  2. The output layout is (a, d) rows × columns, "partial" when b > 1.
  3. Redistribution between two layouts of a 2-D tensor over n devices (each axis cut 1 or n ways,
     or partial sums): AllGather (+ concat), Split (local slice, no traffic), AllToAll (split one
     axis, concat the other), AllReduce and ReduceScatter for partial sums. Every rule is checked by
     simulating the shards in numpy.
Not handled: layouts that cut both axes or cut an axis by a factor other than 1 or n in the
redistribution step, device matrices with repeated (replicated) dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_tensor
from ..core.errors import EngineError


@dataclass(frozen=True)
class Layout:
    """How a 2-D tensor lies on n devices: rows cut r ways, columns c ways, or partial sums."""

    rows: int = 1
    cols: int = 1
    partial: bool = False

    def describe(self) -> str:
        if self.partial:
            return "partial sums (every device holds a full-size addend)"
        if self.rows == 1 and self.cols == 1:
            return "replicated"
        return f"rows cut {self.rows} ways, columns cut {self.cols} ways"


def _parse(strategy) -> tuple[int, int, int, int]:
    try:
        (a, b), (c, d) = strategy
        a, b, c, d = (int(x) for x in (a, b, c, d))
    except (TypeError, ValueError):
        raise EngineError(f"a matmul strategy looks like ((4, 1), (1, 1)); got {strategy!r}") from None
    if min(a, b, c, d) < 1:
        raise EngineError(f"split factors must be ≥ 1, got {strategy!r}")
    if b != c:
        raise EngineError(f"X's K axis is cut {b} ways but W's K axis {c} ways; they must match")
    return a, b, c, d


def matmul_strategy(strategy, n: int, shape=(8, 8, 8), seed: int = 0) -> dict:
    """Simulate Y = X W under ``strategy`` on ``n`` devices; returns layout, collective, check."""
    a, b, _, d = _parse(strategy)
    if a * b * d != n:
        raise EngineError(f"strategy {strategy} uses a·b·d = {a * b * d} devices but there are {n}")
    m, k, cols = shape
    check_tensor((m, k), "X")
    check_tensor((k, cols), "W")
    if m % a or k % b or cols % d:
        raise EngineError(f"shape M×K×N = {m}×{k}×{cols} is not divisible by the cuts {a}, {b}, {d}")
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=(m, k)), rng.normal(size=(k, cols))
    xs = [np.split(r, b, axis=1) for r in np.split(x, a, axis=0)]
    ws = [np.split(r, d, axis=1) for r in np.split(w, b, axis=0)]
    local = {(i, kk, j): xs[i][kk] @ ws[kk][j] for i in range(a) for kk in range(b) for j in range(d)}
    summed = [[sum(local[(i, kk, j)] for kk in range(b)) for j in range(d)] for i in range(a)]
    y = np.block(summed)
    out = Layout(a, d, partial=b > 1)
    need = f"AllReduce over the {b} devices that share a K slice" if b > 1 else "none"
    return {
        "output_layout": out,
        "collective": need,
        "equal": bool(np.allclose(y, x @ w)),
        "local_shape": local[(0, 0, 0)].shape,
    }


@dataclass(frozen=True)
class Redistribution:
    collective: str
    detail: str
    bytes_per_device: float  # received per device, for a tensor of ``size`` elements × 4 B
    equal: bool


def _shards(t: np.ndarray, lay: Layout, n: int, rng) -> list[np.ndarray]:
    if lay.partial:
        parts = [rng.normal(size=t.shape) for _ in range(n - 1)]
        return parts + [t - sum(parts)] if n > 1 else [t]
    if lay.rows > 1:
        return np.split(t, n, axis=0)
    if lay.cols > 1:
        return np.split(t, n, axis=1)
    return [t.copy() for _ in range(n)]


def _check_layout(lay: Layout, n: int) -> None:
    if (
        lay.rows not in (1, n)
        or lay.cols not in (1, n)
        or (lay.rows > 1 and lay.cols > 1)
        or (lay.partial and (lay.rows > 1 or lay.cols > 1))
    ):
        raise EngineError(
            f"this lab redistributes layouts cut over all {n} devices along one axis, "
            f"replicated, or partial; got {lay}"
        )


def redistribute(src: Layout, dst: Layout, n: int, shape=(8, 8), seed: int = 0) -> Redistribution:
    """The collective that turns ``src`` shards into ``dst`` shards, verified on random data."""
    if n < 1:
        raise EngineError(f"need at least one device, got {n}")
    _check_layout(src, n)
    _check_layout(dst, n)
    if dst.partial and not src.partial:
        raise EngineError("no collective produces partial sums from complete values")
    check_tensor(shape, "the tensor")
    rng = np.random.default_rng(seed)
    t = rng.normal(size=shape)
    have = _shards(t, src, n, rng)
    size = t.size * 4.0
    if src == dst:
        got, name, detail, traffic = have, "none", "layouts already match", 0.0
    elif src.partial:
        total = sum(have)
        got = _shards(total, dst, n, rng)
        if dst.rows == 1 and dst.cols == 1:
            name, detail, traffic = (
                "AllReduce",
                "sum the addends; everyone keeps the sum",
                2 * (n - 1) / n * size,
            )
        else:
            axis = 0 if dst.rows > 1 else 1
            name, detail, traffic = (
                "ReduceScatter",
                f"sum and keep slice r along axis {axis}",
                (n - 1) / n * size,
            )
    elif dst.rows == 1 and dst.cols == 1:
        axis = 0 if src.rows > 1 else 1
        whole = np.concatenate(have, axis=axis)
        got = [whole] * n
        name, detail, traffic = (
            "AllGather",
            f"gather all slices, concat along axis {axis}",
            (n - 1) / n * size,
        )
    elif src.rows == 1 and src.cols == 1:
        got = _shards(have[0], dst, n, rng)
        name, detail, traffic = "Split", "each device keeps its own slice; nothing is sent", 0.0
    else:
        a_from = 0 if src.rows > 1 else 1
        a_to = 0 if dst.rows > 1 else 1
        pieces = [np.split(h, n, axis=a_to) for h in have]  # device s cuts its shard
        got = [np.concatenate([pieces[s][r] for s in range(n)], axis=a_from) for r in range(n)]
        name, detail = (
            "AllToAll",
            f"split axis {a_to} into {n}, send piece r to device r, concat along axis {a_from}",
        )
        traffic = (n - 1) / n * size / n
    want = _shards(t, dst, n, rng)
    equal = len(got) == len(want) and all(np.allclose(g, w) for g, w in zip(got, want))
    return Redistribution(name, detail, traffic, equal)


def strategy_transition(first, second, n: int) -> Redistribution:
    """Collective between op 1's output (strategy ``first``) and op 2's input X (``second``)."""
    out = matmul_strategy(first, n)["output_layout"]
    a, b, _, _ = _parse(second)
    return redistribute(out, Layout(a, b), n)
