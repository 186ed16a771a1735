"""Low-rank compression of a dense layer by truncated SVD (Denton et al. 2014).

Stages:
  1. W (in x out) = U S V^T; keep the ``rank`` largest singular values: W_r = (U_r S_r) V_r^T is the
     best rank-r approximation in the Frobenius and spectral norms (Eckart-Young), with
     ||W - W_r||_F^2 = sum of the dropped s_i^2;
  2. the layer x W + b becomes two layers x A + then (.) B + b with A = U_r S_r (in x r), B = V_r^T
     (r x out): params r (in + out) + out instead of in * out + out, MACs per sample likewise;
     it pays off only while r < in * out / (in + out);
  3. :func:`lowrank_sweep` measures reconstruction error, params, FLOPs (from :func:`engine.cost`
     on the factorised graph) and test accuracy for every rank.
Not handled: conv layers (they would be reshaped to matrices first), fine-tuning after factorising.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import EngineError
from .datasets import digits
from .models import accuracy, build_graph, lowrank_spec, model_spec


@dataclass(frozen=True, eq=False)
class Factorised:
    a: np.ndarray  # (in, rank) = U_r S_r
    b: np.ndarray  # (rank, out) = V_r^T
    singular_values: np.ndarray
    rel_error: float  # ||W - A B||_F / ||W||_F
    params_dense: int
    params_lowrank: int


def factorise(w: np.ndarray, rank: int) -> Factorised:
    """Truncated SVD of a matrix ``w`` at ``rank`` (stage 1)."""
    arr = np.asarray(w, np.float64)
    if arr.ndim != 2:
        raise EngineError(f"low-rank factorisation needs a matrix, got shape {list(arr.shape)}")
    budget.check_tensor(arr.shape, "the matrix")
    full = min(arr.shape)
    if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= full:
        raise EngineError(
            f"rank = {rank!r} must be a whole number from 1 to {full} (min of "
            f"{arr.shape[0]} x {arr.shape[1]}); rank 0 would delete the layer"
        )
    norm = float(np.linalg.norm(arr))
    if norm == 0:
        raise EngineError("every weight is zero: there is nothing to factorise")
    u, s, vt = np.linalg.svd(arr, full_matrices=False)
    a = (u[:, :rank] * s[:rank]).astype(np.float32)
    b = vt[:rank].astype(np.float32)
    err = float(np.sqrt(np.sum(s[rank:] ** 2)) / norm)
    return Factorised(a, b, s, err, arr.size, rank * sum(arr.shape))


@functools.lru_cache(maxsize=64)
def lowrank_sweep(model: str = "mlp", seed: int = 0, layer: str = "fc1") -> list[dict]:
    """Rows per rank: relative error, params, FLOPs of the whole model, test accuracy."""
    from .training import train_model

    spec, trained, split = model_spec(model), train_model(model, seed), digits(seed)
    w = trained.params.get(f"{layer}.w")
    if w is None or w.ndim != 2:
        raise EngineError(f"model {model!r} has no dense layer {layer!r}")
    dense_flops = cost(build_graph(spec, 1)).flops
    rows = []
    for r in range(1, min(w.shape) + 1):
        f = factorise(w, r)
        lspec = lowrank_spec(spec, layer, r)
        params = {k: v for k, v in trained.params.items() if not k.startswith(f"{layer}.")}
        params.update(
            {f"{layer}_u.w": f.a, f"{layer}_v.w": f.b, f"{layer}_v.b": trained.params[f"{layer}.b"]}
        )
        rows.append(
            {
                "rank": r,
                "rel_error": f.rel_error,
                "layer_params": f.params_lowrank,
                "dense_layer_params": f.params_dense,
                "model_params": lspec.n_params(),
                "flops": cost(build_graph(lspec, 1)).flops,
                "dense_flops": dense_flops,
                "accuracy": accuracy(lspec, params, split.x_test, split.y_test),
                "fp32_accuracy": trained.test_accuracy,
            }
        )
    return rows
