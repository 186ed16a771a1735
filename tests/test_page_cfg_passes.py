"""The control-flow-graph lab: AppTests with Python itself as the oracle, and the CFG drawing.

Oracle: the page's program is Python syntax, so Python runs it (``input(d)`` gives the default,
``output(...)`` records the values) and its result must be what the page shows before and after
the passes — and what LLVM's compiled program returned.
"""

from __future__ import annotations

import ast

from apptables import tables

import engine
from engine.compiler.cfg import cfg_trace
from viz.cfg import MAX_BLOCKS, _layers, cfg_figure, cfg_step_figure


def python_runs(text: str) -> dict:
    got: dict = {}
    env = {"input": lambda default: default, "output": lambda *v: got.update(zip(_outputs(text), v))}
    exec(compile(text, "<program>", "exec"), env)  # noqa: S102 - the test oracle, on the page's own example
    return got


def _outputs(text: str) -> list[str]:
    call = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call) and n.func.id == "output")
    return [a.id for a in call.args]


def _before(program, a: str, b: str) -> bool:
    names = [x.name for x in program.blocks]
    return names.index(a) < names.index(b)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_default_program_keeps_its_output_through_every_pass_and_llvm(lab):
    at = lab("cfg_passes", strict=True)
    text = at.text_area(key="cf_program").value
    want = python_runs(text)
    table = tables(at)[0]
    assert dict(zip(table["output"], table["before the passes"])) == want == {"total": 9175}
    assert dict(zip(table["output"], table["after the passes"])) == want
    assert f"returns {want}" in " ".join(s.value for s in at.success)  # LLVM's compiled program
    m = _metrics(at)
    assert m["outputs kept"] == "✓" and m["basic blocks"] == "9" and int(m["steps"]) >= 8
    assert len(at.get("plotly_chart")) == 2  # the stepped CFG, ours vs LLVM's counts


def test_a_pipeline_of_one_pass_and_stepping(lab):
    at = lab("cfg_passes", strict=True)
    at.multiselect(key="cf_passes").set_value(["dce"]).run()
    assert not at.exception and _metrics(at)["steps"] == "3"  # input, mark, sweep
    at.slider(key="cf_step").set_value(3).run()
    assert any("entry: unused = n * 7" in c.value for c in at.code)  # the sweep's log
    at.multiselect(key="cf_passes").set_value([]).run()
    assert not at.exception and _metrics(at)["steps"] == "1"


def test_bad_programs_say_what_and_where(lab):
    at = lab("cfg_passes", cf_program="x = input(1)\ny = x +\noutput(y)\n")
    assert not at.exception and any("line 2" in e.value for e in at.error)
    at = lab("cfg_passes", cf_program="i = 0\nwhile i < 1:\n    i = i - 1\noutput(i)\n")
    assert not at.exception and any("steps" in e.value for e in at.error)
    at = lab("cfg_passes", cf_program="import os\n")
    assert not at.exception and at.error


def test_chinese_page(lab):
    at = lab("cfg_passes", lang="zh", strict=True)
    assert at.title[0].value == "控制流图上的优化 Pass"
    assert "输出保持不变" in _metrics(at)


def test_the_drawing_puts_a_loop_exit_below_the_loop_and_caps_big_programs():
    text = "d = 0\ni = 0\nwhile i < 3:\n    if i > 1:\n        i += 2\n    i += 1\n"
    text += "if d > 0:\n    i = 9\noutput(i)"
    program = engine.parse_cfg_program(text)
    layer = _layers(program.blocks)
    body = [b.name for b in program.blocks if b.name.startswith(("body", "then", "endif"))]
    exit_ = next(b.name for b in program.blocks if b.name.startswith("endwhile"))
    body = [b for b in body if not b.startswith(("then", "endif")) or _before(program, b, exit_)]
    assert layer[exit_] > max(layer[b] for b in body)
    steps = list(cfg_trace(program))
    removed = next(s for s in steps if (s.data or {}).get("removed"))
    fig = cfg_step_figure(removed)  # drawn on the program before the step, the removed items marked
    text = " ".join(a.text for a in fig.layout.annotations)
    assert any("#D55E00" in a.text or a.bordercolor == "#D55E00" for a in fig.layout.annotations), text
    lines = ["a = input(1)", "s = 0"] + [f"if a > {k}:\n    s = s + {k}" for k in range(40)] + ["output(s)"]
    big = engine.parse_cfg_program("\n".join(lines))
    assert len(big.blocks) > MAX_BLOCKS
    assert f"first {MAX_BLOCKS} of {len(big.blocks)} blocks" in cfg_figure(big).layout.title.text
