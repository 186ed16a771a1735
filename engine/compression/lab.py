"""The compression lab's Pareto view: every compressed variant of one small model, side by side.

Stages:
  1. :func:`lab_variants` trains the model once, then makes each variant the lab teaches (PTQ int8/4,
     QAT int4/2, unstructured and 2:4 pruning, low-rank SVD, a distilled student);
  2. each gets its test accuracy, its size in bytes (weights at their bit width + per-channel
     scales; sparse: kept values + 1 bit per weight of index) and a latency estimate
     (:func:`estimate_latency`: a roofline per graph node on a hardware preset of
     :mod:`engine.kernels.roofline_model`);
  3. :func:`mark_pareto` flags the non-dominated ones.
Not handled: the latency model ignores caches, kernel launch and framework overhead (it is a lower
bound, for comparing variants, not a prediction of wall time).

The "your graph" lenses of the quantization and pruning labs (the student's workspace graph):
  :func:`quant_lens`  engine.quantize + engine.quant_report, with the nodes quantize inserted;
  :func:`ort_check`   the quantised graph exported to ONNX and run by onnxruntime beside our run;
  :func:`prune_lens`  engine.prune + engine.prune_report (2:4 always prunes half);
  :func:`quant_rows` / :func:`prune_rows`: their tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import EngineError
from ..core.ir import Graph
from .graph_prune import PruneReport
from .graph_quant import QuantReport
from .models import ModelSpec, build_graph, lowrank_spec, model_spec


@dataclass(frozen=True)
class Variant:
    name: str
    family: str  # fp32 | ptq | qat | pruned | 2:4 | lowrank | kd
    accuracy: float
    size_bytes: int
    latency_us: float
    flops: int
    note: str = ""
    pareto: bool = False


#: int8 MACs per cycle relative to fp32 on the assumed phone CPU: one Arm SDOT instruction does
#: 16 int8 MACs where one fp32 FMA on the same 128-bit register does 4 (an assumption: 4x).
INT_SPEEDUP = 4.0


def estimate_latency(
    spec: ModelSpec,
    hardware: str = "Phone CPU (assumed)",
    bits: int = 32,
    flop_fraction: float = 1.0,
    weight_fraction: float = 1.0,
) -> tuple[float, int]:
    """(microseconds, FLOPs) for one image: sum over graph nodes of the roofline time.

    Each node of :func:`build_graph` (batch 1) takes max(FLOPs / peak, bytes / bandwidth) on the
    preset (engine.roofline): peak is the preset's fp32 FLOP/s (x INT_SPEEDUP below 16 bits),
    bytes are engine.cost's reads + writes scaled by bits/32; ``flop_fraction`` and
    ``weight_fraction`` scale the matmul work and weight bytes (2:4 sparsity: 0.5).
    """
    from ..core.cost_model import cost
    from ..kernels.roofline_model import hardware_presets

    presets = hardware_presets()
    if hardware not in presets:
        raise EngineError(f"unknown hardware {hardware!r}; choose one of: {', '.join(presets)}")
    hw = presets[hardware]
    peak = (hw.peak_fp32 or hw.peak_flops / 2) * (INT_SPEEDUP if bits < 16 else 1.0)
    report = cost(build_graph(spec, 1))
    total, flops = 0.0, 0
    for n in report.nodes:
        heavy = n.op in ("matmul", "conv2d")
        f = n.flops * (flop_fraction if heavy else 1.0)
        weight_bytes = 4 * n.params * (weight_fraction if heavy else 1.0)
        moved = (n.bytes_read - 4 * n.params + weight_bytes + n.bytes_written) * bits / 32
        total += max(f / peak, moved / hw.bandwidth)
        flops += int(f)
    return total * 1e6, flops


def mark_pareto(variants: list[Variant]) -> list[Variant]:
    """Flag the variants no other variant beats on accuracy, size and latency at once."""
    out = []
    for v in variants:
        dominated = any(
            o is not v
            and o.accuracy >= v.accuracy
            and o.size_bytes <= v.size_bytes
            and o.latency_us <= v.latency_us
            and (o.accuracy, o.size_bytes, o.latency_us) != (v.accuracy, v.size_bytes, v.latency_us)
            for o in variants
        )
        out.append(replace(v, pareto=not dominated))
    return out


def _sparse_bytes(spec: ModelSpec, density: float) -> int:
    """Unstructured sparse storage: kept weights (fp32) + a 1-bit-per-weight bitmap + biases."""
    total = 0
    for key, shape in spec.param_shapes().items():
        n = int(np.prod(shape))
        total += int(4 * n * density + (n + 7) // 8) if key.endswith(".w") else 4 * n
    return total


def lab_variants(model: str = "mlp", seed: int = 0, hardware: str = "Phone CPU (assumed)") -> list[Variant]:
    """Every variant the compression lab produces for ``model``, with accuracy, bytes and latency."""
    from .distill import distill
    from .lowrank import lowrank_sweep
    from .prune import prune_model
    from .quant.qat import ptq, qat, weight_bytes
    from .training import train_model

    spec = model_spec(model)
    base = train_model(model, seed)
    lat32, fl32 = estimate_latency(spec, hardware)
    out = [Variant("fp32", "fp32", base.test_accuracy, weight_bytes(spec), lat32, fl32)]
    for bits in (8, 4):
        r = ptq(model, seed, bits, "static", "minmax")
        lat, fl = estimate_latency(spec, hardware, bits)
        out.append(
            Variant(
                f"PTQ int{bits}",
                "ptq",
                r.accuracy,
                r.weight_bytes,
                lat,
                fl,
                "static, min-max calibration, per-channel weights",
            )
        )
    for bits in (4, 2):
        q = qat(model, seed, bits)
        lat, fl = estimate_latency(spec, hardware, bits)
        out.append(
            Variant(
                f"QAT int{bits}",
                "qat",
                q.qat_accuracy,
                weight_bytes(spec, bits),
                lat,
                fl,
                f"{q.epochs} epochs of fine-tuning with the STE",
            )
        )
    for amount in (0.5, 0.7, 0.9):
        p = prune_model(model, seed, "global_unstructured", amount, 2)
        out.append(
            Variant(
                f"pruned {int(amount * 100)}%",
                "pruned",
                p.finetuned_accuracy,
                _sparse_bytes(spec, 1 - p.sparsity),
                lat32,
                fl32,
                "unstructured: no speed-up without sparse kernels (latency as fp32)",
            )
        )
    p = prune_model(model, seed, "2:4", 0.5, 2)
    lat, fl = estimate_latency(spec, hardware, 32, 1 - p.sparsity, 1 - p.sparsity * 0.875)
    out.append(
        Variant(
            "2:4 sparse",
            "2:4",
            p.finetuned_accuracy,
            _sparse_bytes(spec, 1 - p.sparsity),
            lat,
            fl,
            "2 of every 4 weights kept + 2-bit index each (sparse tensor cores: half the MACs)",
        )
    )
    dense = [ly.name for ly in spec.weighted if ly.kind == "dense"][0]
    for row in lowrank_sweep(model, seed, dense):
        if row["rank"] in (2, 4, 8, 16):
            lspec = lowrank_spec(spec, dense, row["rank"])
            lat, fl = estimate_latency(lspec, hardware)
            out.append(
                Variant(
                    f"low-rank {dense} r={row['rank']}",
                    "lowrank",
                    row["accuracy"],
                    4 * lspec.n_params(),
                    lat,
                    fl,
                    "truncated SVD, no fine-tuning",
                )
            )
    if model == "mlp":
        kd = distill(seed)
        sspec = model_spec("student")
        lat, fl = estimate_latency(sspec, hardware)
        out.append(
            Variant(
                "KD student 64-8-10",
                "kd",
                kd.student_kd_accuracy,
                4 * sspec.n_params(),
                lat,
                fl,
                "distilled from the 64-128-10 teacher (T = 4, alpha = 0.7)",
            )
        )
    return mark_pareto(out)


# == "your graph": the lenses of the quantization and pruning labs =================================
@dataclass(frozen=True)
class QuantLens:
    """A graph, its quantised copy and :func:`engine.quant_report` of the pair."""

    graph: Graph
    q_graph: Graph
    report: QuantReport
    bits: int
    scheme: str
    inserted: tuple[str, ...]  # nodes quantize added: Q/DQ ops, integer weights, scales, zero points
    layers: tuple[str, ...]  # the quantised layers (rewired to read DQ nodes)

    @property
    def qdq_ops(self) -> tuple[str, ...]:
        """The inserted quantize_linear / dequantize_linear nodes."""
        return tuple(n for n in self.inserted if self.q_graph.node(n).op.endswith("quantize_linear"))


def quant_lens(graph: Graph, bits: int, scheme: str, granularity: str, seed: int = 0) -> QuantLens:
    """Quantise ``graph`` (engine.quantize) and report the errors (engine.quant_report)."""
    from .graph_quant import quant_report, quantize

    q = quantize(graph, bits, scheme, granularity, seed=seed)
    report = quant_report(graph, q, seed=seed)
    inserted = tuple(n.name for n in q.nodes if n.name not in graph.by_name)
    return QuantLens(graph, q, report, int(bits), scheme, inserted, tuple(r.layer for r in report.layers))


def quant_rows(report: QuantReport) -> list[dict]:
    """One row per quantised layer: which operands were quantised and its two relative errors."""
    return [
        dict(
            layer=r.layer,
            op=r.op,
            quantised=", ".join(r.quantised),
            error_alone=r.alone,
            error_with_all=r.with_all,
        )
        for r in report.layers
    ]


def size_text(n_bytes: int) -> str:
    """Bytes in B, kB or MB (powers of 1000)."""
    if n_bytes < 10_000:
        return f"{n_bytes:,} B"
    if n_bytes < 10_000_000:
        return f"{n_bytes / 1e3:,.1f} kB"
    return f"{n_bytes / 1e6:,.1f} MB"


@dataclass(frozen=True)
class OrtCheck:
    """onnxruntime's outputs of the exported quantised graph against our interpreter's."""

    outputs: tuple[tuple[str, float, float], ...]  # (output, max |ORT - ours|, the output's step)

    @property
    def max_diff(self) -> float:
        return max(d for _, d, _ in self.outputs)

    @property
    def step(self) -> float:
        """The smallest output step: the scale an output would get on the lens's grid."""
        return min(s for _, _, s in self.outputs)

    @property
    def agrees(self) -> bool:
        """Every output within one of its own steps."""
        return all(d <= s for _, d, s in self.outputs)

    @property
    def summary(self) -> str:
        """One English sentence (the labs translate it with its [messages] template)."""
        verdict = "they agree within one step" if self.agrees else "they differ by more than one step"
        return (
            f"onnxruntime vs our interpreter: max |difference| {self.max_diff:.3g}, "
            f"one output step {self.step:.3g}: {verdict}"
        )

    def rows(self) -> list[dict]:
        return [dict(output=o, max_abs_diff=d, output_step=s) for o, d, s in self.outputs]


def ort_check(lens: QuantLens, seed: int = 0) -> OrtCheck:
    """Export ``lens.q_graph`` to ONNX (QuantizeLinear/DequantizeLinear), run it in onnxruntime with
    every graph optimisation off (its fusions change a QDQ model's numbers) on the inputs our
    interpreter draws from ``seed``, and compare each output with ours. An output's step is the
    scale min-max would give the float output on the same grid (the unit of a one-code
    difference)."""
    from ..core.interpreter import run, source_value
    from ..interop.onnx_export import to_onnx
    from .graph_quant import _grid
    from .quant.observers import qparams

    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - onnxruntime is a dependency
        raise EngineError(
            "the onnxruntime check needs the onnxruntime package, which is not installed"
        ) from None
    q = lens.q_graph
    data = to_onnx(q)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    theirs = session.run(None, {n.name: source_value(n, seed) for n in q.inputs})
    ours, ref = run(q, None, seed), run(lens.graph, None, seed)
    grid = _grid(lens.bits, lens.scheme).observer_dtype
    rows = []
    for o, oq, got in zip(lens.graph.outputs, q.outputs, theirs):
        step = float(np.max(qparams(ref[o], grid, lens.scheme)[0]))
        diff = float(np.max(np.abs(np.asarray(got, np.float64) - ours[oq]), initial=0.0))
        rows.append((o, diff, step))
    return OrtCheck(tuple(rows))


def prune_lens(graph: Graph, sparsity: float, method: str, seed: int = 0) -> PruneReport:
    """engine.prune then engine.prune_report; 2:4 ignores ``sparsity`` (it always prunes half)."""
    from .graph_prune import prune, prune_report

    s = 0.5 if method == "2:4" else sparsity
    return prune_report(graph, prune(graph, s, method, seed), seed=seed)


def prune_rows(report: PruneReport) -> list[dict]:
    """One row per pruned layer (the weight's shape as ``64×3×7×7``)."""
    return [
        dict(
            layer=r.name,
            op=r.op,
            weight=r.weight,
            shape="×".join(map(str, r.shape)),
            weights=r.total,
            nonzero=r.nonzero,
            sparsity=r.sparsity,
            skippable_flops=r.skippable_flops,
        )
        for r in report.layers
    ]
