"""Control-flow graphs: a tiny imperative language, its basic blocks, and the classic passes.

* :mod:`.language` — ``parse_cfg_program(text)``: whitelisted Python syntax (never evaluated) ->
  a :class:`~.blocks.CfgProgram` of basic blocks of three-address code;
* :mod:`.blocks` — the data, the meaning of each instruction, ``run_cfg(program, inputs)``;
* :mod:`.analysis` — depth-first search, liveness, reaching definitions, natural loops;
* :mod:`.passes` — constant propagation, branch folding, unreachable-block removal, dead-code
  elimination, value numbering, loop-invariant code motion, block merging: each a generator of
  steps; ``cfg_passes()`` lists them, ``cfg_trace``/``optimize_cfg`` run a pipeline;
* :mod:`.llvm` — the same program as an LLVM function, LLVM's -O2 beside our passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import blocks
from .blocks import CfgProgram
from .language import parse_cfg_program
from .passes import cfg_passes, cfg_trace, optimize_cfg


def run_cfg(program: CfgProgram | str, inputs: Mapping[str, Any] | None = None) -> dict[str, int | float]:
    """Run a program (parsed, or its text) on ``inputs``; missing inputs take their defaults."""
    if isinstance(program, str):
        program = parse_cfg_program(program)
    return blocks.run_cfg(program, inputs)


__all__ = ["CfgProgram", "cfg_passes", "cfg_trace", "optimize_cfg", "parse_cfg_program", "run_cfg"]
