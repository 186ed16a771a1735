"""What an op declares (:class:`OpDef`): the single place an op is defined.

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
The op modules (:mod:`engine.core.ops`) list their OpDefs; :mod:`engine.core.registry` collects them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: TVM pattern kinds, from most to least fusable.
KINDS = ("elemwise", "broadcast", "injective", "reduce", "out_elemwise_fusable", "opaque")

#: Ops that are graph sources rather than computations.
SOURCE_OPS = ("input", "param", "constant")


@dataclass(frozen=True)
class Workspace:
    """What one kernel call needs beyond its inputs and output (fp32 elements, loop iterations)."""

    temp: int = 0  # peak temporary elements alive at once inside the kernel
    loops: int = 0  # Python-level loop iterations
    streamed: int = 0  # elements those loops read or write (numpy passes outside BLAS)


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
    attrs: dict = field(default_factory=dict)  # attribute name -> default value
    doc: str = ""
    onnx: str = ""  # ONNX op type it maps to ("" if none)
    workspace: Callable[..., Workspace] = one_temporary


class OpTable:
    """The ops one module defines, in order (``register`` returns the op, so it reads as a decorator
    of the definition)."""

    def __init__(self) -> None:
        self.ops: list[OpDef] = []

    def register(self, op: OpDef) -> OpDef:
        self.ops.append(op)
        return op
