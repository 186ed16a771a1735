"""Constant propagation: replace variables whose value is known at a point by that constant.

Stages (sparse, over def-use chains: Wegman & Zadeck's *simple constant propagation*):
  1. reaching definitions give, for every use, the definitions that may reach it — including each
     variable's starting 0, a constant definition before the entry;
  2. every instruction's value starts *unknown yet*; a worklist re-evaluates an instruction when a
     definition it reads changes: its operands' values are the meet of their reaching definitions
     (two different constants, or a *not constant*, meet as *not constant*; unknown ones are
     skipped), and when all are constant it gets the constant :func:`~..blocks.evaluate` gives,
     converted to its destination's type; an ``input`` is never constant. Values only move down
     the lattice *unknown > constant > not constant*, so this ends;
  3. rewrite: operands known constant at their use become literals; an instruction with only
     literal operands becomes a copy of its value (*folding*); a branch condition known constant
     becomes a literal (branch folding then removes the branch). One step per rewritten block.
Not handled: using branch outcomes (SCCP's unreachable-edge pruning — run branch folding and this
pass again), values that are constant only along some paths.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....core.trace import Step
from ..analysis import reaching_definitions
from ..blocks import Block, Branch, CfgProgram, Instr, convert, evaluate, format_instr, same_value
from .dce import bits_of

NAC = object()  # not a constant
UNKNOWN = object()  # no reaching definition evaluated yet


def _meet(values) -> object:
    out = UNKNOWN
    for v in values:
        if v is UNKNOWN:
            continue
        if v is NAC:
            return NAC
        if out is UNKNOWN:
            out = v
        elif not same_value(out, v):
            return NAC
    return out


def solve(p: CfgProgram):
    """(definitions, value of each definition bit): the fixed point of stage 2."""
    d = reaching_definitions(p)
    types = p.type_of
    value: list = [UNKNOWN] * len(d.sites)
    users: dict[int, list[tuple[str, int]]] = {}
    instrs = {(b.name, k): ins for b in p.blocks for k, ins in enumerate(b.instrs)}
    bit_of = {}
    for bit, (name, k, var) in enumerate(d.sites):
        if k < 0:
            value[bit] = convert(0, types[var])
        else:
            bit_of[(name, k)] = bit
    for site in instrs:
        for bits in d.at[site].values():
            for bit in bits_of(bits):
                users.setdefault(bit, []).append(site)
    work = list(reversed(list(instrs)))
    queued = set(work)
    while work:
        site = work.pop()
        queued.discard(site)
        new = _evaluate(instrs[site], d.at[site], value, types)
        bit = bit_of[site]
        if new is not value[bit] and not (new is not NAC and new is not UNKNOWN and _same(new, value[bit])):
            value[bit] = new
            for user in users.get(bit, ()):
                if user not in queued:
                    queued.add(user)
                    work.append(user)
    return d, value


def _same(a, b) -> bool:
    return b is not NAC and b is not UNKNOWN and same_value(a, b)


def _evaluate(ins: Instr, reaching: dict[str, int], value: list, types: dict):
    if ins.op == "input":
        return NAC
    args = []
    for a in ins.args:
        v = _meet(value[b] for b in bits_of(reaching[a])) if isinstance(a, str) else a
        if v is NAC or v is UNKNOWN:
            return v
        args.append(v)
    return convert(evaluate(ins.op, tuple(args)), types[ins.dest])


def _literal(a, reaching: dict[str, int], value: list):
    """The operand ``a`` as a literal when its value is known at this use, else ``a``."""
    if not isinstance(a, str):
        return a
    known = _known(a, reaching, value)
    return a if known is None else known


def _known(var, reaching: dict[str, int], value: list):
    v = _meet(value[b] for b in bits_of(reaching[var]))
    return None if v is NAC or v is UNKNOWN else v


def constant_propagation(p: CfgProgram) -> Iterator[Step]:
    d, value = solve(p)
    types = p.type_of
    blocks = list(p.blocks)
    current = p
    changed_any = False
    for pos, b in enumerate(p.blocks):
        new_instrs, changed, log = [], [], []
        for k, ins in enumerate(b.instrs):
            reaching = d.at[(b.name, k)]
            new = ins
            if ins.op != "input":
                args = tuple(_literal(a, reaching, value) for a in ins.args)
                if all(not isinstance(a, str) for a in args):
                    new = Instr(
                        ins.dest, "copy", (convert(evaluate(ins.op, args), types[ins.dest]),), ins.line
                    )
                else:
                    new = Instr(ins.dest, ins.op, args, ins.line)
            if new != ins:
                changed.append(f"{b.name}:{k}")
                log.append(f"{b.name}: {format_instr(ins)}  →  {format_instr(new)}")
            new_instrs.append(new)
        term = b.term
        if isinstance(term, Branch) and isinstance(term.cond, str):
            known = _known(term.cond, d.at[(b.name, len(b.instrs))], value)
            if known is not None:
                term = Branch(known, term.then, term.other)
                changed.append(b.name)
                log.append(f"{b.name}: the branch on {b.term.cond} always sees {known!r}")
        if changed:
            blocks[pos] = Block(b.name, tuple(new_instrs), term)
            before, current = current, current.replace_blocks(blocks)
            changed_any = True
            yield Step(
                f"constants known in {b.name}", tuple(changed), "\n".join(log), current, {"before": before}
            )
    if not changed_any:
        yield Step(
            "no variable is a known constant where it is used",
            (),
            "constprop: nothing to replace",
            p,
            {"before": p},
        )
