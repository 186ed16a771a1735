"""The op registry: every :class:`~engine.core.opdef.OpDef` by name, collected from the op modules.

Adding an op = one ``register(OpDef(...))`` line in one of the modules under :mod:`engine.core.ops`
(elementwise, nn, shape); this module imports them once, at import time (Python's import lock makes a
class arriving at once wait for one complete registry, never see half of it).
"""

from __future__ import annotations

from .errors import GraphError
from .opdef import KINDS, SOURCE_OPS, OpDef, Workspace, one_temporary
from .ops import elementwise, nn, quant, shape


def _collect() -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for module in (elementwise, nn, shape, quant):
        for op in module.OPS.ops:
            if op.kind not in KINDS:
                raise ValueError(f"op {op.name!r}: unknown pattern kind {op.kind!r}")
            if op.name in table:
                raise ValueError(f"op {op.name!r} registered twice")
            table[op.name] = op
    return table


_REGISTRY: dict[str, OpDef] = _collect()

__all__ = ["KINDS", "SOURCE_OPS", "OpDef", "Workspace", "all_ops", "get_op", "one_temporary", "op_names"]


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}") from None


def op_names() -> list[str]:
    return sorted(_REGISTRY)


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)
