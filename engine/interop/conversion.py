"""Model conversion, two ways: directly (torch -> our IR through torch.fx/export) and canonically
(torch -> ONNX -> our IR), side by side.

:func:`convert` is the public entry point; :func:`compare` is the conversion lab's glue.
Stages of :func:`compare`:
  1. build the model and its example input (:mod:`engine.interop.conversion_models`) and run torch on
     it and on the negated input (the oracle; ``-x`` takes the other branch of the ``gated`` model);
  2. convert both ways, each timed; a path that fails keeps its message (an op named, a trace
     refused) and the other still runs;
  3. run each graph on both inputs and compare with torch (largest absolute difference);
  4. count our ops per path and explain the differences: BatchNorm folded, Gemm vs MatMul + Add,
     GELU spelled out, shape subgraphs folded, Flatten vs Reshape, nodes that needed no op.
:func:`onnx_with_mapping` reads ONNX as :func:`~engine.interop.onnx_import.from_onnx` does (its own
steps, after from_onnx has vetted the model) and records which of our ops each ONNX node became.
Opset conversion is in :mod:`engine.interop.opset_conversion`.
Not handled: models with several inputs, dynamic axes other than the batch.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import EngineError
from ..core.interpreter import run
from ..core.ir import Graph, GraphBuilder
from ..core.limits import one_torch_trace_at_a_time
from .conversion_models import build
from .onnx_export import OPSET
from .torch_direct import MapRow, from_torch_direct

PATHS = ("direct", "onnx")
SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Constant", "Cast", "Range", "Slice")


@one_torch_trace_at_a_time
def export_onnx(module: Any, example_input: Any, dynamic_batch: bool = False, opset: int = OPSET) -> bytes:
    """ONNX bytes of ``module`` (TorchScript exporter, constants folded); optionally a dynamic batch."""
    from .torch_import import torch_to_onnx_bytes

    if not dynamic_batch:
        return torch_to_onnx_bytes(module, example_input, opset)
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (example_input,),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "batch"}},
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001 - torch raises many types when tracing fails
        raise EngineError(
            f"from_torch: torch could not export this module to ONNX: {str(exc).splitlines()[0][:300]}"
        ) from None
    return buf.getvalue()


def convert(model: Any, example_input: Any = None, path: str = "direct", tracer: str = "fx"):
    """(Graph, mapping rows) of a torch ``nn.Module`` (with ``example_input``) or of ONNX bytes."""
    if path not in PATHS:
        raise EngineError(f"unknown conversion path {path!r}; choose one of {', '.join(PATHS)}")
    if isinstance(model, (bytes, bytearray)):
        if path != "onnx":
            raise EngineError("ONNX bytes convert through path='onnx'; the direct path needs a torch module")
        return onnx_with_mapping(bytes(model))
    if example_input is None:
        raise EngineError("converting a torch module needs an example input tensor")
    if path == "direct":
        return from_torch_direct(model, example_input, tracer)
    from .torch_import import from_torch

    from_torch(model, example_input)  # the same checks and messages as the canonical import
    return onnx_with_mapping(export_onnx(model, example_input))


class _Recorder(GraphBuilder):
    """A GraphBuilder that remembers the ops it adds, so each ONNX node's ops can be listed."""

    def __init__(self, title: str):
        super().__init__(title)
        self.added: list[tuple[str, str]] = []

    def op(self, op_name: str, *inputs: str, name: str | None = None, **attrs: Any) -> str:
        ref = super().op(op_name, *inputs, name=name, **attrs)
        self.added.append((ref, op_name))
        return ref


def onnx_with_mapping(data: bytes) -> tuple[Graph, tuple[MapRow, ...]]:
    """Our graph of ONNX ``data`` and one row per ONNX node (what it became, or why nothing)."""
    from . import onnx_import as oi

    oi.from_onnx(data)  # every check of the hardened reader first (size, opsets, unsupported ops)
    proto = oi._load_model(data)  # noqa: SLF001 - the reader's own steps, see the module docstring
    r = oi._Reader(proto)  # noqa: SLF001
    r.b = _Recorder(r.b.title)
    for vi in proto.graph.input:
        if vi.name not in r.consts:
            dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
            r.put(vi.name, r.b.input(dims))
    rows = []
    for k, node in enumerate(proto.graph.node):
        at = oi._attrs(node, r.opset)  # noqa: SLF001
        start = len(r.b.added)
        folded = oi._fold(r, node, at)  # noqa: SLF001
        if not folded:
            oi._convert(r, node, at)  # noqa: SLF001
        made = r.b.added[start:]
        note = _onnx_note(node.op_type) if folded else ""
        rows.append(
            MapRow(
                node.name or f"{node.op_type}_{k}",
                node.op_type,
                tuple(op for _, op in made),
                tuple(ref for ref, _ in made),
                note,
            )
        )
    graph = r.b.build([r.tensor(o.name) for o in proto.graph.output])
    named = [
        MapRow(w.source, w.source_op, w.ours, tuple(graph.nodes[int(x[1:])].name for x in w.nodes), w.note)
        for w in rows
    ]
    return graph, tuple(named)


def _onnx_note(op_type: str) -> str:
    if op_type == "Constant":
        return "folded at import: a constant"
    if op_type in SHAPE_OPS:
        return "folded at import: computes a shape or index (static here)"
    return "folded at import: all its inputs are constants"


@dataclass(frozen=True)
class PathResult:
    """One conversion path on one model: its mapping, op counts, and its outputs against torch."""

    path: str
    rows: tuple[MapRow, ...] = ()
    ops: tuple[tuple[str, int], ...] = ()  # our op -> count
    params: int = 0  # numbers held by param and constant nodes
    max_diff: float | None = None  # largest |ours - torch| on the example input
    other_diff: float | None = None  # ... on the negated input
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def count(self, op: str) -> int:
        return dict(self.ops).get(op, 0)


@dataclass(frozen=True)
class Comparison:
    model: str
    tracer: str
    direct: PathResult
    onnx: PathResult
    torch_params: int
    notes: tuple[str, ...]

    def op_rows(self) -> list[tuple[str, int, int]]:
        """(our op, count directly, count through ONNX) for every op either path uses."""
        ops = sorted({op for op, _ in self.direct.ops} | {op for op, _ in self.onnx.ops})
        return [(op, self.direct.count(op), self.onnx.count(op)) for op in ops]


def _run_path(path: str, make, x, want, other) -> PathResult:
    start = time.perf_counter()
    try:
        graph, rows = make()
    except EngineError as exc:
        return PathResult(path, seconds=time.perf_counter() - start, error=str(exc))
    seconds = time.perf_counter() - start
    out, out_other = (run(graph, {"x": v})[graph.outputs[0]] for v in (x, -x))
    ops = Counter(n.op for n in graph.op_nodes)
    params = sum(int(np.prod(n.shape)) for n in graph.nodes if n.op in ("param", "constant"))
    return PathResult(
        path,
        rows,
        tuple(sorted(ops.items())),
        params,
        float(np.abs(out - want).max()),
        float(np.abs(out_other - other).max()),
        seconds,
    )


def compare(name: str, tracer: str = "fx", dynamic_batch: bool = False) -> Comparison:
    """Both conversions of model ``name`` against torch (see the module docstring)."""
    import torch

    module, example = build(name)
    with torch.no_grad():
        want, other = module(example).numpy(), module(-example).numpy()
    x = example.numpy()
    direct = _run_path(
        f"direct ({tracer})", lambda: from_torch_direct(module, example, tracer), x, want, other
    )
    onnx = _run_path(
        "onnx", lambda: onnx_with_mapping(export_onnx(module, example, dynamic_batch)), x, want, other
    )
    torch_params = sum(p.numel() for p in module.parameters())
    return Comparison(name, tracer, direct, onnx, torch_params, _notes(direct, onnx))


def _notes(direct: PathResult, onnx: PathResult) -> tuple[str, ...]:
    """Sentences on what one path keeps, folds or spells out that the other does not."""
    if not (direct.ok and onnx.ok):
        return ()
    notes = []
    bn = direct.count("batchnorm") - onnx.count("batchnorm")
    if bn > 0:
        notes.append(
            f"BatchNorm: the ONNX exporter folded {bn} batchnorm ops into the convolutions' weights "
            f"and biases; the direct graph keeps them ({direct.params - onnx.params:,} more numbers)"
        )
    if onnx.count("gemm") and not direct.count("gemm"):
        notes.append(
            f"Linear: {onnx.count('gemm')} Gemm through ONNX (one op, transB=1), matmul + add "
            "directly (the weight stored transposed)"
        )
    erf = onnx.count("erf")
    if direct.count("gelu") and erf:
        notes.append(
            f"GELU: {direct.count('gelu')} gelu op(s) directly; the ONNX exporter spells each out "
            f"as Div, Erf, Add, Mul, Mul ({5 * erf} ops, and our graph keeps them)"
        )
    shapes = [r for r in onnx.rows if not r.ours and r.source_op in SHAPE_OPS]
    if shapes:
        ops = ", ".join(sorted({r.source_op for r in shapes}))
        notes.append(f"{len(shapes)} ONNX nodes only compute shapes or constants ({ops}): folded at import")
    for op in ("flatten", "reshape"):
        if direct.count(op) != onnx.count(op):
            notes.append(f"{op}: {direct.count(op)} directly, {onnx.count(op)} through ONNX")
    idle = [r for r in direct.rows if not r.ours]
    if idle:
        notes.append(
            f"{len(idle)} source nodes needed no op directly (views, dropout, sizes read from the example)"
        )
    return tuple(notes)
