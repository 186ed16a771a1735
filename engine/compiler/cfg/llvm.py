"""A control-flow program as an LLVM function, and LLVM's optimiser beside our passes.

Stages of :func:`cfg_to_llvm` (the way ``clang -O0`` writes C):
  1. a ``start`` block gives every variable a stack slot (``alloca``) holding 0, then jumps to the
     entry (LLVM's entry block may have no predecessors; ours might after a pass);
  2. each instruction loads its operands, converts ints to doubles where the arithmetic is float
     (``sitofp``), computes (``add``/``mul`` on i64 wrap like the interpreter; ``fadd``, ``fdiv``...;
     comparisons ``icmp``/``fcmp`` widened to 0/1 with ``zext``) and stores to the destination slot;
  3. a branch tests ``!= 0`` (``fcmp une`` for floats, so nan is true); a return stores each output
     into one 8-byte slot of the ``out`` array (i64 or double).
LLVM's pipeline then promotes the slots to SSA registers (mem2reg/SROA builds the phi nodes),
propagates constants, removes dead code, and may delete whole loops — :func:`compare_with_llvm`
puts its block and instruction counts beside those of our passes and runs the compiled function
to check it returns what our interpreter returns (run only after the interpreter has finished
within its step budget, so the machine code never loops forever).
Not handled: programs over :data:`MAX_LLVM_BLOCKS` blocks.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import BudgetError, EngineError
from ..lowering import backend
from ..lowering.llvm_codegen import llvm_name
from .blocks import COMPARE, Block, Branch, CfgProgram, Jump, Operand, check_inputs, result_type, run_cfg
from .passes import DEFAULT_PIPELINE, optimize_cfg

MAX_LLVM_BLOCKS = 2_000
_ICMP = {"lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge", "eq": "eq", "ne": "ne"}
_FCMP = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}
_LL = {"int": "i64", "float": "double"}


def _double(value: float) -> str:
    return "0x" + struct.pack(">d", float(value)).hex().upper()


class _Writer:
    def __init__(self, p: CfgProgram):
        self.p = p
        self.types = p.type_of
        self.lines: list[str] = []
        self.n = 0
        self.slot = {v: f"%v.{_clean(v)}" for v in self.types}

    def tmp(self) -> str:
        self.n += 1
        return f"%r{self.n}"

    def emit(self, text: str) -> None:
        self.lines.append("  " + text)

    def read(self, x: Operand, want: str) -> str:
        """``x`` as an operand of type ``want`` (int or float)."""
        if isinstance(x, str):
            kind = self.types[x]
            r = self.tmp()
            self.emit(f"{r} = load {_LL[kind]}, ptr {self.slot[x]}")
        else:
            kind = "float" if isinstance(x, float) else "int"
            if want == "float":
                return _double(float(x))
            r = str(x)
        if kind == "int" and want == "float":
            f = self.tmp()
            self.emit(f"{f} = sitofp i64 {r} to double")
            return f
        return r

    def kind(self, x: Operand) -> str:
        return self.types[x] if isinstance(x, str) else ("float" if isinstance(x, float) else "int")

    def truth(self, x: Operand) -> str:
        kind = self.kind(x)
        v = self.read(x, kind)
        r = self.tmp()
        if kind == "int":
            self.emit(f"{r} = icmp ne i64 {v}, 0")
        else:
            self.emit(f"{r} = fcmp une double {v}, 0.0")
        return r

    def widen(self, bit: str) -> str:
        r = self.tmp()
        self.emit(f"{r} = zext i1 {bit} to i64")
        return r

    def instr(self, ins) -> None:
        kinds = tuple(self.kind(a) for a in ins.args) if ins.op != "input" else ()
        if ins.op == "input":
            value, kind = f"%in.{_clean(ins.args[0])}", self.types[ins.args[0]]
        elif ins.op == "copy":
            kind = kinds[0]
            value = self.read(ins.args[0], kind)
        elif ins.op == "neg":
            kind = kinds[0]
            a, value = self.read(ins.args[0], kind), self.tmp()
            self.emit(f"{value} = sub i64 0, {a}" if kind == "int" else f"{value} = fneg double {a}")
        elif ins.op == "not":
            t, flipped = self.truth(ins.args[0]), self.tmp()
            self.emit(f"{flipped} = xor i1 {t}, true")
            value, kind = self.widen(flipped), "int"
        elif ins.op in ("and", "or"):
            a, b = self.truth(ins.args[0]), self.truth(ins.args[1])
            both = self.tmp()
            self.emit(f"{both} = {ins.op} i1 {a}, {b}")
            value, kind = self.widen(both), "int"
        elif ins.op in COMPARE:
            kind = "int" if kinds == ("int", "int") else "float"
            a, b = self.read(ins.args[0], kind), self.read(ins.args[1], kind)
            c = self.tmp()
            cmp = f"icmp {_ICMP[ins.op]} i64" if kind == "int" else f"fcmp {_FCMP[ins.op]} double"
            self.emit(f"{c} = {cmp} {a}, {b}")
            value, kind = self.widen(c), "int"
        else:
            kind = result_type(ins.op, kinds)
            a, b = self.read(ins.args[0], kind), self.read(ins.args[1], kind)
            value = self.tmp()
            op = {"add": "add", "sub": "sub", "mul": "mul"}[ins.op] if kind == "int" else "f" + ins.op
            self.emit(f"{value} = {op} {_LL[kind]} {a}, {b}")
        dest = self.types[ins.dest]
        if kind == "int" and dest == "float":
            f = self.tmp()
            self.emit(f"{f} = sitofp i64 {value} to double")
            value = f
        self.emit(f"store {_LL[dest]} {value}, ptr {self.slot[ins.dest]}")

    def block(self, b: Block) -> None:
        self.lines.append(f"b.{_clean(b.name)}:")
        for ins in b.instrs:
            self.instr(ins)
        t = b.term
        if isinstance(t, Jump):
            self.emit(f"br label %b.{_clean(t.target)}")
        elif isinstance(t, Branch):
            self.emit(f"br i1 {self.truth(t.cond)}, label %b.{_clean(t.then)}, label %b.{_clean(t.other)}")
        else:
            for k, name in enumerate(t.values):
                kind = self.types[name]
                v = self.read(name, kind)
                slot = self.tmp()
                self.emit(f"{slot} = getelementptr inbounds i64, ptr %out, i64 {k}")
                self.emit(f"store {_LL[kind]} {v}, ptr {slot}")
            self.emit("ret void")


def _clean(name: str) -> str:
    return "t." + name[1:] if name.startswith("%") else llvm_name(name)  # a dot: never a user's name


def cfg_to_llvm(program: CfgProgram, function: str = "program") -> str:
    """LLVM IR text of ``program``: inputs as arguments, outputs through ``ptr %out``."""
    if not isinstance(program, CfgProgram):
        raise EngineError(
            f"cfg_to_llvm() needs a program from parse_cfg_program, got {type(program).__name__}"
        )
    if len(program.blocks) > MAX_LLVM_BLOCKS:
        raise BudgetError(
            f"the program has {len(program.blocks):,} blocks; LLVM gets at most {MAX_LLVM_BLOCKS:,}"
        )
    w = _Writer(program)
    params = [f"{_LL[program.type_of[n]]} %in.{_clean(n)}" for n, _ in program.inputs] + ["ptr noalias %out"]
    w.lines.append("start:")
    for var, kind in w.types.items():
        w.emit(f"{w.slot[var]} = alloca {_LL[kind]}")
    for var, kind in w.types.items():
        w.emit(f"store {_LL[kind]} {'0' if kind == 'int' else '0.0'}, ptr {w.slot[var]}")
    w.emit(f"br label %b.{_clean(program.entry)}")
    for b in program.blocks:
        w.block(b)
    head = f"define void @{function}({', '.join(params)}) #0 {{"
    return "\n".join(
        [
            "; the program, written the way clang -O0 writes C",
            head,
            *w.lines,
            "}",
            "",
            "attributes #0 = { nounwind }",
            "",
        ]
    )


def run_llvm(
    program: CfgProgram, inputs: Mapping[str, Any] | None = None, opt_level: int = 2
) -> dict[str, int | float]:
    """The outputs of the LLVM-compiled program (our interpreter runs first, to bound its work)."""
    run_cfg(program, inputs)  # raises BudgetError if the program would run too long
    values = check_inputs(program, inputs)
    text = cfg_to_llvm(program)
    compiled = backend.jit(text, "program", opt_level)
    types = program.type_of
    argtypes = [ctypes.c_int64 if types[n] == "int" else ctypes.c_double for n, _ in program.inputs]
    fn = ctypes.CFUNCTYPE(None, *argtypes, ctypes.c_void_p)(compiled.address)
    out = np.zeros(max(1, len(program.outputs)), np.int64)
    fn(*[values[n] for n, _ in program.inputs], out.ctypes.data)
    floats = out.view(np.float64)
    return {
        name: int(out[k]) if types[name] == "int" else float(floats[k])
        for k, name in enumerate(program.outputs)
    }


@dataclass(frozen=True)
class LlvmComparison:
    llvm_ir: str  # our lowering, before LLVM's passes
    optimized_ir: str
    opt_level: int
    llvm_before: backend.IRStats
    llvm_after: backend.IRStats
    blocks_before: int  # our program
    instructions_before: int
    blocks_after_ours: int  # after our pipeline
    instructions_after_ours: int
    interpreted: dict
    compiled: dict
    agree: bool


def compare_with_llvm(
    program: CfgProgram,
    inputs: Mapping[str, Any] | None = None,
    opt_level: int = 2,
    passes: Sequence[str] = DEFAULT_PIPELINE,
) -> LlvmComparison:
    """Our passes and LLVM's pipeline on the same program; both results, checked to agree."""
    interpreted = run_cfg(program, inputs)
    ours, _ = optimize_cfg(program, passes)
    text = cfg_to_llvm(program)
    opt = backend.optimize(text, opt_level)
    compiled = run_llvm(program, inputs, opt_level)
    agree = all(_same(interpreted[k], compiled[k]) for k in interpreted)
    return LlvmComparison(
        text,
        opt.text,
        opt_level,
        opt.before,
        opt.after,
        len(program.blocks),
        program.instruction_count,
        len(ours.blocks),
        ours.instruction_count,
        interpreted,
        compiled,
        agree,
    )


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b
