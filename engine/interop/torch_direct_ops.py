"""The direct path's emitters: each turns one torch op into our op(s) through a :class:`Context`.

The :class:`Context` is a GraphBuilder that records which of our ops every source node became. A
tensor value is a :class:`Ref` (a builder ref) or a :class:`Weight` (a weight not placed yet: it
becomes a param, with its values, where an op first reads it). Emitters take the op's arguments as
torch would (``conv(c, x, w, b, stride, padding, dilation, groups)``) and check what we cannot do
(ceil_mode, transposed convolutions, ...) with a message naming it. Shapes are static (the
example's), so Python values computed from them (``x.size(0)``, ``x.shape[1] * 2``) are numbers.
Not handled: what each emitter refuses by name; which torch spellings reach which emitter is the
table's business (:mod:`engine.interop.torch_direct_table`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import EngineError
from ..core.ir import GraphBuilder


@dataclass(frozen=True)
class Ref:
    """A tensor of the graph being built (a builder ref)."""

    ref: str


@dataclass(frozen=True, eq=False)
class Weight:
    """A weight tensor not yet placed in the graph: it becomes a param (with its values) when used."""

    name: str
    array: np.ndarray


class Context:
    """The builder plus what one conversion keeps: the ops of the current node, params by name."""

    def __init__(self, title: str):
        self.b = GraphBuilder(title)
        self.emitted: list[tuple[str, str]] = []  # (builder ref, our op) of the current node
        self.note = ""
        self._params: dict[str, str] = {}
        self._taken: set[str] = set()

    def unique(self, base: str) -> str:
        base = re.sub(r"[^0-9A-Za-z_.]", "_", base).strip("._") or "v"
        name, k = base, 1
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def tensor(self, value: Any) -> str:
        """The builder ref of a tensor value; a Weight becomes a param, a number a constant."""
        if isinstance(value, Ref):
            return value.ref
        if isinstance(value, Weight):
            if value.name not in self._params:
                arr = np.ascontiguousarray(value.array, dtype=np.float32)
                self._params[value.name] = self.b.param(arr.shape, name=self.unique(value.name), value=arr)
            return self._params[value.name]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.b.constant(np.float32(value), name=self.unique("const"))
        raise EngineError(f"torch_direct: expected a tensor, got the Python value {value!r}")

    def op(self, name: str, *inputs: Any, **attrs: Any) -> Ref:
        ref = self.b.op(name, *(self.tensor(i) for i in inputs), **attrs)
        self.emitted.append((ref, name))
        return Ref(ref)

    def shape(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, Weight):
            return tuple(value.array.shape)
        return self.b.shape_of(self.tensor(value))


def to_numpy(tensor: Any) -> np.ndarray:
    """A torch tensor's values as a float32 numpy array (a copy)."""
    return tensor.detach().cpu().numpy().astype(np.float32, copy=True)


# -- helpers -------------------------------------------------------------------------------------
def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)


def _hw(v) -> int | list[int]:
    p = _pair(v)
    return p[0] if p[0] == p[1] else list(p)


def tensor_value(v) -> bool:
    return isinstance(v, (Ref, Weight))


def _ones(ctx: Context, n: int, what: str) -> Weight:
    ctx.note = f"the missing {what} became a constant of ones"
    return Weight(ctx.unique(what), np.ones(n, np.float32))


# -- emitters ------------------------------------------------------------------------------------
def unary(op: str) -> Callable:
    return lambda c, x, *rest, **kw: c.op(op, x)


def passthrough(c: Context, x, *rest, **kw):
    return x


_PY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


def binary(op: str) -> Callable:
    def emit(c: Context, a, b, *rest, alpha=1, **kw):
        if not tensor_value(a) and not tensor_value(b):
            return _PY[op](a, b)  # shape arithmetic on Python numbers
        if alpha != 1:
            b = c.op("mul", b, float(alpha))
        return c.op(op, a, b)

    return emit


def conv(c: Context, x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    if padding_mode != "zeros":
        raise EngineError(f"conv2d with padding_mode={padding_mode!r} is not supported (only zeros)")
    kernel = c.shape(w)
    if len(kernel) != 4:
        raise EngineError(f"only 2-D convolutions are supported; the weight has shape {list(kernel)}")
    if isinstance(padding, str):
        reach = [d * (k - 1) for d, k in zip(_pair(dilation), kernel[2:])]
        if padding == "same" and any(r % 2 for r in reach):
            raise EngineError("padding='same' with an even kernel pads unevenly, which is not supported")
        padding = [r // 2 for r in reach] if padding == "same" else 0
    ins = [x, w] + ([b] if b is not None else [])
    return c.op(
        "conv2d", *ins, stride=_hw(stride), pad=_hw(padding), dilation=_hw(dilation), groups=int(groups)
    )


def convolution(c, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    if transposed:
        raise EngineError("transposed convolutions are not supported")
    return conv(c, x, w, b, stride, padding, dilation, groups)


def batchnorm(c: Context, x, weight, bias, mean, var, training=False, momentum=0.1, eps=1e-5, *rest):
    if training:
        raise EngineError("training-mode BatchNorm (batch statistics) is not supported; call model.eval()")
    channels = c.shape(x)[1]
    weight = weight if weight is not None else _ones(c, channels, "bn.scale")
    bias = bias if bias is not None else Weight(c.unique("bn.shift"), np.zeros(channels, np.float32))
    return c.op("batchnorm", x, weight, bias, mean, var, epsilon=float(eps))


def linear(c: Context, x, w, b=None):
    if isinstance(w, Weight):
        wt = Weight(w.name + ".T", np.ascontiguousarray(w.array.T))
        c.note = "x @ Wᵀ + b: the weight is stored transposed (once, at conversion)"
    else:
        wt = c.op("transpose", w, perm=[1, 0])
    y = c.op("matmul", x, wt)
    return c.op("add", y, b) if b is not None else y


def addmm(c: Context, bias, a, b, *rest, **kw):
    return c.op("add", c.op("matmul", a, b), bias)


def maxpool(c: Context, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *rest, **kw):
    if ceil_mode:
        raise EngineError("pooling with ceil_mode=True is not supported")
    if _pair(dilation) != (1, 1):
        raise EngineError("pooling with dilation is not supported")
    stride = stride if stride not in (None, [], ()) else kernel_size
    return c.op("maxpool", x, kernel=_hw(kernel_size), stride=_hw(stride), pad=_hw(padding))


def avgpool(
    c: Context,
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    if ceil_mode or divisor_override:
        raise EngineError("average pooling with ceil_mode or divisor_override is not supported")
    if any(_pair(padding)) and count_include_pad:
        raise EngineError(
            "average pooling that counts the zero padding (count_include_pad=True) is not supported"
        )
    stride = stride if stride not in (None, [], ()) else kernel_size
    return c.op("avgpool", x, kernel=_hw(kernel_size), stride=_hw(stride), pad=_hw(padding))


def adaptive(c: Context, x, output_size):
    size = _pair(output_size)
    if size == (1, 1):
        return c.op("global_avgpool", x)
    raise EngineError(f"adaptive average pooling to {list(size)} is not supported (only to 1x1)")


def flatten(c: Context, x, start_dim=0, end_dim=-1):
    shape = c.shape(x)
    s, e = start_dim % len(shape), end_dim % len(shape)
    if (s, e) == (1, len(shape) - 1):
        return c.op("flatten", x, axis=1)
    return c.op("reshape", x, shape=[*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :]])


def reshape(c: Context, x, *shape, **kw):
    dims = list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else list(shape)
    if not all(isinstance(d, int) for d in dims):
        raise EngineError("a reshape to sizes computed at run time is not supported")
    return c.op("reshape", x, shape=dims)


def reduce(op: str) -> Callable:
    def emit(c: Context, x, dim=None, keepdim=False, *rest, **kw):
        axes = None if dim is None else [dim] if isinstance(dim, int) else list(dim)
        return c.op(op, x, axes=axes, keepdims=int(bool(keepdim)))

    return emit


def transpose(c: Context, x, d0=0, d1=1):
    perm = list(range(len(c.shape(x))))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return c.op("transpose", x, perm=perm)


def permute(c: Context, x, *dims):
    dims = list(dims[0]) if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else list(dims)
    return c.op("transpose", x, perm=dims)


def softmax(c: Context, x, dim=None, *rest, **kw):
    if dim is None:
        raise EngineError("softmax without a dim is not supported; pass dim=")
    return c.op("softmax", x, axis=int(dim))


def layernorm(c: Context, x, normalized_shape, weight=None, bias=None, eps=1e-5, *rest):
    if weight is None and bias is not None:
        weight = _ones(c, c.shape(x)[-1], "ln.scale")
    ins = [v for v in (x, weight, bias) if v is not None]
    return c.op("layernorm", *ins, axis=-len(normalized_shape), epsilon=float(eps))


def hardtanh(c: Context, x, min_val=-1.0, max_val=1.0, *rest):
    if (float(min_val), float(max_val)) == (0.0, 6.0):
        return c.op("relu6", x)
    return c.op("clip", x, min=float(min_val), max=float(max_val))


def gelu(c: Context, x, approximate="none"):
    if approximate != "none":
        raise EngineError(f"GELU with approximate={approximate!r} is not supported")
    return c.op("gelu", x)


def leaky_relu(c: Context, x, negative_slope=0.01, inplace=False):
    return c.op("leaky_relu", x, alpha=float(negative_slope))


def silu(c: Context, x, *rest, **kw):
    c.note = "x · sigmoid(x): two of our ops"
    return c.op("mul", x, c.op("sigmoid", x))


def shape_value(c: Context, x, dim=None):
    shape = c.shape(x)
    return tuple(shape) if dim is None else shape[dim]


def getattr_value(c: Context, x, name: str):
    if name == "shape" and tensor_value(x):
        return tuple(c.shape(x))
    raise EngineError(f"reading the attribute {name!r} is not supported")


def getitem(c: Context, seq, index):
    if tensor_value(seq):
        raise EngineError("indexing a tensor (x[...]) is not supported")
    return seq[index]
