"""Domain exceptions. Every message names the offending values in words a student understands.

A page shows ``st.error(str(e))`` for any :class:`EngineError`; nothing else should escape the engine
for bad user input.
"""

from __future__ import annotations


class EngineError(ValueError):
    """Base class for every error the engine raises on bad input or an impossible request."""


class ProgramError(EngineError):
    """An error in a student's program, located at ``line``/``col`` (1-based; 0 when unknown)."""

    def __init__(self, message: str, line: int = 0, col: int = 0):
        self.message = message
        self.line = line
        self.col = col
        where = f"line {line}, column {col}: " if line else ""
        super().__init__(where + message)


class ShapeError(EngineError):
    """Shapes or attributes that an op cannot accept (both shapes are named in the message)."""


class BudgetError(EngineError):
    """A request over the work budget (nodes, tensor elements, steps); refused before allocating."""


class GraphError(EngineError):
    """A malformed graph: dangling input, cycle, duplicate name, unknown op."""


class BusyError(EngineError):
    """Heavy work refused for now: every server-wide slot is taken, or this session started too many.

    ``running`` is how many heavy runs are going, ``retry_s`` about how long until a retry may succeed,
    ``reason`` is ``"slots"`` (server busy) or ``"rate"`` (this session's starts per minute).
    """

    def __init__(self, message: str, running: int = 0, retry_s: float = 0.0, reason: str = "slots"):
        self.running = running
        self.retry_s = retry_s
        self.reason = reason
        super().__init__(message)
