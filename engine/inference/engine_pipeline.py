"""An inference engine's pipeline on one graph, stage by stage, each stage timed on this machine.

Offline (once per model), then online (every request), as in MNN, TensorRT or TFLite:
  1. **load**: check the graph and bring every weight into memory (read-only arrays);
  2. **configure**: fix what the run depends on: input shapes, precision (float32), threads, the
     passes, the memory strategy and the kernel policy (the run's work budget was checked before
     the first stage);
  3. **optimise**: our graph passes (:func:`engine.optimize`: constant folding, Conv+BN folding, CSE,
     DCE, fusion groups); the folded weights are materialised;
  4. **plan memory**: tensor lifetimes packed into one arena (:mod:`engine.compiler.memory_plan`);
  5. **choose kernels**: per conv layer the kernel the cost model predicts fastest, or (policy
     ``measured``) the one measured fastest (:mod:`engine.inference.kernel_choice`; the tuning's
     own time is counted in this stage); then the chosen kernels' weights are **pre-packed**, once
     per model as onnxruntime does at session creation: the Winograd filter transform U = G g G^T
     of every Winograd layer, kept by the kernel beside its read-only weight array (as far as it
     fits the memory budget, checked first; dropped with the weights when the pipeline ends);
  6. **run**: every op in order on one BLAS thread (as the kernels were timed, their filters
     already transformed), conv layers with their chosen kernel, the others with the interpreter's;
     each op timed. Afterwards (not timed) the outputs are compared with the reference interpreter
     on the unoptimised graph;
  7. **post-process**: softmax and the top-k classes of the first output (when it is a vector of
     scores; otherwise its summary).
:func:`engine_steps` yields one :class:`~engine.core.trace.Step` per stage; :func:`run_pipeline` runs
it to the end and returns the :class:`~engine.core.trace.Trace` whose summary is an
:class:`EngineRun` (stages, a timeline in ms, kernel choices, memory plan, op times).
Not handled: several requests at once (see the serving labs), int8, layouts chosen per kernel, a
real file format (the graph is already in memory; loading is weight materialisation).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compiler.memory_plan import STRATEGIES, MemoryPlan, plan_graph
from ..compiler.passes import optimize
from ..core import budget
from ..core.cost_model import RunNeeds, check_run
from ..core.errors import EngineError, GraphError
from ..core.interpreter import apply_op, run, source_value
from ..core.ir import Graph, validate
from ..core.ops import winograd
from ..core.trace import Event, Step, Timeline, Trace
from ..kernels.conv_engine import engine_conv
from .kernel_choice import Clock, LayerChoice, Machine, Tuning, choose, conv_layers, one_blas_thread

STAGES = ("load", "configure", "optimise", "plan memory", "choose kernels", "run", "post-process")
ONLINE = ("run", "post-process")
POLICIES = ("cost_model", "measured")
DEFAULT_PASSES = ("constant_folding", "simplify", "cse", "dce", "fusion")


@dataclass(frozen=True)
class EngineConfig:
    passes: tuple[str, ...] = DEFAULT_PASSES
    memory: str = "greedy_by_size"
    inplace: bool = True
    policy: str = "cost_model"
    top_k: int = 5


@dataclass(frozen=True)
class Stage:
    name: str
    start_s: float  # seconds of the stages before it (the pipeline's own time, checks excluded)
    seconds: float
    summary: tuple[tuple[str, Any], ...]  # the stage's numbers, by English label


@dataclass(frozen=True)
class OpTime:
    node: str
    op: str
    kernel: str
    seconds: float


@dataclass(frozen=True)
class EngineRun:
    stages: tuple[Stage, ...]
    choices: tuple[LayerChoice, ...]
    plan: MemoryPlan
    log: tuple[str, ...]  # the passes' log
    op_times: tuple[OpTime, ...]
    max_diff: float  # largest |engine - reference interpreter| over the outputs
    top: tuple[tuple[int, float], ...]  # (class, probability), best first
    output_shape: tuple[int, ...]

    @property
    def timeline(self) -> Timeline:
        events = tuple(
            Event(
                s.name,
                1e3 * s.start_s,
                1e3 * (s.start_s + s.seconds),
                f"{1e3 * s.seconds:,.1f} ms",
                "online" if s.name in ONLINE else "offline",
            )
            for s in self.stages
        )
        return Timeline(events, STAGES, "ms")


def _check(graph: Graph, config: EngineConfig, machine: Machine) -> RunNeeds:
    if not isinstance(graph, Graph):
        raise GraphError(f"the engine needs a Graph, got {type(graph).__name__}")
    if config.memory not in STRATEGIES:
        raise EngineError(f"unknown memory strategy {config.memory!r}; choose one of {', '.join(STRATEGIES)}")
    if config.policy not in POLICIES:
        raise EngineError(f"unknown kernel policy {config.policy!r}; choose one of {', '.join(POLICIES)}")
    if not 1 <= config.top_k <= 20:
        raise EngineError(f"top_k must be from 1 to 20, got {config.top_k}")
    if not isinstance(machine, Machine):
        raise EngineError("the engine needs the machine's calibrated constants (kernel_choice.calibrate())")
    return check_run(graph)  # the work budget of a run, before any work


def _weights(graph: Graph) -> dict[str, np.ndarray]:
    """Every source node's value (seed 0, as the reference interpreter draws it), read-only."""
    out = {}
    for n in graph.nodes:
        if n.is_source:
            out[n.name] = source_value(n, 0)
            out[n.name].setflags(write=False)
    return out


def _prepack(opt: Graph, values: dict, choices: tuple[LayerChoice, ...], needs: RunNeeds) -> None:
    """Transform the filter of every Winograd layer now (stage 5), within the memory budget.

    The Winograd kernel keeps U per read-only weight array that owns its data (``_weights`` makes
    such arrays), so the run stage finds it instead of transforming on the request's time. Packed
    are only the weights that kernel would keep: source values (a weight computed by an op is a
    fresh array per run), each within its per-weight limit, all within its total (beyond it the
    least recently used would be dropped again before the run); and only while the run's peak
    memory plus the packed filters fits the memory budget, checked before each transform (a layer
    left unpacked transforms its filter in the run, as it would without this stage).
    """
    weights: dict[int, np.ndarray] = {}
    packed = 0
    for c in choices:
        w = values.get(opt.node(c.layer.node).inputs[1]) if c.chosen == "winograd" else None
        if w is None or w.flags.writeable or not w.flags.owndata or id(w) in weights:
            continue
        size = 16 * w.shape[0] * w.shape[1]  # U: (16, C, Cout)
        fits = needs.peak_elements + packed + size <= budget.MAX_GRAPH_ELEMENTS
        if fits and size <= winograd.MAX_CACHED and packed + size <= winograd.MAX_CACHE_TOTAL:
            weights[id(w)], packed = w, packed + size
    for w in weights.values():
        winograd._transformed(w)  # the kernel's own per-weight cache, filled ahead of the run


def _execute(graph: Graph, values: dict, kernels: dict[str, str], clock: Clock):
    env, times = dict(values), []
    with np.errstate(all="ignore"):
        for n in graph.op_nodes:
            arrays, kernel = [env[i] for i in n.inputs], kernels.get(n.name, "")
            start = clock()
            if kernel and kernel != "reference":
                at = n.attr_dict
                bias = arrays[2] if len(arrays) > 2 else None
                env[n.name] = engine_conv(
                    arrays[0],
                    arrays[1],
                    bias,
                    at.get("stride", 1),
                    at.get("pad", 0),
                    int(at.get("groups", 1)),
                    kernel,
                )
            else:
                env[n.name] = apply_op(n, arrays)
            times.append(OpTime(n.name, n.op, kernel or "interpreter", clock() - start))
    return env, tuple(times)


def _top(scores: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    if scores.ndim < 1 or scores.size < 2:
        return ()
    row = scores.reshape(scores.shape[0], -1)[0].astype(np.float64)
    p = np.exp(row - row.max())
    p /= p.sum()
    best = np.argsort(-p, kind="stable")[:k]
    return tuple((int(i), float(p[i])) for i in best)


def engine_steps(
    graph: Graph,
    config: EngineConfig,
    machine: Machine,
    tuning: Tuning | None = None,
    clock: Clock = time.perf_counter,
) -> Iterator[Step]:
    """One step per stage (see the module docstring); the last step's data is the :class:`EngineRun`."""
    needs = _check(graph, config, machine)
    stages: list[Stage] = []

    def done(name: str, start: float, extra_s: float = 0.0, **summary) -> Stage:
        """Record a stage; stages follow each other on the timeline (untimed checks leave no gap)."""
        at = sum(s.seconds for s in stages)
        stages.append(Stage(name, at, clock() - start + extra_s, tuple(summary.items())))
        return stages[-1]

    t = clock()
    validate(graph)
    values = _weights(graph)
    stored = sum(a.nbytes for k, a in values.items() if graph.node(k).op != "input")
    yield Step(
        "load",
        log=f"{len(values)} tensors, {stored:,} bytes of weights",
        data=done("load", t, nodes=len(graph.nodes), weight_tensors=len(graph.params), weight_bytes=stored),
    )
    t = clock()
    inputs = ", ".join(f"{n.name} {list(n.shape)}" for n in graph.inputs)
    yield Step(
        "configure",
        log=inputs,
        data=done(
            "configure",
            t,
            inputs=inputs,
            precision="float32",
            cores=os.cpu_count() or 1,
            blas_threads=1,
            passes=", ".join(config.passes),
            memory_strategy=config.memory,
            policy=config.policy,
        ),
    )
    t = clock()
    opt, log = optimize(graph, list(config.passes))
    values = _weights(opt)
    yield Step(
        "optimise",
        log="\n".join(log),
        data=done(
            "optimise",
            t,
            nodes_before=len(graph.nodes),
            nodes_after=len(opt.nodes),
            ops_before=len(graph.op_nodes),
            ops_after=len(opt.op_nodes),
        ),
    )
    t = clock()
    plan = plan_graph(opt, config.memory, config.inplace)
    yield Step(
        "plan memory",
        log=f"{plan.naive:,} -> {plan.arena:,} bytes",
        data=done(
            "plan memory", t, naive_bytes=plan.naive, arena_bytes=plan.arena, lower_bound=plan.lower_bound
        ),
    )
    t = clock()
    choices = choose(conv_layers(opt), machine, tuning, config.policy)
    _prepack(opt, values, choices, needs)
    tuned = tuning.seconds if tuning is not None and config.policy == "measured" else 0.0
    picks = [c.chosen for c in choices]
    yield Step(
        "choose kernels",
        log=", ".join(picks),
        data=done(
            "choose kernels",
            t,
            tuned,
            conv_layers=len(choices),
            tuning_s=tuned,
            **{f"{alg} layers": picks.count(alg) for alg in dict.fromkeys(picks)},
        ),
    )
    with one_blas_thread():  # as the kernels were timed
        t = clock()
        env, op_times = _execute(opt, values, {c.layer.node: c.chosen for c in choices}, clock)
        run_stage = done("run", t, ops_run=len(op_times))
    reference = run(graph)
    diff = max(float(np.abs(env[o] - reference[o]).max(initial=0.0)) for o in graph.outputs)
    yield Step("run", log=f"max |engine - reference| = {diff:.2e}", data=run_stage)
    t = clock()
    out = env[opt.outputs[0]]
    top = _top(out, config.top_k)
    post = done("post-process", t, output=str(list(out.shape)), classes=len(top))
    summary = EngineRun(tuple(stages), choices, plan, tuple(log), op_times, diff, top, tuple(out.shape))
    yield Step("post-process", log=", ".join(f"{c}: {p:.3f}" for c, p in top), data=(post, summary))


def run_pipeline(
    graph: Graph,
    config: EngineConfig,
    machine: Machine,
    tuning: Tuning | None = None,
    clock: Clock = time.perf_counter,
) -> Trace:
    """:func:`engine_steps` to the end: a Trace of the stages whose summary is the :class:`EngineRun`."""
    steps = list(engine_steps(graph, config, machine, tuning, clock))
    last = steps[-1]
    steps[-1] = Step(last.title, last.highlight, last.log, last.graph, last.data[0])
    return Trace(tuple(steps), graph.title, last.data[1])
