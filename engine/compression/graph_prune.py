"""Pruning a student's graph: zero weights of its conv2d / matmul / gemm layers, and report the effect.

Stages of :func:`prune`:
  1. **layers** (:func:`prunable_layers`): every conv2d, matmul or gemm node that reads a ``param``
     node of at least 2 dims directly as its weight. Only these weights are pruned; biases, batchnorm
     and layernorm params, constants and inputs never are. The weight and its two axes:
       conv2d  w (Cout, Cin/g, KH, KW)   output axis 0, reduction axis 1 (input channels, as NVIDIA ASP)
       matmul  x @ W (W is B)             output axis -1, reduction axis -2; else W @ x (W is A):
                                          output axis -2, reduction axis -1
       gemm    B if it is a param, else A; the axes follow trans_b / trans_a (trans_b=1 is torch's
               Linear layout (out, in): output axis 0, reduction axis 1)
     A weight read by several layers (weight sharing) is pruned once, with the axes of its first layer;
  2. **budget**: the weights, their magnitudes, masks and pruned copies must fit the memory budget;
  3. **values**: a weight's ``value`` attribute, or else its deterministic draw
     (:func:`engine.core.interpreter.source_value` with ``seed``, i.e. ``stable_seed(seed, name)``);
  4. **masks**, per layer (never global), each equal to torch.nn.utils.prune's on the same array:
       magnitude   l1_unstructured(amount=sparsity): the round(sparsity * n) smallest |w| of each weight
                   (:func:`magnitude_mask`: the same mask as :func:`engine.compression.prune.l1_unstructured`,
                   ties pruned earlier index first, found in O(n) with a partition instead of a
                   full sort: ResNet-18's 11.7 M weights take ~0.06 s instead of 4-7 s);
       structured  :func:`engine.compression.prune.ln_structured` (n=2, dim=output axis): whole output
                   channels / units with the smallest L2 norm (torch's (out, in) layouts: dim=0);
       2:4         in every group of 4 consecutive weights along the reduction axis keep the 2 largest
                   |w| (:func:`two_four_mask`: the same mask as
                   :func:`engine.compression.prune.n_m_mask`, by pairwise comparisons instead of a
                   sort of every group, 4-10x faster). ``sparsity`` must be 0.5 (2:4 has
                   no other); a layer whose reduction axis is not a multiple of 4 stays dense (as ASP
                   skips it), and a graph with no such layer is refused;
  5. **graph**: each weight's param node gets ``value = w * mask`` (float32; a dense layer's weight
     gets its value too, so every weight of the pruned graph comes from ``seed``); nothing else changes, so
     ``run(pruned, seed=s)`` equals ``run(graph, inputs={weight: w * mask}, seed=s)`` for every s.

Stages of :func:`prune_report`:
  1. check that ``pruned`` is ``graph`` with masked weights (same nodes; every weight equal to the
     graph's wherever it is not zero) and the budget of two runs;
  2. per layer: weight elements, non-zeros, sparsity, the layer's FLOPs (:func:`engine.core.cost_model.cost`)
     and its skippable FLOPs = 2 x zero weights x uses, where a weight's uses = the layer's MACs / its
     elements (every weight element of these ops takes part in equally many MACs: conv2d N*Ho*Wo,
     taps over the zero padding included as in the cost model; matmul/gemm the rows of the other
     operand times the batch). Each skipped MAC saves one multiply and one add;
  3. output drift ||y_pruned - y|| / ||y|| over all outputs together, both graphs run on the same
     seeded (or given) inputs.
Not handled: global (cross-layer) ranking, pruning biases or normalisation params, removing the work
that structured pruning kills downstream (a dead channel's batchnorm, the next layer's input
channel), zeros in activations, the overhead of sparse formats; weights reached through another op
(``transpose(W)``) are not found.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..core import budget
from ..core.cost_model import check_run, cost
from ..core.errors import EngineError, GraphError
from ..core.interpreter import run, source_value
from ..core.ir import Graph, Node, rebuild
from .prune import ln_structured, n_to_prune

METHODS = ("magnitude", "structured", "2:4")
LAYER_OPS = ("conv2d", "matmul", "gemm")


@dataclass(frozen=True)
class Layer:
    """A prunable layer: the op node, the param it reads as its weight, and that weight's axes."""

    name: str
    op: str
    weight: str
    out_axis: int  # structured pruning removes whole slices along this axis
    reduce_axis: int  # 2:4 groups run along this axis


def _weight_and_axes(graph: Graph, node: Node) -> tuple[str, int, int] | None:
    def param(i: int) -> bool:
        src = graph.node(node.inputs[i]) if i < len(node.inputs) else None
        return src is not None and src.op == "param" and len(src.shape) >= 2 and min(src.shape) > 0

    if node.op == "conv2d":
        return (node.inputs[1], 0, 1) if param(1) else None
    if node.op == "matmul":
        if param(1):
            return node.inputs[1], -1, -2
        return (node.inputs[0], -2, -1) if param(0) else None
    if param(1):
        return (node.inputs[1], 0, 1) if node.attr("trans_b", 0) else (node.inputs[1], 1, 0)
    if param(0):
        return (node.inputs[0], 1, 0) if node.attr("trans_a", 0) else (node.inputs[0], 0, 1)
    return None


def prunable_layers(graph: Graph) -> tuple[Layer, ...]:
    """Stage 1: the conv2d/matmul/gemm nodes that read a param weight, in graph order."""
    if not isinstance(graph, Graph):
        raise GraphError(f"pruning needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    layers = []
    for node in graph.op_nodes:
        found = _weight_and_axes(graph, node) if node.op in LAYER_OPS else None
        if found:
            weight, out_axis, reduce_axis = found
            rank = len(graph.node(weight).shape)
            layers.append(Layer(node.name, node.op, weight, out_axis % rank, reduce_axis % rank))
    return tuple(layers)


def magnitude_mask(w: np.ndarray, amount: float) -> np.ndarray:
    """prune.l1_unstructured's mask (the k smallest |w|, earlier index first on ties) in O(n)."""
    scores = np.abs(np.asarray(w, np.float32)).ravel()
    k = n_to_prune(float(amount), scores.size)
    if not k:
        return np.ones(np.shape(w), np.float32)
    cut = np.partition(scores, k - 1)[k - 1]  # the k-th smallest |w|
    keep = scores > cut
    ties = np.flatnonzero(scores == cut)  # pruned first come, first served
    keep[ties[k - int(np.count_nonzero(scores < cut)) :]] = True
    return keep.astype(np.float32).reshape(np.shape(w))


def two_four_mask(w: np.ndarray, axis: int) -> np.ndarray:
    """prune.n_m_mask(w, 2, 4, axis) (keep the 2 largest |w| of every 4, earlier index first on ties).

    Six pairwise comparisons per group instead of a sort: w_j outranks w_i (i < j) when |w_j| > |w_i|,
    else w_i outranks w_j; a weight is kept when fewer than 2 outrank it.
    """
    mag = np.abs(np.asarray(w, np.float32))
    axis %= mag.ndim
    shape = mag.shape[:axis] + (mag.shape[axis] // 4, 4) + mag.shape[axis + 1 :]
    groups = mag.reshape(shape)  # member i of every group: groups[..., i, ...]
    member = [groups[(slice(None),) * (axis + 1) + (i,)] for i in range(4)]
    outranked = [np.zeros(member[0].shape, np.int8) for _ in range(4)]
    for i, j in itertools.combinations(range(4), 2):
        later_wins = member[j] > member[i]
        outranked[i] += later_wins
        outranked[j] += ~later_wins
    keep = np.stack(outranked, axis=axis + 1) < 2
    return keep.astype(np.float32).reshape(mag.shape)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise EngineError(f"seed = {seed!r} must be a whole number")
    return int(seed)


def _check_arguments(sparsity: Any, method: Any) -> float:
    if method not in METHODS:
        raise EngineError(f"unknown pruning method {method!r}; choose one of: {', '.join(METHODS)}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.integer, np.floating)):
        raise EngineError(
            f"sparsity = {sparsity!r} must be a number in [0, 1): the fraction of "
            "each layer's weights to zero"
        )
    s = float(sparsity)
    if not 0.0 <= s < 1.0:
        raise EngineError(
            f"sparsity = {s:g} must lie in [0, 1): the fraction of each layer's "
            "weights to zero (1 would zero every weight)"
        )
    if method == "2:4" and s != 0.5:
        raise EngineError(
            f"2:4 pruning keeps 2 of every 4 weights, so its sparsity is always 0.5; got sparsity = {s:g}"
        )
    return s


def _first_layers(graph: Graph, doing: str) -> dict[str, Layer]:
    """Weight name -> the first layer that reads it (stage 1), refusing a graph with no layer."""
    first: dict[str, Layer] = {}
    for layer in prunable_layers(graph):
        first.setdefault(layer.weight, layer)
    if not first:
        raise EngineError(
            "this graph has no conv2d, matmul or gemm layer that reads a param as its "
            f"weight, so there is {doing}; try the mlp or conv_bn_relu preset"
        )
    return first


def _layers_to_prune(graph: Graph, method: str) -> dict[str, Layer]:
    """The weights to prune, refusing 2:4 when no reduction axis is a multiple of 4."""
    first = _first_layers(graph, "nothing to prune")
    sizes = {w: graph.node(w).shape[ly.reduce_axis] for w, ly in first.items()}
    if method == "2:4" and not any(n % 4 == 0 for n in sizes.values()):
        listed = ", ".join(f"{w}: {n}" for w, n in sizes.items())
        raise EngineError(
            "2:4 pruning needs a layer whose input (reduction) axis is a multiple of 4, "
            f"and this graph has none ({listed}); try magnitude or structured"
        )
    return first


def _weight_value(node: Node, seed: int) -> np.ndarray:
    w = source_value(node, seed)
    if not np.all(np.isfinite(w)):
        raise EngineError(
            f"param {node.name!r} holds nan or inf values; pruning ranks weights by "
            "magnitude and needs finite ones"
        )
    return w


def _mask(w: np.ndarray, layer: Layer, sparsity: float, method: str) -> np.ndarray:
    if method == "magnitude":
        return magnitude_mask(w, sparsity)
    if method == "structured":
        return ln_structured(w, sparsity, 2, layer.out_axis)
    if w.shape[layer.reduce_axis] % 4:
        return np.ones_like(w)  # no whole groups of 4: the layer stays dense
    return two_four_mask(w, layer.reduce_axis)


def prune(graph: Graph, sparsity: float, method: str = "magnitude", seed: int = 0) -> Graph:
    """``graph`` with its layers' weights masked (module docstring); masks match torch's per layer."""
    s, seed = _check_arguments(sparsity, method), _check_seed(seed)
    weights = _layers_to_prune(graph, method)
    total = sum(budget.numel(graph.node(w).shape) for w in weights)
    budget.check_memory(
        4 * total,
        "pruning the graph's weights",
        " (each weight, its magnitudes, its mask and its pruned copy)",
    )
    pruned: dict[str, np.ndarray] = {}
    for name, layer in weights.items():
        w = _weight_value(graph.node(name), seed)  # a fresh float32 copy: masked in place
        w *= _mask(w, layer, s, method)
        pruned[name] = w
    nodes = [
        n.replace(attrs={**n.attr_dict, "value": pruned[n.name]}) if n.name in pruned else n
        for n in graph.nodes
    ]
    return rebuild(nodes, graph.outputs, graph.title)


@dataclass(frozen=True)
class LayerReport:
    """One pruned layer: its weight's counts and the FLOPs its zero weights make skippable."""

    name: str  # the layer (op node)
    op: str
    weight: str  # the param node it reads as its weight
    shape: tuple[int, ...]  # the weight's shape
    total: int  # weight elements
    nonzero: int
    sparsity: float  # 1 - nonzero / total
    flops: int  # the layer's FLOPs (cost model: 2 per MAC + 1 per output for a bias)
    uses: int  # MACs each weight element takes part in (MACs / total)
    skippable_flops: int  # 2 * (total - nonzero) * uses


@dataclass(frozen=True)
class PruneReport:
    """What pruning did to a graph: per layer, in total, and to its outputs."""

    layers: tuple[LayerReport, ...]
    total: int  # elements of the pruned weights, each shared weight counted once
    nonzero: int
    sparsity: float
    flops: int  # FLOPs of the whole graph (cost model)
    skippable_flops: int  # summed over the layers
    drift: float  # ||y_pruned - y|| / ||y|| over all outputs together
    seed: int

    @property
    def skippable_fraction(self) -> float:
        """Share of the whole graph's FLOPs that the zero weights make skippable."""
        return self.skippable_flops / self.flops if self.flops else 0.0

    def rows(self) -> list[dict]:
        """One dict per layer, for a table."""
        return [asdict(layer) for layer in self.layers]


def _check_pair(graph: Graph, pruned: Graph, weights: set[str]) -> None:
    if not isinstance(pruned, Graph):
        raise GraphError(f"prune_report() needs the pruned Graph, got {type(pruned).__name__}")
    if len(graph.nodes) != len(pruned.nodes) or graph.outputs != pruned.outputs:
        raise EngineError(
            f"the pruned graph has {len(pruned.nodes)} nodes and outputs "
            f"{list(pruned.outputs)}, the graph {len(graph.nodes)} and "
            f"{list(graph.outputs)}: pass a graph and the result of prune(graph, ...)"
        )
    for a, b in zip(graph.nodes, pruned.nodes):
        attrs_a, attrs_b = a.attr_dict, b.attr_dict
        if a.name in weights:
            attrs_a.pop("value", None)
            attrs_b.pop("value", None)
        if (a.name, a.op, a.inputs, a.shape) != (b.name, b.op, b.inputs, b.shape) or attrs_a != attrs_b:
            raise EngineError(
                f"node {a.name!r} of the graph and node {b.name!r} of the pruned graph "
                "differ: pass a graph and the result of prune(graph, ...)"
            )


def _outputs(graph: Graph, inputs: Mapping[str, Any] | None, seed: int) -> np.ndarray:
    values = run(graph, inputs, seed)
    return np.concatenate([np.asarray(values[o], np.float64).ravel() for o in graph.outputs])


def _drift(graph: Graph, pruned: Graph, inputs: Mapping[str, Any] | None, seed: int) -> float:
    y = _outputs(graph, inputs, seed)
    gap = float(np.linalg.norm(_outputs(pruned, inputs, seed) - y))
    scale = float(np.linalg.norm(y))
    if scale == 0.0:
        return 0.0 if gap == 0.0 else math.inf
    return gap / scale


def _check_inputs(graph: Graph, inputs: Mapping[str, Any] | None) -> None:
    for name in inputs or {}:
        if name not in graph or graph.node(name).op != "input":
            raise GraphError(
                f"prune_report(): inputs may give values to input nodes only, and "
                f"{name!r} is not an input of the graph"
            )


def _read_only_value(node: Node, seed: int) -> np.ndarray:
    """A param's stored value as it is (no copy), or its seeded draw."""
    value = node.attr("value")
    return value.array if value is not None else source_value(node, seed)


def _nonzeros(graph: Graph, pruned: Graph, weights: list[str], seed: int) -> dict[str, int]:
    """Non-zeros of each pruned weight, checking it equals the graph's wherever it is not zero."""
    counts = {}
    for name in weights:
        w, p = _read_only_value(graph.node(name), seed), _read_only_value(pruned.node(name), seed)
        kept = p != 0
        if np.any(kept & (p != w)):
            raise EngineError(
                f"weight {name!r} of the pruned graph differs from the graph's where it "
                f"is not zero: it was pruned from another graph or with another seed "
                f"(this report uses seed {seed})"
            )
        counts[name] = int(np.count_nonzero(kept))
    return counts


def prune_report(
    graph: Graph, pruned: Graph, inputs: Mapping[str, Any] | None = None, seed: int = 0
) -> PruneReport:
    """Per-layer and total sparsity, skippable FLOPs and output drift of ``pruned`` against ``graph``.

    ``seed`` draws the inputs and every param without a value, in both graphs: use the seed given
    to :func:`prune` (a mismatch is refused, since the unpruned weights would differ).
    """
    seed = _check_seed(seed)
    first = _first_layers(graph, "no pruning to report")
    weights = list(first)
    _check_pair(graph, pruned, set(weights))
    _check_inputs(graph, inputs)
    total = sum(budget.numel(graph.node(w).shape) for w in weights)
    budget.check_memory(3 * total, "comparing the graph's weights with the pruned ones")
    check_run(graph, "the drift check (the graph and its pruned copy, one run each)", flops_scale=2)
    nonzero = _nonzeros(graph, pruned, weights, seed)
    costs = cost(graph)
    by_node = {c.name: c for c in costs.nodes}
    rows = []
    for ly in prunable_layers(graph):
        shape = tuple(graph.node(ly.weight).shape)
        size, kept = budget.numel(shape), nonzero[ly.weight]
        uses = by_node[ly.name].macs // size
        rows.append(
            LayerReport(
                ly.name,
                ly.op,
                ly.weight,
                shape,
                size,
                kept,
                1.0 - kept / size,
                by_node[ly.name].flops,
                uses,
                2 * (size - kept) * uses,
            )
        )
    kept = sum(nonzero.values())
    return PruneReport(
        tuple(rows),
        total,
        kept,
        1.0 - kept / total,
        costs.flops,
        sum(r.skippable_flops for r in rows),
        _drift(graph, pruned, inputs, seed),
        seed,
    )
