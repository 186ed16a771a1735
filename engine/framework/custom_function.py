"""Custom autograd functions: the student writes a new op's forward and its backward (the VJP).

A program is two functions in the function language (function_language.py)::

    def forward(x: [4, 3]):            # the inputs and their shapes
        save(x)                         # what backward may use (ctx.save_for_backward in PyTorch)
        return x * sigmoid(x)

    def backward(grad):                 # grad: the incoming gradient dL/dy, shaped like the output
        s = sigmoid(x)
        return grad * (s + x * s * (1 - s))   # one gradient per input: dL/dx = grad * dy/dx

Stages of the check (custom_function_check.check):
  1. :func:`parse_custom` (here): both functions parsed; backward may read its own parameter, its own names
     and the names forward saved. Static findings: a forward name backward reads but forward did not
     save (*not saved for backward*: those values do not exist when backward runs), a backward that
     never reads ``grad`` (*the chain rule's incoming gradient forgotten*), a count of gradients that
     differs from the count of inputs;
  2. inputs drawn from the seed (float64) and a *random* incoming gradient ``g`` — with ``g = 1`` a
     backward that forgets ``grad`` would pass for an elementwise op;
  3. your VJP: backward run on ``g`` and the saved values; each gradient's shape is compared with its
     input's (a shape the input broadcasts to is summed back, as PyTorch's engine does, and flagged);
  4. central differences, per input element: (L(x + h e) - L(x - h e)) / 2h with L = sum(g * f(x)),
     h = 1e-6 * max(1, |x|) — the numeric VJP, no derivative rules involved;
  5. each input compared (rtol 1e-4): a match, or a diagnosis — the negative of the truth (a sign
     error), a constant multiple of it, a true gradient that is zero everywhere (a piecewise-constant
     forward: your backward is a surrogate, like a straight-through estimator), or a plain mismatch
     with the worst element.
:func:`use_in_graph` then puts the op inside a small model and runs the tape (tape.py) with your
backward as one entry. torch's view (its autograd, gradcheck, the grad_fn graph) is in
custom_function_torch.py. Not handled: ops with several outputs, double backward.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError, ProgramError
from .function_checker import parse_tree
from .function_eval import execute
from .function_language import Function, parse_functions
from .tape import CustomOp, TapeResult, grad_by_tape

OP_NAME = "my_op"


@dataclass(frozen=True)
class Example:
    title: str
    text: str


def _example(title: str, forward: str, backward: str) -> Example:
    return Example(title, f"def forward{forward}\n\ndef backward(grad):\n{backward}")


EXAMPLES = {
    "swish": _example(
        "swish: x · sigmoid(x)",
        "(x: [4, 3]):\n    save(x)\n    return x * sigmoid(x)\n",
        "    s = sigmoid(x)\n    return grad * (s + x * s * (1 - s))\n",
    ),
    "softplus": _example(
        "softplus: log(1 + exp(x))",
        "(x: [4, 3]):\n    save(x)\n    return softplus(x)\n",
        "    return grad * sigmoid(x)\n",
    ),
    "sigmoid_saves_output": _example(
        "sigmoid, saving its output",
        "(x: [4, 3]):\n    y = sigmoid(x)\n    save(y)\n    return y\n",
        "    return grad * y * (1 - y)\n",
    ),
    "fake_quant_ste": _example(
        "clipped rounding with a straight-through gradient",
        "(x: [4, 3]):\n    save(x)\n    return round(clip(x, -1, 1) * 4) / 4\n",
        "    return grad * (abs(x) <= 1)\n",
    ),
    "bias_softplus": _example(
        "softplus(x + b) with a broadcast bias",
        "(x: [4, 3], b: [3]):\n    save(x, b)\n    return softplus(x + b)\n",
        "    s = sigmoid(x + b)\n    return grad * s, sum(grad * s, axis=0)\n",
    ),
    "mistake_no_grad": _example(
        "mistake: the incoming gradient forgotten",
        "(x: [4, 3]):\n    save(x)\n    return x * sigmoid(x)\n",
        "    s = sigmoid(x)\n    return s + x * s * (1 - s)\n",
    ),
    "mistake_not_saved": _example(
        "mistake: x not saved for backward",
        "(x: [4, 3]):\n    return x * sigmoid(x)\n",
        "    s = sigmoid(x)\n    return grad * (s + x * s * (1 - s))\n",
    ),
    "mistake_bias_shape": _example(
        "mistake: the bias gradient not summed",
        "(x: [4, 3], b: [3]):\n    save(x, b)\n    return softplus(x + b)\n",
        "    s = sigmoid(x + b)\n    return grad * s, grad * s\n",
    ),
    "mistake_scalar": _example(
        "mistake: a gradient of the wrong shape",
        "(x: [4, 3]):\n    save(x)\n    return softplus(x)\n",
        "    return sum(grad * sigmoid(x))\n",
    ),
    "mistake_sign": _example(
        "mistake: a sign error in tanh's derivative",
        "(x: [4, 3]):\n    y = tanh(x)\n    save(y)\n    return y\n",
        "    return grad * (y * y - 1)\n",
    ),
}


def example_text(name: str) -> str:
    if name not in EXAMPLES:
        raise EngineError(f"there is no example named {name!r}; choose one of {', '.join(EXAMPLES)}")
    return EXAMPLES[name].text


@dataclass(frozen=True)
class CustomFunction:
    forward: Function
    backward: Function
    grad: str  # backward's parameter: the incoming gradient
    not_saved: tuple[str, ...]  # forward's names backward reads without forward saving them


def _forward_names(text: str) -> frozenset[str]:
    for st in parse_tree(text).body:
        if isinstance(st, ast.FunctionDef) and st.name == "forward":
            params = {a.arg for a in st.args.args}
            targets = {n.id for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            return frozenset(params | targets)
    return frozenset()


def parse_custom(text: str) -> CustomFunction:
    """Stage 1: the two functions, checked; ``not_saved`` lists the values backward would miss."""
    program = parse_functions(text, allow_save=True, known={"backward": _forward_names(text)})
    names = [f.name for f in program.functions]
    if sorted(names) != ["backward", "forward"]:
        raise ProgramError(
            "a custom function is two defs, forward(...) and backward(...); this program defines "
            f"{', '.join(names)}"
        )
    fwd, bwd = program.get("forward"), program.get("backward")
    if len(bwd.params) != 1:
        raise ProgramError("backward takes exactly one parameter: the incoming gradient", bwd.line, 1)
    if fwd.returns != 1:
        raise ProgramError("forward returns one value here (an op with one output)", fwd.line, 1)
    if bwd.saved:
        raise ProgramError("save(...) belongs in forward: it keeps values for backward", bwd.line, 1)
    grad = bwd.params[0]
    outside = bwd.reads - bwd.assigned - {grad}
    return CustomFunction(fwd, bwd, grad, tuple(sorted(outside - set(fwd.saved))))


# -- the op inside a graph ------------------------------------------------------------------------------
def model_text(cf: CustomFunction) -> str:
    """A small model around the op: ``h = x @ w`` (or ``x * w``), ``y = my_op(h, ...)``, loss
    ``sum(y * y)``; the op's other inputs become the model's parameters."""
    first = cf.forward.shapes[0]
    if len(first) == 2:
        params, line = [f"x: [{first[0]}, {first[1]}]", f"w: [{first[1]}, {first[1]}]"], "h = x @ w"
    else:
        params, line = [f"x: {list(first)}", f"w: {list(first)}"], "h = x * w"
    others = []
    for p, shape in zip(cf.forward.params[1:], cf.forward.shapes[1:]):
        name = p + "_" if p in ("x", "w", "h", "y") else p
        others.append(name)
        params.append(f"{name}: {list(shape)}")
    call = ", ".join(["h", *others])
    return f"def model({', '.join(params)}):\n    {line}\n    y = {OP_NAME}({call})\n    return sum(y * y)\n"


def custom_op(cf: CustomFunction) -> CustomOp:
    """The op for the tape: forward and backward run by the interpreter."""

    def forward(values):
        run = execute(cf.forward, dict(zip(cf.forward.params, values)))
        return run.value, run.saved

    def backward(saved, g):
        return execute(cf.backward, {cf.grad: g}, scope=saved).outputs

    return CustomOp(OP_NAME, forward, backward, len(cf.forward.params))


@dataclass(frozen=True)
class GraphUse:
    model: str  # the model's program text
    tape: TapeResult
    numeric: dict  # parameter -> central-difference gradient of the model's loss
    max_error: float  # the tape's gradients against those, relative


def parse_model(cf: CustomFunction) -> Function:
    n = len(cf.forward.params)
    return parse_functions(model_text(cf), extra_calls={OP_NAME: (n, n)}).functions[0]


def use_in_graph(text: str, seed: int = 0) -> GraphUse:
    """The op inside :func:`model_text`'s model: the tape's entries (your backward is one of them)
    and the gradients it gives, checked against central differences of the whole model."""
    cf = parse_custom(text)
    if cf.not_saved or cf.backward.returns != len(cf.forward.params):
        raise EngineError("fix the errors the checker found first: backward cannot run as it is")
    model = parse_model(cf)
    op = custom_op(cf)
    rng = np.random.default_rng(seed + 2)
    inputs = {p: rng.normal(size=s) for p, s in zip(model.params, model.shapes)}
    tape = grad_by_tape(model, inputs, {OP_NAME: op})
    numeric = {}
    scope = {OP_NAME: lambda *values: op.forward(list(values))[0]}
    for name, x in inputs.items():
        grad = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            h = 1e-6 * max(1.0, abs(float(x[idx])))
            ends = []
            for step in (h, -h):
                moved = x.copy()
                moved[idx] += step
                ends.append(float(_run_model(model, {**inputs, name: moved}, scope)))
            grad[idx] = (ends[0] - ends[1]) / (2 * h)
        numeric[name] = grad
    scale = max(1.0, *(float(np.max(np.abs(g))) for g in numeric.values()))
    err = max(float(np.max(np.abs(tape.grads[p] - numeric[p]))) for p in numeric) / scale
    return GraphUse(model_text(cf), tape, numeric, err)


def _run_model(model: Function, inputs: dict, calls: dict):
    from .function_eval import Backend

    return execute(model, inputs, Backend(calls)).value
