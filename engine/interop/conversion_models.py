"""The models the conversion lab converts: the torch zoo plus four hand-written modules, each chosen
to show one thing a converter must decide.

  * ``linear_gelu_3d``: Linear on a 3-D input (tokens) and GELU: the ONNX exporter writes MatMul + Add
    (Gemm takes 2-D inputs only) and spells GELU out as Div, Erf, Add, Mul, Mul; directly they are
    matmul + add and one gelu;
  * ``view_by_size``: ``x.view(x.size(0), -1)``: with a dynamic batch the ONNX graph computes the
    shape at run time (Shape, Gather, Unsqueeze, Concat); directly the size is read from the example;
  * ``gated``: a Python ``if`` on a tensor's value: torch.fx and torch.export refuse it, the ONNX
    exporter (a tracer) records the branch the example took and silently drops the other one;
  * ``pixel_shuffle``: ``nn.PixelShuffle`` (ONNX DepthToSpace), which neither path maps: both name it.
Stages of :func:`build`: define the classes (torch imported lazily, once), seed the weights
(``torch.manual_seed(0)``; zoo models come from :mod:`engine.interop.torch_zoo`), eval mode, and a
seeded example input. Not handled: pretrained weights, more than one input.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..core.errors import EngineError
from .torch_zoo import ZOO, example_input, zoo_module

#: name -> (input shape with the batch axis, one-line description)
HANDWRITTEN: dict[str, tuple[tuple[int, ...], str]] = {
    "linear_gelu_3d": ((1, 8, 16), "Linear -> GELU -> Linear on 8 tokens of 16 features"),
    "view_by_size": ((1, 1, 8, 8), "conv -> BatchNorm -> ReLU -> x.view(x.size(0), -1) -> Linear"),
    "gated": ((1, 16), "Linear, then relu(y) if y.sum() > 0 else -y: control flow on a tensor's value"),
    "pixel_shuffle": ((1, 3, 8, 8), "conv -> nn.PixelShuffle(2): an op neither path maps"),
}


def model_names() -> list[str]:
    """Every model the lab can convert: the zoo first, then the hand-written ones."""
    return [*ZOO, *HANDWRITTEN]


def describe(name: str) -> str:
    _check(name)
    return ZOO[name][1] if name in ZOO else HANDWRITTEN[name][1]


def _check(name: str) -> None:
    if name not in ZOO and name not in HANDWRITTEN:
        raise EngineError(f"there is no model named {name!r}; choose one of {', '.join(model_names())}")


@lru_cache(maxsize=1)
def _classes() -> dict[str, Any]:
    import torch
    from torch import nn

    class LinearGelu3d(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.act, self.down = nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16)

        def forward(self, x):
            return self.down(self.act(self.up(x)))

    class ViewBySize(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(256, 10)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x)))
            return self.fc(y.view(y.size(0), -1))

    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)
            nn.init.zeros_(self.fc.bias)  # so -x takes the other branch: y(-x) = -y(x)

        def forward(self, x):
            y = self.fc(x)
            if y.sum() > 0:
                return torch.relu(y)
            return -y

    class PixelShuffleNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.shuffle = nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)

        def forward(self, x):
            return self.shuffle(self.conv(x))

    return {
        "linear_gelu_3d": LinearGelu3d,
        "view_by_size": ViewBySize,
        "gated": Gated,
        "pixel_shuffle": PixelShuffleNet,
    }


def build(name: str) -> tuple[Any, Any]:
    """(torch module in eval mode, seeded example input) of model ``name``."""
    _check(name)
    if name in ZOO:
        return zoo_module(name), example_input(name)
    import torch

    torch.manual_seed(0)
    module = _classes()[name]()
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics: a wrong fold would show
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    gen = torch.Generator().manual_seed(1)
    return module.eval(), torch.randn(HANDWRITTEN[name][0], generator=gen)
