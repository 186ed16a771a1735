"""A small zoo of torch models written in our own code, exported to ONNX and read into Graphs.

Stages of :func:`zoo_graph`:
  1. build the torch module (torch is imported lazily; the classes are defined on first use);
  2. give it deterministic weights (``torch.manual_seed(0)``) and, for batchnorm layers, non-trivial
     running statistics, so that a wrong mapping of mean/var/scale/bias cannot go unnoticed;
  3. export it with ``torch.onnx.export(..., dynamo=False)`` and read it with
     :func:`engine.interop.onnx_import.from_onnx` (cached by name and batch size).

``resnet18`` follows He et al. 2016 / torchvision's layout exactly (BasicBlock, [2, 2, 2, 2],
1000 classes, 224x224 input), so it has the published 11,689,512 parameters.
Not handled: pretrained weights (nothing is downloaded), training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..core.errors import EngineError
from ..core.ir import Graph

#: name -> (input shape without the batch axis, one-line description)
ZOO: dict[str, tuple[tuple[int, ...], str]] = {
    "resnet18": ((3, 224, 224), "ResNet-18 (He et al. 2016): 11.7 M parameters, 1000 classes"),
    "tiny_cnn": ((1, 28, 28), "A tiny CNN for 28x28 digits: two conv-ReLU-pool stages + a linear"),
    "mlp": ((64,), "A three-layer MLP with ReLU on 64 features (8x8 digits) and 10 classes"),
    "mobilenetv2_block": ((32, 28, 28), "One MobileNetV2 inverted residual block, expand ratio 6"),
}
RESNET18_PARAMS = 11_689_512  # torchvision.models.resnet18: sum of p.numel()


@lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    import torch
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int = 1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, num_classes: int = 1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths, cin = (64, 128, 256, 512), 64
            for k, w in enumerate(widths, start=1):
                stride = 1 if k == 1 else 2
                setattr(self, f"layer{k}", nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w)))
                cin = w
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class InvertedResidual(nn.Module):
        def __init__(self, c: int = 32, expand: int = 6):
            super().__init__()
            h = c * expand
            self.block = nn.Sequential(
                nn.Conv2d(c, h, 1, bias=False),
                nn.BatchNorm2d(h),
                nn.ReLU6(),
                nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False),
                nn.BatchNorm2d(h),
                nn.ReLU6(),
                nn.Conv2d(h, c, 1, bias=False),
                nn.BatchNorm2d(c),
            )

        def forward(self, x):
            return x + self.block(x)

    def tiny_cnn():
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 7 * 7, 10),
        )

    def mlp():
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

    return {"resnet18": ResNet18, "tiny_cnn": tiny_cnn, "mlp": mlp, "mobilenetv2_block": InvertedResidual}


def _build(name: str) -> Any:
    import torch

    torch.manual_seed(0)
    model = _classes()[name]()
    with torch.no_grad():  # non-trivial running statistics: a swapped mean/var would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def resnet18() -> Any:
    """ResNet-18 as a torch ``nn.Module`` (seeded random weights, eval mode)."""
    return _build("resnet18")


def tiny_cnn() -> Any:
    """A tiny CNN for 1x28x28 inputs (seeded, eval mode)."""
    return _build("tiny_cnn")


def mlp() -> Any:
    """A 64-128-64-10 MLP (seeded, eval mode)."""
    return _build("mlp")


def mobilenetv2_block() -> Any:
    """One MobileNetV2 inverted residual block on 32 channels (seeded, eval mode)."""
    return _build("mobilenetv2_block")


def zoo_names() -> list[str]:
    """Names of the zoo models."""
    return list(ZOO)


def _check(name: str, batch: int) -> None:
    if name not in ZOO:
        raise EngineError(f"there is no zoo model named {name!r}; choose one of {', '.join(ZOO)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 64:
        raise EngineError(f"batch must be a whole number from 1 to 64, got {batch!r}")


def zoo_module(name: str) -> Any:
    """The torch module of zoo model ``name``."""
    _check(name, 1)
    return _build(name)


def example_input(name: str, batch: int = 1) -> Any:
    """A seeded standard-normal torch input of the model's shape."""
    import torch

    _check(name, batch)
    gen = torch.Generator().manual_seed(1)
    return torch.randn((batch, *ZOO[name][0]), generator=gen)


def zoo_onnx(name: str, batch: int = 1) -> bytes:
    """The ONNX bytes of zoo model ``name`` exported at batch size ``batch`` (cached: one export per
    model and batch, however the call spells them)."""
    _check(name, batch)
    return _zoo_onnx(name, batch)


def zoo_graph(name: str, batch: int = 1) -> Graph:
    """Zoo model ``name`` as a Graph (exported through ONNX; cached like :func:`zoo_onnx`)."""
    _check(name, batch)
    return _zoo_graph(name, batch)


# The caches take positional arguments only: ``lru_cache`` keys ``f("m")`` and ``f("m", 1)``
# apart, which once exported ResNet-18 twice (45 MB each) when one lab asked for each spelling.
@lru_cache(maxsize=8)
def _zoo_onnx(name: str, batch: int) -> bytes:
    from .torch_import import torch_to_onnx_bytes

    return torch_to_onnx_bytes(_build(name), example_input(name, batch))


@lru_cache(maxsize=8)
def _zoo_graph(name: str, batch: int) -> Graph:
    from .onnx_import import from_onnx

    graph = from_onnx(_zoo_onnx(name, batch))
    return Graph(graph.nodes, graph.outputs, name)


def torch_param_counts(name: str) -> tuple[int, int]:
    """(parameters as torch counts them, BatchNorm channels) of zoo model ``name``.

    The oracle for the imported graph's parameter count: the ONNX export folds each BatchNorm into
    its conv, so the graph holds ``1 × channels`` fewer numbers when the model has BatchNorm. torch
    counts γ and β (2 per channel; the running mean and variance are buffers, not parameters); the
    folded conv keeps one bias per channel instead (measured on ResNet-18: 11,689,512 - 4,800 BN
    channels = 11,684,712 in the graph).
    """
    import torch

    module = zoo_module(name)
    bn = sum(m.num_features for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    return sum(p.numel() for p in module.parameters()), bn


@dataclass(frozen=True)
class ParamCounts:
    """Both parameter counts of a zoo model: torch's (torchvision's convention: every
    ``nn.Parameter``, BatchNorm's γ and β included) and the ONNX-exported graph's (BatchNorm folded
    into the conv weights and one bias per channel)."""

    name: str
    torch: int
    graph: int
    bn_channels: int

    @property
    def folded_away(self) -> int:
        """torch's count minus the graph's: one number per BatchNorm channel."""
        return self.torch - self.graph


def param_counts(name: str) -> ParamCounts:
    """:class:`ParamCounts` of zoo model ``name`` (the graph's count from :func:`engine.cost`)."""
    from ..core.cost_model import cost

    params, bn = torch_param_counts(name)
    return ParamCounts(name, params, cost(zoo_graph(name)).params, bn)
