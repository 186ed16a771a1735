"""The LLM per-layer analyzer (engine/inference/llm_layers.py): preset sizes against the published parameter
counts, per-op matmul FLOPs against torch's FlopCounterMode on a real decoder layer, and the roofline
properties of the two phases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import EngineError
from engine.inference import llm_layers as ll
from engine.kernels.roofline_model import hardware_presets

GPUS = [name for name, hw in hardware_presets().items() if hw.peak_flops >= 1e14]


@pytest.mark.parametrize("name", list(ll.PRESETS))
def test_preset_parameter_counts_match_the_published_sizes(name):
    cfg = ll.PRESETS[name]
    assert ll.param_counts(cfg)["total"] == pytest.approx(cfg.published_params, rel=0.01)


def test_llama_2_7b_counts_exactly_as_its_weights():
    assert ll.param_counts(ll.PRESETS["Llama-2-7B"])["total"] == 6_738_415_616  # safetensors total


@pytest.mark.parametrize("name", list(ll.PRESETS))
def test_decode_flops_per_token_are_twice_the_parameters(name):
    cfg = ll.PRESETS[name]
    a = ll.analyze(cfg, "A100 80GB SXM", seq_len=16, kv_len=16, batch=1)
    p = ll.param_counts(cfg)
    # every weight but the embedding table (read, never multiplied) takes part in one multiply-add
    assert a.decode.flops == pytest.approx(2 * (p["total"] - p["embedding"]), rel=0.005)
    assert a.decode.flops == pytest.approx(2 * p["total"], rel=0.07)


configs = st.builds(
    lambda hd, heads, group, layers, inter, vocab: ll.DecoderConfig(
        "random", hd * heads, heads, heads // group, layers, inter, vocab
    ),
    st.sampled_from([8, 16, 64, 128]),
    st.sampled_from([1, 2, 4, 8, 16, 32]),
    st.sampled_from([1, 2, 4, 8]),
    st.integers(1, 96),
    st.integers(1, 30000),
    st.integers(2, 150000),
).filter(lambda c: c.heads % max(1, c.kv_heads) == 0 and c.kv_heads >= 1)


@settings(max_examples=60, deadline=None)
@given(cfg=configs, hw=st.sampled_from(GPUS), kv_len=st.integers(1, 32768),
       bits=st.tuples(*[st.sampled_from([4, 8, 16])] * 3))  # fmt: skip
def test_decode_at_batch_1_is_memory_bound(cfg, hw, kv_len, bits):
    a = ll.analyze(cfg, hw, seq_len=kv_len, kv_len=kv_len, batch=1, bits=ll.Bits(*bits))
    assert {t.bound for t in a.decode.ops} == {"memory_bound"}
    assert a.tpot_s == pytest.approx(a.decode.bytes / hardware_presets()[hw].bandwidth)


@settings(max_examples=40, deadline=None)
@given(cfg=configs, batch=st.integers(1, 64))
def test_decode_matmuls_multiply_every_matrix_weight_once_per_token(cfg, batch):
    a = ll.analyze(cfg, "H100 SXM", 8, 1, batch)
    p = ll.param_counts(cfg)
    projections = sum(t.op.flops * (cfg.layers if t.scope == "layer" else 1)
                      for t in a.decode.ops if t.op.kind == "matmul")  # fmt: skip
    assert projections == 2 * batch * (p["attention"] + p["mlp"] + cfg.vocab * cfg.hidden)


def test_long_prefill_projections_are_compute_bound():
    a = ll.analyze(ll.PRESETS["Llama-2-7B"], "A100 80GB SXM", seq_len=2048, kv_len=2048)
    bounds = {t.op.name: t.bound for t in a.prefill.ops}
    assert all(bounds[n] == "compute_bound" for n in ("q_proj", "o_proj", "gate_proj", "down_proj"))
    assert bounds["softmax"] == "memory_bound"
    assert a.ttft_s > a.tpot_s


def test_narrower_weights_shorten_decode_and_kv_bits_shrink_the_cache():
    cfg = ll.PRESETS["Llama-3-8B"]
    fp16 = ll.analyze(cfg, "A100 80GB SXM")
    int4 = ll.analyze(cfg, "A100 80GB SXM", bits=ll.Bits(4, 16, 8))
    assert int4.tpot_s < 0.4 * fp16.tpot_s
    assert int4.kv_cache_bytes == pytest.approx(fp16.kv_cache_bytes / 2)
    # GQA: Llama-3-8B keeps 8 KV heads of 128: 2 * 32 * 1024 * 1024 tokens * 2 bytes = 128 MiB
    assert fp16.kv_cache_bytes == 2 * 32 * 8 * 128 * 1024 * 2


def test_bad_configs_are_refused():
    with pytest.raises(EngineError, match="not divisible"):
        ll.with_overrides(ll.PRESETS["Llama-2-7B"], heads=30)
    with pytest.raises(EngineError, match="shared evenly"):
        ll.with_overrides(ll.PRESETS["Llama-2-7B"], kv_heads=5)
    with pytest.raises(EngineError, match="not offered"):
        ll.analyze(ll.PRESETS["Llama-2-7B"], "A100 80GB SXM", bits=ll.Bits(3, 16, 16))
    with pytest.raises(EngineError, match="unknown hardware"):
        ll.analyze(ll.PRESETS["Llama-2-7B"], "TPU v9")
    with pytest.raises(EngineError, match="whole number"):
        ll.analyze(ll.PRESETS["Llama-2-7B"], "A100 80GB SXM", seq_len=0)


# -- the oracle: torch's FlopCounterMode on a Llama-style decoder layer with the same config ---------------
def _torch_layer(cfg: ll.DecoderConfig):
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            h, kvd, i = cfg.hidden, cfg.kv_dim, cfg.intermediate
            self.q_proj, self.k_proj = nn.Linear(h, h, bias=False), nn.Linear(h, kvd, bias=False)
            self.v_proj, self.o_proj = nn.Linear(h, kvd, bias=False), nn.Linear(h, h, bias=False)
            self.gate_proj, self.up_proj = nn.Linear(h, i, bias=False), nn.Linear(h, i, bias=False)
            self.down_proj = nn.Linear(i, h, bias=False)
            self.attn_norm, self.mlp_norm = nn.RMSNorm(h), nn.RMSNorm(h)

        def forward(self, x, past_k=None, past_v=None):
            b, s, _ = x.shape
            d, group = cfg.head_dim, cfg.heads // cfg.kv_heads
            y = self.attn_norm(x)
            q = self.q_proj(y).view(b, s, cfg.heads, d).transpose(1, 2)
            k = self.k_proj(y).view(b, s, cfg.kv_heads, d).transpose(1, 2)
            v = self.v_proj(y).view(b, s, cfg.kv_heads, d).transpose(1, 2)
            if past_k is not None:
                k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / d**0.5, dim=-1)
            x = x + self.o_proj(torch.matmul(p, v).transpose(1, 2).reshape(b, s, cfg.hidden))
            y = self.mlp_norm(x)
            return x + self.down_proj(nn.functional.silu(self.gate_proj(y)) * self.up_proj(y))

    return Layer()


def _torch_counts(cfg, batch, tokens, past):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    layer = _torch_layer(cfg)
    x = torch.randn(batch, tokens, cfg.hidden)
    pk = torch.randn(batch, cfg.kv_heads, past, cfg.head_dim) if past else None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        layer(x, pk, pk)
    by_module = {
        name.rsplit(".", 1)[-1]: sum(ops.values()) for name, ops in counter.get_flop_counts().items()
    }
    return by_module, counter.get_total_flops()


@pytest.mark.parametrize(("phase", "batch", "seq", "kv_len"), [("prefill", 2, 7, 7), ("decode", 3, 5, 12)])
@pytest.mark.parametrize("gqa", [1, 4])
def test_matmul_flops_per_layer_equal_torchs_flop_counter(phase, batch, seq, kv_len, gqa):
    cfg = ll.DecoderConfig("tiny", 64, 8, 8 // gqa, 2, 96, 100)
    shape = ll.phase_shape(phase, seq, kv_len, batch)
    ops = {op.name: op for op in ll.layer_ops(cfg, shape, ll.Bits())}
    by_module, total = _torch_counts(cfg, batch, shape.queries, kv_len - shape.queries)
    for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert ops[name].flops == by_module[name], name
    attention = total - sum(by_module[n] for n in by_module if n.endswith("_proj"))
    assert ops["qk_matmul"].flops + ops["sv_matmul"].flops == attention  # torch counts the two bmm's only
    matmuls = sum(op.flops for op in ops.values() if op.kind in ("matmul", "attention"))
    assert matmuls == total
