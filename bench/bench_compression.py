"""Compression-lab benchmarks: training time of the MLP and CNN per seed (engine autodiff), the
distillation lab's retrain at a temperature not seen before, observer calibration time on 100k
values, TensorRT-style entropy calibration alone, PTQ vs torch's observer."""

from __future__ import annotations

import numpy as np

from bench.run import median_time
from engine.compression import distill
from engine.compression.datasets import digits
from engine.compression.models import init_params, model_spec
from engine.compression.quant import abs_histogram, entropy_amax, observe
from engine.compression.training import DEFAULT_EPOCHS, fit


def _train_time(name: str, seed: int) -> float:
    spec, split = model_spec(name), digits(seed)
    return median_time(
        lambda: fit(spec, init_params(spec, seed), split, DEFAULT_EPOCHS[name], 0.01, seed),
        repeat=1,
        warmup=0,
    )


def _torch_minmax_time(x: np.ndarray) -> float:
    import torch
    from torch.ao.quantization import MinMaxObserver

    t = torch.from_numpy(x)
    obs = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)

    def go():
        obs.reset_min_max_vals()
        obs(t)
        obs.calculate_qparams()

    return median_time(go, repeat=7)


def run() -> list[dict]:
    rows = []
    for name in ("mlp", "cnn"):
        times = [_train_time(name, s) for s in (0, 1)]
        rows.append(
            dict(
                name=f"train {name} ({DEFAULT_EPOCHS[name]} epochs, engine autodiff)",
                value=float(np.median(times)),
                unit="s",
                target="< 5",
                note="per seed, median of seeds 0 and 1; Adam, batch 64, 1,437 images",
            )
        )
    distill.kd_over_seeds((0, 1, 2), 4.0, 0.7)  # teachers and students alone: trained once, cached
    new_t = [median_time(lambda t=t: distill.kd_over_seeds((0, 1, 2), t, 0.7), 1, 0) for t in (4.5, 5, 5.5)]
    rows.append(
        dict(
            name="distillation lab: students at an unseen T (3 seeds)",
            value=float(np.median(new_t)),
            unit="s",
            target="",
            note="what one move of the lab's temperature slider computes; median of T = 4.5, 5, 5.5",
        )
    )
    x = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    for method in ("minmax", "moving_average", "percentile", "mse", "entropy"):
        data = list(np.array_split(x, 10)) if method == "moving_average" else x
        t = median_time(lambda d=data, m=method: observe(d, m, "qint8", "symmetric"), repeat=3)
        rows.append(
            dict(
                name=f"observer {method}, 100k values",
                value=t * 1e3,
                unit="ms",
                target="< 500",
                note="per tensor, qint8 symmetric",
            )
        )
    hist, edges = abs_histogram(x)
    t_kl = median_time(lambda: entropy_amax(hist, edges), repeat=3)
    rows.append(
        dict(
            name="entropy calibration: KL search over 1,921 thresholds (2048 bins)",
            value=t_kl * 1e3,
            unit="ms",
            target="< 500",
            note="histogram already built",
        )
    )
    t_ours = median_time(lambda: observe(x, "minmax", "qint8", "symmetric"), repeat=7)
    import torch

    torch.set_num_threads(1)
    rows.append(
        dict(
            name="min-max observer / torch MinMaxObserver, 100k values",
            value=t_ours / _torch_minmax_time(x),
            unit="x",
            target="<= 3",
            note="same scale and zero point (tested)",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
