"""``engine.lower``: one node (or a fused group) of a graph, lowered level by level to LLVM IR.

Stages of :func:`lower`:
  1. pick and check: the node named (or the group of names, e.g. one of ``engine.fuse(graph)``), or
     by default the graph's first matmul/gemm/conv2d (else its first node that lowers); budgets on
     the graph's nodes and every buffer's elements;
  2. graph op -> tensor expression (:mod:`.from_graph`);
  3. tensor expression + schedule -> loop program (:mod:`.schedule`, :mod:`.loop_ir`), once with the
     default schedule and once per schedule primitive, so each primitive is a step;
  4. loop program -> LLVM IR text with basic blocks and phi nodes (:mod:`.llvm_codegen`), checked
     against a size budget before it is written;
  5. every level becomes a :class:`LoweringStep` saying what that level knows and what it forgets.
Nothing here imports llvmlite: :meth:`Lowered.compile`, :meth:`Lowered.optimized` and
:meth:`Lowered.assembly` do, lazily (:mod:`.backend`).
Not handled: several nodes that are not one fused group, ops listed in :mod:`.from_graph` as not
handled, graphs whose values are not float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core import budget
from ...core.errors import BudgetError, EngineError, GraphError
from ...core.interpreter import apply_op, evaluate, source_value
from ...core.ir import Graph
from . import backend
from .from_graph import ANCHORS, SUPPORTED, compute_for_group
from .kernel import Kernel
from .llvm_codegen import generate_llvm, llvm_name
from .loop_ir import LoopProgram, build_loops, format_loops
from .schedule import LoopSchedule, default_schedule, resolve
from .texpr import Binary, Compare, Compute, LaneSum, Select, Unary, format_compute

_WHERE = {
    "register": "the running sum lives in a register (acc), stored once per output element",
    "memory": "the running sum lives in the output buffer: a reduction loop runs outside a spatial loop",
    "none": "no reduction: each output element is computed once",
}
MAX_EMITTED = 60_000  # estimated LLVM instructions of one kernel before optimisation


@dataclass(frozen=True)
class LoweringStep:
    level: str  # graph | tensor expression | loop nest | schedule | LLVM IR | optimised IR | machine code
    title: str
    text: str
    knows: tuple[str, ...]
    forgets: tuple[str, ...]


@dataclass(frozen=True)
class Lowered:
    graph: Graph = field(compare=False, repr=False)
    nodes: tuple[str, ...]
    compute: Compute
    schedule: LoopSchedule
    program: LoopProgram
    loop_ir: str
    llvm_ir: str
    function: str
    steps: tuple[LoweringStep, ...]

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.compute.inputs)

    @property
    def output(self) -> str:
        return self.compute.output

    @property
    def axes(self) -> tuple[tuple[str, int, bool], ...]:
        """(name, extent, is_reduction) of every axis: what a schedule may name."""
        return tuple((a.name, a.extent, a.reduce) for a in self.compute.all_axes)

    # -- llvmlite-backed -------------------------------------------------------------------------
    def compile(self, opt_level: int = 2) -> Kernel:
        """The kernel, JIT-compiled by LLVM at ``opt_level`` (cached by IR text and level)."""
        compiled = backend.jit(self.llvm_ir, self.function, opt_level)
        return Kernel(self.program, compiled, self.default_inputs, known=frozenset(self.graph.by_name))

    def optimized(self, opt_level: int = 2) -> backend.OptimizedIR:
        """The IR after LLVM's O``opt_level`` pipeline, with instruction counts before and after."""
        return backend.optimize(self.llvm_ir, opt_level)

    def pipeline(self, levels: Sequence[int] = backend.OPT_LEVELS) -> tuple[backend.OptimizedIR, ...]:
        return tuple(self.optimized(level) for level in levels)

    def assembly(self, opt_level: int = 2) -> str:
        return backend.assembly(self.llvm_ir, opt_level)

    def backend_steps(self, opt_level: int = 2) -> tuple[LoweringStep, ...]:
        """The two levels LLVM adds: its optimised IR and the machine code."""
        opt = self.optimized(opt_level)
        a = opt.after
        asm = self.assembly(opt_level)
        return (
            LoweringStep(
                "optimised IR",
                f"LLVM -O{opt_level}",
                opt.text,
                (
                    f"{a.instructions} instructions in {a.blocks} blocks (was {opt.before.instructions} in "
                    f"{opt.before.blocks})",
                    f"{a.vector_instructions} vector instructions, {a.phis} phi nodes",
                    "aliasing facts (noalias arguments), loop structure rediscovered by analysis",
                ),
                ("the loop program's address arithmetic as written (recomputed, hoisted, strength-reduced)",),
            ),
            LoweringStep(
                "machine code",
                f"host assembly, -O{opt_level}",
                asm,
                (
                    f"the host CPU's instructions and registers ({backend.host_description()})",
                    "the vector registers' real width (wider vectors are split, narrower ones padded)",
                ),
                (
                    "SSA values (now a finite set of registers, spilled to the stack when they run out)",
                    "types",
                ),
            ),
        )

    # -- references --------------------------------------------------------------------------------
    def default_inputs(self) -> dict[str, np.ndarray]:
        """The graph's values of the kernel's inputs (sources drawn from seed 0, others computed)."""
        names = self.inputs
        if all(self.graph.node(n).is_source for n in names):
            return {n: source_value(self.graph.node(n), 0) for n in names}
        values = evaluate(self.graph)
        return {n: values[n] for n in names}

    def reference(self, inputs: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """The numpy interpreter's value of the lowered node(s), node by node, on the same inputs."""
        env = {**self.default_inputs(), **{k: np.asarray(v, np.float32) for k, v in (inputs or {}).items()}}
        for name in self.nodes:
            node = self.graph.node(name)
            env[name] = apply_op(node, [env[i] for i in node.inputs])
        return {self.output: env[self.output]}


def _pick(graph: Graph, node) -> tuple[str, ...]:
    if node is None:
        ops = graph.op_nodes
        for wanted in (ANCHORS[:3], SUPPORTED):
            for n in ops:
                if n.op in wanted and n.dtype == "float32":
                    return (n.name,)
        raise EngineError(
            "this graph has no node that lowers to loops (matmul, gemm, conv2d, pools, reductions, "
            "batchnorm or elementwise ops); try the mlp preset"
        )
    if isinstance(node, str):
        names = (node,)
    elif isinstance(node, Sequence) and all(isinstance(n, str) for n in node):
        names = tuple(dict.fromkeys(node))
    else:
        raise EngineError(f"node must be a node name or a list of names (a fused group), got {node!r}")
    for name in names:
        n = graph.node(name)
        if n.is_source:
            raise EngineError(f"{name!r} is a {n.op}, not a computation; pick an op node")
    return names


def _expr_size(e) -> int:
    if isinstance(e, (Unary, LaneSum)):
        return 1 + _expr_size(e.a if isinstance(e, Unary) else e.value)
    if isinstance(e, (Binary, Compare)):
        return 1 + _expr_size(e.a) + _expr_size(e.b)
    if isinstance(e, Select):
        return 1 + _expr_size(e.cond) + _expr_size(e.a) + _expr_size(e.b)
    return 3  # a load: offset arithmetic, address, load


def _check_size(c: Compute, s: LoopSchedule, copies: int) -> None:
    per_copy = _expr_size(c.body) + _expr_size(c.epilogue) + 8 * len(c.all_axes)
    estimate = per_copy * copies * max(1, s.vector_width)
    if estimate > MAX_EMITTED:
        raise BudgetError(
            f"this schedule would emit about {estimate:,} LLVM instructions (body copied {copies:,} times, "
            f"{s.vector_width} lanes); the limit is {MAX_EMITTED:,} — unroll less"
        )


def _graph_text(graph: Graph, names: tuple[str, ...]) -> str:
    lines = []
    inside = set(names)
    for name in names:
        n = graph.node(name)
        for i in n.inputs:
            if i not in inside:
                src = graph.node(i)
                lines.append(f"%{i}: float32[{'x'.join(map(str, src.shape)) or 'scalar'}]  ({src.op})")
        attrs = ", ".join(f"{k}={v!r}" for k, v in n.attrs if k != "value")
        args = ", ".join(n.inputs) + (", " + attrs if attrs else "")
        lines.append(f"%{n.name}: float32[{'x'.join(map(str, n.shape)) or 'scalar'}] = {n.op}({args})")
    return "\n".join(dict.fromkeys(lines))


def _steps(graph: Graph, names, comp: Compute, sched: LoopSchedule, program: LoopProgram, ir: str):
    users = sorted({u for n in names for u in graph.users.get(n, ()) if u not in names})
    shapes = ", ".join(f"{b.name} {list(b.shape)}" for b in comp.buffers)
    steps = [
        LoweringStep(
            "graph",
            " -> ".join(f"{graph.node(n).op} {n}" for n in names),
            _graph_text(graph, names),
            (
                "the op's name and attributes",
                f"tensor shapes and dtypes: {shapes}",
                f"the graph around it: read by {', '.join(users) or 'nothing (a graph output)'}",
            ),
            (),
        ),
        LoweringStep(
            "tensor expression",
            "what one output element is",
            format_compute(comp),
            (
                "iteration axes: "
                + (", ".join(f"{a.name} < {a.extent}" for a in comp.axes) or "none (a scalar)"),
                "reduction axes: "
                + (", ".join(f"{a.name} < {a.extent}" for a in comp.reduce_axes) or "none"),
                "the formula of one output element, with padding as bounds checks",
            ),
            (
                "the op's name and attributes (stride, padding, transposes are now index arithmetic)",
                "the rest of the graph: only the buffers it reads and writes remain",
            ),
        ),
    ]
    base = default_schedule(comp)
    steps.append(_loop_step("loop nest", "default schedule", build_loops(comp, base), base))
    for text, loops in sched.applied:
        partial = LoopSchedule(sched.axes, loops)
        try:
            prog = build_loops(comp, partial)
        except EngineError:
            continue
        steps.append(_loop_step("schedule", text, prog, partial))
    blocks = sum(1 for line in ir.splitlines() if line.endswith(":"))
    phis = ir.count(" = phi ")
    width = program.vector_width
    steps.append(
        LoweringStep(
            "LLVM IR",
            "SSA form: basic blocks and phi nodes",
            ir,
            (
                f"{blocks} basic blocks and {phis} phi nodes (loop counters and running sums)",
                f"vector width as a type: <{width} x float>" if width > 1 else "scalar float arithmetic",
                "flat addresses: getelementptr over float pointers with i64 offsets",
            ),
            (
                "tensor shapes and axis names: only flat pointers and i64 offsets remain",
                "the loop structure: only branches and phis (LLVM's loop analysis rediscovers loops)",
                "the op and the graph",
            ),
        )
    )
    return tuple(steps)


def _loop_step(level: str, title: str, prog: LoopProgram, s: LoopSchedule) -> LoweringStep:
    bounds = (
        ", ".join(f"{l.name} < {l.extent}" + (f" ({l.kind})" if l.kind != "serial" else "") for l in s.loops)
        or "no loops (a scalar)"
    )
    knows = (
        f"loop order and bounds: {bounds}",
        _WHERE[prog.accumulation],
        f"vector width {s.vector_width}; copies of the loop body made by unrolling: {prog.unrolled_copies}",
    )
    forgets = ("that the spatial loops could run in any order or in parallel: the nest fixes one order",)
    return LoweringStep(level, title, format_loops(prog), knows, forgets)


def lower(graph: Graph, node: str | Sequence[str] | None = None, schedule: Any = None) -> Lowered:
    """Lower ``node`` of ``graph`` (a name, a fused group of names, or None for the first
    matmul/gemm/conv2d) under ``schedule`` (see :mod:`.schedule` for the accepted forms)."""
    if not isinstance(graph, Graph):
        raise GraphError(f"lower() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    names = _pick(graph, node)
    comp = compute_for_group(graph, names)
    for b in comp.buffers:
        budget.check_tensor(b.shape, f"buffer {b.name!r}")
    sched = resolve(comp, schedule)
    program = build_loops(comp, sched)
    _check_size(comp, sched, program.unrolled_copies)
    function = "kernel_" + llvm_name(comp.output)
    ir = generate_llvm(program, function)
    steps = _steps(graph, names, comp, sched, program, ir)
    order = {n.name: k for k, n in enumerate(graph.nodes)}
    ordered = tuple(sorted(names, key=order.__getitem__))
    return Lowered(graph, ordered, comp, sched, program, format_loops(program), ir, function, steps)
