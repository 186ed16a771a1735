"""The safe program language: grammar, every error class with its location, and hostile fuzzing."""

from __future__ import annotations

import ast
import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.core import budget
from engine.core.errors import ProgramError
from engine.core.language import parse_program
from engine.core.presets import program_text
from engine.core.program_format import format_program


def run_out(text: str) -> np.ndarray:
    g = parse_program(text)
    engine.validate(g)
    return engine.run(g)[g.outputs[0]]


def error_of(text: str) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        parse_program(text)
    return info.value


# -- grammar --------------------------------------------------------------------------------------
def test_scalar_inputs_and_operators_match_python_arithmetic():
    text = "a = input(2.0)\nb = input(-3)\ny = (a + b) * a - b / a ** 2 + -a + +b\n"
    a, b = 2.0, -3.0
    assert float(run_out(text)) == pytest.approx((a + b) * a - b / a**2 + -a + +b)


def test_matmul_operator_and_given_tensor_value():
    text = "x = input(value=[[1.0, 2.0], [3.0, 4.0]])\nW = constant([[1, 0], [1, 1]])\ny = x @ W\n"
    np.testing.assert_allclose(run_out(text), np.array([[3.0, 2.0], [7.0, 4.0]]))


def test_input_shape_param_init_and_attributes():
    g = parse_program(
        "x = input([2, 3, 8, 8])\nW = param([4, 3, 3, 3], init='ones')\ny = conv2d(x, W, stride=2, pad=1)\n"
    )
    assert g.node("x").shape == (2, 3, 8, 8)
    assert g.node("W").attr("init") == "ones"
    assert g.node("y").shape == (2, 4, 4, 4)
    assert g.node("y").attr("stride") == 2 and g.node("y").attr("pad") == 1


def test_rebinding_and_augmented_assignment_make_fresh_nodes():
    g = parse_program("c = input(1.0)\nc += c + 1\nc = c * 2\n")
    assert g.outputs == ("c",)
    # c1 = 1; c2 = c1 + (c1 + 1) = 3; c3 = 6
    assert float(engine.run(g)["c"]) == 6.0
    assert {"c#1", "c#2"} <= set(g.by_name)


def test_split_unpacking_and_positional_attributes():
    g = parse_program(
        "x = input(value=[[1, 2, 3, 4]])\na, b = split(x, 2, axis=1)\nr = reshape(b, [2, 1])\noutput(a, r)\n"
    )
    out = engine.run(g)
    np.testing.assert_array_equal(out["a"], [[1, 2]])
    np.testing.assert_array_equal(out["r"], [[3], [4]])
    assert g.outputs == ("a", "r")
    assert [g.node(n).attr("index") for n in ("a", "b")] == [0, 1]


def test_output_anywhere_once_and_default_last_assignment():
    g = parse_program("x = input(1.0)\noutput(x)\ny = x + 1\n")
    assert g.outputs == ("x",)
    assert parse_program("x = input(1.0)\ny = x + 1\n# trailing comment\n\n").outputs == ("y",)


def test_comments_blank_lines_and_unicode_names():
    g = parse_program("# 注释\n\nα = input(3.0)  # inline\n\nβ = α * α\n")
    assert float(engine.run(g)["β"]) == 9.0


def test_sqrt_of_literal_and_keyword_only_attrs():
    assert float(
        run_out("x = input(value=[1.0, 3.0])\ny = softmax(x, axis=0) * sqrt(4.0)\n")[1]
    ) == pytest.approx(2 * math.exp(3) / (math.exp(1) + math.exp(3)), rel=1e-6)


# -- errors, each with its location ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text, words, line, col",
    [
        ("x = input([2])\ny = x.shape\n", "attribute access", 2, 5),
        ("x = input([2])\ny = x[0]\n", "indexing", 2, 5),
        ("import os\n", "import", 1, 1),
        ("f = lambda t: t\n", "lambda", 1, 5),
        ("x = input([2])\ny = [x for x in x]\n", "comprehension", 2, 5),
        ("def f(x):\n    return x\n", "def", 1, 1),
        ("class A:\n    pass\n", "class", 1, 1),
        ("for i in 1:\n    pass\n", "for loops", 1, 1),
        ("x = input(1.0)\nif x:\n    y = x\n", "if", 2, 1),
        ("while 1:\n    pass\n", "while", 1, 1),
        ("x = input(1.0)\ny = f'{x}'\n", "f-strings", 2, 5),
        ("x = input([2])\ny = relu(*x)\n", "starred", 2, 10),
        ("x = input([2])\ny = relu(x, alpha=2)\n", "no attribute 'alpha'", 2, 13),
        ("x = input([2])\ny = print(x)\n", "calling 'print' is not allowed", 2, 5),
        ("y = eval('1')\n", "not allowed", 1, 5),
        ("y = open('/etc/passwd')\n", "not allowed", 1, 5),
        ("x = input([2])\ny = x + z\n", "name 'z' is not defined", 2, 9),
        ("x = input([2])\ny = relu5(x)\n", "did you mean", 2, 5),
        ("x = input([2, 3])\ny = x @ x\n", "[2, 3]", 2, 5),
        ("x = input([2, 3])\nw = input([4])\ny = x + w\n", "[4]", 3, 5),
        ("x = input([0, 3])\n", "positive whole number", 1, 11),
        ("x = input([2.5])\n", "positive whole number", 1, 11),
        ("x = input([True])\n", "positive whole number", 1, 11),
        ("x = input([-4])\n", "positive whole number", 1, 11),
        ("x = input([2])\nx = x +\n", "syntax error", 2, 8),
        ("x = input(1.0)\nx = x // 2\n", "operator //", 2, 5),
        ("x = input(1.0)\nx.y = 2\n", "attribute access", 2, 1),
        ("a = b = input(1.0)\n", "chained", 1, 1),
        ("x = input([4])\na, b, c = split(x, 2)\n", "makes 2 piece(s)", 2, 1),
        ("x = input([4])\na, b = relu(x)\n", "only with split", 2, 1),
        ("relu = input([4])\n", "name of a function", 1, 1),
        ("__x__ = input([4])\n", "double underscores", 1, 1),
        ("x = input(1.0)\noutput(x)\noutput(x)\n", "only once", 3, 1),
        ("x = input(1.0)\nx\n", "does nothing", 2, 1),
        ("x = input(1.0)\ny = x + 'a'\n", "cannot be used as a tensor", 2, 9),
        ("x = input(1.0)\ny = x + 1e999\n", "too large", 2, 9),
        ("x = input([2])\ny = x + 1j\n", "cannot be used as a tensor", 2, 9),
        ("W = param([2], init='xavier')\n", "init='xavier'", 1, 21),
        ("x = input([2])\ny = relu\n", "is a function", 2, 5),
    ],
)
def test_error_classes_have_sentences_and_locations(text, words, line, col):
    err = error_of(text)
    assert words in err.message, err.message
    assert (err.line, err.col) == (line, col), (err.line, err.col, err.message)
    assert isinstance(err, engine.EngineError)


def test_unknown_function_suggests_nearest_ops():
    assert "'relu6'" in error_of("x = input([2])\ny = relu5(x)\n").message
    assert "'conv2d'" in error_of("x = input([2])\ny = conv2(x)\n").message
    assert "did you mean 'x1'" in error_of("x1 = input([2])\ny = x2 + 1\n").message


def test_shape_error_names_both_shapes():
    msg = error_of("a = input([2, 3])\nb = input([5, 7])\nc = a @ b\n").message
    assert "[2, 3]" in msg and "[5, 7]" in msg


def test_empty_and_non_text_programs():
    assert "assigns nothing" in error_of("# only a comment\n").message
    with pytest.raises(ProgramError):
        parse_program(123)  # type: ignore[arg-type]


def test_program_length_budget():
    text = "x = input(1.0)\n" + "#" * budget.MAX_PROGRAM_CHARS
    assert "limit" in error_of(text).message


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tensor_budget_refused_fast_without_allocating():
    t0 = time.perf_counter()
    err, peak = _peak_bytes(lambda: error_of("x = input([100000, 100000])\n"))
    assert peak < 5 << 20  # refused before any tensor memory is touched
    assert time.perf_counter() - t0 < 2.0
    assert f"{budget.MAX_TENSOR_ELEMENTS:,}" in err.message and err.line == 1


def test_budget_inside_op_is_a_located_program_error():
    # each input fits, the outer product does not: BudgetError from the builder -> ProgramError
    t0 = time.perf_counter()
    err, peak = _peak_bytes(lambda: error_of("a = input([8192, 1])\nb = input([1, 8192])\nc = a * b\n"))
    assert peak < 5 << 20  # the 8192x8192 product is never allocated
    assert time.perf_counter() - t0 < 2.0
    assert (err.line, err.col) == (3, 5) and "limit" in err.message


def test_deep_nesting_is_refused_with_a_message():
    for text in [
        "x = input(1.0)\ny = " + "(x + " * 150 + "x" + ")" * 150,
        "x = " + "-" * 5000 + "1",
        "x = input(1.0)\ny = " + "relu(" * 300 + "x" + ")" * 300,
    ]:
        assert "nest" in error_of(text).message.lower() or "syntax" in error_of(text).message


def test_long_flat_chains_are_fine():
    g = parse_program("x = input(1.0)\ny = " + " + ".join(["x"] * 90) + "\n")
    assert float(engine.run(g)["y"]) == 90.0


# -- format_program -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", engine.preset_names())
def test_format_program_round_trips_presets(name):
    g = engine.preset(name)
    text = format_program(g)
    g2 = parse_program(text)
    a, b = engine.run(g), engine.run(g2)
    for o1, o2 in zip(g.outputs, g2.outputs):
        np.testing.assert_allclose(a[o1], b[o2], rtol=1e-6)
    assert program_text(name) == engine.core.presets.PROGRAMS[name]


# -- hostile fuzzing: only ProgramError may escape ------------------------------------------------
HOSTILE = [
    "__import__('os')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "x = 10 ** 10 ** 10",
    "x = 9" * 400,
    "exec('1')",
    "x = input([1e9])",
    "x = input(value=[[1, 2], [3]])",
    "x = input(value='abc')",
    "x = input(True)",
    "𝔁 = input(1.0)",
    "x = input([2])\ny = reshape(x, ['a'])",
    "x = input([4])\ny = conv2d(x, x, stride='a')",
    "x = input([4])\ny = split(x, 0)",
    "x = input([2, 2])\ny = transpose(x, perm=[5, 9])",
    "x = input(value=[])",
    "x = input([4])\ny = slice(x, starts=[0], ends=[2], axes=[7])",
    "x = param([3], value=[1, 2, 3])",
    "x = constant()",
    "x = input([2], value=[1, 2])",
    "x = input(1.0)\ny = concat()",
    "x = input([2])\ny = reduce_sum(x, axes=[3])",
    "global x",
    "x: int = 1",
    "x = input(1.0)\ndel x",
    "async def f(): pass",
    "x = input(1.0)\ny = x if x else x",
    "x = {1: 2}",
    "x = input(1.0)\ny = x < x",
    "x = input([3])\ny = layernorm(x, epsilon=None)",
    "\x00",
    "x = input(\n",
    "\t x = 1",
]

FRAGMENTS = [
    "x",
    "y",
    "W",
    "input([2, 3])",
    "input(2.0)",
    "param([3, 3])",
    "relu(x)",
    "x @ W",
    "x + 1",
    "-x",
    "x ** 2",
    "softmax(x, axis=1)",
    "split(x, 2, axis=1)",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "__class__",
    "lambda: 0",
    "1e308",
    "0",
    "-1",
    "'s'",
    "None",
    "=",
    "\n",
    " ",
    "output(x)",
    "conv2d(x, W, pad=1)",
    "reshape(x, [6])",
    "transpose(x)",
    "#",
]


def assert_only_program_errors(text: str) -> None:
    try:
        parse_program(text)
    except ProgramError:
        pass


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_programs_fail_cleanly(text):
    assert_only_program_errors(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text_only_raises_program_error(text):
    assert_only_program_errors(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_random_fragment_soup_only_raises_program_error(parts):
    assert_only_program_errors("x = input([2, 3])\nW = param([3, 3])\n" + "".join(parts))


def _expr_strategy():
    leaves = st.one_of(
        st.sampled_from(["x", "W", "undefined", "print", "__import__"]).map(
            lambda n: ast.Name(n, ast.Load())
        ),
        st.one_of(
            st.integers(-(10**30), 10**30),
            st.floats(allow_nan=True),
            st.text(max_size=5),
            st.booleans(),
            st.none(),
        ).map(ast.Constant),
    )
    names = st.sampled_from(
        [
            "relu",
            "add",
            "matmul",
            "softmax",
            "split",
            "conv2d",
            "reshape",
            "input",
            "param",
            "constant",
            "output",
            "eval",
            "open",
            "relu5",
        ]
    )

    def extend(children):
        return st.one_of(
            st.tuples(
                children,
                st.sampled_from(
                    [ast.Add(), ast.Sub(), ast.Mult(), ast.Div(), ast.Pow(), ast.MatMult(), ast.Mod()]
                ),
                children,
            ).map(lambda t: ast.BinOp(t[0], t[1], t[2])),
            st.tuples(st.sampled_from([ast.USub(), ast.UAdd(), ast.Not(), ast.Invert()]), children).map(
                lambda t: ast.UnaryOp(t[0], t[1])
            ),
            st.tuples(
                names,
                st.lists(children, max_size=3),
                st.lists(
                    st.tuples(st.sampled_from(["axis", "pad", "shape", "value", "zzz"]), children), max_size=2
                ),
            ).map(
                lambda t: ast.Call(
                    ast.Name(t[0], ast.Load()), t[1], [ast.keyword(k, v) for k, v in dict(t[2]).items()]
                )
            ),
            st.lists(children, max_size=4).map(lambda xs: ast.List(xs, ast.Load())),
            st.tuples(children, st.sampled_from(["shape", "__class__", "T"])).map(
                lambda t: ast.Attribute(t[0], t[1], ast.Load())
            ),
            st.tuples(children, children).map(lambda t: ast.Subscript(t[0], t[1], ast.Load())),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["y", "x", "W", "a"]), _expr_strategy()), min_size=1, max_size=4))
def test_random_asts_only_raise_program_error(assignments):
    body = [
        ast.Assign(
            [ast.Name("x", ast.Store())],
            ast.Call(
                ast.Name("input", ast.Load()), [ast.List([ast.Constant(3), ast.Constant(3)], ast.Load())], []
            ),
        )
    ]
    body += [ast.Assign([ast.Name(t, ast.Store())], e) for t, e in assignments]
    module = ast.fix_missing_locations(ast.Module(body, []))
    try:
        text = ast.unparse(module)
    except Exception:  # noqa: BLE001 - an AST unparse cannot print is not a program
        return
    assert_only_program_errors(text)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.sampled_from(["a", "b", "2.0", "-1.5", "0.5"]),
        lambda kids: st.one_of(
            st.tuples(kids, st.sampled_from(["+", "-", "*", "/", "**"]), kids).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            kids.map(lambda k: f"-({k})"),
            kids.map(lambda k: f"tanh({k})"),
        ),
        max_leaves=10,
    )
)
def test_format_program_keeps_operator_precedence(expr):
    text = f"a = input(0.7)\nb = input(1.3)\ny = {expr}\n"
    g = parse_program(text)
    formatted = format_program(g)
    g2 = parse_program(formatted)
    np.testing.assert_array_equal(engine.run(g)["y"], engine.run(g2)["y"])
    assert sum(n.op != "constant" for n in g.nodes) == sum(n.op != "constant" for n in g2.nodes)


def test_format_program_of_imported_model_parses_with_same_shapes():
    pytest.importorskip("torch")
    from engine.interop.torch_zoo import zoo_graph

    g = zoo_graph("tiny_cnn")
    text = format_program(g)
    assert "pad=1" in text and "stride=2)" in text and "# the model's trained values" in text
    g2 = parse_program(text)
    assert [n.shape for n in g2.op_nodes] == [n.shape for n in g.op_nodes]
