"""Post-training quantisation (PTQ), quantisation-aware training (QAT) and integer-only inference.

Stages:
  1. weights: every dense/conv weight is fake-quantised (quantise then dequantise) to ``qintN``
     symmetric, per output channel or per tensor; biases stay float (real int8 kernels keep them
     as int32 at scale s_in * s_w, which is exact enough to ignore here);
  2. activations, at the input of every dense/conv layer (:func:`ptq`):
       ``weights``  float activations (weight-only quantisation);
       ``dynamic``  quantised at run time with each tensor's own min/max (torch dynamic quant);
       ``static``   ranges fixed beforehand by an observer run on ``calib_batches`` training
                    batches (calibration), quintN affine per tensor;
  3. QAT (:func:`qat`): fine-tune the trained float weights for a few epochs while the forward
     pass sees fake-quantised weights; the clip range is the ``clip_percentile`` of |w| per layer,
     recomputed every epoch; the backward pass uses the straight-through estimator: the gradient
     passes unchanged where the weight lies inside the clip range and is zeroed outside
     (:func:`engine.compression.quant.ste_mask`), as torch's FakeQuantize does;
  4. :func:`compare_observers` runs every observer on one tensor of a trained model (or a
     synthetic one: outlier, constant, all zeros) for the page.
Integer-only inference of a layer lives in :mod:`engine.compression.quant.integer`.
Not handled: activation fake-quant during QAT training (the engine has no rounding op to
differentiate), per-channel activation scales, bias quantisation error.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ...core.errors import EngineError
from ..datasets import digits
from ..models import Layer, ModelSpec, accuracy, forward, model_spec
from .observers import fake_quant, observe, qparams, qparams_from_range, ste_mask

MODES = ("weights", "dynamic", "static")


def _bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or not 2 <= int(bits) <= 8:
        raise EngineError(f"bit width {bits!r} must be a whole number from 2 to 8")
    return int(bits)


def quantize_weights(
    spec: ModelSpec, params: dict, bits: int = 8, per_channel: bool = True, clip: dict | None = None
) -> dict:
    """Weights fake-quantised to qint{bits} symmetric (per output channel or per tensor).

    ``clip`` maps a layer name to an absolute clip value (used by QAT); default: min-max.
    """
    dtype = f"qint{_bits(bits)}"
    out = dict(params)
    for ly in spec.weighted:
        w = params[f"{ly.name}.w"]
        axis = _out_axis(ly) if per_channel else None
        if clip and ly.name in clip:
            c = np.float32(clip[ly.name])
            s, z = qparams_from_range(-c, c, dtype, "symmetric")
            axis = None
        else:
            s, z = qparams(w, dtype, "symmetric", axis=axis)
        out[f"{ly.name}.w"] = fake_quant(w, s, z, dtype, axis=axis)
    return out


def _out_axis(ly: Layer) -> int:
    return 0 if ly.kind == "conv" else 1  # dense weights are (in, out)


def weight_bytes(spec: ModelSpec, bits: int = 32) -> int:
    """Bytes of all weights at ``bits`` each plus float32 biases and one float32 scale per channel."""
    total = 0
    for key, shape in spec.param_shapes().items():
        n = int(np.prod(shape))
        if key.endswith(".w") and bits < 32:
            channels = shape[0] if len(shape) == 4 else shape[1]
            total += math.ceil(n * bits / 8) + 4 * channels
        else:
            total += 4 * n
    return total


def _act_hook(spec: ModelSpec, bits: int, mode: str, ranges: dict | None):
    dtype = f"quint{bits}"

    def hook(i: int, ly: Layer, h: np.ndarray) -> np.ndarray:
        if ly.kind not in ("dense", "conv") or mode == "weights":
            return h
        if mode == "dynamic":
            s, z = qparams(h, dtype, "affine")
        else:
            lo, hi = ranges[i]
            s, z = qparams_from_range(lo, hi, dtype, "affine")
        return fake_quant(h, s, z, dtype)

    return hook


def _check_batches(batches) -> None:
    if isinstance(batches, bool) or not isinstance(batches, int) or not 1 <= batches <= 256:
        raise EngineError(f"calibration batches = {batches!r} must be a whole number 1 .. 256")


def calibrate(
    spec: ModelSpec,
    params: dict,
    x: np.ndarray,
    observer: str = "minmax",
    bits: int = 8,
    batches: int = 8,
    batch: int = 64,
) -> dict[int, tuple[float, float]]:
    """Observed range of the input of every weighted layer, over ``batches`` calibration batches."""
    seen: dict[int, list[np.ndarray]] = {}
    _check_batches(batches)

    def record(i, ly, h):
        if ly.kind in ("dense", "conv"):
            seen.setdefault(i, []).append(np.array(h))
        return h

    for k in range(batches):
        chunk = x[k * batch : (k + 1) * batch]
        if len(chunk):
            forward(spec, params, chunk, record)
    ranges = {}
    for i, hs in seen.items():
        o = observe(
            hs if observer == "moving_average" else np.concatenate(hs), observer, f"quint{bits}", "affine"
        )
        ranges[i] = (float(o.min_val), float(o.max_val))
    return ranges


@dataclass(frozen=True)
class PTQResult:
    model: str
    bits: int
    mode: str
    observer: str
    accuracy: float
    fp32_accuracy: float
    weight_bytes: int
    fp32_bytes: int
    ranges: tuple[tuple[str, float, float], ...]  # (layer, lo, hi) for static mode


@functools.lru_cache(maxsize=256)
def ptq(
    model: str = "mlp",
    seed: int = 0,
    bits: int = 8,
    mode: str = "static",
    observer: str = "minmax",
    per_channel: bool = True,
    calib_batches: int = 8,
) -> PTQResult:
    """Accuracy of the trained ``model`` after post-training quantisation (see stages 1-2)."""
    from ..training import train_model

    bits = _bits(bits)
    if mode not in MODES:
        raise EngineError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    _check_batches(calib_batches)
    spec, trained = model_spec(model), train_model(model, seed)
    split = digits(seed)
    qw = quantize_weights(spec, trained.params, bits, per_channel)
    ranges = (
        calibrate(spec, trained.params, split.x_train, observer, bits, calib_batches)
        if mode == "static"
        else None
    )
    acc = accuracy(spec, qw, split.x_test, split.y_test, _act_hook(spec, bits, mode, ranges))
    named = tuple((spec.layers[i].name, lo, hi) for i, (lo, hi) in (ranges or {}).items())
    return PTQResult(
        model,
        bits,
        mode,
        observer,
        acc,
        trained.test_accuracy,
        weight_bytes(spec, bits),
        weight_bytes(spec),
        named,
    )


@dataclass(frozen=True)
class QATResult:
    model: str
    bits: int
    epochs: int
    ptq_accuracy: float  # weights quantised, no fine-tuning (same clip)
    qat_accuracy: float
    fp32_accuracy: float
    losses: tuple[float, ...]
    masked_fraction: float  # share of weight gradients the STE zeroed (last epoch)
    clips: tuple[tuple[str, float], ...]


def _clips(spec: ModelSpec, params: dict, pct: float) -> dict[str, float]:
    return {ly.name: float(np.percentile(np.abs(params[f"{ly.name}.w"]), pct)) for ly in spec.weighted}


@functools.lru_cache(maxsize=64)
def qat(
    model: str = "mlp",
    seed: int = 0,
    bits: int = 4,
    epochs: int = 3,
    clip_percentile: float = 99.0,
    lr: float = 0.001,
) -> QATResult:
    """Fine-tune the trained model with fake-quantised weights and the STE (stage 3)."""
    from ..training import check_epochs, fit, train_model

    bits = _bits(bits)
    if not 50 < clip_percentile <= 100:
        raise EngineError(f"clip percentile {clip_percentile} must lie in (50, 100]")
    spec = model_spec(model)
    split = digits(seed)
    check_epochs(epochs, split, f"QAT of {model} for {epochs} epochs")
    trained = train_model(model, seed)
    dtype = f"qint{bits}"
    params = {k: np.array(v) for k, v in trained.params.items()}
    clips = _clips(spec, params, clip_percentile)
    ptq_acc = accuracy(spec, quantize_weights(spec, params, bits, clip=clips), split.x_test, split.y_test)
    losses, masked = [], 0.0
    for epoch in range(epochs):
        clips = _clips(spec, params, clip_percentile)
        view = functools.partial(quantize_weights, spec, bits=bits, clip=clips)

        def grad_mask(p, clips=clips):
            masks = {}
            for name, c in clips.items():
                s, z = qparams_from_range(-np.float32(c), np.float32(c), dtype, "symmetric")
                masks[f"{name}.w"] = ste_mask(p[f"{name}.w"], s, z, dtype)
            return masks

        params, ep_losses = fit(
            spec, params, split, 1, lr, seed + 101 * (epoch + 1), view=view, grad_mask=grad_mask
        )
        losses += ep_losses
        m = grad_mask(params)
        masked = 1.0 - float(sum(v.sum() for v in m.values()) / sum(v.size for v in m.values()))
    final = quantize_weights(spec, params, bits, clip=_clips(spec, params, clip_percentile))
    return QATResult(
        model,
        bits,
        epochs,
        ptq_acc,
        accuracy(spec, final, split.x_test, split.y_test),
        trained.test_accuracy,
        tuple(losses),
        masked,
        tuple(sorted(clips.items())),
    )


def bitwidth_sweep(
    model: str = "mlp",
    seed: int = 0,
    observer: str = "minmax",
    bits_list: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2),
) -> list[dict]:
    """Accuracy per bit width for weight-only, dynamic and static PTQ (rows for a chart)."""
    rows = []
    for b in bits_list:
        for mode in MODES:
            r = ptq(model, seed, b, mode, observer)
            rows.append(
                {
                    "bits": b,
                    "mode": mode,
                    "accuracy": r.accuracy,
                    "fp32_accuracy": r.fp32_accuracy,
                    "weight_bytes": r.weight_bytes,
                }
            )
    return rows


# -- tensors of the trained models, for the observer comparison -----------------------------------
SYNTHETIC = ("synthetic:gaussian+outlier", "synthetic:constant", "synthetic:zeros")


def tensor_names(model: str = "mlp") -> list[str]:
    """'weights:<layer>' and 'activations:<layer>' (the input of that layer) for every layer, then
    synthetic tensors: 10,000 N(0, 1) values plus one outlier at 12, a constant 0.7, all zeros."""
    spec = model_spec(model)
    return [f"{kind}:{ly.name}" for ly in spec.weighted for kind in ("weights", "activations")] + list(
        SYNTHETIC
    )


def _synthetic(name: str) -> np.ndarray:
    if name == "synthetic:gaussian+outlier":
        g = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
        return np.concatenate([g, np.float32([12.0])]).reshape(-1, 1)
    return np.full((1000, 1), 0.7 if name == "synthetic:constant" else 0.0, np.float32)


def model_tensor(
    model: str = "mlp", seed: int = 0, name: str = "weights:fc1", n_images: int = 256
) -> np.ndarray:
    """A weight tensor, or a layer's input activations on ``n_images`` training images."""
    from ..training import train_model

    if name not in tensor_names(model):
        raise EngineError(
            f"{name!r} is not a tensor of {model!r}; choose one of: {', '.join(tensor_names(model))}"
        )
    if name in SYNTHETIC:
        return _synthetic(name)
    kind, layer = name.split(":")
    trained = train_model(model, seed)
    if kind == "weights":
        return np.array(trained.params[f"{layer}.w"])
    spec = model_spec(model)
    idx = next(i for i, ly in enumerate(spec.layers) if ly.name == layer)
    got = {}

    def grab(i, ly, h):
        if i == idx:
            got["h"] = np.array(h)
        return h

    forward(spec, trained.params, digits(seed).x_train[:n_images], grab)
    return got["h"]


def compare_observers(
    model: str = "mlp",
    seed: int = 0,
    name: str = "weights:fc1",
    dtype: str = "qint8",
    scheme: str = "symmetric",
    reduce_range: bool = False,
    percentile: float = 99.9,
    per_channel: bool = False,
) -> tuple[np.ndarray, dict, dict]:
    """(values, {method: Observation}, {method: why it refused}) — every observer on the same
    tensor (the moving average walks it in 8 chunks, as it would walk calibration batches).
    ``per_channel`` (weights only) gives one range per output channel: axis 1 of a dense
    (in, out) weight, axis 0 of a conv. An observer that cannot handle the tensor (the entropy and
    MSE observers on all zeros) is listed with its reason; if none can, the first reason is raised."""
    x = model_tensor(model, seed, name)
    axis = None
    if per_channel:
        if not name.startswith("weights:"):
            raise EngineError(
                "per-channel ranges are for weights; an activation tensor gets one "
                "range per tensor (its channels change with every input)"
            )
        axis = 0 if x.ndim == 4 else 1
    out, refused = {}, {}
    for method in ("minmax", "moving_average", "percentile", "mse", "entropy"):
        data = x if method != "moving_average" else _chunks(x, axis)
        try:
            out[method] = observe(
                data,
                method,
                dtype,
                scheme,
                reduce_range,
                axis=None if axis is None else (0 if method == "moving_average" else axis),
                percentile=percentile,
            )
        except EngineError as exc:
            refused[method] = str(exc)
    if not out:
        raise EngineError(next(iter(refused.values())))
    return x, out, refused


def _chunks(x: np.ndarray, axis: int | None, n: int = 8) -> list[np.ndarray]:
    if axis is None:
        flat = x.ravel()
        return list(np.array_split(flat, min(n, flat.size)))
    rows = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    return list(np.array_split(rows, min(n, rows.shape[1]), axis=1))
