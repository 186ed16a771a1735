"""``value_and_grad_fn``: one reverse sweep gives the loss and the gradients of a training step.

Checked against torch.autograd (value and gradients of a small MLP with a constant), against the
plain API (``engine.run`` for the value, ``engine.grad`` for the gradients, bit for bit on random
feeds), for its errors (a feed with other names or shapes is refused with the interpreter's kind of
message), for its budget (checked when it is made, before any step), and in use: training checks
the work once per fit instead of twice per step, with the same losses.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.compression import training
from engine.core import budget
from engine.core.errors import BudgetError, GraphError, ShapeError
from engine.core.ir import GraphBuilder
from engine.framework import autodiff
from engine.framework.autodiff import value_and_grad_fn

FED = ["x", "W0", "b0", "W1"]


def _mlp(batch=4, width=6):
    """loss = mean((tanh(x W0 + b0) W1 * 0.5)^2): inputs and params fed, one constant."""
    b = GraphBuilder("mlp")
    x = b.input((batch, width), name="x")
    w0, b0 = b.param((width, width), name="W0"), b.param((width,), name="b0")
    w1 = b.param((width, 3), name="W1")
    h = b.op("tanh", b.op("add", b.op("matmul", x, w0), b0))
    y = b.op("mul", b.op("matmul", h, w1), b.constant(np.float32(0.5)))
    return b.build([b.op("reduce_mean", b.op("mul", y, y), name="loss")])


def _feed(graph, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(graph.node(k).shape).astype(np.float32) for k in FED}


def test_value_and_gradients_match_torch_autograd():
    torch = pytest.importorskip("torch")
    graph = _mlp()
    feed = _feed(graph, 0)
    loss, grads = value_and_grad_fn(graph, "loss", FED, FED)(feed)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in feed.items()}
    y = torch.tanh(t["x"] @ t["W0"] + t["b0"]) @ t["W1"] * 0.5
    ref = (y * y).mean()
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-5)
    for k in FED:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_every_step_equals_run_and_grad_bit_for_bit():
    """Many calls of one step function (constants shared, read-only) give what the plain API gives."""
    graph = _mlp()
    step = value_and_grad_fn(graph, "loss", ["W0", "W1"], FED)
    for seed in range(5):
        feed = _feed(graph, seed)
        loss, grads = step(feed)
        assert loss.tobytes() == engine.run(graph, inputs=feed)["loss"].tobytes()
        expected = engine.grad(graph, "loss", ["W0", "W1"], inputs=feed)
        assert sorted(grads) == ["W0", "W1"]
        for k in grads:
            assert grads[k].tobytes() == expected[k].tobytes()


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda f: {k: v for k, v in f.items() if k != "b0"}, GraphError, "was made for"),
        (lambda f: {**f, "extra": f["x"]}, GraphError, "was made for"),
        (lambda f: {**f, "x": f["x"][:2]}, ShapeError, r"input 'x' has shape \[4, 6\] but .* \[2, 6\]"),
        (lambda f: {**f, "W1": "not numbers"}, ShapeError, "not an array of numbers"),
    ],
)
def test_a_feed_other_than_the_one_it_was_made_for_is_refused(change, error, words):
    graph = _mlp()
    step = value_and_grad_fn(graph, "loss", FED, FED)
    with pytest.raises(error, match=words):
        step(change(_feed(graph, 1)))


def test_it_is_made_only_for_a_scalar_output_and_fed_sources():
    graph = _mlp()
    with pytest.raises(GraphError, match="only those can be fed"):
        value_and_grad_fn(graph, "loss", FED, [*FED, "loss"])
    b = GraphBuilder("vector")
    x = b.input((3,), name="x")
    vector = b.build([b.op("tanh", x, name="y")])
    with pytest.raises(engine.EngineError, match="scalar"):
        value_and_grad_fn(vector, "y", ["x"], ["x"])


def test_the_budget_is_checked_when_it_is_made(monkeypatch):
    graph = _mlp()
    monkeypatch.setattr(budget, "MAX_GRAPH_FLOPS", 10)
    with pytest.raises(BudgetError):
        value_and_grad_fn(graph, "loss", FED, FED)


def test_training_checks_the_work_once_per_fit_with_the_same_losses(monkeypatch):
    """The loop used to check the budget and validate the feed twice per step (the gradient, then a
    second forward run for the loss): 2 x steps checks. Now one, and the losses are those of the
    plain API's forward run of each step's feed."""
    calls = []
    real = autodiff.check_run
    monkeypatch.setattr(autodiff, "check_run", lambda *a, **k: calls.append(1) or real(*a, **k))
    spec = training.model_spec("student")
    split = training.digits(0)
    params = training.init_params(spec, 0)
    _, losses = training.fit(spec, params, split, 1, 0.01, 0)
    assert len(calls) == 1

    # the first step's loss, recomputed by the interpreter from the same feed
    graph = training.loss_graph(spec, 64, "ce", 1.0, 0.0)
    n = len(split.x_train) // 64 * 64
    order = np.random.default_rng(0 + 7919).permutation(len(split.x_train))
    x = split.x_train.reshape((-1, *spec.input_shape))
    y = training.one_hot(split.y_train)
    per_step = []
    params = {k: np.array(v, np.float32) for k, v in training.init_params(spec, 0).items()}
    opt = training.Adam(params, 0.01)
    for s in range(n // 64):
        idx = order[s * 64 : (s + 1) * 64]
        feed = {"x": x[idx], "y": y[idx], **params}
        per_step.append(float(engine.run(graph, inputs=feed)[graph.outputs[0]]))
        params = opt.step(params, engine.grad(graph, graph.outputs[0], list(params), inputs=feed))
    assert losses == [sum(per_step) / len(per_step)]
