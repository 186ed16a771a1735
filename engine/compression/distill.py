"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a big teacher's softened outputs train a small
student.

Stages:
  1. train the teacher (MLP 64-128-10) and keep its logits z_t on the training set;
  2. soften both distributions with a temperature T: p^T = softmax(z / T) — a larger T lifts the
     small probabilities ("dark knowledge": which wrong digits look alike);
  3. train the student (MLP 64-8-10) with
       L = a T^2 KL(p_t^T || p_s^T) + (1 - a) CE(y, p_s^1)
     (the T^2 keeps the soft term's gradient size comparable as T grows), using the engine's
     autodiff (:func:`engine.compression.training.fit` with a "kd" loss graph);
  4. compare against the same student trained on the hard labels alone, over several seeds
     (:func:`kd_over_seeds`), since one run's difference on 360 test images is within noise.
Not handled: intermediate-feature distillation, data augmentation, online/self distillation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..core.errors import EngineError
from .datasets import digits
from .models import accuracy, forward, init_params, model_spec
from .training import DEFAULT_EPOCHS, fit, soft_targets, train_model


@dataclass(frozen=True)
class KDResult:
    seed: int
    temperature: float
    alpha: float
    teacher_accuracy: float
    student_alone_accuracy: float
    student_kd_accuracy: float
    teacher_params: int
    student_params: int
    losses: tuple[float, ...]


def _check(temperature: float, alpha: float) -> None:
    if not 0.5 <= float(temperature) <= 50:
        raise EngineError(f"temperature T = {temperature} must lie in 0.5 .. 50")
    if not 0.0 <= float(alpha) <= 1.0:
        raise EngineError(f"alpha = {alpha} must lie between 0 (labels only) and 1 (teacher only)")


@functools.lru_cache(maxsize=128)
def distill(
    seed: int = 0, temperature: float = 4.0, alpha: float = 0.7, epochs: int | None = None
) -> KDResult:
    """Train the student from the teacher at (T, alpha) and compare with the student alone."""
    _check(temperature, alpha)
    teacher, alone = train_model("teacher", seed), train_model("student", seed, epochs)
    t_spec, s_spec = model_spec("teacher"), model_spec("student")
    split = digits(seed)
    z_t = forward(t_spec, teacher.params, split.x_train)
    epochs = DEFAULT_EPOCHS["student"] if epochs is None else epochs
    params, losses = fit(
        s_spec,
        init_params(s_spec, seed),
        split,
        epochs,
        0.01,
        seed,
        teacher_logits=z_t,
        temperature=float(temperature),
        alpha=float(alpha),
    )
    return KDResult(
        seed,
        float(temperature),
        float(alpha),
        teacher.test_accuracy,
        alone.test_accuracy,
        accuracy(s_spec, params, split.x_test, split.y_test),
        t_spec.n_params(),
        s_spec.n_params(),
        tuple(losses),
    )


def kd_over_seeds(
    seeds: tuple[int, ...] = (0, 1, 2), temperature: float = 4.0, alpha: float = 0.7
) -> list[dict]:
    """One row per seed: teacher, student alone, student with KD (test accuracy)."""
    if not 1 <= len(seeds) <= 10:
        raise EngineError(f"use 1 to 10 seeds, got {len(seeds)}")
    rows = []
    for s in seeds:
        r = distill(int(s), temperature, alpha)
        rows.append(
            {
                "seed": s,
                "teacher": r.teacher_accuracy,
                "student_alone": r.student_alone_accuracy,
                "student_kd": r.student_kd_accuracy,
            }
        )
    return rows


def softened(seed: int = 0, index: int = 0, temperatures: tuple[float, ...] = (1, 2, 4, 8, 16)) -> dict:
    """The teacher's distribution over the 10 digits for test image ``index`` at several T."""
    split = digits(seed)
    if not 0 <= index < len(split.x_test):
        raise EngineError(f"image index {index} must lie in 0 .. {len(split.x_test) - 1}")
    teacher = train_model("teacher", seed)
    z = forward(model_spec("teacher"), teacher.params, split.x_test[index : index + 1])
    return {
        "label": int(split.y_test[index]),
        "logits": z[0],
        "probs": {float(t): soft_targets(z, float(t))[0] for t in temperatures},
        "image": split.x_test[index].reshape(8, 8),
    }
