"""Loop-invariant code motion: compute once, before the loop, what every iteration computes alike.

Stages, for each natural loop, innermost first (:func:`~..analysis.natural_loops`):
  1. a *preheader*: the loop's only entry from outside — the single outside predecessor of the
     header if it jumps only there, else a new block ``pre_<header>`` that the outside
     predecessors now jump to;
  2. an instruction ``x = e`` in the loop is *invariant* when every variable operand of ``e`` is
     written nowhere in the loop (or only by instructions already hoisted);
  3. it may move to the end of the preheader when ``x`` is written once in the loop, ``x`` is not
     live at the header (no iteration reads a value of ``x`` from before the loop or from the
     previous iteration) and not live where the loop exits (so running it even when the loop body
     would not run changes nothing visible). Expressions here never fail or have side effects, so
     computing one speculatively is safe;
  4. repeat 2-3 until nothing moves (an operand hoisted makes its users invariant); liveness is
     updated in place: a hoisted ``x`` becomes live throughout its loop.
One step per loop that changed (the preheader and the moved instructions highlighted).
Not handled: hoisting out of loops with several headers (irreducible graphs), moving loads or
calls (the language has none), partial redundancy elimination.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....core.trace import Step
from ..analysis import instr_uses, liveness, natural_loops, predecessors
from ..blocks import Block, Branch, CfgProgram, Jump, format_instr


def _retarget(b: Block, old: str, new: str) -> Block:
    t = b.term
    if isinstance(t, Jump) and t.target == old:
        t = Jump(new)
    elif isinstance(t, Branch):
        t = Branch(t.cond, new if t.then == old else t.then, new if t.other == old else t.other)
    return Block(b.name, b.instrs, t)


def _preheader(blocks: dict[str, Block], preds: dict[str, list[str]], header: str, body) -> tuple[str, bool]:
    outside = [q for q in preds[header] if q not in body]
    if len(outside) == 1 and blocks[outside[0]].successors == (header,):
        return outside[0], False
    name = f"pre_{header}"
    while name in blocks:
        name += "_"
    for q in outside:
        blocks[q] = _retarget(blocks[q], header, name)
    return name, True


def loop_invariant_code_motion(p: CfgProgram) -> Iterator[Step]:
    live_in, live_out = liveness(p)
    preds = predecessors(p)
    blocks = {b.name: b for b in p.blocks}
    order = [b.name for b in p.blocks]
    position = {name: float(k) for k, name in enumerate(order)}
    current = p
    moved_any = False
    loops = natural_loops(p)
    bodies = [set(lp.body) for lp in loops]  # grow as preheaders are made inside outer loops
    for pos, loop in enumerate(loops):
        body = bodies[pos]
        if loop.header == p.entry:  # nothing runs before the entry: no place for a preheader
            continue
        writes: dict[str, int] = {}
        for name in body:
            for ins in blocks[name].instrs:
                writes[ins.dest] = writes.get(ins.dest, 0) + 1
        exits = {s for name in body for s in blocks[name].successors if s not in body}
        hoisted, log = [], []
        moved = True
        while moved:
            moved = False
            for name in sorted(body, key=position.__getitem__):
                kept = []
                for ins in blocks[name].instrs:
                    x = ins.dest
                    ok = (
                        ins.op != "input"
                        and writes.get(x) == 1
                        and all(writes.get(v, 0) == 0 for v in instr_uses(ins))
                        and x not in live_in[loop.header]
                        and not any(x in live_in[e] for e in exits)
                    )
                    if ok:
                        hoisted.append(ins)
                        writes[x] = 0
                        log.append(f"{name}: {format_instr(ins)} moves before the loop at {loop.header}")
                        moved = True
                    else:
                        kept.append(ins)
                if len(kept) != len(blocks[name].instrs):
                    blocks[name] = Block(name, tuple(kept), blocks[name].term)
        if not hoisted:
            continue
        pre, created = _preheader(blocks, preds, loop.header, body)
        if created:
            blocks[pre] = Block(pre, tuple(hoisted), Jump(loop.header))
            order.insert(order.index(loop.header), pre)
            position[pre] = position[loop.header] - 0.5
            outside = [q for q in preds[loop.header] if q not in body]
            preds[pre] = outside
            preds[loop.header] = [q for q in preds[loop.header] if q in body] + [pre]
            live_in[pre] = set(live_in[loop.header])
            live_out[pre] = set(live_in[loop.header])
            for outer in bodies[pos + 1 :]:
                if loop.header in outer:
                    outer.add(pre)
        else:
            b = blocks[pre]
            blocks[pre] = Block(pre, b.instrs + tuple(hoisted), b.term)
        for ins in hoisted:  # x now flows from the preheader through the whole loop
            for name in body:
                live_in[name].add(ins.dest)
                live_out[name].add(ins.dest)
            live_out[pre].add(ins.dest)
        before, current = current, current.replace_blocks(tuple(map(blocks.__getitem__, order)))
        moved_any = True
        n = len(hoisted)
        yield Step(
            f"hoist {n} instruction(s) out of the loop at {loop.header}",
            (pre,),
            "\n".join(log),
            current,
            {"before": before, "preheader": pre},
        )
    if not moved_any:
        yield Step("no loop-invariant instruction can move", (), "licm: nothing to hoist", p, {"before": p})
