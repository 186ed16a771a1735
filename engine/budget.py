"""Work budgets shared by every engine entry point.

A hosted sandbox is shared by a whole class, so every request is bounded *before* any memory is
allocated or any loop runs. Entry points call the ``check_*`` helpers with the sizes they are about to
use; a request over budget raises :class:`BudgetError` naming the limit.
"""
from __future__ import annotations

import math

from .errors import BudgetError

MAX_NODES = 20_000            # nodes in one graph
MAX_TENSOR_ELEMENTS = 1 << 24  # 16.7 M elements (64 MiB of fp32) in one tensor
MAX_GRAPH_ELEMENTS = 1 << 26   # all tensors of one graph together (256 MiB of fp32)
MAX_STEPS = 200_000           # steps of any simulator or stepper
MAX_PROGRAM_CHARS = 50_000    # characters of program text
MAX_ONNX_BYTES = 200 << 20    # uploaded ONNX model size


def numel(shape) -> int:
    """Number of elements of ``shape`` (1 for a scalar)."""
    return int(math.prod(int(d) for d in shape))


def check_tensor(shape, what: str = "tensor") -> None:
    """Refuse a tensor whose element count is over :data:`MAX_TENSOR_ELEMENTS`."""
    n = numel(shape)
    if n > MAX_TENSOR_ELEMENTS:
        raise BudgetError(
            f"{what} of shape {list(shape)} has {n:,} elements; the limit is "
            f"{MAX_TENSOR_ELEMENTS:,} per tensor")


def check_nodes(count: int, what: str = "graph") -> None:
    """Refuse a graph with more than :data:`MAX_NODES` nodes."""
    if count > MAX_NODES:
        raise BudgetError(f"{what} has {count:,} nodes; the limit is {MAX_NODES:,}")


def check_steps(count: int, what: str = "simulation") -> None:
    """Refuse a simulation or trace longer than :data:`MAX_STEPS` steps."""
    if count > MAX_STEPS:
        raise BudgetError(f"{what} needs {count:,} steps; the limit is {MAX_STEPS:,}")
