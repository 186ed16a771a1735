"""Choosing a kernel per conv layer: a calibrated cost model, and measured times on this machine.

An inference engine has several kernels for one conv layer (:data:`engine.kernels.conv.ENGINE_ALGORITHMS`)
and must pick one per layer, either by a cost model (fast, can be wrong: cuDNN's
``cudnnGetConvolutionForwardAlgorithm``, MNN's Winograd-unit formula) or by timing each candidate
(slow, right for this machine: cuDNN's ``Find``, TensorRT's tactic timing). Stages:
  1. :func:`calibrate`: three micro-benchmarks on this machine (medians) give the model's constants:
     the float32 GEMM rate F (FLOP/s of a 512x512x512 matmul), the copy bandwidth B (bytes/s of a
     32 MiB copy, read + write) and the cost c of one numpy call (a 1-element add); everything here
     is timed on one BLAS thread (see :func:`one_blas_thread`);
  2. :func:`estimates`: per candidate kernel its FLOPs, bytes moved and numpy calls (formulas in
     :func:`_counts`), and the predicted time  t = FLOPs / F + bytes / B + calls * c  (the terms are
     added, not overlapped: numpy runs one call after another, each compute- or memory-bound);
  3. :func:`tune`: every candidate on every distinct layer shape, one warm-up call then ``repeats``
     timed calls, the median kept; layers beyond the time budget are left unmeasured (said so);
  4. per layer: the kernel the model predicts fastest and the one measured fastest, side by side.
The machine is shared: timings are noisy, hence medians. Not handled: dilated convolutions (they run
the interpreter's kernel), multi-threading choices, int8 kernels, layout changes between layers.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..kernels.conv_engine import engine_candidates, engine_conv

Clock = Callable[[], float]
MAX_TUNE_MACS = 20 * budget.MAX_WORK  # multiply-adds of one tuning run, all calls together


@dataclass(frozen=True)
class Machine:
    """The cost model's constants, measured on this machine (see stage 1)."""

    gemm_flops: float  # FLOP/s of a float32 matmul
    bandwidth: float  # bytes/s of a large copy (read + write)
    call_s: float  # seconds per numpy call
    source: str = "calibrated here, one BLAS thread: medians of a 512³ matmul, a 32 MiB copy, a 1-element add"


def one_blas_thread():
    """One BLAS thread while timing: on a shared 2-core machine a second BLAS thread mostly waits for
    a core, and the waits, not the kernels, would be measured (threadpoolctl; a no-op without it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: only steadier timings
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _median_time(fn, repeats: int, clock: Clock) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def calibrate(repeats: int = 5, clock: Clock = time.perf_counter) -> Machine:
    """Measure F, B and c (stage 1); about 0.2 s."""
    if not 1 <= repeats <= 20:
        raise EngineError(f"repeats must be from 1 to 20, got {repeats}")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 512, 512), dtype=np.float32)
    src, dst = np.ones(1 << 23, np.float32), np.empty(1 << 23, np.float32)
    one, out = np.ones(1, np.float32), np.empty(1, np.float32)

    def calls() -> None:
        for _ in range(1000):
            np.add(one, one, out=out)

    with one_blas_thread():
        flops = 2 * 512**3 / _median_time(lambda: a @ b, repeats, clock)
        bandwidth = 2 * src.nbytes / _median_time(lambda: np.copyto(dst, src), repeats, clock)
        return Machine(flops, bandwidth, _median_time(calls, repeats, clock) / 1000)


@dataclass(frozen=True)
class ConvLayer:
    """One conv2d node of a graph, with the shapes a kernel sees."""

    node: str
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: tuple[int, int]
    pad: tuple[int, int]
    groups: int
    bias: bool
    candidates: tuple[str, ...]

    @property
    def signature(self) -> tuple:
        return (self.x_shape, self.w_shape, self.stride, self.pad, self.groups)

    @property
    def macs(self) -> int:
        (sh, sw), (ph, pw) = self.stride, self.pad
        oh = (self.x_shape[2] + 2 * ph - self.w_shape[2]) // sh + 1
        ow = (self.x_shape[3] + 2 * pw - self.w_shape[3]) // sw + 1
        return self.x_shape[0] * self.w_shape[0] * oh * ow * int(np.prod(self.w_shape[1:]))

    def describe(self) -> str:
        k, cg, kh, kw = self.w_shape
        at = f"{self.x_shape[2]}x{self.x_shape[3]}"
        return f"{kh}x{kw}, {self.x_shape[1]}→{k}, s{self.stride[0]}, g{self.groups} @ {at}"


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def conv_layers(graph: Graph) -> tuple[ConvLayer, ...]:
    """Every conv2d node of ``graph`` as a :class:`ConvLayer` (with its candidate kernels)."""
    layers = []
    for n in graph.op_nodes:
        if n.op != "conv2d":
            continue
        x, w = graph.node(n.inputs[0]).shape, graph.node(n.inputs[1]).shape
        at = n.attr_dict
        stride, pad, groups = _pair(at.get("stride", 1)), _pair(at.get("pad", 0)), int(at.get("groups", 1))
        cands = engine_candidates(x, w, stride, pad, at.get("dilation", 1), groups)
        layers.append(ConvLayer(n.name, tuple(x), tuple(w), stride, pad, groups, len(n.inputs) > 2, cands))
    return tuple(layers)


@dataclass(frozen=True)
class Estimate:
    algorithm: str
    flops: int
    bytes: int
    calls: int
    seconds: float  # FLOPs / F + bytes / B + calls * c


def _counts(layer: ConvLayer, algorithm: str) -> tuple[int, int, int]:
    """(FLOPs, bytes moved, numpy calls) of one kernel on one layer (float32: 4 bytes an element)."""
    n, c, h, w = layer.x_shape
    k, cg, kh, kw = layer.w_shape
    (sh, sw), (ph, pw) = layer.stride, layer.pad
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    taps, out, weights, padded = (
        kh * kw,
        n * k * oh * ow,
        k * cg * kh * kw,
        n * c * (h + 2 * ph) * (w + 2 * pw),
    )
    pad_copy = 2 * padded if ph or pw else 0
    patch = n * c * oh * ow
    if algorithm == "winograd":
        th, tw = -(-oh // 2), -(-ow // 2)
        tiles = n * th * tw
        flops = 2 * 16 * tiles * k * c + tiles * c * 32 + tiles * k * 24
        elements = n * c * h * w + 2 * padded + 2 * 16 * tiles * c + 2 * 16 * tiles * k + 16 * k * c + 2 * out
        return flops, 4 * elements, 30
    flops = 2 * layer.macs
    if algorithm == "direct":  # per tap: copy the patch, read it in the GEMM, accumulate the output
        return flops, 4 * (pad_copy + taps * (3 * patch + 2 * out) + weights), 2 * taps + 2
    if algorithm == "im2col":  # write the columns tap by tap, read them once in the GEMM
        return flops, 4 * (pad_copy + taps * 2 * patch + taps * patch + weights + out), taps + 3
    return flops, 4 * (pad_copy + taps * (patch + 4 * out)), 3 * taps + 2  # depthwise


def estimates(layer: ConvLayer, machine: Machine) -> tuple[Estimate, ...]:
    """The cost model's prediction for every candidate kernel of ``layer`` (stage 2)."""
    out = []
    for alg in layer.candidates:
        flops, moved, calls = _counts(layer, alg)
        seconds = flops / machine.gemm_flops + moved / machine.bandwidth + calls * machine.call_s
        out.append(Estimate(alg, flops, moved, calls, seconds))
    return tuple(out)


@dataclass(frozen=True)
class Measured:
    algorithm: str
    median_s: float
    runs: tuple[float, ...]


@dataclass(frozen=True)
class Tuning:
    """Measured times per distinct layer shape (stage 3)."""

    times: tuple[tuple[tuple, tuple[Measured, ...]], ...]  # (layer signature, measurements)
    repeats: int
    seconds: float  # wall time of the whole tuning run
    skipped: int  # distinct shapes left unmeasured by the time budget

    def of(self, layer: ConvLayer) -> tuple[Measured, ...]:
        return dict(self.times).get(layer.signature, ())


def tune(graph: Graph, repeats: int = 3, budget_s: float = 8.0, clock: Clock = time.perf_counter) -> Tuning:
    """Time every candidate kernel of every distinct conv layer shape of ``graph`` (stage 3)."""
    if not 1 <= repeats <= 9:
        raise EngineError(f"repeats must be from 1 to 9, got {repeats}")
    if not 0 < budget_s <= 60:
        raise EngineError(f"the tuning time budget must be from 0 to 60 s, got {budget_s}")
    distinct = {layer.signature: layer for layer in conv_layers(graph) if layer.candidates}
    work = sum(layer.macs * len(layer.candidates) for layer in distinct.values()) * (repeats + 1)
    if work > MAX_TUNE_MACS:
        raise budget.BudgetError(
            f"timing every kernel of every conv layer needs {work:,} multiply-adds; "
            f"the limit is {MAX_TUNE_MACS:,}"
        )
    with one_blas_thread():
        return _tune(distinct, repeats, budget_s, clock)


def _tune(distinct: dict, repeats: int, budget_s: float, clock: Clock) -> Tuning:
    rng = np.random.default_rng(0)
    start, times, skipped = clock(), [], 0
    for sig, layer in distinct.items():
        if clock() - start > budget_s:
            skipped += 1
            continue
        x = rng.standard_normal(layer.x_shape, dtype=np.float32)
        w = rng.standard_normal(layer.w_shape, dtype=np.float32)
        w.setflags(write=False)  # like a loaded weight: Winograd keeps its transformed filter
        measured = []
        for alg in layer.candidates:
            call = lambda: engine_conv(x, w, None, layer.stride, layer.pad, layer.groups, alg)  # noqa: B023
            call()
            runs = []
            for _ in range(repeats):
                t0 = clock()
                call()
                runs.append(clock() - t0)
            measured.append(Measured(alg, statistics.median(runs), tuple(runs)))
        times.append((sig, tuple(measured)))
    return Tuning(tuple(times), repeats, clock() - start, skipped)


@dataclass(frozen=True)
class LayerChoice:
    """One layer: the model's estimates, the measured times, and the two picks (stage 4)."""

    layer: ConvLayer
    estimates: tuple[Estimate, ...]
    measured: tuple[Measured, ...]
    predicted: str  # fastest by the cost model
    fastest: str  # fastest measured ("" if not measured)
    chosen: str  # what the engine runs, by its policy


def choose(layers: tuple[ConvLayer, ...], machine: Machine, tuning: Tuning | None, policy: str):
    """Per layer the cost model's pick, the measured pick and the engine's choice by ``policy``."""
    out = []
    for layer in layers:
        if not layer.candidates:
            out.append(LayerChoice(layer, (), (), "", "", "reference"))
            continue
        est = estimates(layer, machine)
        measured = tuning.of(layer) if tuning is not None else ()
        predicted = min(est, key=lambda e: e.seconds).algorithm
        fastest = min(measured, key=lambda m: m.median_s).algorithm if measured else ""
        chosen = fastest if policy == "measured" and fastest else predicted
        out.append(LayerChoice(layer, est, measured, predicted, fastest, chosen))
    return tuple(out)
