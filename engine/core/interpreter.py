"""The reference interpreter: run a :class:`~engine.core.ir.Graph` node by node with the numpy kernels.

Stages of :func:`run`:
  1. **plan** (once per graph, cached beside it, keyed by the graph object's identity): for every node
     its kernel, its input names and its full attribute dict (defaults merged) — so the per-node loop
     is only a call; and the **budget**: the graph's FLOPs, its peak memory (every value kept, plus
     the largest kernel temporary) and its kernels' loops, from :func:`engine.core.cost_model.run_needs`, are
     checked before anything is allocated (an over-budget graph is never planned, so every call
     refuses it again). A ``MemoryError`` inside a kernel still becomes a BudgetError naming the node;
  2. **sources**: every ``input``/``param`` takes, in order of preference, the array passed in
     ``inputs``, its own ``value`` attribute, or a deterministic random draw seeded by
     ``(seed, crc32(node name))`` — adding a node never changes the values of the others. Inputs are
     standard normal; params follow their ``init`` attribute: ``normal`` -> N(0, 1) / sqrt(fan_in)
     (fan_in = product of all dims but the first; 1 for 0-D/1-D), ``ones``, ``zeros``, ``uniform`` ->
     U(0.5, 1.5) (positive, e.g. a batchnorm variance). A ``constant`` is its value (an array value
     is used as stored, read-only, not copied per seed);
  3. **execute** every op node in topological order and check the result has the stored shape. A
     ``dequantize_linear`` whose inputs are all stored values (``constant``s, ``param``s with a
     ``value``: a quantised weight, its scale and zero point) is computed once per graph and kept
     in the graph's cache as a read-only array, like a drawn source: the float weight it gives is
     then the same array on every run, so what a kernel derives from a read-only weight (the
     Winograd filter transform) is derived once, as for a float graph's weights. It costs the
     float32 weight (4 bytes per element) for as long as the graph lives; a run that passes a
     value for one of its inputs computes it afresh;
  4. return every node's value by node name, like the torch.fx Interpreter's ``env``; the builder
     names the last binding of a program variable with its plain name, so this is every named program
     value. Drawn source values are cached per (graph, seed) and returned as read-only arrays; op
     outputs are fresh arrays, except the folded dequantisations of stage 3 (read-only).

:func:`evaluate` is the same loop for passes: it takes a dict of known values (any nodes) and fills
in the rest. All values are float32 (a constant keeps its own dtype).
Not handled: control flow, multi-output nodes, in-place updates.
"""

from __future__ import annotations

import math
import weakref
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import budget
from .cost_model import check_node, check_run
from .errors import BudgetError, EngineError, GraphError, ShapeError
from .ir import Graph, Node, Tensor
from .registry import get_op

INITS = ("normal", "ones", "zeros", "uniform")
#: ops whose value is kept per graph when every input is a stored value (stage 3 of the docstring)
FOLDED_OPS = ("dequantize_linear",)


@dataclass(frozen=True)
class _Step:
    node: Node
    kernel: Any  # None for a source node
    attrs: dict
    inputs: tuple[str, ...]
    fold: bool = False  # computed once per graph while no input is given a value (stage 3)


@dataclass
class _GraphCache:
    """What the interpreter remembers about one live graph: its plan, drawn source values and
    folded dequantisations (seed-independent: their inputs are stored values)."""

    graph: weakref.ref
    plan: tuple[_Step, ...]
    sources: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    folded: dict[str, np.ndarray] = field(default_factory=dict)


# id(graph) -> cache; an entry is dropped when its graph is garbage-collected. Kept outside the
# graph so that pickling a graph (st.cache_data does) never drags kernels or weights along.
_CACHES: dict[int, _GraphCache] = {}


def _make_plan(graph: Graph) -> tuple[_Step, ...]:
    """Kernels and attribute dicts for every node, checking names and topological order."""
    budget.check_nodes(len(graph.nodes))
    seen: set[str] = set()
    steps = []
    for n in graph.nodes:
        if n.name in seen:
            raise GraphError(f"two nodes are named {n.name!r}")
        for i in n.inputs:
            if i not in seen:
                raise GraphError(f"node {n.name!r} reads {i!r}, which is not defined before it")
        if n.is_source:
            steps.append(_Step(n, None, n.attr_dict, ()))
        else:
            op = get_op(n.op)
            fold = n.op in FOLDED_OPS and all(_is_stored(graph.node(i)) for i in n.inputs)
            steps.append(_Step(n, op.kernel, {**op.attrs, **n.attr_dict}, n.inputs, fold))
        seen.add(n.name)
    check_run(graph)
    return tuple(steps)


def _is_stored(node: Node) -> bool:
    """A source whose value does not depend on the seed: a constant, or a param with a value."""
    return node.op == "constant" or (node.op == "param" and node.attr("value") is not None)


def _cache(graph: Graph) -> _GraphCache:
    entry = _CACHES.get(id(graph))
    if entry is None or entry.graph() is not graph:
        entry = _GraphCache(weakref.ref(graph), _make_plan(graph))
        _CACHES[id(graph)] = entry
        weakref.finalize(graph, _CACHES.pop, id(graph), None)
    return entry


def _source_cache(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Drawn source values of the graph's last two seeds (read-only arrays).

    Drawing ResNet-18's 11.7 M random weights costs more than running it, and a graph is
    immutable, so the draw is done once per (graph, seed).
    """
    caches = _cache(graph).sources
    if seed not in caches:
        while len(caches) >= 2:
            caches.pop(next(iter(caches)))
        caches[seed] = {}
    return caches[seed]


def stable_seed(seed: int, name: str) -> list[int]:
    """The RNG seed of a source node: (seed, crc32 of its name) — stable across runs and machines."""
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))]


def source_value(node: Node, seed: int = 0) -> np.ndarray:
    """The value of a source node when nothing is passed in (see the module docstring, stage 2)."""
    value = node.attr("value")
    if value is not None:
        arr = value.array if isinstance(value, Tensor) else np.asarray(value)
        # a copy: the stored value is read-only and shared by every run
        return np.array(arr, dtype=arr.dtype if node.op == "constant" else np.float32)
    if node.op == "constant":
        raise GraphError(f"constant {node.name!r} has no value")
    shape = tuple(node.shape)
    budget.check_tensor(shape, f"{node.op} {node.name!r}")
    rng = np.random.default_rng(stable_seed(seed, node.name))
    if node.op == "input":
        return rng.standard_normal(shape, dtype=np.float32)
    init = node.attr("init", "normal")
    if init == "normal":
        fan_in = math.prod(shape[1:]) if len(shape) >= 2 else 1
        return rng.standard_normal(shape, dtype=np.float32) / np.float32(math.sqrt(fan_in))
    if init == "ones":
        return np.ones(shape, np.float32)
    if init == "zeros":
        return np.zeros(shape, np.float32)
    if init == "uniform":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    raise GraphError(f"param {node.name!r} has init {init!r}; choose one of {', '.join(INITS)}")


def apply_op(node: Node, arrays: list[np.ndarray]) -> np.ndarray:
    """Run one op node's kernel on the given input arrays, within the budget of one node."""
    op = get_op(node.op)
    try:
        check_node(node, [a.shape for a in arrays], [a.dtype for a in arrays])
    except EngineError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        shapes = ", ".join(str(list(a.shape)) for a in arrays)
        raise ShapeError(
            f"node {node.name!r} ({node.op}) cannot take inputs of shapes {shapes}: {e}"
        ) from None
    return _call(node, op.kernel, {**op.attrs, **node.attr_dict}, arrays)


def _call(node: Node, kernel, attrs: dict, arrays: list[np.ndarray]) -> np.ndarray:
    try:
        out = kernel(arrays, attrs)
    except EngineError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        shapes = ", ".join(str(list(a.shape)) for a in arrays)
        raise ShapeError(f"node {node.name!r} ({node.op}) failed on inputs of shapes {shapes}: {e}") from None
    except MemoryError:
        raise out_of_memory(node, arrays) from None
    if type(out) is not np.ndarray or out.dtype != node.dtype:  # numpy scalars from 0-d math
        out = np.asarray(out, dtype=node.dtype)
    if out.shape != node.shape:
        raise ShapeError(
            f"node {node.name!r} ({node.op}) produced shape {list(out.shape)} but the "
            f"graph says {list(node.shape)}"
        )
    return out


def out_of_memory(node: Node, arrays: list[np.ndarray]) -> BudgetError:
    """The error for a kernel the server could not find memory for (never a traceback)."""
    shapes = ", ".join(str(list(a.shape)) for a in arrays)
    return BudgetError(
        f"node {node.name!r} ({node.op}) ran out of memory on inputs of shapes "
        f"{shapes}; the server is shared, so try smaller tensors"
    )


def evaluate(
    graph: Graph, values: Mapping[str, np.ndarray] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Every node's value, given ``values`` for some nodes (taken as they are; others computed).

    Sources missing from ``values`` get :func:`source_value`. Used by passes (e.g. constant
    folding) and by :func:`run`, which validates the given values first.
    """
    env: dict[str, np.ndarray] = dict(values or {})
    given = frozenset(env)
    cache = _cache(graph)
    sources = _source_cache(graph, seed)
    with np.errstate(all="ignore"):  # inf/nan are the program's result, not a crash
        for step in cache.plan:
            name = step.node.name
            if name in env:
                continue
            if step.kernel is None:
                value = sources.get(name)
                if value is None:
                    value = _stored_constant(step.node)
                if value is None:
                    value = sources[name] = source_value(step.node, seed)
                    value.setflags(write=False)
                env[name] = value
            elif step.fold and given.isdisjoint(step.inputs):
                env[name] = _folded(cache, step, env)
            else:
                env[name] = _call(step.node, step.kernel, step.attrs, [env[i] for i in step.inputs])
    return env


def _stored_constant(node: Node) -> np.ndarray | None:
    """A constant's stored array itself (read-only already, so no per-seed copy), if it has one."""
    value = node.attr("value") if node.op == "constant" else None
    return value.array if isinstance(value, Tensor) else None


def _folded(cache: _GraphCache, step: _Step, env: dict[str, np.ndarray]) -> np.ndarray:
    """A folded step's value (stage 3), computed on the graph's first run within its checked budget."""
    value = cache.folded.get(step.node.name)
    if value is None:
        value = _call(step.node, step.kernel, step.attrs, [env[i] for i in step.inputs])
        value.setflags(write=False)
        cache.folded[step.node.name] = value
    return value


def run(graph: Graph, inputs: Mapping[str, Any] | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Run ``graph``; ``inputs`` may override any ``input`` or ``param`` by node name.

    Returns every node's value by node name (float32 arrays). Unknown names raise GraphError;
    wrong shapes raise ShapeError (both name the node and the shapes).
    """
    if not isinstance(graph, Graph):
        raise GraphError(f"run() needs a Graph, got {type(graph).__name__}")
    given: dict[str, np.ndarray] = {}
    for name, value in (inputs or {}).items():
        if name not in graph:
            choices = ", ".join(n.name for n in graph.nodes if n.op in ("input", "param"))
            raise GraphError(
                f"run(): there is no input or param named {name!r} (the graph has: {choices or 'none'})"
            )
        node = graph.node(name)
        if node.op not in ("input", "param"):
            raise GraphError(
                f"run(): {name!r} is a {node.op} node; only inputs and params can be given values"
            )
        try:
            arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ShapeError(f"run(): the value given for {name!r} is not an array of numbers") from None
        if arr.shape != node.shape:
            raise ShapeError(
                f"run(): {node.op} {name!r} has shape {list(node.shape)} but the given "
                f"value has shape {list(arr.shape)}"
            )
        given[name] = arr
    return evaluate(graph, given, seed)
