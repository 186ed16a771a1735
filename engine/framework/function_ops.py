"""The functions of the small function language (function_language.py): one table, three uses.

Each row names a function the student may call (or an operator, under its op name), how many
arguments it takes, which of them must be number literals (``clip``'s bounds), and its
vector-Jacobian product as text in the same language, one rule per tensor argument:
``g`` is the incoming gradient (the adjoint of the result), ``y`` the result, ``a``, ``b``, ``c`` the
arguments in order, and ``{axis}``, ``{lo}``, ``{hi}`` the literal attributes. ``None`` means no
gradient flows to that argument (a mask, a comparison, a piecewise-constant op).

The same rule text is used three ways, so an op's derivative lives in one place:
  1. the tape (tape.py, operator overloading) evaluates it on numbers when it walks back;
  2. the source transformation (source_transform.py) pastes it, with names filled in, into the
     derivative program it writes;
  3. the lessons show it beside each tape entry.
A broadcast argument's gradient is reduced back to its shape by ``sum_like(g, a)`` (PyTorch's engine
does the same with ``sum_to_size``). ``sum_like``, ``expand_like`` and ``size`` exist for the generated
code; students may call them too.

The numpy implementations (float64) are here; the torch ones sit beside them in function_eval.py.
Not handled: integer or boolean tensors (comparisons give 0.0/1.0 masks), complex numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: tuple[int, int]  # (fewest, most) positional arguments
    rules: tuple[str | None, ...]  # one VJP rule per argument position
    literal_args: tuple[int, ...] = ()  # positions that must be number literals (clip's bounds)
    axis: bool = False  # takes axis= (an int literal or None)
    symbol: str = ""  # the operator's spelling for a binary/unary operator


def _op(name, arity, rules, literal_args=(), axis=False, symbol=""):
    return OpSpec(name, arity, tuple(rules), tuple(literal_args), axis, symbol)


_NONE1, _NONE2 = (None,), (None, None)
OPS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        # operators (written with their symbols in programs)
        _op("add", (2, 2), ("sum_like(g, a)", "sum_like(g, b)"), symbol="+"),
        _op("sub", (2, 2), ("sum_like(g, a)", "sum_like(-g, b)"), symbol="-"),
        _op("mul", (2, 2), ("sum_like(g * b, a)", "sum_like(g * a, b)"), symbol="*"),
        _op("div", (2, 2), ("sum_like(g / b, a)", "sum_like(-g * y / b, b)"), symbol="/"),
        _op("pow", (2, 2), ("sum_like(g * b * a ** (b - 1), a)", "sum_like(g * y * log(a), b)"), symbol="**"),
        _op("matmul", (2, 2), ("g @ transpose(b)", "transpose(a) @ g"), symbol="@"),
        _op("neg", (1, 1), ("-g",), symbol="-"),
        _op("gt", (2, 2), _NONE2, symbol=">"),
        _op("ge", (2, 2), _NONE2, symbol=">="),
        _op("lt", (2, 2), _NONE2, symbol="<"),
        _op("le", (2, 2), _NONE2, symbol="<="),
        _op("eq", (2, 2), _NONE2, symbol="=="),
        _op("ne", (2, 2), _NONE2, symbol="!="),
        _op("logical_not", (1, 1), _NONE1, symbol="not"),
        _op("logical_and", (2, 2), _NONE2, symbol="and"),
        _op("logical_or", (2, 2), _NONE2, symbol="or"),
        # functions
        _op("exp", (1, 1), ("g * y",)),
        _op("log", (1, 1), ("g / a",)),
        _op("sqrt", (1, 1), ("g / (2 * y)",)),
        _op("abs", (1, 1), ("g * sign(a)",)),
        _op("sin", (1, 1), ("g * cos(a)",)),
        _op("cos", (1, 1), ("-g * sin(a)",)),
        _op("tanh", (1, 1), ("g * (1 - y * y)",)),
        _op("sigmoid", (1, 1), ("g * y * (1 - y)",)),
        _op("relu", (1, 1), ("g * (a > 0)",)),
        _op("softplus", (1, 1), ("g * sigmoid(a)",)),
        _op("sign", (1, 1), _NONE1),
        _op("round", (1, 1), _NONE1),
        _op("floor", (1, 1), _NONE1),
        _op("transpose", (1, 1), ("transpose(g)",)),
        _op("ones_like", (1, 1), _NONE1),
        _op("zeros_like", (1, 1), _NONE1),
        _op("maximum", (2, 2), ("sum_like(g * (a >= b), a)", "sum_like(g * (a < b), b)")),
        _op("minimum", (2, 2), ("sum_like(g * (a <= b), a)", "sum_like(g * (a > b), b)")),
        _op("where", (3, 3), (None, "sum_like(where(a, g, 0), b)", "sum_like(where(a, 0, g), c)")),
        _op("clip", (3, 3), ("g * (a >= {lo}) * (a <= {hi})", None, None), literal_args=(1, 2)),
        _op("sum", (1, 1), ("expand_like(g, a, axis={axis})",), axis=True),
        _op("mean", (1, 1), ("expand_like(g, a, axis={axis}) * (size(y) / size(a))",), axis=True),
        _op("sum_like", (2, 2), ("g + zeros_like(a)", None)),
        _op("expand_like", (2, 2), ("sum(g, axis={axis})", None), axis=True),
        _op("size", (1, 1), _NONE1),
    )
}
BINARY_SYMBOLS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul"}
COMPARE_SYMBOLS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
#: Functions a program may call by name (operators are written as symbols).
CALLABLE = tuple(n for n, s in OPS.items() if not s.symbol)


def rule_text(op: str, position: int, attrs: dict | None = None) -> str | None:
    """The VJP rule of argument ``position`` of ``op`` with its literal attributes filled in."""
    rule = OPS[op].rules[position]
    if rule is None:
        return None
    filled = rule.format(**{"axis": None, "lo": None, "hi": None, **(attrs or {})})
    return filled.replace(", axis=None", "")


# -- numpy implementations (float64) ---------------------------------------------------------------
def sum_like(g, a):
    """``g`` summed down to the shape of ``a`` (the gradient of a broadcast)."""
    shape = np.shape(a)
    g = np.asarray(g, dtype=np.float64)
    if g.shape == shape:
        return g
    full = np.broadcast_shapes(g.shape, shape)
    g = np.broadcast_to(g, full)
    lead = len(full) - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)


def expand_like(g, a, axis=None):
    """``g`` (a reduction's gradient) spread back over the shape of ``a``."""
    g = np.asarray(g, dtype=np.float64)
    if axis is not None and np.ndim(a) > 0:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, np.shape(a)).copy()


def _transpose(a):
    if np.ndim(a) != 2:
        raise ValueError(f"transpose needs a matrix (2-D); this value has shape {list(np.shape(a))}")
    return np.swapaxes(a, 0, 1)


def _matmul(a, b):
    if np.ndim(a) != 2 or np.ndim(b) != 2:
        raise ValueError(
            f"@ multiplies matrices (2-D) here; the shapes are {list(np.shape(a))} and {list(np.shape(b))}"
        )
    return np.matmul(a, b)


def _mask(v):
    return np.asarray(v, dtype=np.float64)


def _where(c, a, b):
    return np.where(np.asarray(c) != 0, a, b).astype(np.float64)


def _reduce(fn):
    def reduce(a, axis=None):
        return np.asarray(fn(np.asarray(a, dtype=np.float64), axis=axis), dtype=np.float64)

    return reduce


NUMPY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "matmul": _matmul,
    "neg": np.negative,
    "gt": lambda a, b: _mask(np.greater(a, b)),
    "ge": lambda a, b: _mask(np.greater_equal(a, b)),
    "lt": lambda a, b: _mask(np.less(a, b)),
    "le": lambda a, b: _mask(np.less_equal(a, b)),
    "eq": lambda a, b: _mask(np.equal(a, b)),
    "ne": lambda a, b: _mask(np.not_equal(a, b)),
    "logical_not": lambda a: _mask(np.equal(a, 0)),
    "logical_and": lambda a, b: _mask(np.logical_and(a, b)),
    "logical_or": lambda a, b: _mask(np.logical_or(a, b)),
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sigmoid": lambda a: 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a, dtype=np.float64))),
    "relu": lambda a: np.maximum(a, 0.0),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "sign": np.sign,
    "round": np.round,
    "floor": np.floor,
    "transpose": _transpose,
    "ones_like": lambda a: np.ones(np.shape(a)),
    "zeros_like": lambda a: np.zeros(np.shape(a)),
    "maximum": np.maximum,
    "minimum": np.minimum,
    "where": _where,
    "clip": lambda a, lo, hi: np.clip(a, lo, hi),
    "sum": _reduce(np.sum),
    "mean": _reduce(np.mean),
    "sum_like": sum_like,
    "expand_like": expand_like,
    "size": lambda a: float(np.size(a)),
}
