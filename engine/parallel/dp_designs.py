"""Three ways to train data-parallel: DataParallel (DP), DistributedDataParallel (DDP), a parameter server.

Every design is written as a task graph of computations and messages, and one event simulator runs
it. Stages:
  1. Designs (one step each; ``steps`` steps run back to back):
     - DP (torch.nn.DataParallel, one process): GPU 0 scatters the input batch (I/N to each GPU),
       replicates the model (Ψ bytes to each of the N−1 others) every step, every GPU runs forward,
       GPU 0 gathers the outputs (O/N from each) and computes the loss, scatters the output
       gradients, every GPU runs backward, and the gradients are reduced onto GPU 0 (Ψ from each).
       The copies are drawn as GPU 0 sending and receiving them itself (a star).
     - DDP (one process per GPU): no scatter, no replicate; backward produces the gradients in B
       buckets, and each bucket is all-reduced by a ring (2(N−1) rounds, each GPU sending Ψ/(B·N)
       to its right neighbour per round) on one communication stream, overlapping the rest of
       backward (Li et al. 2020).
     - Parameter server with S shards: after forward and backward each worker pushes Ψ/S of
       gradient to every shard and pulls Ψ/S of weights back. Sync: a shard answers pulls only after
       all N pushes of the step arrived; async: a shard answers each worker as soon as that worker's
       own push arrived, so no worker waits for another (the gradients it applies are stale).
     Worker N−1 can be a straggler (its compute ``straggler`` times slower).
  2. The event simulator: a message may start once the tasks it waits for are done, then pays the
     latency α and streams its bytes. Every node has one link out and one link in (β bytes/s per
     direction) to a non-blocking switch; messages sharing a link share its bandwidth max-min fairly
     (progressive filling), recomputed whenever a message starts or ends.
  3. Closed forms (α-β, the same assumptions) for the traffic per link and the step time, which the
     tests check against the simulation: ring all-reduce moves 2(N−1)/N·Ψ per GPU each way; DP's GPU 0
     sends (N−1)·Ψ of weights and receives (N−1)·Ψ of gradients; each of S server links carries N·Ψ/S
     each way.
Not handled: NCCL's broadcast/reduce inside DataParallel (which pipeline the copies round a ring),
the GIL and Python overhead of one DP process, gradient compression, optimizer time, congestion
inside the switch, more than one communication stream per GPU.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ..core.budget import check_steps, check_work
from ..core.errors import EngineError
from ..core.trace import Event, Timeline
from .data_parallel import ddp_buckets

DESIGNS = ("dp", "ddp", "ps")
NAMES = {"dp": "DataParallel (DP)", "ddp": "DistributedDataParallel (DDP)", "ps": "parameter server"}
MAX_SIM_WORKERS = 16  # the message-level simulation; closed forms go further


@dataclass(frozen=True)
class Setup:
    """One data-parallel job: sizes in bytes, times in seconds, bandwidths in bytes/s per direction."""

    workers: int = 4
    params_bytes: float = 100e6  # Ψ: gradients = weights, in bytes
    input_bytes: float = 10e6  # I: the whole batch's inputs (DP scatters it from GPU 0)
    output_bytes: float = 4e6  # O: the whole batch's outputs (DP gathers them on GPU 0)
    forward_s: float = 0.010  # per worker (weak scaling: the per-GPU batch stays fixed)
    backward_s: float = 0.020
    alpha: float = 10e-6  # latency per message
    gpu_bw: float = 32e9  # a GPU's (worker's) link
    server_bw: float = 12.5e9  # a parameter-server shard's link
    shards: int = 1
    buckets: int = 4  # DDP gradient buckets
    mode: str = "sync"  # parameter server: "sync" or "async"
    straggler: float = 1.0  # the last worker's compute is this many times slower


@dataclass(frozen=True)
class Task:
    """A computation (``dst`` empty, ``seconds``) or a message from ``node`` to ``dst`` (``nbytes``)."""

    node: str
    phase: str
    after: tuple[int, ...] = ()
    seconds: float = 0.0
    dst: str = ""
    nbytes: float = 0.0


@dataclass(frozen=True)
class DesignRun:
    design: str
    setup: Setup
    steps: int
    timeline: Timeline  # lanes: "<node>" compute and "<node> out" messages; seconds
    traffic: dict  # node -> {"out": bytes, "in": bytes} per step
    by_phase: dict  # (node, "out"|"in", phase) -> bytes per step
    finish: dict  # worker -> the time its last step ended (s)

    @property
    def step_s(self) -> float:
        """Harmonic-mean iteration time: N / (worker-steps per second)."""
        rate = sum(self.steps / t for t in self.finish.values())
        return len(self.finish) / rate


def _check(s: Setup) -> None:
    if isinstance(s.workers, bool) or not isinstance(s.workers, int) or not 1 <= s.workers <= MAX_SIM_WORKERS:
        raise EngineError(f"the simulation takes 1 to {MAX_SIM_WORKERS} workers, got {s.workers!r}")
    if not isinstance(s.shards, int) or not 1 <= s.shards <= 16 or not 1 <= s.buckets <= 16:
        raise EngineError(f"need 1 to 16 server shards and DDP buckets, got {s.shards!r}, {s.buckets!r}")
    sizes = (s.params_bytes, s.input_bytes, s.output_bytes, s.forward_s, s.backward_s, s.alpha)
    if not all(math.isfinite(v) and 0 <= v <= 1e13 for v in sizes):
        raise EngineError(f"sizes and times must be finite and non-negative, got {sizes}")
    if not all(math.isfinite(b) and 1e6 <= b <= 1e13 for b in (s.gpu_bw, s.server_bw)):
        raise EngineError(f"bandwidths must be 1 MB/s to 10 TB/s, got {s.gpu_bw}, {s.server_bw}")
    if s.mode not in ("sync", "async") or not 1 <= s.straggler <= 16:
        raise EngineError(
            f"mode must be 'sync' or 'async' and straggler 1 to 16, got {s.mode!r}, {s.straggler}"
        )


def gpu(i: int) -> str:
    return f"GPU {i}"


def server(j: int) -> str:
    return f"PS {j}"


# -- the designs as task graphs ----------------------------------------------------------------------
class _Graph:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    def add(self, task: Task) -> int:
        self.tasks.append(task)
        return len(self.tasks) - 1


def _compute_s(s: Setup, worker: int, seconds: float) -> float:
    return seconds * (s.straggler if worker == s.workers - 1 and s.workers > 1 else 1.0)


def _dp(s: Setup, steps: int) -> list[Task]:
    g, n, prev = _Graph(), s.workers, {}
    for _ in range(steps):
        done = [prev.get(0, ())] * n
        ready = {0: done[0]}
        for i in range(1, n):  # scatter inputs and replicate the model, both sent by GPU 0
            a = g.add(Task(gpu(0), "inputs", done[0], dst=gpu(i), nbytes=s.input_bytes / n))
            b = g.add(Task(gpu(0), "weights", done[0], dst=gpu(i), nbytes=s.params_bytes))
            ready[i] = (a, b)
        fwd = [g.add(Task(gpu(i), "forward", ready[i], _compute_s(s, i, s.forward_s))) for i in range(n)]
        outs = [fwd[0]] + [
            g.add(Task(gpu(i), "outputs", (fwd[i],), dst=gpu(0), nbytes=s.output_bytes / n))
            for i in range(1, n)
        ]
        dout = {0: tuple(outs)}  # the loss on GPU 0 needs every output
        for i in range(1, n):
            dout[i] = (
                g.add(Task(gpu(0), "output grads", tuple(outs), dst=gpu(i), nbytes=s.output_bytes / n)),
            )
        bwd = [g.add(Task(gpu(i), "backward", dout[i], _compute_s(s, i, s.backward_s))) for i in range(n)]
        grads = [
            g.add(Task(gpu(i), "gradients", (bwd[i],), dst=gpu(0), nbytes=s.params_bytes))
            for i in range(1, n)
        ]
        prev = {0: (bwd[0], *grads)}  # GPU 0 updates the one model, then replicates it again
    return g.tasks


def _dp_ring(
    g: _Graph, s: Setup, start: list[tuple[int, ...]], nbytes: float, phase: str
) -> list[tuple[int, ...]]:
    """A ring all-reduce of ``nbytes`` per GPU: 2(N−1) rounds of Ψ/N-sized messages to the right."""
    n = s.workers
    if n == 1:
        return start
    recv = list(start)  # what each GPU waits for before its next send
    for _ in range(2 * (n - 1)):
        sent = [
            g.add(Task(gpu(i), phase, recv[i], dst=gpu((i + 1) % n), nbytes=nbytes / n)) for i in range(n)
        ]
        recv = [(sent[i], sent[(i - 1) % n]) for i in range(n)]
    return recv


def _ddp(s: Setup, steps: int) -> list[Task]:
    g, n = _Graph(), s.workers
    prev = [()] * n
    for _ in range(steps):
        fwd = [g.add(Task(gpu(i), "forward", prev[i], _compute_s(s, i, s.forward_s))) for i in range(n)]
        last, comm = list(fwd), [()] * n
        for _b in range(s.buckets):
            last = [
                g.add(Task(gpu(i), "backward", (last[i],), _compute_s(s, i, s.backward_s) / s.buckets))
                for i in range(n)
            ]
            comm = _dp_ring(
                g, s, [(last[i], *comm[i]) for i in range(n)], s.params_bytes / s.buckets, "all-reduce"
            )
        prev = [(last[i], *comm[i]) for i in range(n)]
    return g.tasks


def _ps(s: Setup, steps: int) -> list[Task]:
    g, n, k = _Graph(), s.workers, s.shards
    prev = [()] * n
    for _ in range(steps):
        fwd = [g.add(Task(gpu(i), "forward", prev[i], _compute_s(s, i, s.forward_s))) for i in range(n)]
        bwd = [g.add(Task(gpu(i), "backward", (fwd[i],), _compute_s(s, i, s.backward_s))) for i in range(n)]
        push = [
            [
                g.add(Task(gpu(i), "push gradients", (bwd[i],), dst=server(j), nbytes=s.params_bytes / k))
                for j in range(k)
            ]
            for i in range(n)
        ]
        pulls = [[] for _ in range(n)]
        for j in range(k):
            everyone = tuple(push[i][j] for i in range(n))
            for i in range(n):
                wait = everyone if s.mode == "sync" else (push[i][j],)
                pulls[i].append(
                    g.add(Task(server(j), "pull weights", wait, dst=gpu(i), nbytes=s.params_bytes / k))
                )
        prev = [tuple(p) for p in pulls]
    return g.tasks


BUILDERS = {"dp": _dp, "ddp": _ddp, "ps": _ps}


# -- the event simulator -----------------------------------------------------------------------------
def _fair_rates(active: list[int], tasks: list[Task], cap: dict) -> dict[int, float]:
    """Max-min fair rates by progressive filling: fill the tightest link, freeze its flows, repeat."""
    left, users, rates = dict(cap), defaultdict(set), {}
    for f in active:
        users[(tasks[f].node, "out")].add(f)
        users[(tasks[f].dst, "in")].add(f)
    while users:
        link = min(users, key=lambda lk: left[lk] / len(users[lk]))
        share = left[link] / len(users[link])
        for f in list(users[link]):
            rates[f] = share
            for lk in ((tasks[f].node, "out"), (tasks[f].dst, "in")):
                left[lk] -= share
                users[lk].discard(f)
                if not users[lk]:
                    del users[lk]
    return rates


def simulate_tasks(tasks: list[Task], alpha: float, bandwidth: dict) -> list[tuple[float, float]]:
    """(start, end) of every task; a message's start is when its latency α began."""
    count = len(tasks)
    check_steps(count, "the data-parallel simulation")
    waiting = [len(t.after) for t in tasks]
    users = defaultdict(list)
    for k, t in enumerate(tasks):
        for d in t.after:
            users[d].append(k)
    times: list = [None] * count
    left = [t.nbytes for t in tasks]
    due: dict[int, float] = {}  # computations and latencies: task -> when that part ends
    active: list[int] = []  # messages moving bytes
    cap = {(node, way): bandwidth[node] for node in bandwidth for way in ("out", "in")}
    now, done, rates, work = 0.0, 0, {}, 0

    def release(k: int, at: float) -> None:
        times[k] = (times[k][0], at)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                start(u, at)

    def start(k: int, at: float) -> None:
        t = tasks[k]
        times[k] = (at, at)
        due[k] = at + (alpha if t.dst else t.seconds)

    for k in range(count):
        if waiting[k] == 0:
            start(k, 0.0)
    while done < count:
        nxt = min(due.values(), default=math.inf)
        for f in active:
            nxt = min(nxt, now + left[f] / rates[f])
        if nxt == math.inf:
            raise EngineError("the data-parallel task graph waits on itself")
        for f in active:
            left[f] -= rates[f] * (nxt - now)
        now = nxt
        finished = [f for f in active if left[f] <= 1e-9 * max(1.0, tasks[f].nbytes)]
        begun = [k for k, at in due.items() if at <= now]
        for k in begun:
            del due[k]
            if tasks[k].dst and tasks[k].nbytes > 0:
                active.append(k)
            else:
                finished.append(k)
        active = [f for f in active if f not in finished]
        for k in finished:
            done += 1
            release(k, now)
        if begun or finished:
            work += len(active) ** 2 + 1
            check_work(work * 4, "the data-parallel simulation")
            rates = _fair_rates(active, tasks, cap)
    return times


def run_design(design: str, setup: Setup, steps: int = 1) -> DesignRun:
    """Simulate ``steps`` steps of one design; traffic and phases are per step."""
    if design not in BUILDERS:
        raise EngineError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")
    _check(setup)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 4:
        raise EngineError(f"simulate 1 to 4 steps, got {steps!r}")
    tasks = BUILDERS[design](setup, steps)
    nodes = [gpu(i) for i in range(setup.workers)]
    bandwidth = {node: setup.gpu_bw for node in nodes}
    if design == "ps":
        nodes += [server(j) for j in range(setup.shards)]
        bandwidth |= {server(j): setup.server_bw for j in range(setup.shards)}
    times = simulate_tasks(tasks, setup.alpha, bandwidth)
    events, traffic, by_phase = [], {n: {"out": 0.0, "in": 0.0} for n in nodes}, defaultdict(float)
    finish = {gpu(i): 0.0 for i in range(setup.workers)}
    for t, (t0, t1) in zip(tasks, times):
        if t.dst:
            traffic[t.node]["out"] += t.nbytes / steps
            traffic[t.dst]["in"] += t.nbytes / steps
            by_phase[(t.node, "out", t.phase)] += t.nbytes / steps
            by_phase[(t.dst, "in", t.phase)] += t.nbytes / steps
            lane, kind = f"{t.node} out", "communication"
        else:
            lane, kind = t.node, t.phase
        for w in (t.node, t.dst):
            if w in finish:
                finish[w] = max(finish[w], t1)
        events.append(Event(lane, t0, t1, t.phase, kind, (("to", t.dst), ("bytes", t.nbytes))))
    lanes = tuple(x for n in nodes for x in ((n, f"{n} out") if n.startswith("GPU") else (f"{n} out",)))
    timeline = Timeline(tuple(events), lanes, "s")
    return DesignRun(design, setup, steps, timeline, traffic, dict(by_phase), finish)


# -- closed forms (α-β, the simulator's assumptions) -------------------------------------------------
def ring_bytes(params_bytes: float, n: int) -> float:
    """Bytes each GPU sends (and receives) in a ring all-reduce: 2(N−1)/N · Ψ."""
    return 2 * (n - 1) / n * params_bytes


def closed_traffic(design: str, s: Setup) -> dict:
    """Bytes per step over the busiest links: {node: {"out": ..., "in": ...}}."""
    n, psi, k = s.workers, s.params_bytes, s.shards
    if design == "dp":
        return {
            gpu(0): {
                "out": (n - 1) * (psi + (s.input_bytes + s.output_bytes) / n),
                "in": (n - 1) * (psi + s.output_bytes / n),
            },
            gpu(1): {"out": psi + s.output_bytes / n, "in": psi + (s.input_bytes + s.output_bytes) / n},
        }
    if design == "ddp":
        return {gpu(0): {"out": ring_bytes(psi, n), "in": ring_bytes(psi, n)}}
    if design == "ps":
        return {gpu(0): {"out": psi, "in": psi}, server(0): {"out": n * psi / k, "in": n * psi / k}}
    raise EngineError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")


def closed_step_s(design: str, s: Setup) -> float:
    """One step's time under the α-β model (equal workers; for DDP the bucket recurrence)."""
    n, psi, a, b = s.workers, s.params_bytes, s.alpha, s.gpu_bw
    if n == 1 and design != "ps":
        return s.forward_s + s.backward_s  # alone: nothing to send
    if design == "dp":
        out_in = (n - 1) * (s.input_bytes / n + psi)  # scatter + replicate share GPU 0's link out
        return (
            s.forward_s
            + s.backward_s
            + 4 * a
            + (out_in + 2 * (n - 1) * s.output_bytes / n + (n - 1) * psi) / b
        )
    if design == "ddp":
        from .collectives import Link

        sizes, times = [psi / s.buckets] * s.buckets, [s.backward_s / s.buckets] * s.buckets
        return s.forward_s + ddp_buckets(sizes, times, psi / s.buckets, n, Link("", a, b, "")).overlapped
    if design == "ps":
        one_way = max(psi / b, n * psi / (s.shards * s.server_bw))
        return s.forward_s + s.backward_s + 2 * (a + one_way)
    raise EngineError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}")


def scaling_curves(s: Setup, max_workers: int = 64) -> dict[str, tuple[list[int], list[float]]]:
    """Closed-form step time vs the number of workers, per design (the other settings kept)."""
    if not 2 <= max_workers <= 1024:
        raise EngineError(f"curves go up to 2 to 1024 workers, got {max_workers}")
    ns = [n for n in range(1, max_workers + 1) if n <= 8 or n % 4 == 0]
    curves = {}
    for design in DESIGNS:
        curves[design] = (ns, [closed_step_s(design, _with_workers(s, n)) for n in ns])
    return curves


def _with_workers(s: Setup, n: int) -> Setup:
    from dataclasses import replace

    return replace(s, workers=n, straggler=1.0)


def snapshot(run: DesignRun, at: float) -> tuple[dict, tuple[str, ...]]:
    """At time ``at`` (s): bytes each node has sent and received in finished messages, and the
    phases running then on the lanes."""
    moved = {node: {"out": 0.0, "in": 0.0} for node in run.traffic}
    running = []
    for e in run.timeline.events:
        info = dict(e.info)
        if info["to"] and e.end <= at + 1e-12:
            moved[e.unit.removesuffix(" out")]["out"] += info["bytes"]
            moved[info["to"]]["in"] += info["bytes"]
        if e.start <= at < e.end:
            running.append(e.label)
    return moved, tuple(dict.fromkeys(running))
