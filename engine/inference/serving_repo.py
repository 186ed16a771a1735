"""A Triton-style model repository: models, versions, a config per model, and the dynamic batcher's rule.

What a serving system knows about a model before any request arrives, in the words of NVIDIA Triton
Inference Server's model configuration (``config.pbtxt``):
  1. a model is a name with numbered **versions**; the ``version_policy`` says which versions are
     served: ``latest`` (the n highest numbers, the default with n = 1), ``all``, or ``specific``;
  2. an **instance group** runs ``count`` copies of the model on a device kind (``KIND_GPU`` /
     ``KIND_CPU``); each copy executes one batch at a time;
  3. a **back end** executes it (onnxruntime, python, a custom shared library: here, a name);
  4. the **dynamic batcher** (:func:`next_batch`), as Triton's documentation states it: when an
     instance is free, requests are taken in arrival order; if a preferred batch size can be formed,
     the largest one that can is sent; otherwise a batch of the maximum size is sent if that many are
     queued; otherwise the batcher holds the requests while the oldest has waited less than
     ``max_queue_delay_microseconds`` and then sends whatever is queued; with no delay it sends the
     largest batch it can at once. Without ``dynamic_batching`` every request runs alone;
  5. an **ensemble** is a DAG of models (preprocess → model → postprocess) that the server schedules
     step by step, each step queued and batched at its own model.
:func:`pbtxt` writes a model's configuration in Triton's protobuf text format.
Not handled: priority levels, queue policies (timeouts, max queue size), ragged batches, sequence
batching, rate limiting, the response cache, model warm-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import EngineError
from .serving import positive, whole

KINDS = ("deterministic", "exponential", "empirical")
POLICIES = ("latest", "all", "specific")
DEVICES = ("GPU", "CPU")
MAX_BATCH = 4096
#: why a batch was sent: a sentence for each reason code of :func:`next_batch`
REASONS = {
    "single": "no dynamic batching: every request runs alone",
    "preferred": "a preferred batch size could be formed; the largest such is sent at once",
    "full": "the maximum batch size is queued",
    "delay": "the oldest request has waited the maximum queue delay; the batch goes as it is",
    "nodelay": "no queue delay is allowed: the largest batch that can be formed goes at once",
}


@dataclass(frozen=True)
class ServiceTimes:
    """Seconds one pass over b requests takes (``mean[b - 1]``) and how a pass's time varies.

    ``kind``: ``deterministic`` (always the mean), ``exponential`` (mean-scaled), ``empirical``
    (drawn from ``samples[b - 1]``, measured passes of size b; a size never measured uses its mean).
    """

    mean: tuple[float, ...]
    kind: str = "deterministic"
    samples: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self):
        if not self.mean or len(self.mean) > MAX_BATCH:
            raise EngineError(f"service times need 1 to {MAX_BATCH:,} batch sizes, got {len(self.mean)}")
        for b, t in enumerate(self.mean, 1):
            positive(f"service time of a batch of {b}", t)
        if self.kind not in KINDS:
            raise EngineError(f"service time kind {self.kind!r} is not one of {', '.join(KINDS)}")
        for row in self.samples:
            for t in row:
                positive("a measured service time", t)

    @classmethod
    def affine(cls, base: float, per_item: float, max_batch: int, kind: str = "deterministic"):
        """``base + per_item · b`` seconds for b = 1 .. max_batch (a fixed cost shared by the batch)."""
        positive("time per pass", base, allow_zero=True)
        positive("time per request", per_item, allow_zero=True)
        b = whole("max batch size", max_batch, 1, MAX_BATCH)
        return cls(tuple(base + per_item * k for k in range(1, b + 1)), kind)

    def draw(self, batch: int, u: float) -> float:
        """The time of one pass over ``batch`` requests for a uniform draw ``u`` in [0, 1)."""
        mean = self.mean[min(batch, len(self.mean)) - 1]
        if self.kind == "exponential":
            return -mean * math.log1p(-u)
        if self.kind == "empirical" and batch <= len(self.samples) and self.samples[batch - 1]:
            row = self.samples[batch - 1]
            return row[int(u * len(row))]
        return mean


@dataclass(frozen=True)
class Batcher:
    """Triton's ``max_batch_size`` and ``dynamic_batching { preferred_batch_size, max_queue_delay }``."""

    max_batch: int = 1
    preferred: tuple[int, ...] = ()
    max_delay: float = 0.0  # seconds (Triton's max_queue_delay_microseconds / 1e6)
    dynamic: bool = True  # False: no dynamic_batching block, every request runs alone

    def __post_init__(self):
        whole("max batch size", self.max_batch, 1, MAX_BATCH)
        positive("max queue delay", self.max_delay, allow_zero=True)
        for p in self.preferred:
            whole("preferred batch size", p, 1, self.max_batch)
        if tuple(sorted(set(self.preferred))) != tuple(self.preferred):
            raise EngineError(f"preferred batch sizes {list(self.preferred)} must be increasing, no repeats")


def next_batch(batcher: Batcher, queued: int, oldest_wait: float) -> tuple[int, str]:
    """(size, reason) of the batch a free instance takes now from ``queued`` requests whose oldest has
    waited ``oldest_wait`` seconds; size 0 means hold them (reason "")."""
    if queued <= 0:
        return 0, ""
    if not batcher.dynamic or batcher.max_batch == 1:
        return 1, "single"
    k = min(queued, batcher.max_batch)
    fits = [p for p in batcher.preferred if p <= k]
    if fits:
        return fits[-1], "preferred"
    if k == batcher.max_batch:
        return k, "full"
    if batcher.max_delay == 0:
        return k, "nodelay"
    if oldest_wait >= batcher.max_delay * (1 - 1e-9):
        return k, "delay"
    return 0, ""


@dataclass(frozen=True)
class ModelVersion:
    """One numbered version of a model: its pass times and the share of requests it fails."""

    version: int
    service: ServiceTimes
    error_rate: float = 0.0

    def __post_init__(self):
        whole("model version", self.version, 1, 1 << 30)
        if not 0 <= positive("error rate", self.error_rate, allow_zero=True) <= 1:
            raise EngineError(f"error rate = {self.error_rate!r} must be between 0 and 1")


@dataclass(frozen=True)
class ModelConfig:
    """One model of the repository: versions, policy, instance group, back end and batcher."""

    name: str
    versions: tuple[ModelVersion, ...]
    batcher: Batcher = Batcher()
    instances: int = 1
    device: str = "GPU"
    backend: str = "onnxruntime"
    policy: str = "latest"
    policy_arg: tuple[int, ...] = (1,)  # latest: (n,); specific: the versions; all: ()
    load_s: float = 0.0  # seconds from a load request to the version being ready

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise EngineError("a model needs a name")
        if not self.versions:
            raise EngineError(f"model {self.name!r} has no versions")
        numbers = [v.version for v in self.versions]
        if len(set(numbers)) != len(numbers):
            raise EngineError(f"model {self.name!r} lists a version twice: {numbers}")
        whole("instance count", self.instances, 1, 64)
        if self.device not in DEVICES:
            raise EngineError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.policy not in POLICIES:
            raise EngineError(f"version policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if self.policy == "latest":
            whole("number of latest versions", self.policy_arg[0] if self.policy_arg else 0, 1, 1 << 20)
        positive("load time", self.load_s, allow_zero=True)

    def version(self, number: int) -> ModelVersion:
        for v in self.versions:
            if v.version == number:
                return v
        raise EngineError(f"model {self.name!r} has no version {number}; it has {self.numbers()}")

    def numbers(self) -> list[int]:
        return sorted(v.version for v in self.versions)

    def served(self) -> tuple[int, ...]:
        """The versions the version policy makes available (Triton's ModelVersionPolicy)."""
        have = self.numbers()
        if self.policy == "all":
            return tuple(have)
        if self.policy == "latest":
            return tuple(have[-self.policy_arg[0] :])
        return tuple(v for v in have if v in self.policy_arg)


@dataclass(frozen=True)
class Step:
    """One step of an ensemble: a model, and the steps (indices) whose outputs it needs."""

    model: str
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Ensemble:
    """A DAG of models served as one (Triton's ``platform: "ensemble"``); steps in topological order."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self):
        if not self.steps:
            raise EngineError(f"ensemble {self.name!r} has no steps")
        for k, step in enumerate(self.steps):
            if any(not 0 <= a < k for a in step.after):
                raise EngineError(
                    f"ensemble {self.name!r}: step {k} ({step.model}) may only wait for earlier "
                    f"steps, not {list(step.after)}"
                )


@dataclass(frozen=True)
class Repository:
    """The models and ensembles a server can serve, by name."""

    models: tuple[ModelConfig, ...]
    ensembles: tuple[Ensemble, ...] = ()

    def __post_init__(self):
        names = [m.name for m in self.models] + [e.name for e in self.ensembles]
        if len(set(names)) != len(names):
            raise EngineError(f"the repository lists a name twice: {names}")
        for e in self.ensembles:
            for step in e.steps:
                self.model(step.model)

    def model(self, name: str) -> ModelConfig:
        for m in self.models:
            if m.name == name:
                return m
        raise EngineError(f"model {name!r} is not in the repository ({', '.join(self.names())})")

    def names(self) -> list[str]:
        return [m.name for m in self.models] + [e.name for e in self.ensembles]

    def steps(self, target: str) -> tuple[Step, ...]:
        """The steps a request to ``target`` (a model or an ensemble) goes through."""
        for e in self.ensembles:
            if e.name == target:
                return e.steps
        return (Step(self.model(target).name),)


def pbtxt(model: ModelConfig) -> str:
    """``model``'s configuration as Triton's ``config.pbtxt`` (protobuf text format)."""
    b = model.batcher
    lines = [f'name: "{model.name}"', f'backend: "{model.backend}"', f"max_batch_size: {b.max_batch}"]
    if model.policy == "latest":
        lines.append(f"version_policy: {{ latest: {{ num_versions: {model.policy_arg[0]} }} }}")
    elif model.policy == "all":
        lines.append("version_policy: { all: { } }")
    else:
        lines.append(
            f"version_policy: {{ specific: {{ versions: [ {', '.join(map(str, model.policy_arg))} ] }} }}"
        )
    lines.append(f"instance_group [ {{ count: {model.instances} kind: KIND_{model.device} }} ]")
    if b.dynamic:
        lines.append("dynamic_batching {")
        if b.preferred:
            lines.append(f"  preferred_batch_size: [ {', '.join(map(str, b.preferred))} ]")
        lines.append(f"  max_queue_delay_microseconds: {round(b.max_delay * 1e6)}")
        lines.append("}")
    return "\n".join(lines) + "\n"
