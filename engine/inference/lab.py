"""What only the inference pages need: the batch-cost rows of the serving lab, and the per-device
table of the cloud-vs-edge lab, for the student's graph and for the labs' own models alike.

Serving (labs/serving.py, batching part):
  1. :func:`batch_sizes`: the batch sizes the batch-cost figure is drawn at (powers of two and the
     page's maximum batch);
  2. a graph's pass times come from :func:`engine.batch_cost_curve`; the page's LLM-size preset is a
     parameter count, not a graph, so :func:`service_curve` tabulates its :class:`ServiceModel` into
     the same :class:`BatchCost` rows;
  3. :func:`batch_cost_note`: the sentence under that figure — the knee, or why there is none: with
     activation traffic counted, a batch adds bytes in step with FLOPs, so a graph whose FLOPs per
     activation byte (:func:`intensity`) are under the card's ridge point is memory-bound at every
     batch size; :func:`service_facts`: the model's metrics with units.
Cloud vs edge (labs/edge_cloud.py):
  4. :func:`graph_chain_checked`: the student's graph as a chain of layers, refused in one sentence
     when it has no operation (nothing to split);
  5. :func:`edge_view`: every cut on the chosen device, and for every device on device / cloud only /
     best split — :func:`engine.graph_edge_report`'s numbers, over the page's edited link (uplink,
     round trip) and optional JPEG upload, which that function's named network presets cannot carry;
     the split-search budget is checked before any work;
  6. :func:`edge_rows`: that table in milliseconds and millijoules.
Not handled: anything the engine functions themselves leave out (see their modules).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.errors import EngineError
from ..core.ir import Graph
from .edge_cloud import (
    Chain,
    Network,
    SplitPoint,
    best_split,
    graph_chain,
    layer_times,
    split_points,
    targets,
)
from .graph_serving import BatchCost, EdgeOption, _check_graph, _check_split_work
from .serving import ServiceModel

#: powers of two the batch-cost figure is drawn at (the page's maximum batch is added)
CURVE_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def batch_sizes(max_batch: int) -> tuple[int, ...]:
    """The batch sizes of the batch-cost figure: :data:`CURVE_SIZES` and ``max_batch``."""
    return tuple(sorted({*CURVE_SIZES, int(max_batch)}))


def service_curve(model: ServiceModel, sizes: Sequence[int]) -> tuple[BatchCost, ...]:
    """Pass time of any serving model at each batch size, as :func:`engine.batch_cost_curve` rows."""
    rows = []
    for b in sizes:
        compute, memory = model.compute_time(b), model.memory_time(b)
        rows.append(
            BatchCost(b, compute, memory, model.time(b), "compute" if compute >= memory else "memory")
        )
    return tuple(rows)


def si(value: float, unit: str) -> str:
    """``value`` with an SI prefix and 3 significant digits: 3.64e9, "FLOP" -> "3.64 GFLOP"."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor * 0.9995:  # 999.6e3 is "1 M", not "1e+03 k"
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def curve_rows(curve: Sequence[BatchCost]) -> list[dict]:
    """The batch-cost rows for a CSV export, in milliseconds."""
    return [
        {
            "batch": r.batch,
            "compute (ms)": r.compute_s * 1e3,
            "memory (ms)": r.memory_s * 1e3,
            "pass (ms)": r.time_s * 1e3,
            "requests/s": r.requests_per_s,
            "bound": r.bound,
        }
        for r in curve
    ]


def intensity(model: ServiceModel) -> tuple[float, float]:
    """(FLOPs per activation byte of one request, the card's ridge point in FLOPs per byte).

    A batch adds compute and activation traffic in the same proportion, so when the first is below
    the second the pass stays memory-bound at every batch size (the knee is infinite).
    """
    flops = model.compute_time(1) * model.peak_flops
    per_byte = flops / model.act_bytes if model.act_bytes else math.inf if flops else 0.0
    return per_byte, model.peak_flops / model.bandwidth


def batch_cost_note(model: ServiceModel, knee_shown: bool = True) -> str:
    """The one sentence under the batch-cost figure: where the knee is, or why there is none.
    ``knee_shown=False``: a knee exists but is a checkpoint's answer, so the sentence asks for it."""
    if math.isinf(model.knee):
        per_byte, ridge = intensity(model)
        return (
            "Memory-bound at every batch size: each unfused op writes its output to memory and the "
            "next op reads it back, so every request adds activation bytes in step with its FLOPs "
            f"({per_byte:.3g} FLOPs per byte, under the card's ridge point of {ridge:.0f})."
        )
    if model.knee < 1:
        return (
            "Compute-bound at every batch size: one request's FLOPs take longer than reading the "
            "weights, so a batch shares only the fixed overhead per pass."
        )
    if not knee_shown:
        return (
            "Left of the knee a pass costs the weight read whatever the batch; right of it, compute "
            "grows with B. Where is the knee? Predict it below."
        )
    return (
        f"Left of the knee (≈{model.knee:.0f}) a pass costs the weight read whatever the batch, so "
        "throughput grows with B; right of it, compute grows with B and throughput flattens."
    )


def service_facts(model: ServiceModel) -> list[tuple[str, str]]:
    """(label, value with its unit) for the serving model's metrics: parameters, FLOPs and
    activation bytes of one request, and the knee (∞: memory-bound at every batch size)."""
    knee = f"{model.knee:,.1f}" if math.isfinite(model.knee) else "∞"
    return [
        ("Parameters", f"{model.params:,.0f}"),
        ("FLOPs per request", si(model.compute_time(1) * model.peak_flops, "FLOP")),
        ("Activation traffic per request", si(model.act_bytes, "B")),
        ("Knee (batch size)", knee),
    ]


def graph_chain_checked(graph: Graph, name: str) -> Chain:
    """:func:`graph_chain` of a graph that has at least one operation (within the node budget)."""
    _check_graph(graph, "the edge report")
    return graph_chain(graph, name)


@dataclass(frozen=True)
class EdgeView:
    points: tuple[SplitPoint, ...]  # every cut on the chosen device, k = 0 (all cloud) .. L
    options: tuple[EdgeOption, ...]  # every device: on device, cloud only, best cut


def edge_view(
    chain: Chain,
    devices: Sequence[str],
    chosen: str,
    cloud: str,
    net: Network,
    device_eff: float = 0.2,
    cloud_eff: float = 0.5,
    queue_s: float = 0.0,
    tail: bool = False,
    input_bytes: float | None = None,
    objective: str = "latency",
) -> EdgeView:
    """The cuts of ``chain`` on ``chosen`` and the on-device / cloud-only / best row of each device
    (module docstring, stage 5); ``chosen`` must be one of ``devices``."""
    if chosen not in devices:
        raise EngineError(f"device {chosen!r} is not one of {', '.join(devices)}")
    _check_split_work(len(devices), len(chain.layers))
    presets = targets()
    options, chosen_points = [], ()
    for name in devices:
        args = (device_eff, cloud_eff, queue_s, tail, input_bytes)
        points = split_points(chain, presets[name], presets[cloud], net, *args)
        best = best_split(points, objective)
        times = tuple(layer_times(chain, presets[name], device_eff))
        options.append(EdgeOption(name, points[-1], points[0], best, times))
        if name == chosen:
            chosen_points = tuple(points)
    return EdgeView(chosen_points, tuple(options))


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


def edge_rows(options: Sequence[EdgeOption]) -> list[dict]:
    """One row per device: latency (ms) and phone energy (mJ) on device, cloud only and at the best
    cut (4 significant digits), the best cut's label and whether the whole graph fits the device."""
    rows = []
    for o in options:
        row: dict = {"device": o.device}
        for label, p in (("on device", o.on_device), ("cloud only", o.cloud_only), ("best split", o.best)):
            row[f"{label} (ms)"] = _sig(p.latency * 1e3)
            row[f"{label} (mJ)"] = _sig(p.energy * 1e3)
        row["best cut"] = o.best.label
        row["fits on device"] = o.on_device.fits
        rows.append(row)
    return rows
