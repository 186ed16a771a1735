"""Tensor (intra-layer) parallelism on N simulated devices, Megatron style (Shoeybi et al. 2019).

Stages:
  1. MLP  Y = GeLU(X A) B: A is split by columns (each device computes its own slice of the hidden
     layer, GeLU needs no communication), B by rows; the partial products are summed by one
     all-reduce (the "g" operator), then the bias of B is added once.
  2. Attention: heads are split over devices (Q, K, V column-split by heads, output projection
     row-split), one all-reduce after the output projection.
  3. Vocab-parallel embedding: device r owns rows [r·V/N, (r+1)·V/N) of the table, looks up the ids
     it owns, writes zeros for the others, and an all-reduce (sum) assembles the embeddings.
  4. Vocab-parallel cross-entropy without gathering the logits: all-reduce MAX of the local maxima
     (for a stable softmax), all-reduce SUM of the local Σexp, all-reduce SUM of the target logit
     (only its owner contributes). Note: the AI System book says "max" for both reductions; the
     exp-sum must be a SUM (a max would drop all but one shard's mass) — see test_parallel_tp.
  5. A 2-D mesh: a matmul with X split by rows over mesh axis 0 and W by columns over axis 1.
  6. Communication volume per layer: forward 2 all-reduces (attention, MLP) of s·b·h values,
     backward 2 more (the "f" operators).
GeLU is the tanh approximation (as Megatron and GPT-2 use).
Not handled: sequence parallelism's reduce-scatter/all-gather variant, dropout, biases of QKV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import check_flops, check_tensor
from ..core.errors import EngineError, ShapeError


def gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def gelu_grad(x: np.ndarray) -> np.ndarray:
    c = np.sqrt(2.0 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)


def _split_count(n: int, size: int, what: str) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise EngineError(f"the number of devices must be a whole number ≥ 1, got {n!r}")
    if size % n:
        raise ShapeError(f"{what} = {size} is not divisible by {n} devices")


@dataclass(frozen=True)
class MlpSplit:
    output: np.ndarray  # after the all-reduce (+ bias of B)
    a_shards: tuple[np.ndarray, ...]  # column blocks of A
    b_shards: tuple[np.ndarray, ...]  # row blocks of B
    partials: tuple[np.ndarray, ...]  # each device's X A_i → GeLU → · B_i, before the all-reduce
    reference: np.ndarray  # the unsplit GeLU(XA + a) B + b


def megatron_mlp(x, a, b, n: int, bias_a=None, bias_b=None) -> MlpSplit:
    """Column-parallel then row-parallel MLP on ``n`` devices, with the unsplit reference."""
    x, a, b = (np.asarray(t, dtype=float) for t in (x, a, b))
    for t, name in ((x, "X"), (a, "A"), (b, "B")):
        check_tensor(t.shape, name)
    if x.ndim != 2 or a.ndim != 2 or b.ndim != 2 or x.shape[1] != a.shape[0] or a.shape[1] != b.shape[0]:
        raise ShapeError(f"X{list(x.shape)} · A{list(a.shape)} · B{list(b.shape)} do not chain")
    _split_count(n, a.shape[1], "hidden width (columns of A)")
    bias_a = np.zeros(a.shape[1]) if bias_a is None else np.asarray(bias_a, dtype=float)
    bias_b = np.zeros(b.shape[1]) if bias_b is None else np.asarray(bias_b, dtype=float)
    cols = np.split(np.arange(a.shape[1]), n)
    a_sh = tuple(a[:, c] for c in cols)
    b_sh = tuple(b[c, :] for c in cols)
    partials = tuple(gelu(x @ a_sh[i] + bias_a[cols[i]]) @ b_sh[i] for i in range(n))
    out = np.sum(partials, axis=0) + bias_b  # the one all-reduce, then bias once
    ref = gelu(x @ a + bias_a) @ b + bias_b
    return MlpSplit(out, a_sh, b_sh, partials, ref)


def mlp_grads(x, a, b, dy, n: int = 1) -> dict:
    """Gradients of Σ(dy ⊙ Y) for Y = GeLU(X A) B, computed shard by shard on ``n`` devices.

    Each device back-propagates through its own columns/rows; dX needs an all-reduce (the
    "f" operator's backward). Returns full dA, dB (shards concatenated) and dX.
    """
    x, a, b, dy = (np.asarray(t, dtype=float) for t in (x, a, b, dy))
    _split_count(n, a.shape[1], "hidden width (columns of A)")
    da, db, dx = np.zeros_like(a), np.zeros_like(b), np.zeros_like(x)
    for c in np.split(np.arange(a.shape[1]), n):
        z = x @ a[:, c]
        db[c, :] = gelu(z).T @ dy
        dz = (dy @ b[c, :].T) * gelu_grad(z)
        da[:, c] = x.T @ dz
        dx += dz @ a[:, c].T  # all-reduce of the partial dX
    return {"dA": da, "dB": db, "dX": dx}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class AttentionSplit:
    output: np.ndarray
    reference: np.ndarray
    heads_per_device: int


def attention_by_heads(x, wq, wk, wv, wo, heads: int, n: int) -> AttentionSplit:
    """Self-attention with heads split over ``n`` devices; one all-reduce after W_O."""
    x, wq, wk, wv, wo = (np.asarray(t, dtype=float) for t in (x, wq, wk, wv, wo))
    for name, t in (("x", x), ("W_Q", wq), ("W_K", wk), ("W_V", wv), ("W_O", wo)):
        check_tensor(t.shape, name)
    s, h = x.shape
    check_flops(2 * (8 * s * h * h + 4 * s * s * h), "attention split by heads (run twice)")
    if heads < 1 or h % heads:
        raise ShapeError(f"hidden size {h} is not divisible by {heads} heads")
    if not isinstance(n, (int, np.integer)) or n < 1 or heads % n:
        raise EngineError(f"tensor-parallel size {n} must divide the {heads} attention heads")
    d = h // heads

    def head(i):
        cols = slice(i * d, (i + 1) * d)
        q, k, v = x @ wq[:, cols], x @ wk[:, cols], x @ wv[:, cols]
        return _softmax(q @ k.T / np.sqrt(d)) @ v @ wo[cols, :]

    per = heads // n
    partials = [sum(head(r * per + j) for j in range(per)) for r in range(n)]
    out = np.sum(partials, axis=0)
    ctx = np.concatenate(
        [
            _softmax((x @ wq[:, i * d : (i + 1) * d]) @ (x @ wk[:, i * d : (i + 1) * d]).T / np.sqrt(d))
            @ (x @ wv[:, i * d : (i + 1) * d])
            for i in range(heads)
        ],
        axis=1,
    )
    return AttentionSplit(out, ctx @ wo, per)


def vocab_parallel_embedding(ids, table, n: int) -> dict:
    """Each device looks up only the ids in its vocabulary slice; a sum all-reduce assembles them."""
    ids = np.asarray(ids, dtype=int)
    table = np.asarray(table, dtype=float)
    vocab = table.shape[0]
    _split_count(n, vocab, "vocabulary size")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise EngineError(f"token ids must lie in [0, {vocab}), got {ids.min()}..{ids.max()}")
    per = vocab // n
    partials = []
    for r in range(n):
        lo, hi = r * per, (r + 1) * per
        mask = (ids < lo) | (ids >= hi)
        local = table[lo:hi][np.where(mask, 0, ids - lo)]
        local[mask] = 0.0
        partials.append(local)
    return {"output": np.sum(partials, axis=0), "partials": tuple(partials), "reference": table[ids]}


@dataclass(frozen=True)
class CrossEntropySplit:
    loss: np.ndarray  # per token, from the three all-reduces
    reference: np.ndarray  # unsplit log-softmax cross-entropy
    wrong_max_loss: np.ndarray  # what "max all-reduce for the exp-sum too" would give
    global_max: np.ndarray
    local_sums: tuple[np.ndarray, ...]


def vocab_parallel_cross_entropy(logits, targets, n: int) -> CrossEntropySplit:
    """Cross-entropy with the vocabulary split over ``n`` devices (Megatron's algorithm)."""
    z = np.asarray(logits, dtype=float)
    t = np.asarray(targets, dtype=int)
    if z.ndim != 2 or t.shape != (z.shape[0],):
        raise ShapeError(
            f"logits must be [tokens, vocab] and targets [tokens]; got {list(z.shape)} and {list(t.shape)}"
        )
    vocab = z.shape[1]
    _split_count(n, vocab, "vocabulary size")
    if t.size and (t.min() < 0 or t.max() >= vocab):
        raise EngineError(f"targets must lie in [0, {vocab})")
    shards = np.split(z, n, axis=1)
    per = vocab // n
    gmax = np.max([s.max(axis=1) for s in shards], axis=0)  # all-reduce MAX
    local = tuple(np.exp(s - gmax[:, None]).sum(axis=1) for s in shards)
    total = np.sum(local, axis=0)  # all-reduce SUM
    wrong = np.max(local, axis=0)  # the book's "max" (wrong)
    target_logit = np.zeros(len(t))
    for r, s in enumerate(shards):  # all-reduce SUM
        own = (t >= r * per) & (t < (r + 1) * per)
        target_logit[own] += s[own, t[own] - r * per]
    loss = np.log(total) - (target_logit - gmax)
    ref = (
        np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1) - z[np.arange(len(t)), t]
    )
    return CrossEntropySplit(loss, ref, np.log(wrong) - (target_logit - gmax), gmax, local)


def mesh_matmul(x, w, rows: int, cols: int) -> dict:
    """X split by rows over mesh axis 0, W by columns over axis 1: device (i, j) computes block (i, j)."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ShapeError(f"X{list(x.shape)} @ W{list(w.shape)}: inner sizes differ")
    check_tensor(x.shape, "X")
    check_tensor(w.shape, "W")
    check_flops(4 * x.shape[0] * x.shape[1] * w.shape[1], "the mesh matmul (and its reference)")
    _split_count(rows, x.shape[0], "rows of X (mesh axis 0)")
    _split_count(cols, w.shape[1], "columns of W (mesh axis 1)")
    xs, ws = np.split(x, rows, axis=0), np.split(w, cols, axis=1)
    blocks = [[xs[i] @ ws[j] for j in range(cols)] for i in range(rows)]
    ids = np.arange(rows * cols).reshape(rows, cols)
    return {
        "output": np.block(blocks),
        "reference": x @ w,
        "device_ids": ids,
        "row_groups": tuple(tuple(r) for r in ids),
        "col_groups": tuple(tuple(c) for c in ids.T),
    }


def comm_volume_per_layer(s: int, b: int, h: int, t: int, bytes_per: int = 2) -> dict:
    """Megatron TP traffic of one transformer layer: 4 all-reduces of s·b·h values (2 fwd, 2 bwd)."""
    if min(s, b, h) < 1 or t < 1:
        raise EngineError(f"s, b, h and t must be ≥ 1, got s={s}, b={b}, h={h}, t={t}")
    message = float(s) * b * h * bytes_per
    per_device = 4 * 2 * (t - 1) / t * message  # ring: each sends 2(t−1)/t of the message
    return {"allreduces": 4, "message_bytes": message, "sent_per_device_bytes": per_device}
