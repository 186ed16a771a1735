"""The SSA level: a loop program -> one LLVM IR function (text), with basic blocks and phi nodes.

Stages of :func:`generate_llvm`:
  1. the signature: one ``ptr noalias`` argument per buffer (inputs, then the output), then one
     ``i64`` per symbolic size of a shape-generic kernel;
  2. every :class:`~.loop_ir.For` becomes the textbook loop: a *header* block whose ``phi`` nodes
     merge the induction variable (0 from the block before, ``+1`` from the latch) and every
     accumulator the body updates, a compare against the trip count, the *body* blocks, and an
     *exit* block; a loop of one trip disappears, an unrolled loop is emitted once per iteration
     with the variable a constant, and a vectorised loop is no loop at all: its body is emitted
     once with ``<w x float>`` values;
  3. a :class:`~.loop_ir.Guard` becomes a conditional branch to a *then* block and a *merge*
     block, where a ``phi`` picks the accumulator from the path taken;
  4. loads and stores compute a flat row-major offset in ``i64`` and a ``getelementptr``; under a
     vector loop an offset with stride 1 along the lanes is one vector load/store, stride 0 a
     scalar broadcast (``insertelement`` + ``shufflevector``), anything else one scalar access per
     lane; a padded load clamps its offset to 0 and ``select``s the pad value, so it never reads
     outside its buffer;
  5. math maps to LLVM instructions (``fadd``, ``fmul``, ``fcmp``, ``select``...) and intrinsics
     (``llvm.exp``, ``llvm.maximum`` — NaN-propagating like numpy's maximum...), declared at the
     top. No fast-math flags: the floating-point order is exactly the loop program's.
The level knows basic blocks, SSA values, the vector width as a type and byte addressing; it has
forgotten tensor shapes (only flat pointers remain), axis names and the loop structure itself
(LLVM's loop analysis rediscovers loops from the branches). Not handled: integer tensors,
parallel loops, alignment beyond 4 bytes.
"""

from __future__ import annotations

from .index import idx
from .llvm_values import _V, ValueEmitter, _derive, _with_var, llvm_name
from .loop_ir import AccInit, AccUpdate, AxisLet, For, Guard, LoopProgram, Store


class _Emitter(ValueEmitter):
    # -- statements ----------------------------------------------------------------------------------
    def stmts(self, body, env) -> dict:
        for st in body:
            env = self.stmt(st, env)
        return env

    def stmt(self, st, env) -> dict:
        if isinstance(st, For):
            return self.loop(st, env)
        if isinstance(st, AxisLet):
            return _derive(env, axes={**env["axes"], st.axis: st.value})
        if isinstance(st, AccInit):
            return _derive(env, accs={**env["accs"], st.acc: self.const(st.value, st.lanes)})
        if isinstance(st, AccUpdate):
            old = env["accs"][st.acc]
            v = self.splat(self.value(st.value, env), old.lanes)
            new = self.binary("add" if st.combiner == "sum" else "max", old, v)
            return _derive(env, accs={**env["accs"], st.acc: new})
        if isinstance(st, Store):
            self.store(st, env)
            return env
        if isinstance(st, Guard):
            return self.guard(st, env)
        raise TypeError(f"not a statement: {st!r}")

    def loop(self, st: For, env) -> dict:
        loop = st.loop
        name = llvm_name(loop.name)
        if loop.kind == "vectorize" and loop.extent > 1:
            out = self.stmts(st.body, _derive(env, vector=(loop.name, loop.extent)))
            return _derive(env, accs={k: out["accs"][k] for k in env["accs"]})
        if isinstance(loop.extent, int) and (loop.kind == "unroll" or loop.extent == 1):
            for k in range(loop.extent):
                out = self.stmts(st.body, _with_var(env, loop.name, k))
                env = _derive(env, accs={a: out["accs"][a] for a in env["accs"]})
            return env
        carried = sorted(_updated(st.body) & set(env["accs"]))
        pre = self.block
        hdr, body, exit_ = (self.fresh(f"{name}.{part}") for part in ("header", "body", "exit"))
        var = "%" + self.fresh(name)
        nxt = "%" + self.fresh(f"{name}.next")
        bound = self.index(idx(loop.extent), env)
        self.emit(f"br label %{hdr}")
        self.start(hdr)
        phi_at = len(self.lines)
        self.lines.append("")  # the induction phi, patched once the latch is known
        phis = {}
        for acc in carried:
            phis[acc] = "%" + self.fresh(acc)
            self.lines.append("")
        cond = self.tmp(f"{name}.cond")
        self.emit(f"{cond} = icmp slt i64 {var}, {bound}")
        self.emit(f"br i1 {cond}, label %{body}, label %{exit_}")
        self.start(body)
        lanes = {a: env["accs"][a].lanes for a in carried}
        inner_accs = {**env["accs"], **{a: _V(phis[a], lanes[a]) for a in carried}}
        inner = _derive(_with_var(env, loop.name, var), accs=inner_accs)
        done = self.stmts(st.body, inner)
        latch = self.block
        self.emit(f"{nxt} = add nuw nsw i64 {var}, 1")
        self.emit(f"br label %{hdr}")
        self.lines[phi_at] = f"  {var} = phi i64 [ 0, %{pre} ], [ {nxt}, %{latch} ]"
        for k, acc in enumerate(carried):
            t = self.ty(lanes[acc])
            start, end = env["accs"][acc].ref, done["accs"][acc].ref
            self.lines[phi_at + 1 + k] = f"  {phis[acc]} = phi {t} [ {start}, %{pre} ], [ {end}, %{latch} ]"
        self.start(exit_)
        return _derive(env, accs={**env["accs"], **{a: _V(phis[a], lanes[a]) for a in carried}})

    def guard(self, st: Guard, env) -> dict:
        conds = []
        for i, bound in st.conds:
            c = self.tmp("g")
            self.emit(
                f"{c} = icmp slt i64 {self.index(i.subst(env['axes']), env)}, {self.index(idx(bound), env)}"
            )
            conds.append(c)
        cond = conds[0]
        for c in conds[1:]:
            nxt = self.tmp("g")
            self.emit(f"{nxt} = and i1 {cond}, {c}")
            cond = nxt
        pre = self.block
        then, merge = self.fresh("then"), self.fresh("merge")
        self.emit(f"br i1 {cond}, label %{then}, label %{merge}")
        self.start(then)
        done = self.stmts(st.body, env)
        then_end = self.block
        self.emit(f"br label %{merge}")
        self.start(merge)
        accs = dict(env["accs"])
        for acc in sorted(_updated(st.body) & set(env["accs"])):
            old, new = env["accs"][acc], done["accs"][acc]
            out = "%" + self.fresh(acc)
            t = self.ty(old.lanes)
            self.emit(f"{out} = phi {t} [ {new.ref}, %{then_end} ], [ {old.ref}, %{pre} ]")
            accs[acc] = _V(out, old.lanes)
        return _derive(env, accs=accs)


def _updated(body) -> set[str]:
    out: set[str] = set()
    for st in body:
        if isinstance(st, AccUpdate):
            out.add(st.acc)
        elif isinstance(st, (For, Guard)):
            out |= _updated(st.body)
    return out


def generate_llvm(program: LoopProgram, function: str) -> str:
    """The LLVM IR module text of ``program`` as one function named ``function``."""
    em = _Emitter(program)
    c = program.compute
    params = [f"ptr noalias {em.ptr[b.name]}" for b in c.buffers]
    params += [f"i64 {em.size_args[s]}" for s in program.sizes]
    env = {"vars": {}, "axes": {}, "accs": {}, "vector": None, "token": 0}
    em.start("entry")
    for nest in program.nests:
        em.stmts(nest.body, _derive(env, vars={}))
    em.emit("ret void")
    head = [f"; {c.source}: {program.accumulation} accumulation, vector width {program.vector_width}"]
    decl = sorted(em.declares)
    body = [f"define void @{function}({', '.join(params)}) #0 {{", *em.lines, "}"]
    return "\n".join(
        head + [""] + decl + ([""] if decl else []) + body + ["", "attributes #0 = { nounwind }", ""]
    )
