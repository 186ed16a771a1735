"""Presets: each parses, validates and runs; outputs checked against torch with the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine.core.presets import PROGRAMS, preset, preset_info, preset_names

EXPECTED_SHAPES = {
    "autodiff_example": (),
    "mlp": (4, 10),
    "conv_bn_relu": (1, 16, 32, 32),
    "resnet_basic_block": (1, 16, 16, 16),
    "self_attention": (8, 16),
    "mobilenetv2_inverted_residual": (1, 16, 14, 14),
    "shufflenetv2_unit": (1, 32, 16, 16),
}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def values(name: str) -> tuple[dict, np.ndarray]:
    g = preset(name)
    env = engine.run(g)
    return env, env[g.outputs[0]]


def T(torch, env, key):
    return torch.from_numpy(np.asarray(env[key], dtype=np.float32).copy())


def bn(F, x, env, torch, g, b, m, v):
    return F.batch_norm(
        x, T(torch, env, m), T(torch, env, v), T(torch, env, g), T(torch, env, b), training=False, eps=1e-5
    )


@pytest.mark.parametrize("name", preset_names())
def test_preset_parses_validates_runs_finite(name):
    g = preset(name)
    engine.validate(g)
    env = engine.run(g)
    out = env[g.outputs[0]]
    assert out.shape == EXPECTED_SHAPES[name]
    assert np.all(np.isfinite(out))
    assert preset_info(name).endswith(".")  # its Chinese is checked in tests/test_i18n.py
    assert g.title == name and PROGRAMS[name].startswith("#")


def test_autodiff_example_value():
    _, out = values("autodiff_example")
    expected = math.log(2) + 2 * 5 - math.sin(5)
    assert expected == pytest.approx(11.652071, abs=1e-6)
    assert float(out) == pytest.approx(expected, rel=1e-6)


def test_mlp_matches_torch(torch):
    F = torch.nn.functional
    env, out = values("mlp")
    h = F.relu(F.linear(T(torch, env, "x"), T(torch, env, "W1").T, T(torch, env, "b1")))
    ref = F.softmax(F.linear(h, T(torch, env, "W2").T, T(torch, env, "b2")), dim=-1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


def test_conv_bn_relu_matches_torch(torch):
    F = torch.nn.functional
    env, out = values("conv_bn_relu")
    c = F.conv2d(T(torch, env, "x"), T(torch, env, "W"), padding=1)
    ref = F.relu(bn(F, c, env, torch, "gamma", "beta", "mean", "var"))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-5)
    assert (out == 0).any() and (out > 0).any()  # the ReLU really cuts something


def test_resnet_basic_block_matches_torch(torch):
    F = torch.nn.functional
    env, out = values("resnet_basic_block")
    x = T(torch, env, "x")
    h = F.relu(bn(F, F.conv2d(x, T(torch, env, "W1"), padding=1), env, torch, "g1", "b1", "m1", "v1"))
    h = bn(F, F.conv2d(h, T(torch, env, "W2"), padding=1), env, torch, "g2", "b2", "m2", "v2")
    np.testing.assert_allclose(out, F.relu(h + x).numpy(), rtol=1e-4, atol=1e-5)


def test_self_attention_matches_torch_sdpa(torch):
    F = torch.nn.functional
    env, out = values("self_attention")
    x = T(torch, env, "x")
    q, k, v = (x @ T(torch, env, w) for w in ("Wq", "Wk", "Wv"))
    ctx = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    np.testing.assert_allclose(env["context"], ctx.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, (ctx @ T(torch, env, "Wo")).numpy(), rtol=1e-5, atol=1e-6)


def test_mobilenetv2_block_matches_torch(torch):
    F = torch.nn.functional
    env, out = values("mobilenetv2_inverted_residual")
    x = T(torch, env, "x")
    h = F.relu6(bn(F, F.conv2d(x, T(torch, env, "We")), env, torch, "ge", "be", "me", "ve"))
    h = F.relu6(
        bn(F, F.conv2d(h, T(torch, env, "Wd"), padding=1, groups=96), env, torch, "gd", "bd", "md", "vd")
    )
    h = bn(F, F.conv2d(h, T(torch, env, "Wp")), env, torch, "gp", "bp", "mp", "vp")
    np.testing.assert_allclose(out, (x + h).numpy(), rtol=1e-4, atol=1e-5)


def test_shufflenetv2_unit_matches_torch_channel_shuffle(torch):
    F = torch.nn.functional
    env, out = values("shufflenetv2_unit")
    a, b = torch.chunk(T(torch, env, "x"), 2, dim=1)
    h = F.relu(bn(F, F.conv2d(b, T(torch, env, "W1")), env, torch, "g1", "b1", "m1", "v1"))
    h = bn(F, F.conv2d(h, T(torch, env, "Wd"), padding=1, groups=16), env, torch, "gd", "bd", "md", "vd")
    h = F.relu(bn(F, F.conv2d(h, T(torch, env, "W2")), env, torch, "g2", "b2", "m2", "v2"))
    ref = torch.nn.ChannelShuffle(2)(torch.cat([a, h], dim=1))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-5)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(engine.EngineError, match="no preset named 'resnet'"):
        preset("resnet")
