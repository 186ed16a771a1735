"""AppTests for the kernel-layer lab (micro_kernel) and the LLM per-layer analyzer (llm_analyzer): default
renders, controls that change the numbers, Chinese, and bad input shown as an error."""

from __future__ import annotations


def _metric(at, label_part: str) -> str:
    return next(m.value for m in at.metric if label_part in m.label)


def test_micro_kernel_renders_and_controls_change_the_counts(lab):
    at = lab("micro_kernel", strict=True)
    assert len(at.get("plotly_chart")) == 4  # search, register file, packed A, packed B
    assert _metric(at, "Tile") == "6 × 16" and _metric(at, "Registers used") == "15 / 16"
    assert float(_metric(at, "max |C")) < 1e-3
    assert any("4x24" in i.value and "6x16" in i.value for i in at.info)  # model vs BLIS, said why
    at.slider(key="mk_mr").set_value(7).run()
    assert not at.exception and at.warning and "17 registers needed" in at.warning[0].value
    at.radio(key="mk_isa").set_value("NEON").run()
    at.slider(key="mk_mr").set_value(8).run()
    at.slider(key="mk_vec").set_value(3).run()
    assert _metric(at, "Tile") == "8 × 12" and _metric(at, "Registers used") == "29 / 32"
    assert at.success and "agree: 8x12" in at.success[0].value
    at.slider(key="mk_m").set_value(97).run()
    assert not at.exception and _metric(at, "zero padding") != "0.0%"


def test_micro_kernel_stepper_walks_the_k_steps(lab):
    at = lab("micro_kernel", mk_step="3")
    assert not at.exception
    assert any("k-step 3 of 96" in i.value and "offsets 32–47" in i.value for i in at.info)


def test_llm_analyzer_renders_and_controls_change_the_result(lab):
    at = lab("llm_analyzer", strict=True)
    assert len(at.get("plotly_chart")) == 3
    assert _metric(at, "Parameters") == "6.738 B"
    tpot = float(_metric(at, "Time per output token").split()[0])
    assert 6.0 < tpot < 7.5  # 13.5 GB of fp16 weights over 2.04 TB/s
    at.select_slider(key="la_wbits").set_value(4).run()
    assert float(_metric(at, "Time per output token").split()[0]) < 0.4 * tpot
    at.radio(key="la_phase").set_value("decode").run()
    assert any("100% of the time in memory-bound ops" in m.value for m in at.markdown)
    at.selectbox(key="la_model").set_value("Llama-2-70B").run()
    assert _metric(at, "Parameters") == "68.977 B"
    at.selectbox(key="la_hw").set_value("H100 SXM").run()
    assert not at.exception and not at.error


def test_llm_analyzer_custom_config_and_bad_input(lab):
    at = lab("llm_analyzer", la_model="custom")
    assert not at.exception and _metric(at, "Parameters") == "6.738 B"
    at.number_input(key="la_layers").set_value(16).run()
    assert _metric(at, "Parameters") == "3.500 B"  # 16 layers of 202.4 M + 2 x 131 M embeddings
    at.number_input(key="la_kv_heads").set_value(5).run()
    assert not at.exception and at.error and "shared evenly" in at.error[0].value


def test_both_labs_in_chinese(lab):
    at = lab("micro_kernel", lang="zh")
    assert at.title[0].value == "GEMM 微内核" and not at.exception and not at.error
    assert any("寄存器" in c.value for c in at.caption)
    at = lab("llm_analyzer", lang="zh", la_model="custom", la_heads="30")
    assert at.title[0].value == "大模型逐层分析器" and not at.exception
    assert at.error and "不能被" in at.error[0].value
