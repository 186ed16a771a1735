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
     constants and Conv+BN and removes redundant nodes), then after ``pattern_fuse`` too (decomposed
     LayerNorm/GELU/softmax/attention -> one op), and kernels after ``fusion`` (comparable to
     extended, whose fusions merge an op with its activation), with each multi-op group's op chain.
:func:`compare_patterns` runs the same comparison on small torch modules that export those layers
decomposed (``torch.onnx.export(dynamo=False)``, :data:`PATTERN_MODELS`): where onnxruntime 1.32's
counts and ours agree or differ. What onnxruntime does there (CPU provider): the basic level fuses
a LayerNorm written with Pow into ``LayerNormalization`` only from opset 17 (the ONNX op's opset) and
an erf GELU into ``Gelu`` only from opset 20; the extended level fuses both at any opset (contrib
ops); neither fuses the d·d variance form, a decomposed softmax or the tanh GELU written by torch,
and attention only becomes ``FusedMatMul`` (the scale folded into the q·kᵀ product) + Softmax +
MatMul. Ours fuses all but the tanh GELU (see :mod:`engine.compiler.passes.pattern_fuse`).
onnxruntime, onnx and torch are imported lazily. Not handled: ORT's ``all`` level (layout transforms
to NCHWc that depend on the CPU), execution-provider-specific fusions (CUDA, TensorRT).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..core.limits import one_torch_trace_at_a_time

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
    ours_ops_patterns: int = 0  # after the basic passes and pattern_fuse
    ours_patterns: tuple[str, ...] = ()  # the fused ops pattern_fuse made, e.g. "layernorm"

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
                level="+ pattern_fuse",
                nodes=self.ours_ops_patterns,
                fused=", ".join(self.ours_patterns),
            ),
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
    from ..compiler.passes.pattern_fuse import pattern_fuse, plan
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
    chosen, _ = plan(basic)
    patterns, _ = pattern_fuse(basic)
    made = tuple(chosen[n.name].op for n in basic.nodes if n.name in chosen)
    return OrtComparison(
        tuple(levels),
        len(graph.op_nodes),
        len(basic.op_nodes),
        len(groups),
        ours_fused,
        len(patterns.op_nodes),
        made,
    )


# -- decomposed patterns exported from torch ---------------------------------------------------------
#: name -> (ONNX opset of the export, what the torch module computes)
PATTERN_MODELS: dict[str, tuple[int, str]] = {
    "layernorm_opset13": (13, "nn.LayerNorm(16): below opset 17 torch writes it as 9 ops (Pow form)"),
    "layernorm_pow": (17, "(x - mean) / sqrt(mean((x - mean)^2) + eps) * g + b, by hand, Pow form"),
    "layernorm_mul": (17, "the same LayerNorm with the variance written as mean(d * d)"),
    "gelu": (17, "nn.GELU(): 0.5 x (1 + erf(x / sqrt 2)), 5 ops below opset 20"),
    "gelu_opset20": (20, "0.5 x (1 + erf(x / sqrt 2)) by hand at opset 20, where ONNX has Gelu"),
    "gelu_tanh": (17, "nn.GELU(approximate='tanh'): the tanh approximation, 9 ops"),
    "softmax": (17, "exp(x - max x) / sum exp(x - max x) by hand (torch.softmax exports 1 op)"),
    "sdpa": (17, "F.scaled_dot_product_attention(q, k, v), one head"),
    "attention": (17, "softmax(q k^T / sqrt d) v by hand, one head"),
}


@lru_cache(maxsize=1)
def _pattern_modules() -> dict[str, Any]:
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812 - torch's own spelling

    class LayerNormByHand(nn.Module):
        def __init__(self, square: bool):
            super().__init__()
            self.square = square
            self.g = nn.Parameter(torch.linspace(0.5, 1.5, 16))
            self.b = nn.Parameter(torch.linspace(-0.2, 0.2, 16))

        def forward(self, x):
            d = x - x.mean(-1, keepdim=True)
            var = (d * d if self.square else d.pow(2)).mean(-1, keepdim=True)
            return d / torch.sqrt(var + 1e-5) * self.g + self.b

    class Fn(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, *xs):
            return self.fn(*xs)

    def softmax(x):
        e = torch.exp(x - x.amax(-1, keepdim=True))
        return e / e.sum(-1, keepdim=True)

    def attention(q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v

    gelu = Fn(lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))))

    def layer_norm():  # non-trivial γ and β: a swapped scale and bias would show
        module = nn.LayerNorm(16)
        with torch.no_grad():
            module.weight.copy_(torch.linspace(0.5, 1.5, 16))
            module.bias.copy_(torch.linspace(-0.2, 0.2, 16))
        return module

    return {
        "layernorm_opset13": layer_norm,
        "layernorm_pow": lambda: LayerNormByHand(square=False),
        "layernorm_mul": lambda: LayerNormByHand(square=True),
        "gelu": lambda: nn.GELU(),
        "gelu_opset20": lambda: gelu,
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
        "softmax": lambda: Fn(softmax),
        "sdpa": lambda: Fn(F.scaled_dot_product_attention),
        "attention": lambda: Fn(attention),
    }


def _check_pattern_names(names) -> list[str]:
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise EngineError(f"pattern model names must be a list of names, got {names!r}")
    unknown = [n for n in names if n not in PATTERN_MODELS]
    if unknown:
        raise EngineError(
            f"there is no pattern model named {unknown[0]!r}; choose one of {', '.join(PATTERN_MODELS)}"
        )
    return list(names)


@lru_cache(maxsize=16)
@one_torch_trace_at_a_time
def pattern_model_onnx(name: str) -> bytes:
    """The ONNX bytes of pattern model ``name`` (:data:`PATTERN_MODELS`), exported by torch."""
    import io
    import warnings

    _check_pattern_names([name])
    import torch

    torch.manual_seed(0)
    module = _pattern_modules()[name]().eval()
    gen = torch.Generator().manual_seed(1)
    shapes = [(1, 2, 8, 16)] * 3 if name in ("sdpa", "attention") else [(2, 8, 16)]
    args = tuple(torch.randn(s, generator=gen) for s in shapes)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's note that q.shape[-1] becomes a constant
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=PATTERN_MODELS[name][0])
    return buf.getvalue()


@dataclass(frozen=True)
class PatternRow:
    """One pattern model: node counts on both sides and the fused ops each side made."""

    name: str
    opset: int
    ort_basic: int
    ort_extended: int
    ort_fused_basic: tuple[str, ...]  # op types onnxruntime created at the basic level
    ort_fused_extended: tuple[str, ...]  # ... and at the extended level
    ours_basic: int  # after constant_folding, simplify, cse, dce
    ours_patterns: int  # ... and pattern_fuse
    ours_fused: tuple[str, ...]

    @property
    def agrees_basic(self) -> bool:
        """Our pipeline ends with as many nodes as onnxruntime's basic level."""
        return self.ours_patterns == self.ort_basic

    @property
    def agrees_extended(self) -> bool:
        return self.ours_patterns == self.ort_extended


def compare_patterns(names: list[str] | None = None) -> tuple[PatternRow, ...]:
    """:func:`compare_with_ort` on each pattern model (all of :data:`PATTERN_MODELS` by default)."""
    names = list(PATTERN_MODELS) if names is None else _check_pattern_names(names)
    rows = []
    for name in names:
        c = compare_with_ort(pattern_model_onnx(name))
        basic, ext = c.level("basic"), c.level("extended")
        rows.append(
            PatternRow(
                name,
                PATTERN_MODELS[name][0],
                basic.nodes,
                ext.nodes,
                basic.fused,
                ext.fused,
                c.ours_ops_basic,
                c.ours_ops_patterns,
                c.ours_patterns,
            )
        )
    return tuple(rows)
