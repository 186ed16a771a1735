"""AppTests for the four hardware-lab pages: smoke, one interaction, one bad input; and the hardware
figures drawn in Chinese."""

from __future__ import annotations

import numpy as np

from ui.i18n import Translator


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
    assert _metric(at, "Occupancy") == "75.0%"  # Best Practices Guide: cc 7.0, 128 thr, 37 regs
    assert any(
        "matches NVIDIA's CUDA C++ Best Practices Guide" in c.value and "difference 0.0" in c.value
        for c in at.caption
    )
    at.number_input(key="go_threads").set_value(320).run()
    assert not at.exception and _metric(at, "Occupancy") == "62.5%"
    at.number_input(key="go_regs").set_value(256).run()
    assert at.error and "255" in at.error[0].value


def test_gpu_occupancy_draws_only_the_open_curve_tab(lab):
    """The two occupancy curves sit in tabs of which only the open one is drawn (a move redraws one
    figure); a link with ``go_curve`` opens the other; an unknown value is the default tab."""

    def curves(at) -> list[str]:
        return sorted(
            c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart") if "go_curve" in c.proto.id
        )

    at = lab("gpu_occupancy")
    assert curves(at) == ["fig_go_curve_t"]
    at.session_state["go_curve"] = "vs registers"  # a click on the second tab
    assert curves(at.run()) == ["fig_go_curve_r"] and not at.exception
    shared = lab("gpu_occupancy", go_curve="vs registers")
    assert not shared.exception and curves(shared) == ["fig_go_curve_r"]
    assert curves(lab("gpu_occupancy", go_curve="vs nothing")) == ["fig_go_curve_t"]


def test_davinci_page(lab):
    at = lab("davinci_core")
    assert float(_metric(at, "vs numpy")) < 1e-3  # fp32 accumulation of fp16 operands
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
    at = lab("systolic_array")  # default: GEMM_mnk 256×128×256 on 32×32, os
    badge = next(c.value for c in at.caption if "golden report" in c.value)
    assert "80.5031" in badge and "matches" in badge


def test_hardware_figures_draw_their_words_in_the_view_language():
    from engine.hw import simd, systolic
    from viz import hardware as hw

    zh = Translator("zh")
    a, b = np.array([1.0, -2.0, 3.0, -4.0]), np.ones(4)
    bars = hw.utilization_bars([simd(a, b, 4)], "t", tr=zh)
    assert bars.layout.yaxis.title.text == "通道利用率（%）" and bars.data[0].text[0].endswith(" 个周期")
    rows = [
        {"pattern": "stride 2", "sectors": 2, "lines": 1, "efficiency": 0.5},
        {"pattern": "random", "sectors": 32, "lines": 32, "efficiency": 0.03},
    ]
    assert list(hw.coalescing_chart(rows, "t", tr=zh).data[0].x) == ["步长 2", "随机"]
    compare = [systolic(64, 64, 64, 8, 8, f) for f in ("os", "ws", "is")]
    fig = hw.dataflow_compare(compare, "t", tr=zh)
    assert fig.data[0].x[0] == "输出驻留 (os)" and fig.data[0].text[0].endswith("% 利用率")
    english = hw.dataflow_compare(compare, "t")
    assert english.data[0].x[0] == "output stationary (os)" and english.layout.xaxis.title.text == "dataflow"
    diagram = hw.davinci_diagram("t", sizes={"ub": 256 * 1024}, tr=zh)
    assert any(a.text == "统一缓冲 UB<br>256 KB" for a in diagram.layout.annotations)
