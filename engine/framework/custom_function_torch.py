"""The custom function as PyTorch sees it: a real ``torch.autograd.Function`` built from the program.

Stages of :func:`torch_check` (torch imported lazily; float64 throughout):
  1. the reference: torch's own autograd of the *forward* expression (``torch.autograd.grad`` with
     the same random incoming gradient the checker used) — an oracle independent of your backward
     and of our central differences;
  2. your op as a ``torch.autograd.Function`` subclass named ``MyOp``: its ``forward`` runs your
     forward on tensors and hands the ``save(...)`` values to ``ctx.save_for_backward``; its
     ``backward`` runs your backward on ``ctx.saved_tensors`` and the incoming gradient. Applied
     and differentiated, it gives your VJP through torch's engine — or torch's own error (a gradient
     of the wrong shape is refused there; one the input broadcasts to is summed);
  3. ``torch.autograd.gradcheck`` on ``MyOp.apply``: torch's numerical Jacobian against the one your
     backward implies, one unit incoming gradient at a time;
  4. the op inside the small model of custom_function.model_text: the ``grad_fn`` graph torch
     records (a ``MyOpBackward`` node among torch's own), and the model's gradients through ``MyOp``
     against plain autograd of the same model with the forward written inline.
:func:`torch_source` prints the equivalent PyTorch code (text only: it is never run).
Not handled: ops whose forward returns a plain number (not a tensor).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

import numpy as np

from .custom_function import OP_NAME, CustomFunction, parse_custom, parse_model
from .custom_function_check import run_forward, sample
from .function_eval import MAX_RUN_STEPS, grad_fn_dag, run_code, torch_backend
from .graph_capture import Dag

CLASS_NAME = "MyOp"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def function_class(cf: CustomFunction):
    """Stage 2: ``MyOp``, a torch.autograd.Function running the student's two functions."""
    import torch

    be = torch_backend()

    def forward(ctx, *inputs):
        saved: dict = {}
        out = run_code(cf.forward.code, cf.forward.params, be, MAX_RUN_STEPS, [], saved, [0], *inputs)[0]
        tensors = {k: v for k, v in saved.items() if isinstance(v, torch.Tensor)}
        ctx.save_for_backward(*tensors.values())
        ctx.names, ctx.others = list(tensors), {k: v for k, v in saved.items() if k not in tensors}
        return out

    def backward(ctx, grad):
        scope = {**dict(zip(ctx.names, ctx.saved_tensors)), **ctx.others}
        names = (cf.grad, *scope)
        out = run_code(cf.backward.code, names, be, MAX_RUN_STEPS, [], {}, [0], grad, *scope.values())
        return out if len(out) > 1 else out[0]

    body = {"forward": staticmethod(forward), "backward": staticmethod(backward)}
    return type(CLASS_NAME, (torch.autograd.Function,), body)


@dataclass(frozen=True)
class TorchCheck:
    reference: dict = field(repr=False)  # input -> torch autograd of the forward expression
    yours: dict = field(repr=False)  # input -> your VJP through MyOp (empty if torch refused)
    function_error: str  # torch's error applying MyOp's backward, or ""
    gradcheck_ok: bool | None
    gradcheck_message: str
    usage_dag: Dag | None
    usage_error: str
    usage_max_error: float | None  # model gradients through MyOp vs plain autograd, relative


def _tensor(x, grad: bool = False):
    import torch

    return torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=grad)


def _usage(cf: CustomFunction, fn_class, seed: int):
    """Stage 4: the grad_fn graph of the model, and its gradients through MyOp vs inline."""
    import torch

    model = parse_model(cf)
    rng = np.random.default_rng(seed + 2)
    values = [rng.normal(size=s) for s in model.shapes]
    be_plain = torch_backend()

    def inline(*inputs):
        return run_code(cf.forward.code, cf.forward.params, be_plain, MAX_RUN_STEPS, [], {}, [0], *inputs)[0]

    grads = []
    for k, call in enumerate((fn_class.apply, inline)):
        leaves = [_tensor(v, grad=True) for v in values]
        be = torch_backend({OP_NAME: call})
        loss = run_code(model.code, model.params, be, MAX_RUN_STEPS, [], {}, [0], *leaves)[0]
        if k == 0:
            dag = grad_fn_dag(loss, {id(v): p for v, p in zip(leaves, model.params)})
        grads.append(torch.autograd.grad(loss, leaves))
    scale = max(1.0, *(float(g.abs().max()) for g in grads[1]))
    err = max(float((a - b).abs().max()) for a, b in zip(*grads)) / scale
    return dag, err


def torch_check(text: str, seed: int = 0) -> TorchCheck:
    """Stages 1-4 on the checker's inputs and incoming gradient (see the module docstring)."""
    import torch

    cf = parse_custom(text)
    inputs = sample(cf, seed)
    value, _ = run_forward(cf, inputs)
    g = _tensor(np.random.default_rng(seed + 1).normal(size=value.shape))
    leaves = [_tensor(inputs[p], grad=True) for p in cf.forward.params]
    out = run_code(cf.forward.code, cf.forward.params, torch_backend(), MAX_RUN_STEPS, [], {}, [0], *leaves)[
        0
    ]
    reference = dict(zip(cf.forward.params, (x.numpy() for x in torch.autograd.grad(out, leaves, g))))
    if cf.not_saved or cf.backward.returns != len(cf.forward.params):
        return TorchCheck(reference, {}, "backward cannot run as written", None, "", None, "", None)
    fn_class = function_class(cf)
    yours, error = {}, ""
    try:
        leaves = [_tensor(inputs[p], grad=True) for p in cf.forward.params]
        grads = torch.autograd.grad(fn_class.apply(*leaves), leaves, g)
        yours = {p: x.numpy() for p, x in zip(cf.forward.params, grads)}
    except Exception as exc:  # noqa: BLE001 - torch's refusal is the lesson
        error = _first_line(exc)
    try:
        leaves = tuple(_tensor(inputs[p], grad=True) for p in cf.forward.params)
        ok, message = bool(torch.autograd.gradcheck(fn_class.apply, leaves, atol=1e-5, rtol=1e-3)), ""
    except Exception as exc:  # noqa: BLE001 - a failed check raises with torch's explanation
        ok, message = False, _first_line(exc)
    try:
        dag, err, usage_error = *_usage(cf, fn_class, seed), ""
    except Exception as exc:  # noqa: BLE001
        dag, err, usage_error = None, None, _first_line(exc)
    return TorchCheck(reference, yours, error, ok, message, dag, usage_error, err)


# -- the equivalent PyTorch code (text) ---------------------------------------------------------------
_TORCH_NAMES = {"softplus": "torch.nn.functional.softplus", "clip": "torch.clamp", "transpose": "torch.t"}


class _ToTorch(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name == "save":
            node.func = ast.parse("ctx.save_for_backward", mode="eval").body
        elif name == "sum_like":
            target = ast.Attribute(node.args[0], "sum_to_size", ast.Load())
            return ast.Call(target, [ast.Attribute(node.args[1], "shape", ast.Load())], [])
        elif name:
            node.func = ast.parse(_TORCH_NAMES.get(name, f"torch.{name}"), mode="eval").body
            for k in node.keywords:
                k.arg = "dim" if k.arg == "axis" else k.arg
        return node


def _body(stmts, indent: str) -> list[str]:
    lines = []
    for st in stmts:
        text = ast.unparse(_ToTorch().visit(copy.deepcopy(st)))
        lines += [indent + line for line in text.splitlines()]
    return lines


def torch_source(text: str) -> str:
    """The same op written as a ``torch.autograd.Function`` (shown, never run)."""
    cf = parse_custom(text)
    saved = list(cf.forward.saved)
    unpack = (
        [f"        {', '.join(saved)}{',' if len(saved) == 1 else ''} = ctx.saved_tensors"] if saved else []
    )
    lines = [
        "import torch",
        "",
        f"class {CLASS_NAME}(torch.autograd.Function):",
        "    @staticmethod",
        f"    def forward(ctx, {', '.join(cf.forward.params)}):",
        *_body(cf.forward.body, "        "),
        "",
        "    @staticmethod",
        f"    def backward(ctx, {cf.grad}):",
        *unpack,
        *_body(cf.backward.body, "        "),
        "",
        f"# use it like any op: y = {CLASS_NAME}.apply({', '.join(cf.forward.params)})",
    ]
    return "\n".join(lines) + "\n"
