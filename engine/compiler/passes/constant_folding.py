"""Constant folding: evaluate at compile time every op whose inputs are all known.

Stages (one forward sweep):
  1. a node is *static* if it is a ``constant`` or a ``param`` (for inference, weights are constants
     — the same view onnxruntime takes of initializers), or an op whose inputs are all static;
  2. evaluate each static op with its registry kernel on its inputs' values (parameters take the
     value the interpreter gives them with seed 0, or their stored value);
  3. replace it by a source node of the same name holding the result: a ``constant`` if only
     constants fed it, else a ``param`` with that value (still counted as weights);
  4. inputs that lost their last user are swept; the log names what was folded.
Before stage 2 the static part is checked against the run budget (:func:`engine.core.cost_model.check_run`:
its FLOPs, and its values held twice, as arrays and as stored tensors).
After this pass the folded weights are frozen at their values: run the new graph with seed 0 (the
default) or with the same parameter values. Not handled: folding through graph inputs (their values
are only known at run time), shape-only folding (shapes are static in this IR already).
"""

from __future__ import annotations

import numpy as np

from ...core.cost_model import check_run
from ...core.interpreter import apply_op, source_value
from ...core.ir import Graph, Tensor
from .common import Rewriter, names_preview


def check_static_part(graph: Graph) -> None:
    """Refuse folding a static part over the run budget, before evaluating any of it."""
    static: list = []
    known: set[str] = set()
    for node in graph.nodes:
        if node.op in ("param", "constant") or (
            not node.is_source and node.inputs and all(i in known for i in node.inputs)
        ):
            static.append(node)
            known.add(node.name)
    if any(not n.is_source for n in static):
        part = Graph(tuple(static), (static[-1].name,), graph.title)
        check_run(part, "constant folding", memory_scale=2)


def constant_folding(graph: Graph) -> tuple[Graph, list[str]]:
    """``graph`` with every all-static op replaced by its value, and a log."""
    check_static_part(graph)
    rw = Rewriter(graph)
    values: dict[str, np.ndarray] = {}
    has_param: dict[str, bool] = {}
    folded: list[str] = []

    def value_of(name: str) -> np.ndarray:
        if name not in values:
            values[name] = source_value(graph.node(name), 0)
        return values[name]

    for node in graph.nodes:
        if node.is_source:
            rw.emit(node)
            if node.op != "input":
                has_param[node.name] = node.op == "param"
            continue
        if not node.inputs or any(i not in has_param for i in node.inputs):
            rw.emit(node)
            continue
        with np.errstate(all="ignore"):
            out = apply_op(node, [value_of(i) for i in node.inputs])
        out = np.asarray(out, dtype=np.float32)
        values[node.name] = out
        is_param = any(has_param[i] for i in node.inputs)
        has_param[node.name] = is_param
        attrs = {"value": Tensor(out)}
        if is_param:
            attrs["init"] = "normal"
        rw.emit(node.replace(op="param" if is_param else "constant", inputs=(), attrs=attrs, dtype="float32"))
        folded.append(node.name)
    if not folded:
        return graph, ["constant_folding: no op has only constant or weight inputs"]
    return rw.finish(), [
        f"constant_folding: folded {len(folded)} op(s) into stored values: {names_preview(folded)}"
    ]
