"""AppTests for AMD CDNA beside NVIDIA: the occupancy lab's vendor switch and the SIMT lab's wave64 vs
warp32 section, in English and Chinese.

Expected numbers come from AMD's sources, not from our engine: the register-pressure lab note (CDNA2,
102 VGPRs -> 4 waves per SIMD, 96 -> 5), the ROCm Compute Profiler tutorial (a 64 KiB LDS workgroup of
256 work-items leaves 1 wave per SIMD: 12.49 % of peak measured), the ROCm GPU specification table (304
CUs on MI300X, 220 on MI250X) and, for the divergence counts, the closed form (a 64-lane group is two
32-lane groups).
"""

from __future__ import annotations

import json


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _charts(at) -> str:
    """Every figure's JSON, non-ASCII text unescaped."""
    return " ".join(json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("plotly_chart"))


def test_vendor_switch_shows_the_amd_model(lab):
    at = lab("gpu_occupancy", strict=True)
    assert _metric(at, "Occupancy") == "75.0%" and not any(m.label == "Waves per SIMD" for m in at.metric)
    at.radio(key="go_vendor").set_value("AMD").run()
    assert not at.exception and not at.error
    assert _metric(at, "Waves per SIMD") == "4 / 8"  # 102 VGPRs: the lab note's kernel
    assert _metric(at, "Occupancy") == "50.0%" and _metric(at, "Limited by") == "VGPRs"
    assert not any(m.label == "Blocks per SM" for m in at.metric)
    assert "Waves per SIMD as one resource grows" in _charts(at)


def test_amd_controls_change_the_result(lab):
    at = lab("gpu_occupancy", go_vendor="AMD", strict=True)
    gpu = _metric(at, "Waves on the GPU")
    assert gpu == f"{4 * 4 * 304:,}"  # 4 waves per SIMD x 4 SIMDs x 304 CUs (MI300X)
    at.number_input(key="go_vgpr").set_value(96).run()
    assert _metric(at, "Waves per SIMD") == "5 / 8"
    at.number_input(key="go_lds").set_value(64.0).run()
    assert _metric(at, "Waves per SIMD") == "1 / 8" and _metric(at, "Limited by") == "LDS"
    at.selectbox(key="go_arch").set_value("gfx90a").run()
    assert _metric(at, "Waves on the GPU") == f"{1 * 4 * 220:,}"  # MI250X: 220 CUs
    at.number_input(key="go_lds").set_value(0.0).run()
    at.number_input(key="go_wg").set_value(1024).run()
    at.number_input(key="go_vgpr").set_value(256).run()  # 4 waves per SIMD needed, 2 fit
    assert not at.exception and at.error and "launch would fail" in at.error[0].value


def test_amd_view_in_chinese(lab):
    at = lab("gpu_occupancy", lang="zh", go_vendor="AMD", strict=True)
    assert _metric(at, "每个 SIMD 的波前数") == "4 / 8"
    assert _metric(at, "受限于") == "VGPR（向量寄存器）"
    charts = _charts(at)
    assert "单一资源增加时每个 SIMD 的波前数" in charts and "各资源允许的每 SIMD 波前数" in charts
    at.number_input(key="go_wg").set_value(1024).run()
    at.number_input(key="go_vgpr").set_value(300).run()
    assert at.error and "无法启动" in at.error[0].value


def test_wave64_vs_warp32_section(lab):
    at = lab("execution_models", strict=True)
    text = next(m.value for m in at.markdown if "lane-slots" in m.value)
    assert "(0 of 8 warps diverge)" in text and "(4 of 4 waves diverge)" in text  # runs of 32
    at.radio(key="em_pattern").set_value("runs of 64").run()
    text = next(m.value for m in at.markdown if "lane-slots" in m.value)
    assert "(0 of 4 waves diverge)" in text and "**8**" in text  # 4 waves x (setp + one path)


def test_wave64_vs_warp32_in_chinese(lab):
    at = lab("execution_models", lang="zh", strict=True)
    assert any("Wave64（AMD CDNA）对比 warp32（NVIDIA）" in s.value for s in at.subheader)
    assert any("分化" in m.value and "通道槽位" in m.value for m in at.markdown)
    assert "同一分支作用于 256 个元素" in _charts(at)
