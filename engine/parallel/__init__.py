"""Distributed training lab: memory, collectives, tensor / pipeline / 3-D parallelism, real runs.

Modules: memory (ZeRO/FSDP/offload, activations), collectives (ring/tree all-reduce, α-β model),
data_parallel (DDP buckets, sync vs async SGD), mixed_precision (fp16 underflow, loss scaling),
tensor_parallel (Megatron splits), pipeline (GPipe/1F1B/interleaved), auto (DP×TP×PP search),
sharding (MindSpore-style strategies and redistribution), real_run (torch.distributed, gloo).
Everything is numpy on simulated devices; ``real_run`` imports torch only inside its workers.
"""

from __future__ import annotations

from .auto import MODELS, Cluster, ModelSpec, dp_degree, estimate, map_devices, search
from .collectives import (
    LINKS,
    Link,
    allreduce_time,
    get_link,
    ring_allreduce,
    ring_allreduce_steps,
    ring_bytes_per_device,
    tree_allreduce,
    tree_allreduce_steps,
)
from .data_parallel import ddp_buckets, sync_vs_async
from .memory import CARDS, STRATEGIES, activation_memory, state_memory, zero_memory
from .mixed_precision import (
    FP16_MAX,
    FP16_MIN_NORMAL,
    FP16_MIN_SUBNORMAL,
    loss_scale_steps,
    synthetic_grad_max,
    synthetic_gradients,
    underflow,
)
from .pipeline import (
    activations_held,
    bubble_formula,
    bubble_fraction,
    measured_bubble,
    peak_activations,
    pipeline_schedule,
)
from .sharding import Layout, matmul_strategy, redistribute, strategy_transition
from .tensor_parallel import (
    attention_by_heads,
    comm_volume_per_layer,
    megatron_mlp,
    mesh_matmul,
    mlp_grads,
    vocab_parallel_cross_entropy,
    vocab_parallel_embedding,
)

__all__ = [
    "CARDS",
    "FP16_MAX",
    "FP16_MIN_NORMAL",
    "FP16_MIN_SUBNORMAL",
    "LINKS",
    "MODELS",
    "STRATEGIES",
    "Cluster",
    "Layout",
    "Link",
    "ModelSpec",
    "activation_memory",
    "activations_held",
    "allreduce_time",
    "attention_by_heads",
    "bubble_formula",
    "bubble_fraction",
    "comm_volume_per_layer",
    "ddp_buckets",
    "dp_degree",
    "estimate",
    "get_link",
    "loss_scale_steps",
    "map_devices",
    "matmul_strategy",
    "measured_bubble",
    "megatron_mlp",
    "mesh_matmul",
    "mlp_grads",
    "peak_activations",
    "pipeline_schedule",
    "redistribute",
    "ring_allreduce",
    "ring_allreduce_steps",
    "ring_bytes_per_device",
    "search",
    "state_memory",
    "strategy_transition",
    "sync_vs_async",
    "synthetic_grad_max",
    "synthetic_gradients",
    "tree_allreduce",
    "tree_allreduce_steps",
    "underflow",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_embedding",
    "zero_memory",
]
