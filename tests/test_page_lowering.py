"""The lowering lab: its page glue (engine/compiler/lab_lowering.py) against oracles, then AppTests.

Oracles: the elementwise chain's formula written out in numpy here (not the registry's kernels the
glue times), LLVM's own parser re-reading the IR the page shows (instruction counts, verification),
and numpy's matmul for the default kernel's JIT result.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.compiler import lab_lowering as ll
from engine.core.errors import EngineError

CHAIN = "x = input([256, 1024])\na = x * 2.0\nb = a + 1.0\nc = relu(b)\nd = c * x\ny = d - x\n"


def _llvm_count(text: str) -> tuple[int, int]:
    """(instructions, blocks) of the defined functions, as LLVM itself reads the text."""
    import llvmlite.binding as llvm

    mod = llvm.parse_assembly(text)
    mod.verify()
    fns = [f for f in mod.functions if not f.is_declaration]
    return sum(len(list(b.instructions)) for f in fns for b in f.blocks), sum(
        len(list(f.blocks)) for f in fns
    )


@pytest.fixture(scope="module")
def chain_report():
    g = engine.parse_program(CHAIN)
    kc = ll.kernel_choices(g)
    return g, kc, ll.lowering_report(g, kc.names(kc.labels[kc.default]), {"vector": 8}, 2, repeat=3)


def test_kernel_choices_list_nodes_then_fused_groups():
    g = engine.preset("mlp")
    kc = ll.kernel_choices(g)
    assert kc.labels[: kc.labels.index("logits") + 1] == ("matmul#1", "add#1", "h", "matmul#2", "logits")
    groups = [" + ".join(grp) for grp in engine.fuse(g) if len(grp) > 1]
    assert list(kc.labels[5:]) == groups == ["matmul#1 + add#1 + h", "matmul#2 + logits"]
    assert kc.labels[kc.default] == "matmul#1" == engine.lower(g).nodes[0]  # the engine's own pick
    with pytest.raises(EngineError, match="no kernel named"):
        kc.names("softmax")


def test_an_elementwise_default_opens_inside_its_fused_group(chain_report):
    _, kc, rep = chain_report
    assert kc.labels[kc.default] == "a + b + c + d + y"
    assert rep.nodes == ("a", "b", "c", "d", "y")
    assert rep.schedule.endswith("split(i1, 8); vectorize(i1_i)")


def test_the_chain_equals_its_formula_and_llvm_reads_the_same_counts(chain_report):
    g, _, rep = chain_report
    values = engine.lower(g, rep.nodes).default_inputs()
    x = values["x"].astype(np.float64)
    formula = np.maximum(x * 2.0 + 1.0, 0.0) * x - x  # the program, written out by hand
    numpy_kernels = ll._numpy(g, rep.nodes, values)
    np.testing.assert_allclose(numpy_kernels, formula, rtol=1e-6, atol=1e-6)
    assert rep.times.agree and rep.times.max_abs_diff < 1e-5 and rep.times.output_shape == (256, 1024)
    ours = engine.lower(g, rep.nodes, {"vector": 8}).llvm_ir
    assert _llvm_count(ours) == (rep.levels[0].instructions, rep.levels[0].blocks)
    assert _llvm_count(rep.optimized_ir) == (rep.levels[3].instructions, rep.levels[3].blocks)
    assert [s.level for s in rep.levels] == ["ours", "-O0", "-O1", "-O2", "-O3"]
    assert [s.level for s in rep.steps][-3:] == ["LLVM IR", "optimised IR", "machine code"]
    assert "ret" in rep.assembly and rep.modes.object_bytes > 0


def test_bad_requests_are_engine_errors():
    g = engine.preset("mlp")
    with pytest.raises(EngineError, match="repeat"):
        ll.lowering_report(g, "matmul#1", None, 2, repeat=0)
    with pytest.raises(EngineError, match="opt_level"):
        ll.lowering_report(g, "matmul#1", None, 7)
    with pytest.raises(EngineError):
        ll.kernel_choices("not a graph")


# -- the page ---------------------------------------------------------------------------------------
def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_default_view_steps_from_the_graph_op_to_machine_code(lab):
    at = lab("lowering", strict=True)
    assert at.selectbox(key="lo_kernel").value == "matmul#1"
    n = at.slider(key="lo_step").max
    at.slider(key="lo_step").set_value(n - 2).run()  # the LLVM IR step (then optimised IR, machine code)
    assert not at.exception
    ir = [c.value for c in at.code if "define void @kernel_" in c.value]
    assert ir and " = phi " in ir[0] and "<4 x float>" in ir[0]  # vector width 4 by default
    assert float(_metrics(at)["max |JIT − numpy|"]) < 1e-4
    assert any("equals numpy's" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 3  # -O levels, run modes, shape calls
    assert _metrics(at)["recompiles"] == "5"  # shapes 1, 2, 4, 8, 16 of the default sequence


def test_changing_the_schedule_and_the_example_button(lab):
    at = lab("lowering", strict=True)
    at.select_slider(key="lo_vec").set_value(8).run()
    at.slider(key="lo_step").set_value(at.slider(key="lo_step").max - 2).run()
    assert any("<8 x float>" in c.value for c in at.code)
    at.button(key="lo_chain").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="lo_kernel").value == "a + b + c + d + y"
    assert any("equals numpy's" in s.value for s in at.success)


def test_chinese_page(lab):
    at = lab("lowering", lang="zh", strict=True)
    assert at.title[0].value == "降级到 LLVM"
    assert at.subheader[0].value == "从图算子到机器码，一层一层往下走"


def test_graphs_without_a_kernel_and_oversized_schedules_say_why(lab):
    at = lab("lowering", g="x = input([2, 3])\ny = softmax(x)\n")
    assert not at.exception and any("no op that lowers" in i.value for i in at.info)
    at = lab("lowering", g="x = input([2, 3])\ny = relu(x\n")  # a broken program: the default graph
    assert not at.exception and at.error and at.selectbox(key="lo_kernel").value == "matmul#1"
    at = lab("lowering", lo_graph="resnet_basic_block", lo_tile="32", lo_vec="16", lo_unroll="16")
    assert not at.exception and any("equals numpy's" in s.value for s in at.success)  # clamped, still right
    assert any("shape-generic kernel" in i.value for i in at.info)  # a conv has no generic kernel: said so
