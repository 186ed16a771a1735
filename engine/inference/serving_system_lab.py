"""What only the serving-system page needs: its repository built from the page's controls, the
scenarios it simulates, and the Triton / MindIE comparison table.

Stages of :func:`run_scenario`:
  1. :func:`graph_times`: the served model's pass time for each batch size b = 1 .. max batch, from
     the student's graph on a datasheet card (:func:`engine.model_from_graph`: the roofline of
     weights + activations, plus a fixed overhead per pass);
  2. :func:`repository`: three models — ``preprocess`` (CPU, python back end, two copies, one
     request at a time), the graph's model (GPU, onnxruntime back end, the page's batcher and copies,
     versions 1 and 2: version 2 is the new build, ``slowdown`` times slower and failing
     ``canary_error`` of its requests), ``postprocess`` (CPU, one copy, batches of up to 8 without
     delay) — and the ensemble ``pipeline`` (preprocess → model → postprocess);
  3. :func:`scenario_config`: the arrival rate is ``load`` × the capacity at full batches (copies ×
     max batch / pass time; for the ensemble, that of its slowest step); the rollout is ``none``,
     ``canary`` (a traffic split watched by the SLO rule, one check every run/``checks``), ``swap``
     (load v2 and unload v1 at mid-run: requests fail while v2 loads) or ``overlap`` (unload v1 only
     once v2 is ready);
  4. :func:`engine.simulate_serving` on that configuration.
:func:`erlang_check` runs the M/M/c case (batch 1, exponential passes) against Erlang C.
Not handled: anything the simulator itself leaves out (see :mod:`engine.inference.serving_system`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError
from ..core.ir import Graph
from .graph_serving import model_from_graph
from .serving import positive, whole
from .serving_metrics import erlang_c, interval_metrics, mmc_wait, station_table, summary
from .serving_repo import Batcher, Ensemble, ModelConfig, ModelVersion, Repository, ServiceTimes, Step, pbtxt
from .serving_run import ServingRun
from .serving_system import Canary, Lifecycle, ServingConfig, simulate_serving

ROLLOUTS = ("none", "canary", "swap", "overlap")
MODEL = "model"


def graph_times(graph: Graph, hw_name: str, dtype: str, overhead: float, max_batch: int) -> tuple[float, ...]:
    """Seconds of one pass of ``graph`` over b = 1 .. ``max_batch`` requests on card ``hw_name``."""
    model = model_from_graph(graph, hw_name, dtype, overhead)
    return tuple(model.time(b) for b in range(1, whole("max batch size", max_batch, 1, 4096) + 1))


@dataclass(frozen=True)
class Scenario:
    """The page's settings (hashable: they key the cache)."""

    times: tuple[float, ...]  # the model's pass time per batch size
    batcher: Batcher
    instances: int = 1
    load: float = 0.7
    pre_s: float = 3e-4
    post_s: float = 1e-4
    ensemble: bool = False
    rollout: str = "none"
    percent: float = 10.0
    canary_error: float = 0.0
    slowdown: float = 1.0
    max_error_rate: float = 0.05
    max_p99: float = float("inf")
    checks: int = 20
    requests: int = 4000
    load_share: float = 0.05  # v2's load time as a share of the run (swap / overlap)


def repository(s: Scenario) -> Repository:
    """The page's repository (module docstring, stage 2)."""
    times = s.times[: s.batcher.max_batch]
    slow = tuple(t * positive("slowdown", s.slowdown) for t in times)
    model = ModelConfig(
        MODEL,
        (ModelVersion(1, ServiceTimes(times)), ModelVersion(2, ServiceTimes(slow), s.canary_error)),
        batcher=s.batcher,
        instances=s.instances,
        policy="all" if s.rollout == "canary" else "specific",  # v2 waits for a canary or a load
        policy_arg=() if s.rollout == "canary" else (1,),
        load_s=s.load_share * s.requests / (s.load * capacity(s)),
    )
    pre = ModelConfig(
        "preprocess", (ModelVersion(1, ServiceTimes((s.pre_s or 1e-9,))),), Batcher(1), 2, "CPU", "python"
    )
    post = ModelConfig(
        "postprocess",
        (ModelVersion(1, ServiceTimes.affine(0.0, s.post_s or 1e-9, 8)),),
        Batcher(8),
        1,
        "CPU",
        "python",
    )
    pipeline = Ensemble("pipeline", (Step("preprocess"), Step(MODEL, (0,)), Step("postprocess", (1,))))
    return Repository((pre, model, post), (pipeline,))


def capacity(s: Scenario) -> float:
    """Requests/s the model's copies serve at full batches; in an ensemble, the slowest step's."""
    b = s.batcher.max_batch
    model = s.instances * b / s.times[b - 1]
    if not s.ensemble:
        return model
    return min(model, 2 / max(s.pre_s, 1e-9), 1 / max(s.post_s, 1e-9))  # 2 preprocess copies, 1 postprocess


def scenario_config(s: Scenario) -> ServingConfig:
    """The simulation's configuration (module docstring, stage 3)."""
    if s.rollout not in ROLLOUTS:
        raise EngineError(f"rollout {s.rollout!r} is not one of {', '.join(ROLLOUTS)}")
    rate = positive("offered load", s.load) * capacity(s)
    span = whole("number of requests", s.requests, 1, 200_000) / rate
    canary, events = None, ()
    if s.rollout == "canary":
        window = span / whole("checks per run", s.checks, 1, 1000)
        canary = Canary(MODEL, 1, 2, s.percent, s.max_error_rate, s.max_p99, window, 10)
    elif s.rollout in ("swap", "overlap"):
        mid = span / 2
        off = mid if s.rollout == "swap" else mid + s.load_share * span
        events = (Lifecycle(mid, "load", MODEL, 2), Lifecycle(off, "unload", MODEL, 1))
    target = "pipeline" if s.ensemble else MODEL
    return ServingConfig(repository(s), target, rate, canary, events)


def run_scenario(s: Scenario, seed: int = 0) -> ServingRun:
    """The simulation of the page's settings."""
    return simulate_serving(scenario_config(s), s.requests, seed)


def scenario_view(s: Scenario) -> tuple:
    """(run, summary, interval rows, per-model rows, marks): what the page draws; a mark is
    (time, "load" / "unload" / "rollback", version or 0)."""
    run = run_scenario(s)
    marks = [(ev.time, ev.action, ev.version) for ev in scenario_config(s).events]
    if run.rollback_at is not None:
        marks.append((run.rollback_at, "rollback", 0))
    return run, summary(run), interval_metrics(run), station_table(run), marks


def repository_rows(repo: Repository) -> list[dict]:
    """One row per model: what its config.pbtxt says, in a table."""
    rows = []
    for m in repo.models:
        rows.append(
            {
                "model": m.name,
                "versions": ", ".join(map(str, m.numbers())),
                "served (version policy)": ", ".join(map(str, m.served())),
                "backend": m.backend,
                "instance group": f"{m.instances} × KIND_{m.device}",
                "max_batch_size": m.batcher.max_batch,
                "preferred": ", ".join(map(str, m.batcher.preferred)) or "-",
                "max_queue_delay (µs)": round(m.batcher.max_delay * 1e6),
            }
        )
    return rows


def erlang_check(mean_service: float, servers: int, load: float, n: int = 20_000, seed: int = 0) -> dict:
    """M/M/c by simulation (batch 1, exponential passes) beside Erlang C and the M/M/c mean wait."""
    rate = positive("offered load", load) * servers / positive("mean service time", mean_service)
    model = ModelConfig(
        "m", (ModelVersion(1, ServiceTimes((mean_service,), "exponential")),), Batcher(1), servers
    )
    run = simulate_serving(ServingConfig(Repository((model,)), "m", rate), n, seed)
    wait = run.start[:, 0] - run.enter[:, 0]
    return {
        "P(wait) simulated": float(np.mean(wait > 1e-12)),
        "P(wait) Erlang C": erlang_c(servers, rate * mean_service),
        "mean wait simulated (ms)": 1e3 * float(wait.mean()),
        "mean wait M/M/c (ms)": 1e3 * mmc_wait(rate, mean_service, servers),
    }


def config_text(repo: Repository, name: str) -> str:
    """``config.pbtxt`` of model ``name``."""
    return pbtxt(repo.model(name))


#: Triton and MindIE (with CANN under it) stage by stage. Sources: Triton's user guide (architecture,
#: model repository, batchers, ensembles, metrics); the MindIE 1.0.RC2 overview page (component table);
#: CANN's architecture overview (GE, runtime, operator libraries). The lab column names the lab here.
STACKS = (
    ("Requests in, answers out", "HTTP/REST and gRPC (KServe v2 protocol)",
     "MindIE Server; MindIE Client", "serving_system"),
    ("Scheduling and batching", "dynamic / sequence batcher, instance groups",
     "MindIE Server scheduling; MindIE LLM continuous batching", "serving"),
    ("Model management, rollout", "model repository, versions, load / unload API",
     "MindIE MS (service policy management, operations)", "serving_system"),
    ("Pipelines of models", "ensembles, business logic scripting",
     "multi-model service chaining in MindIE Service", "serving_system"),
    ("Framework integration", "back ends: PyTorch, ONNX Runtime, TensorRT, Python",
     "MindIE Torch (PyTorch plug-in, calls MindIE RT)", "model_conversion"),
    ("Graph optimisation and runtime", "inside each back end (e.g. TensorRT, ORT)",
     "MindIE RT: one graph from PyTorch/ONNX, whole-graph dispatch; CANN GE", "inference_engine"),
    ("Kernels and hardware", "CUDA kernels on NVIDIA GPUs",
     "CANN operator libraries (AOL, ATB) on Ascend NPUs", "davinci_core"),
    ("Monitoring", "Prometheus /metrics: counts, queue and compute time",
     "LLM Manager's status monitoring; MindIE Benchmark", "serving_system"),
)  # fmt: skip


def stack_rows() -> list[dict]:
    return [dict(stage=a, triton=b, mindie=c, lab=d) for a, b, c, d in STACKS]
