"""Pruning: masks that zero weights, by magnitude, by channel norm, N:M, and gradually while training.

Stages:
  1. how many to prune: a fraction ``amount`` of n weights prunes round(amount * n) (Python's
     round, half to even — torch.nn.utils.prune's ``_compute_nparams_toprune``); an int prunes that many;
  2. masks (1 keep, 0 prune), each matching torch.nn.utils.prune on the same weights:
       :func:`l1_unstructured`     the k smallest |w| of one tensor (Han et al. 2015);
       :func:`global_unstructured` the k smallest |w| over several tensors pooled together;
       :func:`ln_structured`       whole slices along ``dim`` with the smallest L_n norm (n = 1, 2)
                                   taken over all other dims (filter / channel pruning; on a
                                   model, hidden units and conv filters — never the class outputs);
       :func:`n_m_mask`            in every group of M consecutive weights along the reduction
                                   (input) axis keep the N largest |w| (2:4, Mishra et al. 2021);
     ties are broken by a stable sort (the earlier index is pruned first); torch's topk breaks
     ties its own way, so equal magnitudes can pick a different (equally valid) mask;
  3. gradual pruning (:func:`polynomial_sparsity`, Zhu & Gupta 2017):
       s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3   for t0 <= t <= t0 + n dt
     with fine-tuning between pruning steps (:func:`gradual_prune`);
  4. :func:`prune_model` / :func:`sparsity_curve`: test accuracy of the trained models as sparsity grows.
Not handled: pruning biases, sparse storage formats (size estimates only), re-growing weights.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from .datasets import digits
from .models import accuracy, model_spec

METHODS = ("l1_unstructured", "global_unstructured", "ln_structured", "2:4")


def n_to_prune(amount: float | int, n: int) -> int:
    """Stage 1: how many of ``n`` weights ``amount`` prunes (torch's rule)."""
    if isinstance(amount, bool):
        raise EngineError(f"amount must be a fraction or a count, got {amount!r}")
    if isinstance(amount, (int, np.integer)):
        if not 0 <= amount <= n:
            raise EngineError(f"cannot prune {amount} weights out of {n}")
        return int(amount)
    amount = float(amount)
    if not 0.0 <= amount <= 1.0:
        raise EngineError(f"amount = {amount} must be a fraction between 0 and 1 (1 prunes every weight)")
    return int(round(amount * n))


def _smallest(scores: np.ndarray, k: int) -> np.ndarray:
    mask = np.ones(scores.size, np.float32)
    if k:
        mask[np.argsort(scores.ravel(), kind="stable")[:k]] = 0.0
    return mask.reshape(scores.shape)


def _weights(w) -> np.ndarray:
    arr = np.asarray(w, np.float32)
    budget.check_tensor(arr.shape, "weights")
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise EngineError("weights must be a non-empty tensor of finite values")
    return arr


def l1_unstructured(w: np.ndarray, amount: float | int) -> np.ndarray:
    """Mask pruning the ``amount`` smallest-magnitude weights of one tensor."""
    arr = _weights(w)
    return _smallest(np.abs(arr), n_to_prune(amount, arr.size))


def global_unstructured(weights: dict[str, np.ndarray], amount: float | int) -> dict[str, np.ndarray]:
    """Masks pruning the ``amount`` smallest |w| pooled over all tensors (torch flattens in order)."""
    if not weights:
        raise EngineError("global pruning needs at least one weight tensor")
    arrs = {k: _weights(v) for k, v in weights.items()}
    flat = np.concatenate([np.abs(a).ravel() for a in arrs.values()])
    mask = _smallest(flat, n_to_prune(amount, flat.size))
    out, start = {}, 0
    for k, a in arrs.items():
        out[k] = mask[start : start + a.size].reshape(a.shape)
        start += a.size
    return out


def ln_structured(w: np.ndarray, amount: float | int, n: int = 2, dim: int = 0) -> np.ndarray:
    """Mask pruning whole slices along ``dim`` with the smallest L_n norm (torch ln_structured)."""
    arr = _weights(w)
    if n not in (1, 2):
        raise EngineError(f"norm n = {n!r}: use 1 (L1) or 2 (L2)")
    if not -arr.ndim <= dim < arr.ndim:
        raise EngineError(f"dim = {dim} is not an axis of weights of shape {list(arr.shape)}")
    dim %= arr.ndim
    axes = tuple(d for d in range(arr.ndim) if d != dim)
    norms = np.sum(np.abs(arr) ** n, axis=axes) ** (1.0 / n)
    keep_slices = _smallest(norms, n_to_prune(amount, arr.shape[dim]))
    shape = [1] * arr.ndim
    shape[dim] = -1
    return np.broadcast_to(keep_slices.reshape(shape), arr.shape).astype(np.float32)


def n_m_mask(w: np.ndarray, n: int = 2, m: int = 4, axis: int = 0) -> np.ndarray:
    """Keep the ``n`` largest |w| in every group of ``m`` consecutive weights along ``axis``."""
    arr = _weights(w)
    if not 0 <= n <= m or m < 1:
        raise EngineError(f"N:M sparsity needs 0 <= N <= M and M >= 1, got {n}:{m}")
    if not isinstance(axis, (int, np.integer)) or not -arr.ndim <= axis < arr.ndim:
        raise EngineError(f"axis = {axis!r} is not an axis of weights of shape {list(arr.shape)}")
    moved = np.moveaxis(arr, axis, -1)
    if moved.shape[-1] % m:
        raise EngineError(f"axis {axis} has {moved.shape[-1]} weights, not a multiple of M = {m}")
    groups = np.abs(moved).reshape(-1, m)
    order = np.argsort(-groups, axis=1, kind="stable")
    keep = np.zeros_like(groups, dtype=np.float32)
    np.put_along_axis(keep, order[:, :n], 1.0, axis=1)
    return np.moveaxis(keep.reshape(moved.shape), -1, axis)


def polynomial_sparsity(
    step: int, s_initial: float, s_final: float, t0: int, n_steps: int, dt: int = 1
) -> float:
    """Zhu & Gupta (2017) eq. 1: sparsity at training step ``step``."""
    if not 0 <= s_initial <= s_final <= 1:
        raise EngineError(f"need 0 <= s_initial ({s_initial}) <= s_final ({s_final}) <= 1")
    if n_steps < 1 or dt < 1:
        raise EngineError("the schedule needs at least one pruning step (n >= 1, dt >= 1)")
    progress = min(max((step - t0) / (n_steps * dt), 0.0), 1.0)
    return s_final + (s_initial - s_final) * (1.0 - progress) ** 3


# -- on the trained models -----------------------------------------------------------------------
def model_masks(model: str, params: dict, method: str, amount: float, norm: int = 2) -> dict[str, np.ndarray]:
    """Masks for every weight of ``model`` (biases are kept); ``norm`` (1 or 2) ranks channels."""
    spec = model_spec(model)
    if not isinstance(amount, bool) and float(amount) >= 1.0:
        raise EngineError(
            f"pruning {100 * float(amount):g}% of the weights leaves none: the model "
            "could only output its biases; choose an amount below 1"
        )
    weights = {f"{ly.name}.w": params[f"{ly.name}.w"] for ly in spec.weighted}
    if method == "global_unstructured":
        return global_unstructured(weights, amount)
    masks = {}
    last = spec.weighted[-1].name
    for ly in spec.weighted:
        w = weights[f"{ly.name}.w"]
        if method == "ln_structured" and ly.name == last:  # never delete a class output
            masks[f"{ly.name}.w"] = np.ones_like(w)
        elif method == "l1_unstructured":
            masks[f"{ly.name}.w"] = l1_unstructured(w, amount)
        elif method == "ln_structured":  # output channels: conv dim 0, dense (in, out) dim 1
            masks[f"{ly.name}.w"] = ln_structured(w, amount, norm, 0 if ly.kind == "conv" else 1)
        elif method == "2:4":
            axis = 1 if ly.kind == "conv" else 0
            masks[f"{ly.name}.w"] = n_m_mask(w, 2, 4, axis) if w.shape[axis] % 4 == 0 else np.ones_like(w)
        else:
            raise EngineError(f"unknown pruning method {method!r}; choose one of: {', '.join(METHODS)}")
    return masks


def apply_masks(params: dict, masks: dict) -> dict:
    return {k: (v * masks[k]).astype(np.float32) if k in masks else v for k, v in params.items()}


def sparsity(masks: dict) -> float:
    total = sum(m.size for m in masks.values())
    return 1.0 - float(sum(m.sum() for m in masks.values())) / total


@dataclass(frozen=True)
class PruneResult:
    model: str
    method: str
    amount: float
    sparsity: float
    accuracy: float
    fp32_accuracy: float
    finetuned_accuracy: float | None


@functools.lru_cache(maxsize=256)
def prune_model(
    model: str = "mlp",
    seed: int = 0,
    method: str = "l1_unstructured",
    amount: float = 0.5,
    finetune_epochs: int = 0,
    norm: int = 2,
) -> PruneResult:
    """Prune the trained model in one shot (then optionally fine-tune with the mask held)."""
    from .training import fit, train_model

    trained = train_model(model, seed)
    spec, split = model_spec(model), digits(seed)
    masks = model_masks(model, trained.params, method, amount, norm)
    pruned = apply_masks(trained.params, masks)
    acc = accuracy(spec, pruned, split.x_test, split.y_test)
    tuned = None
    if finetune_epochs:
        params, _ = fit(
            spec,
            pruned,
            split,
            finetune_epochs,
            0.002,
            seed + 17,
            after_step=lambda step, p: apply_masks(p, masks),
        )
        tuned = accuracy(spec, params, split.x_test, split.y_test)
    return PruneResult(model, method, float(amount), sparsity(masks), acc, trained.test_accuracy, tuned)


def sparsity_curve(
    model: str = "mlp", seed: int = 0, amounts: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
) -> list[dict]:
    rows = []
    for method in ("l1_unstructured", "global_unstructured", "ln_structured"):
        for a in amounts:
            r = prune_model(model, seed, method, a)
            rows.append({"method": method, "amount": a, "sparsity": r.sparsity, "accuracy": r.accuracy})
    return rows


@dataclass(frozen=True)
class GradualResult:
    model: str
    final_sparsity: float
    schedule: tuple[tuple[int, float], ...]  # (step, target sparsity) at each pruning step
    accuracies: tuple[float, ...]  # test accuracy after each pruning interval
    one_shot_accuracy: float
    accuracy: float
    masks: tuple[dict, ...] = ()  # the masks in force after each pruning step


@functools.lru_cache(maxsize=32)
def gradual_prune(
    model: str = "mlp", seed: int = 0, final_sparsity: float = 0.9, n_steps: int = 8, epochs_per_step: int = 1
) -> GradualResult:
    """Zhu & Gupta: raise global magnitude sparsity 0 -> final over ``n_steps``, fine-tuning between."""
    from .training import check_epochs, fit, train_model

    if not 0 < final_sparsity < 1:
        raise EngineError(f"final sparsity {final_sparsity} must lie strictly between 0 and 1")
    if not 1 <= n_steps <= 20:
        raise EngineError(f"n_steps = {n_steps} must lie in 1 .. 20")
    spec, split = model_spec(model), digits(seed)
    if isinstance(epochs_per_step, bool) or not isinstance(epochs_per_step, int) or epochs_per_step < 0:
        raise EngineError(f"epochs_per_step = {epochs_per_step!r} must be a whole number >= 0")
    check_epochs(
        n_steps * epochs_per_step, split, f"gradual pruning ({n_steps} steps x {epochs_per_step} epochs)"
    )
    trained = train_model(model, seed)
    params = dict(trained.params)
    schedule, accs, history = [], [], []
    for k in range(1, n_steps + 1):
        target = polynomial_sparsity(k, 0.0, final_sparsity, 0, n_steps)
        masks = model_masks(model, params, "global_unstructured", target)
        params = apply_masks(params, masks)
        params, _ = fit(
            spec,
            params,
            split,
            epochs_per_step,
            0.002,
            seed + 31 * k,
            after_step=lambda step, p, m=masks: apply_masks(p, m),
        )
        schedule.append((k, target))
        history.append(masks)
        accs.append(accuracy(spec, params, split.x_test, split.y_test))
    one_shot = prune_model(model, seed, "global_unstructured", final_sparsity).accuracy
    return GradualResult(
        model, final_sparsity, tuple(schedule), tuple(accs), one_shot, accs[-1], tuple(history)
    )
