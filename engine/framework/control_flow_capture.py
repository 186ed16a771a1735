"""What PyTorch's four capture mechanisms see in the student's function (with ``if``/``while`` on data).

The function runs in our interpreter (function_eval.run_code) on torch tensors, so torch watches a
real Python program execute tensor ops and take Python branches, exactly as with a hand-written
function. For :func:`capture_all`, on the sample inputs of control_flow_lab.py (float64):
  1. **eager autograd** (define-by-run): run on tensors that require grad, walk ``grad_fn`` from the
     output back to the leaves — only the ops of the branch that ran, a loop unrolled trip by trip;
  2. **torch.fx.symbolic_trace**: run on Proxy objects; the first ``if``/``while`` on a Proxy needs a
     real True/False and raises ``TraceError`` (caught and shown);
  3. **torch.jit.trace**: record the ops of one run on the example input; the Python branch leaves
     no trace but a TracerWarning, so the trace replays the example's path on every input — we run
     it on all the sample inputs and compare with eager (a frozen branch gives wrong numbers, no
     error);
  4. **torch._dynamo.explain** (the front end of ``torch.compile``) splits the function into graphs at
     each branch on a tensor's value (a graph break; the reason is listed), and **torch.export** must
     capture one graph, so it refuses a branch on data (a guard on a data-dependent value).
Our interpreter's loop is one flat frame so that dynamo breaks exactly where the function branches.
A graph dynamo captured can also hold the interpreter's integer bookkeeping (its step counter
turned symbolic); only nodes that produce tensors are drawn. torch is imported lazily. Not handled:
functions returning several values (the first is used).
"""

from __future__ import annotations

import functools
import re
import warnings

from ..core.errors import EngineError
from ..core.limits import one_torch_trace_at_a_time
from .control_flow_lab import SCALES, parse, sample_inputs
from .function_eval import MAX_RUN_STEPS, execute, grad_fn_dag, run_code, torch_backend
from .function_language import Function
from .graph_capture import Capture, Captures, Dag, DagNode, _jit_dag, _quiet, explained_dag, reset_dynamo


def _torch():
    import torch

    return torch


def _call(fn: Function, be, *values):
    """One run of ``fn`` on torch values; the first returned value."""
    return run_code(fn.code, fn.params, be, MAX_RUN_STEPS, [], {}, [0], *values)[0]


def _wrapper(fn: Function, be):
    """A plain Python function of exactly ``len(fn.params)`` arguments (fx and export read the
    signature; the names fx gives the placeholders are replaced by the parameters' when drawn)."""
    run = functools.partial(_call, fn, be)
    arity = {
        1: lambda a: run(a),
        2: lambda a, b: run(a, b),
        3: lambda a, b, c: run(a, b, c),
        4: lambda a, b, c, d: run(a, b, c, d),
        5: lambda a, b, c, d, e: run(a, b, c, d, e),
        6: lambda a, b, c, d, e, f: run(a, b, c, d, e, f),
    }
    return arity[len(fn.params)]


def _tensors(fn: Function, inputs: dict, grad: bool = False):
    t = _torch()
    return [t.tensor(inputs[p], dtype=t.float64, requires_grad=grad) for p in fn.params]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def example_index(fn: Function, inputs: list[dict]) -> int:
    """The first sample input eager Python can run (tracing records that one)."""
    for k, x in enumerate(inputs):
        try:
            execute(fn, x)
            return k
        except Exception:  # noqa: BLE001 - an input this function cannot take
            continue
    return 0


@one_torch_trace_at_a_time
def eager_capture(fn: Function, x: dict) -> Capture:
    values = _tensors(fn, x, grad=True)
    out = _call(fn, torch_backend(), *values)
    if not getattr(out, "requires_grad", False):
        return Capture("eager", False, None, "the result does not depend on any input: no graph was recorded")
    out = out.sum() if out.dim() else out
    dag = grad_fn_dag(out, {id(v): p for v, p in zip(values, fn.params)})
    name = type(out.grad_fn).__name__
    return Capture(
        "eager",
        True,
        dag,
        f"the result has grad_fn={name}; {len(dag.nodes)} backward nodes were recorded while the code ran",
        {"value": float(out.detach()), "grad_fn": name, "nodes": len(dag.nodes)},
    )


def _rename_inputs(dag: Dag, params) -> Dag:
    names = iter(params)
    nodes = tuple(DagNode(n.id, next(names, n.label), n.kind) if n.kind == "input" else n for n in dag.nodes)
    return Dag(nodes, dag.edges, dag.title, dag.groups)


def _placeholder(name: str, params) -> str:
    """Dynamo names a graph input after where the interpreter kept it (``l_values_0_``: the first
    argument, ``l_env_h_``: the variable ``h``); the variable's name is what the student wrote."""
    m = re.fullmatch(r"l_(?:values|args)_(\d+)_", name)
    if m and int(m.group(1)) < len(params):
        return params[int(m.group(1))]
    m = re.fullmatch(r"l_env_(\w+?)_", name)
    return m.group(1) if m else name


def _fx_nodes(graph, prefix: str = "", tensors_only: bool = False, params=()) -> tuple[list, list]:
    t = _torch()
    nodes, edges, kept = [], [], set()
    for n in graph.nodes:
        value = n.meta.get("example_value")
        if tensors_only and n.op in ("placeholder", "call_function", "call_method"):
            if not isinstance(value, t.Tensor):
                continue
        if n.op == "placeholder":
            kind, label = "input", _placeholder(n.name, params)
        elif n.op == "output":
            kind, label = "output", "output"
        elif n.op == "get_attr":
            kind, label = "constant", n.name
        else:
            target = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            kind, label = "op", str(target)
        kept.add(n.name)
        nodes.append(DagNode(prefix + n.name, label, kind))
        edges.extend((prefix + a.name, prefix + n.name) for a in n.all_input_nodes if a.name in kept)
    return nodes, edges


@one_torch_trace_at_a_time
def fx_capture(fn: Function) -> Capture:
    t = _torch()
    try:
        gm = t.fx.symbolic_trace(_wrapper(fn, torch_backend()))
    except Exception as exc:  # noqa: BLE001 - the TraceError is the lesson
        return Capture(
            "fx",
            False,
            None,
            _first_line(exc),
            {
                "why": "symbolic tracing runs the code on Proxy objects; an if/while on a Proxy needs a "
                "real True/False, which does not exist yet"
            },
        )
    nodes, edges = _fx_nodes(gm.graph)
    calls = sum(1 for n in gm.graph.nodes if n.op.startswith("call"))
    dag = _rename_inputs(Dag(tuple(nodes), tuple(edges), "torch.fx symbolic trace"), fn.params)
    return Capture("fx", True, dag, f"{calls} calls recorded", {"calls": calls})


@one_torch_trace_at_a_time
def jit_capture(fn: Function, inputs: list[dict], k: int) -> Capture:
    t = _torch()
    be = torch_backend()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            traced = t.jit.trace(_wrapper(fn, be), tuple(_tensors(fn, inputs[k])), check_trace=False)
        except Exception as exc:  # noqa: BLE001
            return Capture("jit", False, None, _first_line(exc))
    notes = [str(c.message).split(". ")[0] for c in caught if "TracerWarning" in type(c.message).__name__]
    rows = []
    for scale, x in zip(SCALES, inputs):
        try:
            eager = float(_call(fn, be, *_tensors(fn, x)).sum())
        except Exception:  # noqa: BLE001 - eager cannot take this input
            continue
        replay = float(traced(*_tensors(fn, x)).sum())
        rows.append(
            {
                "scale": scale,
                "eager": eager,
                "traced": replay,
                "same": abs(eager - replay) <= 1e-9 * max(1, abs(eager)),
            }
        )
    wrong = [r for r in rows if not r["same"]]
    msg = (
        f"the traced graph gives the wrong value on {len(wrong)} of {len(rows)} inputs: it replays the "
        "path of the example input"
        if wrong
        else "the traced graph matches eager on every sample input"
    )
    dag = _rename_inputs(_jit_dag(traced.graph), fn.params)
    return Capture(
        "jit", True, dag, msg, {"warnings": notes, "rows": rows, "frozen": bool(wrong), "example": SCALES[k]}
    )


@one_torch_trace_at_a_time
def dynamo_capture(fn: Function, x: dict) -> Capture:
    t = _torch()
    run = functools.partial(run_code, fn.code, fn.params, torch_backend(), MAX_RUN_STEPS, [], {}, [0])
    with _quiet():
        reset_dynamo(t)
        try:
            ex = t._dynamo.explain(run)(*_tensors(fn, x))
        except Exception as exc:  # noqa: BLE001
            return Capture("dynamo", False, None, _first_line(exc))
        finally:
            reset_dynamo(t)
    dag, reasons = explained_dag(ex, lambda gm, prefix: _fx_nodes(gm.graph, prefix, True, fn.params))
    msg = f"{ex.graph_count} graph(s), {ex.graph_break_count} graph break(s)"
    return Capture(
        "dynamo",
        True,
        dag,
        msg,
        {"graphs": ex.graph_count, "breaks": ex.graph_break_count, "reasons": reasons},
    )


@one_torch_trace_at_a_time
def export_capture(fn: Function, inputs: list[dict], k: int) -> Capture:
    t = _torch()
    call = _wrapper(fn, torch_backend())

    class Wrapped(t.nn.Module):
        def forward(self, *args):
            return call(*args)

    with _quiet():
        try:
            ep = t.export.export(Wrapped(), tuple(_tensors(fn, inputs[k])))
        except Exception as exc:  # noqa: BLE001 - the data-dependent guard is the lesson
            return Capture(
                "export",
                False,
                None,
                _first_line(exc),
                {
                    "why": "export needs one graph for every input; the branch depends on a value it "
                    "cannot know at export time"
                },
            )
        refused = 0
        for x in inputs:
            try:
                ep.module()(*_tensors(fn, x))
            except Exception:  # noqa: BLE001 - a guard on what export specialised
                refused += 1
    nodes, edges = _fx_nodes(ep.graph)
    dag = _rename_inputs(Dag(tuple(nodes), tuple(edges), "torch.export graph (ATen ops)"), fn.params)
    msg = (
        "one graph captured; it runs on every sample input"
        if not refused
        else f"one graph captured; it refuses {refused} input(s)"
    )
    return Capture("export", True, dag, msg, {"refused": refused})


#: The lenses in the order the lab shows them (Captures.all()).
METHODS = ("eager", "fx", "jit", "dynamo", "export")


@one_torch_trace_at_a_time
def capture_some(text: str, seed: int = 0, methods: tuple[str, ...] = METHODS) -> dict[str, Capture]:
    """The lenses named in ``methods`` on the function in ``text``, and only those: dynamo compiles
    (0.5–1.5 s an example here), the others take 1–230 ms, so a page computes dynamo only while its
    tab is open. Each lens is the same as :func:`capture_all`'s."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        name, known = unknown[0], ", ".join(METHODS)
        raise EngineError(f"unknown capture {name}: use one of {known}")
    fn = parse(text)
    inputs = sample_inputs(fn, seed)
    k = example_index(fn, inputs)
    make = {
        "eager": lambda: eager_capture(fn, inputs[k]),
        "fx": lambda: fx_capture(fn),
        "jit": lambda: jit_capture(fn, inputs, k),
        "dynamo": lambda: dynamo_capture(fn, inputs[k]),
        "export": lambda: export_capture(fn, inputs, k),
    }
    return {m: make[m]() for m in dict.fromkeys(methods)}


@one_torch_trace_at_a_time
def capture_all(text: str, seed: int = 0) -> Captures:
    """The four lenses on the function in ``text`` (slow the first time: dynamo compiles; cache it)."""
    return Captures(parse(text).name, text, **capture_some(text, seed))
