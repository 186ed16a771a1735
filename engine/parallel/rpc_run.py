"""A parameter server for real: torch.distributed.rpc, RRef, distributed autograd, two local processes.

Stages:
  1. The parent picks a free localhost port and starts two processes
     (``python -m engine.parallel.rpc_run worker|ps PORT STEPS LR DIR``), each in its own process
     group with one thread, joined by RPC (the TensorPipe agent over localhost TCP).
  2. The worker (rank 0) asks the server (rank 1, "ps") to build a small ``nn.Linear(4, 3)``
     (float64) with ``rpc.remote``: the model lives on the server, the worker holds an RRef to it.
     It fetches RRefs of the parameters and builds a ``DistributedOptimizer`` (SGD) over them. Each
     step, inside a ``dist_autograd.context()``: forward through ``rpc_sync`` (the server runs the
     layer), the mean-squared-error loss on the worker, ``dist_autograd.backward`` (the gradient of
     the forward's output travels back to the server, which accumulates the parameter gradients in
     the context), a look at those gradients on the server (``get_gradients``), then
     ``optimizer.step(context)`` (one RPC per parameter owner: the server updates its own weights).
     Every call is written to a message trace (time, sender, receiver, what), by the side that
     sends it; the server adds what its functions saw.
  3. The worker also runs the same steps in one process with plain torch (``nn.Linear`` and
     ``optim.SGD``): the single-process oracle. Both write JSON and leave.
  4. The parent waits with a deadline; on timeout or failure it kills both process groups and reaps
     them, so no process is left behind. It compares the RPC weights with the local torch ones and
     with the numpy simulation of the same SGD steps (:func:`simulate`).
torch is imported only inside the two processes. Not handled: several workers or server shards
(the lab's simulation covers them), GPUs, RRef forks between workers, asynchronous updates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.budget import check_train_steps
from ..core.errors import EngineError
from .real_run import ROOT, RealRunError, _free_port, _kill

IN_FEATURES, OUT_FEATURES, BATCH = 4, 3, 8
NO_RPC_EXIT = 3  # a process's exit status when this torch build has no torch.distributed.rpc


class RpcUnavailableError(RealRunError):
    """This torch build was compiled without torch.distributed.rpc."""


_SERVER_LOG: list = []  # filled only inside the server process, by the functions the worker calls there


@dataclass(frozen=True)
class RpcRun:
    """What the two processes did: final weights three ways, the loss per step, the message trace."""

    steps: int
    lr: float
    rpc_weight: np.ndarray  # after the RPC run, read back from the server
    rpc_bias: np.ndarray
    local_weight: np.ndarray  # the same steps in one process with plain torch
    local_bias: np.ndarray
    sim_weight: np.ndarray  # the same steps in numpy
    sim_bias: np.ndarray
    losses: tuple[float, ...]
    server_grads: tuple[tuple[float, ...], ...]  # |dW| per step as the server's context held it
    trace: tuple[tuple[float, str, str, str], ...]  # (ms since start, sender, receiver, what)
    wall_s: float
    pids: tuple[int, ...]

    @property
    def max_abs_diff(self) -> dict:
        return {
            "rpc vs torch (one process)": float(
                max(
                    np.abs(self.rpc_weight - self.local_weight).max(),
                    np.abs(self.rpc_bias - self.local_bias).max(),
                )
            ),
            "rpc vs numpy": float(
                max(
                    np.abs(self.rpc_weight - self.sim_weight).max(),
                    np.abs(self.rpc_bias - self.sim_bias).max(),
                )
            ),
        }

    @property
    def agrees(self) -> bool:
        return all(v < 1e-12 for v in self.max_abs_diff.values())


def reference_problem(steps: int, seed: int = 0) -> dict:
    """Initial weights and one (x, y) batch per step, shared by every side."""
    rng = np.random.default_rng(seed)
    return dict(
        w=rng.normal(size=(OUT_FEATURES, IN_FEATURES)) / 2,
        b=rng.normal(size=OUT_FEATURES) / 2,
        x=rng.normal(size=(steps, BATCH, IN_FEATURES)),
        y=rng.normal(size=(steps, BATCH, OUT_FEATURES)),
    )


def _check(steps: int, lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 20:
        raise EngineError(f"the RPC run takes 1 to 20 steps, got {steps!r}")
    if not 0 < lr <= 1:
        raise EngineError(f"learning rate must be in (0, 1], got {lr}")
    check_train_steps(int(steps), "the RPC run")


def simulate(steps: int, lr: float) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The same SGD steps in numpy: y = x Wᵀ + b, loss = mean((y − t)²)."""
    _check(steps, lr)
    pr = reference_problem(steps)
    w, b, losses = pr["w"].copy(), pr["b"].copy(), []
    for x, t in zip(pr["x"], pr["y"]):
        r = x @ w.T + b - t
        losses.append(float(np.mean(r**2)))
        d = 2 * r / r.size
        w, b = w - lr * d.T @ x, b - lr * d.sum(axis=0)
    return w, b, losses


def run_rpc(steps: int = 3, lr: float = 0.1, timeout: float = 60.0) -> RpcRun:
    """Launch worker and server, wait at most ``timeout`` s, compare with torch and numpy."""
    _check(steps, lr)
    if not 1 <= timeout <= 120:
        raise EngineError(f"timeout must be between 1 and 120 seconds, got {timeout}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rpc_run_") as tmp:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "TP_SOCKET_IFNAME": "lo",
            "GLOO_SOCKET_IFNAME": "lo",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        args = [str(_free_port()), str(int(steps)), repr(float(lr)), tmp]
        procs = []
        try:
            for role in ("worker", "ps"):
                with open(Path(tmp) / f"log_{role}.txt", "w") as log:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "engine.parallel.rpc_run", role, *args],
                            cwd=ROOT,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            deadline = t0 + timeout
            for p in procs:
                p.wait(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            _kill(procs)
            raise RealRunError(
                f"the RPC run did not finish within {timeout:.0f} s; both processes were stopped"
            ) from None
        finally:
            _kill(procs)
        if any(p.returncode == NO_RPC_EXIT for p in procs):
            raise RpcUnavailableError(
                "torch.distributed.rpc is not available in this torch build, so the real RPC run cannot start"
            )
        for role, p in zip(("worker", "ps"), procs):
            if p.returncode != 0:
                tail = (Path(tmp) / f"log_{role}.txt").read_text()[-800:]
                raise RealRunError(f"the {role} process failed (exit {p.returncode}): {tail}")
        if not (Path(tmp) / "out.json").is_file():
            tail = (Path(tmp) / "log_worker.txt").read_text()[-800:]
            raise RealRunError(f"the worker exited without writing its results: {tail}")
        out = json.loads((Path(tmp) / "out.json").read_text())
    sim_w, sim_b, _ = simulate(steps, lr)
    start = min(t for t, *_ in out["trace"])
    trace = tuple(
        (round((t - start) * 1e3, 3), src, dst, what)
        for t, src, dst, what in sorted(out["trace"], key=lambda e: e[0])
    )
    return RpcRun(
        int(steps),
        float(lr),
        np.array(out["rpc_w"]),
        np.array(out["rpc_b"]),
        np.array(out["local_w"]),
        np.array(out["local_b"]),
        sim_w,
        sim_b,
        tuple(out["losses"]),
        tuple(tuple(g) for g in out["server_grads"]),
        trace,
        time.perf_counter() - t0,
        tuple(p.pid for p in procs),
    )


# -- inside the two processes (torch imported here only) ----------------------------------------------
def _note(src: str, dst: str, what: str) -> tuple:
    return (time.time(), src, dst, what)


def _ps_build(weight, bias):
    import torch

    _SERVER_LOG.append(_note("ps", "ps", "build nn.Linear(4, 3) and keep it: the worker gets an RRef"))
    model = torch.nn.Linear(IN_FEATURES, OUT_FEATURES).double()
    with torch.no_grad():
        model.weight.copy_(weight)
        model.bias.copy_(bias)
    return model


def _ps_param_rrefs(model_rref):
    from torch.distributed.rpc import RRef

    _SERVER_LOG.append(_note("ps", "worker", "reply: one RRef per parameter (weight, bias)"))
    return [RRef(p) for p in model_rref.local_value().parameters()]


def _ps_forward(model_rref, x):
    _SERVER_LOG.append(_note("ps", "worker", "forward on ps; reply: the output y (8 × 3)"))
    return model_rref.local_value()(x)


def _ps_gradients(context_id, model_rref):
    import torch.distributed.autograd as dist_autograd

    grads = dist_autograd.get_gradients(context_id)
    weight = model_rref.local_value().weight
    _SERVER_LOG.append(_note("ps", "worker", f"context {context_id} holds ∂loss/∂W and ∂loss/∂b on ps"))
    return grads[weight].clone()


def _ps_weights(model_rref):
    model = model_rref.local_value()
    _SERVER_LOG.append(_note("ps", "worker", "reply: the final weights"))
    return model.weight.detach().clone(), model.bias.detach().clone(), list(_SERVER_LOG)


def _worker(steps: int, lr: float, out_dir: str) -> None:
    import torch
    import torch.distributed.autograd as dist_autograd
    import torch.distributed.rpc as rpc
    from torch.distributed.optim import DistributedOptimizer

    pr = {k: torch.tensor(v, dtype=torch.float64) for k, v in reference_problem(steps).items()}
    trace, losses, server_grads = [], [], []
    trace.append(_note("worker", "ps", "rpc.remote(build nn.Linear(4, 3)): the model will live on ps"))
    model_rref = rpc.remote("ps", _ps_build, args=(pr["w"], pr["b"]))
    trace.append(_note("worker", "ps", "rpc_sync(parameter RRefs)"))
    params = rpc.rpc_sync("ps", _ps_param_rrefs, args=(model_rref,))
    opt = DistributedOptimizer(torch.optim.SGD, params, lr=lr)
    for step in range(steps):
        with dist_autograd.context() as ctx:
            trace.append(_note("worker", "ps", f"step {step + 1}: rpc_sync(forward, x: 8 × 4)"))
            out = rpc.rpc_sync("ps", _ps_forward, args=(model_rref, pr["x"][step]))
            loss = ((out - pr["y"][step]) ** 2).mean()
            losses.append(float(loss))
            trace.append(
                _note("worker", "ps", f"step {step + 1}: dist_autograd.backward sends ∂loss/∂y to ps")
            )
            dist_autograd.backward(ctx, [loss])
            trace.append(_note("worker", "ps", f"step {step + 1}: rpc_sync(look at the gradients on ps)"))
            server_grads.append(rpc.rpc_sync("ps", _ps_gradients, args=(ctx, model_rref)).ravel().tolist())
            trace.append(_note("worker", "ps", f"step {step + 1}: DistributedOptimizer.step: SGD runs on ps"))
            opt.step(ctx)
    trace.append(_note("worker", "ps", "rpc_sync(final weights)"))
    weight, bias, server_log = rpc.rpc_sync("ps", _ps_weights, args=(model_rref,))
    local = torch.nn.Linear(IN_FEATURES, OUT_FEATURES).double()  # the single-process oracle
    with torch.no_grad():
        local.weight.copy_(pr["w"])
        local.bias.copy_(pr["b"])
    sgd = torch.optim.SGD(local.parameters(), lr=lr)
    for step in range(steps):
        sgd.zero_grad()
        ((local(pr["x"][step]) - pr["y"][step]) ** 2).mean().backward()
        sgd.step()
    out = dict(
        rpc_w=weight.tolist(),
        rpc_b=bias.tolist(),
        local_w=local.weight.detach().tolist(),
        local_b=local.bias.detach().tolist(),
        losses=losses,
        server_grads=server_grads,
        trace=[list(e) for e in trace + server_log],
    )
    (Path(out_dir) / "out.json").write_text(json.dumps(out))


def _process(role: str, port: int, steps: int, lr: float, out_dir: str) -> None:
    import torch
    import torch.distributed.rpc as rpc

    torch.set_num_threads(1)
    if not (torch.distributed.is_available() and rpc.is_available()):
        os._exit(NO_RPC_EXIT)
    options = rpc.TensorPipeRpcBackendOptions(
        init_method=f"tcp://127.0.0.1:{port}", rpc_timeout=30, num_worker_threads=4
    )
    rank = 0 if role == "worker" else 1
    rpc.init_rpc(role, rank=rank, world_size=2, rpc_backend_options=options)
    if role == "worker":
        _worker(steps, lr, out_dir)
    try:
        rpc.shutdown()  # waits for the other side: a barrier before leaving
    except torch.distributed.DistNetworkError as err:
        # The peer can pass the barrier first and exit, resetting the socket while this side is still
        # joining. Everything is done by then (the worker wrote out.json before shutting down; the
        # parent checks it), so a reset here is the peer leaving, not a failure.
        print(f"{role}: the peer left during shutdown ({err}); all work was done", flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of the agent's threads; everything is written


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] in ("worker", "ps"):
    from engine.parallel import rpc_run as _named  # pickled functions then resolve by their real module

    _named._process(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
