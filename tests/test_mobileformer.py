"""Mobile-Former as a graph: parameter counts against a torch module of the same architecture written
here from the paper and the authors' released code (AAboys/MobileFormer), the same logits on shared
weights, MACs against torch's FlopCounterMode, and the paper's table (params to its printed 0.1 M)."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.core.cost_model import cost
from engine.core.errors import EngineError
from engine.models import mobileformer as mf
from engine.models import zoo
from engine.models.blocks import Layers

NAMES = list(mf.CONFIGS)


def _torch_mobile_former(name):
    """Mobile-Former in plain torch, parameters registered in the order the graph creates them."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    stem, blocks, T, d, features = mf.CONFIGS[name]

    def conv_bn(cin, cout, k, s=1, g=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(cout))

    def attend(q, k, v, scale):
        return torch.softmax(q @ k * scale, dim=-1) @ v

    class DyReLU(nn.Module):  # max(a1·x, a2·x), (a1, a2) from the first token
        def __init__(self, c):
            super().__init__()
            self.fc = nn.Sequential(
                nn.Linear(d, d // 4), nn.ReLU(), nn.Linear(d // 4, 2 * c), nn.Hardsigmoid()
            )

        def forward(self, x, z):
            a1, a2 = self.fc(z[:, 0])[:, :, None, None].chunk(2, dim=1)
            return torch.maximum(x * ((a1 - 0.5) * 2 + 1), x * ((a2 - 0.5) * 2))

    class MobileToFormer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.q, self.gate = nn.Linear(d, c), nn.Linear(d, c)
            self.proj, self.norm = nn.Linear(c, d), nn.LayerNorm(d)

        def forward(self, x, z):
            b, c, h, w = x.shape
            q = self.q(z).view(b, T, 2, c // 2).transpose(1, 2)
            k = x.view(b, 2, c // 2, h * w)  # keys = values = the pixels, unprojected
            o = attend(q, k, k.transpose(-1, -2), (c // 2) ** -0.5).transpose(1, 2).reshape(b, T, c)
            return self.norm(z + self.proj(o * F.hardsigmoid(self.gate(z)) * 2))

    class Former(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.mix, self.norm1 = nn.Linear(d, d), nn.Linear(d, d), nn.LayerNorm(d)
            self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            self.norm2 = nn.LayerNorm(d)

        def forward(self, z):
            b = z.shape[0]
            q = self.q(z).view(b, T, 4, d // 4).transpose(1, 2)
            k = z.permute(0, 2, 1).reshape(b, 4, d // 4, T)  # keys = values = the tokens
            o = attend(q, k, k.transpose(-1, -2), (d // 4) ** -0.5).transpose(1, 2).reshape(b, T, d)
            z = self.norm1(z + self.mix(o))
            return self.norm2(z + self.ffn(z))

    class FormerToMobile(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.v, self.k = nn.Linear(d, c), nn.Linear(d, c)

        def forward(self, x, z):
            b, c, h, w = x.shape
            q = x.view(b, 2, c // 2, h * w).transpose(-1, -2)
            k = self.k(z).permute(0, 2, 1).reshape(b, 2, c // 2, T)
            v = self.v(z).permute(0, 2, 1).reshape(b, 2, c // 2, T)
            o = attend(q, k, v.transpose(-1, -2), (c // 2) ** -0.5)
            return x + o.transpose(-1, -2).reshape(b, c, h, w)

    class Block(nn.Module):
        def __init__(self, cin, kind, e1, cout, s, e2):
            super().__init__()
            self.first, self.kind, self.res = e2 == 0, kind, s == 1 and cin == cout
            if self.first:
                self.conv = nn.Sequential(
                    conv_bn(cin, cin * e1, 3, s, cin), nn.ReLU6(), conv_bn(cin * e1, cout, 1)
                )
                return
            self.m2f, self.former = MobileToFormer(cin), Former()
            if kind == "1":
                h = round(cin * e1)
                mods = [conv_bn(cin, h, 1), DyReLU(h), conv_bn(h, h, 3, s, h), DyReLU(h), conv_bn(h, cout, 1)]
            else:
                h1, h2 = round(cin * e1), round(cout * e2)
                mods = [conv_bn(cin, h1, 3, s, cin), DyReLU(h1), conv_bn(h1, cout, 1)]
                mods += [conv_bn(cout, h2, 3, 1, cout), DyReLU(h2), conv_bn(h2, cout, 1)]
            self.mobile = nn.ModuleList(mods)
            self.f2m = FormerToMobile(cout)

        def forward(self, x, z):
            if self.first:
                y = self.conv(x)
                return (x + y if self.res else y), z
            z = self.former(self.m2f(x, z))
            m = self.mobile
            y = m[2](m[1](m[0](x), z))
            if self.kind == "1":
                y = m[4](m[3](y, z))
            else:
                y = m[5](m[4](m[3](y), z)) + y
            return self.f2m(y + x if self.res else y, z), z

    class MobileFormer(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Parameter(torch.randn(T, d))
            self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), nn.ReLU6())
            mods, cin = [], stem
            for kind, e1, cout, s, e2 in blocks:
                mods.append(Block(cin, kind, e1, cout, s, e2))
                cin = cout
            self.blocks = nn.ModuleList(mods)
            self.m2f = MobileToFormer(cin)
            self.head = nn.Sequential(conv_bn(cin, 6 * cin, 1), nn.ReLU6())
            self.fc = nn.Sequential(
                nn.Linear(6 * cin + d, features), nn.BatchNorm1d(features), nn.Hardswish()
            )
            self.classifier = nn.Linear(features, 1000)

        def forward(self, img):
            x, z = self.stem(img), self.tokens[None].expand(img.shape[0], T, d)
            for block in self.blocks:
                x, z = block(x, z)
            z = self.m2f(x, z)
            y = F.hardswish(F.adaptive_avg_pool2d(self.head(x), 1).flatten(1))
            return self.classifier(self.fc(torch.cat([y, z[:, 0]], dim=1)))

    return MobileFormer()


@pytest.mark.parametrize("name", NAMES)
def test_params_equal_the_torch_module_and_the_paper(name):
    want = sum(p.numel() for p in _torch_mobile_former(name).parameters())
    c = zoo.zoo_cost(name)
    assert c.params == want
    assert round(c.params / 1e6, 1) == c.paper.params_m  # the table's 0.1 M
    assert c.matches, (name, c.params_diff, c.macs_diff)


def test_294m_counts_and_its_bridge():
    c = zoo.zoo_cost("MobileFormer-294M")
    assert c.params == 11_422_648 and abs(c.params / 11.4e6 - 1) < 0.005
    _, _, tokens, dim, _ = mf.CONFIGS["MobileFormer-294M"]
    assert (tokens, dim) == (6, 192)
    assert c.paper.macs_m == 294 and -0.03 < c.macs_diff < -0.02  # see MACS_TOLERANCE


def _linear_weights(model):
    from torch import nn

    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}


def test_logits_equal_torch_on_shared_weights():
    """Same weights in (torch's Linear weights transposed), same logits out: every bridge, the Former
    and the dynamic ReLU are exact in the IR."""
    import torch

    torch.manual_seed(0)
    model = _torch_mobile_former("MobileFormer-294M").eval()
    with torch.no_grad():
        for m in model.modules():  # non-trivial BN affine (running stats stay 0 and 1, as in the graph)
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    graph = zoo.build_network("MobileFormer-294M", resolution=64)
    linear = _linear_weights(model)
    tensors = [p.detach().T if id(p) in linear else p.detach() for p in model.parameters()]
    assert [graph.node(p.name).shape for p in graph.params] == [tuple(t.shape) for t in tensors]
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    feeds = {p.name: t.numpy().copy() for p, t in zip(graph.params, tensors)}
    got = engine.run(graph, {"image": x, **feeds})[graph.outputs[0]]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_macs_equal_torch_flop_counter():
    """torch's FlopCounterMode counts 2 FLOPs per multiply-add of convs, linears and matmuls."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _torch_mobile_former("MobileFormer-52M").eval().requires_grad_(False)
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, 224, 224))
    assert counter.get_total_flops() == 2 * zoo.count_network("MobileFormer-52M")[1]


def test_counting_builder_equals_engine_cost():
    graph = zoo.build_network("MobileFormer-294M")
    c = cost(graph)
    assert zoo.count_network("MobileFormer-294M") == (c.params, c.macs)
    parts = {p.part: p.macs for p in mf.part_costs(graph)}
    assert sum(parts.values()) == c.macs
    bridges = parts["Mobile→Former"] + parts["Former→Mobile"] + parts["Former"]
    assert 0.05 < bridges / c.macs < 0.15 and parts["Mobile"] / c.macs > 0.8


def test_bridge_closed_form_equals_the_graph():
    t, d, c, side = 6, 192, 96, 14
    L = Layers("bridge", (1, c, side, side))
    z = mf.Tokens(L.b.op("reshape", L.b.param((t, d)), shape=(1, t, d)))
    z2 = mf.mobile_to_former(L, L.x, z)
    graph = L.build(mf.former_to_mobile(L, L.x, z2))
    parts = {p.part: p.macs for p in mf.part_costs(graph)}
    want = mf.bridge_macs(t, c, side * side, d)
    assert parts["Mobile→Former"] == want["Mobile→Former"] and parts["Former→Mobile"] == want["Former→Mobile"]


def test_public_api_and_bad_input():
    assert set(NAMES) <= set(engine.network_names())
    assert zoo.family_of("MobileFormer-508M") == "MobileFormer"
    g = engine.build_network("MobileFormer-52M", resolution=96)
    assert engine.cost(g).params == zoo.count_network("MobileFormer-52M")[0]
    with pytest.raises(EngineError, match="scale factors"):
        engine.build_network("MobileFormer-294M", alpha=0.5)
    with pytest.raises(EngineError, match="unknown network"):
        engine.build_network("MobileFormer-26M")
