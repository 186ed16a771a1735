"""Control-flow clean-up: branch folding, unreachable-block removal, straight-line block merging.

:func:`branch_folding` — a branch whose condition is a literal (after constant propagation), or
whose two targets are the same block, becomes a jump; one step per folded branch.

:func:`unreachable_blocks` — stages: (1) depth-first search from the entry marks every reachable
block (step: the visit order); (2) every unmarked block is removed (step: what went). Blocks are
never reached by falling through, only by edges, so an unmarked block can never run.

:func:`merge_blocks` — a block that ends in a jump to a block with no other predecessor absorbs it
(the pair is straight-line code); repeated until no pair is left, one step per merge.
Not handled: jump threading through empty blocks with several predecessors, switch tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from ....core.trace import Step
from ..analysis import dfs, predecessors
from ..blocks import Block, Branch, CfgProgram, Jump, truth


def branch_folding(p: CfgProgram) -> Iterator[Step]:
    blocks = list(p.blocks)
    current = p
    folded = False
    for pos, b in enumerate(p.blocks):
        t = b.term
        if not isinstance(t, Branch):
            continue
        if isinstance(t.cond, str) and t.then != t.other:
            continue
        if t.then == t.other:
            target, why = t.then, f"both ways lead to {t.then}"
        else:
            target = t.then if truth(t.cond) else t.other
            why = f"the condition is always {t.cond!r}"
        blocks[pos] = Block(b.name, b.instrs, Jump(target))
        before, current = current, current.replace_blocks(blocks)
        folded = True
        yield Step(
            f"fold the branch of {b.name}",
            (b.name,),
            f"{b.name}: {why}: jump {target}",
            current,
            {"before": before},
        )
    if not folded:
        yield Step("no branch has a known outcome", (), "branch folding: nothing to fold", p, {"before": p})


def unreachable_blocks(p: CfgProgram) -> Iterator[Step]:
    order, _, _ = dfs(p)
    reached = set(order)
    yield Step(
        "depth-first search from the entry",
        tuple(order),
        "visit order: " + " → ".join(order),
        p,
        {"before": p, "order": tuple(order)},
    )
    dead = tuple(b.name for b in p.blocks if b.name not in reached)
    if not dead:
        yield Step(
            "every block is reachable", (), "unreachable blocks: none", p, {"before": p, "removed": ()}
        )
        return
    after = p.replace_blocks(b for b in p.blocks if b.name in reached)
    yield Step(
        f"remove {len(dead)} unreachable block(s)",
        dead,
        f"removed: {', '.join(dead)} (no path from {p.entry} reaches them)",
        after,
        {"before": p, "removed": dead},
    )


def merge_blocks(p: CfgProgram) -> Iterator[Step]:
    preds = {name: list(v) for name, v in predecessors(p).items()}
    blocks = {b.name: b for b in p.blocks}  # insertion order = program order
    current = p
    merged = False
    for name in list(blocks):
        if name not in blocks:
            continue
        while True:
            a = blocks[name]
            t = a.term
            if not (isinstance(t, Jump) and t.target not in (name, p.entry) and preds[t.target] == [name]):
                break
            c = blocks.pop(t.target)
            blocks[name] = Block(name, a.instrs + c.instrs, c.term)
            for s in c.successors:  # c's edges now leave from a
                preds[s] = [name if q == c.name else q for q in preds[s]]
            before, current = current, current.replace_blocks(blocks.values())
            merged = True
            yield Step(
                f"merge {c.name} into {name}",
                (name,),
                f"{name} jumps only to {c.name}, and {c.name} has no other predecessor",
                current,
                {"before": before, "removed": (c.name,)},
            )
    if not merged:
        yield Step("no straight-line pair of blocks", (), "merge blocks: nothing to merge", p, {"before": p})
