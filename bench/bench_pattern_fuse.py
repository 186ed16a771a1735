"""pattern_fuse timings: the scan of the zoo ResNet-18 graph (nothing to fuse: the cost every graph
pays), and a stack of decomposed transformer encoder blocks (LayerNorm, single-head attention and a
GELU MLP written as exporters write them), median after a first call."""

from __future__ import annotations

import math

from bench.run import median_time
from engine.compiler.passes.pattern_fuse import pattern_fuse
from engine.core.ir import GraphBuilder
from engine.interop.torch_zoo import zoo_graph


def _layernorm(b, x, width):
    d = b.op("sub", x, b.op("reduce_mean", x, axes=(-1,), keepdims=1))
    var = b.op("reduce_mean", b.op("pow", d, b.constant(2.0)), axes=(-1,), keepdims=1)
    n = b.op("div", d, b.op("sqrt", b.op("add", var, b.constant(1e-5))))
    return b.op("add", b.op("mul", n, b.param((width,), init="ones")), b.param((width,), init="zeros"))


def _gelu(b, x):
    t = b.op("add", b.op("erf", b.op("div", x, b.constant(math.sqrt(2)))), b.constant(1.0))
    return b.op("mul", b.op("mul", x, t), b.constant(0.5))


def encoder_stack(blocks: int, tokens: int = 16, width: int = 32):
    """``blocks`` pre-norm encoder blocks, every LayerNorm, softmax and GELU decomposed."""
    b = GraphBuilder(f"{blocks} decomposed encoder blocks")
    h = b.input((tokens, width), name="x")
    for _ in range(blocks):
        a = _layernorm(b, h, width)
        q, k, v = (b.op("matmul", a, b.param((width, width))) for _ in range(3))
        s = b.op("div", b.op("matmul", q, b.op("transpose", k)), b.op("sqrt", b.constant(float(width))))
        e = b.op("exp", b.op("sub", s, b.op("reduce_max", s, axes=(-1,), keepdims=1)))
        p = b.op("div", e, b.op("reduce_sum", e, axes=(-1,), keepdims=1))
        h = b.op("add", h, b.op("matmul", b.op("matmul", p, v), b.param((width, width))))
        m = b.op(
            "matmul",
            _gelu(b, b.op("matmul", _layernorm(b, h, width), b.param((width, 4 * width)))),
            b.param((4 * width, width)),
        )
        h = b.op("add", h, m)
    return b.build([h])


def run() -> list[dict]:
    rows = []
    resnet = zoo_graph("resnet18")  # torch -> ONNX -> Graph once (cached), outside the timings
    t = median_time(lambda: pattern_fuse(resnet), repeat=7)
    rows.append(
        dict(
            name=f"pattern_fuse on zoo ResNet-18 ({len(resnet.nodes)} nodes, nothing to fuse)",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note="the scan every graph pays: static scalars + 4 matchers per node",
        )
    )
    stack = encoder_stack(24)
    after, log = pattern_fuse(stack)
    t = median_time(lambda: pattern_fuse(stack), repeat=7)
    fused = {op: sum(n.op == op for n in after.op_nodes) for op in ("layernorm", "attention", "gelu")}
    rows.append(
        dict(
            name=f"pattern_fuse on 24 decomposed encoder blocks ({len(stack.nodes)} nodes)",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{len(stack.op_nodes)} -> {len(after.op_nodes)} ops; "
            + ", ".join(f"{n} {op}" for op, n in fused.items()),
        )
    )
    return rows
