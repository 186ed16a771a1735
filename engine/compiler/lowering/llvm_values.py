"""LLVM IR text for the values of a loop program: index arithmetic, loads, stores, float math.

Stages of a load (:meth:`ValueEmitter.load`), the heart of this module:
  1. the indices, with every axis replaced by its loop variables, become one flat row-major
     offset, an :class:`~.index.Idx` polynomial;
  2. under a vectorised loop the offset's coefficient of the lane variable decides the access:
     1 -> one ``<w x float>`` load at lane 0's offset, 0 -> one scalar load (broadcast when mixed
     with vectors), anything else (or a padding check that depends on the lane) -> one scalar load
     per lane gathered with ``insertelement``;
  3. the offset is emitted as ``i64`` arithmetic (constants folded, repeated sub-expressions of one
     block reused), then ``getelementptr inbounds float`` and ``load``;
  4. a padded load tests ``0 <= index < size`` per checked dimension, clamps the offset to 0 where
     the test fails (so memory outside the buffer is never touched) and ``select``s the pad value.
Values are memoised per block and per *scope token* (a fresh token whenever loop variables, axes
or accumulators change), so an unrolled copy never reuses the previous copy's loads.
Not handled: masked or strided vector loads (a gather of scalars is used instead).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np

from .index import DivAtom, Idx, flat_offset, idx
from .loop_ir import LoopProgram, Store
from .texpr import AccRef, Binary, Compare, Const, FExpr, LaneSum, Load, Select, Unary

_FBIN = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
_INTRINSIC_BIN = {"pow": "pow", "max": "maximum", "min": "minimum"}
_INTRINSIC_UN = {
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "cos": "cos",
    "tanh": "tanh",
    "sqrt": "sqrt",
    "abs": "fabs",
}
_FCMP = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}


def float_literal(value: float) -> str:
    """An exact LLVM literal for a float32 value (hex of the double that equals it)."""
    as32 = float(np.float32(value))
    return "0x" + struct.pack(">d", as32).hex().upper()


def llvm_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) or "v"


@dataclass
class _V:
    ref: str
    lanes: int  # 1 = scalar float


class ValueEmitter:
    """Names, types, index arithmetic, loads, stores and values (statements: :mod:`.llvm_codegen`)."""

    def __init__(self, program: LoopProgram):
        self.p = program
        self.lines: list[str] = []
        self.block = "entry"
        self.used: set[str] = {"entry"}  # labels and values share one namespace in LLVM
        self.declares: set[str] = set()
        self.memo: dict = {}
        c = program.compute
        self.shapes = {b.name: b.shape for b in c.buffers}
        self.ptr = {b.name: "%" + self.fresh(llvm_name(b.name)) for b in c.buffers}
        self.size_args = {s: "%" + self.fresh(llvm_name(s)) for s in program.sizes}

    # -- names and blocks --------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.used:
            name = f"{hint}.{k}"
            k += 1
        self.used.add(name)
        return name

    def tmp(self, hint: str = "t") -> str:
        return "%" + self.fresh(hint)

    def emit(self, text: str) -> None:
        self.lines.append("  " + text)

    def start(self, label: str) -> None:
        self.lines.append(f"{label}:")
        self.block = label

    # -- types ------------------------------------------------------------------------------------
    @staticmethod
    def ty(lanes: int) -> str:
        return "float" if lanes == 1 else f"<{lanes} x float>"

    def const(self, value: float, lanes: int) -> _V:
        lit = float_literal(value)
        if lanes == 1:
            return _V(lit, 1)
        return _V("<" + ", ".join([f"float {lit}"] * lanes) + ">", lanes)

    def splat(self, v: _V, lanes: int) -> _V:
        if v.lanes == lanes:
            return v
        if v.ref.startswith("0x"):
            return _V("<" + ", ".join([f"float {v.ref}"] * lanes) + ">", lanes)
        one = self.tmp("splat")
        self.emit(f"{one} = insertelement <{lanes} x float> poison, float {v.ref}, i64 0")
        out = self.tmp("splat")
        self.emit(
            f"{out} = shufflevector <{lanes} x float> {one}, <{lanes} x float> poison, "
            f"<{lanes} x i32> zeroinitializer"
        )
        return _V(out, lanes)

    def intrinsic(self, base: str, lanes: int, nargs: int) -> str:
        suffix = "f32" if lanes == 1 else f"v{lanes}f32"
        name = f"@llvm.{base}.{suffix}"
        t = self.ty(lanes)
        self.declares.add(f"declare {t} {name}({', '.join([t] * nargs)})")
        return name

    # -- integer index arithmetic -----------------------------------------------------------------
    def index(self, e: Idx, env: dict) -> str:
        """``e`` evaluated to an i64 operand; ``env`` maps loop variables to int or SSA name."""
        e = e.subst({v: val for v, val in env["vars"].items() if isinstance(val, int)})
        const = e.const_value()
        if const is not None:
            return str(const)
        key = ("idx", self.block, env["token"], e)
        if key in self.memo:
            return self.memo[key]
        total = None
        for mono, coef in e.terms:
            term = None
            for atom in mono:
                term = self._mul(term, self._atom(atom, env))
            term = str(coef) if term is None else (term if coef == 1 else self._mul(term, str(coef)))
            total = term if total is None else self._bin("add", total, term)
        self.memo[key] = total
        return total

    def _atom(self, atom, env) -> str:
        if isinstance(atom, DivAtom):
            inner = self.index(atom.expr, env)
            out = self.tmp("q")
            op = "sdiv" if atom.kind == "div" else "srem"
            self.emit(f"{out} = {op} i64 {inner}, {atom.divisor}")
            return out
        if atom in env["vars"]:
            return env["vars"][atom]
        return self.size_args[atom]

    def _mul(self, a: str | None, b: str) -> str:
        return b if a is None else self._bin("mul", a, b)

    def _bin(self, op: str, a: str, b: str) -> str:
        out = self.tmp("o")
        self.emit(f"{out} = {op} i64 {a}, {b}")
        return out

    def offset(self, buffer: str, indices, env) -> Idx:
        axes = env["axes"]
        flat = flat_offset(tuple(i.subst(axes) for i in indices), self.shapes[buffer])
        return flat

    # -- loads and stores ---------------------------------------------------------------------------
    def _in_bounds(self, load: Load, env) -> str | None:
        conds = []
        for d in load.checks:
            i = self.index(load.indices[d].subst(env["axes"]), env)
            size = self.index(idx(self.shapes[load.buffer][d]), env)
            lo, hi, both = self.tmp("lo"), self.tmp("hi"), self.tmp("in")
            self.emit(f"{lo} = icmp sge i64 {i}, 0")
            self.emit(f"{hi} = icmp slt i64 {i}, {size}")
            self.emit(f"{both} = and i1 {lo}, {hi}")
            conds.append(both)
        out = None
        for cnd in conds:
            if out is None:
                out = cnd
            else:
                nxt = self.tmp("in")
                self.emit(f"{nxt} = and i1 {out}, {cnd}")
                out = nxt
        return out

    def _gep(self, buffer: str, off: str) -> str:
        p = self.tmp("p")
        self.emit(f"{p} = getelementptr inbounds float, ptr {self.ptr[buffer]}, i64 {off}")
        return p

    def load(self, load: Load, env) -> _V:
        vec = env["vector"]
        flat = self.offset(load.buffer, load.indices, env)
        if vec is not None:
            var, lanes = vec
            check_vars = set()
            for d in load.checks:
                check_vars |= load.indices[d].subst(env["axes"]).free_vars()
            stride = flat.coeff(var)
            if var in check_vars or stride not in (0, 1):
                return self._gather(load, env, var, lanes)
            if stride == 1:
                return self._plain_load(load, env, lanes)
        return self._plain_load(load, env, 1)

    def _plain_load(self, load: Load, env, lanes: int) -> _V:
        base = env if env["vector"] is None else _with_var(env, env["vector"][0], 0)
        flat = self.offset(load.buffer, load.indices, base)
        off = self.index(flat, base)
        ok = self._in_bounds(load, base) if load.checks else None
        if ok is not None:
            safe = self.tmp("off")
            self.emit(f"{safe} = select i1 {ok}, i64 {off}, i64 0")
            off = safe
        p = self._gep(load.buffer, off)
        v = self.tmp("v")
        self.emit(f"{v} = load {self.ty(lanes)}, ptr {p}, align 4")
        if ok is None:
            return _V(v, lanes)
        pad = self.const(load.pad, lanes)
        out = self.tmp("v")
        self.emit(f"{out} = select i1 {ok}, {self.ty(lanes)} {v}, {self.ty(lanes)} {pad.ref}")
        return _V(out, lanes)

    def _gather(self, load: Load, env, var: str, lanes: int) -> _V:
        acc = "poison"
        for lane in range(lanes):
            v = self._plain_load(load, _with_var(env, var, lane, scalar=True), 1)
            nxt = self.tmp("g")
            self.emit(f"{nxt} = insertelement <{lanes} x float> {acc}, float {v.ref}, i64 {lane}")
            acc = nxt
        return _V(acc, lanes)

    def store(self, st: Store, env) -> None:
        value = self.value(st.value, env)
        vec = env["vector"]
        if vec is None:
            off = self.index(self.offset(st.buffer, st.indices, env), env)
            self.emit(f"store float {value.ref}, ptr {self._gep(st.buffer, off)}, align 4")
            return
        var, lanes = vec
        flat = self.offset(st.buffer, st.indices, env)
        value = self.splat(value, lanes)
        if flat.coeff(var) == 1:
            base = _with_var(env, var, 0)
            off = self.index(self.offset(st.buffer, st.indices, base), base)
            self.emit(f"store <{lanes} x float> {value.ref}, ptr {self._gep(st.buffer, off)}, align 4")
            return
        for lane in range(lanes):
            lane_env = _with_var(env, var, lane, scalar=True)
            off = self.index(self.offset(st.buffer, st.indices, lane_env), lane_env)
            x = self.tmp("x")
            self.emit(f"{x} = extractelement <{lanes} x float> {value.ref}, i64 {lane}")
            self.emit(f"store float {x}, ptr {self._gep(st.buffer, off)}, align 4")

    # -- values ---------------------------------------------------------------------------------------
    def value(self, e: FExpr, env) -> _V:
        key = ("val", self.block, env["token"], e)
        if key in self.memo:
            return self.memo[key]
        out = self._value(e, env)
        self.memo[key] = out
        return out

    def _value(self, e: FExpr, env) -> _V:
        if isinstance(e, Const):
            return self.const(e.value, 1)
        if isinstance(e, Load):
            return self.load(e, env)
        if isinstance(e, AccRef):
            return env["accs"][e.name]
        if isinstance(e, Unary):
            a = self.value(e.a, env)
            out = self.tmp()
            if e.op == "neg":
                self.emit(f"{out} = fneg {self.ty(a.lanes)} {a.ref}")
            else:
                fn = self.intrinsic(_INTRINSIC_UN[e.op], a.lanes, 1)
                self.emit(f"{out} = call {self.ty(a.lanes)} {fn}({self.ty(a.lanes)} {a.ref})")
            return _V(out, a.lanes)
        if isinstance(e, Binary):
            a, b = self.value(e.a, env), self.value(e.b, env)
            lanes = max(a.lanes, b.lanes)
            a, b = self.splat(a, lanes), self.splat(b, lanes)
            return self.binary(e.op, a, b)
        if isinstance(e, Compare):
            raise TypeError("a comparison is not a float value")
        if isinstance(e, Select):
            ca, cb = self.value(e.cond.a, env), self.value(e.cond.b, env)
            a, b = self.value(e.a, env), self.value(e.b, env)
            lanes = max(ca.lanes, cb.lanes, a.lanes, b.lanes)
            ca, cb, a, b = (self.splat(v, lanes) for v in (ca, cb, a, b))
            cond = self.tmp("c")
            self.emit(f"{cond} = fcmp {_FCMP[e.cond.op]} {self.ty(lanes)} {ca.ref}, {cb.ref}")
            out = self.tmp()
            ct = "i1" if lanes == 1 else f"<{lanes} x i1>"
            self.emit(f"{out} = select {ct} {cond}, {self.ty(lanes)} {a.ref}, {self.ty(lanes)} {b.ref}")
            return _V(out, lanes)
        if isinstance(e, LaneSum):
            v = self.value(e.value, env)
            if env["vector"] is not None:
                v = self.splat(v, env["vector"][1])
            return self.lane_reduce(e.combiner, v)
        raise TypeError(f"not a value expression: {e!r}")

    def binary(self, op: str, a: _V, b: _V) -> _V:
        out = self.tmp()
        t = self.ty(a.lanes)
        if op in _FBIN:
            self.emit(f"{out} = {_FBIN[op]} {t} {a.ref}, {b.ref}")
        else:
            fn = self.intrinsic(_INTRINSIC_BIN[op], a.lanes, 2)
            self.emit(f"{out} = call {t} {fn}({t} {a.ref}, {t} {b.ref})")
        return _V(out, a.lanes)

    def lane_reduce(self, combiner: str, v: _V) -> _V:
        if v.lanes == 1:
            return v
        acc = None
        for lane in range(v.lanes):
            x = self.tmp("lane")
            self.emit(f"{x} = extractelement <{v.lanes} x float> {v.ref}, i64 {lane}")
            acc = (
                _V(x, 1) if acc is None else self.binary("add" if combiner == "sum" else "max", acc, _V(x, 1))
            )
        return acc


def _derive(env: dict, **changes) -> dict:
    out = {**env, **changes}
    out["token"] = object()  # a fresh scope: values remembered under another token are not reused
    return out


def _with_var(env: dict, var: str, value, scalar: bool = False) -> dict:
    changes = {"vars": {**env["vars"], var: value}}
    if scalar:
        changes["vector"] = None
    return _derive(env, **changes)
