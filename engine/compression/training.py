"""Training the lab's small models with the engine's own reverse-mode autodiff (:func:`engine.grad`).

Stages of :func:`fit`:
  1. build the loss as a Graph once per (model, batch, loss kind): the model's layers, then a
     numerically stable log-softmax ``z - max z - log sum exp(z - max z)`` and
       cross-entropy  L = -mean_b sum_c y_bc log p_bc                                  (kind "ce")
       distillation   L = a T^2 KL(p_teacher^T || p_student^T) + (1 - a) CE(y, p_student)  ("kd")
     (Hinton et al. 2015; the T^2 keeps the soft term's gradient scale as T changes);
  2. every epoch shuffles the training set (generator seeded by ``seed``) and walks it in
     minibatches of ``batch`` (the last partial batch is dropped: the graph has a fixed batch);
  3. each step: ``view(params)`` gives the weights the forward pass uses (identity, or fake-quantised
     for QAT), one reverse sweep returns the loss and dL/dw for every parameter
     (:func:`engine.framework.autodiff.value_and_grad_fn`, made once per fit: the graph, the budget
     and the constants are checked there, not at every step), ``grad_mask`` may zero parts
     of it (the straight-through estimator's clip mask), Adam (Kingma & Ba 2015; b1 0.9, b2 0.999,
     eps 1e-8) updates the float weights, and ``after_step`` may project them (pruning masks);
  4. :func:`train_model` caches a trained model per (model, seed, epochs) with ``lru_cache``.
Budget: one request trains at most :data:`engine.core.budget.MAX_TRAIN_STEPS` steps, checked before
the first one (:func:`check_epochs` for callers that fit epoch by epoch).
Not handled: weight decay, learning-rate schedules, batchnorm statistics.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph, GraphBuilder
from ..framework.autodiff import value_and_grad_fn
from .datasets import Split, digits, one_hot
from .models import ModelSpec, accuracy, add_layers, check_params, init_params, model_spec, one_blas_thread

Params = dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class TrainResult:
    model: str
    seed: int
    params: Params
    losses: tuple[float, ...]  # mean training loss per epoch
    train_accuracy: float
    test_accuracy: float
    seconds: float
    steps: int = 0
    note: str = ""
    extra: dict = field(default_factory=dict)


def _log_softmax(b: GraphBuilder, z: str) -> str:
    m = b.op("reduce_max", z, axes=(1,), keepdims=1)
    shifted = b.op("sub", z, m)
    lse = b.op("log", b.op("reduce_sum", b.op("exp", shifted), axes=(1,), keepdims=1))
    return b.op("sub", shifted, lse)


def _mean_xent(b: GraphBuilder, target: str, logp: str) -> str:
    """-mean_b sum_c target * logp."""
    per = b.op("reduce_sum", b.op("mul", target, logp), axes=(1,))
    return b.op("neg", b.op("reduce_mean", per))


@functools.lru_cache(maxsize=32)
def loss_graph(
    spec: ModelSpec, batch: int, kind: str = "ce", temperature: float = 1.0, alpha: float = 0.0
) -> Graph:
    """The training loss as a Graph: inputs x, y (one-hot) [, p_t (teacher soft), h_t]; output loss."""
    b = GraphBuilder(f"{spec.name} {kind} loss")
    x = b.input((batch, *spec.input_shape), name="x")
    y = b.input((batch, 10), name="y")
    logits = add_layers(b, spec, x)
    ce = _mean_xent(b, y, _log_softmax(b, logits))
    if kind == "ce":
        loss = ce
    elif kind == "kd":
        pt = b.input((batch, 10), name="p_t")
        ht = b.input((), name="h_t")  # mean_b sum_c p_t log p_t (constant per batch)
        scaled = b.op("mul", logits, b.constant(np.float32(1.0 / temperature)))
        cross = _mean_xent(b, pt, _log_softmax(b, scaled))
        kl = b.op("add", cross, ht)
        loss = b.op(
            "add",
            b.op("mul", kl, b.constant(np.float32(alpha * temperature**2))),
            b.op("mul", ce, b.constant(np.float32(1.0 - alpha))),
        )
    else:
        raise EngineError(f"loss kind must be 'ce' or 'kd', got {kind!r}")
    b.bind("loss", loss)
    return b.build([loss])


def soft_targets(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T), row-wise, computed stably in float64."""
    if not temperature > 0:
        raise EngineError(f"temperature T = {temperature} must be positive")
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Adam:
    def __init__(self, params: Params, lr: float):
        self.lr, self.t = lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Params, grads: Params) -> Params:
        self.t += 1
        out = {}
        for k, w in params.items():
            g = grads[k]
            self.m[k] = 0.9 * self.m[k] + 0.1 * g
            self.v[k] = 0.999 * self.v[k] + 0.001 * g * g
            mh = self.m[k] / (1 - 0.9**self.t)
            vh = self.v[k] / (1 - 0.999**self.t)
            out[k] = (w - self.lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        return out


def fit(
    spec: ModelSpec,
    params: Params,
    split: Split,
    epochs: int,
    lr: float = 0.01,
    seed: int = 0,
    batch: int = 64,
    teacher_logits: np.ndarray | None = None,
    temperature: float = 4.0,
    alpha: float = 0.0,
    view: Callable[[Params], Params] | None = None,
    grad_mask: Callable[[Params], Params] | None = None,
    after_step: Callable[[int, Params], Params] | None = None,
) -> tuple[Params, list[float]]:
    """Train ``params`` of ``spec`` on ``split`` (see the module docstring); returns (params, losses)."""
    check_params(spec, params)
    with one_blas_thread():
        return _fit(
            spec,
            params,
            split,
            epochs,
            lr,
            seed,
            batch,
            teacher_logits,
            temperature,
            alpha,
            view,
            grad_mask,
            after_step,
        )


def _fit(
    spec,
    params,
    split,
    epochs,
    lr,
    seed,
    batch,
    teacher_logits,
    temperature,
    alpha,
    view,
    grad_mask,
    after_step,
):
    if not isinstance(epochs, int) or not 0 <= epochs <= 200:
        raise EngineError(f"epochs = {epochs!r} must be a whole number 0 .. 200")
    if not 0 < lr <= 1:
        raise EngineError(f"learning rate {lr} must lie in (0, 1]")
    x_all = split.x_train.reshape((-1, *spec.input_shape))
    n = len(x_all)
    steps_per_epoch = n // batch
    budget.check_train_steps(epochs * steps_per_epoch, f"training {spec.name} for {epochs} epochs")
    kd = teacher_logits is not None
    graph = loss_graph(spec, batch, "kd" if kd else "ce", float(temperature), float(alpha))
    y_all = one_hot(split.y_train)
    p_all = soft_targets(teacher_logits, temperature).astype(np.float32) if kd else None
    names = list(spec.param_shapes())
    params = {k: np.array(params[k], np.float32) for k in names}
    opt = Adam(params, lr)
    rng = np.random.default_rng(seed + 7919)
    fed = ["x", "y", *names, *(("p_t", "h_t") if kd else ())]
    # checked once (graph, budget, constants): every step feeds the same names and shapes
    value_and_grad = value_and_grad_fn(graph, graph.outputs[0], names, fed)
    losses, step = [], 0
    for _ in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * batch : (s + 1) * batch]
            used = view(params) if view else params
            feed = {"x": x_all[idx], "y": y_all[idx], **used}
            if kd:
                pt = p_all[idx]
                feed["p_t"] = pt
                feed["h_t"] = np.float32(np.mean(np.sum(pt * np.log(np.maximum(pt, 1e-30)), 1)))
            loss, g = value_and_grad(feed)  # the loss from the gradient's own forward sweep
            if grad_mask is not None:
                masks = grad_mask(params)
                g = {k: g[k] * masks[k] if k in masks else g[k] for k in names}
            params = opt.step(params, g)
            step += 1
            if after_step is not None:
                params = after_step(step, params)
            total += float(loss)
        losses.append(total / max(steps_per_epoch, 1))
    return params, losses


DEFAULT_EPOCHS = {"mlp": 15, "cnn": 10, "teacher": 15, "student": 15}


def steps_per_epoch(split: Split, batch: int = 64) -> int:
    """Optimiser steps of one epoch (the last partial batch is dropped)."""
    return len(split.x_train) // batch


def check_epochs(epochs: int, split: Split, what: str) -> None:
    """Refuse ``epochs`` epochs of training (spread over several fits) over the step budget."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise EngineError(f"epochs = {epochs!r} must be a whole number >= 0")
    budget.check_train_steps(epochs * steps_per_epoch(split), what)


@functools.lru_cache(maxsize=32)
def train_model(name: str, seed: int = 0, epochs: int | None = None, lr: float = 0.01) -> TrainResult:
    """Train model ``name`` ('mlp', 'cnn', 'teacher', 'student') on the digits split ``seed``."""
    spec = model_spec(name)
    epochs = DEFAULT_EPOCHS[name] if epochs is None else epochs
    split = digits(seed)
    t0 = time.perf_counter()
    params, losses = fit(spec, init_params(spec, seed), split, epochs, lr, seed)
    seconds = time.perf_counter() - t0
    for a in params.values():
        a.setflags(write=False)
    return TrainResult(
        name,
        seed,
        params,
        tuple(losses),
        accuracy(spec, params, split.x_train, split.y_train),
        accuracy(spec, params, split.x_test, split.y_test),
        seconds,
        epochs * (len(split.x_train) // 64),
    )
