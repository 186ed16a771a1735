"""ShuffleNet V1 (Zhang et al. 2018): pointwise group convolutions with a channel shuffle between them.

Stages of :func:`shufflenet_v1`:
  1. a 3x3 stride-2 conv to 24 channels and a 3x3 stride-2 max pool;
  2. three stages of 4 / 8 / 4 units whose widths depend on the group count g so that the network
     costs about 140 M multiply-adds whatever g is (the paper's Table 1; :data:`STAGE_CHANNELS`),
     multiplied by the scale factor s ("ShuffleNet s×"); a unit (its Fig. 2) is
       1x1 group conv to a quarter of the output width (BN, ReLU) → channel shuffle → 3x3 depthwise
       conv (BN) → 1x1 group conv (BN), added to the input; the first unit of a stage has stride 2,
       a 3x3 average-pooled shortcut, and concatenates instead of adding, so its branch produces
       (output − input) channels; the very first 1x1 conv (24 input channels) is not grouped;
  3. global average pool and a 1000-class linear layer.
:func:`shuffle_steps` is channel shuffle itself on channel indices, step by step: reshape to
(g, C/g), transpose to (C/g, g), flatten — every output group then holds one channel of every input group.
Not handled: scale factors whose widths are not divisible by 4·g (refused with a message: the paper
does not say how it rounds them).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from .blocks import Layers
from .networks import _classifier

#: Table 1: output channels of stages 2, 3, 4 at 1x for each group count g.
STAGE_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
#: Table 1's "Complexity" row: MFLOPs (multiply-adds) at 1x, 224x224.
TABLE1_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
#: Table 2: classification error (%) on ImageNet at 1x, for g = 1..8.
TABLE2_ERROR_1X = {1: 33.6, 2: 32.7, 3: 32.6, 4: 32.8, 8: 32.4}
REPEATS = (4, 8, 4)


def widths(groups: int, scale: float) -> tuple[int, int, int]:
    """The three stage widths for g groups at scale s (each must divide into 4·g: bottleneck / g)."""
    if groups not in STAGE_CHANNELS:
        raise ShapeError(f"ShuffleNet V1 has g = 1, 2, 3, 4 or 8 groups (its Table 1), not {groups}")
    out = tuple(int(round(c * scale)) for c in STAGE_CHANNELS[groups])
    for c in out:
        if c % (4 * groups) or (c - 24) % groups:
            raise ShapeError(
                f"at scale {scale:g} a stage of g = {groups} would have {c} channels, "
                f"not divisible by 4 x g = {4 * groups}; choose another scale"
            )
    return out  # type: ignore[return-value]


def unit(L: Layers, x: str, cout: int, groups: int, stride: int, first_groups: int) -> str:
    cin = L.channels(x)
    mid = cout // 4
    branch = cout - cin if stride == 2 else cout
    y = L.cba(x, mid, 1, groups=first_groups, tag="gconv1")
    if groups > 1:
        y = L.shuffle(y, groups)
    y = L.cba(y, mid, 3, stride, groups=mid, act="none", tag="dw")
    y = L.bn(L.conv(y, branch, 1, groups=groups, tag="gconv2"))
    if stride == 1:
        return L.act(L.b.op("add", x, y), "relu")
    short = L.b.op("avgpool", x, kernel=3, stride=2, pad=1)
    return L.act(L.b.op("concat", short, y, axis=1), "relu")


def shufflenet_v1(L: Layers, groups: int, scale: float = 1.0) -> str:
    x = L.cba(L.x, 24, 3, 2, tag="stem")
    x = L.b.op("maxpool", x, kernel=3, stride=2, pad=1)
    for stage, (c, n) in enumerate(zip(widths(groups, scale), REPEATS)):
        for i in range(n):
            first = 1 if stage == 0 and i == 0 else groups
            x = unit(L, x, c, groups, 2 if i == 0 else 1, first)
    return _classifier(L, x)


def shuffle_steps(channels: int, groups: int) -> list[tuple[str, np.ndarray]]:
    """Channel shuffle on the channel indices 0..C-1: (step name, index array as laid out after it)."""
    if groups < 1 or channels % groups:
        raise ShapeError(f"channel shuffle needs channels = {channels} divisible by groups = {groups}")
    if channels > 256:
        raise ShapeError(f"the shuffle picture shows at most 256 channels, not {channels}")
    idx = np.arange(channels)
    grid = idx.reshape(groups, channels // groups)
    return [
        ("input (C)", idx),
        ("reshape (g, C/g)", grid),
        ("transpose (C/g, g)", grid.T),
        ("flatten (C)", grid.T.reshape(-1)),
    ]
