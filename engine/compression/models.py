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
  4. :func:`lowrank_spec` replaces one dense layer by two thinner ones (for SVD compression).
The Pareto view of every compressed variant is in :mod:`engine.compression.lab`.
Layout: dense weights are (in, out) and compute ``x @ W + b``; conv weights are (Cout, Cin, 3, 3)
with padding 1 (NCHW).
Not handled: batchnorm, residual connections, anything but a straight chain of layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import EngineError, ShapeError
from ..core.ir import Graph, GraphBuilder
from ..core.registry import get_op


@dataclass(frozen=True)
class Layer:
    kind: str  # dense | conv | relu | maxpool | flatten
    name: str = ""  # parameter prefix for dense / conv
    shape: tuple[int, ...] = ()  # weight shape for dense / conv
    bias: bool = True


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, ...]  # one sample, e.g. (64,) or (1, 8, 8)
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
    return ModelSpec(
        name, (64,), (Layer("dense", "fc1", (64, hidden)), Layer("relu"), Layer("dense", "fc2", (hidden, 10)))
    )


MODELS: dict[str, ModelSpec] = {
    "mlp": _mlp("mlp", 32),
    "cnn": ModelSpec(
        "cnn",
        (1, 8, 8),
        (
            Layer("conv", "conv1", (8, 1, 3, 3)),
            Layer("relu"),
            Layer("maxpool"),
            Layer("flatten"),
            Layer("dense", "fc1", (128, 10)),
        ),
    ),
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
            raise ShapeError(
                f"parameter {key!r} has shape {list(np.shape(params[key]))}; model "
                f"{spec.name!r} needs {list(shape)}"
            )


# -- graph --------------------------------------------------------------------------------------
def add_layers(b: GraphBuilder, spec: ModelSpec, x: str, params: dict | None = None) -> str:
    """Append the spec's layers to builder ``b`` after node ``x``; returns the logits ref."""
    h = x
    for ly in spec.layers:
        if ly.kind in ("dense", "conv"):
            w = b.param(
                ly.shape, name=f"{ly.name}.w", value=None if params is None else params[f"{ly.name}.w"]
            )
            if ly.kind == "dense":
                h = b.op("matmul", h, w)
            else:
                h = b.op("conv2d", h, w, pad=1)
            if ly.bias:
                bshape = (ly.shape[0],) if ly.kind == "conv" else (ly.shape[1],)
                bias = b.param(
                    bshape,
                    name=f"{ly.name}.b",
                    init="zeros",
                    value=None if params is None else params[f"{ly.name}.b"],
                )
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


def accuracy(spec: ModelSpec, params: dict, x: np.ndarray, y: np.ndarray, hook: Hook | None = None) -> float:
    return float(np.mean(np.argmax(forward(spec, params, x, hook), axis=1) == y))


# -- low rank ---------------------------------------------------------------------------------
def lowrank_spec(spec: ModelSpec, layer: str, rank: int) -> ModelSpec:
    """``spec`` with dense layer ``layer`` (in, out) split into (in, rank) then (rank, out)+bias."""
    layers = []
    found = False
    for ly in spec.layers:
        if ly.kind == "dense" and ly.name == layer:
            found = True
            layers += [
                Layer("dense", f"{layer}_u", (ly.shape[0], rank), bias=False),
                replace(ly, name=f"{layer}_v", shape=(rank, ly.shape[1])),
            ]
        else:
            layers.append(ly)
    if not found:
        names = ", ".join(ly.name for ly in spec.weighted if ly.kind == "dense")
        raise EngineError(f"model {spec.name!r} has no dense layer {layer!r} (dense layers: {names})")
    return ModelSpec(f"{spec.name}-{layer}-r{rank}", spec.input_shape, tuple(layers))
