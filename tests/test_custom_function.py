"""Custom autograd functions (engine/framework/custom_function*.py): the checker's verdicts against
torch's autograd and gradcheck, the classic mistakes each found with its own message, the op on the
tape of a small model against torch's grad_fn graph, and the printed PyTorch code run for real."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from engine.core.errors import EngineError, ProgramError
from engine.framework import custom_function as cfn
from engine.framework.custom_function_check import check, numeric_vjp, run_forward, sample
from ui import i18n

torch = pytest.importorskip("torch")
from engine.framework.custom_function_torch import torch_check, torch_source  # noqa: E402

CORRECT = ("swish", "softplus", "sigmoid_saves_output", "bias_softplus")
MISTAKES = {
    "mistake_no_grad": "no_grad",
    "mistake_not_saved": "not_saved",
    "mistake_bias_shape": "broadcast",
    "mistake_scalar": "shape",
    "mistake_sign": "sign",
    "fake_quant_ste": "surrogate",
}


def _kinds(result) -> set[str]:
    return {f.kind for f in result.findings}


@pytest.mark.parametrize("name", CORRECT)
def test_a_correct_backward_matches_torch_autograd_and_passes_gradcheck(name):
    text = cfn.example_text(name)
    result, tc = check(text), torch_check(text)
    assert _kinds(result) == {"ok"} and result.ok
    for c in result.inputs:  # ours (central differences) and the student's VJP against torch autograd
        np.testing.assert_allclose(c.numeric, tc.reference[c.name], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(c.yours, tc.reference[c.name], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tc.yours[c.name], tc.reference[c.name], rtol=1e-12, atol=1e-12)
    assert tc.gradcheck_ok is True and tc.function_error == ""


@pytest.mark.parametrize("name,kind", MISTAKES.items())
def test_each_classic_mistake_is_named(name, kind):
    result = check(cfn.example_text(name))
    assert kind in _kinds(result)
    assert "ok" not in _kinds(result)


def test_forgetting_grad_would_pass_a_check_with_ones_and_torch_gradcheck_fails_it():
    result = check(cfn.example_text("mistake_no_grad"))
    assert result.passes_with_ones is True and not result.ok
    assert torch_check(cfn.example_text("mistake_no_grad")).gradcheck_ok is False


def test_torch_agrees_on_what_a_wrong_shape_means():
    # a gradient the input broadcasts to: torch's engine sums it (equal to the reference)
    tc = torch_check(cfn.example_text("mistake_bias_shape"))
    assert tc.function_error == ""
    np.testing.assert_allclose(tc.yours["b"], tc.reference["b"], rtol=1e-12)
    assert check(cfn.example_text("mistake_bias_shape")).ok  # a warning, not an error
    # a scalar where a [4, 3] gradient is due: torch refuses it, and so does the checker
    tc = torch_check(cfn.example_text("mistake_scalar"))
    assert "invalid gradient" in tc.function_error and tc.gradcheck_ok is False
    assert not check(cfn.example_text("mistake_scalar")).ok


def test_a_sign_error_and_a_constant_factor_are_told_apart():
    half = cfn.example_text("softplus").replace("grad * sigmoid(x)", "0.5 * grad * sigmoid(x)")
    found = {f.kind: f.message for f in check(half).findings}
    assert "scale" in found and "0.5 times" in found["scale"]
    assert torch_check(half).gradcheck_ok is False
    wrong = cfn.example_text("softplus").replace("grad * sigmoid(x)", "grad * cos(x)")
    found = {f.kind: f.message for f in check(wrong).findings}
    assert set(found) == {"mismatch"} and re.search(r"at index \[\d, \d\]", found["mismatch"])


def test_the_straight_through_estimator_is_a_note_and_its_true_gradient_is_zero():
    text = cfn.example_text("fake_quant_ste")
    result, tc = check(text), torch_check(text)
    assert result.ok and "surrogate" in _kinds(result)
    assert np.all(tc.reference["x"] == 0)  # torch: round() has a zero derivative
    assert tc.gradcheck_ok is False


def test_static_mistakes_need_no_run_and_stop_the_backward():
    result = check(cfn.example_text("mistake_not_saved"))
    assert all(c.yours is None for c in result.inputs)
    assert "save(x)" in next(f.message for f in result.findings if f.kind == "not_saved")
    two_in = (
        "def forward(x: [3], b: [3]):\n    save(x)\n    return x * b\n\n"
        "def backward(grad):\n    return grad\n"
    )
    assert "count" in _kinds(check(two_in))


def test_numeric_vjp_equals_torch_jacobian_transpose_times_g():
    cf = cfn.parse_custom(cfn.example_text("bias_softplus"))
    inputs = sample(cf, 3)
    value, _ = run_forward(cf, inputs)
    g = np.random.default_rng(9).normal(size=value.shape)
    ours = numeric_vjp(cf, inputs, g)
    x, b = (torch.tensor(inputs[k], requires_grad=True) for k in ("x", "b"))
    gx, gb = torch.autograd.grad(torch.nn.functional.softplus(x + b), (x, b), torch.tensor(g))
    np.testing.assert_allclose(ours["x"], gx.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours["b"], gb.numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "text,match",
    [
        ("def forward(x):\n    return x\n", "two defs"),
        ("def forward(x):\n    return x\n\ndef backward(g, h):\n    return g\n", "exactly one parameter"),
        ("def forward(x):\n    return x.sum()\n\ndef backward(grad):\n    return grad\n", "attribute access"),
        ("def forward(x):\n    return x\n\ndef backward(grad):\n    return grd\n", "did you mean 'grad'"),
        (
            "def forward(x):\n    return x\n\ndef backward(grad):\n    save(grad)\n    return grad\n",
            "belongs in",
        ),
        ("def forward(x: [64, 64]):\n    return x\n\ndef backward(grad):\n    return grad\n", "1,024"),
    ],
)
def test_bad_programs_are_refused_with_a_message(text, match):
    with pytest.raises(EngineError, match=re.escape(match)):
        check(text)


def test_a_forward_giving_nan_is_reported():
    text = (
        "def forward(x: [3]):\n    save(x)\n    return log(x - 10)\n\n"
        "def backward(grad):\n    return grad / (x - 10)\n"
    )
    assert "nonfinite" in _kinds(check(text))


def test_the_op_in_a_graph_matches_torch_through_myop_and_through_central_differences():
    text = cfn.example_text("bias_softplus")
    use, tc = cfn.use_in_graph(text), torch_check(text)
    assert [e.op for e in use.tape.entries] == ["matmul", "my_op (custom)", "mul", "sum"]
    assert use.max_error < 1e-7 and tc.usage_max_error < 1e-12
    labels = {n.label for n in tc.usage_dag.nodes}
    assert {"MyOpBackward", "MmBackward0", "MulBackward0", "SumBackward0"} <= labels
    # the tape's gradients against torch's autograd of the same model with the forward inline
    rng = np.random.default_rng(2)
    x, w, b = (torch.tensor(rng.normal(size=s), requires_grad=True) for s in ((4, 3), (3, 3), (3,)))
    y = torch.nn.functional.softplus(x @ w + b)
    grads = torch.autograd.grad((y * y).sum(), (x, w, b))
    for name, g in zip(("x", "w", "b"), grads):
        np.testing.assert_allclose(use.tape.grads[name], g.numpy(), rtol=1e-10)


def test_a_wrong_backward_gives_wrong_model_gradients_on_the_tape():
    assert cfn.use_in_graph(cfn.example_text("mistake_sign")).max_error > 0.5
    with pytest.raises(EngineError, match="fix the errors"):
        cfn.use_in_graph(cfn.example_text("mistake_not_saved"))


@pytest.mark.parametrize("name", CORRECT)
def test_the_printed_pytorch_code_is_valid_and_right(name):
    source = torch_source(cfn.example_text(name))
    assert "class MyOp(torch.autograd.Function)" in source and "ctx.save_for_backward(" in source
    scope: dict = {}
    exec(compile(ast.parse(source), "<generated>", "exec"), scope)  # our own generated code, in a test
    cf = cfn.parse_custom(cfn.example_text(name))
    leaves = tuple(torch.tensor(v, requires_grad=True) for v in sample(cf).values())
    assert torch.autograd.gradcheck(scope["MyOp"].apply, leaves)


def test_every_finding_reads_in_chinese():
    zh = i18n.load_catalog("zh")
    for name in cfn.EXAMPLES:
        for f in check(cfn.example_text(name)).findings:
            assert re.search(r"[\u4e00-\u9fff]", zh.message(f.message)), f.message
    with pytest.raises(ProgramError) as err:
        check("def forward(x):\n    return x\n\ndef backward(grad):\n    return grd\n")
    assert re.search(r"[\u4e00-\u9fff]", zh.message(str(err.value)))
