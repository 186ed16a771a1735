"""Run the splits for real on torch.distributed (gloo backend, 2-4 local CPU processes).

Stages:
  1. The parent picks a free localhost port and starts ``world_size`` worker processes
     (``python -m engine.parallel.real_run worker RANK WORLD PORT DIR``), each in its own process
     group, with one thread each.
  2. Each worker joins the gloo group and runs
       a. DDP on a tiny linear model (float64): its shard of the batch, backward, and DDP's
          gradient all-reduce (average);
       b. a Megatron tensor-parallel MLP with plain collectives: columns of A and rows of B per rank,
          one all_reduce of the output, local backward, one all_reduce of dX;
       c. all_reduce timings for a few message sizes (median of repeats);
     and writes a JSON file.
  3. The parent waits with a deadline; on timeout or any failure it kills every worker's process
     group and reaps it — no process is left behind. It then compares with the numpy simulation:
     DDP gradients = ring all-reduce of the per-shard gradients / N (collectives.ring_allreduce);
     TP output and gradients = tensor_parallel.megatron_mlp / mlp_grads; and fits α, β to the
     measured all-reduce times (least squares on the ring model).
torch is imported only inside the worker. Not handled: GPUs/NCCL, DeviceMesh/DTensor (plain
collectives are used so that the mapping to the lesson's all-reduces is explicit).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import EngineError
from .collectives import ring_allreduce
from .tensor_parallel import megatron_mlp, mlp_grads

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SIZES = (4 << 10, 256 << 10, 1 << 20, 4 << 20)


class RealRunError(EngineError):
    """The real torch.distributed run could not finish (timeout, crash, torch missing)."""


def reference_problem(world_size: int, seed: int = 0) -> dict:
    """The shared inputs of the real run (both sides build them from the same seed)."""
    rng = np.random.default_rng(seed)
    batch, hidden = 4 * world_size, 8
    return dict(
        x=rng.normal(size=(batch, 4)),
        y=rng.normal(size=(batch, 3)),
        w=rng.normal(size=(3, 4)),
        bias=rng.normal(size=3),
        tx=rng.normal(size=(5, hidden)),
        a=rng.normal(size=(hidden, 4 * hidden)) / 3,
        b=rng.normal(size=(4 * hidden, hidden)) / 3,
        dy=rng.normal(size=(5, hidden)),
    )


def simulate(world_size: int) -> dict:
    """The numpy simulation of everything the workers compute."""
    pr = reference_problem(world_size)
    per_device = []
    for idx in np.array_split(np.arange(len(pr["x"])), world_size):
        x, y = pr["x"][idx], pr["y"][idx]
        r = 2 * (x @ pr["w"].T + pr["bias"] - y) / y.size  # d mean-squared-error
        per_device.append(np.concatenate([(r.T @ x).ravel(), r.sum(axis=0)]))
    summed = ring_allreduce(np.array(per_device)).summary[0]  # the simulated ring all-reduce
    avg = summed / world_size
    mlp = megatron_mlp(pr["tx"], pr["a"], pr["b"], world_size)
    grads = mlp_grads(pr["tx"], pr["a"], pr["b"], pr["dy"], world_size)
    return dict(
        ddp_grad_w=avg[:12].reshape(3, 4),
        ddp_grad_b=avg[12:],
        tp_output=mlp.output,
        tp_dA=grads["dA"],
        tp_dB=grads["dB"],
        tp_dX=grads["dX"],
    )


@dataclass(frozen=True)
class RealRun:
    world_size: int
    max_abs_diff: dict  # quantity -> max |real − simulated|
    timings: tuple[tuple[int, float], ...]  # (bytes, median seconds) of gloo all_reduce
    alpha: float  # fitted latency per message (s)
    beta: float  # fitted bandwidth (bytes/s)
    wall_s: float
    pids: tuple[int, ...]

    @property
    def agrees(self) -> bool:
        return all(v < 1e-9 for v in self.max_abs_diff.values())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def run_real(world_size: int = 2, timeout: float = 60.0, sizes=DEFAULT_SIZES, repeats: int = 5) -> RealRun:
    """Launch the gloo run, wait at most ``timeout`` s, compare with the simulation."""
    if world_size not in (2, 3, 4):
        raise EngineError(f"the real run uses 2, 3 or 4 local processes, got {world_size}")
    if not 1 <= timeout <= 120:
        raise EngineError(f"timeout must be between 1 and 120 seconds, got {timeout}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 50:
        raise EngineError(f"repeats = {repeats!r} must be a whole number from 1 to 50")
    sizes = tuple(int(s) for s in sizes)
    if not sizes or min(sizes) < 4 or max(sizes) > 16 << 20:
        raise EngineError("all-reduce sizes must be between 4 bytes and 16 MiB")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gloo_run_") as tmp:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "GLOO_SOCKET_IFNAME": "lo",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "LAB_SIZES": ",".join(map(str, sizes)),
            "LAB_REPEATS": str(int(repeats)),
        }
        port = _free_port()
        procs = []
        try:
            for rank in range(world_size):
                log = open(Path(tmp) / f"log_{rank}.txt", "w")
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "engine.parallel.real_run",
                            "worker",
                            str(rank),
                            str(world_size),
                            str(port),
                            tmp,
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
                log.close()
            deadline = t0 + timeout
            for p in procs:
                p.wait(timeout=max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            _kill(procs)
            raise RealRunError(
                f"the gloo run did not finish within {timeout:.0f} s; all "
                f"{world_size} worker processes were stopped"
            ) from None
        finally:
            _kill(procs)
        bad = [r for r, p in enumerate(procs) if p.returncode != 0]
        if bad:
            tail = (Path(tmp) / f"log_{bad[0]}.txt").read_text()[-800:]
            raise RealRunError(f"worker {bad[0]} failed (exit {procs[bad[0]].returncode}): {tail}")
        outs = [json.loads((Path(tmp) / f"out_{r}.json").read_text()) for r in range(world_size)]
    return _compare(world_size, outs, time.perf_counter() - t0, tuple(p.pid for p in procs))


def _compare(world_size: int, outs: list[dict], wall: float, pids) -> RealRun:
    sim = simulate(world_size)
    cols = np.array_split(np.arange(sim["tp_dA"].shape[1]), world_size)
    real = dict(
        ddp_grad_w=np.array(outs[0]["grad_w"]),
        ddp_grad_b=np.array(outs[0]["grad_b"]),
        tp_output=np.array(outs[0]["tp_out"]),
        tp_dX=np.array(outs[0]["tp_dx"]),
        tp_dA=np.concatenate([np.array(o["tp_da"]) for o in outs], axis=1),
        tp_dB=np.concatenate([np.array(o["tp_db"]) for o in outs], axis=0),
    )
    assert all(len(c) == np.array(o["tp_da"]).shape[1] for c, o in zip(cols, outs))
    diffs = {k: float(np.max(np.abs(real[k] - sim[k]))) for k in real}
    for o in outs[1:]:  # every rank must hold the same all-reduced values
        diffs["ddp_grad_w"] = max(
            diffs["ddp_grad_w"], float(np.max(np.abs(np.array(o["grad_w"]) - sim["ddp_grad_w"])))
        )
    timings = tuple((int(b), float(t)) for b, t in outs[0]["timings"])
    alpha, beta = fit_alpha_beta(timings, world_size)
    return RealRun(world_size, diffs, timings, alpha, beta, wall, tuple(pids))


def fit_alpha_beta(timings, n: int) -> tuple[float, float]:
    """Least-squares α, β for t = 2(n−1)α + 2(n−1)/n · bytes/β (clipped to be positive)."""
    nbytes = np.array([b for b, _ in timings], dtype=float)
    secs = np.array([t for _, t in timings], dtype=float)
    design = np.stack([np.full_like(nbytes, 2 * (n - 1)), 2 * (n - 1) / n * nbytes], axis=1)
    (alpha, inv_beta), *_ = np.linalg.lstsq(design, secs, rcond=None)
    return max(float(alpha), 1e-9), 1.0 / max(float(inv_beta), 1e-15)


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import datetime

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=30),
    )
    pr = {k: torch.tensor(v, dtype=torch.float64) for k, v in reference_problem(world).items()}
    # a. DDP on a tiny linear model
    model = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        model.weight.copy_(pr["w"])
        model.bias.copy_(pr["bias"])
    ddp = DDP(model)
    idx = torch.tensor(np.array_split(np.arange(len(pr["x"])), world)[rank])
    F.mse_loss(ddp(pr["x"][idx]), pr["y"][idx]).backward()
    # b. Megatron tensor-parallel MLP with plain collectives
    cols = torch.tensor(np.array_split(np.arange(pr["a"].shape[1]), world)[rank])
    a_r = pr["a"][:, cols].clone().requires_grad_()
    b_r = pr["b"][cols, :].clone().requires_grad_()
    x = pr["tx"].clone().requires_grad_()
    z = F.gelu(x @ a_r, approximate="tanh") @ b_r
    y = z.detach().clone()
    dist.all_reduce(y)  # g: forward all-reduce
    z.backward(pr["dy"])  # g's backward is the identity
    dx = x.grad.clone()
    dist.all_reduce(dx)  # f: backward all-reduce
    # c. all-reduce timings
    timings = []
    for nbytes in map(int, os.environ["LAB_SIZES"].split(",")):
        buf = torch.zeros(max(1, nbytes // 4), dtype=torch.float32)
        samples = []
        for k in range(int(os.environ["LAB_REPEATS"]) + 2):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(buf)
            if k >= 2:
                samples.append(time.perf_counter() - t0)
        timings.append((nbytes, float(np.median(samples))))
    out = dict(
        grad_w=model.weight.grad.tolist(),
        grad_b=model.bias.grad.tolist(),
        tp_out=y.tolist(),
        tp_dx=dx.tolist(),
        tp_da=a_r.grad.tolist(),
        tp_db=b_r.grad.tolist(),
        timings=timings,
    )
    (Path(out_dir) / f"out_{rank}.json").write_text(json.dumps(out))
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    # gloo's background threads can abort ("terminate called ...") during interpreter teardown;
    # everything is written and the group is destroyed, so leave without running it.
    os._exit(0)


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "worker":
    _worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
