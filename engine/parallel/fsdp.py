"""FSDP step by step: sharding units, all-gather / reshard / reduce-scatter, prefetch, CPU offload.

The model is a GPT-style decoder (parameter count in :mod:`engine.parallel.memory_conventions`):
a root unit (token + position embeddings, final LayerNorm, LM head tied to the token embedding) and
L transformer blocks of 12h² + 13h parameters. Stages:
  1. Wrap policy -> sharding units: "block" (one unit per transformer block, PyTorch's
     transformer_auto_wrap_policy), "size" (k consecutive blocks per unit, as a size-based policy
     groups small modules) or "none" (one unit: the whole model, gathered at once).
  2. Visits: forward runs root (embedding), the block units in order, root (head); backward runs them
     in reverse. Before a visit its unit is all-gathered (2 bytes per parameter, fp16/bf16); after
     the compute it is freed again (reshard), except when the next visit uses the same unit (the root
     at the turn from forward to backward stays gathered, as PyTorch keeps the root unsharded).
     Backward allocates the unit's unsharded gradient and reduce-scatters it to the shards.
  3. Two streams: compute and communication (NCCL's own stream). Without prefetch an all-gather is
     issued when its unit is reached, behind whatever the communication stream still has queued (in
     backward: the previous unit's reduce-scatter), so compute waits. Forward prefetch issues the
     next unit's all-gather as the current compute starts; backward prefetch (BACKWARD_PRE) does the
     same in backward. Prefetching keeps two units gathered at once.
  4. CPU offload: sharded parameters, gradients and optimizer states live on the host; each unit's
     shard is copied in (PCIe) before its all-gather and the gradient shard copied out after its
     reduce-scatter.
  5. Memory per device over time: sharded model states (the ZeRO-3 closed form of
     :func:`engine.parallel.memory.zero_memory`, K = 12; zero on the GPU with offload), gathered
     parameters, unsharded gradients, activations (Korthikanti et al. 2022 Table 2, per block).
     At equal times frees happen before allocations. Peak of states + gathered parameters = the
     ZeRO-3 form + 2 bytes × (the largest unit, or with prefetch the largest pair of consecutive
     units).
Not handled: the embedding's and logits' activations, the optimizer step's time, rate limiting of
all-gathers (limit_all_gathers), mixed sharding strategies (HYBRID_SHARD), fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.budget import check_steps
from ..core.errors import EngineError
from ..core.trace import Event, Step, Timeline, Trace
from .collectives import LINKS, get_link
from .memory import activation_memory, zero_memory
from .memory_conventions import block_params, root_params

POLICIES = ("block", "size", "none")
PARTS = ("states", "params", "grads", "activations")


@dataclass(frozen=True)
class Unit:
    name: str
    params: int  # parameters of the unit (the whole, unsharded)
    blocks: tuple[int, ...]  # transformer blocks inside (empty for the root)


@dataclass(frozen=True)
class Visit:
    unit: int  # index into FSDPRun.units
    phase: str  # "forward" or "backward"
    what: str  # "embedding", "blocks", "head" or "model"
    flops: float


@dataclass(frozen=True)
class FSDPRun:
    """A step of FSDP on one device: units, the two-stream timeline, memory over time, the steps."""

    units: tuple[Unit, ...]
    visits: tuple[Visit, ...]
    timeline: Timeline  # lanes "compute" and "communication", times in ms
    memory: tuple[tuple[float, dict], ...]  # (time ms, bytes of each part after the change)
    trace: Trace  # one step per visit, data = {"time": ms of the visit's end, "memory": {...}}
    zero3_bytes: float  # sharded model states on the GPU (0 with CPU offload)
    total_params: int
    world: int

    def peak(self, parts=PARTS) -> float:
        return max(sum(m[p] for p in parts) for _, m in self.memory)

    @property
    def step_ms(self) -> float:
        return self.timeline.makespan


def _whole(name: str, value, lo: int = 1, hi: int = 1 << 20) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi:
        raise EngineError(f"{name} must be a whole number from {lo} to {hi:,}, got {value!r}")
    return value


def wrap_units(layers: int, hidden: int, seq: int, vocab: int, policy: str, k: int = 1) -> tuple[Unit, ...]:
    """The sharding units of a wrap policy: unit 0 is the root, then the block units."""
    if policy not in POLICIES:
        raise EngineError(f"wrap policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    block, root = block_params(hidden), root_params(hidden, vocab, seq)
    if policy == "none":
        return (Unit("whole model", root + layers * block, tuple(range(layers))),)
    k = 1 if policy == "block" else _whole("blocks per unit", k, 1, layers)
    units = [Unit("embedding + head", root, ())]
    for first in range(0, layers, k):
        blocks = tuple(range(first, min(first + k, layers)))
        name = f"block {first}" if len(blocks) == 1 else f"blocks {blocks[0]}-{blocks[-1]}"
        units.append(Unit(name, len(blocks) * block, blocks))
    return tuple(units)


def _visits(units, hidden: int, seq: int, vocab: int, tokens: int) -> tuple[Visit, ...]:
    """Forward then backward; forward FLOPs 2·tokens·params + 4·s·h·tokens attention per block,
    backward twice the forward."""

    def fwd(u: Unit) -> float:
        return 2.0 * tokens * sum(block_params(hidden) + 2 * seq * hidden for _ in u.blocks)

    if len(units) == 1:
        f = fwd(units[0]) + 2.0 * tokens * vocab * hidden
        return (Visit(0, "forward", "model", f), Visit(0, "backward", "model", 2 * f))
    head = 2.0 * tokens * vocab * hidden
    forward = [Visit(0, "forward", "embedding", 0.0)]
    forward += [Visit(i, "forward", "blocks", fwd(u)) for i, u in enumerate(units) if i]
    forward.append(Visit(0, "forward", "head", head))
    backward = [Visit(v.unit, "backward", v.what, 2 * v.flops) for v in reversed(forward)]
    return tuple(forward + backward)


def fsdp_run(
    layers: int = 12,
    hidden: int = 768,
    heads: int = 12,
    seq: int = 1024,
    micro_batch: int = 1,
    world: int = 8,
    policy: str = "block",
    blocks_per_unit: int = 1,
    forward_prefetch: bool = False,
    backward_prefetch: bool = True,
    cpu_offload: bool = False,
    vocab: int = 50257,
    link: str = "NVLink 3 (A100)",
    peak_tflops: float = 312.0,
    efficiency: float = 0.5,
) -> FSDPRun:
    """One training step of FSDP (full shard) on one of ``world`` devices, unit by unit."""
    for name, value, hi in (
        ("layers L", layers, 256),
        ("hidden size h", hidden, 65536),
        ("attention heads a", heads, 1024),
        ("sequence length s", seq, 1 << 17),
        ("micro-batch b", micro_batch, 1024),
        ("world size N", world, 65536),
        ("vocabulary V", vocab, 1 << 20),
    ):
        _whole(name, value, 1, hi)
    if hidden % heads:
        raise EngineError(f"hidden size {hidden} is not divisible by the {heads} heads")
    if not 0 < efficiency <= 1 or not peak_tflops > 0:
        raise EngineError(
            f"efficiency must be in (0, 1] and peak TFLOP/s > 0, got {efficiency}, {peak_tflops}"
        )
    net, pcie = get_link(link), LINKS["PCIe 4.0 x16"]
    units = wrap_units(layers, hidden, seq, vocab, policy, blocks_per_unit)
    visits = _visits(units, hidden, seq, vocab, seq * micro_batch)
    check_steps(len(visits) * 8, "the FSDP schedule")
    total = sum(u.params for u in units)
    states = 0.0 if cpu_offload else zero_memory(total, world, 3)["total"]
    act = activation_memory(seq, micro_batch, hidden, heads)
    sim = _Simulation(units, visits, world, net, pcie, cpu_offload, peak_tflops * 1e12 * efficiency, act)
    sim.run(forward_prefetch, backward_prefetch)
    memory = sim.memory_curve(states)
    steps = tuple(sim.steps(memory))
    trace = Trace(steps, f"FSDP step: {len(units)} units on {world} devices")
    timeline = Timeline(tuple(sim.events), ("compute", "communication"), time_unit="ms")
    return FSDPRun(units, visits, timeline, memory, trace, states, total, world)


class _Simulation:
    """The two streams and the memory changes of one step (times in ms)."""

    def __init__(self, units, visits, world, net, pcie, offload, flops_per_s, act_per_block):
        self.units, self.visits, self.world = units, visits, world
        self.net, self.pcie, self.offload = net, pcie, offload
        self.rate, self.act = flops_per_s, act_per_block
        self.events: list[Event] = []
        self.changes: list[tuple[float, int, str, float]] = []  # (time, 0 free / 1 alloc, part, bytes)
        self.logs: list[list[str]] = [[] for _ in visits]
        self.ends: list[float] = []
        self.comm = 0.0

    def _collective_ms(self, nbytes: float) -> float:
        n = self.world
        return 0.0 if n == 1 else 1e3 * ((n - 1) * self.net.alpha + (n - 1) / n * nbytes / self.net.beta)

    def _comm(self, start: float, ms: float, label: str, kind: str) -> float:
        begin = max(start, self.comm)
        self.comm = begin + ms
        if ms > 0:
            self.events.append(Event("communication", begin, self.comm, label, kind))
        return begin

    def _gather(self, i: int, issue: float, who: int) -> float:
        """All-gather the unit of visit ``i`` (issued at ``issue`` by visit ``who``); its ready time."""
        u = self.units[self.visits[i].unit]
        if self.offload:
            copy = 1e3 * (self.pcie.alpha + 2.0 * u.params / self.world / self.pcie.beta)
            issue = self._comm(issue, copy, f"H2D {u.name}", "transfer") + copy
        ms = self._collective_ms(2.0 * u.params)
        begin = self._comm(issue, ms, f"AG {u.name}", "communication")
        self.changes.append((begin, 1, "params", 2.0 * u.params))
        self.logs[who].append(f"all-gather {u.name}: {2 * u.params / 2**20:,.1f} MiB in {ms:.2f} ms")
        return begin + ms

    def run(self, forward_prefetch: bool, backward_prefetch: bool) -> None:
        compute, ready, grads = 0.0, {}, set()
        for i, v in enumerate(self.visits):
            u = self.units[v.unit]
            if i not in ready:
                ready[i] = self._gather(i, compute, i)
            start = max(compute, ready[i])
            nxt = i + 1
            if nxt < len(self.visits) and self.visits[nxt].unit == v.unit:
                ready[nxt] = start  # the same unit again: it stays gathered
            elif nxt < len(self.visits):
                phase = self.visits[nxt].phase
                if (forward_prefetch and phase == "forward") or (backward_prefetch and phase == "backward"):
                    ready[nxt] = self._gather(nxt, start, i)
            ms = 1e3 * v.flops / self.rate
            compute = start + ms
            kind = v.phase
            self.events.append(Event("compute", start, compute, f"{v.phase[0].upper()} {u.name}", kind))
            self._activations(i, compute)
            if v.phase == "backward" and v.unit not in grads:
                grads.add(v.unit)  # the root's two backward visits add into one gradient
                self.changes.append((start, 1, "grads", 2.0 * u.params))
            if nxt >= len(self.visits) or self.visits[nxt].unit != v.unit:
                self.changes.append((compute, 0, "params", 2.0 * u.params))
                self.logs[i].append(f"free {u.name} (reshard)")
            if v.phase == "backward" and (nxt >= len(self.visits) or self.visits[nxt].phase == "backward"):
                self._reduce(i, compute)
            self.ends.append(compute)

    def _reduce(self, i: int, done: float) -> None:
        """Reduce-scatter the unit's gradient once its last backward visit is over."""
        u = self.units[self.visits[i].unit]
        later = [j for j in range(i + 1, len(self.visits)) if self.visits[j].unit == self.visits[i].unit]
        if later:
            return  # the root's head visit: its embedding visit adds to the same gradient
        ms = self._collective_ms(2.0 * u.params)
        end = self._comm(done, ms, f"RS {u.name}", "communication") + ms
        if self.offload:
            copy = 1e3 * (self.pcie.alpha + 2.0 * u.params / self.world / self.pcie.beta)
            end = self._comm(end, copy, f"D2H {u.name}", "transfer") + copy
        self.changes.append((end, 0, "grads", 2.0 * u.params))
        self.logs[i].append(f"reduce-scatter gradients of {u.name}: {ms:.2f} ms")

    def _activations(self, i: int, at: float) -> None:
        v = self.visits[i]
        blocks = len(self.units[v.unit].blocks)
        if blocks and v.what in ("blocks", "model"):
            self.changes.append((at, 1 if v.phase == "forward" else 0, "activations", blocks * self.act))

    def memory_curve(self, states: float) -> tuple[tuple[float, dict], ...]:
        level = {"states": states, "params": 0.0, "grads": 0.0, "activations": 0.0}
        out = [(0.0, dict(level))]
        for at, alloc, part, nbytes in sorted(self.changes, key=lambda c: (c[0], c[1])):
            level[part] += nbytes if alloc else -nbytes
            level[part] = max(level[part], 0.0)
            out.append((at, dict(level)))
        return tuple(out)

    def steps(self, memory):
        for i, v in enumerate(self.visits):
            now = self.ends[i]
            snapshot = [m for t, m in memory if t <= now][-1]
            name = self.units[v.unit].name
            root = v.unit == 0 and v.what != "model"
            title = f"{v.phase}: {v.what} (unit {name})" if root else f"{v.phase}: {name}"
            yield Step(title, (name,), "\n".join(self.logs[i]), data={"time": now, "memory": snapshot})


def peak_closed_form(run: FSDPRun, forward_prefetch: bool, backward_prefetch: bool) -> float:
    """ZeRO-3 model states + the gathered parameters at the worst moment: the largest unit, or
    with prefetch the largest two consecutive (different) units of a prefetching phase."""
    worst = max(2.0 * run.units[v.unit].params for v in run.visits)
    for a, b in zip(run.visits, run.visits[1:]):
        on = forward_prefetch if b.phase == "forward" else backward_prefetch
        if on and a.unit != b.unit:
            worst = max(worst, 2.0 * (run.units[a.unit].params + run.units[b.unit].params))
    return run.zero3_bytes + worst
