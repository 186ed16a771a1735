"""Checking a custom function's backward (custom_function.py has the language and the examples).

Stages of :func:`check` (the first, parsing, is custom_function.parse_custom):
  2. inputs drawn from the seed (float64) and a *random* incoming gradient ``g`` — with ``g = 1`` a
     backward that forgets ``grad`` would pass for an elementwise op (:attr:`CheckResult.passes_with_ones`
     says whether it would have);
  3. your VJP: backward run on ``g`` and the saved values; each gradient's shape is compared with
     its input's (a shape the input broadcasts to is summed back, as PyTorch's engine does, and
     flagged; any other shape is an error);
  4. central differences, per input element: (L(x + h e) - L(x - h e)) / 2h with L = sum(g * f(x)),
     h = 1e-6 * max(1, |x|) — the numeric VJP, no derivative rules involved;
  5. each input compared (relative tolerance :data:`RTOL`): a match, or a diagnosis — the negative
     of the truth (a sign error), a constant multiple of it, a true gradient that is zero everywhere
     (a piecewise-constant forward: the backward is a surrogate, like a straight-through
     estimator), or a plain mismatch with the worst element.
Static findings (a value not saved, ``grad`` never read, a wrong count of gradients) come first;
the first and the last stop the backward from running. Not handled: inputs of more than
:data:`MAX_CHECK_ELEMENTS` elements (the walk is one forward run per element and direction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import budget
from ..core.errors import EngineError
from .custom_function import CustomFunction, parse_custom
from .function_eval import execute
from .function_ops import sum_like

MAX_CHECK_ELEMENTS = 1024  # input elements the central differences walk over
RTOL = 1e-4


@dataclass(frozen=True)
class Finding:
    """One thing the checker says: ``severity`` is error, warning, note or ok."""

    kind: str  # not_saved, no_grad, count, shape, broadcast, sign, scale, surrogate, mismatch, nonfinite, ok
    severity: str
    message: str
    input: str = ""


@dataclass(frozen=True)
class InputCheck:
    name: str
    shape: tuple[int, ...]
    grad_shape: tuple[int, ...] | None  # what backward returned for it
    yours: np.ndarray | None = field(repr=False)  # your VJP (summed to the input's shape if needed)
    numeric: np.ndarray = field(repr=False)
    max_error: float | None = None

    @property
    def ok(self) -> bool:
        return self.max_error is not None and self.max_error <= RTOL


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[Finding, ...]
    inputs: tuple[InputCheck, ...]
    grad_out: np.ndarray = field(repr=False)  # the random incoming gradient
    passes_with_ones: bool | None  # would a check with grad = 1 have passed?

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def sample(cf: CustomFunction, seed: int = 0) -> dict:
    """Stage 2's inputs: normal draws of the declared shapes (float64)."""
    total = sum(budget.numel(s) for s in cf.forward.shapes)
    if total > MAX_CHECK_ELEMENTS:
        raise EngineError(
            f"the inputs have {total:,} elements; the check walks every one, so keep them within "
            f"{MAX_CHECK_ELEMENTS:,}"
        )
    rng = np.random.default_rng(seed)
    return {p: rng.normal(size=s) for p, s in zip(cf.forward.params, cf.forward.shapes)}


def run_forward(cf: CustomFunction, inputs: dict) -> tuple[np.ndarray, dict]:
    run = execute(cf.forward, inputs)
    return np.asarray(run.value, dtype=np.float64), run.saved


def run_backward(cf: CustomFunction, saved: dict, g) -> list:
    run = execute(cf.backward, {cf.grad: g}, scope=saved)
    return [np.asarray(v, dtype=np.float64) for v in run.outputs]


def numeric_vjp(cf: CustomFunction, inputs: dict, g: np.ndarray) -> dict:
    """Stage 4: central differences of L = sum(g * forward(inputs)), one input element at a time."""
    out = {}
    for name, x in inputs.items():
        grad = np.zeros_like(x, dtype=np.float64)
        for idx in np.ndindex(x.shape):
            h = 1e-6 * max(1.0, abs(float(x[idx])))
            values = []
            for step in (h, -h):
                moved = x.copy()
                moved[idx] += step
                values.append(float(np.sum(g * run_forward(cf, {**inputs, name: moved})[0])))
            grad[idx] = (values[0] - values[1]) / (2 * h)
        out[name] = grad
    return out


def _close(a, b) -> bool:
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.allclose(a, b, rtol=RTOL, atol=RTOL * scale))


def _error(yours, numeric) -> float:
    scale = max(1.0, float(np.max(np.abs(numeric), initial=0.0)))
    return float(np.max(np.abs(yours - numeric), initial=0.0)) / scale


def _static_findings(cf: CustomFunction) -> list[Finding]:
    found = []
    if cf.not_saved:
        names = ", ".join(cf.not_saved)
        found.append(
            Finding(
                "not_saved",
                "error",
                f"backward uses {names}, which forward did not save: when backward runs, only "
                f"the saved values and {cf.grad} exist. Add save({names}) to forward "
                f"(ctx.save_for_backward in PyTorch).",
            )
        )
    if cf.grad not in cf.backward.reads:
        found.append(
            Finding(
                "no_grad",
                "error",
                f"backward never uses {cf.grad}, the incoming gradient: it returns the local "
                f"derivative dy/dx instead of {cf.grad} * dy/dx. The chain rule multiplies "
                "by the gradient that arrives from the rest of the graph.",
            )
        )
    n_in, n_out = len(cf.forward.params), cf.backward.returns
    if n_in != n_out:
        found.append(
            Finding(
                "count",
                "error",
                f"forward takes {n_in} input(s) but backward returns {n_out} gradient(s): "
                "return one gradient per input, in the same order.",
            )
        )
    return found


def _shape_finding(name: str, shape, got) -> Finding | None:
    if tuple(got) == tuple(shape):
        return None
    try:
        broadcasts = np.broadcast_shapes(tuple(shape), tuple(got)) == tuple(got)
    except ValueError:
        broadcasts = False
    if broadcasts:
        return Finding(
            "broadcast",
            "warning",
            f"the gradient for {name} has shape {list(got)} but {name} has shape {list(shape)}: "
            f"{name} was broadcast in forward, so its gradient must be summed over the broadcast "
            "axes (like sum(..., axis=0)). PyTorch's engine sums it for you; JAX's custom_vjp "
            "refuses it. Checked here after summing.",
            name,
        )
    return Finding(
        "shape",
        "error",
        f"the gradient for {name} has shape {list(got)} but {name} has shape {list(shape)}: a "
        "gradient always has the shape of its input (PyTorch refuses it: invalid gradient).",
        name,
    )


def _diagnose(name: str, yours, numeric, no_grad: bool) -> Finding | None:
    if _close(yours, numeric):
        return None
    if float(np.max(np.abs(numeric), initial=0.0)) < 1e-9:
        return Finding(
            "surrogate",
            "note",
            f"the true gradient for {name} is zero wherever it exists (forward is piecewise "
            "constant), yet your backward passes a gradient: a surrogate such as the "
            "straight-through estimator. That is deliberate in quantisation-aware training; "
            "a gradient check cannot agree with it.",
            name,
        )
    if _close(yours, -numeric):
        return Finding(
            "sign", "error", f"your gradient for {name} is the negative of the true one: a sign error.", name
        )
    dot = float(np.sum(numeric * numeric))
    factor = float(np.sum(yours * numeric)) / dot if dot > 0 else 0.0
    if abs(factor) > 1e-6 and _close(yours, factor * numeric):
        return Finding(
            "scale",
            "error",
            f"your gradient for {name} is {factor:.4g} times the true one: a constant factor is off.",
            name,
        )
    if no_grad:
        return None  # the static finding already says why
    worst = (
        np.unravel_index(int(np.argmax(np.abs(yours - numeric))), np.shape(numeric))
        if np.ndim(numeric)
        else ()
    )
    return Finding(
        "mismatch",
        "error",
        f"your gradient for {name} differs from central differences: at index {[int(i) for i in worst]} "
        f"yours is {float(yours[worst]):.6g}, the numeric one {float(numeric[worst]):.6g}.",
        name,
    )


def _compare(cf, inputs, grads, numeric, no_grad) -> tuple[list[InputCheck], list[Finding]]:
    checks, found = [], []
    for (name, x), got in zip(inputs.items(), grads):
        shape_note = _shape_finding(name, x.shape, got.shape)
        yours = None
        if shape_note is None or shape_note.kind == "broadcast":
            yours = sum_like(got, x)
        if shape_note is not None:
            found.append(shape_note)
        err = _error(yours, numeric[name]) if yours is not None else None
        if yours is not None:
            diagnosis = _diagnose(name, yours, numeric[name], no_grad)
            found += [diagnosis] if diagnosis else []
        checks.append(InputCheck(name, x.shape, tuple(got.shape), yours, numeric[name], err))
    return checks, found


def check(text: str, seed: int = 0) -> CheckResult:
    """The whole check of a custom function (see the module docstring)."""
    cf = parse_custom(text)
    found = _static_findings(cf)
    inputs = sample(cf, seed)
    value, saved = run_forward(cf, inputs)
    g = np.random.default_rng(seed + 1).normal(size=value.shape)
    if not np.all(np.isfinite(value)):
        return CheckResult(
            (
                *found,
                Finding(
                    "nonfinite",
                    "error",
                    "forward gives NaN or infinity on the test inputs (a log or sqrt of a negative number?)",
                ),
            ),
            (),
            g,
            None,
        )
    numeric = numeric_vjp(cf, inputs, g)
    if any(f.kind in ("not_saved", "count") for f in found):
        checks = [InputCheck(p, x.shape, None, None, numeric[p]) for p, x in inputs.items()]
        return CheckResult(tuple(found), tuple(checks), g, None)
    grads = run_backward(cf, saved, g)
    no_grad = any(f.kind == "no_grad" for f in found)
    checks, more = _compare(cf, inputs, grads, numeric, no_grad)
    found += more
    ones = np.ones_like(value)
    with_ones = run_backward(cf, saved, ones)
    numeric_ones = numeric_vjp(cf, inputs, ones)
    passes = all(
        np.shape(y) == np.shape(x) and _close(y, numeric_ones[p])
        for (p, x), y in zip(inputs.items(), with_ones)
    )
    if not found:
        worst = max((c.max_error or 0.0) for c in checks)
        found.append(
            Finding(
                "ok",
                "ok",
                f"your backward matches central differences on every input "
                f"(largest relative error {worst:.1e}).",
            )
        )
    return CheckResult(tuple(found), tuple(checks), g, passes)
