"""Writing a Graph back as a program of the safe language (the inverse of :func:`parse_program`).

:func:`format_program`, in stages:
  1. every node gets a readable, unique Python identifier (its name, sanitised; keywords and the
     language's own function names avoided);
  2. sources become ``input``/``param``/``constant`` lines; small constant values are written out;
  3. each op becomes an infix expression where Python has one (``+``, ``@``, ...) with the fewest
     parentheses its precedence needs, else a call with its non-default attributes;
  4. the outputs become one ``output(...)`` line.
Not handled: a graph whose constants are too large to write, or an op the language cannot call
(a ProgramError names it).
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Any

import numpy as np

from .errors import EngineError
from .ir import Graph, Tensor
from .language import MAX_LITERAL_ELEMENTS, SOURCES, STATEMENT_FUNCS
from .registry import all_ops

# --------------------------------------------------------------
_IDENT = re.compile(r"[^0-9A-Za-z_]")


def _identifier(name: str, taken: set[str], reserved: set[str]) -> str:
    base = _IDENT.sub("_", name).strip("_") or "v"
    base = re.sub("_{2,}", "_", base)
    if base[0].isdigit() or keyword.iskeyword(base) or base in reserved:
        base = "v_" + base
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out


def _format_value(value: Any) -> str | None:
    if isinstance(value, Tensor):
        if value.array.size > 64:
            return None
        return _format_value(value.array.tolist())
    if isinstance(value, (list, tuple)):
        parts = [_format_value(v) for v in value]
        return None if None in parts else "[" + ", ".join(parts) + "]"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)) or value is None:
        return repr(value)
    return None


def _array_text(arr: np.ndarray) -> str | None:
    if arr.size > MAX_LITERAL_ELEMENTS or not np.all(np.isfinite(arr)):
        return None
    return _format_value(np.asarray(arr, dtype=np.float64).tolist())


def _source_line(node, lhs: str) -> str:
    value = node.attr("value")
    shape = list(node.shape)
    if node.op == "constant":
        text = _array_text(value.array) if value is not None else None
        if text is None:
            return f"{lhs} = param({shape})  # constant of shape {shape}: too large to write out"
        return f"{lhs} = constant({text})"
    if node.op == "input":
        if value is None:
            return f"{lhs} = input({shape})"
        text = _array_text(value.array)
        if text is None:
            return f"{lhs} = input({shape})  # its given value is too large to write out"
        return f"{lhs} = input({text})" if value.array.ndim == 0 else f"{lhs} = input(value={text})"
    init = node.attr("init", "normal")
    extra = "" if value is None else "  # the model's trained values are not written out"
    return f"{lhs} = param({shape}, init={init!r}){extra}"


_INFIX = {
    "add": ("+", 1),
    "sub": ("-", 1),
    "mul": ("*", 2),
    "div": ("/", 2),
    "matmul": ("@", 2),
    "pow": ("**", 4),
}
_ATOM, _UNARY = 5, 3  # precedence of names/calls and of unary minus (Python's order)


def _call_text(node, args: list[str], ops: dict) -> str | None:
    defaults = ops[node.op].attrs if node.op in ops else {}
    kw = []
    for key, value in node.attrs:
        text = _format_value(value)
        if text is None or node.op not in ops:
            return None
        if key in defaults and _format_value(defaults[key]) == text and node.op != "split":
            continue
        kw.append(f"{key}={text}")
    return f"{node.op}({', '.join(args + kw)})"


def _operator_text(node, parts: list[tuple[str, int]]) -> tuple[str, int] | None:
    """Infix/prefix text with the parentheses Python's precedence needs, or None."""
    if node.attrs:
        return None
    if node.op == "neg":
        text, prec = parts[0]
        return ("-" + (text if prec >= _UNARY else f"({text})"), _UNARY)
    if node.op not in _INFIX:
        return None
    sym, p = _INFIX[node.op]
    (lt, lp), (rt, rp) = parts
    if p == 4:  # ** is right-associative and binds tighter than a unary minus on its left
        left = lt if lp > 4 else f"({lt})"
        right = rt if rp >= _UNARY else f"({rt})"
    else:
        left = lt if lp >= p else f"({lt})"
        right = rt if rp > p else f"({rt})"
    return f"{left} {sym} {right}", p


def _scalar_literal(node) -> tuple[str, int] | None:
    value = node.attr("value")
    if node.op != "constant" or value is None or value.array.ndim != 0:
        return None
    v = float(value.array)
    if not math.isfinite(v) or abs(v) > 3.4e38:
        return None
    return repr(v), (_UNARY if v < 0 or repr(v).startswith("-") else _ATOM)


def format_program(graph: Graph) -> str:
    """Write ``graph`` as a program of this language.

    Stages: (1) name every node with a unique identifier; (2) temporaries (builder names ``op#k``)
    used once, and scalar constants, are inlined into their consumer as operators or calls, with
    parentheses where Python's precedence needs them; (3) every other node gets its own line.
    A node the language cannot express becomes a ``param`` of its shape with a comment, so the
    program still parses. Given values of more than 64 numbers are not written out.
    """
    if not isinstance(graph, Graph):
        raise EngineError(f"format_program() needs a Graph, got {type(graph).__name__}")
    ops = all_ops()
    reserved = {*ops, *SOURCES, *STATEMENT_FUNCS}
    taken: set[str] = set()
    text: dict[str, tuple[str, int]] = {}
    outputs = set(graph.outputs)
    lines = [f"# {graph.title}"] if graph.title else []
    for node in graph.nodes:
        temporary = (
            (node.name.split("#")[0] in ops or node.name.split("#")[0] in SOURCES)
            and "#" in node.name
            and node.name not in outputs
        )
        literal = _scalar_literal(node) if temporary else None
        if literal is not None:
            text[node.name] = literal
            continue
        parts = [text[i] for i in node.inputs]
        expr = (
            None
            if node.is_source
            else (
                _operator_text(node, parts)
                or ((c, _ATOM) if (c := _call_text(node, [t for t, _ in parts], ops)) else None)
            )
        )
        if expr is not None and temporary and len(graph.users[node.name]) == 1:
            text[node.name] = expr
            continue
        lhs = _identifier(node.name, taken, reserved)
        text[node.name] = (lhs, _ATOM)
        if node.is_source:
            lines.append(_source_line(node, lhs))
        elif expr is None:
            lines.append(
                f"{lhs} = param({list(node.shape)})  # was {node.op}(...), which this language cannot write"
            )
        else:
            lines.append(f"{lhs} = {expr[0]}")
    lines.append(f"output({', '.join(text[o][0] for o in graph.outputs)})")
    return "\n".join(lines) + "\n"
