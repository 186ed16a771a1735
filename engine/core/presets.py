"""Preset graphs, each written as a program of the safe language (so a page can show its source).

Stages: the program text lives in :data:`PROGRAMS`; :func:`preset` parses it with
:func:`engine.core.language.parse_program` (cached: a Graph is immutable) and titles it with the name.
Weights are ``param`` nodes, drawn by the interpreter from the seed; batchnorm variances use
``init="uniform"`` so they are positive. Each preset has a one-line description in English and Chinese
(:func:`preset_info`). Not handled: training-mode batchnorm, strided (downsampling) variants of the
blocks — every block here keeps its input shape so the residual add needs no projection.
"""

from __future__ import annotations

from functools import cache

from .errors import EngineError
from .ir import Graph

_AUTODIFF = """\
# f(x1, x2) = ln(x1) + x1*x2 - sin(x2), evaluated at (x1, x2) = (2, 5)
x1 = input(2.0)
x2 = input(5.0)
v1 = log(x1)
v2 = x1 * x2
v3 = sin(x2)
v4 = v1 + v2
y = v4 - v3
"""

_MLP = """\
# A two-layer perceptron: 16 features -> 32 hidden units (ReLU) -> 10 class scores
x = input([4, 16])
W1 = param([16, 32])
b1 = param([32], init="zeros")
h = relu(x @ W1 + b1)
W2 = param([32, 10])
b2 = param([10], init="zeros")
logits = h @ W2 + b2
probs = softmax(logits, axis=-1)
"""

_CONV_BN_RELU = """\
# The most common CNN pattern: 3x3 convolution, batch normalisation, ReLU
x = input([1, 3, 32, 32])
W = param([16, 3, 3, 3])
gamma = param([16], init="uniform")
beta = param([16])
mean = param([16])
var = param([16], init="uniform")
c = conv2d(x, W, stride=1, pad=1)
n = batchnorm(c, gamma, beta, mean, var, epsilon=1e-5)
y = relu(n)
"""

_RESNET_BLOCK = """\
# ResNet basic block (He et al. 2016): two 3x3 conv-BN layers and an identity shortcut
x = input([1, 16, 16, 16])
W1 = param([16, 16, 3, 3])
g1 = param([16], init="uniform")
b1 = param([16])
m1 = param([16])
v1 = param([16], init="uniform")
W2 = param([16, 16, 3, 3])
g2 = param([16], init="uniform")
b2 = param([16])
m2 = param([16])
v2 = param([16], init="uniform")
h = relu(batchnorm(conv2d(x, W1, pad=1), g1, b1, m1, v1))
h = batchnorm(conv2d(h, W2, pad=1), g2, b2, m2, v2)
y = relu(h + x)
"""

_ATTENTION = """\
# Single-head self-attention: softmax(q k^T / sqrt(d)) v, then an output projection
x = input([8, 16])
Wq = param([16, 16])
Wk = param([16, 16])
Wv = param([16, 16])
Wo = param([16, 16])
d = constant(16.0)
q = x @ Wq
k = x @ Wk
v = x @ Wv
scores = q @ transpose(k, perm=[1, 0]) / sqrt(d)
attn = softmax(scores, axis=-1)
context = attn @ v
y = context @ Wo
"""

_MOBILENET = """\
# MobileNetV2 inverted residual (Sandler et al. 2018): expand x6, depthwise 3x3, project, add
x = input([1, 16, 14, 14])
We = param([96, 16, 1, 1])
ge = param([96], init="uniform")
be = param([96])
me = param([96])
ve = param([96], init="uniform")
Wd = param([96, 1, 3, 3])
gd = param([96], init="uniform")
bd = param([96])
md = param([96])
vd = param([96], init="uniform")
Wp = param([16, 96, 1, 1])
gp = param([16], init="uniform")
bp = param([16])
mp = param([16])
vp = param([16], init="uniform")
h = relu6(batchnorm(conv2d(x, We), ge, be, me, ve))
h = relu6(batchnorm(conv2d(h, Wd, pad=1, groups=96), gd, bd, md, vd))
h = batchnorm(conv2d(h, Wp), gp, bp, mp, vp)
y = x + h
"""

_SHUFFLENET = """\
# ShuffleNetV2 unit (Ma et al. 2018): split channels, transform one half, concat, shuffle
x = input([1, 32, 16, 16])
a, b = split(x, 2, axis=1)
W1 = param([16, 16, 1, 1])
g1 = param([16], init="uniform")
b1 = param([16])
m1 = param([16])
v1 = param([16], init="uniform")
Wd = param([16, 1, 3, 3])
gd = param([16], init="uniform")
bd = param([16])
md = param([16])
vd = param([16], init="uniform")
W2 = param([16, 16, 1, 1])
g2 = param([16], init="uniform")
b2 = param([16])
m2 = param([16])
v2 = param([16], init="uniform")
h = relu(batchnorm(conv2d(b, W1), g1, b1, m1, v1))
h = batchnorm(conv2d(h, Wd, pad=1, groups=16), gd, bd, md, vd)
h = relu(batchnorm(conv2d(h, W2), g2, b2, m2, v2))
c = concat(a, h, axis=1)
# channel shuffle with 2 groups: (N, 2, C/2, H, W) -> swap the two channel axes -> (N, C, H, W)
s = reshape(c, [1, 2, 16, 16, 16])
s = transpose(s, perm=[0, 2, 1, 3, 4])
y = reshape(s, [1, 32, 16, 16])
"""

#: preset name -> program text
PROGRAMS: dict[str, str] = {
    "autodiff_example": _AUTODIFF,
    "mlp": _MLP,
    "conv_bn_relu": _CONV_BN_RELU,
    "resnet_basic_block": _RESNET_BLOCK,
    "self_attention": _ATTENTION,
    "mobilenetv2_inverted_residual": _MOBILENET,
    "shufflenetv2_unit": _SHUFFLENET,
}

_INFO: dict[str, str] = {
    "autodiff_example": "The worked autodiff example f(x1, x2) = ln x1 + x1·x2 − sin x2 at (2, 5).",
    "mlp": "A two-layer perceptron with ReLU and a softmax over 10 classes.",
    "conv_bn_relu": "A 3×3 convolution followed by batch normalisation and ReLU.",
    "resnet_basic_block": "ResNet's basic block: two conv-BN layers plus an identity shortcut.",
    "self_attention": "Single-head self-attention over 8 tokens of width 16.",
    "mobilenetv2_inverted_residual": "MobileNetV2's inverted residual: expand, depthwise, project.",
    "shufflenetv2_unit": "ShuffleNetV2's unit: channel split, one branch, concat, channel shuffle.",
}


def preset_names() -> list[str]:
    """Names of the presets, in teaching order."""
    return list(PROGRAMS)


def _check(name: str) -> str:
    if not isinstance(name, str) or name not in PROGRAMS:
        raise EngineError(f"there is no preset named {name!r}; choose one of {', '.join(PROGRAMS)}")
    return name


def program_text(name: str) -> str:
    """The program source of preset ``name``."""
    return PROGRAMS[_check(name)]


@cache
def _build(name: str) -> Graph:
    from .language import parse_program

    return parse_program(PROGRAMS[name], title=name)


def preset(name: str) -> Graph:
    """The graph of preset ``name`` (parsed from its program; cached)."""
    return _build(_check(name))


def preset_info(name: str) -> str:
    """A one-line description of preset ``name`` (English; the ui translates it)."""
    return _INFO[_check(name)]
