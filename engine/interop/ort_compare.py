"""Side by side with a real compiler: onnxruntime's optimised graph vs our passes on the same model.

Stages of :func:`compare_with_ort`:
  1. the model as ONNX bytes (a Graph is exported with :func:`engine.to_onnx`; uploaded bytes are
     size-checked) and as our Graph (:func:`engine.from_onnx`);
  2. for each onnxruntime level — ``disabled`` (the model as given), ``basic`` and ``extended`` — open
     an ``InferenceSession`` whose ``SessionOptions.optimized_model_filepath`` points at a temporary
     file, so onnxruntime writes the graph it will run; read that file back with ``onnx.load``;
  3. count its nodes, its op types, and the *fused* ops: op types that did not exist in the input
     model (``FusedConv``, ``FusedGemm``, ``Gemm`` made from MatMul+Add, …), with the activation a
     ``Fused*`` op absorbed (its ``activation`` attribute);
  4. our side: ops after ``constant_folding, simplify, cse, dce`` (comparable to basic, which folds
     constants and Conv+BN and removes redundant nodes) and kernels after ``fusion`` (comparable to
     extended, whose fusions merge an op with its activation), with each multi-op group's op chain.
onnxruntime and onnx are imported lazily. Not handled: ORT's ``all`` level (layout transforms to
NCHWc that depend on the CPU), execution-provider-specific fusions (CUDA, TensorRT).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph

LEVELS = ("disabled", "basic", "extended")
_ORT_LEVEL = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED"}
BASIC_PASSES = ["constant_folding", "simplify", "cse", "dce"]


@dataclass(frozen=True)
class OrtLevel:
    level: str
    nodes: int
    op_counts: tuple[tuple[str, int], ...]
    fused: tuple[str, ...]  # e.g. "FusedConv(Relu)", "Gemm"


@dataclass(frozen=True)
class OrtComparison:
    levels: tuple[OrtLevel, ...]
    ours_ops_before: int
    ours_ops_basic: int
    ours_kernels: int
    ours_fused: tuple[str, ...]  # e.g. "conv2d+relu"

    def level(self, name: str) -> OrtLevel:
        for lv in self.levels:
            if lv.level == name:
                return lv
        raise EngineError(f"no onnxruntime level {name!r}; levels are {', '.join(LEVELS)}")

    def rows(self) -> list[dict]:
        """A table: one row per side/level."""
        out = [
            dict(side="ours", level="as given", nodes=self.ours_ops_before, fused=""),
            dict(side="ours", level="fold+simplify+cse+dce", nodes=self.ours_ops_basic, fused=""),
            dict(
                side="ours",
                level="+ fusion (kernels)",
                nodes=self.ours_kernels,
                fused=", ".join(self.ours_fused),
            ),
        ]
        for lv in self.levels:
            out.append(dict(side="onnxruntime", level=lv.level, nodes=lv.nodes, fused=", ".join(lv.fused)))
        return out


def _fused_ops(model, original_types: set[str]) -> tuple[str, ...]:
    found = []
    for node in model.graph.node:
        if node.op_type in original_types:
            continue
        act = next((a.s.decode() for a in node.attribute if a.name == "activation"), "")
        found.append(f"{node.op_type}({act})" if act else node.op_type)
    return tuple(found)


def ort_optimized(model_bytes: bytes, level: str):
    """The graph onnxruntime will run at ``level``, read back from its saved optimised model."""
    import onnx
    import onnxruntime as ort

    if level not in LEVELS:
        raise EngineError(f"unknown onnxruntime level {level!r}; choose one of {', '.join(LEVELS)}")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVEL[level])
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "optimized.onnx")
        options.optimized_model_filepath = path
        try:
            ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise EngineError(f"onnxruntime could not load the model: {exc}") from None
        return onnx.load(path)


def compare_with_ort(model: Graph | bytes) -> OrtComparison:
    """Our pass pipeline and onnxruntime's basic/extended levels on the same model."""
    from ..compiler.passes import optimize
    from ..compiler.passes.constant_folding import check_static_part
    from ..compiler.passes.fusion import analyse
    from .onnx_export import to_onnx
    from .onnx_import import from_onnx

    # onnxruntime's basic level folds constant subgraphs in C++: bound that work first (for a
    # Graph before exporting it, which draws every weight)
    if isinstance(model, Graph):
        check_static_part(model)
        graph, data = model, to_onnx(model)
    elif isinstance(model, (bytes, bytearray)):
        if len(model) > budget.MAX_ONNX_BYTES:
            raise EngineError(f"the model has {len(model):,} bytes; the limit is {budget.MAX_ONNX_BYTES:,}")
        data = bytes(model)
        graph = from_onnx(data)
        check_static_part(graph)
    else:
        raise EngineError(f"compare_with_ort() needs a Graph or ONNX bytes, got {type(model).__name__}")
    levels = []
    original_types: set[str] = set()
    for level in LEVELS:
        opt = ort_optimized(data, level)
        types = Counter(n.op_type for n in opt.graph.node)
        if level == "disabled":
            original_types = set(types)
        levels.append(
            OrtLevel(
                level, len(opt.graph.node), tuple(sorted(types.items())), _fused_ops(opt, original_types)
            )
        )
    basic, _ = optimize(graph, BASIC_PASSES)
    groups = analyse(basic).groups
    ours_fused = tuple("+".join(basic.node(n).op for n in g) for g in groups if len(g) > 1)
    return OrtComparison(tuple(levels), len(graph.op_nodes), len(basic.op_nodes), len(groups), ours_fused)
