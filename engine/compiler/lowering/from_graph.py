"""Graph op -> tensor expression (:class:`~.texpr.Compute`): the first lowering step.

Stages of :func:`compute_for_node`:
  1. the op's own shape inference gives the output shape for the given input shapes (so the same
     node can be lowered again at new shapes by the shape-specialising JIT);
  2. one builder per op family writes the output element as a formula: elementwise and
     broadcasting ops load their operands with numpy broadcasting (a size-1 or missing dimension is
     read at index 0); matmul/gemm sum over ``k``; conv2d sums over ``ci, kh, kw`` with padded loads;
     pools and reductions fold with sum or max; transpose permutes indices; reshape/flatten read
     the input buffer as if it had the output's shape (same bytes, row-major);
  3. :func:`compute_for_group` lowers a fused group (e.g. one of ``engine.fuse(graph)``): the first
     member is the anchor, every later member must be an elementwise/broadcast op of the output's
     shape reading an earlier member; their formulas become the anchor's epilogue, so the values in
     between never touch memory. The kernel returns only the group's last value.
The elementwise formulas live in :mod:`.formulas`. Symbolic sizes (``Idx`` variables) are
accepted for elementwise ops and matmul/gemm, which is what a shape-generic kernel needs.
Not handled (an EngineError says so): softmax, layernorm, avgpool, concat, split, slice, quantize
ops, integer tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from ...core.errors import EngineError, ShapeError
from ...core.ir import Graph, Node
from ...core.registry import get_op
from .formulas import ELEMENTWISE, broadcast_load, elementwise_value, operand_load
from .index import Idx, idx
from .texpr import AccRef, Axis, Binary, Buffer, Compute, Const, FExpr, Load

REDUCTIONS = ("reduce_sum", "reduce_mean", "reduce_max", "global_avgpool", "maxpool")
ANCHORS = ("matmul", "gemm", "conv2d") + REDUCTIONS
LAYOUT = ("transpose", "reshape", "flatten")
SUPPORTED = ANCHORS + ELEMENTWISE + LAYOUT
MAX_GROUP = 32  # members of one fused group


def _out_shape(node: Node, in_shapes: Sequence[tuple]) -> tuple:
    if all(isinstance(d, int) for s in in_shapes for d in s):
        op = get_op(node.op)
        shape, _ = op.infer([tuple(s) for s in in_shapes], ["float32"] * len(in_shapes), _attrs(node))
        return tuple(int(d) for d in shape)
    return tuple(node.shape)


def _attrs(node: Node) -> dict:
    return {**get_op(node.op).attrs, **node.attr_dict}


def _pair(value) -> tuple[int, int]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * 2


def _spatial(names: Sequence[str], shape: tuple) -> tuple[Axis, ...]:
    return tuple(Axis(n, d) for n, d in zip(names, shape))


def _generic_names(rank: int, prefix: str = "i") -> list[str]:
    return [f"{prefix}{d}" for d in range(rank)]


def _checks(load_indices: Sequence[Idx], shape: tuple, ranges: dict) -> tuple[int, ...]:
    out = []
    for d, (index, size) in enumerate(zip(load_indices, shape)):
        b = index.bounds(ranges)
        if b is None or b[0] < 0 or b[1] >= size:
            out.append(d)
    return tuple(out)


# -- anchors -----------------------------------------------------------------------------------------
def _matmul(node: Node, names: list[str], shapes: list[tuple], out: tuple) -> Compute:
    a, b = shapes[0], shapes[1]
    attrs = _attrs(node)
    if node.op == "gemm":
        m, kk = (a[1], a[0]) if attrs["trans_a"] else a
        n = b[0] if attrs["trans_b"] else b[1]
        a_idx = (idx("k"), idx("i")) if attrs["trans_a"] else (idx("i"), idx("k"))
        b_idx = (idx("j"), idx("k")) if attrs["trans_b"] else (idx("k"), idx("j"))
        axes, batch = _spatial(["i", "j"], (m, n)), 0
    else:
        kk = a[-1]
        batch = len(out) - (len(a) > 1) - (len(b) > 1)
        names_out = (
            [f"b{d}" for d in range(batch)] + (["i"] if len(a) > 1 else []) + (["j"] if len(b) > 1 else [])
        )
        axes = _spatial(names_out, out)
        bnames = [f"b{d}" for d in range(batch)]

        def batch_idx(shape: tuple, core: int) -> list[Idx]:
            lead = len(shape) - core
            own = shape[:lead]
            offset = batch - lead
            return [
                idx(0) if s == 1 and out[offset + d] != 1 else idx(bnames[offset + d])
                for d, s in enumerate(own)
            ]

        a_idx = tuple(batch_idx(a, 2) + [idx("i"), idx("k")]) if len(a) > 1 else (idx("k"),)
        b_idx = tuple(batch_idx(b, 2) + [idx("k"), idx("j")]) if len(b) > 1 else (idx("k"),)
    body = Binary("mul", Load(names[0], a_idx), Load(names[1], b_idx))
    epilogue: FExpr = AccRef()
    if node.op == "gemm":
        if float(attrs["alpha"]) != 1.0:
            epilogue = Binary("mul", epilogue, Const(float(attrs["alpha"])))
        if len(names) > 2:
            c_val: FExpr = broadcast_load(names[2], shapes[2], ("i", "j"), out)
            if float(attrs["beta"]) != 1.0:
                c_val = Binary("mul", Const(float(attrs["beta"])), c_val)
            epilogue = Binary("add", epilogue, c_val)
    return Compute(
        node.name, axes, (Axis("k", kk, True),), body, "sum", 0.0, epilogue, (), f"{node.op} {node.name}"
    )


def _conv2d(node: Node, names: list[str], shapes: list[tuple], out: tuple) -> Compute:
    attrs = _attrs(node)
    (n, cin, h, w), (cout, cg, kh, kw) = shapes[0], shapes[1]
    (sh, sw), (ph, pw), (dh, dw) = _pair(attrs["stride"]), _pair(attrs["pad"]), _pair(attrs["dilation"])
    groups = int(attrs["groups"])
    axes = _spatial(["n", "co", "oh", "ow"], out)
    red = (Axis("ci", cg, True), Axis("kh", kh, True), Axis("kw", kw, True))
    channel = idx("ci") if groups == 1 else idx("co").floordiv(cout // groups) * cg + idx("ci")
    x_idx = (idx("n"), channel, idx("oh") * sh + idx("kh") * dh - ph, idx("ow") * sw + idx("kw") * dw - pw)
    ranges = {a.name: (0, int(a.extent) - 1) for a in axes + red}
    x_load = Load(names[0], x_idx, _checks(x_idx, shapes[0], ranges))
    body = Binary("mul", x_load, Load(names[1], (idx("co"), idx("ci"), idx("kh"), idx("kw"))))
    epilogue: FExpr = AccRef()
    if len(names) > 2:
        epilogue = Binary("add", epilogue, Load(names[2], (idx("co"),)))
    del n, cin, h, w
    return Compute(node.name, axes, red, body, "sum", 0.0, epilogue, (), f"conv2d {node.name}")


def _reduction(node: Node, names: list[str], shapes: list[tuple], out: tuple) -> Compute:
    attrs = _attrs(node)
    x = shapes[0]
    if node.op == "maxpool":
        (kh, kw), p = _pair(attrs["kernel"]), _pair(attrs["pad"])
        s = (kh, kw) if not attrs["stride"] else _pair(attrs["stride"])
        axes = _spatial(["n", "c", "oh", "ow"], out)
        red = (Axis("kh", kh, True), Axis("kw", kw, True))
        x_idx = (idx("n"), idx("c"), idx("oh") * s[0] + idx("kh") - p[0], idx("ow") * s[1] + idx("kw") - p[1])
        ranges = {a.name: (0, int(a.extent) - 1) for a in axes + red}
        load = Load(names[0], x_idx, _checks(x_idx, x, ranges), -math.inf)
        return Compute(node.name, axes, red, load, "max", -math.inf, AccRef(), (), f"maxpool {node.name}")
    if node.op == "global_avgpool":
        reduced, keep = tuple(range(2, len(x))), True
    elif attrs["axes"] is None:
        reduced, keep = tuple(range(len(x))), bool(attrs["keepdims"])
    else:
        given = attrs["axes"] if isinstance(attrs["axes"], (tuple, list)) else (attrs["axes"],)
        reduced, keep = tuple(sorted(int(a) % len(x) for a in given)), bool(attrs["keepdims"])
    axes, red, x_idx = [], [], []
    for d, size in enumerate(x):
        if d in reduced:
            red.append(Axis(f"r{len(red)}", size, True))
            x_idx.append(idx(red[-1].name))
            if keep:
                axes.append(Axis(f"i{len(axes)}", 1))
        else:
            axes.append(Axis(f"i{len(axes)}", size))
            x_idx.append(idx(axes[-1].name))
    combiner = "max" if node.op == "reduce_max" else "sum"
    epilogue: FExpr = AccRef()
    if node.op in ("reduce_mean", "global_avgpool"):
        epilogue = Binary("div", AccRef(), Const(float(math.prod(int(x[d]) for d in reduced))))
    init = -math.inf if combiner == "max" else 0.0
    load = Load(names[0], tuple(x_idx))
    return Compute(
        node.name, tuple(axes), tuple(red), load, combiner, init, epilogue, (), f"{node.op} {node.name}"
    )


def _layout(node: Node, names: list[str], shapes: list[tuple], out: tuple) -> tuple[Compute, tuple]:
    """transpose permutes indices; reshape/flatten view the input with the output's shape."""
    axes = _spatial(_generic_names(len(out)), out)
    if node.op == "transpose":
        perm = _attrs(node)["perm"]
        perm = tuple(reversed(range(len(out)))) if perm is None else tuple(int(p) for p in perm)
        indices = [idx(0)] * len(out)
        for d, p in enumerate(perm):
            indices[p] = idx(axes[d].name)
        body: FExpr = Load(names[0], tuple(indices))
        view = shapes[0]
    else:
        body, view = Load(names[0], tuple(idx(a.name) for a in axes)), out
    return Compute(node.name, axes, (), body, None, 0.0, AccRef(), (), f"{node.op} {node.name}"), view


# -- one node, one group -----------------------------------------------------------------------------
def _check_supported(node: Node) -> None:
    if node.op not in SUPPORTED:
        raise EngineError(
            f"node {node.name!r} is a {node.op}; lowering handles matmul, gemm, conv2d, maxpool, "
            f"global_avgpool, reductions, batchnorm, transpose/reshape and elementwise ops"
        )
    if node.dtype != "float32":
        raise EngineError(f"node {node.name!r} is {node.dtype}; lowering handles float32 tensors only")


def compute_for_node(node: Node, in_shapes: Sequence[tuple]) -> Compute:
    """The tensor expression of ``node`` applied to inputs of ``in_shapes`` (named as the node's)."""
    _check_supported(node)
    names = list(node.inputs)
    out = _out_shape(node, in_shapes)
    shapes = [tuple(s) for s in in_shapes]
    view = {}
    if node.op in ("matmul", "gemm"):
        comp = _matmul(node, names, shapes, out)
    elif node.op == "conv2d":
        comp = _conv2d(node, names, shapes, out)
    elif node.op in REDUCTIONS:
        comp = _reduction(node, names, shapes, out)
    elif node.op in LAYOUT:
        comp, view[names[0]] = _layout(node, names, shapes, out)
    else:
        axes = _spatial(_generic_names(len(out)), out)
        axis_names = [a.name for a in axes]
        loads = [
            operand_load(node.op, p, nm, s, axis_names, out) for p, (nm, s) in enumerate(zip(names, shapes))
        ]
        body = elementwise_value(node.op, _attrs(node), loads)
        comp = Compute(node.name, axes, (), body, None, 0.0, AccRef(), (), f"{node.op} {node.name}")
    buffers = {}
    for nm, s in zip(names, shapes):
        viewed = tuple(view[nm]) if nm in view and tuple(view[nm]) != s else None
        buffers.setdefault(nm, Buffer(nm, viewed or s, "input", s if viewed else None))
    if node.name in buffers:
        raise EngineError(f"node {node.name!r} reads itself")
    return _with_buffers(comp, (*buffers.values(), Buffer(node.name, out, "output")))


def _with_buffers(comp: Compute, buffers: tuple[Buffer, ...]) -> Compute:
    return replace(comp, buffers=buffers)


def compute_for_group(graph: Graph, members: Sequence[str]) -> Compute:
    """A fused group: the anchor's computation with the later members as its epilogue."""
    if not members:
        raise EngineError("a fused group needs at least one node")
    if len(members) > MAX_GROUP:
        raise EngineError(f"a fused group of {len(members)} nodes; the limit is {MAX_GROUP}")
    nodes = [graph.node(m) for m in members]
    order = {n.name: k for k, n in enumerate(graph.nodes)}
    nodes.sort(key=lambda n: order[n.name])
    anchor = nodes[0]
    comp = compute_for_node(anchor, [graph.node(i).shape for i in anchor.inputs])
    if len(nodes) == 1:
        return comp
    out_shape = tuple(anchor.shape)
    axis_names = [a.name for a in comp.axes]
    value: dict[str, FExpr] = {anchor.name: comp.epilogue if comp.combiner else comp.body}
    buffers = {b.name: b for b in comp.inputs}
    for node in nodes[1:]:
        _check_supported(node)
        if node.op not in ELEMENTWISE:
            raise EngineError(
                f"{node.name!r} ({node.op}) cannot join the group of {anchor.name!r}: after the first node a "
                "fused group holds only elementwise and broadcast ops"
            )
        if tuple(node.shape) != out_shape:
            raise ShapeError(
                f"{node.name!r} has shape {list(node.shape)} but the group computes {list(out_shape)}: "
                "every member of a fused group must have the output's shape"
            )
        if not any(i in value for i in node.inputs):
            raise EngineError(f"{node.name!r} reads no earlier member of the group {list(members)}")
        operands = []
        for pos, i in enumerate(node.inputs):
            if i in value:
                operands.append(value[i])
                continue
            shape = graph.node(i).shape
            buffers.setdefault(i, Buffer(i, tuple(shape), "input"))
            operands.append(operand_load(node.op, pos, i, shape, axis_names, out_shape))
        value[node.name] = elementwise_value(node.op, _attrs(node), operands)
    last = nodes[-1]
    final = value[last.name]
    out_buf = Buffer(last.name, out_shape, "output")

    source = "fused " + " -> ".join(f"{n.op} {n.name}" for n in nodes)
    if comp.combiner:
        return replace(
            comp, output=last.name, epilogue=final, buffers=(*buffers.values(), out_buf), source=source
        )
    return replace(comp, output=last.name, body=final, buffers=(*buffers.values(), out_buf), source=source)


def generic_compute(node: Node, rank_hint: Sequence[tuple]) -> Compute:
    """A shape-generic tensor expression: sizes are symbols, passed to the kernel at run time.

    Elementwise ops over operands of one shape become a flat loop over ``n`` elements; 2-D matmul
    and gemm get symbols ``M``, ``N``, ``K``."""
    _check_supported(node)
    shapes = [tuple(s) for s in rank_hint]
    if node.op in ELEMENTWISE and node.op != "batchnorm" and all(s == tuple(node.shape) for s in shapes):
        n = idx("n")
        loads = [Load(nm, (idx("i0"),)) for nm in node.inputs]
        body = elementwise_value(node.op, _attrs(node), loads)
        bufs = {nm: Buffer(nm, (n,), "input") for nm in node.inputs}
        return Compute(
            node.name,
            (Axis("i0", n),),
            (),
            body,
            None,
            0.0,
            AccRef(),
            (*bufs.values(), Buffer(node.name, (n,), "output")),
            f"{node.op} {node.name} (any shape)",
        )
    if node.op in ("matmul", "gemm") and all(len(s) == 2 for s in shapes[:2]) and len(shapes) == 2:
        m, k, nn = idx("M"), idx("K"), idx("N")
        attrs = _attrs(node)
        ta = node.op == "gemm" and attrs["trans_a"]
        tb = node.op == "gemm" and attrs["trans_b"]
        a_shape, b_shape = ((k, m) if ta else (m, k)), ((nn, k) if tb else (k, nn))
        comp = _matmul(node, list(node.inputs), [a_shape, b_shape], (m, nn))
        bufs = {node.inputs[0]: Buffer(node.inputs[0], a_shape, "input")}
        bufs.setdefault(node.inputs[1], Buffer(node.inputs[1], b_shape, "input"))
        out = Buffer(node.name, (m, nn), "output")
        return _with_buffers(comp, (*bufs.values(), out))
    raise EngineError(
        f"a shape-generic kernel is built for elementwise ops on equal shapes and for 2-D matmul/gemm "
        f"without a bias; {node.name!r} is a {node.op} on {[list(s) for s in shapes]}"
    )
