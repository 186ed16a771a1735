"""A student's graph served from a GPU, and run on a phone, in the cloud, or split between them.

Stages of :func:`model_from_graph` (the serving lab's batching simulation on the student's graph):
  1. :func:`engine.cost`: parameters P (each param node once) and FLOPs F of one pass; one pass over
     the graph is one request, whatever its input's leading dimension is;
  2. activation traffic per request A: for every op node, the elements of the inputs it reads that
     are not weights (params and constants) plus the elements it writes — the cost model's bytes
     with the weight reads taken out — at ``act_dtype`` width (default: the weights' dtype), or left
     out with ``activations=False``, as the serving lab's own parameter-count preset does;
  3. the card: a datasheet preset of :func:`engine.hardware_presets` (dense fp16 peak, bandwidth)
     and its memory (:data:`engine.inference.kv_cache.CARD_MEMORY_GIB`; unknown cards are not checked);
  4. a :class:`GraphServiceModel`: the serving lab's :class:`ServiceModel` with F FLOPs per request
     in place of its 2·P·tokens, so one pass over b requests takes
     ``max((P·w + b·A) / bandwidth, b·F / peak) + overhead``; ``simulate``, ``load_sweep`` and the
     batch-cost figure take it like any ServiceModel.
:func:`batch_cost_curve` tabulates that pass time (compute and memory sides) over batch sizes.

Stages of :func:`graph_edge_report` (the cloud-vs-edge lab on the student's graph):
  1. the graph as a chain of layers in topological order (:func:`edge_cloud.graph_chain`);
  2. for each device preset, every cut k = 0 .. L (:func:`edge_cloud.split_points`): k = L is the
     graph on the device, k = 0 all in the cloud;
  3. the best feasible cut for the objective (:func:`edge_cloud.best_split`).
Not handled: kernel launch gaps between layers (only one fixed ``overhead`` per pass), fusion and
caches (every tensor goes to memory once; cost the fused graph instead), several servers, batching on
the edge device, and edge weights other than the graph's own fp32 (the chain counts 4 bytes each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core import budget
from ..core.cost_model import cost
from ..core.errors import BudgetError, EngineError, GraphError
from ..core.ir import Graph
from ..kernels.roofline_model import Hardware, hardware_presets
from .edge_cloud import SplitPoint, best_split, graph_chain, layer_times, networks, split_points, targets
from .kv_cache import CARD_MEMORY_GIB, GIB
from .serving import DTYPE_BYTES, ServiceModel, positive, whole

WEIGHT_OPS = ("param", "constant")
CLOUDS = ("A100 80GB SXM", "H100 SXM")  # as the cloud-vs-edge lab splits the presets
MAX_CURVE_POINTS = 4096
MAX_SPLIT_ELEMENTS = 10**8  # Python list elements the split search may sum (~10 ns each here)


@dataclass(frozen=True)
class GraphServiceModel(ServiceModel):
    """A :class:`ServiceModel` whose compute is the graph's FLOPs per request, not 2·P·tokens."""

    flops: float = 0.0  # FLOPs of one request (one pass over the graph)
    graph_name: str = ""

    def __post_init__(self):
        super().__post_init__()
        positive("FLOPs per request", self.flops, allow_zero=True)

    def compute_time(self, batch: int) -> float:
        return self.flops * batch / self.peak_flops

    @property
    def knee(self) -> float:
        """Batch size where compute time equals the weight + activation read time."""
        per_item = self.flops / self.peak_flops - self.act_bytes / self.bandwidth
        return math.inf if per_item <= 0 else self.weight_bytes / self.bandwidth / per_item


def _check_graph(graph, what: str) -> None:
    if not isinstance(graph, Graph):
        raise GraphError(f"{what} needs a Graph, got {type(graph).__name__}")
    budget.check_nodes(len(graph.nodes), f"the graph for {what}")
    if not graph.op_nodes:
        raise EngineError(
            "this graph has no operations, only inputs and weights, so there is "
            "nothing to run; try the mlp preset"
        )


def _hardware(hw_name: str) -> Hardware:
    presets = hardware_presets()
    if hw_name not in presets:
        raise EngineError(f"hardware {hw_name!r} is not one of {', '.join(presets)}")
    return presets[hw_name]


def activation_elements(graph: Graph) -> int:
    """Elements of non-weight tensors that one pass reads and writes (each read counted, as in
    :func:`engine.cost`)."""
    by_name = graph.by_name
    total = 0
    for node in graph.op_nodes:
        total += budget.numel(node.shape)
        total += sum(budget.numel(by_name[i].shape) for i in node.inputs if by_name[i].op not in WEIGHT_OPS)
    return total


def model_from_graph(
    graph: Graph,
    hw_name: str,
    dtype: str = "fp16",
    overhead: float = 0.0,
    activations: bool = True,
    act_dtype: str | None = None,
) -> GraphServiceModel:
    """The serving model of ``graph`` on card ``hw_name`` with ``dtype`` weights (module docstring).

    ``activations``: count the activation traffic per request, at ``act_dtype`` width (default:
    the weights' ``dtype``); False leaves it out, as the serving lab's parameter-count preset does.
    """
    _check_graph(graph, "the serving model")
    if dtype not in DTYPE_BYTES:
        raise EngineError(f"dtype {dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    act_dtype = dtype if act_dtype is None else act_dtype
    if act_dtype not in DTYPE_BYTES:
        raise EngineError(f"activation dtype {act_dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    hw = _hardware(hw_name)
    report = cost(graph)
    if report.params == 0:
        raise EngineError(
            "this graph has no parameters, so there are no weights whose read a batch "
            "could share; try the mlp preset"
        )
    act = activation_elements(graph) * DTYPE_BYTES[act_dtype] if activations else 0.0
    memory = CARD_MEMORY_GIB.get(hw_name, 0.0) * GIB
    return GraphServiceModel(
        float(report.params),
        dtype,
        hw.peak_flops,
        hw.bandwidth,
        1,
        act,
        positive("fixed overhead", overhead, allow_zero=True),
        memory,
        float(report.flops),
        graph.title,
    )


@dataclass(frozen=True)
class BatchCost:
    batch: int
    compute_s: float  # b·F / peak
    memory_s: float  # (weights + b·activations) / bandwidth
    time_s: float  # max of the two + overhead: the serving model's pass time
    bound: str  # "compute" or "memory"

    @property
    def requests_per_s(self) -> float:
        return self.batch / self.time_s


def batch_cost_curve(
    graph: Graph,
    hw_name: str,
    batches: Sequence[int],
    dtype: str = "fp16",
    overhead: float = 0.0,
    activations: bool = True,
    act_dtype: str | None = None,
) -> tuple[BatchCost, ...]:
    """Pass time of ``graph`` on ``hw_name`` for each batch size, from :func:`model_from_graph`."""
    try:
        sizes = list(batches)
    except TypeError:
        raise EngineError(f"batch sizes {batches!r} are not a list of whole numbers") from None
    if not 1 <= len(sizes) <= MAX_CURVE_POINTS:
        raise EngineError(f"give 1 to {MAX_CURVE_POINTS:,} batch sizes; got {len(sizes):,}")
    sizes = [whole("batch size", b) for b in sizes]
    budget.check_steps(len(sizes), "the batch-cost curve")
    model = model_from_graph(graph, hw_name, dtype, overhead, activations, act_dtype)
    rows = []
    for b in sizes:
        compute, memory = model.compute_time(b), model.memory_time(b)
        rows.append(
            BatchCost(b, compute, memory, model.time(b), "compute" if compute >= memory else "memory")
        )
    return tuple(rows)


@dataclass(frozen=True)
class EdgeOption:
    """The graph on one device preset: on the device, all in the cloud, and the best cut."""

    device: str
    on_device: SplitPoint  # k = L
    cloud_only: SplitPoint  # k = 0
    best: SplitPoint
    layer_s: tuple[float, ...]  # device seconds per layer (the on-device latency is their sum)


@dataclass(frozen=True)
class EdgeReport:
    graph: str
    cloud: str
    network: str
    objective: str
    layers: int
    options: tuple[EdgeOption, ...]

    def rows(self) -> list[dict]:
        """One dict per device: latency (ms) and phone energy (J) of each choice, and the best cut."""
        out = []
        for o in self.options:
            row = {"device": o.device}
            for label, p in (
                ("on device", o.on_device),
                ("cloud only", o.cloud_only),
                ("best split", o.best),
            ):
                row[f"{label} (ms)"] = round(p.latency * 1e3, 3)
                row[f"{label} (J)"] = round(p.energy, 4)
            row["best cut"] = o.best.label
            row["fits on device"] = o.on_device.fits
            out.append(row)
        return out


def _device_names(device) -> list[str]:
    presets = targets()
    if device is None:
        return [n for n in presets if n not in CLOUDS]
    names = [device] if isinstance(device, str) else list(device)
    for name in names:
        if name not in presets:
            raise EngineError(f"device {name!r} is not one of {', '.join(presets)}")
    if not names:
        raise EngineError("name at least one device preset")
    return names


def _check_split_work(devices: int, layers: int) -> None:
    """Refuse a split search over :data:`MAX_SPLIT_ELEMENTS` before it starts: each of the L + 1
    cuts sums Python list slices of about 3·L elements (device time, cloud time, weights)."""
    elements = devices * (layers + 1) * 3 * layers
    if elements > MAX_SPLIT_ELEMENTS:
        raise BudgetError(
            f"the split search for {devices} device(s) over {layers + 1:,} cuts sums "
            f"{elements:,} list elements; the limit is {MAX_SPLIT_ELEMENTS:,} (about 1 s): "
            f"pick one device or a smaller graph"
        )


def graph_edge_report(
    graph: Graph,
    device: str | Sequence[str] | None = None,
    cloud: str = "A100 80GB SXM",
    network: str = "LTE",
    device_eff: float = 0.2,
    cloud_eff: float = 0.5,
    queue_s: float = 0.0,
    tail: bool = False,
    objective: str = "latency",
) -> EdgeReport:
    """Latency and phone energy of ``graph`` on each device (``None``: every non-cloud preset)."""
    _check_graph(graph, "the edge report")
    names = _device_names(device)
    presets, nets = targets(), networks()
    if cloud not in presets:
        raise EngineError(f"cloud {cloud!r} is not one of {', '.join(presets)}")
    if network not in nets:
        raise EngineError(f"network {network!r} is not one of {', '.join(nets)}")
    if objective not in ("latency", "energy"):
        raise EngineError(f"objective {objective!r} must be 'latency' or 'energy'")
    _check_split_work(len(names), len(graph.op_nodes))
    chain = graph_chain(graph, graph.title or "graph")
    options = []
    for name in names:
        points = split_points(
            chain, presets[name], presets[cloud], nets[network], device_eff, cloud_eff, queue_s, tail
        )
        options.append(
            EdgeOption(
                name,
                points[-1],
                points[0],
                best_split(points, objective),
                tuple(layer_times(chain, presets[name], device_eff)),
            )
        )
    return EdgeReport(chain.name, cloud, network, objective, len(chain.layers), tuple(options))
