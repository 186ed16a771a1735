"""Direct conversion: a torch module into our IR op by op, through torch.fx or torch.export (no ONNX).

:func:`from_torch_direct`, in stages:
  1. check the request: an ``nn.Module``, one floating-point example tensor and weights within the
     budget, before torch traces anything;
  2. trace: ``torch.fx.symbolic_trace`` gives module-level nodes (``call_module`` Conv2d,
     ``call_function`` operator.add, ``call_method`` view); ``torch.export.export`` gives ATen ops
     (``aten.conv2d.default``) with the weights as extra inputs. A trace that fails (a Python ``if``
     on a tensor's value, ...) is an EngineError naming the module and the reason;
  3. look every node's op up in the mapping table (:mod:`engine.interop.torch_direct_table`); every
     op without a mapping is named in ONE error;
  4. convert node by node through :class:`~engine.core.ir.GraphBuilder` (shape inference checks each
     op): weights become params holding their values, Python values computed from shapes
     (``x.size(0)``) are folded to numbers, and every source node yields a :class:`MapRow` (source
     node, source op, our ops, note). An in-place ATen op (``relu_``) rebinds its input to its result.
Not handled: more than one input tensor, control flow, training-mode BatchNorm, ceil_mode pools,
transposed and 1-D/3-D convolutions, integer tensors in the computation, ops outside the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..core.limits import one_torch_trace_at_a_time
from .torch_direct_ops import Context, Ref, Weight, to_numpy
from .torch_direct_table import call, lookup, node_key

TRACERS = ("fx", "export")


@dataclass(frozen=True)
class MapRow:
    """One source node and what it became in our graph (no ops: folded or passed through)."""

    source: str  # the source node's name (fx/export node, or ONNX node)
    source_op: str  # its op: "nn.Conv2d", "aten.conv2d.default", "Conv"
    ours: tuple[str, ...]  # our ops it became, in order
    nodes: tuple[str, ...]  # those ops' node names in our graph
    note: str = ""


def from_torch_direct(
    module: Any, example_input: Any, tracer: str = "fx"
) -> tuple[Graph, tuple[MapRow, ...]]:
    """``module`` as our Graph (input ``x``) through ``tracer`` ("fx" or "export"), and the mapping rows."""
    import torch

    if tracer not in TRACERS:
        raise EngineError(f"unknown tracer {tracer!r}; choose one of {', '.join(TRACERS)}")
    if not isinstance(module, torch.nn.Module):
        raise EngineError(f"the direct path needs a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(example_input, torch.Tensor) or not example_input.is_floating_point():
        raise EngineError("the direct path needs one floating-point example input tensor")
    budget.check_tensor(tuple(example_input.shape), "the example input")
    weights = sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())
    if weights > budget.MAX_GRAPH_ELEMENTS:
        raise budget.BudgetError(
            f"the module holds {weights:,} weights; the limit is {budget.MAX_GRAPH_ELEMENTS:,}"
        )
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            if tracer == "fx":
                graph_module, sources = _trace_fx(module)
            else:
                graph_module, sources = _trace_export(module, example_input)
            return _convert(graph_module, sources, tuple(example_input.shape), tracer, type(module).__name__)
    finally:
        module.train(was_training)


def _why(exc: Exception) -> str:
    """The reason a trace failed, in a student's words where we recognise it."""
    text = str(exc)
    if "control flow" in text or "data-dependent" in text or "GuardOnDataDependent" in type(exc).__name__:
        return "its Python control flow (if/while) depends on a tensor's value"
    return f"{type(exc).__name__}: {text.strip().splitlines()[0][:200] if text.strip() else ''}"


@one_torch_trace_at_a_time
def _trace_fx(module):
    import torch.fx

    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - fx raises TraceError, TypeError, ... on untraceable code
        raise EngineError(f"torch.fx cannot trace {type(module).__name__}.forward: {_why(exc)}") from None
    return gm, {}


@one_torch_trace_at_a_time
def _trace_export(module, example_input):
    import contextlib
    import io
    import logging

    import torch

    quiet = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    drop = logging.Filter("a failed guard logs the whole graph before raising; the error says enough")
    drop.filter = lambda record: False
    quiet.addFilter(drop)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # ... and prints the partial graph as well
            ep = torch.export.export(module, (example_input,))
    except Exception as exc:  # noqa: BLE001 - export raises many types (UserError, guard errors, ...)
        raise EngineError(f"torch.export cannot trace {type(module).__name__}.forward: {_why(exc)}") from None
    finally:
        quiet.removeFilter(drop)
    sig, state = ep.graph_signature, ep.state_dict
    sources: dict[str, Weight] = {}
    for table in (sig.inputs_to_parameters, sig.inputs_to_buffers):
        for placeholder, key in table.items():
            sources[placeholder] = Weight(key, to_numpy(state[key]))
    for placeholder, key in sig.inputs_to_lifted_tensor_constants.items():
        sources[placeholder] = Weight(key, to_numpy(ep.constants[key]))
    return ep.graph_module, sources


def _resolve(value: Any, env: dict[str, Any]) -> Any:
    """fx arguments with their nodes replaced by the values converted so far."""
    if hasattr(value, "op") and hasattr(value, "name") and hasattr(value, "target"):
        return env[value.name]
    if isinstance(value, (list, tuple)):
        items = [_resolve(v, env) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _resolve(v, env) for k, v in value.items()}
    return value


def _convert(gm, sources: dict, shape: tuple, tracer: str, title: str):
    ctx = Context(title)
    nodes = [n for n in gm.graph.nodes if n.op not in ("placeholder", "get_attr", "output")]
    keys = {n.name: node_key(n, gm) for n in nodes}
    missing = [f"{keys[n.name]} (node {n.name!r})" for n in nodes if lookup(keys[n.name]) is None]
    if missing:
        raise EngineError(f"the direct path has no mapping for {', '.join(missing[:8])}")
    env: dict[str, Any] = {}
    user_inputs = [n for n in gm.graph.nodes if n.op == "placeholder" and n.name not in sources]
    if len(user_inputs) != 1:
        raise EngineError(
            f"the direct path takes modules with one input tensor, this one has {len(user_inputs)}"
        )
    rows: list[MapRow] = []
    outputs: Any = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node.name] = sources.get(node.name) or Ref(ctx.b.input(shape, name=ctx.unique("x")))
        elif node.op == "get_attr":
            env[node.name] = _attribute(gm, node.target)
        elif node.op == "output":
            outputs = node.args[0]
        else:
            rows.append(_convert_node(ctx, gm, node, keys[node.name], env, tracer))
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    graph = ctx.b.build([ctx.tensor(_resolve(o, env)) for o in outs])
    return graph, tuple(_named(r, graph) for r in rows)


def _attribute(gm, target: str) -> Any:
    value = gm
    for part in target.split("."):
        value = getattr(value, part)
    if hasattr(value, "detach"):
        return Weight(target, to_numpy(value))
    raise EngineError(f"the direct path cannot read the attribute {target!r} (not a tensor)")


def _convert_node(ctx: Context, gm, node, key: str, env: dict, tracer: str) -> MapRow:
    ctx.emitted, ctx.note = [], ""
    args, kwargs = _resolve(node.args, env), _resolve(node.kwargs, env)
    try:
        value = call(ctx, gm, node, key, args, kwargs)
    except EngineError as exc:
        raise type(exc)(f"{exc} (in {tracer} node {node.name!r}, {key})") from None
    if isinstance(value, Ref) and ctx.emitted and value.ref == ctx.emitted[-1][0]:
        ctx.b.bind(ctx.unique(node.name), value.ref)  # the node's name for its result
    env[node.name] = value
    if key.startswith("aten.") and key.split(".")[1].endswith("_") and hasattr(node.args[0], "name"):
        env[node.args[0].name] = value  # in place: later reads of the input see the result
    note = ctx.note or ("" if ctx.emitted else _passed(value))
    ours = tuple(op for _, op in ctx.emitted)
    return MapRow(node.name, key, ours, tuple(ref for ref, _ in ctx.emitted), note)


def _passed(value: Any) -> str:
    if isinstance(value, (Ref, Weight)):
        return "no op: the same values (a view, or nothing to do at inference)"
    return f"folded to the Python value {value!r}"


def _named(row: MapRow, graph: Graph) -> MapRow:
    """Builder refs ("%k") -> the final node names (``build`` keeps the order of the nodes)."""
    return MapRow(
        row.source, row.source_op, row.ours, tuple(graph.nodes[int(r[1:])].name for r in row.nodes), row.note
    )
