"""Autodiff benchmarks: reverse-mode gradient of a 4-layer MLP vs torch.autograd (CPU), and the
gradient of a 10,000-node scalar graph (interpreter overhead per node)."""

from __future__ import annotations

from bench.run import median_time
from engine.core.interpreter import run as run_graph
from engine.core.ir import GraphBuilder
from engine.framework.autodiff import grad

OPS = ("sin", "tanh", "sigmoid", "cos")


def mlp_graph(batch: int = 64, width: int = 512, layers: int = 4):
    b = GraphBuilder("mlp4")
    h = b.input((batch, width), name="x")
    for k in range(layers):
        w = b.param((width, width), name=f"W{k}")
        bias = b.param((width,), name=f"b{k}")
        h = b.op("relu", b.op("add", b.op("matmul", h, w), bias))
    b.op("reduce_mean", b.op("mul", h, h), name="loss")
    return b.build()


def scalar_chain(nodes: int = 10_000):
    """A scalar graph of ``nodes`` nodes: unary maps mixed with fan-in from earlier values."""
    b = GraphBuilder("chain")
    x = b.input(value=0.5, name="x")
    prev, count = [x], 1
    while count < nodes - 1:
        a = b.op(OPS[count % len(OPS)], prev[-1])
        c = b.op("mul" if count % 3 else "add", a, prev[-3 if len(prev) > 3 else 0])
        prev.append(c)
        count += 2
    b.op("identity", prev[-1], name="y")
    return b.build()


def _torch_mlp_grad(values, layers):
    import torch

    t = {k: torch.tensor(v, requires_grad=k != "x") for k, v in values.items()}
    h = t["x"]
    for k in range(layers):
        h = torch.relu(h @ t[f"W{k}"] + t[f"b{k}"])
    (h * h).mean().backward()


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - numpy then uses its default thread count
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def run() -> list[dict]:
    import torch

    torch.set_num_threads(1)
    graph = mlp_graph()
    wrt = [n.name for n in graph.params]
    values = {k: v for k, v in run_graph(graph).items() if k == "x" or k in wrt}
    with _one_blas_thread():  # the same single thread for numpy's BLAS and torch
        ours = median_time(lambda: grad(graph, "loss", wrt, inputs=values), repeat=7)
        theirs = median_time(lambda: _torch_mlp_grad(values, 4), repeat=7)
    chain = scalar_chain()
    t_chain = median_time(lambda: grad(chain, "y", ["x"]), repeat=3)
    return [
        dict(
            name="MLP 4x512, batch 64: reverse-mode grad / torch.autograd",
            value=ours / theirs,
            unit="x",
            target="<= 2",
            note=f"ours {ours * 1e3:.1f} ms, torch {theirs * 1e3:.1f} ms "
            "(forward + backward, float32, 1 thread)",
        ),
        dict(
            name=f"grad of a {len(chain.nodes):,}-node scalar graph",
            value=t_chain,
            unit="s",
            target="< 1",
            note="forward + backward sweep, median of 3",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
