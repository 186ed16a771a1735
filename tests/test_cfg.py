"""The control-flow language and its passes.

Oracles: Python itself running the same program text (the language is a subset of Python; the
oracle gives it 64-bit wrapping ints), LLVM compiling our lowering of the program, and — for every
pass — the interpreter's result on the program before the pass.
"""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.compiler.cfg.blocks import Branch, Jump, run_cfg, same_value, wrap
from engine.compiler.cfg.language import MAX_STATEMENTS, parse_cfg_program
from engine.compiler.cfg.llvm import cfg_to_llvm, compare_with_llvm, run_llvm
from engine.compiler.cfg.passes import PASSES, cfg_trace, optimize_cfg
from engine.core.errors import BudgetError, EngineError, ProgramError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


# -- random programs ------------------------------------------------------------------------------------
VARS = ("a", "b", "c", "d")


@st.composite
def expressions(draw, floats: bool, depth: int = 2):
    leaf = st.one_of(st.sampled_from(VARS), st.integers(-5, 5).map(str))
    if floats:
        leaf = st.one_of(leaf, st.sampled_from(["0.5", "2.25", "-1.5", "0.0"]))
    if depth == 0 or draw(st.booleans()):
        return draw(leaf)
    ops = ["+", "-"] + (["*", "/"] if floats else [])
    left = draw(expressions(floats, depth - 1))
    if not floats and draw(st.booleans()):  # ints: multiply by a small constant only (no overflow)
        return f"({left} * {draw(st.integers(-3, 3))})"
    right = draw(expressions(floats, depth - 1))
    return f"({left} {draw(st.sampled_from(ops))} {right})"


@st.composite
def conditions(draw, floats: bool):
    cmp = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    cond = f"{draw(expressions(floats, 1))} {cmp} {draw(expressions(floats, 1))}"
    if draw(st.integers(0, 3)) == 0:
        other = f"{draw(st.sampled_from(VARS))} {cmp} {draw(st.integers(-3, 3))}"
        cond = f"{cond} {draw(st.sampled_from(['and', 'or']))} not {other}"
    return cond


@st.composite
def statements(draw, floats: bool, depth: int, loops: list):
    kind = draw(
        st.sampled_from(["assign", "assign", "aug", "if", "while"] if depth < 2 else ["assign", "aug"])
    )
    pad = "    " * depth
    if kind == "assign":
        return [f"{pad}{draw(st.sampled_from(VARS))} = {draw(expressions(floats))}"]
    if kind == "aug":
        op = draw(st.sampled_from(["+=", "-="] + (["*=", "/="] if floats else [])))
        return [f"{pad}{draw(st.sampled_from(VARS))} {op} {draw(expressions(floats, 1))}"]
    body = lambda: sum(
        (draw(statements(floats, depth + 1, loops)) for _ in range(draw(st.integers(1, 3)))), []
    )
    if kind == "if":
        lines = [f"{pad}if {draw(conditions(floats))}:", *body()]
        if draw(st.booleans()):
            lines += [f"{pad}else:", *body()]
        return lines
    counter = f"i{len(loops)}"  # a bounded loop: its counter is written only by its own increment
    loops.append(counter)
    limit = draw(st.integers(0, 3))
    return [f"{pad}{counter} = 0", f"{pad}while {counter} < {limit}:", *body(), f"{pad}    {counter} += 1"]


@st.composite
def programs(draw, floats: bool = False):
    loops: list = []
    lines = [f"a = input({draw(st.integers(-4, 4))})", f"b = input({draw(st.integers(-4, 4))})"]
    for _ in range(draw(st.integers(1, 6))):
        lines += draw(statements(floats, 0, loops))
    outs = draw(st.lists(st.sampled_from(VARS), min_size=1, max_size=3, unique=True))
    lines.append(f"c = c + 0\nd = d + 0\noutput({', '.join(outs)})")
    return "\n".join(lines) + "\n"


def python_oracle(text: str, inputs: dict) -> dict:
    """Python runs the program; ints wrap to 64 bits after each operation, like the language."""
    tree = ast.parse(text)

    class Wrap(ast.NodeTransformer):
        def visit_BinOp(self, node):
            self.generic_visit(node)
            return ast.Call(ast.Name("_w", ast.Load()), [node], [])

        def visit_AugAssign(self, node):
            value = ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op, node.value)
            return ast.Assign([node.target], self.visit_BinOp(value))

    tree = ast.fix_missing_locations(Wrap().visit(tree))
    got: dict = {}
    env = {v: 0 for v in VARS} | {f"i{k}": 0 for k in range(20)}
    env |= {
        "_w": lambda v: wrap(v) if isinstance(v, int) else v,
        "input": None,
        "output": lambda *vals: got.update(enumerate(vals)),
    }
    defaults = {}
    for st_ in tree.body:
        if isinstance(st_, ast.Assign) and isinstance(st_.value, ast.Call) and st_.value.func.id == "input":
            name = st_.targets[0].id
            defaults[name] = inputs.get(name, ast.literal_eval(st_.value.args[0]))
    env["input"] = _Input(defaults)
    exec(compile(tree, "<oracle>", "exec"), env)  # noqa: S102 - the test oracle, on generated text
    return got


class _Input:
    def __init__(self, values):
        self.values, self.order = values, iter(values)

    def __call__(self, default):
        return self.values[next(self.order)]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)


# -- the language against Python ------------------------------------------------------------------------
@SETTINGS
@given(programs(), st.integers(-6, 6))
def test_interpreter_matches_python_on_random_programs(text, a):
    program = parse_cfg_program(text)
    ours = run_cfg(program, {"a": a})
    theirs = python_oracle(text, {"a": a})
    assert list(ours.values()) == [theirs[k] for k in range(len(ours))]


def test_known_program_and_its_graph():
    text = "n = input(5)\ns = 0\ni = 1\nwhile i <= n:\n    s += i * i\n    i += 1\nm = s / n\noutput(s, m)\n"
    p = engine.parse_cfg_program(text)
    assert engine.run_cfg(p) == {"s": 55, "m": 11.0}
    assert engine.run_cfg(p, {"n": 10}) == {"s": 385, "m": 38.5}
    assert dict(p.types)["m"] == "float" and dict(p.types)["s"] == "int"
    names = [b.name for b in p.blocks]
    assert names[0] == "entry" and any(n.startswith("while") for n in names)
    assert ("body1", "while1") in p.edges  # the back edge
    assert "while" in str(p) and "branch" in str(p)


def test_semantics_at_the_edges():
    p = parse_cfg_program(
        "x = input(1.0)\nz = x / 0\nw = 0.0 / 0\nq = 9223372036854775807\nq += 1\nt = w != w\n"
    )
    out = run_cfg(p)
    assert out["z"] == math.inf and math.isnan(out["w"]) and out["q"] == -(1 << 63) and out["t"] == 1
    assert run_cfg(p, {"x": -2})["z"] == -math.inf


# -- every pass keeps the result --------------------------------------------------------------------------
@SETTINGS
@given(programs(floats=True), st.sampled_from([*PASSES, "pipeline"]), st.integers(-3, 3))
def test_every_pass_keeps_the_programs_outputs(text, name, a):
    program = parse_cfg_program(text)
    passes = list(PASSES) + list(PASSES) if name == "pipeline" else [name]
    after, _ = optimize_cfg(program, passes)
    for inputs in ({}, {"a": a, "b": -a}):
        assert _same(run_cfg(program, inputs), run_cfg(after, inputs)), (name, str(after))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(floats=True), st.integers(-3, 3))
def test_llvm_compiles_random_programs_to_the_same_results(text, a):
    program = parse_cfg_program(text)
    assert _same(run_llvm(program, {"a": a}), run_cfg(program, {"a": a}))
    optimized, _ = optimize_cfg(program)
    assert _same(run_llvm(optimized, {"a": a}), run_cfg(program, {"a": a}))


# -- each pass before/expected ----------------------------------------------------------------------------
def _pass(text: str, *names: str):
    return optimize_cfg(parse_cfg_program(text), list(names))[0]


def test_constant_propagation_folds_known_values():
    p = _pass("x = 2\ny = x * 3\nz = y + 0.5\noutput(z)", "constprop")
    assert str(p).splitlines()[1:4] == ["    x = 2", "    y = 6", "    z = 6.5"]


def test_branch_folding_and_unreachable_removal_drop_the_dead_arm():
    text = "a = input(1)\nk = 3\nif k > 5:\n    a = 100\nelse:\n    a = a + 1\noutput(a)"
    before = parse_cfg_program(text)
    then = next(b.name for b in before.blocks if b.name.startswith("then"))
    after = _pass(text, "constprop", "branch_folding", "unreachable")
    assert then not in {b.name for b in after.blocks} and len(after.blocks) == len(before.blocks) - 1
    assert isinstance(after.block("entry").term, Jump)
    assert run_cfg(after, {"a": 5}) == run_cfg(before, {"a": 5}) == {"a": 6}
    steps = list(cfg_trace(before, ["constprop", "branch_folding", "unreachable"]))
    dfs = next(s for s in steps if s.title.startswith("depth-first"))
    assert dfs.data["order"][0] == "entry" and then not in dfs.data["order"]


def test_dead_code_elimination_marks_through_chains_of_uses():
    text = "a = input(1)\nt = a * 2\nu = t + 1\nv = a - 1\nw = v * 3\noutput(u)"
    after = _pass(text, "dce")
    assert [i.dest for i in after.block("entry").instrs] == ["a", "t", "u"]
    steps = list(cfg_trace(parse_cfg_program(text), ["dce"]))
    assert steps[-1].data["removed"] == ("entry:3", "entry:4")


def test_value_numbering_reuses_a_value_until_an_operand_changes():
    text = "a = input(1)\nb = input(2)\nx = a * b\ny = b * a\na = 7\nz = a * b\noutput(x, y, z)"
    after = _pass(text, "value_numbering")
    ops = {i.dest: (i.op, i.args) for i in after.block("entry").instrs}
    assert ops["y"] == ("copy", ("x",)) and ops["z"][0] == "mul"


def test_licm_hoists_invariants_but_not_what_the_exit_sees():
    text = (
        "n = input(3)\nk = input(4)\nt = 5\ns = 0\ni = 0\n"
        "while i < n:\n    m = k * 2\n    s = s + m\n    t = k + 1\n    i += 1\noutput(s, t)"
    )
    program = parse_cfg_program(text)
    after = _pass(text, "licm")
    hoisted = [i.dest for i in after.block("entry").instrs]
    assert "m" in hoisted and "t" not in hoisted[hoisted.index("i") :]  # t is live after the loop
    for n in (0, 1, 3):
        assert run_cfg(after, {"n": n}) == run_cfg(program, {"n": n})
    nested = "n = input(2)\ns = 0\ni = 0\nwhile i < n:\n    j = 0\n    while j < n:\n        c = n * 3\n"
    nested += "        s = s + c\n        j += 1\n    i += 1\noutput(s)"
    p2 = parse_cfg_program(nested)
    a2 = _pass(nested, "licm")
    assert "c" in [i.dest for i in a2.block("entry").instrs]  # out of the inner loop, then the outer
    assert sum(i.dest == "c" for b in a2.blocks for i in b.instrs) == 1
    assert run_cfg(a2, {"n": 3}) == run_cfg(p2, {"n": 3}) == {"s": 81}


def test_merge_blocks_and_the_full_pipeline_shrink_the_graph():
    text = "a = input(1)\nif 1:\n    a = a + 1\nb = a * 2\noutput(b)"
    p = parse_cfg_program(text)
    after, log = optimize_cfg(p)
    assert len(after.blocks) == 1 and log
    assert run_cfg(after, {"a": 4}) == run_cfg(p, {"a": 4}) == {"b": 10}
    assert [x.name for x in engine.cfg_passes()][:3] == ["constprop", "branch_folding", "unreachable"]


def test_every_step_highlights_blocks_or_instructions_that_exist():
    text = "a = input(1)\nx = 2\nwhile a < 10:\n    y = x * 4\n    a = a + y\nif x > 3:\n    a = 0\noutput(a)"
    program = parse_cfg_program(text)
    for step in cfg_trace(program):
        blocks = {b.name: b for b in (step.graph.blocks + step.data["before"].blocks)}
        for h in step.highlight:
            name, _, index = h.partition(":")
            assert name in blocks and (not index or int(index) < len(blocks[name].instrs) + 1), (
                step.title,
                h,
            )


# -- LLVM beside our passes -------------------------------------------------------------------------------
def test_llvm_sees_the_same_program_and_verifies():
    import llvmlite.binding as llvm

    text = "n = input(10)\ns = 0\ni = 0\nwhile i < n:\n    s = s + i * 2 + 12\n    i += 1\n"
    text += "c = s / 2\noutput(s, c)"
    p = parse_cfg_program(text)
    llvm.parse_assembly(cfg_to_llvm(p)).verify()
    cmp = compare_with_llvm(p, {"n": 7})
    assert cmp.agree and cmp.compiled == {"s": 126, "c": 63.0}
    assert cmp.llvm_after.blocks < cmp.llvm_before.blocks
    assert cmp.llvm_after.instructions < cmp.llvm_before.instructions
    assert cmp.blocks_after_ours <= cmp.blocks_before


# -- refusals -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,message,line",
    [
        ("x = 1\ny = (x +\n", "syntax error", 2),
        ("for i in range(3):\n    x = i", "for loops", 1),
        ("x = 1\ny = z + 1", "'z' is used but never assigned", 2),
        ("total = 1\ny = totl", "did you mean 'total'", 2),
        ("x = 2 ** 3", r"operator \*\* is not in this language", 1),
        ("x = 1\ny = 0 < x < 3", "one comparison at a time", 2),
        ("x = 1\nwhile x < 3:\n    n = input(2)", "top level", 3),
        ("x = 1\nif x:\n    output(x)", "top level", 3),
        ("x = input(1)\nx = input(2)", "declared twice", 2),
        ("x = 'text'", "not allowed", 1),
        ("x = print(1)", "calls are not allowed", 1),
        ("x = 1\nx.y = 2", "assign to one variable", 2),
        ("x = 99999999999999999999", "does not fit in 64 bits", 1),
        ("x = 1\noutput(x)\ny = 2", "last statement", 3),
        ("x = input(n)", "input takes one number", 1),
    ],
)
def test_program_errors_say_what_and_where(text, message, line):
    with pytest.raises(ProgramError, match=message) as exc:
        parse_cfg_program(text)
    assert exc.value.line == line


def test_limits_statements_nesting_and_steps():
    with pytest.raises(ProgramError, match="statements"):
        parse_cfg_program("x = 1\n" * (MAX_STATEMENTS + 1))
    deep = "x = 1\ny = x" + " + x" * 150
    with pytest.raises(ProgramError, match="nested"):
        parse_cfg_program(deep)
    forever = parse_cfg_program("x = 0\nwhile 1:\n    x = x + 1\noutput(x)")
    with pytest.raises(BudgetError, match="steps"):
        run_cfg(forever)
    with pytest.raises(BudgetError, match="steps"):  # the compiled program is never started
        run_llvm(forever)
    with pytest.raises(EngineError, match="no input named"):
        run_cfg(forever, {"y": 1})
    with pytest.raises(EngineError, match="is an int"):
        run_cfg(parse_cfg_program("n = input(1)\noutput(n)"), {"n": 2.5})
    with pytest.raises(EngineError, match="unknown pass"):
        optimize_cfg(forever, ["constprop", "inline"])


def test_branch_on_a_literal_is_folded_by_constprop_first():
    p = _pass("a = input(0)\nif a > 1 and 2 > 1:\n    a = 1\noutput(a)", "constprop")
    assert isinstance(p.block("entry").term, Branch)


def test_user_names_never_collide_with_temporaries_in_llvm():
    p = parse_cfg_program("t1 = input(2)\nx = t1 * 4 + 1\nentry = x - t1\noutput(x, entry)")
    assert run_llvm(p, {"t1": 5}) == run_cfg(p, {"t1": 5}) == {"x": 21, "entry": 16}
