"""The direct path's mapping table: torch.fx modules, functions and methods, and ATen ops -> our ops.

A source op is named by a key: ``nn.Conv2d`` (an fx ``call_module``), ``F.relu`` / ``torch.flatten`` /
``operator.add`` (``call_function``), ``Tensor.view`` (``call_method``), ``aten.conv2d.default``
(torch.export). Each key maps to one emitter of :mod:`engine.interop.torch_direct_ops`; the many
spellings of one op (``torch.relu``, ``F.relu``, ``Tensor.relu``, ``aten.relu.default``) share it.
Stages of a lookup: :func:`node_key` names an fx node, :func:`lookup` finds its emitter (None: not
mapped), :func:`call` runs it (a module's emitter also gets the module, to read its weights).
What a key maps to is a choice with consequences, shown on the conversion lab: ``Linear`` becomes
``matmul`` + ``add`` with the weight stored transposed (ATen's ``linear`` is x @ Wᵀ + b), where the
ONNX exporter writes one ``Gemm``; BatchNorm stays a ``batchnorm`` op (the ONNX exporter folds it).
Not handled: keys missing from the table (the converter names them all), ceil_mode and dilated
pools, transposed convolutions, adaptive pooling to anything but 1x1, tanh-approximated GELU.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ..core.errors import EngineError
from .torch_direct_ops import (
    Context,
    Weight,
    adaptive,
    addmm,
    avgpool,
    batchnorm,
    binary,
    conv,
    convolution,
    flatten,
    gelu,
    getattr_value,
    getitem,
    hardtanh,
    layernorm,
    leaky_relu,
    linear,
    maxpool,
    passthrough,
    permute,
    reduce,
    reshape,
    shape_value,
    silu,
    softmax,
    tensor_value,
    to_numpy,
    transpose,
    unary,
)


def node_key(node, gm) -> str:
    """The table key of an fx node (see the module docstring)."""
    if node.op == "call_module":
        return "nn." + type(gm.get_submodule(node.target)).__name__
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    if hasattr(target, "overloadpacket"):  # an ATen OpOverload from torch.export
        return str(target)
    import torch
    import torch.nn.functional as F

    name = getattr(target, "__name__", str(target))
    for prefix, space in (("operator", operator), ("torch", torch), ("F", F)):
        if getattr(space, name, None) is target:
            return f"{prefix}.{name}"
    return "getattr" if target is getattr else f"{getattr(target, '__module__', '?')}.{name}"


def lookup(key: str) -> Callable | None:
    return MODULES.get(key[3:]) if key.startswith("nn.") else FUNCTIONS.get(key)


def call(ctx: Context, gm, node, key: str, args, kwargs) -> Any:
    """Run the emitter of ``key`` on the node's resolved arguments."""
    if key.startswith("nn."):
        return MODULES[key[3:]](ctx, gm.get_submodule(node.target), str(node.target), *args, **kwargs)
    return FUNCTIONS[key](ctx, *args, **kwargs)


def _weight(module, prefix: str, attr: str) -> Weight | None:
    t = getattr(module, attr, None)
    return None if t is None else Weight(f"{prefix}.{attr}", to_numpy(t))


def _bn_module(c: Context, m, prefix: str, x):
    if m.running_mean is None:
        raise EngineError("BatchNorm without running statistics (track_running_stats=False) is not supported")
    stats = [_weight(m, prefix, a) for a in ("weight", "bias", "running_mean", "running_var")]
    return batchnorm(c, x, *stats, False, 0.1, m.eps)


def _module(emit: Callable) -> Callable:
    """A module whose call is the function ``emit`` (no attributes to read)."""
    return lambda c, m, prefix, *args, **kw: emit(c, *args, **kw)


MODULES: dict[str, Callable] = {
    "Conv2d": lambda c, m, p, x: conv(
        c,
        x,
        _weight(m, p, "weight"),
        _weight(m, p, "bias"),
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        m.padding_mode,
    ),
    "BatchNorm2d": _bn_module,
    "Linear": lambda c, m, p, x: linear(c, x, _weight(m, p, "weight"), _weight(m, p, "bias")),
    "ReLU": _module(unary("relu")),
    "ReLU6": _module(unary("relu6")),
    "Sigmoid": _module(unary("sigmoid")),
    "Tanh": _module(unary("tanh")),
    "Hardswish": _module(unary("hswish")),
    "SiLU": _module(silu),
    "GELU": lambda c, m, p, x: gelu(c, x, m.approximate),
    "LeakyReLU": lambda c, m, p, x: c.op("leaky_relu", x, alpha=float(m.negative_slope)),
    "Hardtanh": lambda c, m, p, x: hardtanh(c, x, m.min_val, m.max_val),
    "MaxPool2d": lambda c, m, p, x: maxpool(
        c, x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode
    ),
    "AvgPool2d": lambda c, m, p, x: avgpool(
        c, x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override
    ),
    "AdaptiveAvgPool2d": lambda c, m, p, x: adaptive(c, x, m.output_size),
    "Flatten": lambda c, m, p, x: flatten(c, x, m.start_dim, m.end_dim),
    "Dropout": _module(passthrough),
    "Identity": _module(passthrough),
    "Softmax": lambda c, m, p, x: softmax(c, x, m.dim),
    "LayerNorm": lambda c, m, p, x: layernorm(
        c, x, m.normalized_shape, _weight(m, p, "weight"), _weight(m, p, "bias"), m.eps
    ),
}


def _spellings(name: str, aten: str = "default") -> str:
    return f"torch.{name} F.{name} Tensor.{name} aten.{name}.{aten} aten.{name}_.{aten}"


def _f_batch_norm(c, x, mean, var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return batchnorm(c, x, weight, bias, mean, var, training, momentum, eps)


def _floordiv(c: Context, a, b):
    if tensor_value(a) or tensor_value(b):
        raise EngineError("the operator // on tensors is not supported")
    return a // b


def _rows() -> list[tuple[Callable, str]]:
    """(emitter, its keys separated by spaces): every spelling of one op shares an emitter."""
    unaries = ("relu sigmoid tanh exp log sqrt abs neg sin cos erf", "hardswish:hswish relu6")
    rows = [(unary(op.split(":")[-1]), _spellings(op.split(":")[0])) for op in " ".join(unaries).split()]
    for name, py in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "truediv")):
        keys = f"operator.{py} operator.i{py} {_spellings(name, 'Tensor')} aten.{name}.Scalar"
        rows.append((binary(name), keys))
    return rows + [
        (unary("neg"), "operator.neg"),
        (_floordiv, "operator.floordiv"),
        (
            lambda c, a, b: c.op("matmul", a, b),
            f"operator.matmul {_spellings('matmul')} torch.mm aten.mm.default torch.bmm aten.bmm.default",
        ),
        (conv, "F.conv2d torch.conv2d aten.conv2d.default aten.conv2d.padding"),
        (convolution, "aten.convolution.default"),
        (linear, "F.linear aten.linear.default"),
        (addmm, "torch.addmm aten.addmm.default"),
        (batchnorm, "aten.batch_norm.default"),
        (_f_batch_norm, "F.batch_norm"),
        (maxpool, "F.max_pool2d torch.max_pool2d aten.max_pool2d.default"),
        (avgpool, "F.avg_pool2d aten.avg_pool2d.default"),
        (
            adaptive,
            "F.adaptive_avg_pool2d aten.adaptive_avg_pool2d.default aten._adaptive_avg_pool2d.default",
        ),
        (reduce("reduce_mean"), "torch.mean Tensor.mean aten.mean.dim"),
        (reduce("reduce_sum"), "torch.sum Tensor.sum aten.sum.dim_IntList aten.sum.default"),
        (flatten, "torch.flatten Tensor.flatten aten.flatten.using_ints"),
        (
            reshape,
            "Tensor.view Tensor.reshape torch.reshape aten.view.default aten.reshape.default "
            "aten._unsafe_view.default",
        ),
        (transpose, "Tensor.transpose torch.transpose aten.transpose.int"),
        (permute, "Tensor.permute torch.permute aten.permute.default"),
        (lambda c, x: transpose(c, x, 0, 1), "Tensor.t torch.t aten.t.default"),
        (lambda c, xs, dim=0: c.op("concat", *xs, axis=int(dim)), "torch.cat torch.concat aten.cat.default"),
        (softmax, "F.softmax torch.softmax Tensor.softmax aten.softmax.int aten._softmax.default"),
        (layernorm, "F.layer_norm aten.layer_norm.default"),
        (hardtanh, "F.hardtanh aten.hardtanh.default aten.hardtanh_.default"),
        (gelu, "F.gelu aten.gelu.default"),
        (silu, "F.silu aten.silu.default aten.silu_.default"),
        (leaky_relu, "F.leaky_relu aten.leaky_relu.default aten.leaky_relu_.default"),
        (
            passthrough,
            "Tensor.contiguous Tensor.clone Tensor.detach aten.clone.default aten.alias.default "
            "aten.detach.default F.dropout torch.dropout aten.dropout.default",
        ),
        (shape_value, "Tensor.size aten.sym_size.int"),
        (getattr_value, "getattr"),
        (getitem, "operator.getitem"),
    ]


FUNCTIONS: dict[str, Callable] = {key: emit for emit, keys in _rows() for key in keys.split()}
