"""3-D parallelism (DP × TP × PP) on a cluster, a configuration search, and its cost estimate.

Stages:
  1. Mapping: global rank r → (node, local GPU); parallel coordinates with TP varying fastest, then
     DP, then PP (Megatron-LM's order), so a TP group never leaves a node (TP ≤ GPUs per node).
  2. Per-device memory: model states of Ψ/(t·p) parameters under ZeRO stage z over the DP group
     (memory.zero_memory), plus activations: the first 1F1B stage holds p micro-batches of L/p
     layers each = L layers (Korthikanti et al. 2022, Eq. 5), per layer from Table 2.
  3. Step time = compute (6Ψ FLOPs per token at an assumed efficiency, ×4/3 with full recompute)
     × (1 + bubble (p−1)/m) + TP all-reduces (4 per layer per micro-batch, inside a node)
     + DP gradient all-reduce (once per step, not overlapped) + PP point-to-point sends.
  4. Search: every (t, p, d) with t | GPUs per node and t | heads, p | layers, d = N/(t·p), and a
     whole number of micro-batches; ranked by estimated step time, configurations that fit first.
Not handled: overlap of DP communication with backward, expert/context parallelism, memory of
embeddings and logits, uneven layer splits. The estimate is a teaching model, not a predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError
from .collectives import LINKS, Link, allreduce_time
from .memory import GiB, activation_memory, zero_memory


@dataclass(frozen=True)
class ModelSpec:
    name: str
    params: float
    layers: int
    hidden: int
    heads: int
    seq: int


#: Architectures from the papers (Korthikanti et al. 2022 Table 1; Brown et al. 2020; Touvron 2023).
MODELS = {
    "GPT-3 175B": ModelSpec("GPT-3 175B", 175e9, 96, 12288, 96, 2048),
    "Megatron 22B": ModelSpec("Megatron 22B", 22e9, 48, 6144, 64, 2048),
    "MT-NLG 530B": ModelSpec("MT-NLG 530B", 530e9, 105, 20480, 128, 2048),
    "Llama-2 70B": ModelSpec("Llama-2 70B", 70e9, 80, 8192, 64, 4096),
    "Llama-2 7B": ModelSpec("Llama-2 7B", 7e9, 32, 4096, 32, 4096),
}


@dataclass(frozen=True)
class Cluster:
    nodes: int
    gpus_per_node: int = 8
    gpu_bytes: float = 80 * GiB
    peak_flops: float = 312e12  # A100 dense fp16/bf16 tensor-core peak (datasheet)
    efficiency: float = 0.5  # assumed share of peak reached by the matmuls
    intra: Link = LINKS["NVLink 3 (A100)"]
    inter: Link = LINKS["InfiniBand HDR"]

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


def _check_cluster(c: Cluster) -> None:
    if c.nodes < 1 or c.gpus_per_node < 1:
        raise EngineError(f"a cluster needs ≥ 1 node and ≥ 1 GPU per node, got {c.nodes} × {c.gpus_per_node}")
    if c.gpus > 65536:
        raise EngineError(f"{c.gpus:,} GPUs is over this lab's limit of 65,536")


def dp_degree(cluster: Cluster, tp: int, pp: int) -> int:
    """The data-parallel degree left for ``tp`` × ``pp`` on the cluster (must divide it)."""
    _check_cluster(cluster)
    if tp < 1 or pp < 1 or cluster.gpus % (tp * pp):
        raise EngineError(
            f"tp × pp = {tp}×{pp} = {tp * pp} does not divide the cluster's {cluster.gpus} GPUs"
        )
    return cluster.gpus // (tp * pp)


def map_devices(dp: int, tp: int, pp: int, cluster: Cluster) -> tuple[dict, ...]:
    """One row per GPU: rank, node, local GPU and its (dp, tp, pp) coordinates."""
    _check_degrees(dp, tp, pp, cluster)
    rows = []
    for rank in range(cluster.gpus):
        rows.append(
            dict(
                rank=rank,
                node=rank // cluster.gpus_per_node,
                gpu=rank % cluster.gpus_per_node,
                tp=rank % tp,
                dp=(rank // tp) % dp,
                pp=rank // (tp * dp),
            )
        )
    return tuple(rows)


def _check_degrees(dp: int, tp: int, pp: int, cluster: Cluster) -> None:
    _check_cluster(cluster)
    if min(dp, tp, pp) < 1:
        raise EngineError(f"parallel degrees must be ≥ 1, got dp={dp}, tp={tp}, pp={pp}")
    if dp * tp * pp != cluster.gpus:
        raise EngineError(
            f"dp × tp × pp = {dp}×{tp}×{pp} = {dp * tp * pp} but the cluster has {cluster.gpus} GPUs"
        )
    if cluster.gpus_per_node % tp:
        raise EngineError(
            f"tensor-parallel size {tp} must divide the {cluster.gpus_per_node} GPUs "
            f"of a node so a TP group stays on one node's fast links"
        )


@dataclass(frozen=True)
class Estimate:
    dp: int
    tp: int
    pp: int
    micro_batches: int
    state_bytes: float
    activation_bytes: float
    fits: bool
    compute_s: float
    bubble_s: float
    tp_comm_s: float
    dp_comm_s: float
    pp_comm_s: float

    @property
    def memory_bytes(self) -> float:
        return self.state_bytes + self.activation_bytes

    @property
    def step_s(self) -> float:
        return self.compute_s + self.bubble_s + self.tp_comm_s + self.dp_comm_s + self.pp_comm_s


def estimate(
    model: ModelSpec,
    cluster: Cluster,
    dp: int,
    tp: int,
    pp: int,
    global_batch: int,
    micro_batch: int = 1,
    zero_stage: int = 1,
    sp: bool = True,
    recompute: str = "selective",
) -> Estimate:
    """Memory and step time of one (dp, tp, pp) configuration."""
    _check_degrees(dp, tp, pp, cluster)
    if model.heads % tp:
        raise EngineError(f"tensor-parallel size {tp} does not divide the {model.heads} heads")
    if pp > model.layers or model.layers % pp:
        raise EngineError(f"{pp} pipeline stages cannot split {model.layers} layers evenly")
    if global_batch % (dp * micro_batch):
        raise EngineError(
            f"global batch {global_batch} is not a multiple of dp × micro-batch = {dp}×{micro_batch}"
        )
    m = global_batch // (dp * micro_batch)
    states = zero_memory(model.params / (tp * pp), dp, zero_stage)["total"]
    per_layer = activation_memory(model.seq, micro_batch, model.hidden, model.heads, tp, sp, recompute)
    acts = per_layer * (model.layers // pp) * min(pp, m)
    flops = 6.0 * model.params * global_batch * model.seq * (4 / 3 if recompute == "full" else 1)
    compute = flops / cluster.gpus / (cluster.peak_flops * cluster.efficiency)
    bubble = compute * (pp - 1) / m
    msg = 2.0 * model.seq * micro_batch * model.hidden  # one fp16 activation
    tp_comm = m * (model.layers // pp) * 4 * allreduce_time(msg, tp, cluster.intra)
    dp_link = cluster.intra if tp * dp <= cluster.gpus_per_node else cluster.inter
    dp_comm = allreduce_time(2.0 * model.params / (tp * pp), dp, dp_link)
    pp_link = cluster.intra if tp * dp * pp <= cluster.gpus_per_node else cluster.inter
    pp_comm = 0.0 if pp == 1 else 2 * (m + pp - 2) * (pp_link.alpha + msg / tp / pp_link.beta)
    return Estimate(
        dp,
        tp,
        pp,
        m,
        states,
        acts,
        states + acts <= cluster.gpu_bytes,
        compute,
        bubble,
        tp_comm,
        dp_comm,
        pp_comm,
    )


def search(
    model: ModelSpec,
    cluster: Cluster,
    global_batch: int,
    micro_batch: int = 1,
    zero_stage: int = 1,
    sp: bool = True,
    recompute: str = "selective",
) -> tuple[Estimate, ...]:
    """Every valid (dp, tp, pp), fitting ones first, each group ranked by step time."""
    _check_cluster(cluster)
    if global_batch < 1 or micro_batch < 1:
        raise EngineError(f"global batch and micro-batch must be ≥ 1, got {global_batch}, {micro_batch}")
    found = []
    for tp in range(1, cluster.gpus_per_node + 1):
        if cluster.gpus_per_node % tp or model.heads % tp:
            continue
        for pp in range(1, model.layers + 1):
            if model.layers % pp or cluster.gpus % (tp * pp):
                continue
            dp = cluster.gpus // (tp * pp)
            if global_batch % (dp * micro_batch):
                continue
            found.append(
                estimate(model, cluster, dp, tp, pp, global_batch, micro_batch, zero_stage, sp, recompute)
            )
    if not found:
        raise EngineError(
            f"no (dp, tp, pp) splits {cluster.gpus} GPUs with a global batch of "
            f"{global_batch}; try a batch that is a multiple of the GPU count"
        )
    return tuple(sorted(found, key=lambda e: (not e.fits, e.step_s)))
