"""Training memory per device: model states under DP / ZeRO / FSDP / offload, and activations.

Stages of the model-state count (Rajbhandari et al. 2020, "ZeRO", §3 and §5):
  1. Mixed-precision Adam keeps, per parameter, fp16 weights (2 bytes), fp16 gradients (2 bytes)
     and K = 12 bytes of optimizer state (fp32 master weights, momentum, variance).
  2. Plain data parallelism replicates all of it: (2 + 2 + K)·Ψ bytes on every device.
  3. ZeRO-1 (P_os) shards the optimizer states over N_d devices, ZeRO-2 (P_os+g) also the
     gradients, ZeRO-3 (P_os+g+p) also the weights. FSDP "full shard" is ZeRO-3.
  4. ZeRO-Offload keeps fp16 weights on the GPU and moves gradients and optimizer states to CPU.

Activations per transformer layer (Korthikanti et al. 2022, "Reducing Activation Recomputation in
Large Transformer Models", Table 2), 16-bit activations, s = sequence, b = micro-batch,
h = hidden, a = heads, t = tensor-parallel size:
  no parallelism              sbh(34 + 5as/h)
  tensor parallel             sbh(10 + 24/t + 5as/(ht))
  tensor + sequence parallel  sbh/t (34 + 5as/h)
  TP + selective recompute    sbh(10 + 24/t)         (with SP: 34·sbh/t)
  full recomputation          2sbh                   (only the layer input is kept)
Not handled: temporary buffers, fragmentation, the embedding/logits activations, and the
pipeline's in-flight micro-batches (the caller multiplies by them).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError

GB = 1e9  # the ZeRO paper reports decimal gigabytes
GiB = 1 << 30

STRATEGIES = ("dp", "zero1", "zero2", "zero3", "fsdp", "offload")

#: Memory of common accelerators (bytes), from the vendors' datasheets.
CARDS = {
    "NVIDIA V100 32 GB": 32 * GiB,
    "NVIDIA A100 40 GB": 40 * GiB,
    "NVIDIA A100 80 GB": 80 * GiB,
    "NVIDIA H100 80 GB": 80 * GiB,
    "NVIDIA RTX 4090 24 GB": 24 * GiB,
    "Ascend 910B 64 GB": 64 * GiB,
}


def _positive(name: str, value, integer: bool = False) -> None:
    """Refuse zero, negative, non-numeric or (when ``integer``) fractional values."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "a positive whole number" if integer else "positive"
        raise EngineError(f"{name} must be {kind}, got {value!r}")


def zero_memory(params: float, dp: int, stage: int, k: int = 12) -> dict:
    """Bytes of weights, gradients and optimizer states per device under ZeRO stage 0-3."""
    _positive("the parameter count Ψ", params)
    _positive("the data-parallel degree (number of devices)", dp, integer=True)
    if stage not in (0, 1, 2, 3):
        raise EngineError(f"ZeRO stage must be 0 (plain DP), 1, 2 or 3, got {stage!r}")
    if k < 0:
        raise EngineError(f"optimizer bytes per parameter K must be ≥ 0, got {k}")
    dp = int(dp)
    weights = 2.0 * params / (dp if stage >= 3 else 1)
    grads = 2.0 * params / (dp if stage >= 2 else 1)
    optimizer = float(k) * params / (dp if stage >= 1 else 1)
    return {"params": weights, "grads": grads, "optimizer": optimizer, "total": weights + grads + optimizer}


@dataclass(frozen=True)
class StateMemory:
    """Model-state bytes on one GPU (and what was moved to the host)."""

    strategy: str
    params: float
    grads: float
    optimizer: float
    cpu: float = 0.0

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer


def state_memory(params: float, dp: int, strategy: str, k: int = 12) -> StateMemory:
    """Model states per GPU for a named strategy: dp, zero1, zero2, zero3, fsdp or offload."""
    if strategy not in STRATEGIES:
        raise EngineError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if strategy == "offload":
        # ZeRO-Offload (Ren et al. 2021): fp16 weights stay on the GPU; fp16 gradients and the
        # fp32 optimizer states live on the CPU, partitioned over the data-parallel ranks.
        base = zero_memory(params, dp, 2, k)
        return StateMemory(strategy, base["params"], 0.0, 0.0, cpu=base["grads"] + base["optimizer"])
    stage = {"dp": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}[strategy]
    got = zero_memory(params, dp, stage, k)
    return StateMemory(strategy, got["params"], got["grads"], got["optimizer"])


RECOMPUTE = ("none", "selective", "full")


def activation_memory(s, b, h, a, tp: int = 1, sp: bool = False, recompute: str = "none") -> float:
    """Activation bytes of one transformer layer (Korthikanti et al. 2022, Table 2)."""
    for name, value in (
        ("sequence length s", s),
        ("micro-batch b", b),
        ("hidden size h", h),
        ("attention heads a", a),
        ("tensor-parallel size t", tp),
    ):
        _positive(name, value, integer=True)
    if recompute not in RECOMPUTE:
        raise EngineError(f"recompute must be one of {', '.join(RECOMPUTE)}, got {recompute!r}")
    if a % tp:
        raise EngineError(
            f"tensor-parallel size {tp} must divide the {a} attention heads (each device takes whole heads)"
        )
    if h % a:
        raise EngineError(f"hidden size {h} is not divisible by the {a} heads")
    if sp and tp == 1:
        sp = False  # sequence parallelism needs a tensor-parallel group; t = 1 makes it a no-op
    sbh = float(s) * b * h
    scores = 5.0 * a * s / h  # the attention-score term, quadratic in s
    if recompute == "full":
        return 2.0 * sbh / (tp if sp else 1)  # Table 2 lists sbh·2 (no SP); SP shards the input
    if recompute == "selective":
        return 34.0 * sbh / tp if sp else sbh * (10.0 + 24.0 / tp)
    if sp:
        return sbh / tp * (34.0 + scores)
    return sbh * (10.0 + 24.0 / tp + scores / tp)


def fits(total_bytes: float, card_bytes: float) -> bool:
    """Does a per-device total fit into a card's memory?"""
    return total_bytes <= card_bytes


def per_device_table(
    params: float,
    dp: int,
    layers: int,
    s: int,
    b: int,
    h: int,
    a: int,
    tp: int = 1,
    sp: bool = False,
    recompute: str = "none",
    k: int = 12,
) -> tuple[dict, ...]:
    """One row per strategy: model states (sharded over dp, and over tp for the weights) plus the
    activations of ``layers`` transformer layers, all in bytes per GPU."""
    _positive("number of layers", layers, integer=True)
    acts = activation_memory(s, b, h, a, tp, sp, recompute) * layers
    rows = []
    for name in STRATEGIES:
        st = state_memory(params / tp, dp, name, k)
        rows.append(
            dict(
                label=name,
                params=st.params,
                grads=st.grads,
                optimizer=st.optimizer,
                activations=acts,
                cpu=st.cpu,
                total=st.total + acts,
            )
        )
    return tuple(rows)
