"""Algebraic simplification: local rewrite rules applied in one forward sweep.

Stages:
  1. walk the nodes in topological order; each node's producers are looked up *after* their own
     rewriting, so chains (three transposes, four reshapes) collapse in the same sweep;
  2. try the rules, first match wins:
       * identities: ``x*1``, ``1*x``, ``x+0``, ``0+x``, ``x-0``, ``x/1``, ``x**1`` -> ``x`` (only when the
         constant does not broadcast ``x`` to a bigger shape), ``identity(x)`` -> ``x``;
       * transposes: a transpose by the identity permutation -> ``x``; ``transpose(transpose(x, p), q)``
         -> ``transpose(x, p∘q)`` (-> ``x`` if that is the identity);
       * reshapes: a reshape/flatten to the same shape -> ``x``; a reshape/flatten of a
         reshape/flatten -> one reshape to the final shape;
       * ``add(matmul(A, B), C)`` -> ``gemm(A, B, C)`` for 2-D A, B when C broadcasts to the product and
         the matmul feeds nothing else (onnxruntime's basic-level MatMul+Add fusion);
       * Conv+BatchNorm folding: ``batchnorm(conv2d(x, w, b), γ, β, μ, σ²)`` -> ``conv2d(x, w', b')``
         with, per output channel c, ``s = γ / sqrt(σ² + ε)``, ``w'[c] = w[c]·s``,
         ``b'[c] = (b[c] - μ)·s + β`` (b = 0 without a bias). NOTE: the book's formula
         ``b' = β - μ·s`` drops the conv bias ``b``; it is only right for a bias-free conv. Folded
         only when the conv feeds nothing else and its weights, bias and the BN statistics are
         stored values (weights are frozen at their seed-0 values);
  3. nodes that lost their last user are swept; output names are kept (see ``common``).
Not handled: reassociation (``(x+1)+2``), rules needing value ranges, BN before a conv.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ...core.interpreter import source_value
from ...core.ir import Graph, Node, Tensor
from .common import Rewriter

_NEUTRAL = {
    "add": (0.0, "both"),
    "sub": (0.0, "right"),
    "mul": (1.0, "both"),
    "div": (1.0, "right"),
    "pow": (1.0, "right"),
}
_RESHAPES = ("reshape", "flatten")


def _perm(node: Node, rank: int) -> tuple[int, ...]:
    p = node.attr("perm")
    return tuple(reversed(range(rank))) if p is None else tuple(int(v) for v in p)


def _const_equals(node: Node, value: float) -> bool:
    v = node.attr("value")
    return node.op == "constant" and v is not None and bool(np.all(v.array == value))


class _Simplifier:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.rw = Rewriter(graph)
        self.counts: Counter = Counter()

    def can_alias(self, node: Node, target: str) -> bool:
        """Aliasing an output to a source or another output would only re-create an identity."""
        if node.name not in self.graph.outputs:
            return True
        t = self.rw.resolve(target)
        return not (self.rw.nodes[t].is_source or t in self.graph.outputs)

    def drop(self, node: Node, target: str, rule: str) -> bool:
        if not self.can_alias(node, target):
            return False
        self.rw.alias(node.name, target)
        self.counts[rule] += 1
        return True

    def visit(self, node: Node) -> None:
        if node.is_source or not self.try_rules(node):
            self.rw.emit(node)

    def try_rules(self, node: Node) -> bool:
        op, ins = node.op, [self.rw.resolve(i) for i in node.inputs]
        if op == "identity":
            return self.drop(node, ins[0], "identity(x) -> x")
        if op in _NEUTRAL and self.neutral(node, ins):
            return True
        if op == "add":
            return self.matmul_add(node, ins)
        if op == "transpose":
            return self.transpose(node, ins[0])
        if op in _RESHAPES:
            return self.reshape(node, ins[0])
        if op == "batchnorm":
            return self.conv_bn(node, ins)
        return False

    def neutral(self, node: Node, ins: list[str]) -> bool:
        value, side = _NEUTRAL[node.op]
        a, b = (self.rw.nodes[i] for i in ins)
        if _const_equals(b, value) and a.shape == node.shape:
            return self.drop(node, a.name, f"x {node.op} {value:g} -> x")
        if side == "both" and _const_equals(a, value) and b.shape == node.shape:
            return self.drop(node, b.name, f"{value:g} {node.op} x -> x")
        return False

    def matmul_add(self, node: Node, ins: list[str]) -> bool:
        for k in (0, 1):
            mm, c = self.rw.nodes[ins[k]], self.rw.nodes[ins[1 - k]]
            if (
                mm.op == "matmul"
                and self.graph.users.get(mm.name) == (node.name,)
                and mm.name not in self.graph.outputs
                and len(node.shape) == 2
                and node.shape == mm.shape
                and len(c.shape) <= 2
                and all(len(self.rw.nodes[i].shape) == 2 for i in mm.inputs)
            ):
                self.rw.emit(node.replace(op="gemm", inputs=(*mm.inputs, c.name), attrs={}))
                self.counts["matmul + add -> gemm"] += 1
                return True
        return False

    def transpose(self, node: Node, src: str) -> bool:
        x = self.rw.nodes[src]
        q = _perm(node, len(node.shape))
        if q == tuple(range(len(q))):
            return self.drop(node, src, "transpose by identity perm -> x")
        if x.op != "transpose":
            return False
        p = _perm(x, len(x.shape))
        composed = tuple(p[k] for k in q)
        inner = x.inputs[0]
        if composed == tuple(range(len(composed))):
            return self.drop(node, inner, "transpose(transpose(x)) -> x")
        self.rw.emit(node.replace(inputs=(inner,), attrs={"perm": composed}))
        self.counts["transpose(transpose(x)) -> one transpose"] += 1
        return True

    def reshape(self, node: Node, src: str) -> bool:
        x = self.rw.nodes[src]
        if x.shape == node.shape:
            return self.drop(node, src, "reshape to the same shape -> x")
        if x.op not in _RESHAPES:
            return False
        inner = self.rw.nodes[x.inputs[0]]
        if inner.shape == node.shape:
            return self.drop(node, inner.name, "reshape(reshape(x)) -> x")
        self.rw.emit(node.replace(op="reshape", inputs=(inner.name,), attrs={"shape": tuple(node.shape)}))
        self.counts["reshape(reshape(x)) -> one reshape"] += 1
        return True

    def conv_bn(self, node: Node, ins: list[str]) -> bool:
        conv = self.rw.nodes[ins[0]]
        stats = [self.rw.nodes[i] for i in ins[1:]]
        weights = [self.rw.nodes[i] for i in conv.inputs[1:]] if conv.op == "conv2d" else []
        if (
            conv.op != "conv2d"
            or self.graph.users.get(conv.name) != (node.name,)
            or conv.name in self.graph.outputs
            or not all(n.op in ("param", "constant") for n in stats + weights)
        ):
            return False
        gamma, beta, mean, var = (source_value(n, 0).astype(np.float64) for n in stats)
        w = source_value(weights[0], 0).astype(np.float64)
        b = source_value(weights[1], 0).astype(np.float64) if len(weights) > 1 else np.zeros(w.shape[0])
        scale = gamma / np.sqrt(var + float(node.attr("epsilon", 1e-5)))
        w_new = (w * scale[:, None, None, None]).astype(np.float32)
        b_new = ((b - mean) * scale + beta).astype(np.float32)  # keeps the conv bias b
        w_name = self.rw.emit(
            Node(
                self.rw.fresh(f"{conv.name}.w_bn"),
                "param",
                (),
                (("init", "normal"), ("value", Tensor(w_new))),
                w_new.shape,
            )
        )
        b_name = self.rw.emit(
            Node(
                self.rw.fresh(f"{conv.name}.b_bn"),
                "param",
                (),
                (("init", "normal"), ("value", Tensor(b_new))),
                b_new.shape,
            )
        )
        # the conv moves down to the batchnorm's place (after its new weights) and keeps its name
        self.rw.nodes.pop(conv.name)
        self.rw.emit(conv.replace(inputs=(conv.inputs[0], w_name, b_name)))
        self.drop(node, conv.name, "conv2d + batchnorm -> conv2d (bias kept)")
        return True


def simplify(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` after the algebraic rules of the module docstring, and a log."""
    s = _Simplifier(graph)
    for node in graph.nodes:
        s.visit(node)
    if not s.counts:
        return graph, ["simplify: no rule applied"]
    log = [f"simplify: {count}× {rule}" for rule, count in s.counts.items()]
    return s.rw.finish(), log
