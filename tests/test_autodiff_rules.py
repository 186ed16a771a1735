"""Every op's VJP and JVP rule against torch.autograd / torch.func.jvp (float64 oracle), against
central differences of our own kernel, and against each other (u^T (J v) == (J^T u)^T v)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.registry import get_op
from engine.framework.autodiff_rules import RULES, DifferentiationError, missing_rules, rule_for

torch = pytest.importorskip("torch")
F = torch.nn.functional

POS = "pos"  # inputs drawn from (0.5, 2): log, sqrt, pow base, divisor
INT = "int"  # whole numbers in [-4, 4]: quantised values and zero points


def _gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    out = alpha * ((a.T if trans_a else a) @ (b.T if trans_b else b))
    return out if c is None else out + beta * c


def _bn(x, s, b, m, v, epsilon=1e-5):
    sh = (1, -1, 1, 1)
    return (x - m.reshape(sh)) / torch.sqrt(v.reshape(sh) + epsilon) * s.reshape(sh) + b.reshape(sh)


def _slice(x):
    return x[1:3, ::2]


def _ste_quantize(qmin, qmax, axis=None):
    """QuantizeLinear with the straight-through estimator, written in torch (scale and zero point
    are not learned: detached)."""

    def fn(x, s, z=None):
        shape = [1] * x.dim()
        if axis is not None:
            shape[axis] = -1
        s = s.detach().reshape(shape) if axis is not None else s.detach()
        t = x / s
        q = t + (torch.round(t) - t).detach()  # torch.round is round half to even
        if z is not None:
            q = q + (z.detach().reshape(shape) if axis is not None else z.detach())
        return torch.clamp(q, qmin, qmax)

    return fn


def _dequantize(axis=None):
    def fn(q, s, z=None):
        shape = [1] * q.dim()
        if axis is not None:
            shape[axis] = -1
        s = s.reshape(shape) if axis is not None else s
        z = 0 if z is None else z.reshape(shape) if axis is not None else z
        return (q - z) * s

    return fn


# op -> list of (input shapes, domains per input, attrs, torch function of the inputs)
CASES = {
    "neg": [([(3, 4)], [None], {}, torch.neg)],
    "exp": [([(3, 4)], [None], {}, torch.exp)],
    "log": [([(3, 4)], [POS], {}, torch.log)],
    "sin": [([(5,)], [None], {}, torch.sin)],
    "cos": [([(5,)], [None], {}, torch.cos)],
    "tanh": [([(2, 3)], [None], {}, torch.tanh)],
    "sigmoid": [([(2, 3)], [None], {}, torch.sigmoid)],
    "relu": [([(4, 4)], [None], {}, torch.relu)],
    "relu6": [([(4, 4)], ["wide"], {}, F.relu6)],
    "gelu": [([(4, 4)], [None], {}, F.gelu)],
    "hswish": [([(4, 4)], ["wide"], {}, F.hardswish)],
    "sqrt": [([(4,)], [POS], {}, torch.sqrt)],
    "abs": [([(4,)], [None], {}, torch.abs)],
    "square": [([(4,)], [None], {}, torch.square)],
    "erf": [([(4,)], [None], {}, torch.erf)],
    "leaky_relu": [([(6,)], [None], {"alpha": 0.1}, lambda x: F.leaky_relu(x, 0.1))],
    "clip": [([(6,)], [None], {"min": -0.5, "max": 0.7}, lambda x: torch.clamp(x, -0.5, 0.7))],
    "identity": [([(2, 3)], [None], {}, lambda x: x * 1)],
    "add": [([(3, 4), (4,)], [None, None], {}, torch.add)],
    "sub": [([(3, 1), (1, 4)], [None, None], {}, torch.sub)],
    "mul": [([(2, 3, 4), (3, 1)], [None, None], {}, torch.mul)],
    "div": [([(3, 4), (4,)], [None, POS], {}, torch.div)],
    "pow": [([(3, 4), (3, 4)], [POS, None], {}, torch.pow), ([(3,), ()], [POS, None], {}, torch.pow)],
    "max": [([(3, 4), (4,)], [None, None], {}, torch.maximum)],
    "min": [([(3, 4), (3, 4)], [None, None], {}, torch.minimum)],
    "matmul": [
        ([(3, 4), (4, 5)], [None, None], {}, torch.matmul),
        ([(2, 3, 4), (4,)], [None, None], {}, torch.matmul),
        ([(4,), (2, 4, 3)], [None, None], {}, torch.matmul),
    ],
    "gemm": [
        (
            [(4, 3), (5, 4), (5,)],
            [None] * 3,
            {"alpha": 0.5, "beta": 2.0, "trans_a": 1, "trans_b": 1},
            lambda a, b, c: _gemm(a, b, c, 0.5, 2.0, 1, 1),
        ),
        ([(3, 4), (4, 2)], [None] * 2, {}, _gemm),
    ],
    "conv2d": [
        (
            [(2, 4, 7, 6), (6, 2, 3, 2), (6,)],
            [None] * 3,
            {"stride": (2, 1), "pad": 1, "dilation": (1, 2), "groups": 2},
            lambda x, w, b: F.conv2d(x, w, b, (2, 1), 1, (1, 2), 2),
        ),
        (
            [(1, 3, 5, 5), (3, 1, 3, 3)],
            [None] * 2,
            {"groups": 3, "pad": 1},
            lambda x, w: F.conv2d(x, w, None, 1, 1, 1, 3),
        ),
    ],
    "batchnorm": [
        (
            [(2, 3, 4, 4), (3,), (3,), (3,), (3,)],
            [None, None, None, None, POS],
            {"epsilon": 1e-3},
            lambda *a: _bn(*a, epsilon=1e-3),
        )
    ],
    "maxpool": [
        ([(2, 3, 6, 5)], [None], {"kernel": 3, "stride": 2, "pad": 1}, lambda x: F.max_pool2d(x, 3, 2, 1))
    ],
    "avgpool": [
        (
            [(2, 3, 6, 5)],
            [None],
            {"kernel": (3, 2), "stride": 1, "pad": 1},
            lambda x: F.avg_pool2d(x, (3, 2), 1, 1, count_include_pad=False),
        )
    ],
    "global_avgpool": [([(2, 3, 4, 5)], [None], {}, lambda x: x.mean((2, 3), keepdim=True))],
    "reshape": [([(2, 6)], [None], {"shape": (3, -1)}, lambda x: x.reshape(3, 4))],
    "flatten": [([(2, 3, 4)], [None], {"axis": 2}, lambda x: x.reshape(6, 4))],
    "transpose": [([(2, 3, 4)], [None], {"perm": (2, 0, 1)}, lambda x: x.permute(2, 0, 1))],
    "concat": [([(2, 3), (4, 3), (1, 3)], [None] * 3, {"axis": 0}, lambda *xs: torch.cat(xs, 0))],
    "split": [([(2, 6)], [None], {"parts": 3, "axis": 1, "index": 1}, lambda x: torch.chunk(x, 3, 1)[1])],
    "slice": [([(4, 5)], [None], {"starts": (1, 0), "ends": (3, 5), "steps": (1, 2)}, _slice)],
    "softmax": [([(3, 5)], [None], {"axis": 0}, lambda x: torch.softmax(x, 0))],
    "layernorm": [
        (
            [(2, 3, 4), (3, 4), (3, 4)],
            [None] * 3,
            {"axis": 1, "epsilon": 1e-5},
            lambda x, s, b: F.layer_norm(x, (3, 4), s, b, 1e-5),
        )
    ],
    "attention": [
        (
            [(2, 3, 4), (2, 5, 4), (2, 5, 6)],
            [None] * 3,
            {"scale": 0.7},
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7),
        ),
        (  # default scale 1/sqrt(4); k and v shared by both batch entries of q (broadcast)
            [(2, 3, 4), (5, 4), (5, 2)],
            [None] * 3,
            {},
            lambda q, k, v: torch.softmax(q @ k.T / 2.0, -1) @ v,
        ),
    ],
    "reduce_sum": [([(2, 3, 4)], [None], {"axes": (0, 2), "keepdims": 0}, lambda x: x.sum((0, 2)))],
    "reduce_mean": [
        ([(2, 3, 4)], [None], {"axes": (-1,), "keepdims": 1}, lambda x: x.mean(-1, keepdim=True))
    ],
    "reduce_max": [([(2, 3, 4)], [None], {"axes": (1,), "keepdims": 0}, lambda x: torch.amax(x, 1))],
    "quantize_linear": [
        ([(3, 4), ()], [None, POS], {"dtype": "int8"}, _ste_quantize(-128, 127)),
        (
            [(2, 3, 4), (3,), (3,)],
            ["wide", POS, INT],
            {"axis": 1, "dtype": "int8", "qmin": -8, "qmax": 7},
            _ste_quantize(-8, 7, axis=1),
        ),
    ],
    "dequantize_linear": [
        ([(3, 4), (), ()], [INT, POS, INT], {}, _dequantize()),
        ([(2, 3, 4), (3,)], [INT, POS], {"axis": -2}, _dequantize(axis=1)),
    ],
}
#: ops whose rule is a surrogate gradient, not the derivative of their kernel (a step function):
#: checked against torch's own straight-through estimator instead of central differences
SURROGATE = {"quantize_linear"}


def test_every_registered_op_has_a_rule_and_a_test_case():
    assert missing_rules() == []
    from engine.core.registry import op_names

    assert sorted(set(op_names()) - set(CASES)) == []


def test_op_without_rule_is_a_clear_error():
    with pytest.raises(DifferentiationError, match="'no_such_op' has no derivative rule"):
        rule_for("no_such_op")


def _draw(rng, shape, domain):
    if domain == POS:
        return rng.uniform(0.5, 2.0, shape)
    if domain == "wide":
        return rng.uniform(-8, 8, shape)
    if domain == INT:
        return rng.integers(-4, 5, shape).astype(np.float64)
    return rng.standard_normal(shape)


def _setup(op, case, seed):
    shapes, domains, attrs, fn = case
    rng = np.random.default_rng(seed)
    xs = [_draw(rng, s, d) for s, d in zip(shapes, domains)]
    full = {**get_op(op).attrs, **attrs}
    xt = [torch.tensor(x, requires_grad=True) for x in xs]
    yt = fn(*xt)
    y = yt.detach().numpy()
    return rng, xs, full, xt, yt, y, fn


ALL = [(op, k) for op, cases in CASES.items() for k in range(len(cases))]


@pytest.mark.parametrize("op,k", ALL)
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_vjp_matches_torch_autograd(op, k, seed):
    rng, xs, full, xt, yt, y, _ = _setup(op, CASES[op][k], seed)
    g = rng.standard_normal(y.shape)
    ours = RULES[op].vjp(xs, y, g, full, (True,) * len(xs))
    theirs = torch.autograd.grad(yt, xt, torch.tensor(g), allow_unused=True)
    for mine, ref, x in zip(ours, theirs, xs):
        ref = np.zeros_like(x) if ref is None else ref.numpy()
        assert mine.shape == x.shape
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,k", ALL)
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_jvp_matches_torch_forward_ad_and_vjp(op, k, seed):
    rng, xs, full, xt, yt, y, fn = _setup(op, CASES[op][k], seed)
    dxs = [rng.standard_normal(x.shape) for x in xs]
    ours = np.asarray(RULES[op].jvp(xs, y, dxs, full), np.float64)
    _, ref = torch.func.jvp(fn, tuple(torch.tensor(x) for x in xs), tuple(torch.tensor(d) for d in dxs))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-5, atol=1e-6)
    # u^T (J v) == (J^T u)^T v: forward and reverse mode agree
    u = rng.standard_normal(y.shape)
    back = RULES[op].vjp(xs, y, u, full, (True,) * len(xs))
    lhs = float(np.sum(u * ours))
    rhs = sum(float(np.sum(gb * d)) for gb, d in zip(back, dxs))
    # both sides sum many products that can cancel: the rules' rounding (float32 kernels, conv2d's
    # im2col) scales with the sum of |terms|, not with the result (a seed gave -0.031315 vs -0.031319)
    scale = float(np.sum(np.abs(u * ours))) + sum(float(np.sum(np.abs(gb * d))) for gb, d in zip(back, dxs))
    assert math.isclose(lhs, rhs, rel_tol=1e-5, abs_tol=1e-6 * scale + 1e-7)


@pytest.mark.parametrize("op,k", [(op, k) for op, k in ALL if op not in SURROGATE])
def test_jvp_matches_central_differences_of_our_kernel(op, k):
    """The rule agrees with *our* kernel (same attribute semantics), in the kernel's float32."""
    rng, xs, full, _, _, y, _ = _setup(op, CASES[op][k], 3)  # no input within h of a kink
    kernel = get_op(op).kernel
    xs32 = [x.astype(np.float32) for x in xs]
    dxs = [rng.standard_normal(x.shape) for x in xs]
    h = 1e-3
    plus = kernel([(x + h * d).astype(np.float32) for x, d in zip(xs, dxs)], full)
    minus = kernel([(x - h * d).astype(np.float32) for x, d in zip(xs, dxs)], full)
    numeric = (plus.astype(np.float64) - minus) / (2 * h)
    y32 = kernel(xs32, full).astype(np.float64)
    np.testing.assert_allclose(y32, y, rtol=1e-4, atol=1e-5)  # our kernel computes torch's function
    ours = RULES[op].jvp(xs, y, dxs, full)
    np.testing.assert_allclose(ours, numeric, rtol=2e-2, atol=2e-3)


def test_singularities_raise_clear_errors():
    with pytest.raises(DifferentiationError, match="log is not differentiable at x = -1"):
        RULES["log"].vjp([np.array([2.0, -1.0])], None, np.ones(2), {}, (True,))
    with pytest.raises(DifferentiationError, match="divisor b = 0"):
        RULES["div"].vjp([np.ones(2), np.array([1.0, 0.0])], np.ones(2), np.ones(2), {}, (True, True))
    with pytest.raises(DifferentiationError, match="sqrt is not differentiable"):
        RULES["sqrt"].jvp([np.array([0.0])], np.array([0.0]), [np.ones(1)], {})


def test_kinks_use_pytorch_one_sided_values():
    x = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(x).sum().backward()
    ours = RULES["relu"].vjp([x.detach().numpy()], None, np.ones(3), {}, (True,))[0]
    np.testing.assert_array_equal(ours, x.grad.numpy())


def test_kink_note_names_the_one_sided_value():
    from engine.framework.autodiff_rules import kink_note

    assert "one-sided value 0 is used" in kink_note("relu", np.array([0.0, 2.0]))
    assert kink_note("relu", np.array([1.0])) == ""
    assert "x = 6" in kink_note("relu6", np.array([6.0]))


@pytest.mark.parametrize("axis", [None, 1])
def test_quantize_then_dequantize_gradient_is_torch_fake_quantize(axis):
    """The chained rules of quantize_linear -> dequantize_linear give torch's fake_quantize gradient
    (torch's own straight-through estimator: g where the value lies inside the grid, else 0)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 3, (4, 3, 5)).astype(np.float32)
    scale = np.float32(0.02) if axis is None else np.array([0.01, 0.02, 0.05], np.float32)
    zero = np.int64(3) if axis is None else np.array([0, 3, -2], np.int64)
    at = {"axis": 1, "dtype": "int8", "qmin": -128, "qmax": 127}
    xs = [x.astype(np.float64), np.asarray(scale, np.float64), np.asarray(zero, np.float64)]
    q = get_op("quantize_linear").kernel(xs, at)
    g = rng.standard_normal(x.shape)
    (gq, _, _) = RULES["dequantize_linear"].vjp([q, *xs[1:]], None, g, at, (True, False, False))
    (gx, _, _) = RULES["quantize_linear"].vjp(xs, q, gq, at, (True, False, False))
    xt = torch.tensor(x, requires_grad=True)
    if axis is None:
        y = torch.fake_quantize_per_tensor_affine(xt, float(scale), int(zero), -128, 127)
    else:
        y = torch.fake_quantize_per_channel_affine(
            xt, torch.tensor(scale), torch.tensor(zero, dtype=torch.int32), axis, -128, 127
        )
    y.backward(torch.tensor(g, dtype=torch.float32))
    assert 0 < np.count_nonzero(gx == 0) < gx.size  # some values saturate, most do not
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
