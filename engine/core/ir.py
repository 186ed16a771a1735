"""Graph IR: immutable nodes in topological order, a builder, validation and a text printout.

Stages of building a graph (:class:`GraphBuilder`):
  1. sources are added: ``input`` (random from the seed, or a given value), ``param`` (random weights),
     ``constant`` (a literal array);
  2. each op call looks its :class:`~engine.core.registry.OpDef` up, checks arity and attributes, infers the
     output shape and dtype (raising :class:`ShapeError` with both shapes named) and checks the budget;
  3. ``build`` names the nodes: the last binding of a program variable gets the plain name, earlier
     bindings ``name#k`` and temporaries ``op#k`` — so ``run`` can return every value by node name.

A :class:`Graph` is a frozen value: passes return new graphs, never mutate.
Not handled: multi-output nodes (``split`` yields one node per piece, selected by ``index``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from . import budget
from .errors import GraphError, ShapeError
from .registry import SOURCE_OPS, get_op


@dataclass(frozen=True, eq=False)
class Tensor:
    """A read-only array that can live inside a frozen node (hashable by content)."""

    array: np.ndarray

    def __post_init__(self):
        arr = np.array(self.array, copy=True)
        arr.setflags(write=False)
        object.__setattr__(self, "array", arr)

    @cached_property
    def digest(self) -> str:
        h = hashlib.sha1(str((self.array.shape, self.array.dtype.str)).encode())
        h.update(np.ascontiguousarray(self.array).tobytes())
        return h.hexdigest()

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other) -> bool:
        return isinstance(other, Tensor) and self.digest == other.digest

    def __repr__(self) -> str:
        a = self.array
        if a.size <= 6:
            return np.array2string(a, precision=4, separator=", ")
        return f"tensor{list(a.shape)}"


def _freeze(value: Any) -> Any:
    """Make an attribute value hashable: lists become tuples, arrays become Tensor."""
    if isinstance(value, np.ndarray):
        return Tensor(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class Node:
    """One value of the graph: ``op`` applied to the nodes named in ``inputs``."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: tuple[tuple[str, Any], ...] = ()
    shape: tuple[int, ...] = ()
    dtype: str = "float32"

    def attr(self, key: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attr_dict(self) -> dict[str, Any]:
        return dict(self.attrs)

    @property
    def is_source(self) -> bool:
        return self.op in SOURCE_OPS

    def replace(self, **changes) -> Node:
        data = dict(
            name=self.name,
            op=self.op,
            inputs=self.inputs,
            attrs=self.attrs,
            shape=self.shape,
            dtype=self.dtype,
        )
        data.update(changes)
        if isinstance(data["attrs"], dict):
            data["attrs"] = tuple(sorted((k, _freeze(v)) for k, v in data["attrs"].items()))
        return Node(**data)


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order plus the names of the outputs."""

    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    title: str = field(default="", compare=False)

    # -- look-ups ---------------------------------------------------------------------------
    @cached_property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        try:
            return self.by_name[name]
        except KeyError:
            raise GraphError(f"no node named {name!r} in the graph") from None

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __len__(self) -> int:
        return len(self.nodes)

    @cached_property
    def users(self) -> dict[str, tuple[str, ...]]:
        """Node name -> names of the nodes that consume it (in order, repeats kept once)."""
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):
                out[i].append(n.name)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "input"]

    @property
    def params(self) -> list[Node]:
        return [n for n in self.nodes if n.op == "param"]

    @property
    def op_nodes(self) -> list[Node]:
        return [n for n in self.nodes if not n.is_source]

    # -- text ---------------------------------------------------------------------------------
    def __str__(self) -> str:
        return format_graph(self)


def format_graph(graph: Graph) -> str:
    """A readable printout, one line per node, torch.fx style."""
    lines = []
    for n in graph.nodes:
        shape = "x".join(str(d) for d in n.shape) or "scalar"
        attrs = ", ".join(f"{k}={v!r}" for k, v in n.attrs)
        args = ", ".join(n.inputs)
        call = f"{n.op}({', '.join(x for x in (args, attrs) if x)})"
        lines.append(f"%{n.name}: {n.dtype}[{shape}] = {call}")
    lines.append("return " + ", ".join(f"%{o}" for o in graph.outputs))
    return "\n".join(lines)


def validate(graph: Graph) -> None:
    """Check that the graph is well formed; raise :class:`GraphError` naming the first problem.

    Checks: unique names, inputs defined earlier (so topological order and no cycles), known ops,
    arity, outputs exist, and that every stored shape equals the shape the registry infers.
    """
    seen: dict[str, Node] = {}
    for n in graph.nodes:
        if n.name in seen:
            raise GraphError(f"two nodes are named {n.name!r}")
        for i in n.inputs:
            if i not in seen:
                raise GraphError(f"node {n.name!r} reads {i!r}, which is not defined before it")
        if not n.is_source:
            op = get_op(n.op)
            if not op.min_inputs <= len(n.inputs) <= op.max_inputs:
                raise GraphError(
                    f"node {n.name!r}: {n.op} takes {op.min_inputs}..{op.max_inputs} "
                    f"inputs, got {len(n.inputs)}"
                )
            shapes = [seen[i].shape for i in n.inputs]
            dtypes = [seen[i].dtype for i in n.inputs]
            shape, dtype = op.infer(shapes, dtypes, {**op.attrs, **n.attr_dict})
            if tuple(shape) != n.shape:
                raise GraphError(
                    f"node {n.name!r}: stored shape {list(n.shape)} but {n.op} gives {list(shape)}"
                )
        seen[n.name] = n
    for o in graph.outputs:
        if o not in seen:
            raise GraphError(f"output {o!r} is not a node of the graph")
    budget.check_nodes(len(graph.nodes))


class GraphBuilder:
    """Builds a :class:`Graph` node by node with shape inference; see the module docstring."""

    def __init__(self, title: str = ""):
        self.title = title
        self._nodes: list[Node] = []  # named by provisional ids "%k"
        self._shape: dict[str, tuple[int, ...]] = {}
        self._dtype: dict[str, str] = {}
        self._var: dict[str, str] = {}  # provisional id -> program variable bound to it
        self._bindings: dict[str, list[str]] = {}  # variable -> provisional ids, in order
        self._elements = 0

    # -- sources ------------------------------------------------------------------------------
    def input(
        self, shape: Iterable[int] = (), value: Any = None, dtype: str = "float32", name: str | None = None
    ) -> str:
        attrs = {}
        if value is not None:
            arr = np.asarray(value, dtype=dtype)
            shape = arr.shape
            attrs["value"] = arr
        return self._add("input", (), attrs, tuple(int(d) for d in shape), dtype, name)

    def param(
        self,
        shape: Iterable[int],
        dtype: str = "float32",
        name: str | None = None,
        init: str = "normal",
        value: Any = None,
    ) -> str:
        attrs: dict[str, Any] = {"init": init}
        if value is not None:
            arr = np.asarray(value, dtype=dtype)
            shape = arr.shape
            attrs["value"] = arr
        return self._add("param", (), attrs, tuple(int(d) for d in shape), dtype, name)

    def constant(self, value: Any, dtype: str | None = None, name: str | None = None) -> str:
        arr = np.asarray(value, dtype=dtype or "float32")
        return self._add("constant", (), {"value": arr}, arr.shape, str(arr.dtype), name)

    # -- ops ----------------------------------------------------------------------------------
    def op(self, op_name: str, *inputs: str, name: str | None = None, **attrs: Any) -> str:
        op = get_op(op_name)
        if not op.min_inputs <= len(inputs) <= op.max_inputs:
            want = (
                str(op.min_inputs)
                if op.min_inputs == op.max_inputs
                else f"{op.min_inputs} to {op.max_inputs}"
            )
            raise ShapeError(f"{op_name}() takes {want} tensor argument(s), got {len(inputs)}")
        unknown = sorted(set(attrs) - set(op.attrs))
        if unknown:
            allowed = ", ".join(sorted(op.attrs)) or "none"
            raise ShapeError(f"{op_name}() has no attribute {unknown[0]!r} (allowed: {allowed})")
        full = {**op.attrs, **attrs}
        shapes = [self._shape[i] for i in inputs]
        dtypes = [self._dtype[i] for i in inputs]
        shape, dtype = op.infer(shapes, dtypes, full)
        return self._add(op_name, tuple(inputs), attrs, tuple(int(d) for d in shape), dtype, name)

    def shape_of(self, ref: str) -> tuple[int, ...]:
        return self._shape[ref]

    def dtype_of(self, ref: str) -> str:
        return self._dtype[ref]

    def bind(self, var: str, ref: str) -> None:
        """Bind program variable ``var`` to node ``ref`` (rebinding allowed)."""
        if ref in self._var:  # `b = a`: alias; give the value a fresh identity node
            ref = self._add("identity", (ref,), {}, self._shape[ref], self._dtype[ref], None)
        self._var[ref] = var
        self._bindings.setdefault(var, []).append(ref)

    def variable(self, var: str) -> str | None:
        refs = self._bindings.get(var)
        return refs[-1] if refs else None

    def _add(self, op, inputs, attrs, shape, dtype, name) -> str:
        budget.check_nodes(len(self._nodes) + 1)
        budget.check_tensor(shape, f"the value of {op}")
        self._elements += budget.numel(shape)
        if self._elements > budget.MAX_GRAPH_ELEMENTS:
            raise budget.BudgetError(
                f"the graph's tensors hold {self._elements:,} elements together; the limit is "
                f"{budget.MAX_GRAPH_ELEMENTS:,}"
            )
        ref = f"%{len(self._nodes)}"
        frozen = tuple(sorted((k, _freeze(v)) for k, v in attrs.items()))
        self._nodes.append(Node(ref, op, inputs, frozen, shape, dtype))
        self._shape[ref] = shape
        self._dtype[ref] = dtype
        if name is not None:
            self.bind(name, ref)
        return ref

    # -- naming and build ---------------------------------------------------------------------
    def _final_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        taken: set[str] = set()
        for var, refs in self._bindings.items():
            names[refs[-1]] = var
            taken.add(var)
        for var, refs in self._bindings.items():
            for k, ref in enumerate(refs[:-1], start=1):
                names[ref] = fresh_name(f"{var}#{k}", taken)
        counter: dict[str, int] = {}
        for n in self._nodes:
            if n.name not in names:
                counter[n.op] = counter.get(n.op, 0) + 1
                names[n.name] = fresh_name(f"{n.op}#{counter[n.op]}", taken)
        return names

    def build(self, outputs: Iterable[str] | None = None) -> Graph:
        """Freeze into a :class:`Graph`; ``outputs`` are refs (default: the last node)."""
        if not self._nodes:
            raise GraphError("the graph is empty")
        refs = list(outputs) if outputs is not None else [self._nodes[-1].name]
        names = self._final_names()
        nodes = tuple(
            n.replace(name=names[n.name], inputs=tuple(names[i] for i in n.inputs)) for n in self._nodes
        )
        return Graph(nodes, tuple(names[r] for r in refs), self.title)

    def name_of(self, ref: str) -> str:
        """Final node name a provisional ref will get (valid until more nodes are added)."""
        return self._final_names()[ref]


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base.2``, ``base.3``... — the first name not in ``taken`` (which it joins)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}.{k}"
    taken.add(name)
    return name


def rebuild(nodes: Iterable[Node], outputs: Iterable[str], title: str = "") -> Graph:
    """Make a graph from already-named nodes, dropping nothing and re-checking nothing.

    Passes use this; call :func:`validate` in tests.
    """
    return Graph(tuple(nodes), tuple(outputs), title)
