"""Memory and communication conventions side by side, each with its source.

Stages:
  1. GPT parameter count (GPT-2's layout: learned positions, biases, tied LM head): a block has
     QKV 3h² + 3h, output projection h² + h, MLP 8h² + 5h and two LayerNorms 4h = 12h² + 13h; the
     root has token embeddings V·h, positions s·h and the final LayerNorm 2h. GPT-2 XL (L = 48,
     h = 1600, V = 50257, s = 1024) gives 1,557,611,200, Hugging Face's count; GPT-3 (L = 96,
     h = 12288, s = 2048) gives 174.6 B, published as 175 B. Megatron-LM's formula
     (theoretical_memory_usage.py) drops biases and positions: 12Lh² + 4Lh + 2h + V·h.
  2. ZeRO (Rajbhandari et al. 2020, §7): communication per step per device, in units of Ψ fp16
     elements: plain DP and ZeRO-1/2 2Ψ (reduce-scatter + all-gather), ZeRO-3 3Ψ (parameters
     all-gathered in forward and again in backward, gradients reduce-scattered).
  3. Model-state bytes per parameter: ZeRO paper K = 12 (:func:`engine.parallel.memory.zero_memory`);
     DeepSpeed's estimators (deepspeed/runtime/zero/stage_1_and_2.py and stage3.py,
     ``estimate_zero2_model_states_mem_needs`` / ``estimate_zero3_...``), which count 4 bytes of
     fp16 weights + gradients for the replicated part, 16 or 18 sharded, and for ZeRO-3
     4 × the largest layer's parameters gathered at once; Megatron-LM's 18 bytes (6 + 12/d with the
     distributed optimizer).
  4. Megatron-LM's activations with sequence parallelism and selective recomputation:
     s·b·h·(18 + 4·ffn/h) per layer / t, i.e. 34·s·b·h/t for ffn = 4h: Korthikanti et al. Table 2.
Not handled: DeepSpeed's host-side numbers' zero_init=0 variants, grouped-query attention, SwiGLU.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError
from .memory import activation_memory, zero_memory

ZERO_PAPER = "Rajbhandari et al. 2020, ZeRO (SC'20), §5 and §7"
DEEPSPEED = "DeepSpeed, deepspeed/runtime/zero/stage_1_and_2.py and stage3.py (memory estimators)"
MEGATRON = "Megatron-LM, megatron/training/theoretical_memory_usage.py"
KORTHIKANTI = "Korthikanti et al. 2022, Reducing Activation Recomputation, Table 2"


def block_params(hidden: int) -> int:
    """Parameters of one GPT block: 12h² + 13h."""
    return 12 * hidden * hidden + 13 * hidden


def root_params(hidden: int, vocab: int = 50257, seq: int = 1024) -> int:
    """Token + position embeddings and the final LayerNorm (the LM head is tied): V·h + s·h + 2h."""
    return vocab * hidden + seq * hidden + 2 * hidden


def gpt_params(layers: int, hidden: int, vocab: int = 50257, seq: int = 1024) -> int:
    """GPT-2/GPT-3 parameter count: L(12h² + 13h) + V·h + s·h + 2h."""
    if min(layers, hidden, vocab, seq) < 1:
        raise EngineError(f"layers, hidden, vocabulary and sequence must be ≥ 1, got {layers}, {hidden}")
    return layers * block_params(hidden) + root_params(hidden, vocab, seq)


def megatron_params(layers: int, hidden: int, vocab: int = 50257) -> float:
    """Megatron-LM's count (no biases, no learned positions, ffn = 4h, tied): 12Lh² + 4Lh + 2h + V·h."""
    return 12.0 * layers * hidden**2 + 4.0 * layers * hidden + 2.0 * hidden + vocab * hidden


#: (name, L, h, s, published parameter count, source)
PUBLISHED = (
    ("GPT-2 small", 12, 768, 1024, 124_439_808, "Hugging Face gpt2 (num_parameters)"),
    ("GPT-2 medium", 24, 1024, 1024, 354_823_168, "Hugging Face gpt2-medium (num_parameters)"),
    ("GPT-2 XL (1.5B)", 48, 1600, 1024, 1_557_611_200, "Hugging Face gpt2-xl (num_parameters)"),
    ("GPT-3 175B", 96, 12288, 2048, 175.0e9, "Brown et al. 2020, Table 2.1 (175.0B)"),
)


def zero_comm_volume(stage: int) -> float:
    """Elements sent per device per step, in units of Ψ (ZeRO §7): 2, 2, 2, 3 for stage 0-3."""
    if stage not in (0, 1, 2, 3):
        raise EngineError(f"ZeRO stage must be 0 (plain DP), 1, 2 or 3, got {stage!r}")
    return 3.0 if stage == 3 else 2.0


def deepspeed_zero2(params: float, gpus: int, nodes: int = 1, offload: bool = False) -> tuple[float, float]:
    """(host bytes, GPU bytes) from DeepSpeed's ZeRO-2 estimator (buffer factor 1.5 on the host)."""
    total = gpus * nodes
    if offload:
        return params * max(4 * total, 16) * 1.5, 2.0 * params
    return params * 4 * gpus * 1.5, 4.0 * params + int(16 * params / total)


def deepspeed_zero3(
    params: float,
    largest: float,
    gpus: int,
    nodes: int = 1,
    offload: bool = False,
    offload_params: bool = False,
) -> tuple[float, float]:
    """(host bytes, GPU bytes) from DeepSpeed's ZeRO-3 estimator with zero_init (buffer factor 1.5)."""
    total, layer = gpus * nodes, 4.0 * largest
    if offload and offload_params:
        return params * 18 / nodes * 1.5, layer
    if offload:
        return params * 16 / nodes * 1.5, layer + int(2 * params / total)
    return largest * 4 * gpus * 1.5, layer + int(18 * params / total)


def megatron_state_bytes(params: float, dp: int, distributed_optimizer: bool) -> float:
    """Megatron-LM's weights + optimizer: 18 bytes per parameter, 6 + 12/d with the distributed optimizer."""
    return params * (6 + 12 / dp if distributed_optimizer else 18)


def megatron_activations(seq: int, micro_batch: int, hidden: int, tp: int, ffn: int | None = None) -> float:
    """Megatron-LM's activations per layer with SP + selective recompute: s·b·h(18 + 4·ffn/h)/t."""
    ffn = 4 * hidden if ffn is None else ffn
    return seq * micro_batch * hidden * (18 + 4 * ffn / hidden) / tp


@dataclass(frozen=True)
class ConventionRow:
    source: str
    convention: str
    bytes_per_param: float  # GPU model-state bytes per parameter (Ψ) on one device
    gpu_bytes: float


def conventions_table(params: float, largest: float, gpus: int, nodes: int = 1) -> tuple[ConventionRow, ...]:
    """Model-state memory per GPU for Ψ = ``params`` on gpus × nodes devices, by each source."""
    if params <= 0 or largest <= 0 or gpus < 1 or nodes < 1:
        raise EngineError(f"need Ψ > 0, a largest layer > 0 and ≥ 1 GPU, got {params}, {largest}, {gpus}")
    n = gpus * nodes
    rows = [
        (ZERO_PAPER, f"ZeRO-{s} (K = 12)" if s else "DP (K = 12)", zero_memory(params, n, s)["total"])
        for s in range(4)
    ]
    rows += [
        (DEEPSPEED, "ZeRO-2", deepspeed_zero2(params, gpus, nodes)[1]),
        (DEEPSPEED, "ZeRO-2 + CPU offload", deepspeed_zero2(params, gpus, nodes, True)[1]),
        (DEEPSPEED, "ZeRO-3", deepspeed_zero3(params, largest, gpus, nodes)[1]),
        (DEEPSPEED, "ZeRO-3 + optimizer offload", deepspeed_zero3(params, largest, gpus, nodes, True)[1]),
        (
            DEEPSPEED,
            "ZeRO-3 + optimizer and parameter offload",
            deepspeed_zero3(params, largest, gpus, nodes, True, True)[1],
        ),
        (MEGATRON, "Megatron-LM, Adam", megatron_state_bytes(params, n, False)),
        (MEGATRON, "Megatron-LM, distributed optimizer", megatron_state_bytes(params, n, True)),
    ]
    return tuple(ConventionRow(src, name, b / params, b) for src, name, b in rows)


def selective_activations_agree(
    seq: int, micro_batch: int, hidden: int, heads: int, tp: int
) -> tuple[float, float]:
    """Megatron-LM's per-layer activations and Korthikanti et al.'s TP + SP + selective row (both bytes)."""
    return (
        megatron_activations(seq, micro_batch, hidden, tp),
        activation_memory(seq, micro_batch, hidden, heads, tp, True, "selective"),
    )
