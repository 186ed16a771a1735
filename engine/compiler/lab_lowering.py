"""What only the lowering lab (labs/lowering.py) needs: the kernels a graph offers, and one report
per (graph, kernel, schedule, -O level) holding every number and text the page shows.

Stages of :func:`lowering_report`:
  1. lower the kernel under the page's schedule controls (:func:`engine.lower`): the steps from the
     graph op to LLVM IR, then LLVM's own two levels (optimised IR, machine code) at the chosen level;
  2. LLVM's pipeline at -O0..-O3 on the same IR: instructions, blocks, phi nodes and vector
     instructions after each level, beside our IR as written;
  3. the kernel run three ways (:func:`~.lowering.aot.compare_run_modes`: interpreted, JIT, AOT), and
     numpy's own kernels called directly on the same inputs (the registry's numpy code without the
     interpreter's checks and bookkeeping), each timed as the median of ``repeat`` calls; the JIT
     result against numpy's as a max |diff|.
:func:`kernel_choices` lists the graph's float32 op nodes that lower and the fused groups of
:func:`engine.fuse` whose members all lower, by a label (the node name, or the members joined by
" + "); the default is the engine's own pick, shown inside its fused group when it is an
elementwise op. Timings are wall-clock on a shared machine: read them as ratios.
Not handled: several kernels in one report; numpy may use several BLAS threads where the compiled
kernel uses one (nothing here changes the process-wide thread count).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from ..core.ir import Graph
from ..core.registry import get_op
from .lowering import LoweringStep, lower
from .lowering.aot import RunModes, compare_run_modes, shape_specialization
from .lowering.from_graph import ANCHORS, SUPPORTED, compute_for_group
from .passes.fusion import fuse

MAX_REPEAT = 20


@dataclass(frozen=True)
class KernelChoices:
    labels: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]  # the node names behind each label
    default: int  # index of the engine's own default pick

    def names(self, label: str) -> tuple[str, ...]:
        if label not in self.labels:
            raise EngineError(f"no kernel named {label!r} in this graph")
        return self.members[self.labels.index(label)]


@dataclass(frozen=True)
class LevelStats:
    level: str  # "ours" (the IR as we wrote it) or "-O0" .. "-O3"
    instructions: int
    blocks: int
    phis: int
    vector_instructions: int
    seconds: float  # LLVM's pipeline alone; 0 for ours


@dataclass(frozen=True)
class KernelTimes:
    jit_s: float  # steady state, median
    numpy_s: float
    interpreter_s: float
    max_abs_diff: float  # JIT result vs numpy's
    max_abs_value: float  # of numpy's result: the scale the difference is read against
    output_shape: tuple[int, ...]

    @property
    def agree(self) -> bool:
        """Equal to float32 rounding: within 1e-4 of the output's scale (sums round differently)."""
        return self.max_abs_diff <= 1e-4 * max(1.0, self.max_abs_value)


@dataclass(frozen=True)
class LoweringReport:
    nodes: tuple[str, ...]
    schedule: str  # the primitives applied, as text
    steps: tuple[LoweringStep, ...]
    levels: tuple[LevelStats, ...]
    opt_level: int
    optimized_ir: str
    assembly: str
    times: KernelTimes
    modes: RunModes


def kernel_choices(graph: Graph) -> KernelChoices:
    """Every op node that lowers (graph order), then every fused group of two or more that does."""
    if not isinstance(graph, Graph):
        raise EngineError(f"kernel_choices() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))  # before the fusion analysis and the per-group checks
    names = [n.name for n in graph.op_nodes if n.op in SUPPORTED and n.dtype == "float32"]
    members: list[tuple[str, ...]] = [(n,) for n in names]
    lowerable = set(names)
    for group in fuse(graph):
        if len(group) > 1 and lowerable.issuperset(group):
            try:
                compute_for_group(graph, tuple(group))
            except EngineError:
                continue
            members.append(tuple(group))
    labels = tuple(" + ".join(m) for m in members)
    return KernelChoices(labels, tuple(members), _default(graph, members))


def _default(graph: Graph, members: list[tuple[str, ...]]) -> int:
    """The engine's own pick (the first matmul/gemm/conv2d, else the first op that lowers); an
    elementwise pick is shown inside its fused group, where compiling it is worth most."""
    try:
        first = lower(graph).nodes
    except EngineError:
        return 0
    if graph.node(first[0]).op not in ANCHORS:
        for k, m in enumerate(members):
            if len(m) > 1 and first[0] in m:
                return k
    return members.index(first) if first in members else 0


def _numpy(graph: Graph, nodes: Sequence[str], values: Mapping[str, np.ndarray]) -> np.ndarray:
    """The registry's numpy kernels, called directly, node after node."""
    env = dict(values)
    for name in nodes:
        node = graph.node(name)
        op = get_op(node.op)
        env[name] = op.kernel([env[i] for i in node.inputs], {**op.attrs, **node.attr_dict})
    return np.asarray(env[nodes[-1]], np.float32)


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _stats(level: str, s, seconds: float) -> LevelStats:
    return LevelStats(level, s.instructions, s.blocks, s.phis, s.vector_instructions, seconds)


def lowering_report(
    graph: Graph,
    nodes: str | Sequence[str] | None,
    schedule: Mapping[str, int] | str | None = None,
    opt_level: int = 2,
    repeat: int = 5,
) -> LoweringReport:
    """Every level of one kernel, LLVM's pipeline on it, and its measured times (module docstring)."""
    if not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise EngineError(f"repeat={repeat!r} must be a whole number from 1 to {MAX_REPEAT}")
    lowered = lower(graph, nodes, schedule)
    modes = compare_run_modes(graph, lowered.nodes, schedule, opt_level, repeat)
    pipeline = lowered.pipeline()
    levels = (_stats("ours", pipeline[0].before, 0.0),) + tuple(
        _stats(f"-O{p.opt_level}", p.after, p.seconds) for p in pipeline
    )
    values = lowered.default_inputs()
    kernel = lowered.compile(opt_level)
    got = kernel(values)[lowered.output]
    want = _numpy(graph, lowered.nodes, values)
    numpy_s = _median(lambda: _numpy(graph, lowered.nodes, values), repeat)
    times = KernelTimes(
        modes.jit.steady_s,
        numpy_s,
        modes.interpreted.steady_s,
        float(np.max(np.abs(got - want), initial=0.0)),
        float(np.max(np.abs(want), initial=0.0)),
        tuple(int(d) for d in want.shape),
    )
    schedule_text = "; ".join(text for text, _ in lowered.schedule.applied) or "default"
    return LoweringReport(
        lowered.nodes,
        schedule_text,
        lowered.steps + lowered.backend_steps(opt_level),
        levels,
        opt_level,
        pipeline[opt_level].text,
        lowered.assembly(opt_level),
        times,
        modes,
    )


def shape_report(graph: Graph, node: str, opt_level: int = 2):
    """The shape-specialising JIT against the shape-generic kernel on the engine's default shapes."""
    return shape_specialization(graph, node, None, opt_level)
