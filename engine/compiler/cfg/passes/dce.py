"""Dead-code elimination by mark and sweep over uses (Cooper & Torczon, *Engineering a Compiler*).

Stages:
  1. reaching definitions (:func:`~..analysis.reaching_definitions`): which writes of each variable
     may reach each use (a variable's starting 0 counts as a write before the entry);
  2. mark: the *critical* uses are the terminators' operands — branch conditions and the returned
     outputs; every definition reaching a critical use is marked, and then, from a worklist, every
     definition reaching an operand of a marked instruction (so a value is kept exactly when a chain
     of uses leads from it to a branch or an output);
  3. sweep: every unmarked instruction is deleted (one step shows the marked set, one the deletion).
Branches are always kept (Cooper's variant that also removes useless branches via post-dominators
is not done), and unreachable blocks are left to unreachable-block removal.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....core.trace import Step
from ..analysis import reaching_definitions
from ..blocks import Block, CfgProgram, format_instr


def bits_of(x: int) -> Iterator[int]:
    """The positions of the set bits of ``x``, lowest first."""
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def mark(p: CfgProgram) -> set[tuple[str, int]]:
    """The (block, index) of every instruction some branch or output depends on."""
    d = reaching_definitions(p)
    marked: set[tuple[str, int]] = set()
    work: list[tuple[str, int]] = []

    def need(reaching: int) -> None:
        for bit in bits_of(reaching):
            name, k, _ = d.sites[bit]
            if k >= 0 and (name, k) not in marked:  # k = -1: the starting 0, no instruction
                marked.add((name, k))
                work.append((name, k))

    for b in p.blocks:
        for bits in d.at[(b.name, len(b.instrs))].values():
            need(bits)
    while work:
        for bits in d.at[work.pop()].values():
            need(bits)
    return marked


def dead_code_elimination(p: CfgProgram) -> Iterator[Step]:
    marked = mark(p)
    live_ids = tuple(f"{b}:{k}" for b, k in sorted(marked))
    total = sum(len(b.instrs) for b in p.blocks)
    yield Step(
        "mark: instructions a branch or an output depends on",
        live_ids,
        f"marked {len(marked)} of {total} instructions",
        p,
        {"before": p, "marked": live_ids},
    )
    dead = [(b.name, k, ins) for b in p.blocks for k, ins in enumerate(b.instrs) if (b.name, k) not in marked]
    if not dead:
        yield Step(
            "sweep: nothing unmarked", (), "dce: every instruction is used", p, {"before": p, "removed": ()}
        )
        return
    blocks = [
        Block(b.name, tuple(i for k, i in enumerate(b.instrs) if (b.name, k) in marked), b.term)
        for b in p.blocks
    ]
    after = p.replace_blocks(blocks)
    removed = tuple(f"{b}:{k}" for b, k, _ in dead)
    log = "\n".join(f"{b}: {format_instr(ins)}" for b, k, ins in dead[:50])
    more = f"\n… and {len(dead) - 50} more" if len(dead) > 50 else ""
    yield Step(
        f"sweep: delete {len(dead)} unmarked instruction(s)",
        removed,
        log + more,
        after,
        {"before": p, "removed": removed},
    )
