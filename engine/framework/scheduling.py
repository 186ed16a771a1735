"""A simulated runtime: how a framework schedules and executes a graph on CPU and accelerators.

Stages of :func:`simulate` (written once as the generator :func:`schedule_steps`):
  1. **placement**: every op node gets a device. ``whole_graph`` sinks everything onto the
     accelerator; otherwise the policy decides: ``accel``, ``cpu``, ``heavy_on_accel`` (ops of at
     least ``heavy_flops`` FLOPs go to the accelerator, the rest stay on the CPU) or ``halves`` (the
     first half of the topological order on ``accel0``, the rest on ``accel1``);
  2. **op times** from :func:`engine.core.cost_model.cost` and a roofline per device:
     ``t = max(FLOPs / peak, bytes / bandwidth) + per-op device overhead``;
  3. **host side** by execution mode: ``op_by_op`` (eager) pays a host dispatch for every op on one
     serial host lane (Python + dispatcher), and an accelerator op also a launch latency;
     ``whole_graph`` / ``split`` pay one host launch per device for its whole subgraph;
  4. **FIFO ready queue** (list scheduling): an op enters the queue when all its producers have been
     scheduled; the head of the queue goes to the stream of its device that frees first; it starts
     when that stream is free, its inputs have arrived and (eager) its dispatch is done;
  5. **transfers**: a value consumed on another device crosses the link (latency + bytes /
     bandwidth) on a serial link lane, once per destination; inputs start in host (CPU) memory and
     outputs are copied back to it; params are already resident where they are used;
  6. **critical path**: from the last event walk back through the constraint that fixed each start
     (a producer, a transfer, the previous work on the lane, or the dispatch).
Each step of the generator is one scheduling decision (the queue before, the op chosen, its lane).
Not handled: memory capacity, kernel concurrency limits within a device other than ``streams``,
priorities other than FIFO, overlap of a transfer with compute on the same link.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field, replace

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import EngineError, GraphError
from ..core.ir import Graph
from ..core.trace import Event, Step, Timeline, Trace

MODES = ("op_by_op", "whole_graph", "split")
PLACEMENTS = ("accel", "cpu", "heavy_on_accel", "halves")


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # FLOP/s
    bandwidth: float  # bytes/s of its memory
    op_overhead_us: float  # device-side cost per op (kernel prologue, scheduling)
    launch_us: float  # host -> device launch latency per submission
    is_host: bool = False


@dataclass(frozen=True)
class Config:
    """The simulated machine. Defaults: a server CPU and a mid-range accelerator over PCIe 4.0."""

    cpu: Device = Device("cpu", 1.0e12, 100e9, 1.0, 0.0, True)
    accel: Device = Device("accel0", 20e12, 900e9, 1.0, 5.0)
    accel_count: int = 1
    streams: int = 1  # concurrent streams (queues) per device
    link_bandwidth: float = 25e9  # bytes/s (PCIe 4.0 x16 ~ 25 GB/s usable)
    link_latency_us: float = 10.0
    host_dispatch_us: float = 10.0  # eager framework overhead per op (Python, dispatcher, autograd)
    heavy_flops: float = 1e6  # heavy_on_accel threshold

    def devices(self) -> dict[str, Device]:
        out = {self.cpu.name: self.cpu}
        for k in range(self.accel_count):
            out[f"accel{k}"] = replace(self.accel, name=f"accel{k}")
        return out


@dataclass(frozen=True)
class Schedule:
    timeline: Timeline
    mode: str
    placement: dict = field(hash=False)
    total_us: float
    utilization: dict = field(hash=False)  # lane -> busy share of the makespan
    transfer_bytes: int
    dispatches: int


def _validate(graph, mode, placement, cfg: Config) -> None:
    if not isinstance(graph, Graph):
        raise GraphError(f"scheduling needs a Graph, got {type(graph).__name__}")
    if mode not in MODES:
        raise EngineError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if placement not in PLACEMENTS:
        raise EngineError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if not 1 <= cfg.streams <= 8:
        raise EngineError(f"streams per device must be 1 to 8, got {cfg.streams}")
    if not 1 <= cfg.accel_count <= 4:
        raise EngineError(f"the number of accelerators must be 1 to 4, got {cfg.accel_count}")
    if placement == "halves" and cfg.accel_count < 2:
        raise EngineError(
            "placement 'halves' splits the graph over two accelerators; set accelerators to 2 or more"
        )
    for what, v in (
        ("link bandwidth", cfg.link_bandwidth),
        ("CPU peak", cfg.cpu.peak_flops),
        ("accelerator peak", cfg.accel.peak_flops),
    ):
        if not v > 0:
            raise EngineError(f"the {what} must be positive, got {v}")
    budget.check_nodes(len(graph.nodes))
    budget.check_steps(3 * len(graph.nodes), "the schedule")


def place(graph: Graph, mode: str, placement: str, cfg: Config) -> dict[str, str]:
    """Device name of every op node (stage 1)."""
    ops = graph.op_nodes
    if mode == "whole_graph" or placement == "accel":
        return {n.name: "accel0" for n in ops}
    if placement == "cpu":
        return {n.name: cfg.cpu.name for n in ops}
    if placement == "halves":
        half = (len(ops) + 1) // 2
        return {n.name: "accel0" if k < half else "accel1" for k, n in enumerate(ops)}
    flops = {c.name: c.flops for c in cost(graph).nodes}
    return {n.name: "accel0" if flops[n.name] >= cfg.heavy_flops else cfg.cpu.name for n in ops}


def op_time_us(flops: float, nbytes: float, dev: Device) -> float:
    """Roofline time of one op on ``dev`` plus its per-op overhead, in microseconds."""
    return max(flops / dev.peak_flops, nbytes / dev.bandwidth) * 1e6 + dev.op_overhead_us


class _Lanes:
    """Free time of every lane and the index of the event that last occupied it."""

    def __init__(self):
        self.free: dict[str, float] = {}
        self.last: dict[str, int | None] = {}
        self.events: list[Event] = []
        self.cause: list[int | None] = []  # event index that fixed each event's start

    def add(self, unit, start, end, label, kind, cause, info=()) -> int:
        self.events.append(Event(unit, start, end, label, kind, tuple(info)))
        self.cause.append(cause)
        self.free[unit] = end
        self.last[unit] = len(self.events) - 1
        return len(self.events) - 1

    def at(self, unit: str) -> tuple[float, int | None]:
        return self.free.get(unit, 0.0), self.last.get(unit)


def _latest(*pairs: tuple[float, int | None]) -> tuple[float, int | None]:
    best = (0.0, None)
    for t, cause in pairs:
        if t > best[0] + 1e-12:
            best = (t, cause)
    return best


def schedule_steps(
    graph: Graph,
    mode: str = "whole_graph",
    placement: str = "accel",
    config: Config | None = None,
    record: bool = True,
) -> Generator[Step | None, None, Schedule]:
    """The scheduler as a generator: one :class:`Step` per decision (``None`` when not
    ``record``-ing, so a large graph does not pay for the snapshots); returns the :class:`Schedule`."""
    cfg = config or Config()
    _validate(graph, mode, placement, cfg)
    devices = cfg.devices()
    where = place(graph, mode, placement, cfg)
    costs = {c.name: c for c in cost(graph).nodes}
    lanes = _Lanes()
    nbytes = {n.name: budget.numel(n.shape) * 4 for n in graph.nodes}
    done: dict[str, tuple[float, int | None]] = {}  # value -> (ready time, event) on its device
    home: dict[str, str] = {}  # value -> device where it lives
    copies: dict[tuple[str, str], tuple[float, int | None]] = {}
    for n in graph.nodes:
        if n.is_source:
            home[n.name] = cfg.cpu.name if n.op == "input" else "*"  # params: resident anywhere
            done[n.name] = (0.0, None)
    launched: dict[str, tuple[float, int | None]] = {}
    dispatches = 0
    if mode != "op_by_op":  # one host launch per device that runs part of the graph
        for dev in dict.fromkeys(where.values()):
            d = devices[dev]
            start, cause = lanes.at("host")
            dur = cfg.host_dispatch_us + d.launch_us
            idx = lanes.add("host", start, start + dur, f"launch graph on {dev}", "host", cause)
            launched[dev] = (start + dur, idx)
            dispatches += 1
    transfer_total = 0

    def arrive(value: str, dev: str) -> tuple[float, int | None]:
        nonlocal transfer_total
        src = home[value]
        if src in ("*", dev):
            return done[value]
        if (value, dev) not in copies:
            ready = done[value]
            link = f"link {src}->{dev}"
            start, cause = _latest(ready, lanes.at(link))
            dur = cfg.link_latency_us + nbytes[value] / cfg.link_bandwidth * 1e6
            idx = lanes.add(
                link, start, start + dur, f"copy {value}", "transfer", cause, (("bytes", nbytes[value]),)
            )
            transfer_total += nbytes[value]
            copies[(value, dev)] = (start + dur, idx)
        return copies[(value, dev)]

    users = graph.users
    waiting = {n.name: len(set(i for i in n.inputs)) for n in graph.op_nodes}
    ready = deque()
    for n in graph.op_nodes:
        waiting[n.name] -= sum(1 for i in set(n.inputs) if graph.node(i).is_source)
        if waiting[n.name] == 0:
            ready.append(n.name)
    streams = {dev: [f"{dev}/s{k}" for k in range(cfg.streams)] for dev in devices}
    step_no = 0
    order: list[str] = []
    while ready:
        queue_before = tuple(ready)
        name = ready.popleft()
        node = graph.node(name)
        dev = devices[where[name]]
        c = costs[name]
        inputs_at = _latest(*(arrive(i, dev.name) for i in node.inputs))
        if mode == "op_by_op":
            h_start, h_cause = lanes.at("host")
            h_end = h_start + cfg.host_dispatch_us
            idx = lanes.add("host", h_start, h_end, f"dispatch {name}", "host", h_cause)
            gate = (h_end + dev.launch_us, idx)
            dispatches += 1
        else:
            gate = launched[dev.name]
        lane = min(streams[dev.name], key=lambda u: lanes.at(u)[0])
        start, cause = _latest(gate, inputs_at, lanes.at(lane))
        dur = op_time_us(c.flops, c.bytes_read + c.bytes_written, dev)
        idx = lanes.add(
            lane,
            start,
            start + dur,
            name,
            "compute",
            cause,
            (("op", node.op), ("flops", c.flops), ("bytes", c.bytes_read + c.bytes_written)),
        )
        done[name] = (start + dur, idx)
        home[name] = dev.name
        newly = []
        for u in users[name]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
                newly.append(u)
        step_no += 1
        order.append(name)
        if not record:
            yield None
            continue
        yield Step(
            f"step {step_no}: {name} -> {lane}",
            (name,),
            f"ready queue {list(queue_before)}: took {name} ({node.op}) from the head; it runs "
            f"on {lane} from {start:.2f} to {start + dur:.2f} us"
            + (f"; now ready: {', '.join(newly)}" if newly else ""),
            data=dict(
                queue=queue_before,
                chosen=name,
                op=node.op,
                lane=lane,
                start=start,
                end=start + dur,
                newly_ready=tuple(newly),
                scheduled=tuple(order),
            ),
        )
    for out in graph.outputs:  # results go back to host memory
        if not graph.node(out).is_source:
            arrive(out, cfg.cpu.name)
    return _finish(graph, lanes, mode, where, transfer_total, dispatches)


def _finish(graph, lanes: _Lanes, mode, where, transfer_total, dispatches) -> Schedule:
    events = lanes.events
    critical: list[int] = []
    if events:
        k: int | None = max(range(len(events)), key=lambda i: events[i].end)
        while k is not None:
            critical.append(k)
            k = lanes.cause[k]
    order = ["host"] + sorted(
        {e.unit for e in events if e.unit != "host"}, key=lambda u: (u.startswith("link"), u)
    )
    units = tuple(u for u in order if any(e.unit == u for e in events))
    tl = Timeline(tuple(events), units, "us", tuple(reversed(critical)))
    tl.check_no_overlap()
    return Schedule(tl, mode, dict(where), tl.makespan, tl.utilization(), transfer_total, dispatches)


def simulate(
    graph: Graph, mode: str = "whole_graph", placement: str = "accel", config: Config | None = None
) -> Schedule:
    """Run :func:`schedule_steps` to the end and return the :class:`Schedule`."""
    gen = schedule_steps(graph, mode, placement, config, record=False)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def schedule_trace(
    graph: Graph, mode: str = "whole_graph", placement: str = "accel", config: Config | None = None
) -> Trace:
    """Every scheduling decision as a :class:`Trace` (summary = the :class:`Schedule`)."""
    gen = schedule_steps(graph, mode, placement, config)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            return Trace(tuple(steps), f"FIFO schedule ({mode}, {placement})", stop.value)


# -- how one PyTorch op call is dispatched ------------------------------------------------------
DISPATCH_LAYERS = ("Python", "C++ binding", "Dispatcher", "Autograd key", "Backend key", "Result")


def dispatch_steps(op: str = "add", requires_grad: bool = True, device: str = "cuda") -> Trace:
    """The path of ``torch.<op>(a, b)`` through PyTorch's layers, one step per layer.

    Follows the dispatcher design (PyTorch docs "Extending dispatcher for a new backend" and
    ezyang's "Let's talk about the PyTorch dispatcher"): the dispatch key set of the arguments picks
    the highest-priority kernel; the Autograd kernel records the backward node and re-dispatches
    below itself to the backend kernel.
    """
    if device not in ("cpu", "cuda"):
        raise EngineError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if op not in ("add", "mul", "matmul", "relu"):
        raise EngineError(f"op must be one of add, mul, matmul, relu; got {op!r}")
    backend = device.upper() if device == "cuda" else "CPU"
    keys = ([f"Autograd{backend}"] if requires_grad else []) + [backend]
    node = {"add": "AddBackward0", "mul": "MulBackward0", "matmul": "MmBackward0", "relu": "ReluBackward0"}[
        op
    ]
    call = f"torch.{op}(a)" if op == "relu" else f"torch.{op}(a, b)"
    # (layer, what, why), in English: ui/locales/zh/engine.toml translates them
    rows = [
        ("Python", f"{call} is called from Python", "the Python function is a thin binding"),
        (
            "C++ binding",
            "the generated binding parses the arguments into at::Tensor",
            "argument parsing and the GIL are part of the per-op host overhead",
        ),
        (
            "Dispatcher",
            f"dispatch key set of the inputs: {{{', '.join(keys)}}}; the highest priority key is {keys[0]}",
            "the dispatcher is a table: (op, key) -> kernel",
        ),
    ]
    if requires_grad:
        rows.append(
            (
                "Autograd key",
                f"the Autograd kernel saves what backward needs, creates "
                f"{node} as the result's grad_fn, linked to the inputs' grad_fns, then "
                f"re-dispatches with the autograd key excluded",
                "this is how the dynamic graph is recorded as the code runs (define-by-run)",
            )
        )
    else:
        rows.append(
            (
                "Autograd key",
                "no input requires grad: the autograd key is not in the set, nothing is recorded",
                "torch.no_grad() / inference mode skip this layer",
            )
        )
    launch = (
        ("the CUDA kernel is queued on the current stream and the call returns at once (asynchronous)")
        if device == "cuda"
        else "the CPU kernel runs to completion"
    )
    rows.append(("Backend key", f"{backend} kernel for {op}: {launch}", "the real arithmetic"))
    rows.append(
        (
            "Result",
            f"a new tensor{' with grad_fn=<' + node + '>' if requires_grad else ''} is returned to Python",
            "the next op starts the same path again",
        )
    )
    steps = tuple(
        Step(
            f"{k + 1}. {layer}",
            (layer,),
            f"{what} ({why})",
            data=dict(layer=layer, what=what, why=why, layers=DISPATCH_LAYERS),
        )
        for k, (layer, what, why) in enumerate(rows)
    )
    return Trace(
        steps, f"Dispatch of {call} on {device}", dict(keys=keys, grad_fn=node if requires_grad else None)
    )
