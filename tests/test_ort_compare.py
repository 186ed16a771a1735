"""Our passes vs onnxruntime's own optimised graphs (saved with optimized_model_filepath)."""

from __future__ import annotations

import pytest

import engine
from engine.core.errors import EngineError
from engine.interop.ort_compare import compare_with_ort, ort_optimized


@pytest.mark.parametrize(
    "name", ["conv_bn_relu", "resnet_basic_block", "mobilenetv2_inverted_residual", "mlp"]
)
def test_basic_level_node_count_matches_ours(name):
    # onnxruntime's basic level folds constants, Conv+BN and MatMul+Add: our basic pipeline must
    # reach the same number of ops on these models.
    c = compare_with_ort(engine.preset(name))
    assert c.level("disabled").nodes == c.ours_ops_before
    assert c.level("basic").nodes == c.ours_ops_basic < c.ours_ops_before


def test_extended_level_fuses_conv_relu_like_our_fusion():
    c = compare_with_ort(engine.preset("conv_bn_relu"))
    ext = c.level("extended")
    assert ext.nodes == 1 == c.ours_kernels
    assert ext.fused == ("FusedConv(Relu)",) and c.ours_fused == ("conv2d+relu",)
    rows = c.rows()
    assert {r["side"] for r in rows} == {"ours", "onnxruntime"}


def test_mlp_fused_gemm_relu():
    c = compare_with_ort(engine.preset("mlp"))
    assert "FusedGemm(Relu)" in c.level("extended").fused
    assert "gemm+relu" in c.ours_fused


def test_zoo_resnet18_from_onnx_bytes():
    from engine.interop.torch_zoo import zoo_onnx

    c = compare_with_ort(zoo_onnx("resnet18"))
    # torch's exporter already folded BN into the convs: 49 ONNX nodes, no basic-level change
    assert c.level("disabled").nodes == c.ours_ops_before == c.ours_ops_basic
    assert c.level("extended").fused.count("FusedConv(Relu)") >= 8
    # we fuse every conv with its relu and the residual add: fewer kernels than ORT's CPU graph
    assert c.ours_kernels <= c.level("extended").nodes


def test_bad_inputs_are_engine_errors():
    with pytest.raises(EngineError):
        compare_with_ort("not a model")
    with pytest.raises(EngineError):
        compare_with_ort(b"\x00garbage")
    with pytest.raises(EngineError, match="basic"):
        ort_optimized(engine.to_onnx(engine.preset("mlp")), "all")
