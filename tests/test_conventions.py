"""FLOP and byte conventions against their sources: the NVIDIA Deep Learning Performance Guide's
worked arithmetic intensities, torch's own FLOP counter, fvcore's documented example, and the
published ResNet-18 parameter count beside the ONNX-exported graph's."""

from __future__ import annotations

import pytest

from engine.core import registry
from engine.core.conventions import (
    CONVENTIONS,
    FAMILIES,
    NVIDIA_EXAMPLES,
    arithmetic_intensity,
    flop_counts,
)
from engine.core.errors import EngineError


# -- the guide's table: "Understanding Performance", FP16 on a V100 ---------------------------------
@pytest.mark.parametrize("example", NVIDIA_EXAMPLES, ids=[e[0] for e in NVIDIA_EXAMPLES])
def test_worked_examples_of_the_nvidia_guide(example):
    what, op, shapes, attrs, printed = example
    ours = arithmetic_intensity(op, shapes, attrs)
    if printed.startswith("<"):
        assert ours < float(printed[1:])  # the table gives a bound for layer normalization
        return
    theirs = arithmetic_intensity(op, shapes, attrs, count="nvidia")
    digits = len(printed.split(".")[1]) if "." in printed else 0
    assert round(ours, digits) == round(theirs, digits) == float(printed)


def test_the_table_numbers_by_hand():
    # linear, batch 512: 2·512·1024·4096 FLOPs over 2 bytes × (512·1024 + 1024·4096 + 512·4096)
    assert arithmetic_intensity("matmul", [(512, 1024), (1024, 4096)]) == pytest.approx(
        2 * 512 * 1024 * 4096 / (2 * (512 * 1024 + 1024 * 4096 + 512 * 4096))
    )
    # 3×3 max pooling, unit stride: 9 compares per output over one 2-byte read and one 2-byte write
    assert arithmetic_intensity("maxpool", [(1, 1, 6, 6)], {"kernel": 3, "stride": 1, "pad": 1}) == 9 / 4
    # our own float32 roofline: half the guide's FP16 intensity
    assert arithmetic_intensity("relu", [(4, 4)], dtype_bytes=4) == 0.125


def test_a_bias_is_where_ours_and_nvidia_differ():
    shapes = [(512, 1024), (1024, 4096), (4096,)]
    c = flop_counts("gemm", shapes)
    assert c.ours - c.nvidia == 512 * 4096  # one add per output element
    assert (
        round(arithmetic_intensity("gemm", shapes))
        == round(arithmetic_intensity("gemm", shapes, count="nvidia"))
        == 315
    )


# -- the table covers every op, and each family's numbers ------------------------------------------
def test_every_registered_op_has_a_convention():
    ops = set(registry.op_names()) - set(registry.SOURCE_OPS)
    assert set(CONVENTIONS) == ops
    assert {c.family for c in CONVENTIONS.values()} == set(FAMILIES)
    for c in FAMILIES.values():
        assert c.ours and (c.nvidia or c.fvcore or c.family == "quantisation")


def test_dot_products_match_torch_flop_counter():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    F = torch.nn.functional
    cases = [
        ("matmul", [(3, 5, 7), (7, 4)], {}, lambda a, b: a @ b),
        (
            "conv2d",
            [(2, 4, 9, 9), (6, 2, 3, 3)],
            {"groups": 2, "stride": 2},
            lambda x, w: F.conv2d(x, w, None, 2, 0, 1, 2),
        ),
        ("attention", [(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)], {}, F.scaled_dot_product_attention),
    ]
    for op, shapes, attrs, fn in cases:
        with FlopCounterMode(display=False) as counter:
            fn(*(torch.randn(s) for s in shapes))
        c = flop_counts(op, shapes, attrs)
        assert c.nvidia == 2 * c.macs == counter.get_total_flops(), op
    scores = 2 * 3 * 5 * 7  # attention: + 1 scale and 5 softmax FLOPs per score on our side
    assert flop_counts("attention", cases[2][1]).ours == counter.get_total_flops() + 6 * scores


def test_fvcore_counts_macs_on_its_own_docstring_example():
    # fvcore's FlopCountAnalysis docstring: Conv2d(3, 10, 1) on 1x3x10x10 and Linear(1000, 10)
    # count 3000 and 10000 "flops" (one fused multiply-add each): our MACs
    conv = flop_counts("conv2d", [(1, 3, 10, 10), (10, 3, 1, 1), (10,)])
    linear = flop_counts("gemm", [(1, 1000), (10, 1000), (10,)], {"trans_b": 1})
    assert (conv.fvcore, linear.fvcore) == (3000, 10000) == (conv.macs, linear.macs)
    assert conv.ours == 2 * 3000 + 1000 and linear.ours == 2 * 10000 + 10


def test_both_numbers_where_fvcore_differs():
    n = 4 * 64
    ln = flop_counts("layernorm", [(4, 64), (64,), (64,)])
    assert (ln.ours, ln.fvcore, ln.nvidia) == (7 * n, 5 * n, None)
    assert flop_counts("layernorm", [(4, 64)]).fvcore == 4 * n
    bn = flop_counts("batchnorm", [(2, 3, 4, 4)] + [(3,)] * 4)
    assert bn.ours == bn.fvcore == 2 * 96
    gap = flop_counts("global_avgpool", [(2, 3, 4, 4)])
    assert gap.ours == gap.nvidia == gap.fvcore == 96
    relu = flop_counts("relu", [(5, 6)])
    assert (relu.ours, relu.nvidia, relu.fvcore) == (30, 30, 0)
    sm = flop_counts("softmax", [(5, 6)])
    assert (sm.ours, sm.nvidia, sm.fvcore) == (150, None, 0)
    assert flop_counts("reshape", [(5, 6)], {"shape": (30,)}).ours == 0


def test_bad_requests_are_engine_errors():
    with pytest.raises(EngineError, match="no FLOP convention for 'input'"):
        flop_counts("input", [(2,)])
    with pytest.raises(EngineError, match="count must be"):
        arithmetic_intensity("relu", [(2,)], count="fvcore")
    with pytest.raises(EngineError, match="gives no FLOP count for softmax"):
        arithmetic_intensity("softmax", [(2, 3)], count="nvidia")


# -- parameter counts: torchvision's convention vs the ONNX export's folded BatchNorm ---------------
def test_parameter_counts_state_both_conventions():
    pytest.importorskip("torch")
    from engine.interop.torch_zoo import RESNET18_PARAMS, param_counts

    r = param_counts("resnet18")
    assert r.torch == RESNET18_PARAMS == 11_689_512  # torchvision's published count
    # BatchNorm's γ and β (2 per channel) become one conv bias per channel: 1 × channels fewer
    assert r.folded_away == r.bn_channels == 4_800 and r.graph == 11_684_712
    m = param_counts("mobilenetv2_block")
    assert m.folded_away == m.bn_channels == 2 * 192 + 32
    t = param_counts("tiny_cnn")
    assert t.torch == t.graph and t.bn_channels == 0
