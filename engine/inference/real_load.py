"""The real server's open-loop load generator: Poisson send times, a pool of keep-alive clients.

:class:`Load` in stages: its dispatcher (the calling thread) waits for each request's send time and
puts it on a queue; ``concurrency`` client threads, each with one keep-alive HTTP connection to the
server, take requests off the queue, send them and record when each was sent and answered. While a
client is free the load is open-loop (sends do not wait for answers); a request that finds every
client busy waits for one, and the gap between its intended and actual send time is recorded.
:meth:`Load.stop` tells the clients to finish and joins them within the run's deadline.
Not handled: more clients than ``concurrency``, retries of failed requests (one try each).
"""

from __future__ import annotations

import http.client
import queue
import threading
import time

import numpy as np

THREAD_PREFIX = "aisl-serve"
MODEL = "served"


def get_text(port: int, path: str) -> str:
    """The body of ``GET path`` from the server on ``port``, as text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


class Load:
    """The open-loop load: a dispatcher thread and ``concurrency`` client threads."""

    def __init__(self, port, xs, intended, concurrency, timeout_s, keep):
        self.port, self.xs, self.intended, self.keep = port, xs, intended, keep
        self.deadline_s, self.t0 = timeout_s, 0.0
        n = len(xs)
        self.sent, self.received = np.full(n, np.nan), np.full(n, np.nan)
        self.outputs = [None] * n if keep else []
        self.todo: queue.Queue = queue.Queue()
        self.clients = [
            threading.Thread(target=self._client, name=f"{THREAD_PREFIX}-client-{k}")
            for k in range(concurrency)
        ]

    def run(self) -> None:
        for c in self.clients:
            c.start()
        for i, at in enumerate(self.intended):
            wait = at - (time.perf_counter() - self.t0)
            if at > 0.9 * self.deadline_s:
                break
            if wait > 0:
                time.sleep(wait)
            self.todo.put(i)
        self.stop()

    def stop(self) -> None:
        if not any(c.is_alive() for c in self.clients):
            return
        for _ in self.clients:
            self.todo.put(None)
        end = self.t0 + self.deadline_s
        for c in self.clients:
            c.join(timeout=max(0.1, end - time.perf_counter()))

    def _client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.deadline_s)
        try:
            while (i := self.todo.get()) is not None:
                self.sent[i] = time.perf_counter() - self.t0
                body = self._send(conn, i)
                if body is not None:
                    self.received[i] = time.perf_counter() - self.t0
                    if self.keep:
                        self.outputs[i] = np.frombuffer(body, dtype=np.float32)
        finally:
            conn.close()

    def _send(self, conn: http.client.HTTPConnection, i: int) -> bytes | None:
        """POST request ``i``: its answer, or None (refused, timed out, a bad reply). A connection the
        server closed while it was idle is opened again once."""
        for _ in range(2):
            try:
                conn.request(
                    "POST", f"/v2/models/{MODEL}/infer", self.xs[i].tobytes(), {"X-Request-Id": str(i)}
                )
                reply = conn.getresponse()
                body = reply.read()
                return body if reply.status == 200 else None
            except ConnectionError:
                conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                return None
        return None
