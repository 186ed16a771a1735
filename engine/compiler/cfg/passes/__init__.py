"""The control-flow passes: a registry, a stepped pipeline and a run-to-the-end helper.

Each pass is a generator of :class:`~engine.core.trace.Step` (title, highlight = block names and
``block:index`` instruction ids, log); the last step's ``graph`` is the program after the pass and
``data["before"]`` the program before that step. Stages of :func:`cfg_trace`:
  1. check the request (a program, known pass names, a bounded pipeline);
  2. step 0 is the input program;
  3. for each pass in order, its steps, each tagged with ``data["pass_name"]``.
Every pass keeps the program's outputs for every input (tests/test_cfg.py checks it over random
programs with the interpreter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ....core.errors import EngineError
from ....core.trace import Step
from ..blocks import CfgProgram
from .branches import branch_folding, merge_blocks, unreachable_blocks
from .constprop import constant_propagation
from .dce import dead_code_elimination
from .licm import loop_invariant_code_motion
from .value_numbering import value_numbering

MAX_PIPELINE = 32


@dataclass(frozen=True)
class CfgPass:
    name: str
    title: str
    what: str
    run: Callable[[CfgProgram], Iterator[Step]]


PASSES: dict[str, CfgPass] = {
    p.name: p
    for p in (
        CfgPass(
            "constprop",
            "Constant propagation",
            "replace variables known to be constant; fold instructions",
            constant_propagation,
        ),
        CfgPass(
            "branch_folding", "Branch folding", "a branch on a known condition becomes a jump", branch_folding
        ),
        CfgPass(
            "unreachable",
            "Unreachable-block removal",
            "depth-first search from the entry; drop what it never reaches",
            unreachable_blocks,
        ),
        CfgPass(
            "dce",
            "Dead-code elimination",
            "mark what branches and outputs use, sweep the rest",
            dead_code_elimination,
        ),
        CfgPass(
            "value_numbering",
            "Value numbering (CSE)",
            "reuse a value computed earlier in the same block",
            value_numbering,
        ),
        CfgPass(
            "licm",
            "Loop-invariant code motion",
            "move computations that do not change in a loop before it",
            loop_invariant_code_motion,
        ),
        CfgPass(
            "merge_blocks",
            "Merge straight-line blocks",
            "join a block to its only successor when it is that block's only predecessor",
            merge_blocks,
        ),
    )
}
DEFAULT_PIPELINE = (
    "constprop",
    "branch_folding",
    "unreachable",
    "value_numbering",
    "licm",
    "dce",
    "merge_blocks",
)


def cfg_passes() -> tuple[CfgPass, ...]:
    """Every control-flow pass, in the default pipeline's order."""
    return tuple(PASSES[name] for name in DEFAULT_PIPELINE)


def _check(program, passes) -> list[str]:
    if not isinstance(program, CfgProgram):
        raise EngineError(f"the passes need a program from parse_cfg_program, got {type(program).__name__}")
    if (
        isinstance(passes, str)
        or not isinstance(passes, Sequence)
        or not all(isinstance(p, str) for p in passes)
    ):
        raise EngineError(f"passes must be a list of pass names, got {passes!r}")
    if len(passes) > MAX_PIPELINE:
        raise EngineError(f"a pipeline of {len(passes)} passes; the limit is {MAX_PIPELINE}")
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise EngineError(f"unknown pass {unknown[0]!r}; the passes are {', '.join(PASSES)}")
    return list(passes)


def cfg_trace(program: CfgProgram, passes: Sequence[str] = DEFAULT_PIPELINE) -> Iterator[Step]:
    """Step 0 = the input program, then every step of every pass (``data["pass_name"]`` says which)."""
    names = _check(program, passes)
    yield Step(
        "input program",
        (),
        f"{len(program.blocks)} blocks, {program.instruction_count} instructions",
        program,
        {"before": program, "pass_name": None},
    )
    current = program
    for name in names:
        for step in PASSES[name].run(current):
            yield Step(step.title, step.highlight, step.log, step.graph, {**step.data, "pass_name": name})
            current = step.graph


def optimize_cfg(
    program: CfgProgram, passes: Sequence[str] = DEFAULT_PIPELINE
) -> tuple[CfgProgram, list[str]]:
    """The program after ``passes`` and the log of every step."""
    current, log = program, []
    for step in cfg_trace(program, passes):
        current = step.graph
        if step.data["pass_name"] and step.log:
            log.extend(step.log.split("\n"))
    return current, log


__all__ = ["PASSES", "CfgPass", "DEFAULT_PIPELINE", "cfg_passes", "cfg_trace", "optimize_cfg"]
