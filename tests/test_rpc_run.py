"""The real PyTorch RPC parameter server (two processes): its weights equal plain torch in this process
and numpy, its trace shows both sides talking, and no process is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import EngineError
from engine.parallel.real_run import RealRunError
from engine.parallel.rpc_run import RpcUnavailableError, reference_problem, run_rpc, simulate


def _children() -> list[int]:
    """PIDs of live processes whose parent is this test process (zombies count as gone)."""
    me, found = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                found.append(int(d.name))
    return found


def _torch_steps(steps: int, lr: float):
    """The oracle: the same SGD steps with plain torch in this process."""
    torch = pytest.importorskip("torch")
    pr = {k: torch.tensor(v, dtype=torch.float64) for k, v in reference_problem(steps).items()}
    model = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        model.weight.copy_(pr["w"])
        model.bias.copy_(pr["b"])
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for k in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(pr["x"][k]), pr["y"][k]).backward()
        opt.step()
    return model.weight.detach().numpy(), model.bias.detach().numpy()


def test_numpy_simulation_equals_torch():
    w, b, losses = simulate(5, 0.2)
    tw, tb = _torch_steps(5, 0.2)
    np.testing.assert_allclose(w, tw, rtol=0, atol=1e-13)
    np.testing.assert_allclose(b, tb, rtol=0, atol=1e-13)
    assert len(losses) == 5 and losses[-1] < losses[0] * 10


def test_rpc_parameter_server_equals_one_process_torch_and_leaves_nothing_behind():
    before = set(_children())
    try:
        res = run_rpc(3, 0.1, timeout=90)
    except RpcUnavailableError as err:
        pytest.skip(f"only the real RPC oracle is skipped: {err}")
    tw, tb = _torch_steps(3, 0.1)
    np.testing.assert_allclose(res.rpc_weight, tw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.rpc_bias, tb, rtol=0, atol=1e-12)
    assert res.agrees, res.max_abs_diff
    assert not np.allclose(res.rpc_weight, reference_problem(3)["w"])  # the server really updated
    # the trace: both processes speak, and each step runs forward -> backward -> look -> optimizer step
    senders = {src for _, src, _, _ in res.trace}
    assert senders == {"worker", "ps"}
    whats = [what for _, src, _, what in res.trace if src == "worker" and what.startswith("step 2:")]
    assert [w.split(": ", 1)[1].split("(")[0].split(" ")[0] for w in whats] == [
        "rpc_sync",
        "dist_autograd.backward",
        "rpc_sync",
        "DistributedOptimizer.step:",
    ]
    assert sum("holds ∂loss/∂W" in what for *_, what in res.trace) == 3  # gradients live on ps
    assert len(res.server_grads) == 3 and all(any(g) for g in res.server_grads)
    assert set(_children()) <= before
    for pid in res.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_timeout_stops_both_processes():
    before = set(_children())
    with pytest.raises(RealRunError, match="did not finish within 1 s"):
        run_rpc(2, 0.1, timeout=1)  # importing torch alone takes longer than 1 s
    assert set(_children()) <= before


@pytest.mark.parametrize(
    "steps,lr,match",
    [
        (0, 0.1, "1 to 20 steps"),
        (21, 0.1, "1 to 20 steps"),
        (True, 0.1, "1 to 20 steps"),
        (3, 0.0, "learning rate"),
    ],
)
def test_bad_input(steps, lr, match):
    with pytest.raises(EngineError, match=match):
        run_rpc(steps, lr)
