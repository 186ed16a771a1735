"""KV-cache memory of a decoder-only transformer: bytes per token, what fits, what is wasted.

Stages:
  1. bytes per token = 2 (K and V) · layers · kv_heads · head_dim · bytes per element. Grouped-query
     attention (GQA) keeps fewer KV heads than query heads; multi-query attention (MQA) keeps one;
  2. how many sequences fit: (card memory · usable fraction − weights) / (bytes per token · tokens
     reserved per sequence);
  3. waste (Kwon et al., SOSP 2023): a contiguous allocator reserves ``max_len`` tokens for every
     sequence; PagedAttention allocates fixed blocks of ``block`` tokens on demand, so only the last
     block of each sequence is partly empty (internal fragmentation < one block per sequence).
Model configs come from the papers and the published ``config.json`` of each model card.
Not handled: beam search / prefix sharing (copy-on-write blocks), activation memory, the CUDA
context, quantised KV caches other than by choosing ``kv_dtype``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import EngineError
from .serving import DTYPE_BYTES, positive, whole

GIB = float(1 << 30)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    params: float
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    source: str

    @property
    def attention(self) -> str:
        if self.kv_heads == self.heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else f"GQA ({self.heads // self.kv_heads} query heads per KV head)"


_MODELS = (
    ModelConfig(
        "OPT-13B",
        12.85e9,
        40,
        40,
        40,
        128,
        2048,
        "Zhang et al. 2022 (OPT), Table 1: 40 layers, 40 heads, d_model 5120; vLLM paper §3: "
        "800 KB of KV cache per token",
    ),
    ModelConfig(
        "Llama-2-7B",
        6.74e9,
        32,
        32,
        32,
        128,
        4096,
        "Touvron et al. 2023 (Llama 2) and meta-llama/Llama-2-7b-hf config.json: 32 layers, "
        "32 heads, hidden 4096",
    ),
    ModelConfig(
        "Llama-2-13B",
        13.0e9,
        40,
        40,
        40,
        128,
        4096,
        "Touvron et al. 2023 and meta-llama/Llama-2-13b-hf config.json: 40 layers, 40 heads, hidden 5120",
    ),
    ModelConfig(
        "Llama-2-70B",
        68.98e9,
        80,
        64,
        8,
        128,
        4096,
        "Touvron et al. 2023 §2.2 (GQA for 34B/70B) and meta-llama/Llama-2-70b-hf config.json: "
        "80 layers, 64 heads, 8 KV heads, hidden 8192",
    ),
    ModelConfig(
        "Mistral-7B",
        7.24e9,
        32,
        32,
        8,
        128,
        32768,
        "Jiang et al. 2023 (Mistral 7B), Table 1: 32 layers, 32 heads, 8 KV heads, head_dim 128",
    ),
    ModelConfig(
        "Llama-3-8B",
        8.03e9,
        32,
        32,
        8,
        128,
        8192,
        "meta-llama/Meta-Llama-3-8B config.json: 32 layers, 32 heads, 8 KV heads, hidden 4096",
    ),
    ModelConfig(
        "Falcon-7B (MQA)",
        7.22e9,
        32,
        71,
        1,
        64,
        2048,
        "tiiuae/falcon-7b config.json: 32 layers, 71 heads, multi-query (1 KV head), hidden 4544",
    ),
    ModelConfig(
        "GPT-3 175B",
        175e9,
        96,
        96,
        96,
        128,
        2048,
        "Brown et al. 2020, Table 2.1: 96 layers, 96 heads, d_head 128, d_model 12288",
    ),
)

#: memory of the serving cards (GiB as the vendors' "GB" on HBM parts), by hardware preset name
CARD_MEMORY_GIB = {
    "V100 SXM2": 32.0,
    "A100 40GB SXM": 40.0,
    "A100 80GB SXM": 80.0,
    "H100 SXM": 80.0,
    "RTX 4090": 24.0,
    "MI300X": 192.0,
    "MI250X": 128.0,
    "Ascend 910 (editable)": 32.0,
}


def model_configs() -> dict[str, ModelConfig]:
    return {m.name: m for m in _MODELS}


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, dtype: str = "fp16") -> float:
    """2 · layers · kv_heads · head_dim · bytes per element."""
    if dtype not in DTYPE_BYTES:
        raise EngineError(f"KV dtype {dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    return (
        2.0
        * whole("layers", layers, 1, 4096)
        * whole("KV heads", kv_heads, 1, 4096)
        * whole("head dim", head_dim, 1, 4096)
        * DTYPE_BYTES[dtype]
    )


@dataclass(frozen=True)
class Capacity:
    weight_bytes: float
    kv_budget_bytes: float
    kv_per_token: float
    tokens: int  # tokens of KV cache that fit
    sequences_contiguous: int  # sequences at max_len each
    sequences_paged: int  # sequences at their mean used length (rounded up to blocks)


def capacity(
    config: ModelConfig,
    card_gib: float,
    max_len: int,
    mean_len: float,
    weight_dtype: str = "fp16",
    kv_dtype: str = "fp16",
    usable: float = 0.9,
    block: int = 16,
) -> Capacity:
    """How many sequences fit beside the weights on one card (``usable`` share of its memory)."""
    if weight_dtype not in DTYPE_BYTES:
        raise EngineError(f"weight dtype {weight_dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    card = positive("card memory (GiB)", card_gib) * GIB
    usable = positive("usable memory fraction", usable)
    if usable > 1:
        raise EngineError(f"usable memory fraction = {usable} must be at most 1")
    max_len = whole("max sequence length", max_len, 1, 1 << 20)
    mean_len = positive("mean sequence length", mean_len)
    if mean_len > max_len:
        raise EngineError(f"mean length {mean_len:g} is longer than the max length {max_len}")
    block = whole("block size", block, 1, 4096)
    weights = config.params * DTYPE_BYTES[weight_dtype]
    budget = card * usable - weights
    if budget <= 0:
        raise EngineError(
            f"{config.name} needs {weights / GIB:.1f} GiB of {weight_dtype} weights but "
            f"the card offers {card * usable / GIB:.1f} GiB: shard it over several "
            f"cards (tensor parallelism) or quantise it"
        )
    per_tok = kv_bytes_per_token(config.layers, config.kv_heads, config.head_dim, kv_dtype)
    tokens = int(budget // per_tok)
    paged_len = math.ceil(mean_len / block) * block
    return Capacity(weights, budget, per_tok, tokens, tokens // max_len, int(tokens // paged_len))


@dataclass(frozen=True)
class Waste:
    used_tokens: int
    reserved_contiguous: int
    reserved_paged: int

    @property
    def waste_contiguous(self) -> float:
        """Share of the reserved KV memory that holds no token (0..1)."""
        return 1.0 - self.used_tokens / self.reserved_contiguous

    @property
    def waste_paged(self) -> float:
        return 1.0 - self.used_tokens / self.reserved_paged


def fragmentation(lengths, max_len: int, block: int = 16) -> Waste:
    """Reserved vs used KV slots for sequences of ``lengths`` tokens (prompt + generated)."""
    max_len = whole("max sequence length", max_len, 1, 1 << 20)
    block = whole("block size", block, 1, 4096)
    lens = np.asarray(lengths, dtype=np.int64)
    if lens.size == 0 or lens.min() < 1 or lens.max() > max_len:
        raise EngineError(f"sequence lengths must be from 1 to the max length {max_len}")
    paged = int((-(-lens // block) * block).sum())
    return Waste(int(lens.sum()), int(max_len * lens.size), paged)


def memory_rows(
    card_gib: float, batch: int, seq_len: int, kv_dtype: str = "fp16", weight_dtype: str = "fp16"
) -> list[dict]:
    """Every preset model: weights and the KV cache of ``batch`` sequences of ``seq_len`` tokens."""
    positive("card memory (GiB)", card_gib)
    batch, seq_len = whole("batch", batch, 1, 1 << 16), whole("sequence length", seq_len, 1, 1 << 20)
    rows = []
    for m in _MODELS:
        per_tok = kv_bytes_per_token(m.layers, m.kv_heads, m.head_dim, kv_dtype)
        weights = m.params * DTYPE_BYTES[weight_dtype] / GIB
        kv = per_tok * batch * seq_len / GIB
        rows.append(
            dict(
                model=m.name,
                attention=m.attention,
                kv_kib_per_token=per_tok / 1024,
                weights_gib=weights,
                kv_gib=kv,
                fits=weights + kv <= card_gib,
            )
        )
    return rows


def waste_rows(lengths, max_len: int, blocks=(1, 8, 16, 32, 64, 128, 256)) -> list[dict]:
    """Wasted share of reserved KV memory: contiguous allocation, then paged with each block size."""
    rows = [dict(allocator="contiguous", waste=fragmentation(lengths, max_len, 1).waste_contiguous)]
    for b in blocks:
        rows.append(dict(allocator=f"paged {b}", waste=fragmentation(lengths, max_len, b).waste_paged))
    return rows


def sample_lengths(n: int, prompt: int, mean_out: int, max_len: int, seed: int = 0) -> np.ndarray:
    """Sequence lengths prompt + output, outputs geometric with mean ``mean_out``, capped at max_len."""
    n = whole("number of sequences", n, 1, 100_000)
    prompt, mean_out = whole("prompt length", prompt, 1, 1 << 20), whole("mean output", mean_out, 1, 1 << 20)
    max_len = whole("max sequence length", max_len, 1, 1 << 20)
    if prompt >= max_len:
        raise EngineError(f"prompt length {prompt} leaves no room under the max length {max_len}")
    out = np.random.default_rng(seed).geometric(1.0 / mean_out, n)
    return np.minimum(prompt + out, max_len)


def in_flight_capacity(
    config: ModelConfig, card_gib: float, prompt: int, mean_out: int, dtype: str = "fp16"
) -> tuple[int, Capacity]:
    """How many sequences fit when each may grow to prompt + 8 × mean output (capped by the
    model's context): returns (that longest length, :func:`capacity`)."""
    longest = min(int(prompt) + 8 * int(mean_out), config.max_context)
    return longest, capacity(config, card_gib, longest, min(int(prompt) + int(mean_out), longest), dtype)
