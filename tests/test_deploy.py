"""Cloud vs edge: the analytic CNN zoo against torch, radio energy, and the split search."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import EngineError
from engine.core.budget import numel
from engine.inference.edge_cloud import (
    Chain,
    Layer,
    best_split,
    custom_chain,
    graph_chain,
    layer_times,
    networks,
    radio_energy,
    split_points,
    targets,
    zoo_chain,
)
from tests.strategies import random_graphs

T, N = targets(), networks()
PHONE, CLOUD, LTE = T["Phone CPU (assumed)"], T["A100 80GB SXM"], N["LTE"]


def _torch_model(name: str):
    import torch.nn as nn

    def conv(cin, cout, k, s=1, p=0, g=1, bias=True):
        return nn.Conv2d(cin, cout, k, s, p, groups=g, bias=bias)

    if name == "AlexNet":  # torchvision.models.alexnet, written out
        return nn.Sequential(
            conv(3, 64, 11, 4, 2),
            nn.MaxPool2d(3, 2),
            conv(64, 192, 5, 1, 2),
            nn.MaxPool2d(3, 2),
            conv(192, 384, 3, 1, 1),
            conv(384, 256, 3, 1, 1),
            conv(256, 256, 3, 1, 1),
            nn.MaxPool2d(3, 2),
            nn.Flatten(),
            nn.Linear(9216, 4096),
            nn.Linear(4096, 4096),
            nn.Linear(4096, 1000),
        )
    if name == "VGG-16":
        layers, c = [], 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
            layers.append(nn.MaxPool2d(2, 2) if v == "M" else conv(c, v, 3, 1, 1))
            c = c if v == "M" else v
        return nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(25088, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)
        )
    layers, c = [conv(3, 32, 3, 2, 1, bias=False)], 32
    for cout, s in (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        *[(512, 1)] * 5,
        (1024, 2),
        (1024, 1),
    ):
        layers += [conv(c, c, 3, s, 1, g=c, bias=False), conv(c, cout, 1, bias=False)]
        c = cout
    return nn.Sequential(*layers, nn.AvgPool2d(7), nn.Flatten(), nn.Linear(1024, 1000))


@pytest.mark.parametrize(
    "name, published_params, published_gmacs",
    [
        ("AlexNet", 61_100_840, 0.71),  # torchvision model table: 61.1 M params, 0.71 GFLOPS (MACs)
        ("VGG-16", 138_357_544, 15.47),  # torchvision: 138.4 M, 15.47
        ("MobileNetV1", 4.2e6, 0.569),  # Howard et al. 2017 Table 1: 4.2 M params, 569 M mult-adds
    ],
)
def test_zoo_chains_match_torch_and_the_papers(name, published_params, published_gmacs):
    import torch

    chain = zoo_chain(name)
    model = _torch_model(name)
    macs, outs = [], []

    def hook(mod, inp, out):
        outs.append(out.numel() * 4)
        if isinstance(mod, torch.nn.Conv2d):
            macs.append(out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] ** 2)
        elif isinstance(mod, torch.nn.Linear):
            macs.append(out.numel() * mod.in_features)

    for m in model:
        if not isinstance(m, torch.nn.Flatten):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    assert chain.params == sum(p.numel() for p in model.parameters())
    assert chain.macs == sum(macs)
    assert [x.out_bytes for x in chain.layers] == outs  # every cut tensor's size
    assert chain.params == pytest.approx(published_params, rel=0.01)
    assert chain.macs / 1e9 == pytest.approx(published_gmacs, rel=0.01)


def test_radio_energy_follows_huangs_power_model():
    # 1 MB up at 6 Mbit/s takes 1.333 s at P = 438.39·6 + 1288.04 mW
    assert radio_energy(LTE, 1e6, 0) == pytest.approx(8e6 / 6e6 * (438.39 * 6 + 1288.04) / 1e3)
    assert radio_energy(LTE, 0, 0) == 0.0
    assert radio_energy(LTE, 1, 0, tail=True) == pytest.approx(11.576 * 1.060, rel=1e-3)
    # per bit, Wi-Fi is cheaper than LTE, and LTE uplink costs more than its downlink
    wifi = N["Wi-Fi"]
    assert radio_energy(wifi, 1e6, 0) < radio_energy(LTE, 1e6, 0)
    assert radio_energy(LTE, 0, 1e6) < radio_energy(LTE, 1e6, 0)


def _brute_force(chain, device, cloud, net, objective, dev_eff=0.2, cloud_eff=0.5, queue=0.0):
    """Each split's cost from scratch, written independently of split_points."""
    best = None
    n = len(chain.layers)
    for k in range(n + 1):
        dev_time = 0.0
        for layer in chain.layers[:k]:
            dev_time += max(
                layer.flops / (device.peak_flops * dev_eff), layer.bytes_moved / (device.bandwidth * dev_eff)
            )
        cost_latency, energy = dev_time, dev_time * device.power_w
        if k < n:
            up_bits, down_bits = chain.cut_bytes[k] * 8, chain.layers[-1].out_bytes * 8
            cloud_time = sum(
                max(x.flops / (cloud.peak_flops * cloud_eff), x.bytes_moved / (cloud.bandwidth * cloud_eff))
                for x in chain.layers[k:]
            )
            t_up, t_down = up_bits / (net.up_mbps * 1e6), down_bits / (net.down_mbps * 1e6)
            cost_latency += t_up + net.rtt_s + queue + cloud_time + t_down
            energy += (
                (net.alpha_up * net.up_mbps + net.beta) * t_up
                + (net.alpha_down * net.down_mbps + net.beta) * t_down
            ) / 1e3
        if sum(x.params for x in chain.layers[:k]) * chain.weight_bytes > device.memory_bytes:
            continue
        value = cost_latency if objective == "latency" else energy
        if best is None or value < best[1] - 1e-15:
            best = (k, value)
    return best


@pytest.mark.parametrize("model", ["AlexNet", "VGG-16", "MobileNetV1"])
@pytest.mark.parametrize("net", ["LTE", "Wi-Fi", "3G"])
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_best_split_is_the_brute_force_minimum(model, net, objective):
    chain = zoo_chain(model)
    pick = best_split(split_points(chain, PHONE, CLOUD, N[net]), objective)
    k, value = _brute_force(chain, PHONE, CLOUD, N[net], objective)
    assert pick.k == k
    assert getattr(pick, objective) == pytest.approx(value)


layer_st = st.builds(
    Layer,
    name=st.just("L"),
    flops=st.floats(1e3, 1e11),
    macs=st.just(0.0),
    params=st.integers(0, 10**7),
    bytes_moved=st.floats(1e3, 1e9),
    out_bytes=st.floats(1, 1e7),
)


@settings(max_examples=40, deadline=None)
@given(
    layers=st.lists(layer_st, min_size=1, max_size=8),
    inp=st.floats(1e3, 1e7),
    up=st.floats(0.1, 100),
    rtt=st.floats(0, 0.3),
    objective=st.sampled_from(["latency", "energy"]),
)
def test_best_split_property(layers, inp, up, rtt, objective):
    chain = Chain("random", tuple(layers), (inp, *[x.out_bytes for x in layers]), 4, 2.0)
    net = dataclasses.replace(LTE, up_mbps=up, rtt_s=rtt)
    pick = best_split(split_points(chain, PHONE, CLOUD, net), objective)
    assert getattr(pick, objective) == pytest.approx(_brute_force(chain, PHONE, CLOUD, net, objective)[1])


def test_graph_chain_cuts_carry_the_residual():
    graph = engine.preset("resnet_basic_block")
    chain = graph_chain(graph)
    from engine.core.cost_model import cost

    report = cost(graph)
    assert sum(x.flops for x in chain.layers) == report.flops
    x_bytes = 16 * 16 * 16 * 4
    assert chain.cut_bytes[0] == x_bytes
    # inside the block the shortcut input travels beside the current activation
    assert all(b == 2 * x_bytes for b in chain.cut_bytes[1:-2])
    assert chain.cut_bytes[-1] == x_bytes  # the block's output


def test_layer_times_are_rooflines_and_big_models_are_refused():
    chain = custom_chain(7e9, 2 * 7e9, 4096, 4096)  # one token through a 7B model
    (t,) = layer_times(chain, CLOUD, 1.0)
    assert t == pytest.approx((7e9 * 2 + 8192) / CLOUD.bandwidth)  # decode is memory-bound
    pts = split_points(chain, PHONE, CLOUD, LTE)
    assert not pts[-1].fits and best_split(pts).k == 0  # 14 GB of weights: not on a phone
    with pytest.raises(EngineError, match="no card"):
        split_points(custom_chain(1e12, 1e12, 10, 10), PHONE, CLOUD, LTE)


def test_deploy_refuses_nonsense():
    with pytest.raises(EngineError, match="uplink"):
        dataclasses.replace(LTE, up_mbps=-1.0)
    with pytest.raises(EngineError, match="efficiency"):
        layer_times(zoo_chain("AlexNet"), PHONE, 1.5)
    with pytest.raises(EngineError, match="ResNet-1000"):
        zoo_chain("ResNet-1000")
    with pytest.raises(EngineError, match="objective"):
        best_split(split_points(zoo_chain("AlexNet"), PHONE, CLOUD, LTE), "cost")


@settings(max_examples=25, deadline=None)
@given(graph=random_graphs(max_nodes=8))
def test_graph_chain_cuts_equal_the_live_tensors(graph):
    """Brute force: a cut before op k carries each non-param tensor made before k and read at or
    after k (or a graph output)."""
    from engine.core.cost_model import cost

    chain = graph_chain(graph)
    ops = [n.name for n in cost(graph).nodes]
    nodes = graph.by_name
    sizes = {
        n.name: numel(n.shape) * np.dtype(n.dtype).itemsize
        for n in graph.nodes
        if n.op not in ("param", "constant")
    }
    for k in range(len(ops) + 1):
        before = {n.name for n in graph.inputs} | set(ops[:k])
        later = {src for name in ops[k:] for src in nodes[name].inputs} | set(graph.outputs)
        assert chain.cut_bytes[k] == sum(sizes[s] for s in before & later if s in sizes)


def test_radio_sources_say_what_is_checked():
    """LTE's 6 / 13 Mbit/s medians are in Huang et al. 2012's abstract; the power coefficients and the
    tail were transcribed from its tables without the text to re-check, and must say so."""
    from engine.inference.edge_cloud import networks

    nets = networks()
    assert (nets["LTE"].up_mbps, nets["LTE"].down_mbps) == (6.0, 13.0)
    for name in ("LTE", "Wi-Fi", "3G"):
        assert "unverified" in nets[name].source
