"""Small helpers every op module uses: element counts, numpy broadcasting, checked attributes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ShapeError


def numel(shape: Sequence[int]) -> int:
    """Number of elements of ``shape`` (1 for a scalar)."""
    return int(math.prod(shape))


def broadcast_shape(op: str, a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """numpy broadcasting of two shapes, or a ShapeError naming both."""
    out = []
    for k in range(1, max(len(a), len(b)) + 1):
        da = a[-k] if k <= len(a) else 1
        db = b[-k] if k <= len(b) else 1
        if da != db and 1 not in (da, db):
            raise ShapeError(
                f"{op}: cannot broadcast {list(a)} with {list(b)}: sizes {da} and {db} "
                f"differ on axis -{k} and neither is 1"
            )
        out.append(db if da == 1 else da)
    return tuple(reversed(out))


def number(op: str, name: str, value) -> float:
    """An attribute that must be a real number, as float (ShapeError otherwise)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise ShapeError(f"{op}: {name} must be a number, got {value!r}")


def integer(op: str, name: str, value) -> int:
    """An attribute that must be a whole number, as int (ShapeError otherwise)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise ShapeError(f"{op}: {name} must be a whole number, got {value!r}")
