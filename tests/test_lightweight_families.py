"""The model zoo's new families: counts vs the papers' tables, vs torch modules of the same architecture
written here, vs the authors' released code's parameter counts; the counting builder vs engine.cost;
channel shuffle vs torch; Mobile MQA and separable attention vs torch; the G2–G4 experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine.core.cost_model import cost
from engine.core.errors import BudgetError, EngineError
from engine.models import efficientnet as ef
from engine.models import guidelines as gl
from engine.models import shufflenet_v1 as s1
from engine.models import zoo
from engine.models import zoo_views as zv
from engine.models.blocks import Layers
from engine.models.mobilenetv4 import MNV4_ROWS, mobile_mqa

#: sum(p.numel()) of timm 1.0.31's models (pretrained=False), which reproduce the authors' released code:
#: tf_efficientnet_b0..b7, tf_efficientnetv2_s, mobilenetv4_conv_small/medium, mobilenetv4_hybrid_medium,
#: mobilevitv2_050/075/100/200, efficientformer_l1.
RELEASED = {
    **dict(
        zip(
            ef.COEFFICIENTS,
            (5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704, 66_347_960),
        )
    ),
    "EfficientNetV2-S": 21_458_488,
    "MobileNetV4-Conv-S": 3_774_024,
    "MobileNetV4-Conv-M": 9_715_512,
    "MobileNetV4-Hybrid-M": 11_074_648,
    "MobileViTv2-0.5": 1_370_593,
    "MobileViTv2-0.75": 2_866_009,
    "MobileViTv2-1": 4_901_841,
    "MobileViTv2-2": 18_449_329,
    "EfficientFormer-L1": 12_289_928,
}


@pytest.mark.parametrize("name", list(RELEASED))
def test_params_equal_the_released_code(name):
    res = 224 if "Former" in name else 64 if "ViT" in name else 32  # EfficientFormer: a 7x7 bias table
    assert zoo.count_network(name, 1.0, res)[0] == RELEASED[name]


@pytest.mark.parametrize(
    "name", [n for n in zoo.SPECS if not n.startswith("MobileNetV4-") or n.endswith("S")]
)
def test_matches_paper_table(name):
    c = zoo.zoo_cost(name)
    if name == "MobileViTv3-XXS":
        assert not c.matches  # its MACs (0.33 G) are above the paper's 0.289 G: see the lesson
        return
    assert c.matches, (name, c.params, c.paper_macs, c.params_diff, c.macs_diff)


def test_mnv4_medium_differs_from_the_paper_but_equals_the_released_code():
    for name, paper_params in (("MobileNetV4-Conv-M", 9.2), ("MobileNetV4-Hybrid-M", 10.5)):
        c = zoo.zoo_cost(name)
        assert c.params == c.oracle == RELEASED[name]
        assert 0.05 < c.params / 1e6 / paper_params - 1 < 0.06 and not c.matches


def test_shufflenet_v1_table1_complexity_to_the_printed_integer():
    """Zhang et al. 2018, Table 1: 143/140/137/133/137 MFLOPs; the engine's MACs without the classifier
    round to exactly these integers (with it, g = 4 and 8 would be off by one)."""
    for row in zv.shufflenet_groups():
        assert round(row.macs_without_fc / 1e6) == row.paper_mflops, row
        assert row.channels == s1.STAGE_CHANNELS[row.groups]


def test_efficientnet_b0_to_b7_sweep_and_rule():
    rows = zv.efficientnet_sweep()
    assert [r.params for r in rows] == list(RELEASED.values())[:8]
    for r in rows:  # Table 2 prints 2 significant digits of params and FLOPs
        assert (
            abs(r.params / 1e6 / r.paper_params_m - 1) < 0.05
            and abs(r.macs / 1e6 / r.paper_macs_m - 1) < 0.05
        )
    assert math.isclose(ef.compound_coefficients(1).flops_factor, 1.2 * 1.1**2 * 1.15**2)
    growth = [b.macs / a.macs for a, b in zip(rows, rows[1:])]
    assert all(1.4 < g < 2.6 for g in growth) and 1.5 < np.exp(np.mean(np.log(growth))) < 2.1


def test_scaled_efficientnet_at_phi_0_is_b0_and_grows_like_the_rule():
    b0 = zoo.count_network("EfficientNet-B0")
    s0 = zv.scaled_efficientnet(0)
    assert (s0.params, s0.macs) == b0 and s0.growth == 1
    for phi in (1, 2, 3):  # ceil(d·n) rounds repeats up (1.44 x 1 layer -> 2), so growth runs above the rule
        s = zv.scaled_efficientnet(phi)
        assert 1.0 < s.growth / s.compound.flops_factor < 1.35, (phi, s.growth)


@pytest.mark.parametrize(
    "name, res",
    [
        ("MobileNetV4-Hybrid-M", 64),
        ("ShuffleNetV1-g8", 64),
        ("EfficientNet-B3", 96),
        ("EfficientNetV2-S", 64),
        ("MobileViTv2-1.5", 128),
        ("MobileViTv3-S", 128),
        ("EfficientFormer-L1", 224),
    ],
)
def test_counting_builder_equals_engine_cost(name, res):
    c = cost(zoo.build_network(name, resolution=res))
    assert zoo.count_network(name, 1.0, res) == (c.params, c.macs)


def test_public_api_lists_and_builds_every_network():
    names = engine.network_names()
    for want in (
        "EfficientNet-B7",
        "ShuffleNetV1-g8",
        "MobileNetV4-Hybrid-M",
        "MobileViTv2-1",
        "MobileViTv3-S",
        "EfficientFormer-L1",
        "MobileViT-S",
        "MobileNetV1",
    ):
        assert want in names
    g = engine.build_network("ShuffleNetV1-g3", 0.5, 96)
    assert engine.cost(g).params == zoo.count_network("ShuffleNetV1-g3", 0.5)[0]


def test_stage_costs_add_up_to_the_totals():
    view = zv.network_view("MobileNetV4-Conv-S", 1.0, 224)
    assert sum(s.macs for s in view.stages) == view.macs and sum(s.params for s in view.stages) == view.params
    assert [s.stage for s in view.stages] == ["1/2", "1/4", "1/8", "1/16", "1/32", "head"]
    assert view.program is None and "characters" in view.program_note


# -- torch oracles ----------------------------------------------------------------------------------
def _nn():
    from torch import nn

    def cba(cin, cout, k, s=1, g=1, act=nn.ReLU, bias=False):
        mods = [nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=bias), nn.BatchNorm2d(cout)]
        return nn.Sequential(*mods, act()) if act else nn.Sequential(*mods)

    return nn, cba


def _div(v):
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


def _torch_mnv4(name):
    nn, cba = _nn()
    hybrid = "Hybrid" in name
    mods, cin = [cba(3, 32, 3, 2)], 32
    for row in MNV4_ROWS[name]:
        kind, c = row[0], row[-1]
        if kind == "cn":
            mods.append(cba(cin, c, row[1], row[2]))
        elif kind == "er":
            mods += [cba(cin, _div(cin * row[3]), row[1], row[2]), cba(_div(cin * row[3]), c, 1, act=None)]
        elif kind == "uib":
            a, k, s, e = row[1:5]
            mid = _div(cin * e)
            mods += [cba(cin, cin, a, 1 if k else s, cin, act=None)] if a else []
            mods += (
                [cba(cin, mid, 1)] + ([cba(mid, mid, k, s, mid)] if k else []) + [cba(mid, c, 1, act=None)]
            )
            mods += [nn.Linear(c, 1, bias=False)] if hybrid else []  # stands for the c layer-scale gammas
        else:
            heads, kd, kv = row[1:4]
            mods += [nn.BatchNorm2d(cin), nn.Conv2d(cin, heads * kd, 1, bias=False)]
            for _ in range(2):  # key and value: [dw stride-2 conv + BN] + 1x1 projection
                mods += [cba(cin, cin, 3, kv, cin, act=None)] if kv > 1 else []
                mods.append(nn.Conv2d(cin, kd, 1, bias=False))
            mods += [nn.Conv2d(heads * kd, c, 1, bias=False), nn.Linear(c, 1, bias=False)]
        cin = c
    return nn.Sequential(*mods, cba(960, 1280, 1), nn.Linear(1280, 1000))


def _torch_shufflenet_v1(g):
    nn, cba = _nn()
    mods, cin = [cba(3, 24, 3, 2)], 24
    for stage, (c, n) in enumerate(zip(s1.STAGE_CHANNELS[g], s1.REPEATS)):
        for i in range(n):
            s, mid = (2 if i == 0 else 1), c // 4
            first = 1 if stage == 0 and i == 0 else g
            out = c - cin if s == 2 else c
            mods += [cba(cin, mid, 1, 1, first), cba(mid, mid, 3, s, mid, None), cba(mid, out, 1, 1, g, None)]
            cin = c
    return nn.Sequential(*mods, nn.Linear(cin, 1000))


def _torch_efficientnet(width, depth):
    nn, cba = _nn()

    def mb(cin, cout, t, k, s, sq, e=None):
        e = e or cin * t
        mods = ([cba(cin, e, 1, act=nn.SiLU)] if t != 1 else []) + [cba(e, e, k, s, e, nn.SiLU)]
        mods += [nn.Conv2d(e, sq, 1), nn.Conv2d(sq, e, 1)] if sq else []
        return mods + [cba(e, cout, 1, act=None)]

    mods, cin = [cba(3, ef.round_filters(32, width), 3, 2, act=nn.SiLU)], ef.round_filters(32, width)
    for t, k, s, c, n in ef.B0_STAGES:
        for i in range(ef.round_repeats(n, depth)):
            c2 = ef.round_filters(c, width)
            mods += mb(cin, c2, t, k, s if i == 0 else 1, max(1, cin // 4))
            cin = c2
    head = ef.round_filters(1280, width)
    return nn.Sequential(*mods, cba(cin, head, 1, act=nn.SiLU), nn.Linear(head, 1000))


def _torch_v2s():
    nn, cba = _nn()
    mods, cin = [cba(3, 24, 3, 2, act=nn.SiLU)], 24
    for block, k, s, e, c, n, _se in ef.V2_S_STAGES:
        for _ in range(n):
            if block == "fused":
                mods += (
                    [cba(cin, c, k, s, act=nn.SiLU)]
                    if e == 1
                    else [cba(cin, cin * e, k, s, act=nn.SiLU), cba(cin * e, c, 1, act=None)]
                )
            else:
                x = cin * e
                mods += [
                    cba(cin, x, 1, act=nn.SiLU),
                    cba(x, x, k, s, x, nn.SiLU),
                    nn.Conv2d(x, cin // 4, 1),
                    nn.Conv2d(cin // 4, x, 1),
                    cba(x, c, 1, act=None),
                ]
            cin, s = c, 1
    return nn.Sequential(*mods, cba(cin, 1280, 1, act=nn.SiLU), nn.Linear(1280, 1000))


def _torch_efficientformer_l1():
    nn, cba = _nn()
    mods = [cba(3, 24, 3, 2, bias=True), cba(24, 48, 3, 2, bias=True)]
    for i, (c, d) in enumerate(zip((48, 96, 224, 448), (3, 2, 6, 4))):
        if i:
            mods.append(cba((48, 96, 224)[i - 1], c, 3, 2, act=None, bias=True))
        for _ in range(d - (1 if i == 3 else 0)):
            mods += [
                nn.Linear(c, 1, bias=False),
                cba(c, 4 * c, 1, act=None, bias=True),
                cba(4 * c, c, 1, act=None, bias=True),
                nn.Linear(c, 1, bias=False),
            ]
    c = 448
    mods += [
        nn.LayerNorm(c),
        nn.Linear(c, 8 * (32 * 2 + 128)),
        nn.Linear(8 * 128, c),
        nn.Linear(49, 8, bias=False),
        nn.Linear(c, 1, bias=False),
        nn.LayerNorm(c),
        nn.Linear(c, 4 * c),
        nn.Linear(4 * c, c),
        nn.Linear(c, 1, bias=False),
        nn.LayerNorm(c),
        nn.Linear(c, 1000),
        nn.Linear(c, 1000),
    ]
    return nn.Sequential(*mods)


@pytest.mark.parametrize(
    "name, build",
    [
        *[(n, lambda n=n: _torch_mnv4(n)) for n in MNV4_ROWS],
        *[(f"ShuffleNetV1-g{g}", lambda g=g: _torch_shufflenet_v1(g)) for g in s1.STAGE_CHANNELS],
        *[
            (n, lambda w=w, d=d: _torch_efficientnet(w, d))
            for n, (w, d, _) in list(ef.COEFFICIENTS.items())[:5]
        ],
        ("EfficientNetV2-S", _torch_v2s),
        ("EfficientFormer-L1", _torch_efficientformer_l1),
    ],
)
def test_param_count_equals_torch_module(name, build):
    want = sum(p.numel() for p in build().parameters())
    assert zoo.count_network(name, 1.0, 224 if "Former" in name else 64)[0] == want


def _hook_macs(model, res):
    import torch
    from torch import nn

    total = 0

    def hook(mod, inputs, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, res, res))
    for h in hs:
        h.remove()
    return total


def test_shufflenet_v1_forward_and_macs_equal_torch():
    """A real torch ShuffleNet V1 (g = 3) with the graph's layout: same weights in, same logits out."""
    import torch
    from torch import nn

    nn_, cba = _nn()

    class Unit(nn.Module):
        def __init__(self, cin, c, g, s, first):
            super().__init__()
            mid, self.s, self.g = c // 4, s, g
            self.a = cba(cin, mid, 1, 1, first)
            self.b = cba(mid, mid, 3, s, mid, None)
            self.c = cba(mid, c - cin if s == 2 else c, 1, 1, g, None)

        def forward(self, x):
            y = self.a(x)
            if self.g > 1:
                y = nn.functional.channel_shuffle(y, self.g)
            y = self.c(self.b(y))
            return torch.relu(
                x + y
                if self.s == 1
                else torch.cat([nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False), y], 1)
            )

    torch.manual_seed(0)
    mods, cin = [cba(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)], 24
    for stage, (c, n) in enumerate(zip(s1.STAGE_CHANNELS[3], s1.REPEATS)):
        for i in range(n):
            mods.append(Unit(cin, c, 3, 2 if i == 0 else 1, 1 if stage == 0 and i == 0 else 3))
            cin = c
    model = nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)).eval()
    graph = zoo.build_network("ShuffleNetV1-g3", resolution=64)
    tensors = list(model.parameters())
    assert [graph.node(p.name).shape for p in graph.params] == [tuple(t.shape) for t in tensors]
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    feeds = {p.name: t.detach().numpy() for p, t in zip(graph.params, tensors)}
    got = engine.run(graph, {"image": x, **feeds})[graph.outputs[0]]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    fc = 960 * 1000
    assert _hook_macs(model, 224) + fc == cost(zoo.build_network("ShuffleNetV1-g3")).macs


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_channel_shuffle_equals_torch(groups):
    import torch

    x = np.random.default_rng(groups).standard_normal((1, 24, 5, 5)).astype(np.float32)
    L = Layers("shuffle", x.shape)
    graph = L.build(L.shuffle(L.x, groups))
    got = engine.run(graph, {"image": x})[graph.outputs[0]]
    want = torch.nn.functional.channel_shuffle(torch.from_numpy(x), groups).numpy()
    np.testing.assert_array_equal(got, want)
    order = s1.shuffle_steps(24, groups)[-1][1]
    np.testing.assert_array_equal(got[0, :, 0, 0], x[0, order, 0, 0])


def test_mobile_mqa_equals_torch_reference():
    """BN → multi-query attention with stride-2 depthwise key/value downsampling → projection, scale,
    residual: the graph against the same computation written with torch ops."""
    import torch
    import torch.nn.functional as F

    c, h, heads, kd = 16, 8, 4, 8
    L = Layers("mqa", (1, c, h, h))
    graph = L.build(mobile_mqa(L, L.x, heads, kd, 2))
    rng = np.random.default_rng(0)
    feeds = {
        p.name: (rng.standard_normal(p.shape) * 0.3 + (1 if p.shape == (c,) else 0)).astype(np.float32)
        for p in graph.params
    }
    x = rng.standard_normal((1, c, h, h)).astype(np.float32)
    got = engine.run(graph, {"image": x, **feeds})[graph.outputs[0]]
    w = [torch.from_numpy(feeds[p.name]) for p in graph.params]
    t = torch.from_numpy(x)

    def bn(v, s, b):
        return F.batch_norm(v, torch.zeros(v.shape[1]), torch.ones(v.shape[1]), s, b, False, 0.0, 1e-5)

    y = bn(t, w[0], w[1])
    q = F.conv2d(y, w[2]).reshape(1, heads, kd, h * h).transpose(2, 3)
    k = F.conv2d(bn(F.conv2d(y, w[3], stride=2, padding=1, groups=c), w[4], w[5]), w[6]).reshape(1, 1, kd, -1)
    v = F.conv2d(bn(F.conv2d(y, w[7], stride=2, padding=1, groups=c), w[8], w[9]), w[10]).reshape(
        1, 1, kd, -1
    )
    att = torch.softmax(q @ k / math.sqrt(kd), -1) @ v.transpose(2, 3)
    o = F.conv2d(att.transpose(2, 3).reshape(1, heads * kd, h, h), w[11]) * w[12]
    np.testing.assert_allclose(got, (t + o).numpy(), rtol=1e-4, atol=1e-5)


def test_separable_attention_is_linear_in_tokens():
    from engine.models.hybrids import separable_attention

    costs = []
    for n in (16, 64, 256):
        L = Layers("sep", (1, 32, 4, n))
        c = cost(L.build(separable_attention(L, L.x)))
        costs.append(c.macs)
    assert costs[1] == 4 * costs[0] and costs[2] == 4 * costs[1]  # linear: only the 1x1 projections
    rows = zv.attention_curves(64)
    for a, b in zip(rows, rows[1:]):
        assert b.mhsa_macs == 16 * a.mhsa_macs and b.separable_macs < 4.1 * a.separable_macs


def test_mqa_moves_fewer_bytes_than_mha_with_the_same_macs():
    rows = zv.mqa_curves()
    assert rows[0].mha_bytes == rows[0].mqa_bytes  # one head: the same layer
    for r in rows[1:]:
        assert r.mqa_bytes < r.mha_bytes
    assert rows[-1].mha_bytes / rows[-1].mqa_bytes > rows[1].mha_bytes / rows[1].mqa_bytes


# -- ShuffleNet V2's guidelines --------------------------------------------------------------------------
def test_g2_memory_access_grows_with_groups_at_equal_flops():
    rows = gl.g2_groups(side=8, repeats=1)
    macs = [r.macs for r in rows]
    assert max(macs) / min(macs) < 1.02  # Table 2's widths keep hw·c²/g (nearly) fixed
    assert [r.mac_elements for r in rows] == sorted(r.mac_elements for r in rows)
    assert [r.bytes for r in rows] == sorted(r.bytes for r in rows) and all(r.ms > 0 for r in rows)
    hw, c, g = 64, 360, 8  # eq. 2 for one layer, times the 10 layers
    assert rows[-1].mac_elements == 10 * (hw * 2 * c + c * c // g)


def test_g3_fragments_keep_macs_and_g4_elementwise_keep_macs_but_move_bytes():
    g3 = gl.g3_fragments(c=128, side=8, repeats=1)
    assert max(r.macs for r in g3) / min(r.macs for r in g3) < 1.01
    assert gl.series_width(128, 2) == 64 and abs(2 * 128 * 47 + 2 * 47 * 47 - 128**2) < 0.01 * 128**2
    g4 = {r.label: r for r in gl.g4_elementwise(c=64, side=8, repeats=1)}
    assert len({r.macs for r in g4.values()}) == 1
    assert g4["neither"].bytes < g4["no ReLU"].bytes < g4["ReLU + shortcut"].bytes


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: zoo.build_network("ResNet-50"), "unknown network"),
        (lambda: zoo.build_network("MobileNetV4-Conv-S", alpha=0.5), "scale factors"),
        (lambda: zoo.build_network("MobileViTv2-1", resolution=96), "divisible by 64"),
        (lambda: zoo.build_network("ShuffleNetV1-g4", alpha=0.5), "not divisible by 4 x g"),
        (lambda: zoo.build_network("EfficientNet-B7"), "counted, not built"),
        (lambda: zoo.build_network("MobileNetV4-Conv-S", resolution=4000), "resolution"),
        (lambda: s1.shuffle_steps(10, 4), "divisible by groups"),
        (lambda: zv.scaled_efficientnet(9), "between 0 and 8"),
        (lambda: gl.g3_fragments(c=66), "divisible by 4"),
        (lambda: gl.g2_groups(side=100), "feature-map side"),
    ],
)
def test_bad_inputs_raise_engine_errors(call, words):
    with pytest.raises(EngineError, match=words):
        call()


def test_b7_is_over_the_graph_budget_but_counted():
    with pytest.raises(BudgetError):
        zoo.build_network("EfficientNet-B7")
    c = zoo.zoo_cost("EfficientNet-B7")
    assert c.graph_resolution is None and c.matches


@pytest.mark.parametrize("zh", [False, True])
def test_zoo_figures_have_titles_and_axes(zh):
    from ui.i18n import Translator
    from viz import lightweight as vl

    tr = Translator("zh" if zh else "en")
    trial = gl.Trial("g = 1", 10, 20, 0, 1.0)
    view = zv.network_view("ShuffleNetV1-g3", 1.0, 96)
    figs = [
        vl.stage_figure(list(view.stages), "stages", tr=tr),
        vl.shuffle_figure(s1.shuffle_steps(12, 3), 3, tr=tr),
        vl.trials_figure([trial], "G2", tr=tr),
        vl.compound_figure(zv.efficientnet_sweep(), zv.scaled_efficientnet(1.5), tr=tr),
        vl.attention_figure(zv.attention_curves(), tr=tr),
        vl.mqa_figure(zv.mqa_curves(), tr=tr),
    ]
    for fig in figs:
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in figs[3].layout.title.text) == zh
    text, color = vl.zoo_badge(zoo.zoo_cost("EfficientFormer-L1"), tr)
    assert color == "green" and "12.3" in text and "12,289,928" in text
