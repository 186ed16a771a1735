"""Analyses the control-flow passes share: depth-first search, liveness, reaching definitions, loops.

  1. :func:`dfs` — iterative depth-first search from the entry: preorder (what is reachable),
     postorder, and the *retreating* edges (to a block still on the stack). The language only builds
     structured (reducible) graphs and no pass makes them irreducible, so retreating edges are
     exactly the loops' back edges;
  2. :func:`liveness` — backward dataflow to a fixed point: a variable is live at a point if some
     path from there reads it before writing it (``live_in = use | (live_out - def)``);
  3. :func:`reaching_definitions` — forward dataflow over bit sets (one bit per instruction that
     writes a variable): which writes may reach each block's entry;
  4. :func:`natural_loops` — for each header with back edges, the blocks that reach a back edge's
     source without passing the header; innermost (smallest) first.
Not handled: irreducible graphs (a retreating edge into a block that does not dominate its
source), memory, calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blocks import Block, Branch, CfgProgram, Instr, Return, Terminator


def instr_uses(ins: Instr) -> tuple[str, ...]:
    return () if ins.op == "input" else tuple(a for a in ins.args if isinstance(a, str))


def term_uses(term: Terminator) -> tuple[str, ...]:
    if isinstance(term, Branch):
        return (term.cond,) if isinstance(term.cond, str) else ()
    if isinstance(term, Return):
        return term.values
    return ()


def predecessors(p: CfgProgram) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {b.name: [] for b in p.blocks}
    for b in p.blocks:
        for s in b.successors:
            preds[s].append(b.name)
    return preds


def dfs(p: CfgProgram) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(preorder, postorder, retreating edges) of a depth-first search from the entry."""
    succ = {b.name: b.successors for b in p.blocks}
    entry = p.entry
    state = {entry: 1}  # 1 on the stack, 2 finished
    pre, post, back = [entry], [], []
    stack = [(entry, iter(succ[entry]))]
    while stack:
        node, it = stack[-1]
        for s in it:
            seen = state.get(s)
            if seen is None:
                state[s] = 1
                pre.append(s)
                stack.append((s, iter(succ[s])))
                break
            if seen == 1:
                back.append((node, s))
        else:
            stack.pop()
            state[node] = 2
            post.append(node)
    return pre, post, back


def block_use_def(b: Block) -> tuple[set[str], set[str]]:
    use: set[str] = set()
    defs: set[str] = set()
    for ins in b.instrs:
        use.update(v for v in instr_uses(ins) if v not in defs)
        defs.add(ins.dest)
    use.update(v for v in term_uses(b.term) if v not in defs)
    return use, defs


def liveness(p: CfgProgram) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(live_in, live_out) per block."""
    ud = {b.name: block_use_def(b) for b in p.blocks}
    succ = {b.name: b.successors for b in p.blocks}
    preds = predecessors(p)
    live_in = {b.name: set(ud[b.name][0]) for b in p.blocks}
    live_out: dict[str, set[str]] = {b.name: set() for b in p.blocks}
    _, post, _ = dfs(p)
    seen = set(post)
    order = post + [b.name for b in p.blocks if b.name not in seen]
    work = list(reversed(order))  # popped from the end: postorder first, so uses flow backwards fast
    queued = set(work)
    while work:
        name = work.pop()
        queued.discard(name)
        out = set()
        for s in succ[name]:
            out |= live_in[s]
        live_out[name] = out
        use, defs = ud[name]
        new_in = use | (out - defs)
        if new_in != live_in[name]:
            live_in[name] = new_in
            for pr in preds[name]:
                if pr not in queued:
                    queued.add(pr)
                    work.append(pr)
    return live_in, live_out


@dataclass(frozen=True)
class Definitions:
    """Reaching definitions. Bit k stands for ``sites[k]``; the first sites are the *starting*
    definitions (index -1 in the entry: every variable starts at 0), one per variable."""

    sites: tuple[tuple[str, int, str], ...]  # (block, index, variable)
    of_var: dict[str, int]  # variable -> bit set of its definitions
    reach_in: dict[str, int]  # block -> bit set reaching its entry
    at: dict[tuple[str, int], dict[str, int]]  # (block, index) -> used variable -> reaching bits


def reaching_definitions(p: CfgProgram) -> Definitions:
    sites: list[tuple[str, int, str]] = [(p.entry, -1, v) for v, _ in p.types]
    of_var: dict[str, int] = {v: 1 << k for k, (v, _) in enumerate(p.types)}
    starting = (1 << len(sites)) - 1
    gen: dict[str, int] = {}
    kill: dict[str, int] = {}
    bit_of: dict[tuple[str, int], int] = {}
    for b in p.blocks:
        last: dict[str, int] = {}
        for k, ins in enumerate(b.instrs):
            bit = bit_of[(b.name, k)] = 1 << len(sites)
            sites.append((b.name, k, ins.dest))
            of_var[ins.dest] |= bit
            last[ins.dest] = bit
        gen[b.name] = sum(last.values())
        kill[b.name] = list(last)
    kill = {name: sum(of_var[v] for v in dests) for name, dests in kill.items()}
    preds = predecessors(p)
    reach_in = {b.name: 0 for b in p.blocks}
    out = {b.name: 0 for b in p.blocks}
    pre, _, _ = dfs(p)
    seen = set(pre)
    order = pre + [b.name for b in p.blocks if b.name not in seen]
    changed = True
    while changed:
        changed = False
        for name in order:
            bits = starting if name == p.entry else 0
            for pr in preds[name]:
                bits |= out[pr]
            reach_in[name] = bits
            new_out = gen[name] | (bits & ~kill[name])
            if new_out != out[name]:
                out[name] = new_out
                changed = True
    at: dict[tuple[str, int], dict[str, int]] = {}
    for b in p.blocks:
        cur = reach_in[b.name]
        for k, ins in enumerate(b.instrs):
            at[(b.name, k)] = {v: cur & of_var[v] for v in instr_uses(ins)}
            cur = (cur & ~of_var[ins.dest]) | bit_of[(b.name, k)]
        at[(b.name, len(b.instrs))] = {v: cur & of_var[v] for v in term_uses(b.term)}
    return Definitions(tuple(sites), of_var, reach_in, at)


@dataclass(frozen=True)
class Loop:
    header: str
    body: frozenset[str]
    latches: tuple[str, ...]


def natural_loops(p: CfgProgram) -> list[Loop]:
    """The natural loop of every header with a back edge, innermost (smallest) first."""
    _, _, back = dfs(p)
    preds = predecessors(p)
    latches: dict[str, list[str]] = {}
    for src, header in back:
        latches.setdefault(header, []).append(src)
    loops = []
    for header, srcs in latches.items():
        body = {header}
        work = [s for s in srcs if s != header]
        body.update(work)
        while work:
            node = work.pop()
            for pr in preds[node]:
                if pr not in body:
                    body.add(pr)
                    work.append(pr)
        loops.append(Loop(header, frozenset(body), tuple(srcs)))
    loops.sort(key=lambda lp: (len(lp.body), lp.header))
    return loops
