"""Lightweight models: block algebra vs engine.cost, networks vs the papers' tables and torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.core.cost_model import cost  # not engine.cost: once imported, the submodule shadows the function
from engine.core.errors import EngineError, ShapeError
from engine.models import analysis as la
from engine.models import blocks as lw
from engine.models import networks as nets


def _cost(graph):
    report = cost(graph)
    return report.params, report.macs


# -- block formulas vs engine.core.cost_model on GraphBuilder blocks ---------------------------------------
@settings(max_examples=30, deadline=None)
@given(c=st.integers(1, 64), n=st.integers(1, 64), k=st.sampled_from([1, 3, 5, 7]), side=st.integers(3, 20))
def test_standard_and_separable_blocks_match_closed_forms(c, n, k, side):
    for kind in ("standard", "depthwise_separable"):
        got = _cost(lw.build_block(kind, c, n, k, side))
        want = lw.block_cost(kind, c, n, k, side)
        assert got == (want.params, want.macs), kind


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 512), k=st.sampled_from([3, 5, 7]), c=st.integers(1, 32), side=st.integers(2, 12))
def test_separable_ratio_is_one_over_n_plus_one_over_k2(n, k, c, side):
    """Howard et al. 2017, eq. 5, checked on the engine's own counts of two real graphs."""
    sep = cost(lw.build_block("depthwise_separable", c, n, k, side)).macs
    std = cost(lw.build_block("standard", c, n, k, side)).macs
    assert math.isclose(sep / std, 1 / n + 1 / k**2, rel_tol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    g=st.sampled_from([1, 2, 3, 4, 8]),
    mult=st.integers(1, 6),
    side=st.integers(2, 16),
    t=st.integers(1, 8),
    k=st.sampled_from([3, 5]),
    s=st.integers(2, 4),
)
def test_shuffle_inverted_ghost_blocks_match_closed_forms(g, mult, side, t, k, s):
    c = 4 * g * mult
    for kind, kw in (
        ("shuffle_unit", dict(groups=g)),
        ("inverted_residual", dict(t=t)),
        ("ghost", dict(s=s)),
    ):
        n = c if kind == "shuffle_unit" else s * mult * 4
        got = _cost(lw.build_block(kind, c, n, k, side, **kw))
        want = lw.block_cost(kind, c, n, k, side, **kw)
        assert got == (want.params, want.macs), kind


@settings(max_examples=10, deadline=None)
@given(
    c=st.integers(4, 48), d=st.sampled_from([8, 16, 32, 64]), layers=st.integers(1, 3), half=st.integers(1, 6)
)
def test_mobilevit_block_matches_closed_form(c, d, layers, half):
    got = _cost(lw.build_block("mobilevit", c, c, 3, 2 * half, d=d, layers=layers))
    want = lw.block_cost("mobilevit", c, c, 3, 2 * half, d=d, layers=layers)
    assert got == (want.params, want.macs)


def test_se_block_matches_closed_form():
    L = lw.Layers("se", (1, 96, 7, 7), bn=False)
    graph = L.build(L.se(L.x, 24))
    want = lw.se_cost(96, 24)
    assert _cost(graph) == (want.params, want.macs)


def test_ghost_speedup_approaches_s():
    """Han et al. 2020, eq. 4: speed-up ≈ s when d ≈ k and s << c."""
    for s in (2, 3, 4):
        assert math.isclose(lw.ghost_speedup(256, 256, 3, s, 3), s, rel_tol=0.02)
    std = cost(lw.build_block("standard", 64, 128, 3, 14)).macs
    ghost = cost(lw.build_block("ghost", 64, 128, 3, 14, s=2)).macs
    assert math.isclose(std / ghost, lw.ghost_speedup(64, 128, 3, 2, 3), rel_tol=1e-12)


def test_inverted_residual_matches_mobilenetv2_table1_formula():
    """Sandler et al. 2018, Table 1 / section 3.3: h·w·d'·t·(d' + k² + d'') multiply-adds."""
    h, w, d1, d2, t, k = 28, 28, 32, 32, 6, 3
    macs = cost(lw.build_block("inverted_residual", d1, d2, k, h, t=t)).macs
    assert macs == h * w * d1 * t * (d1 + k * k + d2)


# -- whole networks vs the papers ------------------------------------------------------------
@pytest.mark.parametrize("name", nets.NETWORKS)
def test_network_matches_paper_table(name):
    c = nets.network_cost(name)
    paper = nets.PAPER[name]
    assert abs(c.params / 1e6 / paper.params_m - 1) <= paper.tolerance, (name, c.params)
    if paper.macs_m is not None:
        assert abs(c.macs / 1e6 / paper.macs_m - 1) <= paper.tolerance, (name, c.macs)
    assert c.matches


def test_mobilenet_v1_tables_6_and_7():
    """Every (α, ρ) row: mult-adds within 0.5 %, params round to the printed digit."""
    for row in la.width_sweep():
        assert abs(row.macs / 1e6 / row.paper_macs_m - 1) < 0.005, row
        assert round(row.params / 1e6, 1) == row.paper_params_m, row


def test_shufflenet_v2_table_5_every_width():
    """Ma et al. 2018, Table 5: 0.5x/1x/1.5x/2x — MFLOPs (multiply-adds) within 1.5 %, params
    rounding to the printed tenth of a million."""
    for alpha, (_, _, (macs_m, params_m)) in nets.SHUFFLENET_V2_WIDTHS.items():
        c = nets.network_cost("ShuffleNetV2", alpha)
        assert abs(c.macs / 1e6 / macs_m - 1) < 0.015, (alpha, c.macs)
        assert round(c.params / 1e6, 1) == params_m, (alpha, c.params)


def test_mobilenet_v2_weights_only_is_tf_slim_3_47m():
    """Without BN's scale+shift the count is the authors' TF-slim checkpoint table's 3.47 M (the
    paper's "3.4M" is that number truncated)."""
    parts = la.param_breakdown(nets.build_network("MobileNetV2"))
    assert parts["conv/linear weights"] + parts["biases"] == 3_470_760
    assert round((parts["conv/linear weights"] + parts["biases"]) / 1e6, 2) == 3.47


def test_mobilenet_v2_checkpoint_table_every_width_and_resolution():
    """The authors' TF-slim table (weights only, no BN scale/shift): at every α and resolution the
    printed MACs are the engine's with the fraction of a million dropped (300.77 -> 300), and the
    printed params are the engine's rounded to hundredths of a million."""
    for (alpha, res), (macs_m, params_m) in nets.MOBILENET_V2_SLIM.items():
        graph = nets.build_network("MobileNetV2", alpha, res)
        parts = la.param_breakdown(graph)
        assert 0 <= cost(graph).macs / 1e6 - macs_m < 1, (alpha, res)
        assert round((parts["conv/linear weights"] + parts["biases"]) / 1e6, 2) == params_m


def test_scaling_laws_width_and_resolution():
    """Pointwise MACs ∝ α², depthwise MACs ∝ α, all conv MACs ∝ ρ², params independent of ρ."""

    def by_kind(alpha, res):
        g = nets.build_network("MobileNetV1", alpha, res)
        out: dict[str, int] = {}
        for p in la.layer_points(g, "Phone CPU (assumed)"):
            out[p.kind] = out.get(p.kind, 0) + p.flops
        return out, cost(g).params

    full, p_full = by_kind(1.0, 224)
    half, _ = by_kind(0.5, 224)
    small, p_small = by_kind(1.0, 128)
    assert half["pointwise"] * 4 == full["pointwise"]
    assert half["depthwise"] * 2 == full["depthwise"]
    for kind in ("pointwise", "depthwise", "standard"):
        assert small[kind] * 224**2 == full[kind] * 128**2
    assert p_small == p_full


# -- torch oracles: the same architectures written with torch.nn (torchvision's layouts) -------
def _torch_build(name: str):
    import torch  # noqa: F401  (lazy: torch is slow to import)
    from torch import nn

    def cba(cin, cout, k, s=1, g=1, act=nn.ReLU):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)

    class InvRes(nn.Module):
        def __init__(self, cin, cout, t, k, s, act, se=0):
            super().__init__()
            e = cin * t
            mods = [cba(cin, e, 1, act=act)] if t != 1 else []
            mods.append(cba(e, e, k, s, e, act=act))
            if se:
                mods.append(SE(e, se))
            mods.append(cba(e, cout, 1, act=None))
            self.body, self.res = nn.Sequential(*mods), s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    class SE(nn.Module):
        def __init__(self, c, sq):
            super().__init__()
            self.f = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, sq, 1), nn.SiLU(), nn.Conv2d(sq, c, 1), nn.Sigmoid()
            )

        def forward(self, x):
            return x * self.f(x)

    class Shuffle(nn.Module):
        def __init__(self, cin, cout, s):
            super().__init__()
            h, self.s = cout // 2, s
            self.b1 = (
                nn.Sequential(cba(cin, cin, 3, 2, cin, None), cba(cin, h, 1)) if s == 2 else nn.Identity()
            )
            self.b2 = nn.Sequential(cba(cin if s == 2 else h, h, 1), cba(h, h, 3, s, h, None), cba(h, h, 1))

        def forward(self, x):
            if self.s == 1:
                a, b = x.chunk(2, dim=1)
                y = torch.cat([a, self.b2(b)], 1)
            else:
                y = torch.cat([self.b1(x), self.b2(x)], 1)
            n, c, hh, ww = y.shape
            return y.view(n, 2, c // 2, hh, ww).transpose(1, 2).reshape(n, c, hh, ww)

    def head(c):
        return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1000)]

    if name == "MobileNetV2":
        mods, cin = [cba(3, 32, 3, 2, act=nn.ReLU6)], 32
        for t, c, n, s in (
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ):
            for i in range(n):
                mods.append(InvRes(cin, c, t, 3, s if i == 0 else 1, nn.ReLU6))
                cin = c
        return nn.Sequential(*mods, cba(320, 1280, 1, act=nn.ReLU6), *head(1280))
    if name == "ShuffleNetV2":
        mods, cin = [cba(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)], 24
        for c, n in ((116, 4), (232, 8), (464, 4)):
            for i in range(n):
                mods.append(Shuffle(cin, c, 2 if i == 0 else 1))
                cin = c
        return nn.Sequential(*mods, cba(464, 1024, 1), *head(1024))
    if name == "EfficientNet-B0":
        mods, cin = [cba(3, 32, 3, 2, act=nn.SiLU)], 32
        for t, k, s, c, n in (
            (1, 3, 1, 16, 1),
            (6, 3, 2, 24, 2),
            (6, 5, 2, 40, 2),
            (6, 3, 2, 80, 3),
            (6, 5, 1, 112, 3),
            (6, 5, 2, 192, 4),
            (6, 3, 1, 320, 1),
        ):
            for i in range(n):
                mods.append(InvRes(cin, c, t, k, s if i == 0 else 1, nn.SiLU, se=cin // 4))
                cin = c
        return nn.Sequential(*mods, cba(320, 1280, 1, act=nn.SiLU), *head(1280))
    # MobileViT-S (parameters only: the attention layers are nn.TransformerEncoderLayer)
    mods = [cba(3, 16, 3, 2, act=nn.SiLU), InvRes(16, 32, 4, 3, 1, nn.SiLU)]
    mods += [
        InvRes(32, 64, 4, 3, 2, nn.SiLU),
        InvRes(64, 64, 4, 3, 1, nn.SiLU),
        InvRes(64, 64, 4, 3, 1, nn.SiLU),
    ]
    cin = 64
    for c, d, layers in ((96, 144, 2), (128, 192, 4), (160, 240, 3)):
        mods += [InvRes(cin, c, 4, 3, 2, nn.SiLU), cba(c, c, 3, act=nn.SiLU), nn.Conv2d(c, d, 1, bias=False)]
        mods += [nn.TransformerEncoderLayer(d, 4, 2 * d, norm_first=True) for _ in range(layers)]
        mods += [nn.LayerNorm(d), cba(d, c, 1, act=nn.SiLU), cba(2 * c, c, 3, act=nn.SiLU)]
        cin = c
    return nn.Sequential(*mods, cba(160, 640, 1, act=nn.SiLU), *head(640))


def _torch_macs(model, res: int) -> int:
    """Multiply-accumulates of every Conv2d and Linear, counted by forward hooks."""
    import torch
    from torch import nn

    total = 0

    def hook(mod, inputs, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.numel() * mod.in_channels // mod.groups * kh * kw
        else:
            total += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, res, res))
    for h in handles:
        h.remove()
    return total


def test_param_counts_equal_torch_implementations():
    for name in ("MobileNetV2", "ShuffleNetV2", "EfficientNet-B0", "MobileViT-S"):
        want = sum(p.numel() for p in _torch_build(name).parameters())
        assert cost(nets.build_network(name)).params == want, name


def test_published_torchvision_counts():
    """torchvision's model cards: mobilenet_v2 3,504,872; shufflenet_v2_x1_0 2,278,604;
    efficientnet_b0 5,288,548; mobilenet_v3_large 5,483,032; mobilenet_v3_small 2,542,856."""
    for name, n in (
        ("MobileNetV2", 3_504_872),
        ("ShuffleNetV2", 2_278_604),
        ("EfficientNet-B0", 5_288_548),
        ("MobileNetV3-Large", 5_483_032),
        ("MobileNetV3-Small", 2_542_856),
    ):
        assert cost(nets.build_network(name)).params == n


@pytest.mark.parametrize("name", ["ShuffleNetV2", "EfficientNet-B0"])
def test_forward_pass_equals_torch_with_the_same_weights(name):
    """The graph computes what the torch model computes: torch's random weights, in registration
    order, fed to the engine's param nodes (which must line up shape for shape)."""
    import torch

    torch.manual_seed(0)
    model = _torch_build(name).eval()
    graph = nets.build_network(name, resolution=64)
    params = [n.name for n in graph.params]
    tensors = list(model.parameters())
    assert [graph.node(p).shape for p in params] == [tuple(t.shape) for t in tensors]
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    feeds = {p: t.detach().numpy() for p, t in zip(params, tensors)}
    got = engine.run(graph, {"image": x, **feeds})[graph.outputs[0]]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_macs_equal_torch_hook_count():
    """An independent MAC count: torch forward hooks on every Conv2d/Linear at 224x224."""
    for name in ("MobileNetV2", "ShuffleNetV2", "EfficientNet-B0"):
        assert _torch_macs(_torch_build(name), 224) == cost(nets.build_network(name)).macs, name


# -- analysis --------------------------------------------------------------------------------
def test_depthwise_memory_bound_pointwise_compute_bound_on_phone():
    pts = la.layer_points(nets.build_network("MobileNetV1"), "Phone CPU (assumed)")
    assert {p.bound for p in pts if p.kind == "depthwise"} == {"memory_bound"}
    assert {p.bound for p in pts if p.kind == "pointwise"} == {"compute_bound"}
    dw = max(p.intensity for p in pts if p.kind == "depthwise")
    pw = min(p.intensity for p in pts if p.kind == "pointwise")
    assert dw < 2.5 and pw > 10  # the ridge point is 384/2 / 51.2 = 3.75 FLOP/B


def test_roofline_time_charges_memory_traffic():
    """MobileNetV1 has ~1.9x the MACs of MobileNetV2, but far less than 1.9x its roofline time."""
    t1 = sum(la.roofline_time(nets.build_network("MobileNetV1"), "Phone CPU (assumed)").values())
    t2 = sum(la.roofline_time(nets.build_network("MobileNetV2"), "Phone CPU (assumed)").values())
    m1 = cost(nets.build_network("MobileNetV1")).macs
    m2 = cost(nets.build_network("MobileNetV2")).macs
    assert m1 / m2 > 1.85 and t1 / t2 < 1.5


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 64), c1=st.integers(1, 512), c2=st.integers(1, 512))
def test_g1_equal_channels_minimise_memory_access(h, c1, c2):
    mac, bound = la.g1_check(h, h, c1, c2)
    assert mac >= bound * (1 - 1e-12)
    if c1 == c2:
        assert math.isclose(mac, bound, rel_tol=1e-12)
    curve = la.g1_curve(h, h, h * h * c1 * c2)
    best = min(curve, key=lambda p: p.mac)
    assert best.ratio == 1.0


def test_g1_paper_example():
    """The paper's Table 1 setting: 1x1 convs on 56x56 with c1:c2 = 1:1 vs 1:12 at equal FLOPs."""
    mac11, _ = la.g1_check(56, 56, 128, 128)
    c1 = 128 / math.sqrt(12)
    mac112 = la.g1_curve(56, 56, 56 * 56 * 128 * 128, (1 / 12,))[0].mac
    assert mac112 > 1.5 * mac11 and c1 < 128


# -- graph correctness of the MobileViT unfold/fold -----------------------------------------
def test_unfold_groups_pixels_by_position_in_patch_and_fold_inverts_it():
    x = np.arange(1 * 6 * 4 * 8, dtype=np.float32).reshape(1, 6, 4, 8)
    L = lw.Layers("fold", x.shape)
    seq = L.unfold(L.x, 2)
    back = L.fold(seq, 2, 4, 8)
    graph = L.b.build([seq, back])
    values = engine.run(graph, {"image": x})
    s = values[graph.outputs[0]]
    assert s.shape == (4, 8, 6)
    # sequence (i, j) holds the pixel at offset (i, j) of every 2x2 patch, patches row-major
    assert np.array_equal(s[1 * 2 + 0, 1 * 4 + 3], x[0, :, 1 * 2 + 1, 3 * 2 + 0])
    assert np.array_equal(values[graph.outputs[1]], x)


def test_hard_sigmoid_and_swish_match_torch():
    import torch

    x = np.linspace(-6, 6, 49, dtype=np.float32).reshape(1, 1, 7, 7)
    f = torch.nn.functional
    for kind, ref in (("hsigmoid", f.hardsigmoid), ("swish", f.silu), ("hswish", f.hardswish)):
        L = lw.Layers(kind, x.shape)
        graph = L.build(L.act(L.x, kind))
        got = engine.run(graph, {"image": x})[graph.outputs[0]]
        np.testing.assert_allclose(got, ref(torch.from_numpy(x)).numpy(), atol=1e-6)


def test_transformer_layer_equals_torch_encoder_layer():
    import torch

    torch.manual_seed(0)
    p, n, d, ffn, heads = 4, 6, 16, 32, 4
    layer = torch.nn.TransformerEncoderLayer(
        d, heads, ffn, dropout=0.0, activation=torch.nn.SiLU(), batch_first=True, norm_first=True
    ).eval()
    L = lw.Layers("tr", (p, n, d))
    graph = L.build(L.transformer(L.x, ffn, heads))
    sd = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    ordered = [
        sd["norm1.weight"],
        sd["norm1.bias"],
        sd["self_attn.in_proj_weight"].T,
        sd["self_attn.in_proj_bias"],
        sd["self_attn.out_proj.weight"].T,
        sd["self_attn.out_proj.bias"],
        sd["norm2.weight"],
        sd["norm2.bias"],
        sd["linear1.weight"].T,
        sd["linear1.bias"],
        sd["linear2.weight"].T,
        sd["linear2.bias"],
    ]
    feeds = {node.name: v for node, v in zip(graph.params, ordered)}
    x = np.random.default_rng(1).standard_normal((p, n, d)).astype(np.float32)
    got = engine.run(graph, {"image": x, **feeds})[graph.outputs[0]]
    with torch.no_grad():
        want = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_small_network_runs():
    graph = nets.build_network("MobileNetV2", 0.35, 32)
    out = engine.run(graph)[graph.outputs[0]]
    assert out.shape == (1, 1000) and np.isfinite(out).all()


# -- input validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: nets.build_network("ResNet"), "unknown network"),
        (lambda: nets.build_network("MobileNetV1", alpha=3), "between 0.1 and 2.0"),
        (lambda: nets.build_network("EfficientNet-B0", alpha=0.5), "separate models"),
        (lambda: nets.build_network("ShuffleNetV2", alpha=0.75), "0.5x, 1x, 1.5x and 2x"),
        (lambda: nets.build_network("MobileViT-S", resolution=224), "divisible by 64"),
        (lambda: nets.build_network("MobileNetV1", resolution=10_000), "resolution"),
        (lambda: lw.build_block("ghost", 16, 15, 3, 8, s=2), "divisible by"),
        (lambda: lw.build_block("standard", 16, 16, 4, 8), "odd"),
        (lambda: lw.build_block("shuffle_unit", 16, 32, 3, 8), "must equal"),
        (lambda: lw.build_block("nope", 16, 16, 3, 8), "unknown block"),
        (lambda: la.layer_points(nets.build_network("MobileNetV1"), "TPU"), "unknown hardware"),
        (lambda: la.g1_curve(0, 4, 100), "feature-map height"),
    ],
)
def test_bad_inputs_raise_engine_errors(call, words):
    with pytest.raises(EngineError, match=words):
        call()


def test_errors_are_shape_errors():
    with pytest.raises(ShapeError):
        lw.block_cost("standard", 0, 4, 3, 8)


def test_compare_blocks_leaves_out_blocks_that_do_not_fit():
    kinds = [k for k, _ in lw.compare_blocks(32, 64, 3, 14, s=3)]
    assert kinds == ["standard", "depthwise_separable", "inverted_residual"]  # 64 % 3 != 0
    assert [k for k, _ in lw.compare_blocks(64, 64, 3, 14)] == list(lw.BLOCKS)


@pytest.mark.parametrize("zh", [False, True])
def test_figures_have_titles_and_axis_labels(zh):
    from ui.i18n import Translator
    from viz import lightweight as vl

    tr = Translator("zh" if zh else "en")
    hw = engine.hardware_presets()["Phone CPU (assumed)"]
    summaries = la.summarize_all("Phone CPU (assumed)")
    h, w, b = 56, 56, 56 * 56 * 128 * 128
    figs = [
        vl.networks_figure([s.cost for s in summaries], tr=tr),
        vl.layer_roofline_figure(list(summaries[0].points), hw.peak_fp32, hw.bandwidth, hw.name, tr=tr),
        vl.time_breakdown_figure(
            [dict(network=s.cost.name, macs=s.cost.macs, times=s.times) for s in summaries], tr=tr
        ),
        vl.g1_figure(la.g1_curve(h, w, b), la.g1_bound(h, w, b), tr=tr),
        vl.sweep_figure(la.width_sweep(), tr=tr),
        vl.block_compare_figure(
            [dict(block=k, macs=c.macs, params=c.params) for k, c in lw.compare_blocks(64, 64, 3, 14)], tr=tr
        ),
    ]
    for fig in figs:
        title = fig.layout.title.text
        assert title and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in title) == zh, title


def test_block_study_engine_count_equals_closed_form_and_keeps_width():
    from engine.models import analysis as la

    b = la.block_study("depthwise_separable", 64, 128, 3, 28)
    # Howard et al. 2017 eq. 4: D_K² M D_F² + M N D_F² multiply-adds
    assert b.engine.macs == b.formula.macs == 9 * 64 * 28 * 28 + 64 * 128 * 28 * 28
    assert b.saving == pytest.approx(1 / (1 / 128 + 1 / 9), rel=1e-9)
    assert {r["node"] for r in b.rows()} and all(r["MACs"] or r["params"] for r in b.rows())
    assert la.block_study("mobilevit", 64, 32, 3, 28).n == 64  # keeps its input width
