"""Control flow in graphs (engine/framework/function_*.py, control_flow*.py, tape.py,
source_transform.py) against hand-written PyTorch: eager values, the converted cond/while_loop graph,
both autodiff techniques against torch autograd, and what fx, jit.trace, dynamo and export do with our
interpreter compared with what they do with the same function written directly in Python."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.core.errors import BudgetError, EngineError, ProgramError, ShapeError
from engine.framework import control_flow_lab as cfl
from engine.framework.control_flow import run_graph, to_graph_ops
from engine.framework.function_eval import execute
from engine.framework.function_language import parse_functions
from engine.framework.source_transform import reverse_program
from engine.framework.tape import grad_by_tape

torch = pytest.importorskip("torch")


# -- the examples written directly in PyTorch: the oracles -----------------------------------------------
def branch_on_value(x, w):
    h = x @ w
    y = torch.sin(h) if torch.sum(h) > 0 else torch.cos(h) * 2
    return torch.sum(y)


def loop_until(x, w):
    h = x @ w
    while torch.sum(torch.abs(h)) < 10:
        h = h * 2
    return torch.sum(h)


def newton_sqrt(x):
    a = torch.abs(x) + 1
    y = a
    while torch.sum(torch.abs(y * y - a)) > 1e-6:
        y = 0.5 * (y + a / y)
    return torch.sum(y)


def loop_with_branch(x, w):
    h = x @ w
    while torch.sum(h * h) < 20:
        h = h * 2 if torch.sum(h) > 0 else h - 1
    return torch.sum(torch.tanh(h))


def fixed_loop(x, w):
    h = x
    for _ in range(3):
        h = torch.tanh(h @ w)
    return torch.sum(h)


def select_not_branch(x, w):
    h = x @ w
    y = torch.where(h > 0, h, 0.1 * h)
    return torch.sum(y * y)


ORACLES = {
    f.__name__: f
    for f in (branch_on_value, loop_until, newton_sqrt, loop_with_branch, fixed_loop, select_not_branch)
}


def _cases():
    for name in ORACLES:
        fn = cfl.parse(cfl.example_text(name))
        for k, inputs in enumerate(cfl.sample_inputs(fn)):
            yield pytest.param(name, fn, inputs, id=f"{name}-{k}")


def _torch_grads(name, fn, inputs):
    leaves = [torch.tensor(inputs[p], requires_grad=True) for p in fn.params]
    out = ORACLES[name](*leaves)
    return float(out.detach()), dict(zip(fn.params, (g.numpy() for g in torch.autograd.grad(out, leaves))))


@pytest.mark.parametrize("name,fn,inputs", list(_cases()))
def test_eager_graph_tape_and_derivative_program_equal_torch(name, fn, inputs):
    value, grads = _torch_grads(name, fn, inputs)
    assert float(execute(fn, inputs).value) == pytest.approx(value, rel=1e-12)
    assert float(run_graph(to_graph_ops(fn), inputs, check_both=True)[0]) == pytest.approx(value, rel=1e-12)
    tape = grad_by_tape(fn, inputs)
    derived = parse_functions(reverse_program(fn).text, allow_stack=True).functions[0]
    by_program = execute(derived, inputs, max_steps=10**6).outputs
    for p, g in zip(fn.params, by_program):
        np.testing.assert_allclose(tape.grads[p], grads[p], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, grads[p], rtol=1e-10, atol=1e-12)


def test_the_examples_take_both_branches_and_several_trip_counts():
    rows = cfl.compare(cfl.example_text("branch_on_value")).rows
    assert {r.path for r in rows} == {("if@3: True",), ("if@3: False",)}
    trips = {r.path for r in cfl.compare(cfl.example_text("loop_until")).rows}
    assert len(trips) >= 2 and all(r.same for r in cfl.compare(cfl.example_text("loop_until")).rows)


def test_the_conversion_makes_cond_and_while_loop_ops_with_regions():
    graph = to_graph_ops(cfl.parse(cfl.example_text("loop_with_branch")))
    assert graph.count("while_loop") == 1 and graph.count("cond") == 1
    text = cfl.converted_text(graph)
    assert "def cond_" in text and "def body_" in text and "def then_" in text and "while_loop(" in text
    dag = cfl.graph_dag(graph)
    assert {name.split("_")[0] for name, _ in dag.groups} == {"cond", "body", "then", "else"}
    assert len(dag.to_graph().nodes) == len(dag.nodes)  # every node drawn, no cycle
    assert to_graph_ops(cfl.parse(cfl.example_text("select_not_branch"))).count("cond") == 0


@pytest.mark.parametrize(
    "text,error,match",
    [
        (cfl.example_text("one_branch_mistake"), ProgramError, "assigned only in one branch"),
        (
            "def f(x: [3]):\n    while sum(x) < 9:\n        z = x\n        x = x + 1\n    return x\n",
            ProgramError,
            "first assigned inside this while loop",
        ),
    ],
)
def test_the_conversion_refuses_what_a_graph_op_cannot_express(text, error, match):
    fn = parse_functions(text).functions[0]
    with pytest.raises(error, match=match):
        to_graph_ops(fn)


def test_shapes_must_agree_across_branches_and_trips():
    two = (
        "def f(x: [4, 3]):\n    if sum(x) > 0:\n        y = sum(x, axis=0)\n    else:\n        y = x\n"
        "    return sum(y)\n"
    )
    fn = parse_functions(two).functions[0]
    inputs = {"x": np.ones((4, 3))}
    assert float(execute(fn, inputs).value) == 12.0  # eager Python does not mind
    with pytest.raises(ShapeError, match=r"shapes \[3\] and \[4, 3\]"):
        run_graph(to_graph_ops(fn), inputs, check_both=True)
    grow = (
        "def f(x: [2, 2]):\n    while sum(x) < 100:\n        x = transpose(x) @ x + sum(x, axis=0)\n"
        "    return sum(x)\n"
    )
    fn = parse_functions(grow).functions[0]
    assert run_graph(to_graph_ops(fn), {"x": np.ones((2, 2))})[0] > 100  # broadcasting keeps [2, 2]
    shrink = "def f(x: [4, 3]):\n    while sum(x) > 1:\n        x = mean(x, axis=0)\n    return sum(x)\n"
    with pytest.raises(ShapeError, match="same shape on every trip"):
        run_graph(to_graph_ops(parse_functions(shrink).functions[0]), {"x": np.ones((4, 3))})


@pytest.mark.parametrize(
    "text,match",
    [
        ("def f(x):\n    for i in x:\n        x = x\n    return x\n", "for loops (use while)"),
        ("def f(x):\n    return x.sum()\n", "attribute access"),
        ("def f(x):\n    if sum(x) > 0:\n        return x\n    return x\n", "last line"),
        ("def f(x):\n    y = sin(x)\n    return yy\n", "did you mean 'y'"),
        (
            "def f(x):\n    while sum(x) > 0:\n        x = x\n    else:\n        x = x\n    return x\n",
            "while ... else",
        ),
        ("x = 1\n", "def blocks"),
        ("def f(x):\n    save(x)\n    return x\n", "unknown function 'save'"),
        ("def f(x: [0]):\n    return x\n", "from 1 to 4096"),
    ],
)
def test_the_language_refuses_with_a_located_message(text, match):
    with pytest.raises(ProgramError, match=re.escape(match)) as err:
        parse_functions(text)
    assert err.value.line >= 1


def test_runaway_loops_and_tensor_conditions_are_stopped():
    forever = parse_functions(
        "def f(x: [3]):\n    while 1 > 0:\n        x = x + 1\n    return x\n"
    ).functions[0]
    with pytest.raises(BudgetError, match="without returning"):
        execute(forever, {"x": np.zeros(3)})
    vector = parse_functions("def f(x: [3]):\n    if x > 0:\n        x = -x\n    return x\n").functions[0]
    with pytest.raises(ProgramError, match=r"shape \[3\]; reduce it first"):
        execute(vector, {"x": np.ones(3)})


def test_the_tape_records_only_what_ran_and_the_program_stays_the_same_size():
    fn = cfl.parse(cfl.example_text("loop_until"))
    few, many = (cfl.sample_inputs(fn)[k] for k in (0, 2))  # 0 trips and 2 trips
    entries = [len(grad_by_tape(fn, x).entries) for x in (few, many)]
    assert entries[1] == entries[0] + 2 * 3  # each trip: mul, then the test's abs and sum again
    text = reverse_program(fn).text
    assert "push(" in text and "pop()" in text and "while n" in text
    straight = reverse_program(cfl.parse(cfl.example_text("select_not_branch"))).text
    assert "push(" not in straight  # nothing is overwritten, so nothing is stacked


# -- torch's capture mechanisms on our interpreter vs on the hand-written functions --------------------------
capture = pytest.importorskip("engine.framework.control_flow_capture")


def _hand(name, inputs, fn):
    return [torch.tensor(inputs[p]) for p in fn.params]


@pytest.mark.parametrize("name", ["branch_on_value", "fixed_loop", "select_not_branch"])
def test_dynamo_sees_our_interpreter_as_it_sees_the_function_written_in_python(name):
    fn = cfl.parse(cfl.example_text(name))
    for x in cfl.sample_inputs(fn)[:2]:
        torch._dynamo.reset()
        hand = torch._dynamo.explain(ORACLES[name])(*_hand(name, x, fn))
        ours = capture.dynamo_capture(fn, x).details
        assert (ours["graphs"], ours["breaks"]) == (hand.graph_count, hand.graph_break_count)
        assert ours["reasons"] == [str(r.reason).splitlines()[0] for r in hand.break_reasons]


@pytest.mark.parametrize("name", ["branch_on_value", "loop_until", "fixed_loop"])
def test_fx_jit_and_export_agree_with_the_hand_written_function(name):
    fn = cfl.parse(cfl.example_text(name))
    inputs = cfl.sample_inputs(fn)
    caps = capture.capture_all(cfl.example_text(name))

    def fails(f) -> bool:
        try:
            f()
            return False
        except Exception:  # noqa: BLE001 - whether torch refuses is what is compared
            return True

    assert caps.fx.ok == (not fails(lambda: torch.fx.symbolic_trace(ORACLES[name])))

    class Hand(torch.nn.Module):
        def forward(self, *args):
            return ORACLES[name](*args)

    assert caps.export.ok == (
        not fails(lambda: torch.export.export(Hand(), tuple(_hand(name, inputs[0], fn))))
    )
    traced = torch.jit.trace(ORACLES[name], tuple(_hand(name, inputs[0], fn)), check_trace=False)
    for row, x in zip(caps.jit.details["rows"], inputs):
        assert row["traced"] == pytest.approx(float(traced(*_hand(name, x, fn))), rel=1e-12)
        assert row["eager"] == pytest.approx(float(ORACLES[name](*_hand(name, x, fn))), rel=1e-12)
    assert caps.jit.details["frozen"] == (name != "fixed_loop")
    assert caps.eager.ok and caps.eager.details["grad_fn"] == "SumBackward0"


def test_capture_some_makes_only_the_lenses_asked_for_and_each_as_capture_all_does(monkeypatch):
    text = cfl.example_text("loop_until")
    whole = capture.capture_all(text)
    some = capture.capture_some(text, 0, ("jit", "eager"))
    assert list(some) == ["jit", "eager"]
    for method, cap in some.items():
        other = getattr(whole, method)
        assert (cap.method, cap.ok, cap.message) == (other.method, other.ok, other.message)
        assert cap.dag == other.dag
    assert some["jit"].details["rows"] == whole.jit.details["rows"]

    def no_compile(*_):
        raise AssertionError("dynamo compiled a lens nobody asked for")

    monkeypatch.setattr(capture, "dynamo_capture", no_compile)
    assert set(capture.capture_some(text, 0, ("eager", "fx", "jit", "export"))) == {
        "eager",
        "fx",
        "jit",
        "export",
    }
    with pytest.raises(EngineError, match="unknown capture compile: use one of eager, fx"):
        capture.capture_some(text, 0, ("compile",))
