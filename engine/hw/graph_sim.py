"""A student's graph on hardware: every conv2d, matmul and gemm layer mapped onto a systolic array, the
DaVinci Cube, or a GPU roofline, with per-layer numbers and totals.

Stages of :func:`simulate`:
1. Find the layers (:func:`layer_gemms`): each conv2d/matmul/gemm node becomes ``count`` identical GEMMs
   (M×K)·(K×N) that run one after another.
   - conv2d (x N×C×H×W, w Cout×(C/g)×KH×KW, y N×Cout×Ho×Wo, g groups): im2col per group,
     M = N·Ho·Wo (every image's output pixels are rows of one patch matrix: the images share filters),
     K = (C/g)·KH·KW, N = Cout/g, count = g. A depthwise conv is C GEMMs with K = KH·KW and N = 1.
   - matmul with batch dims B: if the right operand has no batch (a shared weight) the batch folds
     into M; if only the left operand is shared it folds into N; if both are batched (attention's
     Q·Kᵀ per head) each of the B products is its own GEMM, count = B.
   - gemm: M, K, N after trans_a/trans_b; the bias is no multiply-accumulate and is not mapped.
   Nodes with a zero-sized GEMM and every other op are listed in ``unmapped``.
2. Check the budget before any work: nodes, mapped layers (:data:`MAX_LAYERS`) and, for the DaVinci
   target, the events of every layer's pipeline together (:data:`engine.core.budget.MAX_STEPS`).
3. Map every GEMM with the target's own model:
   - systolic: :func:`engine.hw.systolic.systolic` (SCALE-Sim v2's stall-free closed forms); layer
     cycles = count × cycles of one GEMM. Config: rows, cols, dataflow ("os", "ws", "is").
   - davinci: :func:`engine.hw.davinci.cube_timing` (cube_matmul's schedule without the data: whole
     layers are timed, never multiplied); the count GEMMs run back to back, the pipeline drained
     between them. Config: tile_m, tile_k, tile_n, double_buffer, buffer sizes and rates.
   - gpu: the roofline (:mod:`engine.kernels.roofline_model`): FLOPs from the op's cost convention,
     bytes = inputs read once + output written once at the precision's width (an implicit-GEMM kernel:
     the im2col matrix is never stored), attainable = min(peak, AI·bandwidth), time = FLOPs /
     attainable. Beside it, not folded into the time: the theoretical occupancy
     (:func:`engine.hw.occupancy.occupancy`) of one stated GEMM kernel (:data:`GPU_KERNEL`: 256
     threads, 128 registers per thread, a 128×128 output tile per block, 32 KiB of shared memory for
     double-buffered 128×32 fp16 operand tiles — assumptions, not a measured kernel), the blocks of
     each layer's grid and the waves they need on the preset's SMs. Config: hardware, precision
     ("fp16": tensor-core peak, 2 bytes; "fp32": plain fp32 peak, 4 bytes) and the kernel's numbers.
4. Totals: cycles (or seconds) summed, since layers run one after another; utilisation = all MACs /
   (all cycles × PEs), which is the per-layer utilisations weighted by cycles; ``mac_weighted_utilization``
   weights them by MACs instead (what an average multiply-accumulate sees).
Not handled: layers running concurrently or overlapping, memory stalls of the systolic array
(SCALE-Sim's stall-free mode), the ops outside conv2d/matmul/gemm (they take no time here), caches,
kernel launch overheads and wave quantisation in the GPU time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..core import budget
from ..core.errors import BudgetError, EngineError
from ..core.ir import Graph
from ..core.registry import get_op
from ..core.trace import Event, Timeline
from ..kernels.roofline_model import bound, hardware_presets, roofline
from .davinci import CUBE_MACS, FRACTAL, cube_timing, plan_cube
from .occupancy import occupancy
from .systolic import systolic

TARGETS = ("systolic", "davinci", "gpu")
MAPPED_OPS = ("conv2d", "matmul", "gemm")
MAX_LAYERS = 2_000
_NO_LAYER = {"systolic": "the systolic array", "davinci": "the DaVinci Cube", "gpu": "a GPU"}
SYSTOLIC_DEFAULTS = {"rows": 32, "cols": 32, "dataflow": "ws"}  # SCALE-Sim v2's configs/scale.cfg
DAVINCI_KEYS = (
    "tile_m",
    "tile_k",
    "tile_n",
    "double_buffer",
    "l1",
    "l0a",
    "l0b",
    "l0c",
    "ub",
    "gm_bytes_per_cycle",
    "l1_bytes_per_cycle",
    "vector_elems_per_cycle",
)
#: The GEMM kernel whose occupancy is shown (a CUTLASS-style 128×128×32 threadblock tile; assumed).
GPU_KERNEL = {
    "threads_per_block": 256,
    "regs_per_thread": 128,
    "smem_per_block": 32 * 1024,
    "block_tile_m": 128,
    "block_tile_n": 128,
}
GPU_DEFAULTS = {"hardware": "A100 40GB SXM", "precision": "fp16", **GPU_KERNEL}
#: preset -> (compute capability, SMs), from NVIDIA's V100, A100, H100 and Ada whitepapers.
GPU_SMS = {
    "V100 SXM2": ("7.0", 80),
    "A100 40GB SXM": ("8.0", 108),
    "A100 80GB SXM": ("8.0", 108),
    "H100 SXM": ("9.0", 132),
    "RTX 4090": ("8.9", 128),
}


@dataclass(frozen=True)
class LayerGemm:
    """One layer as ``count`` identical GEMMs (M×K)·(K×N) and how its batch/groups were mapped."""

    node: str
    op: str
    M: int
    N: int
    K: int
    count: int
    mapping: str

    @property
    def macs(self) -> int:
        return self.count * self.M * self.N * self.K


@dataclass(frozen=True)
class SystolicLayer:
    gemm: LayerGemm
    cycles: int  # count × cycles of one GEMM
    utilization: float  # % of PE-cycles doing a useful MAC
    mapping_efficiency: float  # % of PEs mapped, mean over folds (SCALE-Sim)
    compute_utilization: float  # % SCALE-Sim's "Compute Util" of one GEMM
    folds: int  # count × folds of one GEMM
    scalesim: tuple[tuple[str, float], ...]  # SCALE-Sim's report numbers for one GEMM


@dataclass(frozen=True)
class DavinciLayer:
    gemm: LayerGemm
    padded: tuple[int, int, int]  # (M, K, N) rounded up to the 16×16×16 fractal
    tile: tuple[int, int, int]  # (tm, tk, tn)
    grid: tuple[int, int, int]  # tiles along M, K, N
    fractals: int  # 16×16×16 fractal products, all count GEMMs (one per Cube cycle)
    cube_cycles: float  # Cube busy
    transfer_cycles: float  # MTE2 + MTE1 + MTE3 busy
    cycles: float  # makespan of the layer
    cube_utilization: float  # Cube busy / makespan
    timeline: Timeline  # per engine, from 0


@dataclass(frozen=True)
class GpuLayer:
    gemm: LayerGemm
    flops: float
    bytes: float
    intensity: float  # FLOP per byte
    attainable: float  # FLOP/s
    time_s: float
    bound: str  # "memory_bound" or "compute_bound"
    blocks: int  # thread blocks of the assumed kernel's grid
    waves: int | None  # ceil(blocks / (SMs × blocks per SM)); None off NVIDIA presets


@dataclass(frozen=True)
class GraphSim:
    """Per-layer results and totals of one graph on one target."""

    target: str
    config: tuple[tuple[str, Any], ...]
    layers: tuple[SystolicLayer | DavinciLayer | GpuLayer, ...]
    totals: tuple[tuple[str, Any], ...]
    unmapped: tuple[str, ...]  # op nodes that are not GEMM layers (not timed)
    timeline: Timeline | None = None  # davinci: every layer's timeline, one after another

    def total(self, key: str) -> Any:
        return dict(self.totals)[key]

    def layer(self, node: str):
        for layer in self.layers:
            if layer.gemm.node == node:
                return layer
        raise EngineError(
            f"no mapped layer named {node!r}; the layers are {', '.join(x.gemm.node for x in self.layers)}"
        )

    def rows(self) -> list[dict]:
        """One flat dict per layer, for a table (timelines left out)."""
        out = []
        for layer in self.layers:
            row = {
                f.name: getattr(layer, f.name)
                for f in fields(layer)
                if f.name not in ("gemm", "timeline", "scalesim")
            }
            out.append({**asdict(layer.gemm), "macs": layer.gemm.macs, **row})
        return out


# ------------------------------------------------------------------ stage 1: layers as GEMMs


def _conv_gemm(node, shapes, attrs) -> LayerGemm:
    (n, c, _, _), (cout, cg, kh, kw), (_, _, ho, wo) = shapes[0], shapes[1], node.shape
    g = int(attrs["groups"])
    kind = "depthwise: " if g == c == cout else ""
    how = (
        f"{kind}im2col, M = N·Ho·Wo = {n}·{ho}·{wo}, K = Cin/g·KH·KW = {cg}·{kh}·{kw}, "
        f"N = Cout/g = {cout // g}" + (f"; {g} groups, one GEMM each" if g > 1 else "")
    )
    return LayerGemm(node.name, node.op, n * ho * wo, cout // g, cg * kh * kw, g, how)


def _matmul_gemm(node, shapes) -> LayerGemm:
    a, b = shapes[0], shapes[1]
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = budget.numel(node.shape) // (m * n) if m * n else 0
    a_batch, b_batch = budget.numel(a2[:-2]), budget.numel(b2[:-2])
    if batch <= 1:
        return LayerGemm(node.name, node.op, m, n, k, 1, "one GEMM")
    if b_batch == 1:
        return LayerGemm(
            node.name,
            node.op,
            batch * m,
            n,
            k,
            1,
            f"batch {batch} folded into M (the right operand is shared)",
        )
    if a_batch == 1:
        return LayerGemm(
            node.name,
            node.op,
            m,
            batch * n,
            k,
            1,
            f"batch {batch} folded into N (the left operand is shared)",
        )
    return LayerGemm(node.name, node.op, m, n, k, batch, f"{batch} batched GEMMs, one after another")


def _gemm_gemm(node, shapes, attrs) -> LayerGemm:
    a, b = shapes[0], shapes[1]
    m, k = a[::-1] if attrs["trans_a"] else a
    n = b[0] if attrs["trans_b"] else b[1]
    return LayerGemm(node.name, node.op, m, n, k, 1, "one GEMM (bias not mapped)")


def layer_gemms(graph: Graph) -> tuple[tuple[LayerGemm, ...], tuple[str, ...]]:
    """Stage 1: (the GEMM of every conv2d/matmul/gemm layer, the names of the other op nodes)."""
    if not isinstance(graph, Graph):
        raise EngineError(f"simulate() needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes))
    by_name, layers, others = graph.by_name, [], []
    for node in graph.op_nodes:
        if node.op not in MAPPED_OPS:
            others.append(node.name)
            continue
        shapes = [tuple(by_name[i].shape) for i in node.inputs]
        attrs = {**get_op(node.op).attrs, **node.attr_dict}
        gemm = (
            _conv_gemm(node, shapes, attrs)
            if node.op == "conv2d"
            else _matmul_gemm(node, shapes)
            if node.op == "matmul"
            else _gemm_gemm(node, shapes, attrs)
        )
        if gemm.macs > 0:
            layers.append(gemm)
        else:
            others.append(node.name)  # a zero-sized product: nothing to map
    if len(layers) > MAX_LAYERS:
        raise BudgetError(
            f"the graph has {len(layers):,} conv2d/matmul/gemm layers; the limit is "
            f"{MAX_LAYERS:,} per simulation"
        )
    return tuple(layers), tuple(others)


# ------------------------------------------------------------------ stage 3: the targets


def _systolic(layers, cfg) -> tuple[tuple[SystolicLayer, ...], dict, None]:
    out = []
    for g in layers:
        r = systolic(g.M, g.N, g.K, cfg["rows"], cfg["cols"], cfg["dataflow"])
        out.append(
            SystolicLayer(
                g,
                g.count * r["cycles"],
                r["utilization"],
                r["mapping_efficiency"],
                r["compute_utilization"],
                g.count * r["folds"],
                tuple(r["scalesim"].items()),
            )
        )
    cycles = sum(x.cycles for x in out)
    macs = sum(x.gemm.macs for x in out)
    totals = {
        "cycles": cycles,
        "macs": macs,
        "pes": cfg["rows"] * cfg["cols"],
        "utilization": 100.0 * macs / (cycles * cfg["rows"] * cfg["cols"]),
        "mac_weighted_utilization": sum(x.utilization * x.gemm.macs for x in out) / macs,
    }
    return tuple(out), totals, None


def concat_timelines(timelines: Sequence[Timeline], labels: Sequence[str] = ()) -> Timeline:
    """Timelines one after another (each shifted by the makespans before it); labels prefixed."""
    if len(timelines) == 1 and not labels:
        return timelines[0]
    events, offset = [], 0.0
    for k, tl in enumerate(timelines):
        tag = f"{labels[k]} · " if k < len(labels) else ""
        events += [
            Event(e.unit, e.start + offset, e.end + offset, tag + e.label, e.kind, e.info) for e in tl.events
        ]
        offset += tl.makespan
    units = timelines[0].units if timelines else ()
    return Timeline(tuple(events), units, timelines[0].time_unit if timelines else "cycles")


def _davinci(layers, cfg) -> tuple[tuple[DavinciLayer, ...], dict, Timeline]:
    plans = [plan_cube(g.M, g.K, g.N, **cfg) for g in layers]
    budget.check_steps(sum(p.steps * g.count for p, g in zip(plans, layers)), "the graph's DaVinci pipelines")
    out = []
    for g, plan in zip(layers, plans):
        one = cube_timing(g.M, g.K, g.N, **cfg).timeline
        tl = concat_timelines([one] * g.count, [f"g{c}" for c in range(g.count)] if g.count > 1 else ())
        cube = tl.busy("Cube")
        transfer = sum(tl.busy(lane) for lane in ("MTE2", "MTE1", "MTE3"))
        Mp, Kp, Np = plan.padded
        out.append(
            DavinciLayer(
                g,
                plan.padded,
                plan.tile,
                plan.grid,
                g.count * (Mp // FRACTAL) * (Kp // FRACTAL) * (Np // FRACTAL),
                cube,
                transfer,
                tl.makespan,
                cube / tl.makespan,
                tl,
            )
        )
    cycles = sum(x.cycles for x in out)
    macs = sum(x.gemm.macs for x in out)
    totals = {
        "cycles": cycles,
        "macs": macs,
        "fractals": sum(x.fractals for x in out),
        "cube_cycles": sum(x.cube_cycles for x in out),
        "transfer_cycles": sum(x.transfer_cycles for x in out),
        "cube_utilization": sum(x.cube_cycles for x in out) / cycles,
        "mac_utilization": macs / (cycles * CUBE_MACS),
    }
    return tuple(out), totals, concat_timelines([x.timeline for x in out], [x.gemm.node for x in out])


def _gpu(layers, cfg, graph) -> tuple[tuple[GpuLayer, ...], dict, None]:
    hw = hardware_presets()[cfg["hardware"]]
    peak = hw.peak_flops if cfg["precision"] == "fp16" else hw.peak_fp32
    width = 2 if cfg["precision"] == "fp16" else 4
    occ, resident = None, 0
    if cfg["hardware"] in GPU_SMS:
        cc, sms = GPU_SMS[cfg["hardware"]]
        occ = occupancy(cc, cfg["threads_per_block"], cfg["regs_per_thread"], cfg["smem_per_block"])
        resident = sms * occ["blocks_per_sm"]
    out = []
    for g in layers:
        node = graph.node(g.node)
        shapes = [tuple(graph.node(i).shape) for i in node.inputs]
        op = get_op(node.op)
        flops = float(op.flops(shapes, node.shape, {**op.attrs, **node.attr_dict})[0])
        moved = float(width * (sum(budget.numel(s) for s in shapes) + budget.numel(node.shape)))
        ai = flops / moved
        attainable = roofline(ai, peak, hw.bandwidth)
        blocks = g.count * -(-g.M // cfg["block_tile_m"]) * -(-g.N // cfg["block_tile_n"])
        waves = -(-blocks // resident) if occ else None
        out.append(
            GpuLayer(
                g,
                flops,
                moved,
                ai,
                attainable,
                flops / attainable,
                bound(ai, peak, hw.bandwidth),
                blocks,
                waves,
            )
        )
    time_s = sum(x.time_s for x in out)
    flops = sum(x.flops for x in out)
    totals = {
        "time_s": time_s,
        "flops": flops,
        "bytes": sum(x.bytes for x in out),
        "attainable": flops / time_s,
        "peak_flops": peak,
        "bandwidth": hw.bandwidth,
        "compute_bound_layers": sum(x.bound == "compute_bound" for x in out),
        "occupancy": occ["occupancy"] if occ else None,
        "blocks_per_sm": occ["blocks_per_sm"] if occ else None,
        "occupancy_limiter": occ["limiter"] if occ else None,
        "source": hw.source,
    }
    return tuple(out), totals, None


# ------------------------------------------------------------------ config and entry point


def _config(target: str, config: dict) -> dict:
    if target == "davinci":
        allowed, cfg = DAVINCI_KEYS, {}
    else:
        cfg = dict(SYSTOLIC_DEFAULTS if target == "systolic" else GPU_DEFAULTS)
        allowed = tuple(cfg)
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise EngineError(
            f"the {target} target has no setting {unknown[0]!r}; its settings are {', '.join(allowed)}"
        )
    cfg.update(config)
    if target == "gpu":
        _check_gpu(cfg)
    return cfg


def _check_gpu(cfg: dict) -> None:
    names = hardware_presets()
    if cfg["hardware"] not in names:
        raise EngineError(f"hardware {cfg['hardware']!r} is not a preset; choose one of {', '.join(names)}")
    if cfg["precision"] not in ("fp16", "fp32"):
        raise EngineError(f"precision {cfg['precision']!r} is unknown; choose 'fp16' or 'fp32'")
    if cfg["precision"] == "fp32" and names[cfg["hardware"]].peak_fp32 is None:
        raise EngineError(f"the {cfg['hardware']} preset publishes no fp32 peak; use precision 'fp16'")
    for key in ("block_tile_m", "block_tile_n"):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
            raise EngineError(f"{key} must be a whole number from 1 to 1024, got {v!r}")


def simulate(graph: Graph, target: str = "systolic", **config) -> GraphSim:
    """Map every conv2d/matmul/gemm layer of ``graph`` onto ``target``; see the module docstring."""
    if target not in TARGETS:
        raise EngineError(f"target {target!r} is unknown; choose 'systolic', 'davinci' or 'gpu'")
    cfg = _config(target, config)
    layers, others = layer_gemms(graph)
    if not layers:
        raise EngineError(
            f"this graph has no conv2d, matmul or gemm layer to map onto "
            f"{_NO_LAYER[target]}; try the conv_bn_relu preset"
        )
    run = {"systolic": _systolic, "davinci": _davinci}.get(target)
    results, totals, timeline = run(layers, cfg) if run else _gpu(layers, cfg, graph)
    return GraphSim(target, tuple(sorted(cfg.items())), results, tuple(totals.items()), others, timeline)
