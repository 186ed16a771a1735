"""Training with engine.grad (loss graphs vs torch autograd), the digits split, PTQ/QAT on trained
models, distillation, integer-only inference vs torch's quantized linear, the Pareto records."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from engine import grad, run
from engine.compression.datasets import digits, one_hot
from engine.compression.lab import Variant, estimate_latency, lab_variants, mark_pareto
from engine.compression.models import build_graph, forward, init_params, model_spec
from engine.compression.training import loss_graph, soft_targets, train_model
from engine.core.errors import EngineError

torch = pytest.importorskip("torch")
warnings.filterwarnings("ignore", category=UserWarning)


@pytest.fixture(scope="module")
def mlp():
    return train_model("mlp", 0)


def test_digits_split_is_stratified_and_fixed():
    a, b = digits(0), digits(0)
    assert a is b and len(a.x_train) + len(a.x_test) == 1797
    assert a.x_train.max() == 1.0 and a.x_train.min() == 0.0
    counts_test = np.bincount(a.y_test, minlength=10)
    counts_all = counts_test + np.bincount(a.y_train, minlength=10)
    np.testing.assert_array_equal(counts_test, np.round(0.2 * counts_all))
    assert not np.array_equal(digits(1).y_test, a.y_test) or not np.array_equal(digits(1).x_test, a.x_test)


def test_shipped_digits_equal_sklearn_load_digits():
    """Oracle: the copy in engine/compression/data is exactly scikit-learn's digits (sklearn: dev only)."""
    from sklearn.datasets import load_digits

    from engine.compression.datasets import _raw

    ref = load_digits()
    x, y = _raw()
    np.testing.assert_array_equal(x * 16, ref.data)  # every pixel, row order kept
    np.testing.assert_array_equal(y, ref.target)
    split = digits(0)  # the split is a partition of those rows
    ours = np.concatenate([split.x_train, split.x_test]) * 16
    np.testing.assert_array_equal(ours[np.lexsort(ours.T)], ref.data[np.lexsort(ref.data.T)])


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_layer_forward_equals_engine_run(name):
    spec = model_spec(name)
    params = init_params(spec, 3)
    x = digits(0).x_test[:5].reshape(5, *spec.input_shape)
    graph = build_graph(spec, 5, params)
    ours = forward(spec, params, x)
    np.testing.assert_allclose(run(graph, inputs={"x": x})[graph.outputs[0]], ours, rtol=1e-5, atol=1e-5)


def _torch_model(spec, params):
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    def f(x):
        h = x
        for ly in spec.layers:
            if ly.kind == "dense":
                h = h @ tp[f"{ly.name}.w"] + tp[f"{ly.name}.b"]
            elif ly.kind == "conv":
                h = torch.nn.functional.conv2d(h, tp[f"{ly.name}.w"], tp[f"{ly.name}.b"], padding=1)
            elif ly.kind == "relu":
                h = torch.relu(h)
            elif ly.kind == "maxpool":
                h = torch.nn.functional.max_pool2d(h, 2)
            else:
                h = h.flatten(1)
        return h

    return tp, f


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_cross_entropy_graph_and_grads_match_torch(name):
    spec = model_spec(name)
    params = init_params(spec, 1)
    split = digits(0)
    x = split.x_train[:16].reshape(16, *spec.input_shape)
    y = split.y_train[:16]
    g = loss_graph(spec, 16)
    feed = {"x": x, "y": one_hot(y), **params}
    ours = grad(g, g.outputs[0], list(params), inputs=feed)
    tp, f = _torch_model(spec, params)
    loss = torch.nn.functional.cross_entropy(f(torch.from_numpy(np.array(x))), torch.from_numpy(y))
    loss.backward()
    assert float(run(g, inputs=feed)[g.outputs[0]]) == pytest.approx(loss.item(), rel=1e-5)
    for k in params:
        np.testing.assert_allclose(ours[k], tp[k].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_distillation_loss_matches_torch_kl_div():
    spec, T, alpha = model_spec("student"), 3.0, 0.6
    params = init_params(spec, 2)
    split = digits(0)
    x, y = split.x_train[:8], split.y_train[:8]
    z_t = np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32) * 3
    pt = soft_targets(z_t, T).astype(np.float32)
    g = loss_graph(spec, 8, "kd", T, alpha)
    feed = {
        "x": x,
        "y": one_hot(y),
        "p_t": pt,
        "h_t": np.float32(np.mean(np.sum(pt * np.log(pt), 1))),
        **params,
    }
    ours = grad(g, g.outputs[0], list(params), inputs=feed)
    tp, f = _torch_model(spec, params)
    zs = f(torch.from_numpy(np.array(x)))
    F = torch.nn.functional
    loss = alpha * T * T * F.kl_div(F.log_softmax(zs / T, 1), torch.from_numpy(pt), reduction="batchmean") + (
        1 - alpha
    ) * F.cross_entropy(zs, torch.from_numpy(y))
    loss.backward()
    assert float(run(g, inputs=feed)[g.outputs[0]]) == pytest.approx(loss.item(), rel=1e-4)
    for k in params:
        np.testing.assert_allclose(ours[k], tp[k].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_training_learns(mlp):
    assert mlp.losses[-1] < 0.3 * mlp.losses[0]
    assert mlp.test_accuracy > 0.9  # chance is 0.1
    cnn = train_model("cnn", 0)
    assert cnn.test_accuracy > 0.85 and cnn.losses[-1] < cnn.losses[0]


def test_ptq_and_qat_on_the_trained_mlp(mlp):
    from engine.compression.quant.qat import ptq, qat

    assert ptq("mlp", 0, 8, "static").accuracy >= mlp.test_accuracy - 0.01
    low = ptq("mlp", 0, 2, "static")
    assert low.accuracy < mlp.test_accuracy - 0.05  # 2 bits hurt ...
    q = qat("mlp", 0, 2, 3)
    assert q.qat_accuracy > q.ptq_accuracy + 0.02  # ... and fine-tuning through the STE helps
    with pytest.raises(EngineError, match="bit width"):
        ptq("mlp", 0, 1)


def _torch_quantized_linear(il, bias: np.ndarray, engine: str) -> np.ndarray:
    """torch.ops.quantized.linear on exactly the integers the engine used, on one pinned engine."""
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"torch has no {engine} quantized engine on this machine")
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        qx = torch._make_per_tensor_quantized_tensor(torch.from_numpy(il.q_in.astype(np.uint8)), il.s1, il.z1)
        qw = torch._make_per_tensor_quantized_tensor(
            torch.from_numpy(np.ascontiguousarray(il.q_w.T.astype(np.int8))), il.s2, il.z2
        )
        packed = torch.ops.quantized.linear_prepack(qw, torch.from_numpy(np.array(bias)))
        out = torch.ops.quantized.linear(qx, packed, il.s3, il.z3)
    finally:
        torch.backends.quantized.engine = before
    return out.int_repr().numpy().astype(np.int64)


def _vpmaddubsw_result(il) -> np.ndarray:
    """What fbgemm's non-VNNI kernels compute: u8 x s8 products added in pairs with int16 saturation."""
    prod = il.q_in.astype(np.int64)[:, :, None] * il.q_w.astype(np.int64)[None]
    pairs = np.clip(prod[:, 0::2] + prod[:, 1::2], -32768, 32767)
    acc = pairs.sum(1) - il.z1 * il.q_w.sum(0) + il.q_bias  # z2 = 0 (symmetric weights)
    return np.clip(np.rint(acc * il.multiplier).astype(np.int64) + il.z3, 0, 255)


# qnnpack widens to int16 before multiplying (exact on every CPU); fbgemm / x86 are exact only on
# 7-bit activations (torch's reduce_range) unless the CPU has VNNI -- see engine/compression/quant/integer.py.
@pytest.mark.parametrize("engine, reduce_range", [("qnnpack", False), ("fbgemm", True), ("x86", True)])
def test_integer_only_layer_matches_torch_quantized_linear(mlp, engine, reduce_range):
    from engine.compression.quant.integer import integer_layer, requant_multiplier

    il = integer_layer("mlp", 0, "fc1", 8, reduce_range)
    assert 0.5 <= il.m0 < 1 and il.m0 * 2.0**-il.shift == pytest.approx(il.multiplier, rel=1e-12)
    assert il.max_lsb_diff_float <= 1 and il.max_lsb_diff_reference <= 1
    assert il.q_in.max() <= (127 if reduce_range else 255) and il.q_in.max() >= 100  # the grid is used
    out = _torch_quantized_linear(il, mlp.params["fc1.b"], engine)
    assert np.abs(out - il.q_out_int).max() <= 1
    if reduce_range:  # no pair can saturate on the 7-bit grid
        np.testing.assert_array_equal(_vpmaddubsw_result(il), il.q_out_int)
    assert requant_multiplier(0.75)[:2] == (0.75, 0) and requant_multiplier(0.1)[1] == 3
    with pytest.raises(EngineError, match="multiplier"):
        requant_multiplier(1.5)


_NO_VNNI_CHECK = """
import numpy as np, sys
sys.path.insert(0, "tests")
import test_train_distill as t
from engine.compression.quant.integer import integer_layer
from engine.compression.training import train_model
b = train_model("mlp", 0).params["fc1.b"]
full, seven = integer_layer("mlp", 0, "fc1", 8), integer_layer("mlp", 0, "fc1", 8, True)
np.testing.assert_array_equal(t._torch_quantized_linear(full, b, "fbgemm"), t._vpmaddubsw_result(full))
for engine in ("fbgemm", "x86"):
    assert np.abs(t._torch_quantized_linear(seven, b, engine) - seven.q_out_int).max() <= 1, engine
assert np.abs(t._torch_quantized_linear(full, b, "qnnpack") - full.q_out_int).max() <= 1
"""


@pytest.mark.slow
def test_oracle_holds_on_a_cpu_without_vnni():
    """fbgemm told to use AVX2 only (a CPU without VNNI): full-range 8-bit inputs give exactly the
    saturating vpmaddubsw result (the fresh-machine failure), 7-bit inputs and qnnpack stay within 1 LSB."""
    import os
    import platform
    import subprocess
    import sys
    from pathlib import Path

    if (
        platform.machine().lower() not in ("x86_64", "amd64")
        or "fbgemm" not in torch.backends.quantized.supported_engines
    ):
        pytest.skip("fbgemm's x86 kernels are not available here")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _NO_VNNI_CHECK],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_distillation_runs_and_validates():
    from engine.compression.distill import distill, softened

    r = distill(0, 4.0, 0.7)
    assert r.student_params < r.teacher_params / 8
    assert r.student_kd_accuracy > 0.8 and r.teacher_accuracy > r.student_alone_accuracy
    s = softened(0, 3, (1.0, 100.0))
    assert s["probs"][100.0].max() < s["probs"][1.0].max()
    np.testing.assert_allclose(s["probs"][100.0].sum(), 1.0)
    with pytest.raises(EngineError, match="temperature"):
        distill(0, 0.0)


def test_latency_model_and_pareto():
    spec = model_spec("mlp")
    t32, f = estimate_latency(spec)
    t8, _ = estimate_latency(spec, bits=8)
    assert f == 2 * (64 * 32 + 32 * 10) + 32 + 10 + 32  # matmuls + bias adds + relu
    assert t8 < t32
    a = Variant("a", "x", 0.9, 100, 1.0, 1)
    b = Variant("b", "x", 0.8, 200, 2.0, 1)
    c = Variant("c", "x", 0.95, 300, 0.5, 1)
    assert [v.pareto for v in mark_pareto([a, b, c])] == [True, False, True]
    vs = lab_variants("mlp", 0)
    assert {v.family for v in vs} == {"fp32", "ptq", "qat", "pruned", "2:4", "lowrank", "kd"}
    assert any(v.pareto for v in vs)
    with pytest.raises(EngineError, match="unknown hardware"):
        estimate_latency(spec, "abacus")
