"""A real inference server on 127.0.0.1, its dynamic batcher, and an open-loop load generator.

Stages of :func:`serve_real`, all inside this process and bounded by ``timeout_s``:
  1. checks before any work: request count, concurrency, copies, timeout, the load's duration, the
     graph (one input; its FLOPs times the request count under the run budget);
  2. the server: a ``ThreadingHTTPServer`` (stdlib) on an ephemeral port of 127.0.0.1 speaking a
     subset of the KServe v2 protocol Triton uses — ``POST /v2/models/<name>/infer`` with the raw
     float32 input as the body (Triton's binary tensor idea, without the JSON header), the raw
     float32 output back; ``GET /v2/health/ready``; ``GET /metrics`` with Triton's counter names;
  3. the scheduler: ``instances`` copy threads share one FIFO queue and take batches by the same rule
     as the simulator (:func:`engine.inference.serving_repo.next_batch`), waiting on a condition
     variable with a timeout at the oldest request's delay;
  4. the back end executes a batch: ``engine`` (our interpreter, one pass per request: its graphs have
     fixed shapes), ``onnxruntime`` (one session per copy, one thread each, one pass per request) or
     ``sleep`` (a custom back end that sleeps ``base + per_item · b`` seconds: an accelerator's cost
     shape without its work, and it releases the GIL);
  5. the load: Poisson send times (seeded) for ``requests`` requests at ``rate``/s; a dispatcher
     thread hands each at its time to a pool of ``concurrency`` client threads with keep-alive
     connections (open loop while a client is free; a request that finds every client busy is sent
     late, and that lateness is recorded);
  6. shutdown in ``finally``: clients told to stop and joined, the copies stopped and joined, the
     server shut down and its handler threads joined; the run reports threads left (0 expected).
Timestamps are ``time.perf_counter()`` of this one process, so client and server times compare.
Not handled: HTTP/2, gRPC, shared memory, several models, request cancellation; a 2-core machine
shared with the app (the GIL and the other threads add their own delays: compare medians).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import BudgetError, EngineError, GraphError
from ..core.ir import Graph
from .real_backends import BACKENDS, make_backend
from .real_load import MODEL, THREAD_PREFIX, Load, get_text
from .serving import positive, whole
from .serving_repo import Batcher, next_batch

MAX_REAL_REQUESTS = 2000
MAX_INPUT_ELEMENTS = 1 << 16  # per request (256 KiB of float32 in a body)


@dataclass(frozen=True)
class RealRun:
    """What a real run measured, per request (seconds from the start; NaN where it never happened)."""

    backend: str
    batcher: Batcher
    instances: int
    rate: float
    concurrency: int
    intended: np.ndarray  # when the load generator meant to send
    sent: np.ndarray  # when a client sent it
    arrived: np.ndarray  # when the server had read it (entered the queue)
    start: np.ndarray  # its batch started
    end: np.ndarray  # its batch ended
    received: np.ndarray  # the client had the answer
    batch: np.ndarray  # batch id (-1: never ran)
    size: np.ndarray  # that batch's size
    outputs: tuple  # the answers (float32 arrays; empty unless kept)
    metrics_text: str  # /metrics as scraped after the load
    threads_left: int  # this run's threads still alive after shutdown
    port: int

    @property
    def answered(self) -> np.ndarray:
        return np.isfinite(self.received)

    @property
    def server_latency(self) -> np.ndarray:
        return (self.end - self.arrived)[self.answered]

    @property
    def client_latency(self) -> np.ndarray:
        return (self.received - self.sent)[self.answered]

    def service_samples(self) -> dict[int, list[float]]:
        """Measured pass times by batch size (one per batch)."""
        out: dict[int, list[float]] = {}
        seen = set()
        for b, s, t0, t1 in zip(self.batch, self.size, self.start, self.end):
            if b >= 0 and b not in seen:
                seen.add(b)
                out.setdefault(int(s), []).append(float(t1 - t0))
        return out


def check_load(requests: int, rate: float, concurrency: int, instances: int, timeout_s: float) -> None:
    """Refuse a load over the real-serving budget, naming the limit."""
    if whole("number of requests", requests, 1, 1 << 40) > MAX_REAL_REQUESTS:
        raise BudgetError(f"a real run sends at most {MAX_REAL_REQUESTS:,} requests, not {requests:,}")
    whole("client concurrency", concurrency, 1, 64)
    whole("instance count", instances, 1, 4)
    timeout_s = positive("timeout", timeout_s)
    if timeout_s > 30:
        raise BudgetError(f"a real run may take at most 30 s; the timeout asks for {timeout_s:g} s")
    span = requests / positive("request rate", rate)
    if span > 0.8 * timeout_s:
        raise BudgetError(
            f"{requests:,} requests at {rate:g}/s take {span:.1f} s to send, more than 80% of the "
            f"{timeout_s:g} s timeout: send fewer requests or raise the rate"
        )


def _check_graph(graph: Graph, requests: int, backend: str) -> str:
    if not isinstance(graph, Graph):
        raise GraphError(f"serve_real needs a Graph, got {type(graph).__name__}")
    inputs = [n for n in graph.nodes if n.op == "input"]
    if len(inputs) != 1 or len(graph.outputs) != 1:
        raise EngineError(
            f"the server takes graphs with one input and one output; this one has {len(inputs)} "
            f"input(s) and {len(graph.outputs)} output(s)"
        )
    budget.check_tensor((requests, *inputs[0].shape), "the load's inputs")
    if budget.numel(inputs[0].shape) > MAX_INPUT_ELEMENTS:
        raise BudgetError(
            f"one request's input has {budget.numel(inputs[0].shape):,} elements; the server takes at "
            f"most {MAX_INPUT_ELEMENTS:,}"
        )
    if backend != "sleep":
        budget.check_flops(cost(graph).flops * requests, f"{requests:,} requests")
    return inputs[0].name


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per client thread
    timeout = 2.0  # an idle connection's handler gives up after this
    disable_nagle_algorithm = True  # a reply's header and body writes must not wait for an ACK

    def log_message(self, *args) -> None:  # no access log on stderr
        pass

    def _reply(self, code: int, body: bytes, kind: str = "application/octet-stream") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._reply(200, self.server.state.metrics().encode(), "text/plain; version=0.0.4")
        else:
            self._reply(200 if self.path == "/v2/health/ready" else 404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state = self.server.state
        if self.path.split("?")[0] != f"/v2/models/{MODEL}/infer":
            self._reply(404, b"")
            return
        item = state.submit(int(self.headers.get("X-Request-Id", -1)), body)
        ok = item is not None and item["done"].wait(state.timeout)
        self._reply(200 if ok and item["out"] is not None else 503, item["out"] if ok else b"")


class _State:
    """The server's queue, its copies (threads) and its counters."""

    def __init__(self, n, batcher, instances, backend, in_shape, timeout):
        self.batcher, self.backend, self.shape, self.timeout = batcher, backend, in_shape, timeout
        self.cv, self.queue, self.stopping = threading.Condition(), [], False
        self.arrived, self.start, self.end = (np.full(n, np.nan) for _ in range(3))
        self.batch, self.size = np.full(n, -1), np.zeros(n, dtype=int)
        self.counts = dict(success=0, failure=0, exec=0, queue_us=0.0, compute_us=0.0)
        self.n_batches, self.t0 = 0, 0.0
        self.copies = [
            threading.Thread(target=self._copy, args=(k,), name=f"{THREAD_PREFIX}-copy-{k}")
            for k in range(instances)
        ]

    def submit(self, rid: int, body: bytes):
        if self.stopping or not 0 <= rid < len(self.arrived):
            return None
        x = np.frombuffer(body, dtype=np.float32)
        if x.size != int(np.prod(self.shape)):
            return None
        item = {"id": rid, "x": x.reshape(self.shape), "done": threading.Event(), "out": None}
        with self.cv:
            self.arrived[rid] = time.perf_counter() - self.t0
            self.queue.append(item)
            self.cv.notify()
        return item

    def _take(self):
        """Block until the batcher's rule sends a batch (or the server stops): the batch, or None."""
        with self.cv:
            while True:
                if self.stopping:
                    return None
                if self.queue:
                    now = time.perf_counter() - self.t0
                    waited = now - self.arrived[self.queue[0]["id"]]
                    size, _ = next_batch(self.batcher, len(self.queue), waited)
                    if size:
                        batch, self.queue = self.queue[:size], self.queue[size:]
                        bid, self.n_batches = self.n_batches, self.n_batches + 1
                        return bid, batch
                    self.cv.wait(max(1e-4, self.batcher.max_delay - waited))
                else:
                    self.cv.wait(0.05)

    def _copy(self, k: int) -> None:
        run = self.backend(k)
        while (got := self._take()) is not None:
            bid, batch = got
            t_start = time.perf_counter() - self.t0
            try:
                outs = run([item["x"] for item in batch])
            except Exception:  # noqa: BLE001 - a failed batch fails its requests, the server goes on
                outs = [None] * len(batch)
            t_end = time.perf_counter() - self.t0
            with self.cv:
                self.counts["exec"] += 1
                for item, out in zip(batch, outs):
                    rid = item["id"]
                    self.start[rid], self.end[rid], self.batch[rid], self.size[rid] = (
                        t_start,
                        t_end,
                        bid,
                        len(batch),
                    )
                    self.counts["success" if out is not None else "failure"] += 1
                    self.counts["queue_us"] += 1e6 * (t_start - self.arrived[rid])
                    self.counts["compute_us"] += 1e6 * (t_end - t_start)
                    item["out"] = None if out is None else np.ascontiguousarray(out, np.float32).tobytes()
            for item in batch:
                item["done"].set()

    def metrics(self) -> str:
        with self.cv:
            c = dict(self.counts)
        label = f'{{model="{MODEL}",version="1"}}'
        rows = (
            ("nv_inference_request_success", c["success"]),
            ("nv_inference_request_failure", c["failure"]),
            ("nv_inference_exec_count", c["exec"]),
            ("nv_inference_queue_duration_us", round(c["queue_us"])),
            ("nv_inference_compute_infer_duration_us", round(c["compute_us"])),
        )
        return "".join(f"# TYPE {m} counter\n{m}{label} {v}\n" for m, v in rows)

    def stop(self) -> None:
        """Stop the copies; requests still queued are answered 503 at once."""
        with self.cv:
            self.stopping = True
            left, self.queue = self.queue, []
            self.cv.notify_all()
        for item in left:
            item["done"].set()
        for t in self.copies:
            t.join(timeout=5)


def serve_real(
    graph: Graph,
    policy: Batcher,
    requests: int = 200,
    concurrency: int = 8,
    timeout_s: float = 10.0,
    rate: float = 200.0,
    instances: int = 1,
    backend: str = "engine",
    sleep: tuple[float, float] = (0.002, 0.0005),
    seed: int = 0,
    keep_outputs: bool = False,
) -> RealRun:
    """Start the server for ``graph``, send it ``requests`` Poisson requests at ``rate``/s from
    ``concurrency`` clients, stop it, and return what was measured (see the module docstring)."""
    if not isinstance(policy, Batcher):
        raise EngineError(f"the batching policy must be a serving_repo.Batcher, got {type(policy).__name__}")
    if backend not in BACKENDS:
        raise EngineError(f"back end {backend!r} is not one of {', '.join(BACKENDS)}")
    check_load(requests, rate, concurrency, instances, timeout_s)
    in_name = _check_graph(graph, requests, backend)
    shape = graph.node(in_name).shape
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((requests, *shape)).astype(np.float32)
    intended = np.cumsum(rng.exponential(1.0 / rate, requests))
    runner = make_backend(backend, graph, in_name, sleep)
    state = _State(requests, policy, instances, runner, shape, timeout_s)
    threads_before = set(threading.enumerate())
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"{THREAD_PREFIX}-http")
    load = Load(port, xs, intended, concurrency, timeout_s, keep_outputs)
    try:
        state.t0 = load.t0 = time.perf_counter()
        for t in (serving, *state.copies):
            t.start()
        load.run()
        metrics = get_text(port, "/metrics")
    finally:
        load.stop()
        state.stop()
        server.shutdown()
        server.server_close()
        serving.join(timeout=5)
    left = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    return RealRun(
        backend, policy, instances, float(rate), concurrency, intended, load.sent, state.arrived,
        state.start, state.end, load.received, state.batch, state.size, tuple(load.outputs),
        metrics, len(left), port,
    )  # fmt: skip
