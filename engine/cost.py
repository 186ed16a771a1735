"""Static cost model: FLOPs, MACs, parameters and bytes moved, per node and in total.

Stages of :func:`cost`:
  1. for every op node (sources are not listed: they compute nothing) ask its
     :class:`~engine.registry.OpDef` for ``flops(in_shapes, out_shape, attrs) -> (FLOPs, MACs)``;
     the per-op conventions are stated in the ops modules (matmul/gemm/conv: FLOPs = 2*MACs + 1 per
     output element for a bias; elementwise: 1 FLOP per output element, transcendental included;
     reductions: 1 per input element; shape ops: 0);
  2. ``params`` of a node = elements of the ``param`` nodes it reads directly;
  3. bytes: every input is read once from memory and the output written once (no caches, no fusion):
     ``bytes_read`` = sum of the inputs' sizes, ``bytes_written`` = the output's size, at the dtype's
     width (4 bytes for float32); ``arithmetic_intensity`` = FLOPs / (bytes read + written), the x
     coordinate of a roofline plot;
  4. totals: FLOPs, MACs, bytes summed over nodes; ``params`` counts each param node once even if
     several nodes read it (weight sharing).
Not handled: memory reuse, fusion (a fused graph's cost is computed on the fused graph itself),
integer ops costing less than float ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import budget
from .errors import GraphError
from .ir import Graph
from .registry import get_op


@dataclass(frozen=True)
class NodeCost:
    name: str
    op: str
    kind: str
    shape: tuple[int, ...]
    flops: int
    macs: int
    params: int
    bytes_read: int
    bytes_written: int
    arithmetic_intensity: float   # FLOPs per byte moved


@dataclass(frozen=True)
class CostReport:
    nodes: tuple[NodeCost, ...]
    flops: int
    macs: int
    params: int
    bytes_read: int
    bytes_written: int

    @property
    def bytes(self) -> int:
        """All bytes moved: read + written."""
        return self.bytes_read + self.bytes_written

    def rows(self) -> list[dict]:
        """One dict per node, for a table."""
        return [asdict(n) for n in self.nodes]

    def by_name(self, name: str) -> NodeCost:
        for n in self.nodes:
            if n.name == name:
                return n
        raise GraphError(f"the cost report has no node named {name!r}")


def _nbytes(shape, dtype: str) -> int:
    return budget.numel(shape) * np.dtype(dtype).itemsize


def cost(graph: Graph) -> CostReport:
    """Per-node and total cost of ``graph``; see the module docstring for the conventions."""
    if not isinstance(graph, Graph):
        raise GraphError(f"cost() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    by_name = graph.by_name
    rows = []
    for n in graph.op_nodes:
        op = get_op(n.op)
        try:
            ins = [by_name[i] for i in n.inputs]
        except KeyError as e:
            raise GraphError(f"node {n.name!r} reads {e.args[0]!r}, which is not in the graph") \
                from None
        flops, macs = op.flops([i.shape for i in ins], n.shape, {**op.attrs, **n.attr_dict})
        params = sum(budget.numel(by_name[i].shape) for i in dict.fromkeys(n.inputs)
                     if by_name[i].op == "param")
        read = sum(_nbytes(i.shape, i.dtype) for i in ins)
        written = _nbytes(n.shape, n.dtype)
        moved = read + written
        rows.append(NodeCost(n.name, n.op, op.kind, tuple(n.shape), int(flops), int(macs),
                             int(params), int(read), int(written),
                             float(flops) / moved if moved else 0.0))
    total_params = sum(budget.numel(p.shape) for p in graph.params)
    return CostReport(tuple(rows), sum(r.flops for r in rows), sum(r.macs for r in rows),
                      total_params, sum(r.bytes_read for r in rows),
                      sum(r.bytes_written for r in rows))
