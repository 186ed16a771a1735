"""The small models of the compression lab, as layer lists that become engine Graphs.

Stages:
  1. a :class:`ModelSpec` is a tuple of layers (dense, conv, relu, maxpool, flatten) with the
     weight shapes; parameters live in a plain dict ``{"fc1.w": array, "fc1.b": array, ...}``;
  2. :func:`build_graph` turns a spec into an :class:`~engine.core.ir.Graph` for a fixed batch size —
     training differentiates it with :func:`engine.grad`, :func:`engine.cost` counts its FLOPs and
     bytes, :func:`engine.run` evaluates it;
  3. :func:`forward` runs the same layers with the registry's own kernels, one layer at a time,
     with a hook between layers — that is where observers watch activations and fake quantisation
     is inserted (a test checks it equals ``engine.run`` of the graph);
  4. :func:`lowrank_spec` replaces one dense layer by two thinner ones (for SVD compression);
  5. the Pareto view (:func:`lab_variants`): every compressed variant with its test accuracy, its
     size in bytes (weights at their bit width + per-channel scales; sparse: kept values + 1 bit
     per weight of index) and a latency estimate (:func:`estimate_latency`: a roofline per graph
     node on a hardware preset of engine.roofline), then :func:`mark_pareto` flags the
     non-dominated ones.
Layout: dense weights are (in, out) and compute ``x @ W + b``; conv weights are (Cout, Cin, 3, 3)
with padding 1 (NCHW).
Not handled: batchnorm, residual connections, anything but a straight chain of layers; the latency
model ignores caches, kernel launch and framework overhead (it is a lower bound, for comparing
variants, not a prediction of wall time).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..core.errors import EngineError, ShapeError
from ..core.ir import Graph, GraphBuilder
from ..core.registry import get_op


@dataclass(frozen=True)
class Layer:
    kind: str                     # dense | conv | relu | maxpool | flatten
    name: str = ""                # parameter prefix for dense / conv
    shape: tuple[int, ...] = ()   # weight shape for dense / conv
    bias: bool = True


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, ...]   # one sample, e.g. (64,) or (1, 8, 8)
    layers: tuple[Layer, ...]

    @property
    def weighted(self) -> list[Layer]:
        return [ly for ly in self.layers if ly.kind in ("dense", "conv")]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for ly in self.weighted:
            out[f"{ly.name}.w"] = ly.shape
            if ly.bias:
                out[f"{ly.name}.b"] = (ly.shape[0] if ly.kind == "conv" else ly.shape[1],)
        return out

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.param_shapes().values()))


def _mlp(name: str, hidden: int) -> ModelSpec:
    return ModelSpec(name, (64,), (Layer("dense", "fc1", (64, hidden)), Layer("relu"),
                                   Layer("dense", "fc2", (hidden, 10))))


MODELS: dict[str, ModelSpec] = {
    "mlp": _mlp("mlp", 32),
    "cnn": ModelSpec("cnn", (1, 8, 8), (Layer("conv", "conv1", (8, 1, 3, 3)), Layer("relu"),
                                        Layer("maxpool"), Layer("flatten"),
                                        Layer("dense", "fc1", (128, 10)))),
    "teacher": _mlp("teacher", 128),
    "student": _mlp("student", 8),
}


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise EngineError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def init_params(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """He-normal weights (std sqrt(2 / fan_in)), zero biases, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    params = {}
    for key, shape in spec.param_shapes().items():
        if key.endswith(".b"):
            params[key] = np.zeros(shape, np.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return params


def check_params(spec: ModelSpec, params: dict) -> None:
    for key, shape in spec.param_shapes().items():
        if key not in params:
            raise EngineError(f"model {spec.name!r} needs parameter {key!r}, which is missing")
        if tuple(np.shape(params[key])) != tuple(shape):
            raise ShapeError(f"parameter {key!r} has shape {list(np.shape(params[key]))}; model "
                             f"{spec.name!r} needs {list(shape)}")


# -- graph --------------------------------------------------------------------------------------
def add_layers(b: GraphBuilder, spec: ModelSpec, x: str, params: dict | None = None) -> str:
    """Append the spec's layers to builder ``b`` after node ``x``; returns the logits ref."""
    h = x
    for ly in spec.layers:
        if ly.kind in ("dense", "conv"):
            w = b.param(ly.shape, name=f"{ly.name}.w",
                        value=None if params is None else params[f"{ly.name}.w"])
            if ly.kind == "dense":
                h = b.op("matmul", h, w)
            else:
                h = b.op("conv2d", h, w, pad=1)
            if ly.bias:
                bshape = (ly.shape[0],) if ly.kind == "conv" else (ly.shape[1],)
                bias = b.param(bshape, name=f"{ly.name}.b", init="zeros",
                               value=None if params is None else params[f"{ly.name}.b"])
                if ly.kind == "conv":
                    bias = b.op("reshape", bias, shape=(1, ly.shape[0], 1, 1))
                h = b.op("add", h, bias)
        elif ly.kind == "relu":
            h = b.op("relu", h)
        elif ly.kind == "maxpool":
            h = b.op("maxpool", h, kernel=2)
        elif ly.kind == "flatten":
            h = b.op("flatten", h)
        else:
            raise EngineError(f"unknown layer kind {ly.kind!r}")
    return h


def build_graph(spec: ModelSpec, batch: int, params: dict | None = None) -> Graph:
    """Inference graph ``x -> logits`` for ``batch`` samples (params become ``param`` nodes)."""
    if not isinstance(batch, int) or not 1 <= batch <= 4096:
        raise EngineError(f"batch = {batch!r} must be a whole number 1 .. 4096")
    b = GraphBuilder(f"{spec.name} (batch {batch})")
    x = b.input((batch, *spec.input_shape), name="x")
    logits = add_layers(b, spec, x, params)
    b.bind("logits", logits)
    return b.build([logits])


# -- layer-by-layer forward -------------------------------------------------------------------
Hook = Callable[[int, Layer, np.ndarray], np.ndarray]


def _kernel(op: str, xs: list[np.ndarray], **attrs) -> np.ndarray:
    d = get_op(op)
    return d.kernel(xs, {**d.attrs, **attrs})


def layer_forward(ly: Layer, h: np.ndarray, params: dict) -> np.ndarray:
    if ly.kind == "dense":
        out = _kernel("matmul", [h, params[f"{ly.name}.w"]])
    elif ly.kind == "conv":
        out = _kernel("conv2d", [h, params[f"{ly.name}.w"]], pad=1)
    elif ly.kind == "relu":
        return np.maximum(h, 0)
    elif ly.kind == "maxpool":
        return _kernel("maxpool", [h], kernel=2)
    elif ly.kind == "flatten":
        return h.reshape(len(h), -1)
    else:
        raise EngineError(f"unknown layer kind {ly.kind!r}")
    if ly.bias:
        b = params[f"{ly.name}.b"]
        out = out + (b[None, :, None, None] if ly.kind == "conv" else b)
    return out.astype(np.float32, copy=False)


def one_blas_thread():
    """Small matmuls run fastest on one BLAS thread (and a shared 2-core machine stays usable)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: only a speed-up
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def forward(spec: ModelSpec, params: dict, x: np.ndarray, hook: Hook | None = None) -> np.ndarray:
    """Logits of ``x`` (n, *input_shape); ``hook(i, layer, value)`` may replace each layer's input."""
    check_params(spec, params)
    h = np.asarray(x, np.float32).reshape((-1, *spec.input_shape))
    with one_blas_thread():
        for i, ly in enumerate(spec.layers):
            if hook is not None:
                h = hook(i, ly, h)
            h = layer_forward(ly, h, params)
    return h


def accuracy(spec: ModelSpec, params: dict, x: np.ndarray, y: np.ndarray,
             hook: Hook | None = None) -> float:
    return float(np.mean(np.argmax(forward(spec, params, x, hook), axis=1) == y))


# -- low rank ---------------------------------------------------------------------------------
def lowrank_spec(spec: ModelSpec, layer: str, rank: int) -> ModelSpec:
    """``spec`` with dense layer ``layer`` (in, out) split into (in, rank) then (rank, out)+bias."""
    layers = []
    found = False
    for ly in spec.layers:
        if ly.kind == "dense" and ly.name == layer:
            found = True
            layers += [Layer("dense", f"{layer}_u", (ly.shape[0], rank), bias=False),
                       replace(ly, name=f"{layer}_v", shape=(rank, ly.shape[1]))]
        else:
            layers.append(ly)
    if not found:
        names = ", ".join(ly.name for ly in spec.weighted if ly.kind == "dense")
        raise EngineError(f"model {spec.name!r} has no dense layer {layer!r} (dense layers: {names})")
    return ModelSpec(f"{spec.name}-{layer}-r{rank}", spec.input_shape, tuple(layers))


# -- size, latency and the Pareto view ---------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    name: str
    family: str            # fp32 | ptq | qat | pruned | 2:4 | lowrank | kd
    accuracy: float
    size_bytes: int
    latency_us: float
    flops: int
    note: str = ""
    pareto: bool = False


#: int8 MACs per cycle relative to fp32 on the assumed phone CPU: one Arm SDOT instruction does
#: 16 int8 MACs where one fp32 FMA on the same 128-bit register does 4 (an assumption: 4x).
INT_SPEEDUP = 4.0


def estimate_latency(spec: ModelSpec, hardware: str = "Phone CPU (assumed)", bits: int = 32,
                     flop_fraction: float = 1.0, weight_fraction: float = 1.0) -> tuple[float, int]:
    """(microseconds, FLOPs) for one image: sum over graph nodes of the roofline time.

    Each node of :func:`build_graph` (batch 1) takes max(FLOPs / peak, bytes / bandwidth) on the
    preset (engine.roofline): peak is the preset's fp32 FLOP/s (x INT_SPEEDUP below 16 bits),
    bytes are engine.cost's reads + writes scaled by bits/32; ``flop_fraction`` and
    ``weight_fraction`` scale the matmul work and weight bytes (2:4 sparsity: 0.5).
    """
    from ..core.cost_model import cost
    from ..kernels.roofline_model import hardware_presets
    presets = hardware_presets()
    if hardware not in presets:
        raise EngineError(f"unknown hardware {hardware!r}; choose one of: {', '.join(presets)}")
    hw = presets[hardware]
    peak = (hw.peak_fp32 or hw.peak_flops / 2) * (INT_SPEEDUP if bits < 16 else 1.0)
    report = cost(build_graph(spec, 1))
    total, flops = 0.0, 0
    for n in report.nodes:
        heavy = n.op in ("matmul", "conv2d")
        f = n.flops * (flop_fraction if heavy else 1.0)
        weight_bytes = 4 * n.params * (weight_fraction if heavy else 1.0)
        moved = (n.bytes_read - 4 * n.params + weight_bytes + n.bytes_written) * bits / 32
        total += max(f / peak, moved / hw.bandwidth)
        flops += int(f)
    return total * 1e6, flops


def mark_pareto(variants: list[Variant]) -> list[Variant]:
    """Flag the variants no other variant beats on accuracy, size and latency at once."""
    out = []
    for v in variants:
        dominated = any(o is not v and o.accuracy >= v.accuracy and o.size_bytes <= v.size_bytes
                        and o.latency_us <= v.latency_us and (o.accuracy, o.size_bytes, o.latency_us)
                        != (v.accuracy, v.size_bytes, v.latency_us) for o in variants)
        out.append(replace(v, pareto=not dominated))
    return out


def _sparse_bytes(spec: ModelSpec, density: float) -> int:
    """Unstructured sparse storage: kept weights (fp32) + a 1-bit-per-weight bitmap + biases."""
    total = 0
    for key, shape in spec.param_shapes().items():
        n = int(np.prod(shape))
        total += int(4 * n * density + (n + 7) // 8) if key.endswith(".w") else 4 * n
    return total


def lab_variants(model: str = "mlp", seed: int = 0,
                 hardware: str = "Phone CPU (assumed)") -> list[Variant]:
    """Every variant the compression lab produces for ``model``, with accuracy, bytes and latency."""
    from .distill import distill
    from .lowrank import lowrank_sweep
    from .prune import prune_model
    from .quant.qat import ptq, qat, weight_bytes
    from .training import train_model
    spec = model_spec(model)
    base = train_model(model, seed)
    lat32, fl32 = estimate_latency(spec, hardware)
    out = [Variant("fp32", "fp32", base.test_accuracy, weight_bytes(spec), lat32, fl32)]
    for bits in (8, 4):
        r = ptq(model, seed, bits, "static", "minmax")
        lat, fl = estimate_latency(spec, hardware, bits)
        out.append(Variant(f"PTQ int{bits}", "ptq", r.accuracy, r.weight_bytes, lat, fl,
                           "static, min-max calibration, per-channel weights"))
    for bits in (4, 2):
        q = qat(model, seed, bits)
        lat, fl = estimate_latency(spec, hardware, bits)
        out.append(Variant(f"QAT int{bits}", "qat", q.qat_accuracy, weight_bytes(spec, bits), lat,
                           fl, f"{q.epochs} epochs of fine-tuning with the STE"))
    for amount in (0.5, 0.7, 0.9):
        p = prune_model(model, seed, "global_unstructured", amount, 2)
        out.append(Variant(f"pruned {int(amount * 100)}%", "pruned", p.finetuned_accuracy,
                           _sparse_bytes(spec, 1 - p.sparsity), lat32, fl32,
                           "unstructured: no speed-up without sparse kernels (latency as fp32)"))
    p = prune_model(model, seed, "2:4", 0.5, 2)
    lat, fl = estimate_latency(spec, hardware, 32, 1 - p.sparsity, 1 - p.sparsity * 0.875)
    out.append(Variant("2:4 sparse", "2:4", p.finetuned_accuracy,
                       _sparse_bytes(spec, 1 - p.sparsity), lat, fl,
                       "2 of every 4 weights kept + 2-bit index each (sparse tensor cores: half the MACs)"))
    dense = [ly.name for ly in spec.weighted if ly.kind == "dense"][0]
    for row in lowrank_sweep(model, seed, dense):
        if row["rank"] in (2, 4, 8, 16):
            lspec = lowrank_spec(spec, dense, row["rank"])
            lat, fl = estimate_latency(lspec, hardware)
            out.append(Variant(f"low-rank {dense} r={row['rank']}", "lowrank", row["accuracy"],
                               4 * lspec.n_params(), lat, fl, "truncated SVD, no fine-tuning"))
    if model == "mlp":
        kd = distill(seed)
        sspec = model_spec("student")
        lat, fl = estimate_latency(sspec, hardware)
        out.append(Variant("KD student 64-8-10", "kd", kd.student_kd_accuracy, 4 * sspec.n_params(),
                           lat, fl, "distilled from the 64-128-10 teacher (T = 4, alpha = 0.7)"))
    return mark_pareto(out)
