"""Post-training quantisation of a whole graph: Q/DQ nodes around every matmul, gemm and conv2d.

:func:`quantize`, in stages:
  1. check the arguments; find the layers (matmul, gemm, conv2d) and their two operands (a conv's
     bias and a gemm's C stay float). An operand that is a ``param`` or ``constant`` is a *weight*;
     anything else (a graph input, a computed value) is an *activation*;
  2. check the budget before any work: the calibration runs (FLOPs x batches), the nodes added;
  3. calibrate: run the float graph on each calibration batch (or once on the seeded random inputs
     of ``seed`` when ``calibration`` is None; cached per graph and seed) and keep each activation's
     min and max over all batches (torch's MinMaxObserver);
  4. weights: read each weight (its value, or the draw of ``seed`` the interpreter would make), pick
     (scale, zero point) with :func:`engine.compression.quant.observers.qparams` — per tensor, or
     per output channel (conv2d weight axis 0, matmul's right operand its last axis, gemm's B axis
     1, or 0 with trans_b) — quantise it with the ``quantize_linear`` kernel (ONNX QuantizeLinear,
     which is :func:`~engine.compression.quant.observers.quantize` with ``rounding="divide"``) and
     store it as an int8/uint8 ``constant`` read by ``dequantize_linear``; the float weight is
     dropped if nothing else reads it;
  5. activations: :func:`~engine.compression.quant.observers.qparams_from_range` of the calibrated
     range; a ``quantize_linear -> dequantize_linear`` pair after the value, shared by every layer
     that reads it. Every other param keeps its place and gets its value written in, so the result
     carries exactly the weights it was calibrated with.
Schemes: ``symmetric`` stores int8 with zero point 0 (torch qint8, per_tensor/per_channel_symmetric);
``affine`` stores uint8 with a zero point (torch quint8, *_affine). ``bits`` < 8 uses the grid qintN
/ quintN (e.g. int4 = -8..7) held in int8/uint8 via the ops' ``qmin``/``qmax``: fake quantisation
in our interpreter; :func:`engine.to_onnx` exports it exactly as a float clamp to the grid's range
before a QuantizeLinear (see :mod:`engine.interop.onnx_qdq`).

:func:`quant_report` puts the float and quantised graphs side by side: for each quantised layer the
relative error ||y_q - y|| / ||y|| of its output when only that layer's inputs are quantised (the
float inputs fake-quantised with the layer's own Q/DQ parameters) and when every layer is; the graph
outputs' errors; model bytes (params and constants) before and after; the Q and DQ node counts.
Not handled: bias quantisation (int32 at s_x s_w; biases stay float), quantised layer outputs,
folding batchnorm into the conv first (``engine.optimize(graph, ["simplify"])`` does it: quantise
its result),
per-channel activations, other observers than min-max, bits above 8.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..core import budget
from ..core.cost_model import check_run
from ..core.errors import EngineError
from ..core.interpreter import apply_op, run, source_value
from ..core.ir import Graph, Node, fresh_name, rebuild
from ..core.registry import get_op
from .quant.observers import qparams, qparams_from_range, qrange

LAYERS = ("matmul", "gemm", "conv2d")
SCHEMES = ("symmetric", "affine")
GRANULARITIES = ("per_tensor", "per_channel")
QDQ = ("quantize_linear", "dequantize_linear")
_QUANTIZE = get_op("quantize_linear")  # ONNX QuantizeLinear = observers.quantize(rounding="divide")
_CALIBRATED: dict[int, tuple[weakref.ref, dict]] = {}  # id(graph) -> (graph, {key: ranges})


@dataclass(frozen=True)
class _Grid:
    observer_dtype: str  # observers' name of the grid: qint8, quint4, ...
    dtype: str  # the stored type: int8 or uint8
    qmin: int
    qmax: int


def _grid(bits: int, scheme: str) -> _Grid:
    signed = scheme == "symmetric"
    name = f"{'q' if signed else 'qu'}int{bits}"
    qmin, qmax = qrange(name)
    return _Grid(name, "int8" if signed else "uint8", qmin, qmax)


# == stage 1: arguments and layers =================================================================
def _check_arguments(graph, bits, scheme, granularity, seed) -> None:
    if not isinstance(graph, Graph):
        raise EngineError(f"quantize() needs a Graph, got {type(graph).__name__}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise EngineError(f"bits must be a whole number from 2 to 8, got {bits!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise EngineError(f"seed must be a whole number, got {seed!r}")
    if scheme not in SCHEMES:
        raise EngineError(f"scheme must be 'symmetric' or 'affine', got {scheme!r}")
    if granularity not in GRANULARITIES:
        raise EngineError(f"granularity must be 'per_tensor' or 'per_channel', got {granularity!r}")
    done = [n for n in graph.op_nodes if n.op in QDQ]
    if done:
        raise EngineError(
            f"this graph is already quantised (node {done[0].name!r} is a "
            f"{done[0].op}); quantise the float graph instead"
        )


def layers(graph: Graph) -> list[Node]:
    """The nodes :func:`quantize` quantises, or an EngineError saying there are none."""
    found = [n for n in graph.op_nodes if n.op in LAYERS]
    if not found:
        raise EngineError(
            "this graph has no conv2d, matmul or gemm layer to quantise; try the conv_bn_relu or mlp preset"
        )
    return found


def _is_weight(graph: Graph, name: str) -> bool:
    return graph.node(name).op in ("param", "constant")


def output_axis(layer: Node, slot: int, rank: int) -> int | None:
    """The axis of operand ``slot`` that indexes the layer's output channels (None if none)."""
    at = layer.attr_dict
    if layer.op == "conv2d":
        return 0 if slot == 1 else None
    if layer.op == "gemm":  # A is (M, K) or, transposed, (K, M); B is (K, N) or (N, K)
        if slot == 0:
            return 1 if at.get("trans_a", 0) else 0
        return 0 if at.get("trans_b", 0) else 1
    if rank < 2:
        return None
    return rank - 2 if slot == 0 else rank - 1


# == stage 3: calibration ==========================================================================
def _check_batches(graph: Graph, calibration) -> list[dict]:
    if calibration is None:
        return [{}]
    if not isinstance(calibration, (list, tuple)) or not calibration:
        raise EngineError(
            "calibration must be None or a non-empty list of input dicts "
            f"({{input name: array}}), got {type(calibration).__name__}"
        )
    inputs = {n.name: n for n in graph.inputs}
    batches = []
    for k, batch in enumerate(calibration):
        if not isinstance(batch, Mapping):
            raise EngineError(
                f"calibration batch {k} must be a dict {{input name: array}}, got {type(batch).__name__}"
            )
        for name, value in batch.items():
            if name not in inputs:
                raise EngineError(
                    f"calibration batch {k} gives {name!r}, which is not an input of "
                    f"the graph (inputs: {', '.join(inputs) or 'none'})"
                )
            if np.shape(value) != inputs[name].shape:
                raise EngineError(
                    f"calibration batch {k}: input {name!r} has shape "
                    f"{list(inputs[name].shape)}, the batch gives {list(np.shape(value))}"
                )
        batches.append(dict(batch))
    return batches


def _observe(graph: Graph, names: tuple[str, ...], batches: list[dict], seed: int) -> dict:
    ranges: dict[str, tuple[float, float]] = {}
    for batch in batches:
        env = run(graph, batch, seed)
        for name in names:
            v = env[name]
            lo, hi = float(v.min()), float(v.max())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise EngineError(
                    f"the activation {name!r} reached {lo if not math.isfinite(lo) else hi} "
                    "during calibration; a quantisation range needs finite values"
                )
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges


def _calibrate(graph, names: tuple[str, ...], batches, calibration, seed: int) -> dict:
    if calibration is not None:
        return _observe(graph, names, batches, seed)
    entry = _CALIBRATED.get(id(graph))
    if entry is None or entry[0]() is not graph:  # a graph is immutable: same graph, same ranges
        entry = (weakref.ref(graph), {})
        _CALIBRATED[id(graph)] = entry
        weakref.finalize(graph, _CALIBRATED.pop, id(graph), None)
    cache = entry[1]
    if (seed, names) not in cache:
        while len(cache) >= 4:
            cache.pop(next(iter(cache)))
        cache[(seed, names)] = _observe(graph, names, batches, seed)
    return cache[(seed, names)]


# == stages 4-5: the new nodes =====================================================================
def _node(name: str, op: str, inputs, shape, dtype: str = "float32", attrs=None) -> Node:
    return Node(name, op, tuple(inputs), (), tuple(shape), dtype).replace(attrs=dict(attrs or {}))


class _Writer:
    """Collects the quantised graph's nodes and names them without collisions."""

    def __init__(self, graph: Graph, grid: _Grid):
        self.taken = {n.name for n in graph.nodes}
        self.grid = grid
        self.nodes: list[Node] = []

    def name(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def qparams(self, base: str, scale, zero) -> tuple[str, str]:
        s = self.name(f"{base}.scale")
        z = self.name(f"{base}.zero_point")
        scale = np.asarray(scale, np.float32)
        self.nodes.append(_node(s, "constant", (), scale.shape, attrs={"value": scale}))
        zero = np.asarray(zero).astype(self.grid.dtype)
        self.nodes.append(_node(z, "constant", (), zero.shape, self.grid.dtype, {"value": zero}))
        return s, z

    def weight(self, src: Node, axis: int | None, seed: int) -> str:
        w = source_value(src, seed)
        g = self.grid
        scale, zero = qparams(w, g.observer_dtype, _scheme(g), axis=axis)
        s, z = self.qparams(src.name, scale, zero)
        at = {"axis": 1 if axis is None else axis, "dtype": g.dtype, "qmin": g.qmin, "qmax": g.qmax}
        q = _QUANTIZE.kernel([w, np.asarray(scale, np.float32), np.asarray(zero, np.float32)], at)
        qname = self.name(f"{src.name}.q")
        self.nodes.append(_node(qname, "constant", (), q.shape, g.dtype, {"value": q}))
        dq = self.name(f"{src.name}.dq")
        self.nodes.append(
            _node(
                dq,
                "dequantize_linear",
                (qname, s, z),
                src.shape,
                attrs={"axis": at["axis"], "dtype": g.dtype},
            )
        )
        return dq

    def activation(self, src: Node, lo: float, hi: float) -> str:
        g = self.grid
        scale, zero = qparams_from_range(np.float32(lo), np.float32(hi), g.observer_dtype, _scheme(g))
        s, z = self.qparams(src.name, scale, zero)
        q = self.name(f"{src.name}.q")
        self.nodes.append(
            _node(
                q,
                "quantize_linear",
                (src.name, s, z),
                src.shape,
                g.dtype,
                {"axis": 1, "dtype": g.dtype, "qmin": g.qmin, "qmax": g.qmax},
            )
        )
        dq = self.name(f"{src.name}.dq")
        self.nodes.append(
            _node(dq, "dequantize_linear", (q, s, z), src.shape, attrs={"axis": 1, "dtype": g.dtype})
        )
        return dq


def _scheme(grid: _Grid) -> str:
    return "symmetric" if grid.dtype == "int8" else "affine"


# == quantize =====================================================================================
def _plan(graph: Graph, granularity: str) -> tuple[dict, tuple[str, ...]]:
    """{(layer, slot): (operand, axis or None)} for weights and the activations' names (stage 1)."""
    weights, acts = {}, []
    for layer in layers(graph):
        for slot in (0, 1):
            name = layer.inputs[slot]
            if _is_weight(graph, name):
                axis = output_axis(layer, slot, len(graph.node(name).shape))
                weights[(layer.name, slot)] = (name, axis if granularity == "per_channel" else None)
            elif name not in acts:
                acts.append(name)
    return weights, tuple(acts)


def quantize(
    graph: Graph,
    bits: int = 8,
    scheme: str = "symmetric",
    granularity: str = "per_tensor",
    calibration: list[dict] | None = None,
    seed: int = 0,
) -> Graph:
    """The graph with Q/DQ nodes on the weights and activations of every layer (module docstring)."""
    _check_arguments(graph, bits, scheme, granularity, seed)
    weights, acts = _plan(graph, granularity)
    batches = _check_batches(graph, calibration)
    check_run(graph, f"calibrating on {len(batches)} batch(es)", flops_scale=len(batches))
    budget.check_nodes(len(graph.nodes) + 4 * (len(set(weights.values())) + len(acts)), "the quantised graph")
    ranges = _calibrate(graph, acts, batches, calibration, int(seed))
    out = _Writer(graph, _grid(int(bits), scheme))
    made: dict[tuple[str, Any], str] = {}  # (weight, axis) or (activation,) -> its DQ node
    for n in graph.nodes:
        if n.op in LAYERS:
            n = _rewire(n, weights, made, out, graph, seed)
        elif n.op == "param" and n.attr("value") is None:
            n = n.replace(attrs={**n.attr_dict, "value": source_value(n, seed)})
        out.nodes.append(n)
        if n.name in ranges:
            made[(n.name,)] = out.activation(n, *ranges[n.name])
    title = f"{graph.title or 'graph'} (int{bits} {scheme}, {granularity.replace('_', ' ')})"
    replaced = {name for name, _ in weights.values()}
    return rebuild(_drop_unused(out.nodes, graph.outputs, replaced), graph.outputs, title)


def _rewire(layer: Node, weights: dict, made: dict, out: _Writer, graph: Graph, seed: int) -> Node:
    ins = list(layer.inputs)
    for slot in (0, 1):
        if (layer.name, slot) in weights:
            key = weights[(layer.name, slot)]
            if key not in made:
                made[key] = out.weight(graph.node(key[0]), key[1], seed)
            ins[slot] = made[key]
        else:
            ins[slot] = made[(ins[slot],)]
    return layer.replace(inputs=tuple(ins))


def _drop_unused(nodes: list[Node], outputs, replaced: set[str]) -> list[Node]:
    """Drop the float weights nothing reads any more (their int8/uint8 copy replaced them)."""
    used = set(outputs)
    for n in nodes:
        used.update(n.inputs)
    return [n for n in nodes if n.name in used or n.name not in replaced]


# == quant_report =================================================================================
@dataclass(frozen=True)
class LayerError:
    layer: str  # the layer's node name (the same in both graphs)
    op: str
    quantised: tuple[str, ...]  # its float operands that were quantised
    alone: float  # relative error of its output when only this layer is quantised
    with_all: float  # ... when every layer is quantised (upstream errors included)


@dataclass(frozen=True)
class QuantReport:
    layers: tuple[LayerError, ...]
    outputs: tuple[tuple[str, float], ...]  # graph output -> relative error, all quantised
    bytes_before: int  # params and constants of the float graph
    bytes_after: int  # ... of the quantised graph (int8/uint8 weights, scales, zero points)
    quantize_nodes: int
    dequantize_nodes: int

    @property
    def compression(self) -> float:
        return self.bytes_before / max(self.bytes_after, 1)

    def rows(self) -> list[dict]:
        """One row per quantised layer, for a table."""
        return [asdict(ly) for ly in self.layers]


def relative_error(approx: np.ndarray, exact: np.ndarray) -> float:
    """||approx - exact|| / ||exact|| in float64 (the absolute error when exact is all zeros)."""
    diff = float(np.linalg.norm((np.asarray(approx, np.float64) - exact).ravel()))
    norm = float(np.linalg.norm(np.asarray(exact, np.float64).ravel()))
    return diff / norm if norm > 0 else diff


def model_bytes(graph: Graph) -> int:
    """Bytes of the graph's params and constants at their stored types."""
    return sum(
        budget.numel(n.shape) * np.dtype(n.dtype).itemsize
        for n in graph.nodes
        if n.op in ("param", "constant")
    )


def _pairs(float_graph: Graph, q_graph: Graph) -> list[tuple[Node, Node]]:
    """(float layer, quantised layer) for every layer of q_graph that reads a DQ node."""
    for g, what in ((float_graph, "float_graph"), (q_graph, "q_graph")):
        if not isinstance(g, Graph):
            raise EngineError(f"quant_report() needs a Graph as {what}, got {type(g).__name__}")
    pairs = []
    for n in q_graph.op_nodes:
        if n.op in LAYERS and any(q_graph.node(i).op == "dequantize_linear" for i in n.inputs):
            f = float_graph.by_name.get(n.name)
            if f is None or f.op != n.op or len(f.inputs) != len(n.inputs):
                raise EngineError(
                    f"q_graph's layer {n.name!r} ({n.op}) is not in float_graph: "
                    "pass the graph that engine.quantize was given"
                )
            pairs.append((f, n))
    if not pairs:
        raise EngineError("q_graph has no quantised layer; make it with engine.quantize(graph)")
    if len(float_graph.outputs) != len(q_graph.outputs):
        raise EngineError(
            "float_graph and q_graph have different outputs; pass the graph that engine.quantize was given"
        )
    return pairs


def _alone(f: Node, qn: Node, env_f: dict, env_q: dict, q_graph: Graph) -> tuple[np.ndarray, tuple]:
    """The float layer's output with only its own operands fake-quantised (and which ones were)."""
    arrays, names = [], []
    for fi, qi in zip(f.inputs, qn.inputs):
        dq = q_graph.node(qi)
        if dq.op != "dequantize_linear":
            arrays.append(env_f[fi])
            continue
        names.append(fi)
        q = q_graph.node(dq.inputs[0])
        if q.op != "quantize_linear":  # a stored weight: its DQ value is all it needs
            arrays.append(env_q[qi])
            continue
        qparams_in = [env_q[i] for i in q.inputs[1:]]
        codes = apply_op(q, [env_f[fi], *qparams_in])
        arrays.append(apply_op(dq, [codes, *[env_q[i] for i in dq.inputs[1:]]]))
    return apply_op(f, arrays), tuple(names)


def quant_report(
    float_graph: Graph, q_graph: Graph, inputs: Mapping[str, Any] | None = None, seed: int = 0
) -> QuantReport:
    """Per-layer and output errors of ``q_graph`` against ``float_graph`` (module docstring).

    ``inputs`` gives graph inputs by name (others are drawn from ``seed``); use the seed the graph
    was quantised with, so that both graphs hold the same weights.
    """
    pairs = _pairs(float_graph, q_graph)
    names = {n.name for n in float_graph.inputs}
    strays = sorted(set(inputs or {}) - names)
    if strays:
        raise EngineError(
            f"quant_report(): {strays[0]!r} is not an input of the graph (inputs: "
            f"{', '.join(sorted(names)) or 'none'})"
        )
    check_run(
        float_graph,
        "the quantisation report (a float run, then each layer again, beside the quantised run)",
        flops_scale=2,
        memory_scale=3,  # three runs' values kept (float, quantised, one layer again) ...
        temp_scale=1,  # ... but the runs are sequential: one kernel's temporaries at a time
    )
    check_run(q_graph, "the quantisation report (the quantised run)")
    env_f = run(float_graph, inputs, seed)
    env_q = run(q_graph, inputs, seed)
    rows = []
    for f, qn in pairs:
        y, names = _alone(f, qn, env_f, env_q, q_graph)
        rows.append(
            LayerError(
                f.name,
                f.op,
                names,
                relative_error(y, env_f[f.name]),
                relative_error(env_q[qn.name], env_f[f.name]),
            )
        )
    outputs = tuple(
        (o, relative_error(env_q[oq], env_f[o])) for o, oq in zip(float_graph.outputs, q_graph.outputs)
    )
    ops = [n.op for n in q_graph.op_nodes]
    return QuantReport(
        tuple(rows),
        outputs,
        model_bytes(float_graph),
        model_bytes(q_graph),
        ops.count("quantize_linear"),
        ops.count("dequantize_linear"),
    )
