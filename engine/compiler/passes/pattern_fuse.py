"""Pattern fusion: decomposed LayerNorm, GELU, softmax and attention subgraphs become one fused op.

Exporters write these layers as chains of small ops: ``torch.onnx.export(dynamo=False)`` below
opset 17 writes ``nn.LayerNorm`` as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add, and
below opset 20 ``nn.GELU`` as Div, Erf, Add, Mul, Mul; ``F.scaled_dot_product_attention`` becomes
Mul, Transpose, Mul, MatMul, Softmax, MatMul. Stages:
  1. static scalars: a one-element node computed from ``constant`` nodes only (eps, 0.5, √2, or the
     1/√d that an exporter computes with Shape, Sqrt and Div) is evaluated with its kernel; a
     ``param`` is a weight, never read as a constant;
  2. matching, from the outputs back (reverse topological order, so the largest pattern wins), with
     each node tried as the last node of
       * attention: ``matmul(P, v)``, P = softmax(S) over the last axis (the op or its decomposed
         form), S = scalars × ``matmul(q·c, transpose(k)·c)`` with the transpose swapping the last
         two axes -> ``attention(q, k, v, scale)``, scale = the product of the scalars;
       * layernorm: ``(d / sqrt(var + eps)) · γ + β`` (γ and β optional; ``d · 1/sqrt(..)`` and
         ``d · (..)^-0.5`` too) with d = x - reduce_mean(x), var = reduce_mean(d², d·d or square(d))
         over the same trailing axes (keepdims) -> ``layernorm(x, γ, β, axis, epsilon=eps)``;
       * gelu: a product whose factors are x, 0.5 and 1 + erf(x·(1/√2)) (or x/√2), in any order and
         grouping -> ``gelu(x)``;
       * softmax: ``e / reduce_sum(e)``, e = exp(x - reduce_max(x)) or exp(x), one axis, keepdims ->
         ``softmax(x, axis)`` (the stable form, so a naive exp(x) that overflowed to nan no longer does).
     GELU's tanh approximation is recognised and reported but kept: the gelu op is the exact erf
     form, and the two differ by up to 4.7e-4 (at x ≈ ±2.7);
  3. legality: every node of the pattern but its last feeds only nodes of the pattern and is not a
     graph output (a refused pattern is logged with the node and its outside user), and the fused
     op's shape inference gives the last node's shape;
  4. rewrite: the last node becomes the fused op under its own name (users and output names are
     kept); the rest loses its users and is swept (see ``common``).
Not handled: masked or causal attention, dropout, RMSNorm, LayerNorm over non-trailing axes or with
β but no γ, a softmax written as e · (1 / sum), products that broadcast a factor to a bigger shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import EngineError, ShapeError
from ...core.interpreter import apply_op, source_value
from ...core.ir import Graph, Node
from ...core.ops.common import numel
from ...core.registry import get_op
from .common import Rewriter

GELU_TANH_GAP = 4.7e-4  # max |gelu_tanh(x) - gelu(x)|, at x ≈ ±2.70


@dataclass(frozen=True)
class Match:
    """One pattern: its last node ``root`` becomes ``op(*inputs, **attrs)``; ``covered`` is every
    node of the pattern, root included."""

    op: str
    root: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, Any], ...]
    covered: frozenset[str]

    def call(self) -> str:
        """``layernorm(x, g, b, axis=-1, epsilon=1e-05)``: the fused op as one would write it."""
        args = list(self.inputs) + [
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.attrs
        ]
        return f"{self.op}({', '.join(args)})"


def _f32(value: float) -> float:
    """The shortest decimal that is ``value`` in float32 (the kernels compute in float32):
    an eps stored as float32 9.9999997e-06 becomes 1e-05 again."""
    return float(str(np.float32(value)))


def _near(value: float | None, want: float, rel: float = 1e-5) -> bool:
    return value is not None and math.isclose(value, want, rel_tol=rel, abs_tol=1e-12)


class _Matcher:
    """Reads the graph (never changes it) and answers: is a pattern's last node here?"""

    def __init__(self, graph: Graph):
        self.by = graph.by_name
        self.users = graph.users
        self.outputs = set(graph.outputs)
        self.static: dict[str, float] = {}
        for n in graph.nodes:  # stage 1, in one forward sweep
            if numel(n.shape) != 1 or n.op in ("input", "param"):
                continue
            if n.op == "constant":
                self.static[n.name] = float(np.asarray(source_value(n, 0)).reshape(-1)[0])
            elif n.inputs and all(i in self.static for i in n.inputs):
                args = [np.asarray(self.static[i], np.float32).reshape(self.by[i].shape) for i in n.inputs]
                try:
                    with np.errstate(all="ignore"):
                        self.static[n.name] = float(np.asarray(apply_op(n, args)).reshape(-1)[0])
                except EngineError:  # an op that refuses a scalar: not a constant we can use
                    continue

    # -- helpers ---------------------------------------------------------------------------------
    def private(self, name: str) -> bool:
        return len(self.users[name]) == 1 and name not in self.outputs

    def split(self, node: Node) -> tuple[str, float] | None:
        """(the other input, the scalar) of a binary node with exactly one static scalar input."""
        a, b = node.inputs
        if (a in self.static) == (b in self.static):
            return None
        other, c = (b, self.static[a]) if a in self.static else (a, self.static[b])
        return (other, c) if self.by[other].shape == node.shape else None

    def peel(self, name: str, cov: set[str], scale: float, inner: bool) -> tuple[str, float]:
        """Strip multiplications/divisions by static scalars (only private ones unless ``inner``)."""
        while True:
            node = self.by[name]
            part = self.split(node) if node.op in ("mul", "div") else None
            if part is None or (not inner and not self.private(name)):
                return name, scale
            if node.op == "div" and (node.inputs[1] not in self.static or part[1] == 0):
                return name, scale  # c / x is no scaling of x
            cov.add(name)
            name, scale = part[0], scale * part[1] if node.op == "mul" else scale / part[1]

    def factors(self, name: str, cov: set[str]) -> tuple[list[str], float]:
        """Non-scalar factors and the scalar product of the product tree at ``name``."""
        leaves, const, stack = [], 1.0, [(name, True)]
        while stack:
            n, top = stack.pop()
            node = self.by[n]
            if n in self.static:
                const *= self.static[n]
            elif node.op == "mul" and node.shape == self.by[name].shape and (top or self.private(n)):
                cov.add(n)
                stack += [(i, False) for i in node.inputs]
            elif (
                node.op == "div"
                and node.inputs[1] in self.static
                and node.shape == self.by[node.inputs[0]].shape
                and (top or self.private(n))
            ):
                cov.add(n)
                const /= self.static[node.inputs[1]] or math.nan
                stack.append((node.inputs[0], False))
            elif node.op == "pow" and self.static.get(node.inputs[1]) in (2.0, 3.0) and self.private(n):
                cov.add(n)
                stack += [(node.inputs[0], False)] * int(self.static[node.inputs[1]])
            else:
                leaves.append(n)
        return leaves, const

    def reduce_axis(self, node: Node, op: str, src: str) -> tuple[int, ...] | None:
        """The normalised axes of ``op(src, keepdims=1)``, or None if ``node`` is not that."""
        if node.op != op or node.inputs[0] != src or not node.attr("keepdims", 0):
            return None
        rank = len(self.by[src].shape)
        axes = node.attr("axes")
        return tuple(range(rank)) if axes is None else tuple(sorted(int(a) % rank for a in axes))

    # -- the patterns ----------------------------------------------------------------------------
    def softmax(self, root: str) -> Match | None:
        node = self.by[root]
        if node.op != "div":
            return None
        e, s = node.inputs
        exp, total = self.by[e], self.by[s]
        if exp.op != "exp":
            return None
        axes = self.reduce_axis(total, "reduce_sum", e)
        if axes is None or len(axes) != 1:
            return None
        x, cov = exp.inputs[0], {root, e, s}
        shifted = self.by[x]
        if (
            shifted.op == "sub"
            and self.reduce_axis(self.by[shifted.inputs[1]], "reduce_max", shifted.inputs[0]) == axes
        ):
            cov |= {x, shifted.inputs[1]}
            x = shifted.inputs[0]
        return Match("softmax", root, (x,), (("axis", axes[0] - len(node.shape)),), frozenset(cov))

    def layernorm(self, root: str) -> Match | None:
        node = self.by[root]
        options = []
        if node.op == "add":
            options += [(a, b) for a, b in (node.inputs, node.inputs[::-1])]
        for scaled, beta in options + [(root, None)]:
            inner = self.by[scaled]
            pairs = [(a, b) for a, b in (inner.inputs, inner.inputs[::-1])] if inner.op == "mul" else []
            for core, gamma in pairs + ([(scaled, None)] if beta is None else []):
                found = self._ln_core(core)
                if found is None:
                    continue
                x, k, eps, cov = found
                extra = [t for t in (gamma, beta) if t is not None]
                norm = self.by[x].shape[len(self.by[x].shape) - k :]
                if all(_broadcasts(self.by[t].shape, norm) for t in extra):
                    cov |= {root, scaled}
                    attrs = (("axis", -k), ("epsilon", _f32(eps)))
                    return Match("layernorm", root, (x, *extra), attrs, frozenset(cov))
        return None

    def _ln_core(self, n: str) -> tuple[str, int, float, set[str]] | None:
        """x, the number of normalised axes, eps and the nodes of (x - mean) / sqrt(var + eps)."""
        node, cov = self.by[n], {n}
        if node.op == "div":
            tries = [(node.inputs[0], node.inputs[1], "sqrt")]
        elif node.op == "mul":
            tries = [(a, r, "rsqrt") for a, r in (node.inputs, node.inputs[::-1])]
        else:
            return None
        for d, den, form in tries:
            den_node, ve, extra = self.by[den], None, {den}
            if form == "sqrt" and den_node.op == "sqrt":
                ve = den_node.inputs[0]
            elif (
                form == "rsqrt" and den_node.op == "pow" and _near(self.static.get(den_node.inputs[1]), -0.5)
            ):
                ve = den_node.inputs[0]
            elif form == "rsqrt" and den_node.op == "div" and _near(self.static.get(den_node.inputs[0]), 1.0):
                root = self.by[den_node.inputs[1]]
                ve, extra = (root.inputs[0], {den, root.name}) if root.op == "sqrt" else (None, extra)
            found = None if ve is None else self._ln_variance(d, ve)
            if found is not None:
                return found[0], found[1], found[2], cov | found[3] | extra
        return None

    def _ln_variance(self, d: str, ve: str) -> tuple[str, int, float, set[str]] | None:
        node, eps, var = self.by[ve], 0.0, ve
        if node.op == "add" and self.split(node) is not None:
            var, eps = self.split(node)
        sub, var_node = self.by[d], self.by[var]
        if sub.op != "sub" or eps < 0 or var_node.op != "reduce_mean":
            return None
        x, mean = sub.inputs
        sq = self.by[var_node.inputs[0]]
        squares = (sq.op == "square" and sq.inputs == (d,)) or (sq.op == "mul" and sq.inputs == (d, d))
        if sq.op == "pow" and sq.inputs[0] == d and _near(self.static.get(sq.inputs[1]), 2.0):
            squares = True
        axes = self.reduce_axis(self.by[mean], "reduce_mean", x)
        rank = len(self.by[x].shape)
        if not squares or axes is None or axes != self.reduce_axis(var_node, "reduce_mean", sq.name):
            return None
        if axes != tuple(range(rank - len(axes), rank)):
            return None
        return x, len(axes), float(eps), {ve, var, sq.name, d, mean}

    def gelu(self, root: str) -> Match | str | None:
        """A Match for the erf form, the root's name for the tanh form (reported, kept), or None."""
        if self.by[root].op != "mul":
            return None
        cov: set[str] = set()
        leaves, half = self.factors(root, cov)
        if len(leaves) != 2 or not _near(half, 0.5):
            return None
        for x, one_plus in (leaves, leaves[::-1]):
            add = self.by[one_plus]
            part = self.split(add) if add.op == "add" else None
            if part is None or not _near(part[1], 1.0) or self.by[part[0]].op not in ("erf", "tanh"):
                continue
            inner, arg_cov = self.by[part[0]], set()
            arg_leaves, c = self.factors(inner.inputs[0], arg_cov)
            if inner.op == "erf" and arg_leaves == [x] and _near(c, 1 / math.sqrt(2)):
                cov |= {root, one_plus, inner.name} | arg_cov
                return Match("gelu", root, (x,), (), frozenset(cov))
            if inner.op == "tanh" and len(arg_leaves) == 1 and _near(c, math.sqrt(2 / math.pi)):
                cubic = self.by[arg_leaves[0]]
                if cubic.op == "add" and x in cubic.inputs:
                    other = cubic.inputs[1] if cubic.inputs[0] == x else cubic.inputs[0]
                    cube, c3 = self.factors(other, set())
                    if cube == [x, x, x] and _near(c3, 0.044715):
                        return root
        return None

    def attention(self, root: str) -> Match | None:
        node = self.by[root]
        if node.op != "matmul":
            return None
        p, v = node.inputs
        cov, probs = {root}, self.by[p]
        if probs.op == "softmax":
            axis, scores = int(probs.attr("axis", -1)) % len(probs.shape), probs.inputs[0]
            cov.add(p)
        else:
            sm = self.softmax(p)
            if sm is None:
                return None
            axis, scores = dict(sm.attrs)["axis"] % len(probs.shape), sm.inputs[0]
            cov |= sm.covered
        if axis != len(probs.shape) - 1:
            return None
        mm, scale = self.peel(scores, cov, 1.0, inner=True)
        if self.by[mm].op != "matmul":
            return None
        cov.add(mm)
        a, b = self.by[mm].inputs
        q, scale = self.peel(a, cov, scale, inner=False)
        kt, scale = self.peel(b, cov, scale, inner=False)
        t = self.by[kt]
        rank = len(t.shape)
        swap = tuple(range(rank - 2)) + (rank - 1, rank - 2)
        perm = t.attr("perm") if t.op == "transpose" else ()
        perm = tuple(range(rank)[::-1]) if perm is None else tuple(int(a) % rank for a in perm)
        if t.op != "transpose" or rank < 2 or perm != swap:
            return None
        if self.private(kt):
            cov.add(kt)
        k, scale = self.peel(t.inputs[0], cov, scale, inner=False)
        return Match("attention", root, (q, k, v), (("scale", _f32(scale)),), frozenset(cov))


def _broadcasts(shape, target) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target`` (ONNX unidirectional broadcasting)."""
    shape, target = tuple(shape), tuple(target)
    return len(shape) <= len(target) and all(s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


def _shape_fits(graph: Graph, m: Match) -> bool:
    op = get_op(m.op)
    shapes = [graph.node(i).shape for i in m.inputs]
    try:
        shape, _ = op.infer(shapes, ["float32"] * len(shapes), {**op.attrs, **dict(m.attrs)})
    except ShapeError:
        return False
    return tuple(shape) == graph.node(m.root).shape


def _outside_user(mt: _Matcher, m: Match) -> tuple[str, str] | None:
    """(an inner node of the pattern, a node outside it that reads it), or (node, "") for an
    inner node that is a graph output; None when the pattern is legal."""
    for n in sorted(m.covered - {m.root}):
        if n in mt.outputs:
            return n, ""
        outside = [u for u in mt.users[n] if u not in m.covered]
        if outside:
            return n, outside[0]
    return None


def plan(graph: Graph) -> tuple[dict[str, Match], list[str]]:
    """Stages 1-3: the legal, non-overlapping matches by last node, and a log of what was refused."""
    mt = _Matcher(graph)
    chosen: dict[str, Match] = {}
    claimed: set[str] = set()
    refused: set[tuple[str, str, str]] = set()
    log: list[str] = []
    for node in reversed(graph.nodes):
        if node.is_source or node.name in claimed:
            continue
        for find in (mt.attention, mt.layernorm, mt.gelu, mt.softmax):
            m = find(node.name)
            if isinstance(m, str):
                log.append(
                    f"pattern_fuse: tanh-approximate GELU at {m} left as is: the gelu op is the exact "
                    f"erf form, and the two differ by up to {GELU_TANH_GAP:g}"
                )
                break
            if m is None or m.covered & claimed or not _shape_fits(graph, m):
                continue
            shared = _outside_user(mt, m)
            if shared is not None:
                inner, user = shared
                if (m.op, inner, user) in refused:  # the same block, met again from a smaller pattern
                    continue
                refused.add((m.op, inner, user))
                if user:
                    log.append(
                        f"pattern_fuse: {m.op} pattern at {m.root} left as is: {inner} is also read by {user}"
                    )
                else:
                    log.append(
                        f"pattern_fuse: {m.op} pattern at {m.root} left as is: {inner} is a graph output"
                    )
                continue
            chosen[m.root] = m
            claimed |= m.covered
            break
    return chosen, log


def pattern_fuse(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` with each decomposed LayerNorm, GELU, softmax and attention replaced by its fused op."""
    chosen, log = plan(graph)
    if not chosen:
        if not log:  # (else the log already says what was found and why it stays)
            log.append("pattern_fuse: no decomposed LayerNorm, GELU, softmax or attention pattern found")
        return graph, log
    rw = Rewriter(graph)
    for node in graph.nodes:
        m = chosen.get(node.name)
        rw.emit(node if m is None else node.replace(op=m.op, inputs=m.inputs, attrs=dict(m.attrs)))
    after = rw.finish()
    order = {n.name: k for k, n in enumerate(graph.nodes)}
    for m in sorted(chosen.values(), key=lambda m: order[m.root]):
        log.append(f"pattern_fuse: {len(m.covered)} ops -> {m.call()} at {m.root}")
    log.append(f"pattern_fuse: {len(graph.op_nodes)} op(s) -> {len(after.op_nodes)} op(s)")
    return after, log
