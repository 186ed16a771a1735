"""An LLM's decoder, op by op and phase by phase, on the roofline of one chip (after LLM-Viewer).

In the manner of LLM-Viewer (Yuan et al. 2024, "LLM Inference Unveiled: Survey and Roofline Model
Insights"; hahnyuan/LLM-Viewer): every op of one Llama-style decoder layer gets its operation count and
the bytes it moves, sorted as LLM-Viewer sorts them (weights loaded, activations loaded and stored, KV
cache loaded and stored), and the roofline bounds its time.
Stages:
  1. the config: hidden size h, heads, KV heads (grouped-query attention when fewer), layers,
     intermediate size i, vocabulary V; head_dim d = h / heads;
  2. the phase: prefill runs every prompt token at once (T = batch x seq tokens, attention over seq
     keys); decode runs one new token per sequence (T = batch) against a KV cache of ``kv_len``
     tokens (the new one included);
  3. one layer's ops: attn_norm, q/k/v projections (k and v are written into the KV cache),
     qk_matmul, softmax, sv_matmul, o_proj, residual add, mlp_norm, gate/up projections, the
     SiLU(gate) * up activation, down_proj, residual add; then once per model: the embedding lookup,
     final norm and lm_head (for the last token of each sequence only: the one whose next token is
     sampled);
  4. counts: a matmul is 2 m n k FLOPs (as torch's FlopCounterMode counts it); attention scores are
     counted for all seq x seq pairs (the causal mask's skipped half is not subtracted, as torch's
     matmul does not); elementwise conventions per element: softmax 5 (max, subtract, exp, sum,
     divide), RMSNorm 4, add 1, SiLU(gate) * up 5. Bytes at the chosen bit widths: weights at
     ``w_bits`` (norm weights at ``a_bits``), activations at ``a_bits``, K and V at ``kv_bits``;
  5. the roofline: time = max(FLOPs / peak, bytes / bandwidth) per op (each op reads its inputs from
     and writes its outputs to off-chip memory: no fusion); the layer's time x layers + the model's
     ops = the phase's time: prefill's is the time to first token, decode's the time per output token.
Peak is the chip's dense fp16 matrix peak whatever the bit widths (int8/int4 tensor-core peaks are
higher: narrow weights help the memory-bound phase here, not the compute-bound one).
Not handled: rotary embeddings, biases, fused or flash attention, tensor parallelism, the sampling
step, kernel launch overheads, MoE layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.errors import EngineError
from ..kernels.roofline_model import Hardware, hardware_presets
from .serving import whole

PHASES = ("prefill", "decode")
BITS = (4, 8, 16, 32)
#: FLOPs per element of the elementwise ops (the conventions of the module docstring)
ELEMENTWISE_FLOPS = {"softmax": 5, "norm": 4, "add": 1, "mlp_act": 5}


@dataclass(frozen=True)
class DecoderConfig:
    name: str
    hidden: int
    heads: int
    kv_heads: int
    layers: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False
    published_params: float = 0.0  # 0: not a published model
    source: str = ""

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def validate(self) -> DecoderConfig:
        whole("hidden size", self.hidden, 1, 1 << 16)
        whole("attention heads", self.heads, 1, 1024)
        whole("KV heads", self.kv_heads, 1, 1024)
        whole("layers", self.layers, 1, 1024)
        whole("intermediate size", self.intermediate, 1, 1 << 18)
        whole("vocabulary size", self.vocab, 1, 1 << 20)
        if self.hidden % self.heads:
            raise EngineError(f"hidden size {self.hidden} is not divisible by {self.heads} attention heads")
        if self.heads % self.kv_heads:
            raise EngineError(
                f"{self.heads} attention heads cannot be shared evenly by {self.kv_heads} KV heads"
            )
        return self


PRESETS = {
    c.name: c
    for c in (
        DecoderConfig(
            "Llama-2-7B",
            4096,
            32,
            32,
            32,
            11008,
            32000,
            False,
            6.74e9,
            "meta-llama/Llama-2-7b-hf config.json; Touvron et al. 2023 (Llama 2); "
            "6,738,415,616 parameters in its safetensors",
        ),
        DecoderConfig(
            "Llama-2-13B",
            5120,
            40,
            40,
            40,
            13824,
            32000,
            False,
            13.02e9,
            "meta-llama/Llama-2-13b-hf config.json; 13,015,864,320 parameters",
        ),
        DecoderConfig(
            "Llama-2-70B",
            8192,
            64,
            8,
            80,
            28672,
            32000,
            False,
            68.98e9,
            "meta-llama/Llama-2-70b-hf config.json (GQA, 8 KV heads; Touvron et al. 2023 "
            "§2.2); 68,976,648,192 parameters",
        ),
        DecoderConfig(
            "Llama-3-8B",
            4096,
            32,
            8,
            32,
            14336,
            128256,
            False,
            8.03e9,
            "meta-llama/Meta-Llama-3-8B config.json; 8,030,261,248 parameters",
        ),
        DecoderConfig(
            "Llama-3-70B",
            8192,
            64,
            8,
            80,
            28672,
            128256,
            False,
            70.55e9,
            "meta-llama/Meta-Llama-3-70B config.json; 70,553,706,496 parameters",
        ),
        DecoderConfig(
            "Mistral-7B",
            4096,
            32,
            8,
            32,
            14336,
            32000,
            False,
            7.24e9,
            "mistralai/Mistral-7B-v0.1 config.json; Jiang et al. 2023; 7,241,732,096 parameters",
        ),
    )
}


def param_counts(cfg: DecoderConfig) -> dict[str, int]:
    """Parameters by part: embedding, attention, MLP and norms of all layers, final norm, lm_head."""
    h, kvd, i = cfg.hidden, cfg.kv_dim, cfg.intermediate
    counts = {
        "embedding": cfg.vocab * h,
        "attention": cfg.layers * (2 * h * h + 2 * h * kvd),
        "mlp": cfg.layers * 3 * h * i,
        "norms": cfg.layers * 2 * h + h,
        "lm_head": 0 if cfg.tied_embeddings else cfg.vocab * h,
    }
    counts["total"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class Bits:
    weight: int = 16
    act: int = 16
    kv: int = 16

    def validate(self) -> Bits:
        for name, v in (("weight bits", self.weight), ("activation bits", self.act), ("KV bits", self.kv)):
            if v not in BITS:
                raise EngineError(f"{name} = {v!r} is not offered; choose one of {', '.join(map(str, BITS))}")
        return self


@dataclass(frozen=True)
class Op:
    name: str
    kind: str  # matmul, attention, elementwise, lookup
    flops: float
    load_weight: float = 0.0
    load_act: float = 0.0
    store_act: float = 0.0
    load_kv: float = 0.0
    store_kv: float = 0.0

    @property
    def bytes(self) -> float:
        return self.load_weight + self.load_act + self.store_act + self.load_kv + self.store_kv

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")


@dataclass(frozen=True)
class Shape:
    """One phase's token counts: ``tokens`` rows through the linear layers, ``queries`` per sequence
    attending over ``context`` keys, ``batch`` sequences."""

    phase: str
    batch: int
    queries: int
    context: int

    @property
    def tokens(self) -> int:
        return self.batch * self.queries


def phase_shape(phase: str, seq_len: int, kv_len: int, batch: int) -> Shape:
    if phase not in PHASES:
        raise EngineError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
    whole("batch size", batch, 1, 4096)
    whole("prompt length", seq_len, 1, 1 << 20)
    whole("KV length", kv_len, 1, 1 << 20)
    return Shape(phase, batch, seq_len, seq_len) if phase == "prefill" else Shape(phase, batch, 1, kv_len)


def _linear(name: str, n_in: int, n_out: int, tokens: int, wb: float, ab: float, kvb: float = 0.0) -> Op:
    """A projection: tokens x n_in times n_in x n_out weights; k/v outputs go to the KV cache."""
    to_cache = kvb > 0
    return Op(
        name,
        "matmul",
        2.0 * tokens * n_in * n_out,
        load_weight=n_in * n_out * wb,
        load_act=tokens * n_in * ab,
        store_act=0.0 if to_cache else tokens * n_out * ab,
        store_kv=tokens * n_out * kvb if to_cache else 0.0,
    )


def _elementwise(name: str, kind: str, elements: float, reads: int, ab: float, weights: float = 0.0) -> Op:
    return Op(
        name,
        "elementwise",
        ELEMENTWISE_FLOPS[kind] * elements,
        load_weight=weights * ab,
        load_act=reads * elements * ab,
        store_act=elements * ab,
    )


def layer_ops(cfg: DecoderConfig, shape: Shape, bits: Bits) -> tuple[Op, ...]:
    """The ops of one decoder layer in execution order."""
    h, i, d, kvd = cfg.hidden, cfg.intermediate, cfg.head_dim, cfg.kv_dim
    wb, ab, kvb = bits.weight / 8, bits.act / 8, bits.kv / 8
    t, b, q, ctx = shape.tokens, shape.batch, shape.queries, shape.context
    scores = float(b * cfg.heads * q * ctx)
    qk = Op(
        "qk_matmul",
        "attention",
        2.0 * scores * d,
        load_act=b * cfg.heads * q * d * ab,
        store_act=scores * ab,
        load_kv=b * cfg.kv_heads * ctx * d * kvb,
    )
    sv = Op(
        "sv_matmul",
        "attention",
        2.0 * scores * d,
        load_act=scores * ab,
        store_act=b * cfg.heads * q * d * ab,
        load_kv=b * cfg.kv_heads * ctx * d * kvb,
    )
    return (
        _elementwise("attn_norm", "norm", t * h, 1, ab, weights=h),
        _linear("q_proj", h, h, t, wb, ab),
        _linear("k_proj", h, kvd, t, wb, ab, kvb),
        _linear("v_proj", h, kvd, t, wb, ab, kvb),
        qk,
        _elementwise("softmax", "softmax", scores, 1, ab),
        sv,
        _linear("o_proj", h, h, t, wb, ab),
        _elementwise("attn_add", "add", t * h, 2, ab),
        _elementwise("mlp_norm", "norm", t * h, 1, ab, weights=h),
        _linear("gate_proj", h, i, t, wb, ab),
        _linear("up_proj", h, i, t, wb, ab),
        _elementwise("mlp_act", "mlp_act", t * i, 2, ab),
        _linear("down_proj", i, h, t, wb, ab),
        _elementwise("mlp_add", "add", t * h, 2, ab),
    )


def model_ops(cfg: DecoderConfig, shape: Shape, bits: Bits) -> tuple[Op, ...]:
    """The ops run once per pass: embedding lookup (its rows only), final norm and lm_head (last
    token of each sequence)."""
    h, wb, ab = cfg.hidden, bits.weight / 8, bits.act / 8
    lookup = Op(
        "embedding", "lookup", 0.0, load_weight=shape.tokens * h * wb, store_act=shape.tokens * h * ab
    )
    return (
        lookup,
        _elementwise("final_norm", "norm", shape.batch * h, 1, ab, weights=h),
        _linear("lm_head", h, cfg.vocab, shape.batch, wb, ab),
    )


@dataclass(frozen=True)
class Timed:
    op: Op
    scope: str  # "layer" (repeated layers times) or "model" (once)
    time_s: float  # one run of the op
    bound: str  # memory_bound or compute_bound


def roofline_time(op: Op, hw: Hardware) -> tuple[float, str]:
    """max(FLOPs / peak, bytes / bandwidth) and which roof bounds it."""
    compute, memory = op.flops / hw.peak_flops, op.bytes / hw.bandwidth
    return max(compute, memory), ("compute_bound" if compute > memory else "memory_bound")


@dataclass(frozen=True)
class Phase:
    shape: Shape
    layers: int
    ops: tuple[Timed, ...]

    def _sum(self, value) -> float:
        return sum(value(t) * (self.layers if t.scope == "layer" else 1) for t in self.ops)

    @property
    def flops(self) -> float:
        return self._sum(lambda t: t.op.flops)

    @property
    def bytes(self) -> float:
        return self._sum(lambda t: t.op.bytes)

    @property
    def time_s(self) -> float:
        return self._sum(lambda t: t.time_s)

    def share(self, bound: str) -> float:
        """Share of the phase's time spent in ops with this bound."""
        return self._sum(lambda t: t.time_s * (t.bound == bound)) / self.time_s


def analyze_phase(cfg: DecoderConfig, hw: Hardware, shape: Shape, bits: Bits) -> Phase:
    timed = [
        Timed(op, scope, *roofline_time(op, hw))
        for scope, ops in (
            ("model", model_ops(cfg, shape, bits)[:1]),
            ("layer", layer_ops(cfg, shape, bits)),
            ("model", model_ops(cfg, shape, bits)[1:]),
        )
        for op in ops
    ]
    return Phase(shape, cfg.layers, tuple(timed))


@dataclass(frozen=True)
class Analysis:
    config: DecoderConfig
    hardware: str
    bits: Bits
    prefill: Phase
    decode: Phase
    params: dict
    weight_bytes: float
    kv_cache_bytes: float  # at kv_len, the whole batch

    @property
    def ttft_s(self) -> float:
        return self.prefill.time_s

    @property
    def tpot_s(self) -> float:
        return self.decode.time_s


def analyze(
    cfg: DecoderConfig,
    hardware: str,
    seq_len: int = 1024,
    kv_len: int = 1024,
    batch: int = 1,
    bits: Bits = Bits(),
) -> Analysis:
    """Both phases of ``cfg`` on a :func:`engine.hardware_presets` chip."""
    cfg, bits = cfg.validate(), bits.validate()
    presets = hardware_presets()
    if hardware not in presets:
        raise EngineError(f"unknown hardware {hardware!r}; choose one of {', '.join(presets)}")
    hw = presets[hardware]
    phases = [analyze_phase(cfg, hw, phase_shape(p, seq_len, kv_len, batch), bits) for p in PHASES]
    params = param_counts(cfg)
    kv = 2.0 * cfg.layers * cfg.kv_dim * kv_len * batch * bits.kv / 8
    return Analysis(cfg, hardware, bits, *phases, params, params["total"] * bits.weight / 8, kv)


def op_rows(phase: Phase) -> list[dict]:
    """One row per op (per layer for the layer's ops), LLM-Viewer's columns."""
    return [
        dict(
            op=t.op.name,
            scope=t.scope,
            kind=t.op.kind,
            phase=phase.shape.phase,
            flops=t.op.flops,
            load_weight=t.op.load_weight,
            load_act=t.op.load_act,
            store_act=t.op.store_act,
            load_kv=t.op.load_kv,
            store_kv=t.op.store_kv,
            bytes=t.op.bytes,
            intensity=t.op.intensity,
            bound=t.bound,
            time_us=1e6 * t.time_s,
            total_time_us=1e6 * t.time_s * (phase.layers if t.scope == "layer" else 1),
        )
        for t in phase.ops
    ]


def summary_rows(a: Analysis) -> list[dict]:
    return [
        dict(
            phase=p.shape.phase,
            tokens=p.shape.tokens,
            context=p.shape.context,
            flops=p.flops,
            bytes=p.bytes,
            intensity=p.flops / p.bytes,
            time_ms=1e3 * p.time_s,
            memory_bound_share=p.share("memory_bound"),
        )
        for p in (a.prefill, a.decode)
    ]


def with_overrides(cfg: DecoderConfig, **fields) -> DecoderConfig:
    """``cfg`` with some fields changed: no longer the published model."""
    return replace(cfg, name="custom", published_params=0.0, source="", **fields).validate()
