"""Cloud vs edge: where should one inference run, and where should a model be split?

Stages:
  1. a model is a chain of layers (FLOPs, bytes moved, parameters, output bytes), built
     analytically for AlexNet / VGG-16 / MobileNetV1 (shapes as torchvision / Howard et al. 2017),
     from any engine Graph via :func:`engine.cost`, or from a single (params, FLOPs) entry;
  2. each layer's time on a target is its roofline: max(FLOPs / (peak·eff), bytes / (bw·eff));
  3. a split after layer k (Neurosurgeon, Kang et al. ASPLOS 2017) runs layers < k on the device,
     sends every tensor that crosses the cut up the radio link, waits one round trip and the cloud
     queue, runs the rest in the cloud and downloads the result. k = 0 is "all cloud", k = L is
     "all device" (nothing sent);
  4. device energy = device power × on-device time + radio energy from the power model of Huang et
     al. (MobiSys 2012): P = α·throughput + β while sending, plus the LTE "tail" if asked;
  5. the best split is the feasible k (weights of each side fit its memory) with least latency or
     energy.
Not handled: overlapping upload with compute, compression of the cut tensor, idle power while the
phone waits, batching on the cloud side beyond a queueing delay the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.budget import numel
from ..core.errors import EngineError
from ..kernels.roofline_model import hardware_presets
from .serving import positive

GIB = float(1 << 30)


@dataclass(frozen=True)
class Target:
    name: str
    peak_flops: float
    bandwidth: float
    memory_bytes: float
    power_w: float
    source: str

    def __post_init__(self):
        for what, v in (
            ("peak FLOP/s", self.peak_flops),
            ("memory bandwidth", self.bandwidth),
            ("memory", self.memory_bytes),
            ("power", self.power_w),
        ):
            positive(f"{self.name} {what}", v)


def _from_roofline(name: str, memory_gib: float, power_w: float, note: str) -> Target:
    hw = hardware_presets()[name]
    return Target(name, hw.peak_flops, hw.bandwidth, memory_gib * GIB, power_w, f"{hw.source}; {note}")


def targets() -> dict[str, Target]:
    """Device and cloud presets; every number says where it comes from (or that it is assumed)."""
    items = (
        _from_roofline(
            "Phone CPU (assumed)",
            4.0,
            5.0,
            "4 GiB usable by one app of 8 GiB and 5 W under load: assumptions",
        ),
        Target(
            "Phone NPU (assumed)",
            35e12,
            51.2e9,
            4.0 * GIB,
            4.0,
            "Apple A17 Pro Neural Engine: '35 trillion operations per second' (Apple, Sept 2023; "
            "int8 ops, taken here as the peak of the chosen precision - optimistic); LPDDR5 51.2 GB/s, "
            "4 GiB usable, 4 W: assumptions",
        ),
        Target(
            "Jetson Orin Nano 8GB",
            10e12,
            68e9,
            8.0 * GIB,
            15.0,
            "NVIDIA Jetson Orin Nano 8GB datasheet: 40 INT8 TOPS (sparse), 68 GB/s LPDDR5, 8 GB, "
            "7-15 W; fp16 dense taken as 40/4 = 10 TFLOPS (our assumption)",
        ),
        Target(
            "Jetson AGX Orin 64GB",
            68.75e12,
            204.8e9,
            64.0 * GIB,
            60.0,
            "NVIDIA Jetson AGX Orin 64GB datasheet: 275 INT8 TOPS (sparse), 204.8 GB/s LPDDR5, "
            "64 GB, 15-60 W; fp16 dense taken as 275/4 = 68.75 TFLOPS (our assumption)",
        ),
        _from_roofline("A100 80GB SXM", 80.0, 400.0, "80 GB HBM2e, 400 W TDP (datasheet)"),
        _from_roofline("H100 SXM", 80.0, 700.0, "80 GB HBM3, up to 700 W TDP (datasheet)"),
    )
    return {t.name: t for t in items}


@dataclass(frozen=True)
class Network:
    name: str
    up_mbps: float
    down_mbps: float
    rtt_s: float
    alpha_up: float  # mW per Mbps while sending
    alpha_down: float  # mW per Mbps while receiving
    beta: float  # mW base power while the radio is active
    tail_s: float  # time the radio stays in high power after the transfer
    tail_mw: float
    source: str

    def __post_init__(self):
        positive("uplink bandwidth (Mbit/s)", self.up_mbps)
        positive("downlink bandwidth (Mbit/s)", self.down_mbps)
        for what, v in (
            ("round-trip time", self.rtt_s),
            ("alpha up", self.alpha_up),
            ("alpha down", self.alpha_down),
            ("beta", self.beta),
            ("tail time", self.tail_s),
            ("tail power", self.tail_mw),
        ):
            positive(what, v, allow_zero=True)


def networks() -> dict[str, Network]:
    """The radio links, with where each number comes from.

    Checked against the paper's own text (its abstract): LTE's median 6 Mbps up / 13 Mbps down
    (4GTest). NOT checked: the power coefficients α_u, α_d, β (Table 4) and the tail power and
    duration (Table 3) were entered from the published tables without the table text at hand;
    they are marked "unverified" in every source string so the page says so.
    """
    huang = "Huang et al., MobiSys 2012"
    coeff = "α_u, α_d, β as in its Table 4 (unverified transcription)"
    items = (
        Network(
            "LTE",
            6.0,
            13.0,
            0.070,
            438.39,
            51.97,
            1288.04,
            11.576,
            1060.0,
            f"{huang}: median 6 Mbps up / 13 Mbps down (matches the paper's abstract); {coeff}; "
            "tail 11.576 s at 1060 mW as in its Table 3 (unverified transcription); RTT 70 ms assumed",
        ),
        Network(
            "Wi-Fi",
            20.0,
            40.0,
            0.020,
            283.17,
            137.01,
            132.86,
            0.238,
            119.3,
            f"{huang}, Wi-Fi row: {coeff}; tail 0.238 s at 119.3 mW (unverified); "
            "throughputs and RTT assumed - edit them",
        ),
        Network(
            "3G",
            1.0,
            2.0,
            0.150,
            868.98,
            122.12,
            817.88,
            0.0,
            0.0,
            f"{huang}, 3G row: {coeff}; throughputs and RTT assumed; 3G tail not modelled",
        ),
        Network(
            "5G mid-band (assumed)",
            50.0,
            300.0,
            0.030,
            438.39,
            51.97,
            1288.04,
            0.0,
            0.0,
            "Assumed throughputs and RTT; power coefficients borrowed from LTE - not measured",
        ),
    )
    return {n.name: n for n in items}


def radio_energy(net: Network, bytes_up: float, bytes_down: float, tail: bool = False) -> float:
    """Joules the phone's radio spends sending ``bytes_up`` and receiving ``bytes_down``."""
    up = positive("uplink bytes", bytes_up, True) * 8 / (net.up_mbps * 1e6)
    down = positive("downlink bytes", bytes_down, True) * 8 / (net.down_mbps * 1e6)
    mj = (net.alpha_up * net.up_mbps + net.beta) * up + (net.alpha_down * net.down_mbps + net.beta) * down
    if tail and (bytes_up or bytes_down):
        mj += net.tail_mw * net.tail_s
    return mj / 1e3


# ---- models as chains of layers ------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    name: str
    flops: float
    macs: float
    params: int
    bytes_moved: float  # weights + input + output, read/written once
    out_bytes: float


@dataclass(frozen=True)
class Chain:
    name: str
    layers: tuple[Layer, ...]
    cut_bytes: tuple[float, ...]  # bytes crossing a cut before layer k, k = 0..L
    act_bytes: int  # bytes per activation element
    weight_bytes: float = 4.0  # bytes per parameter

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> float:
        return sum(layer.macs for layer in self.layers)


class _ChainBuilder:
    """Tracks a (C, H, W) activation through conv / pool / fc layers (the analytic CNN zoo)."""

    def __init__(self, name: str, shape: tuple[int, int, int], act_bytes: int, w_bytes: float):
        self.name, self.shape, self.a, self.w = name, shape, act_bytes, w_bytes
        self.layers: list[Layer] = []
        self.cuts = [float(numel(shape) * act_bytes)]

    def _add(self, name: str, out_shape, macs: float, flops: float, params: int):
        in_b, out_b = numel(self.shape) * self.a, numel(out_shape) * self.a
        self.layers.append(Layer(name, flops, macs, params, params * self.w + in_b + out_b, out_b))
        self.cuts.append(float(out_b))
        self.shape = out_shape

    def conv(self, cout: int, k: int, stride: int = 1, pad: int = 0, groups: int = 1, bias=True):
        c, h, w = self.shape
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        macs = float(cout * ho * wo * (c // groups) * k * k)
        params = cout * (c // groups) * k * k + (cout if bias else 0)
        kind = "dwconv" if groups > 1 else "conv"
        self._add(
            f"{kind}{len(self.layers) + 1} {k}x{k}/{stride}→{cout}", (cout, ho, wo), macs, 2 * macs, params
        )

    def pool(self, k: int, stride: int):
        c, h, w = self.shape
        ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
        self._add(
            f"pool{len(self.layers) + 1} {k}x{k}/{stride}", (c, ho, wo), 0.0, float(c * ho * wo * k * k), 0
        )

    def fc(self, out: int):
        n = numel(self.shape)
        self._add(
            f"fc{len(self.layers) + 1} →{out}", (out, 1, 1), float(n * out), 2.0 * n * out, n * out + out
        )

    def build(self) -> Chain:
        return Chain(self.name, tuple(self.layers), tuple(self.cuts), self.a, self.w)


def _alexnet(b: _ChainBuilder):  # torchvision.models.alexnet (one-GPU variant)
    b.conv(64, 11, 4, 2)
    b.pool(3, 2)
    b.conv(192, 5, 1, 2)
    b.pool(3, 2)
    for c in (384, 256, 256):
        b.conv(c, 3, 1, 1)
    b.pool(3, 2)
    for out in (4096, 4096, 1000):
        b.fc(out)


def _vgg16(b: _ChainBuilder):  # Simonyan & Zisserman 2015, configuration D
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for c in block:
            b.conv(c, 3, 1, 1)
        b.pool(2, 2)
    for out in (4096, 4096, 1000):
        b.fc(out)


def _mobilenet_v1(b: _ChainBuilder):  # Howard et al. 2017, Table 1 (BN folded, no biases)
    b.conv(32, 3, 2, 1, bias=False)
    for cout, s in (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        *[(512, 1)] * 5,
        (1024, 2),
        (1024, 1),
    ):
        b.conv(b.shape[0], 3, s, 1, groups=b.shape[0], bias=False)
        b.conv(cout, 1, 1, 0, bias=False)
    b.pool(7, 7)
    b.fc(1000)


ZOO = {"AlexNet": _alexnet, "VGG-16": _vgg16, "MobileNetV1": _mobilenet_v1}


def zoo_chain(name: str, act_bytes: int = 4, weight_bytes: float = 4.0) -> Chain:
    """An ImageNet CNN (3×224×224 input) as a chain of layers at the given element widths."""
    if name not in ZOO:
        raise EngineError(f"no model {name!r}; choose one of {', '.join(ZOO)}")
    if act_bytes not in (1, 2, 4):
        raise EngineError(f"activation bytes = {act_bytes!r} must be 1, 2 or 4")
    b = _ChainBuilder(name, (3, 224, 224), act_bytes, positive("bytes per weight", weight_bytes))
    ZOO[name](b)
    return b.build()


def graph_chain(graph, name: str = "graph") -> Chain:
    """An engine Graph as a chain in topological order; a cut carries every tensor made before it
    (inputs included, weights excluded: both sides hold their own) and read after it."""
    from ..core.cost_model import cost

    report = cost(graph)
    by_name = graph.by_name
    order = [n.name for n in report.nodes]
    index = {nm: k for k, nm in enumerate(order)}
    size = {n.name: float(n.bytes_written) for n in report.nodes}
    for node in graph.inputs:
        size[node.name] = float(_tensor_bytes(node))
    last_use: dict[str, int] = {}
    for nm in order:
        for src in by_name[nm].inputs:
            if src in size:
                last_use[src] = index[nm]
    for out in graph.outputs:
        last_use[out] = len(order)
    # a tensor made at index p (inputs: -1) and last read at u crosses every cut k with p < k <= u;
    # a difference array sums them in one pass
    delta = [0.0] * (len(order) + 2)
    for s, nbytes in size.items():
        born, until = index.get(s, -1) + 1, last_use.get(s, -1)
        if until >= born:
            delta[born] += nbytes
            delta[until + 1] -= nbytes
    cuts, running = [], 0.0
    for k in range(len(order) + 1):
        running += delta[k]
        cuts.append(running)
    layers = tuple(
        Layer(
            f"{n.name} ({n.op})",
            float(n.flops),
            float(n.macs),
            int(n.params),
            float(n.bytes_read + n.bytes_written),
            float(n.bytes_written),
        )
        for n in report.nodes
    )
    return Chain(name, layers, tuple(cuts), 4)


def _tensor_bytes(node) -> int:
    return numel(node.shape) * np.dtype(node.dtype).itemsize


def custom_chain(
    params: float, flops: float, input_bytes: float, output_bytes: float, weight_bytes: float = 2.0
) -> Chain:
    """One opaque layer: for a model known only by its size and FLOPs (split = all or nothing)."""
    p, f = positive("parameters", params), positive("FLOPs", flops)
    i, o = positive("input bytes", input_bytes), positive("output bytes", output_bytes)
    w = positive("bytes per weight", weight_bytes)
    layer = Layer("model", f, f / 2, int(p), p * w + i + o, o)
    return Chain("custom", (layer,), (i, o), 2, w)


# ---- splitting -------------------------------------------------------------------------------------


def layer_times(chain: Chain, target: Target, efficiency: float = 0.5) -> list[float]:
    """Roofline seconds of every layer on ``target`` at ``efficiency`` of its peaks."""
    eff = positive("efficiency", efficiency)
    if eff > 1:
        raise EngineError(f"efficiency = {eff} must be at most 1 (a share of the datasheet peak)")
    return [
        max(x.flops / (target.peak_flops * eff), x.bytes_moved / (target.bandwidth * eff))
        for x in chain.layers
    ]


@dataclass(frozen=True)
class SplitPoint:
    k: int  # layers 0..k-1 on the device
    label: str
    device_s: float
    upload_s: float
    rtt_s: float
    queue_s: float
    cloud_s: float
    download_s: float
    device_j: float
    radio_j: float
    sent_bytes: float
    fits: bool  # the device part's weights fit the device memory

    @property
    def latency(self) -> float:
        return self.device_s + self.upload_s + self.rtt_s + self.queue_s + self.cloud_s + self.download_s

    @property
    def energy(self) -> float:
        return self.device_j + self.radio_j


def split_points(
    chain: Chain,
    device: Target,
    cloud: Target,
    net: Network,
    device_eff: float = 0.2,
    cloud_eff: float = 0.5,
    queue_s: float = 0.0,
    tail: bool = False,
    input_bytes: float | None = None,
) -> list[SplitPoint]:
    """Latency and phone energy for every cut k = 0 (all cloud) .. L (all device).

    ``input_bytes`` replaces the raw input tensor for k = 0 (e.g. a JPEG instead of float pixels).
    """
    queue_s = positive("cloud queueing delay", queue_s, allow_zero=True)
    cuts = list(chain.cut_bytes)
    if input_bytes is not None:
        cuts[0] = positive("uploaded input bytes", input_bytes)
    weights = [x.params * chain.weight_bytes for x in chain.layers]
    if sum(weights) > cloud.memory_bytes:
        raise EngineError(
            f"{chain.name} needs {sum(weights) / GIB:.1f} GiB of weights, more than the "
            f"{cloud.memory_bytes / GIB:.0f} GiB of {cloud.name}: no card here can hold it"
        )
    t_dev, t_cloud = layer_times(chain, device, device_eff), layer_times(chain, cloud, cloud_eff)
    n, out_bytes, points = len(chain.layers), chain.layers[-1].out_bytes, []
    for k in range(n + 1):
        dev = sum(t_dev[:k])
        remote = k < n
        sent = cuts[k] if remote else 0.0
        back = out_bytes if remote else 0.0
        label = "all cloud" if k == 0 else "all device" if k == n else f"after {chain.layers[k - 1].name}"
        points.append(
            SplitPoint(
                k,
                label,
                dev,
                sent * 8 / (net.up_mbps * 1e6),
                net.rtt_s if remote else 0.0,
                queue_s if remote else 0.0,
                sum(t_cloud[k:]),
                back * 8 / (net.down_mbps * 1e6),
                dev * device.power_w,
                radio_energy(net, sent, back, tail),
                sent,
                sum(weights[:k]) <= device.memory_bytes,
            )
        )
    return points


def best_split(points: list[SplitPoint], objective: str = "latency") -> SplitPoint:
    """The feasible split with the least latency (or phone energy); ties go to fewer device layers."""
    if objective not in ("latency", "energy"):
        raise EngineError(f"objective {objective!r} must be 'latency' or 'energy'")
    feasible = [p for p in points if p.fits]
    return min(feasible, key=lambda p: (getattr(p, objective), p.k))


#: torch → ONNX → optimise → quantise → on-device runtime: (step, what happens, the lab that shows it)
PIPELINE = (
    (
        "Export",
        "torch.onnx.export traces the model into an ONNX graph: "
        "Python control flow is frozen, weights become initializers.",
        "graph_builder",
    ),
    (
        "Optimise",
        "Constant folding, dead-code elimination, Conv+BN folding and operator "
        "fusion: same outputs, fewer nodes and memory trips.",
        "graph_passes",
    ),
    ("Fuse", "Elementwise tails join the producer kernel, so intermediates never reach DRAM.", "fusion"),
    (
        "Quantise",
        "fp32 weights (and activations) become int8 with a scale and "
        "zero point: 4x smaller, integer kernels, a small accuracy cost.",
        "quantization",
    ),
    (
        "Lay out",
        "Tensors are re-laid for the target (NHWC for mobile CPUs, NC1HWC0 for Ascend).",
        "layout_explorer",
    ),
    (
        "Runtime",
        "A runtime (ONNX Runtime Mobile, TFLite, MNN, TensorRT) plans memory "
        "once and runs the kernels on the CPU, GPU or NPU.",
        "memory_planning",
    ),
)
