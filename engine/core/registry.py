"""The op registry: one :class:`OpDef` per op, the single place an op is defined.

An op declares
  1. its fusion pattern kind (TVM's OpPatternKind, see :data:`KINDS`),
  2. shape/dtype inference ``infer(in_shapes, in_dtypes, attrs) -> (shape, dtype)``,
  3. a numpy reference kernel ``kernel(arrays, attrs) -> ndarray``,
  4. its arithmetic cost ``flops(in_shapes, out_shape, attrs) -> (flops, macs)``;
  5. what its kernel needs besides its inputs and output, ``workspace(in_shapes, out_shape, attrs)
     -> Workspace``: the peak temporary fp32 elements (im2col columns, padded copies, ufunc
     temporaries), Python-level loop iterations and the elements those loops stream. The
     interpreter checks these against :mod:`engine.core.budget` before it runs anything; the default is
     one output-sized temporary and no loop.
Parameters and bytes read/written are derived generically in :mod:`engine.core.cost_model` from shapes.
Autodiff rules (VJP/JVP) live in :mod:`engine.framework.autodiff_rules`, keyed by the same op names.

Adding an op = one :func:`register` call in one of the ``ops_*.py`` modules.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import GraphError

#: TVM pattern kinds, from most to least fusable.
KINDS = ("elemwise", "broadcast", "injective", "reduce", "out_elemwise_fusable", "opaque")

#: Ops that are graph sources rather than computations.
SOURCE_OPS = ("input", "param", "constant")


@dataclass(frozen=True)
class Workspace:
    """What one kernel call needs beyond its inputs and output (fp32 elements, loop iterations)."""

    temp: int = 0          # peak temporary elements alive at once inside the kernel
    loops: int = 0         # Python-level loop iterations
    streamed: int = 0      # elements those loops read or write (numpy passes outside BLAS)


def one_temporary(in_shapes, out_shape, attrs) -> Workspace:
    """The default: at most one output-sized temporary, no Python loop."""
    return Workspace(temp=math.prod(out_shape))


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: str
    min_inputs: int
    max_inputs: int
    infer: Callable[..., tuple]
    kernel: Callable[..., Any]
    flops: Callable[..., tuple]
    attrs: dict = field(default_factory=dict)   # attribute name -> default value
    doc: str = ""
    onnx: str = ""                               # ONNX op type it maps to ("" if none)
    workspace: Callable[..., Workspace] = one_temporary


_REGISTRY: dict[str, OpDef] = {}
_LOADED = False
_LOADING = False
_LOAD_LOCK = threading.RLock()


def register(op: OpDef) -> OpDef:
    if op.kind not in KINDS:
        raise ValueError(f"op {op.name!r}: unknown pattern kind {op.kind!r}")
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    _REGISTRY[op.name] = op
    return op


def _load() -> None:
    """Import the op modules once. Concurrent first users (a class arriving at once) wait on the lock;
    the importing thread itself re-enters through the ops' own registry calls and must not wait."""
    global _LOADED, _LOADING
    if _LOADED:
        return
    with _LOAD_LOCK:
        if _LOADED or _LOADING:
            return
        _LOADING = True
        try:
            from .ops import elementwise, nn, shape  # noqa: F401  (they call register)
            _LOADED = True
        finally:
            _LOADING = False


def get_op(name: str) -> OpDef:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}") from None


def op_names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def all_ops() -> dict[str, OpDef]:
    _load()
    return dict(_REGISTRY)
