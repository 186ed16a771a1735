"""Roofline: the min() law, ridge points from the datasheets, kernel intensities."""

from __future__ import annotations

import pytest

import engine
from engine.core.errors import EngineError
from engine.kernels import roofline_model as R


def test_roofline_is_min_of_two_roofs():
    assert R.roofline(2.0, 100e12, 1e12) == engine.roofline(2.0, 100e12, 1e12) == 2e12
    assert engine.roofline(1.0, 100e12, 1e12) == pytest.approx(1e12)
    assert engine.roofline(1000.0, 100e12, 1e12) == pytest.approx(100e12)
    assert engine.roofline(100.0, 100e12, 1e12) == pytest.approx(100e12)  # exactly the ridge


@pytest.mark.parametrize(
    "name, peak_tflops, bw_gbs",
    [
        ("V100 SXM2", 125, 900),
        ("A100 40GB SXM", 312, 1555),
        ("A100 80GB SXM", 312, 2039),
        ("H100 SXM", 989.4, 3350),
        ("RTX 4090", 165.2, 1008),
        ("Ascend 910 (editable)", 256, 1200),
    ],
)
def test_presets_carry_datasheet_figures_and_ridge_points(name, peak_tflops, bw_gbs):
    hw = engine.hardware_presets()[name]
    assert hw.peak_flops == pytest.approx(peak_tflops * 1e12)
    assert hw.bandwidth == pytest.approx(bw_gbs * 1e9)
    assert hw.ridge_point == pytest.approx(peak_tflops * 1e3 / bw_gbs)
    assert hw.source


def test_known_ridge_points():
    presets = engine.hardware_presets()
    assert presets["A100 40GB SXM"].ridge_point == pytest.approx(200.6, abs=0.1)
    assert presets["H100 SXM"].ridge_point == pytest.approx(295.3, abs=0.1)
    # H100's dense figure is half the sparse one on the datasheet (1,979 TFLOPS)
    assert presets["H100 SXM"].peak_flops * 2 == pytest.approx(1979e12, rel=1e-3)
    assert all(hw.source for hw in presets.values())


def test_gemm_and_attention_intensity():
    g = R.gemm_point(4096, 4096, 4096, dtype_bytes=2)
    assert g.intensity == pytest.approx(2 * 4096**3 / (2 * 3 * 4096**2))  # = 4096/3
    pre, dec = R.attention_points(4096, 128, 32, 1)
    assert pre.intensity > 100 * dec.intensity
    assert dec.intensity == pytest.approx(4 * 4096 * 128 / (2 * (2 * 4096 * 128 + 256)))
    a100 = engine.hardware_presets()["A100 40GB SXM"]
    assert R.bound(dec.intensity, a100.peak_flops, a100.bandwidth) == "memory_bound"
    assert R.bound(g.intensity, a100.peak_flops, a100.bandwidth) == "compute_bound"


def test_elementwise_ops_are_memory_bound_everywhere():
    for hw in engine.hardware_presets().values():
        for p in R.elementwise_points():
            assert R.bound(p.intensity, hw.peak_flops, hw.bandwidth) == "memory_bound"
    add = R.elementwise_points(1000, 2)[0]
    assert add.intensity == pytest.approx(1 / 6)


@pytest.mark.parametrize("args", [(-1, 1e12, 1e9), (1, 0, 1e9), (1, 1e12, float("nan")), ("x", 1, 1)])
def test_bad_roofline_inputs(args):
    with pytest.raises(EngineError):
        engine.roofline(*args)


def test_bad_kernel_shapes():
    with pytest.raises(EngineError, match="M"):
        R.gemm_point(0, 4, 4)
    with pytest.raises(EngineError):
        R.attention_points(2.5)


def test_graph_layers_come_from_the_cost_model():
    graph = engine.preset("resnet_basic_block")
    report = engine.cost(graph)
    points = R.graph_points(graph)
    by_name = {n.name: n for n in report.nodes}
    assert points and len(points) == sum(1 for n in report.nodes if n.flops > 0)
    for p in points:
        node = by_name[p.name.split(" (")[0]]
        assert p.intensity == pytest.approx(node.arithmetic_intensity)
    # a 3x3 conv reuses every input value ~9·C times: it has the highest intensity of the block
    top = max(points, key=lambda p: p.intensity)
    assert "conv" in top.name
