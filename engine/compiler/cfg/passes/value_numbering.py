"""Local value numbering: common-subexpression elimination inside each basic block.

Stages, per block:
  1. every value gets a number: a variable's value on entry to the block a fresh number, a literal
     the number of its (type, bits), an instruction the number of its key
     ``(op, operand numbers, destination type)`` — operands of commutative ops (+, *, ==, !=, and,
     or) sorted, so ``a*b`` and ``b*a`` match; a copy takes its operand's number when the types
     agree;
  2. if the key already has a number and a variable of the same type still holds that value, the
     instruction becomes a copy of that variable (the repeated computation is gone);
  3. after the rewrite, each variable's number is updated (a reassigned variable no longer holds its
     old value, which is why the "still holds" check in stage 2 matters).
One step per block that changed. Not handled: redundancy across blocks (global value numbering),
algebraic identities (``x+0``), reassociation (floating-point addition is not associative).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

from ....core.trace import Step
from ..blocks import COMMUTATIVE, Block, CfgProgram, Instr, format_instr


def _block(b: Block, types: dict) -> tuple[Block, list[str], list[str]]:
    fresh = count()
    vn_of: dict[str, int] = {}  # variable -> value number it holds now
    table: dict[tuple, int] = {}
    holders: dict[int, list[str]] = {}

    def number(a) -> int:
        if isinstance(a, str):
            if a not in vn_of:
                vn_of[a] = next(fresh)
                holders.setdefault(vn_of[a], []).append(a)
            return vn_of[a]
        key = ("const", type(a).__name__, repr(a))
        if key not in table:
            table[key] = next(fresh)
        return table[key]

    out, changed, log = [], [], []
    for k, ins in enumerate(b.instrs):
        kind = types[ins.dest]
        if ins.op == "input":
            vn = next(fresh)
            new = ins
        else:
            nums = [number(a) for a in ins.args]
            if ins.op == "copy" and isinstance(ins.args[0], str) and types[ins.args[0]] == kind:
                vn, new = nums[0], ins
            else:
                if ins.op in COMMUTATIVE:
                    nums.sort()
                key = (ins.op, *nums, kind)
                vn = table.get(key)
                holder = None
                if vn is not None:
                    holder = next(
                        (v for v in holders.get(vn, ()) if vn_of.get(v) == vn and types[v] == kind), None
                    )
                if vn is None:
                    vn = table[key] = next(fresh)
                new = ins
                if holder is not None and ins.op != "copy":
                    new = Instr(ins.dest, "copy", (holder,), ins.line)
                    changed.append(f"{b.name}:{k}")
                    log.append(f"{b.name}: {format_instr(ins)}  →  {format_instr(new)} (same value)")
        vn_of[ins.dest] = vn
        holders.setdefault(vn, []).append(ins.dest)
        out.append(new)
    return Block(b.name, tuple(out), b.term), changed, log


def value_numbering(p: CfgProgram) -> Iterator[Step]:
    types = p.type_of
    blocks = list(p.blocks)
    current = p
    any_change = False
    for pos, b in enumerate(p.blocks):
        new, changed, log = _block(b, types)
        if changed:
            blocks[pos] = new
            before, current = current, current.replace_blocks(blocks)
            any_change = True
            yield Step(
                f"value numbering in {b.name}", tuple(changed), "\n".join(log), current, {"before": before}
            )
    if not any_change:
        yield Step(
            "no repeated computation inside a block",
            (),
            "value numbering: nothing repeated",
            p,
            {"before": p},
        )
