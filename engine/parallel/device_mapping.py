"""Topology-aware 3-D mapping: which GPU gets which TP, DP and PP rank, and what each group's links cost.

Stages:
  1. Rank layout: an order such as "tp-dp-pp" lists the three dimensions from fastest-varying to
     slowest (Megatron-LM's default puts TP innermost). Global rank r of coordinates (x, y, z) in
     that order is r = x + X·(y + Y·z); GPU r sits on node r // G (G GPUs per node), as a launcher
     places consecutive ranks on one node.
  2. Process groups: a TP group is every rank with the same DP and PP coordinates, and so on; a group
     crosses nodes when its ranks lie on more than one node. Its collectives then run at the
     inter-node bandwidth (the slowest link of a ring sets its pace), otherwise on NVLink.
  3. Step time: compute and pipeline bubble from :func:`engine.parallel.auto.estimate` (6Ψ FLOPs per
     token), plus per group kind, with the link its groups use: TP 4 all-reduces of the s·b·h fp16
     activation per layer per micro-batch (Megatron's two in forward, two in backward), DP one
     all-reduce of the 2Ψ/(t·p) gradient bytes, PP 2(m + p − 2) point-to-point sends of s·b·h/t.
     The TP traffic is by far the largest and most frequent, so the orders that keep TP inside a node
     win: the reason for Megatron-LM's convention.
Not handled: rail-optimised networks, NVSwitch vs ring topology inside a node, overlap of DP
communication with backward, several NICs sharing a PCIe switch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import permutations

from ..core.budget import check_steps
from ..core.errors import EngineError
from .auto import Cluster, ModelSpec, estimate
from .collectives import Link, allreduce_time

DIMS = ("tp", "dp", "pp")
ORDERS = tuple("-".join(p) for p in permutations(DIMS))  # fastest-varying dimension first
MEGATRON_ORDER = "tp-dp-pp"
#: Sourced defaults: DGX A100 (NVIDIA DGX A100 datasheet: 600 GB/s NVLink per GPU, both directions
#: together; 8 × 200 Gb/s HDR InfiniBand, one NIC per GPU).
NVLINK_GBPS = 300.0  # GB/s per direction
IB_GBITS = 200.0  # Gb/s per GPU's NIC


def _order(order: str) -> tuple[str, str, str]:
    parts = tuple(order.split("-")) if isinstance(order, str) else ()
    if sorted(parts) != sorted(DIMS):
        raise EngineError(f"a rank order lists tp, dp and pp once each, e.g. tp-dp-pp; got {order!r}")
    return parts  # type: ignore[return-value]


def coordinates(rank: int, order: str, sizes: dict[str, int]) -> dict[str, int]:
    """The (tp, dp, pp) coordinates of a global rank under ``order``."""
    out = {}
    for dim in _order(order):
        out[dim] = rank % sizes[dim]
        rank //= sizes[dim]
    return out


def rank_of(coords: dict[str, int], order: str, sizes: dict[str, int]) -> int:
    rank, scale = 0, 1
    for dim in _order(order):
        rank += coords[dim] * scale
        scale *= sizes[dim]
    return rank


def process_groups(kind: str, order: str, tp: int, dp: int, pp: int) -> tuple[tuple[int, ...], ...]:
    """Every group of ``kind`` (tp, dp or pp): ranks that share the other two coordinates, sorted."""
    if kind not in DIMS:
        raise EngineError(f"group kind must be tp, dp or pp, got {kind!r}")
    sizes = {"tp": tp, "dp": dp, "pp": pp}
    world = tp * dp * pp
    check_steps(world * 3, "the rank layout")
    groups: dict[tuple, list[int]] = {}
    for rank in range(world):
        c = coordinates(rank, order, sizes)
        key = tuple(c[d] for d in DIMS if d != kind)
        groups.setdefault(key, []).append(rank)
    return tuple(sorted(tuple(g) for g in groups.values()))


@dataclass(frozen=True)
class GroupCost:
    kind: str
    size: int
    groups: int
    crossing: int  # groups whose ranks sit on more than one node
    link: str  # "NVLink" or "network"
    seconds: float  # communication time of this kind per step


@dataclass(frozen=True)
class Mapping:
    order: str
    tp: int
    dp: int
    pp: int
    gpus_per_node: int
    rows: tuple[dict, ...]  # one per GPU: rank, node, gpu, tp, dp, pp
    costs: tuple[GroupCost, ...]
    compute_s: float
    bubble_s: float

    @property
    def comm_s(self) -> float:
        return sum(c.seconds for c in self.costs)

    @property
    def step_s(self) -> float:
        return self.compute_s + self.bubble_s + self.comm_s


def links(nvlink_gbps: float = NVLINK_GBPS, ib_gbits: float = IB_GBITS) -> tuple[Link, Link]:
    """NVLink and the network as α-β links from the two bandwidth controls."""
    if not 0 < nvlink_gbps <= 10_000 or not 0 < ib_gbits <= 10_000:
        raise EngineError(
            f"bandwidths must be in (0, 10000], got NVLink {nvlink_gbps} GB/s, IB {ib_gbits} Gb/s"
        )
    return (
        Link("NVLink", 5e-6, nvlink_gbps * 1e9, "DGX A100 datasheet: 600 GB/s per GPU, both directions"),
        Link("network", 5e-6, ib_gbits / 8 * 1e9, "DGX A100: 8 × 200 Gb/s HDR InfiniBand, one per GPU"),
    )


def map_cluster(
    model: ModelSpec,
    nodes: int,
    gpus_per_node: int,
    tp: int,
    pp: int,
    order: str = MEGATRON_ORDER,
    global_batch: int = 512,
    nvlink_gbps: float = NVLINK_GBPS,
    ib_gbits: float = IB_GBITS,
) -> Mapping:
    """Place dp × tp × pp on nodes × GPUs in ``order`` and estimate one training step."""
    _order(order)
    if not 1 <= nodes <= 1024 or not 1 <= gpus_per_node <= 16:
        raise EngineError(f"this lab takes 1-1024 nodes of 1-16 GPUs, got {nodes} × {gpus_per_node}")
    world = nodes * gpus_per_node
    check_steps(world * len(DIMS), "the rank layout")
    if tp < 1 or pp < 1 or world % (tp * pp):
        raise EngineError(f"tp × pp = {tp}×{pp} = {tp * pp} does not divide the cluster's {world} GPUs")
    dp = world // (tp * pp)
    intra, inter = links(nvlink_gbps, ib_gbits)
    sizes = {"tp": tp, "dp": dp, "pp": pp}
    rows = tuple(
        dict(rank=r, node=r // gpus_per_node, gpu=r % gpus_per_node, **coordinates(r, order, sizes))
        for r in range(world)
    )
    # auto.estimate keeps TP inside a node by construction: give it a node wide enough for any tp
    wide = replace(Cluster(1, world), intra=intra, inter=inter)
    est = estimate(model, wide, dp, tp, pp, global_batch)
    m, msg = est.micro_batches, 2.0 * model.seq * model.hidden
    costs = []
    for kind in DIMS:
        groups = process_groups(kind, order, tp, dp, pp)
        crossing = sum(len({r // gpus_per_node for r in g}) > 1 for g in groups)
        link = inter if crossing else intra
        size = sizes[kind]
        if kind == "tp":
            seconds = m * (model.layers // pp) * 4 * allreduce_time(msg, size, link)
        elif kind == "dp":
            seconds = allreduce_time(2.0 * model.params / (tp * pp), size, link)
        else:
            seconds = 0.0 if pp == 1 else 2 * (m + pp - 2) * (link.alpha + msg / tp / link.beta)
        costs.append(GroupCost(kind, size, len(groups), crossing, link.name, seconds))
    return Mapping(order, tp, dp, pp, gpus_per_node, rows, tuple(costs), est.compute_s, est.bubble_s)


def compare_orders(
    model: ModelSpec, nodes: int, gpus_per_node: int, tp: int, pp: int, **kw
) -> tuple[Mapping, ...]:
    """All six orders, fastest estimated step first (ties keep the order of :data:`ORDERS`)."""
    check_steps(len(ORDERS) * len(DIMS) * nodes * gpus_per_node, "comparing the six rank orders")
    found = [map_cluster(model, nodes, gpus_per_node, tp, pp, order, **kw) for order in ORDERS]
    return tuple(sorted(found, key=lambda mp: mp.step_s))
