"""Hypothesis strategies for property tests over the engine's IR.

``random_graphs(max_nodes=8)`` draws a small, valid :class:`engine.core.ir.Graph` built with
:class:`engine.core.ir.GraphBuilder` from a mix of ops: unary elementwise (relu, tanh, sigmoid, gelu,
hswish, ...), broadcasting binary ops (add, sub, mul, div, max, min, pow) against other values or
broadcastable params, matmul against a param, reshape, flatten, transpose, reduce_sum/mean/max,
softmax, concat, split and slice.

Guarantees, so that a property test can compare values with a tolerance:
  * tensors are small (rank 1-3 to start, sizes 1-4; at most a few hundred elements);
  * values stay finite: ``log`` only sees ``sigmoid`` outputs, ``exp`` only ``tanh`` outputs,
    ``div`` divides by ``exp(tanh(.))`` (in [0.37, 2.72]) and ``pow`` raises a ``sigmoid`` output to
    an exponent in [0.5, 3];
  * every graph passes :func:`engine.core.ir.validate`; its outputs are the last node plus, sometimes, an
    earlier one; some values are bound to program variables ``v0``, ``v1``, ... (and some are
    rebound, so ``v0#1``-style names occur).

``random_cnn_graphs(max_nodes=6)`` draws small NCHW networks instead: conv2d (1x1 or 3x3, stride
1 or 2, optional bias, sometimes grouped/depthwise), batchnorm (variance from the ``uniform`` init,
so positive), relu/hswish/sigmoid, max/avg pooling, residual adds between equal shapes, and sometimes
a global_avgpool + flatten + gemm head — for passes such as Conv+BN folding and fusion.

Usage::

    from hypothesis import given
    from tests.strategies import random_graphs

    @given(random_graphs(max_nodes=10))
    def test_my_pass_keeps_values(graph): ...

(``tests/`` is on ``sys.path`` via conftest, so ``from strategies import random_graphs`` also works.)
"""

from __future__ import annotations

from hypothesis import strategies as st

from engine.core.errors import ShapeError
from engine.core.ir import Graph, GraphBuilder
from engine.core.ops.common import broadcast_shape

UNARY = ("relu", "tanh", "sigmoid", "neg", "sin", "cos", "gelu", "hswish", "relu6", "abs", "identity")
BINARY = ("add", "sub", "mul", "max", "min")
FAMILIES = (
    "unary",
    "binary",
    "exp",
    "log",
    "div",
    "pow",
    "matmul",
    "reshape",
    "flatten",
    "transpose",
    "reduce",
    "softmax",
    "concat",
    "split",
    "slice",
)


def _broadcasts(a, b) -> bool:
    try:
        broadcast_shape("probe", a, b)
        return True
    except ShapeError:
        return False


class _Maker:
    """Adds one random op at a time to a builder, keeping a pool of (ref, shape)."""

    def __init__(self, draw, builder: GraphBuilder):
        self.draw = draw
        self.b = builder
        self.pool: list[str] = []
        self.params = 0

    def shape(self, ref):
        return self.b.shape_of(ref)

    def param(self, shape, init="normal"):
        self.params += 1
        return self.b.param(shape, init=init, name=f"p{self.params}")

    def other_for(self, a):
        """A value that broadcasts with ``a``: from the pool, or a fresh param."""
        shape = self.shape(a)
        fits = [r for r in self.pool if _broadcasts(self.shape(r), shape)]
        if fits and self.draw(st.booleans()):
            return self.draw(st.sampled_from(fits))
        drop = self.draw(st.integers(0, len(shape)))
        dims = tuple(d if self.draw(st.booleans()) else 1 for d in shape[drop:])
        return self.param(dims)

    def add(self, family: str, a: str) -> str:
        b, d, shape = self.b, self.draw, self.shape(a)
        if family == "unary" or (
            not shape
            and family
            in ("matmul", "reshape", "flatten", "transpose", "reduce", "softmax", "concat", "split", "slice")
        ):
            return b.op(d(st.sampled_from(UNARY)), a)
        if family == "binary":
            other = self.other_for(a)
            pair = (a, other) if d(st.booleans()) else (other, a)
            return b.op(d(st.sampled_from(BINARY)), *pair)
        if family == "exp":
            return b.op("exp", b.op("tanh", a))
        if family == "log":
            return b.op("log", b.op("sigmoid", a))
        if family == "div":
            return b.op("div", a, b.op("exp", b.op("tanh", self.other_for(a))))
        if family == "pow":
            expo = b.constant(d(st.sampled_from((0.5, 1.0, 2.0, 3.0))))
            return b.op("pow", b.op("sigmoid", a), expo)
        if family == "matmul":
            w = self.param((shape[-1], d(st.integers(1, 4))))
            return b.op("matmul", a, w)
        if family == "reshape":
            return b.op("reshape", a, shape=(-1,) if len(shape) > 1 else (1, -1))
        if family == "flatten":
            return b.op("flatten", a, axis=d(st.integers(0, len(shape))))
        if family == "transpose":
            perm = d(st.permutations(range(len(shape))))
            return b.op("transpose", a, perm=tuple(perm))
        if family == "reduce":
            axes = d(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
            op = d(st.sampled_from(("reduce_sum", "reduce_mean", "reduce_max")))
            return b.op(op, a, axes=tuple(axes) or None, keepdims=int(d(st.booleans())))
        if family == "softmax":
            return b.op("softmax", a, axis=d(st.integers(-len(shape), len(shape) - 1)))
        if family == "concat":
            same = [r for r in self.pool if self.shape(r) == shape]
            other = d(st.sampled_from(same)) if same else a
            return b.op("concat", a, other, axis=d(st.integers(0, len(shape) - 1)))
        if family == "split":
            axis = d(st.integers(0, len(shape) - 1))
            parts = d(st.sampled_from([p for p in (1, 2, 3, 4) if shape[axis] % p == 0]))
            return b.op("split", a, parts=parts, axis=axis, index=d(st.integers(0, parts - 1)))
        # slice: a non-empty, possibly strided or reversed, window on one axis
        axis = d(st.integers(0, len(shape) - 1))
        n = shape[axis]
        if d(st.booleans()):
            start = d(st.integers(0, n - 1))
            return b.op(
                "slice",
                a,
                starts=(start,),
                ends=(d(st.integers(start + 1, n + 2)),),
                axes=(axis,),
                steps=(d(st.integers(1, 2)),),
            )
        return b.op("slice", a, starts=(-1,), ends=(-n - 5,), axes=(axis,), steps=(-1,))


@st.composite
def random_graphs(draw, max_nodes: int = 8, max_dim: int = 4) -> Graph:
    """A random valid Graph of 1..``max_nodes`` op steps (see the module docstring)."""
    b = GraphBuilder("random graph")
    maker = _Maker(draw, b)
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, max_dim), min_size=rank, max_size=rank)))
    maker.pool.append(b.input(shape, name="x"))
    if draw(st.booleans()):
        maker.pool.append(b.input(shape, name="y"))
    refs = []
    for _ in range(draw(st.integers(1, max(1, max_nodes)))):
        src = draw(st.sampled_from(maker.pool[-4:]))
        family = draw(st.sampled_from(FAMILIES))
        ref = maker.add(family, src)
        if draw(st.integers(0, 3)) == 0:
            b.bind(f"v{draw(st.integers(0, 2))}", ref)
        maker.pool.append(ref)
        refs.append(ref)
    outputs = [refs[-1]]
    if len(refs) > 2 and draw(st.booleans()):
        outputs.insert(0, draw(st.sampled_from(refs[:-1])))
    return b.build(outputs)


def _cnn_step(draw, b: GraphBuilder, pool: list[str], k: int) -> str:
    """One random CNN layer on the most recent value."""
    x = pool[-1]
    n, c, h, w = b.shape_of(x)
    choice = draw(st.sampled_from(("conv", "conv", "bn", "act", "pool", "add")))
    if choice == "conv":
        kernel = draw(st.sampled_from((1, 3)))
        pad = kernel // 2
        stride = draw(st.sampled_from((1, 2))) if min(h, w) >= 4 else 1
        cout = draw(st.integers(1, 4))
        groups = c if cout == c and c > 1 and draw(st.booleans()) else 1
        wt = b.param((cout, c // groups, kernel, kernel), name=f"conv{k}.w")
        args = [x, wt] + ([b.param((cout,), name=f"conv{k}.b")] if draw(st.booleans()) else [])
        return b.op("conv2d", *args, stride=stride, pad=pad, groups=groups)
    if choice == "bn":
        stats = [
            b.param((c,), name=f"bn{k}.{s}", init="uniform" if s == "var" else "normal")
            for s in ("scale", "bias", "mean", "var")
        ]
        return b.op("batchnorm", x, *stats)
    if choice == "pool" and min(h, w) >= 2:
        return b.op(draw(st.sampled_from(("maxpool", "avgpool"))), x, kernel=2)
    if choice == "add":
        same = [r for r in pool[:-1] if b.shape_of(r) == b.shape_of(x)]
        if same:
            return b.op("add", x, draw(st.sampled_from(same)))
    return b.op(draw(st.sampled_from(("relu", "hswish", "sigmoid"))), x)


@st.composite
def random_cnn_graphs(draw, max_nodes: int = 6) -> Graph:
    """A random small valid NCHW network of 1..``max_nodes`` layers (see the module docstring)."""
    b = GraphBuilder("random cnn")
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 4)),
        draw(st.integers(4, 8)),
        draw(st.integers(4, 8)),
    )
    pool = [b.input(shape, name="x")]
    for k in range(draw(st.integers(1, max(1, max_nodes)))):
        pool.append(_cnn_step(draw, b, pool, k))
    if draw(st.booleans()):
        feat = b.op("flatten", b.op("global_avgpool", pool[-1]))
        w = b.param((3, b.shape_of(feat)[1]), name="fc.w")
        pool.append(b.op("gemm", feat, w, trans_b=1, name="logits"))
    return b.build([pool[-1]])
