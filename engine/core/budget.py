"""Work budgets shared by every engine entry point.

A hosted sandbox is shared by a whole class, so every request is bounded *before* any memory is
allocated or any loop runs. Entry points call the ``check_*`` helpers with the sizes they are about to
use; a request over budget raises :class:`BudgetError` naming the limit.

Four kinds of budget:
  1. size: nodes, elements of one tensor, characters of program text, bytes of an upload;
  2. memory: every tensor a graph run keeps alive plus the largest temporary buffer one kernel
     allocates (im2col columns, padded copies, ...), in fp32 elements (:data:`MAX_GRAPH_ELEMENTS`);
  3. compute: the FLOPs of a whole run from the cost model (:data:`MAX_GRAPH_FLOPS`: ResNet-18 at
     224x224 needs 3.6 GFLOPs and runs in ~0.4-1.2 s on the 2-core server), plus the elements that
     kernels stream in Python-level loops (pools, depthwise convolutions: slower than BLAS) and the
     iterations of those loops;
  4. steps: simulators and steppers (:data:`MAX_STEPS`), and :data:`MAX_WORK` for any other loop
     of plain numpy/Python work an entry point is about to do.
"""

from __future__ import annotations

import math

from .errors import BudgetError

MAX_NODES = 20_000  # nodes in one graph
MAX_TENSOR_ELEMENTS = 1 << 24  # 16.7 M elements (64 MiB of fp32) in one tensor
MAX_GRAPH_ELEMENTS = 1 << 26  # all tensors of one graph together (256 MiB of fp32)
MAX_STEPS = 200_000  # steps of any simulator or stepper
MAX_PROGRAM_CHARS = 50_000  # characters of program text
MAX_GRAPH_FLOPS = 8 * 10**9  # FLOPs of one graph run (2.2x ResNet-18's 3.6 GFLOPs)
MAX_STREAMED_ELEMENTS = 10**9  # elements touched by the Python-level loops of one run (~1 s)
MAX_KERNEL_LOOPS = 50_000  # Python-level loop iterations of the kernels of one run
MAX_WORK = 10**9  # multiply-adds of a numpy (einsum) computation outside graphs (~1 s)
MAX_TRAIN_STEPS = 1_500  # optimiser steps of one training request (~1-5 ms each here)
MAX_ONNX_BYTES = 100 << 20  # uploaded ONNX model size; also the server upload cap (app.py)


def numel(shape) -> int:
    """Number of elements of ``shape`` (1 for a scalar)."""
    return int(math.prod(int(d) for d in shape))


def check_tensor(shape, what: str = "tensor") -> None:
    """Refuse a tensor whose element count is over :data:`MAX_TENSOR_ELEMENTS`."""
    n = numel(shape)
    if n > MAX_TENSOR_ELEMENTS:
        raise BudgetError(
            f"{what} of shape {list(shape)} has {n:,} elements; the limit is "
            f"{MAX_TENSOR_ELEMENTS:,} per tensor"
        )


def check_nodes(count: int, what: str = "graph") -> None:
    """Refuse a graph with more than :data:`MAX_NODES` nodes."""
    if count > MAX_NODES:
        raise BudgetError(f"{what} has {count:,} nodes; the limit is {MAX_NODES:,}")


def check_steps(count: int, what: str = "simulation") -> None:
    """Refuse a simulation or trace longer than :data:`MAX_STEPS` steps."""
    if count > MAX_STEPS:
        raise BudgetError(f"{what} needs {count:,} steps; the limit is {MAX_STEPS:,}")


def _g(n: float) -> str:
    return f"{n / 1e9:,.2f} G" if n >= 1e8 else f"{int(n):,} "


def check_flops(flops: int, what: str = "the graph", detail: str = "") -> None:
    """Refuse a computation of more than :data:`MAX_GRAPH_FLOPS` floating-point operations."""
    if flops > MAX_GRAPH_FLOPS:
        raise BudgetError(
            f"{what} needs {_g(flops)}FLOPs{detail}; the limit is {_g(MAX_GRAPH_FLOPS)}FLOPs per run"
        )


def check_memory(elements: int, what: str = "the graph", detail: str = "") -> None:
    """Refuse a run that would hold more than :data:`MAX_GRAPH_ELEMENTS` fp32 elements at once."""
    if elements > MAX_GRAPH_ELEMENTS:
        raise BudgetError(
            f"{what} needs {elements:,} fp32 elements ({elements * 4 / 2**20:,.0f} MiB) "
            f"in memory at once{detail}; the limit is {MAX_GRAPH_ELEMENTS:,} "
            f"({MAX_GRAPH_ELEMENTS * 4 / 2**20:,.0f} MiB)"
        )


def check_loops(loops: int, streamed: int, what: str = "the graph") -> None:
    """Refuse kernels whose Python-level loops run too often or stream too many elements."""
    if loops > MAX_KERNEL_LOOPS:
        raise BudgetError(
            f"{what} needs {loops:,} kernel loop iterations (one per kernel window "
            f"offset); the limit is {MAX_KERNEL_LOOPS:,}"
        )
    if streamed > MAX_STREAMED_ELEMENTS:
        raise BudgetError(
            f"{what} streams {_g(streamed)}elements through its kernel loops; the "
            f"limit is {_g(MAX_STREAMED_ELEMENTS)}elements"
        )


def check_train_steps(count: int, what: str = "training") -> None:
    """Refuse a training request of more than :data:`MAX_TRAIN_STEPS` optimiser steps."""
    if count > MAX_TRAIN_STEPS:
        raise BudgetError(
            f"{what} needs {count:,} optimiser steps; the limit is "
            f"{MAX_TRAIN_STEPS:,} per request (fewer epochs)"
        )


def check_work(count: int, what: str = "the computation") -> None:
    """Refuse a numpy/Python computation of more than :data:`MAX_WORK` elementary operations."""
    if count > MAX_WORK:
        raise BudgetError(f"{what} needs {_g(count)}operations; the limit is {_g(MAX_WORK)}")
