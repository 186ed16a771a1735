"""Static cost model: FLOPs, MACs, parameters and bytes moved, per node and in total.

Stages of :func:`cost`:
  1. for every op node (sources are not listed: they compute nothing) ask its
     :class:`~engine.core.registry.OpDef` for ``flops(in_shapes, out_shape, attrs) -> (FLOPs, MACs)``;
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

:func:`run_needs` is the same walk for the *budget* (:mod:`engine.core.budget`), before anything runs:
  1. FLOPs as above, and the node that needs the most;
  2. memory: the interpreter keeps every value it computes (it returns them all), so at node k the
     live tensors are all the values up to k; add the temporaries k's kernel declares
     (:class:`~engine.core.registry.Workspace`) and take the worst node, in fp32 elements;
  3. the Python-level loop iterations of the kernels and the elements those loops stream.
:func:`check_run` refuses a graph over any of these budgets, naming the worst node.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import budget
from .errors import GraphError
from .ir import Graph, Node
from .registry import Workspace, get_op


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
    arithmetic_intensity: float  # FLOPs per byte moved


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
            raise GraphError(f"node {n.name!r} reads {e.args[0]!r}, which is not in the graph") from None
        flops, macs = op.flops([i.shape for i in ins], n.shape, {**op.attrs, **n.attr_dict})
        params = sum(
            budget.numel(by_name[i].shape) for i in dict.fromkeys(n.inputs) if by_name[i].op == "param"
        )
        read = sum(_nbytes(i.shape, i.dtype) for i in ins)
        written = _nbytes(n.shape, n.dtype)
        moved = read + written
        rows.append(
            NodeCost(
                n.name,
                n.op,
                op.kind,
                tuple(n.shape),
                int(flops),
                int(macs),
                int(params),
                int(read),
                int(written),
                float(flops) / moved if moved else 0.0,
            )
        )
    total_params = sum(budget.numel(p.shape) for p in graph.params)
    return CostReport(
        tuple(rows),
        sum(r.flops for r in rows),
        sum(r.macs for r in rows),
        total_params,
        sum(r.bytes_read for r in rows),
        sum(r.bytes_written for r in rows),
    )


@dataclass(frozen=True)
class RunNeeds:
    """What running a graph once (keeping every value) needs, for :mod:`engine.core.budget`."""

    flops: int
    top_flops_node: str  # the node with the most FLOPs ("" for no op node)
    peak_elements: int  # fp32 elements alive at the worst node: values so far + temporaries
    peak_node: str
    peak_temp: int  # the temporaries of that node's kernel
    values: int  # fp32 elements of all values together
    loops: int
    streamed: int


def fp32_elements(shape, dtype: str = "float32") -> int:
    """Size of a tensor in fp32 elements (an int64 constant counts double)."""
    return -(-_nbytes(shape, dtype) // 4)


def _workspace(node, by_name) -> tuple[int, Workspace]:
    """(FLOPs, declared workspace) of one op node."""
    op = get_op(node.op)
    try:
        ins = [by_name[i] for i in node.inputs]
    except KeyError as e:
        raise GraphError(f"node {node.name!r} reads {e.args[0]!r}, which is not in the graph") from None
    shapes, attrs = [i.shape for i in ins], {**op.attrs, **node.attr_dict}
    flops, _ = op.flops(shapes, node.shape, attrs)
    return int(flops), op.workspace(shapes, node.shape, attrs)


def run_needs(graph: Graph) -> RunNeeds:
    """FLOPs, peak memory, loops and streamed elements of one run (module docstring, last part)."""
    if not isinstance(graph, Graph):
        raise GraphError(f"run_needs() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    by_name = graph.by_name
    flops = loops = streamed = live = 0
    top, peak = ("", -1), ("", 0, 0)
    for n in graph.nodes:
        live += fp32_elements(n.shape, n.dtype)
        if n.is_source:
            peak = max(peak, (n.name, live, 0), key=lambda p: p[1])
            continue
        f, ws = _workspace(n, by_name)
        flops, loops, streamed = flops + f, loops + ws.loops, streamed + ws.streamed
        top = max(top, (n.name, f), key=lambda p: p[1])
        peak = max(peak, (n.name, live + ws.temp, ws.temp), key=lambda p: p[1])
    return RunNeeds(flops, top[0], peak[1], peak[0], peak[2], live, loops, streamed)


def _describe(graph: Graph, name: str) -> str:
    return f"node {name!r} ({graph.node(name).op})" if name else "the graph"


def check_run(
    graph: Graph,
    what: str = "running the graph",
    flops_scale: int = 1,
    memory_scale: int = 1,
    needs: RunNeeds | None = None,
    temp_scale: int | None = None,
) -> RunNeeds:
    """Refuse ``graph`` if a run is over a budget; ``*_scale`` count repeated sweeps (autodiff).

    ``memory_scale`` multiplies the values (tangents or adjoints are kept beside the primals) and,
    unless ``temp_scale`` says otherwise, the temporaries (a VJP rule holds about as much as its
    kernel); runs done one after another keep their values but never two kernels' temporaries at
    once (``temp_scale=1``).
    """
    needs = run_needs(graph) if needs is None else needs
    budget.check_flops(
        needs.flops * flops_scale, what, f" (the most at {_describe(graph, needs.top_flops_node)})"
    )
    temp_scale = memory_scale if temp_scale is None else temp_scale
    peak = needs.peak_elements + (memory_scale - 1) * needs.values + (temp_scale - 1) * needs.peak_temp
    budget.check_memory(
        peak,
        what,
        f" (at {_describe(graph, needs.peak_node)}, whose kernel "
        f"needs {needs.peak_temp:,} temporary elements)",
    )
    budget.check_loops(needs.loops * flops_scale, needs.streamed * flops_scale, what)
    return needs


def check_node(graph_node: Node, in_shapes, in_dtypes=None, what: str = "") -> None:
    """Refuse one op call (e.g. a constant fold) whose FLOPs, memory or loops are over budget."""
    op = get_op(graph_node.op)
    attrs = {**op.attrs, **graph_node.attr_dict}
    flops, _ = op.flops(list(in_shapes), graph_node.shape, attrs)
    ws = op.workspace(list(in_shapes), graph_node.shape, attrs)
    dtypes = in_dtypes or ["float32"] * len(in_shapes)
    held = sum(fp32_elements(s, d) for s, d in zip(in_shapes, dtypes))
    held += fp32_elements(graph_node.shape, graph_node.dtype) + ws.temp
    what = what or f"node {graph_node.name!r} ({graph_node.op})"
    budget.check_flops(int(flops), what)
    budget.check_memory(held, what)
    budget.check_loops(ws.loops, ws.streamed, what)
