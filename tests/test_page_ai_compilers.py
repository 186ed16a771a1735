"""AppTest of the AI-compiler landscape page: the map, a level picked, Chinese, a bad link value."""

from __future__ import annotations

from engine.compiler.landscape import landscape
from engine.kernels.tvm_gemm import tvm_available


def _facts_shown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_default_view_is_the_graph_level_with_every_compiler(lab):
    at = lab("ai_compilers", strict=True)
    assert at.title[0].value == "AI compiler landscape"
    assert [s.value for s in at.subheader][0] == "Graph IR"
    shown = _facts_shown(at)
    table = landscape()
    for comp in table.compilers:  # one card per compiler, with its representation at this level
        assert f"**{comp.name}** · `{table.cell(comp.key, 'graph').ir}`" in shown
    for fact in table.cell("xla", "graph").facts:  # each fact with a link to its source
        assert f"{fact.text} [[" in shown and table.source(fact.source).url in shown
    assert "The GEMM lab's schedule, written in TVM" in [s.value for s in at.subheader]  # test_tvm_gemm.py
    assert len(at.get("plotly_chart")) == (2 if tvm_available() else 1)  # the map, TVM vs numpy vs model


def test_picking_a_level_shows_its_cells_and_the_labs_that_show_it(lab):
    at = lab("ai_compilers", strict=True)
    at.button_group(key="ac_level").set_value("tensor").run()
    assert not at.exception
    assert at.subheader[0].value == "Tensor and loop IR"
    shown = _facts_shown(at)
    assert "TBE: compute + schedule" in shown and "Inductor loop IR → Triton" in shown
    assert "GEMM optimisation" in shown and "Lowering to LLVM" in shown  # the labs of this level
    at.radio(key="ac_ck_g").set_value("Tensor and loop IR")  # inside a form: submitted with Check
    next(b for b in at.button if b.label == "Check").click().run()
    assert any("Right" in s.value for s in at.success)


def test_chinese_page(lab):
    at = lab("ai_compilers", lang="zh", strict=True)
    assert at.title[0].value == "AI 编译器全景"
    assert at.subheader[0].value == "图 IR"
    assert "按每个算子的模式类型做算子融合" in _facts_shown(at)


def test_a_level_the_link_does_not_know_falls_back(lab):
    at = lab("ai_compilers", ac_level="<img src=x onerror=alert(1)>")
    assert not at.exception and not at.error
    assert at.subheader[0].value == "Graph IR"
