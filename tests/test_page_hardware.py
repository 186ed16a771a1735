"""AppTests for the four hardware-lab pages: smoke, one interaction, one bad input."""
from __future__ import annotations



def _metric(at, label_part: str) -> str:
    return next(m.value for m in at.metric if label_part in m.label)


def test_systolic_page(lab):
    at = lab("systolic_array")
    before = _metric(at, "Cycles")
    at.slider(key="sa_rows").set_value(8).run()
    assert not at.exception and _metric(at, "Cycles") != before
    assert any("equals numpy" in s.value for s in at.success)
    at.number_input(key="sa_k").set_value(0).run()
    assert at.error and "K = 0" in at.error[0].value


def test_gpu_occupancy_page(lab):
    at = lab("gpu_occupancy")
    assert _metric(at, "Occupancy") == "75.0%"          # Best Practices Guide: cc 7.0, 128 thr, 37 regs
    assert any("matches NVIDIA's CUDA C++ Best Practices Guide" in c.value and "difference 0.0" in c.value
               for c in at.caption)
    at.number_input(key="go_threads").set_value(320).run()
    assert not at.exception and _metric(at, "Occupancy") == "62.5%"
    at.number_input(key="go_regs").set_value(256).run()
    assert at.error and "255" in at.error[0].value


def test_davinci_page(lab):
    at = lab("davinci_core")
    assert float(_metric(at, "vs numpy")) < 1e-3          # fp32 accumulation of fp16 operands
    before = _metric(at, "Cube utilisation")
    at.toggle(key="dv_db").set_value(False).run()
    assert not at.exception and _metric(at, "Cube utilisation") != before
    at.select_slider(key="dv_tm").set_value(256).run()
    at.select_slider(key="dv_tk").set_value(256).run()
    assert at.error and "L0A" in at.error[0].value


def test_execution_models_page(lab):
    at = lab("execution_models")
    label = lambda: next(m.value for m in at.markdown if "lanes active" in m.value)
    before = label()
    at.radio(key="em_model").set_value("SIMD").run()
    assert not at.exception and label() != before and "vcmp" in label()
    assert any("same c as numpy" in s.value for s in at.success)


def test_execution_models_empty_vector_is_refused(lab):
    at = lab("execution_models")
    at.slider(key="em_n").set_value(0).run()
    assert not at.exception and at.error and "empty" in at.error[0].value


def test_systolic_page_shows_the_scalesim_golden_badge(lab):
    at = lab("systolic_array")                          # default: GEMM_mnk 256×128×256 on 32×32, os
    badge = next(c.value for c in at.caption if "golden report" in c.value)
    assert "80.5031" in badge and "matches" in badge
