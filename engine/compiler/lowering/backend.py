"""LLVM's side of the pipeline through llvmlite (imported lazily, inside functions, like torch).

Stages, each one function:
  1. :func:`parse` — ``llvm.parse_assembly`` + ``verify()``: LLVM's own check that the text is valid
     SSA (every use dominated by its definition, phi nodes matching predecessors, types agreeing);
  2. :func:`optimize` — the new pass manager's default pipeline at O0..O3 (``PipelineTuningOptions``
     + ``PassBuilder``, what ``opt -O2`` runs) for the host CPU, with :class:`IRStats` before/after;
  3. :func:`jit` — MCJIT: optimise, generate machine code in memory, return the function's address
     (cached by IR text and level, so tests and pages compile each kernel once);
  4. :func:`emit_object` / :func:`load_object` — ahead of time: the machine code as the bytes of an
     object file (what ``llc -filetype=obj`` writes), later linked into a fresh engine without
     running the optimiser or the code generator again; :func:`emit_bitcode` gives LLVM bitcode;
  5. :func:`assembly` — the machine code as text (the back end's output).
llvmlite is not thread-safe around one LLVM context, so every call holds one lock.
Not handled: cross-compilation (the host CPU is the target), object files from other machines.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import EngineError

OPT_LEVELS = (0, 1, 2, 3)
OBJECT_MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"d\x86\x00\x00", b"d\x86\x01\x00")  # ELF, Mach-O, COFF
_LOCK = threading.RLock()


def _llvm():
    try:
        import llvmlite.binding as llvm
    except ImportError:  # pragma: no cover - llvmlite is a runtime requirement
        raise EngineError("the LLVM back end needs the llvmlite package (llvmlite==0.50.0)") from None
    _init(llvm)
    return llvm


@functools.cache
def _init(llvm) -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


def _check_level(opt_level: Any) -> int:
    if opt_level not in OPT_LEVELS or isinstance(opt_level, bool):
        raise EngineError(f"opt_level {opt_level!r} must be one of 0, 1, 2, 3")
    return int(opt_level)


def _target_machine(llvm, opt_level: int):
    target = llvm.Target.from_default_triple()
    features = llvm.get_host_cpu_features().flatten()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=features, opt=opt_level)


def host_description() -> str:
    with _LOCK:
        llvm = _llvm()
        version = ".".join(map(str, llvm.llvm_version_info))
        return f"{llvm.get_process_triple()} ({llvm.get_host_cpu_name()}), LLVM {version}"


def parse(text: str, tm=None):
    """The verified module (an EngineError carrying LLVM's message if the IR is invalid)."""
    llvm = _llvm()
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as exc:
        raise EngineError(f"LLVM rejected the IR: {str(exc).strip()[:500]}") from None
    if tm is not None:
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
    return mod


def _run_pipeline(llvm, mod, tm, opt_level: int) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


@dataclass(frozen=True)
class IRStats:
    """Counts over the defined functions of a module."""

    blocks: int
    instructions: int
    phis: int
    vector_instructions: int  # instructions whose result is a vector
    loads: int
    stores: int
    calls: int
    opcodes: tuple[tuple[str, int], ...]  # most frequent first


def _stats(mod) -> IRStats:
    blocks = 0
    ops: Counter = Counter()
    vector = 0
    for fn in mod.functions:
        if fn.is_declaration:
            continue
        for block in fn.blocks:
            blocks += 1
            for inst in block.instructions:
                ops[inst.opcode] += 1
                vector += str(inst.type).startswith("<")
    return IRStats(
        blocks,
        sum(ops.values()),
        ops["phi"],
        vector,
        ops["load"],
        ops["store"],
        ops["call"],
        tuple(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def stats(text: str) -> IRStats:
    with _LOCK:
        return _stats(parse(text))


@dataclass(frozen=True)
class OptimizedIR:
    opt_level: int
    text: str
    before: IRStats
    after: IRStats
    seconds: float  # time of the optimisation pipeline alone


@functools.lru_cache(maxsize=128)
def optimize(text: str, opt_level: int = 2) -> OptimizedIR:
    """``text`` after LLVM's default pipeline at ``opt_level`` for the host CPU."""
    level = _check_level(opt_level)
    with _LOCK:
        llvm = _llvm()
        tm = _target_machine(llvm, level)
        mod = parse(text, tm)
        before = _stats(mod)
        t0 = time.perf_counter()
        _run_pipeline(llvm, mod, tm, level)
        seconds = time.perf_counter() - t0
        return OptimizedIR(level, str(mod), before, _stats(mod), seconds)


@dataclass(frozen=True)
class Compiled:
    """Machine code in memory: the function's address, kept alive by its execution engine."""

    address: int
    opt_level: int
    seconds: float  # parse + optimise + code generation (or object loading)
    how: str  # jit | aot
    engine: Any = field(default=None, compare=False, repr=False)


def compile_fresh(text: str, function: str, opt_level: int = 2) -> Compiled:
    """JIT-compile without the cache (for measuring compile time)."""
    level = _check_level(opt_level)
    with _LOCK:
        llvm = _llvm()
        t0 = time.perf_counter()
        tm = _target_machine(llvm, level)
        mod = parse(text, tm)
        _run_pipeline(llvm, mod, tm, level)
        engine = llvm.create_mcjit_compiler(mod, tm)
        engine.finalize_object()
        address = engine.get_function_address(function)
        return Compiled(address, level, time.perf_counter() - t0, "jit", engine)


@functools.lru_cache(maxsize=64)
def jit(text: str, function: str, opt_level: int = 2) -> Compiled:
    """JIT-compiled ``function`` of ``text`` (cached by text and level)."""
    return compile_fresh(text, function, opt_level)


def emit_object(text: str, opt_level: int = 2) -> tuple[bytes, float]:
    """(object file bytes, seconds): optimised and compiled ahead of time for the host CPU."""
    level = _check_level(opt_level)
    with _LOCK:
        llvm = _llvm()
        t0 = time.perf_counter()
        tm = _target_machine(llvm, level)
        mod = parse(text, tm)
        _run_pipeline(llvm, mod, tm, level)
        obj = tm.emit_object(mod)
        return bytes(obj), time.perf_counter() - t0


def emit_bitcode(text: str, opt_level: int = 2) -> bytes:
    """LLVM bitcode of the optimised module (what ``clang -c -emit-llvm`` writes)."""
    level = _check_level(opt_level)
    with _LOCK:
        llvm = _llvm()
        tm = _target_machine(llvm, level)
        mod = parse(text, tm)
        _run_pipeline(llvm, mod, tm, level)
        return bytes(mod.as_bitcode())


def load_object(obj: bytes, function: str) -> Compiled:
    """Link object-file bytes into a fresh engine: no optimiser, no code generator."""
    if not isinstance(obj, (bytes, bytearray)) or len(obj) < 64 or bytes(obj[:4]) not in OBJECT_MAGIC:
        # LLVM's object reader trusts its input (garbage can crash the process): only our own files
        raise EngineError("an ahead-of-time kernel needs the bytes of an object file made by emit_object")
    with _LOCK:
        llvm = _llvm()
        t0 = time.perf_counter()
        tm = _target_machine(llvm, 0)
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        try:
            engine.add_object_file(llvm.ObjectFileRef.from_data(bytes(obj)))
            engine.finalize_object()
        except RuntimeError as exc:
            raise EngineError(f"the object file could not be loaded: {exc}") from None
        address = engine.get_function_address(function)
        if not address:
            raise EngineError(f"the object file has no function named {function!r}")
        return Compiled(address, -1, time.perf_counter() - t0, "aot", engine)


@functools.lru_cache(maxsize=32)
def assembly(text: str, opt_level: int = 2) -> str:
    """The host machine code of ``text`` at ``opt_level``, as assembly text."""
    level = _check_level(opt_level)
    with _LOCK:
        llvm = _llvm()
        tm = _target_machine(llvm, level)
        mod = parse(text, tm)
        _run_pipeline(llvm, mod, tm, level)
        return tm.emit_assembly(mod)
