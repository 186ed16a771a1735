"""The zoo's table of new networks: for each, its family, its builder, its paper's row and the exact
parameter count of the authors' released code where it was checked (see :mod:`engine.models.zoo`).

Stages: each :class:`Spec` names a builder ``(Layers, alpha) -> output`` from the family modules and a
:class:`engine.models.networks.PaperRow` (params in M, MACs in M, resolution, source, tolerance,
note). Not handled: the older networks (their rows live in :data:`engine.models.networks.PAPER`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import efficientnet as ef
from .blocks import Layers
from .hybrids import efficientformer_l1, mobilevit_v2, mobilevit_v3
from .mobileformer import MACS_TOLERANCE, mobile_former
from .mobilenetv4 import mobilenet_v4
from .networks import PaperRow
from .shufflenet_v1 import TABLE1_MFLOPS, shufflenet_v1


@dataclass(frozen=True)
class Spec:
    family: str
    build: Callable[[Layers, float], str]
    paper: PaperRow
    patch: int = 1  # resolutions must be multiples of this (64: 2x2 patches on the 1/32 map)
    alphas: tuple[float, ...] = (1.0,)  # width/scale multipliers the paper defines
    oracle: int | None = None  # exact parameter count of the authors' released code, where checked


def _v2(alpha: float) -> Callable[[Layers, float], str]:
    return lambda L, a: mobilevit_v2(L, alpha)


_MNV4 = "Qin et al. 2024, ImageNet-1k results table"
_V2 = "Mehta & Rastegari 2022b, ImageNet-1k results"
_MF = "Chen et al. 2022, ImageNet-1k results (the authors' README repeats them)"
SPECS: dict[str, Spec] = {
    "MobileNetV4-Conv-S": Spec(
        "MobileNetV4",
        lambda L, a: mobilenet_v4(L, "MobileNetV4-Conv-S"),
        PaperRow(3.8, 200, 224, f"{_MNV4} (MNv4-Conv-S)", 0.08, "paper prints 0.2 G MACs"),
        oracle=3_774_024,
    ),
    "MobileNetV4-Conv-M": Spec(
        "MobileNetV4",
        lambda L, a: mobilenet_v4(L, "MobileNetV4-Conv-M"),
        PaperRow(
            9.2,
            1000,
            256,
            f"{_MNV4} (MNv4-Conv-M)",
            0.03,
            "timm's mobilenetv4_conv_medium (model card: 9.72 M params) builds 9,715,512 params, 1.08 G MACs",
        ),
        oracle=9_715_512,
    ),
    "MobileNetV4-Hybrid-M": Spec(
        "MobileNetV4",
        lambda L, a: mobilenet_v4(L, "MobileNetV4-Hybrid-M"),
        PaperRow(
            10.5,
            1200,
            256,
            f"{_MNV4} (MNv4-Hybrid-M)",
            0.03,
            "timm's mobilenetv4_hybrid_medium (model card: 11.07 M params) builds 11,074,648, 1.27 G MACs",
        ),
        oracle=11_074_648,
    ),
    **{
        f"ShuffleNetV1-g{g}": Spec(
            "ShuffleNetV1",
            lambda L, a, g=g: shufflenet_v1(L, g, a),
            PaperRow(
                0.0,
                mflops,
                224,
                f"Zhang et al. 2018, Table 1 (1x, g = {g})",
                0.015,
                "the paper prints no parameter counts; its complexity leaves out the classifier",
            ),
            alphas=(0.5, 1.0, 1.5, 2.0),
        )
        for g, mflops in TABLE1_MFLOPS.items()
    },
    **{
        name: Spec(
            "EfficientNet",
            lambda L, a, w=w, d=d: ef.efficientnet(L, w, d),
            PaperRow(p, m, r, f"Tan & Le 2019, Table 2 ({name})", tol),
        )
        for name, (w, d, r), p, m, tol in zip(
            list(ef.COEFFICIENTS)[1:],
            list(ef.COEFFICIENTS.values())[1:],
            (7.8, 9.2, 12, 19, 30, 43, 66),
            (700, 1000, 1800, 4200, 9900, 19000, 37000),
            (0.03, 0.03, 0.04, 0.05, 0.04, 0.03, 0.03),
        )
    },
    "EfficientNetV2-S": Spec(
        "EfficientNetV2",
        ef.efficientnet_v2_s,
        PaperRow(
            22,
            8800,
            384,
            "Tan & Le 2021, Table 7 (EfficientNetV2-S)",
            0.05,
            "the released model has 21,458,488 params; the paper prints 22 M",
        ),
        oracle=21_458_488,
    ),
    **{
        f"MobileViTv2-{a:g}": Spec(
            "MobileViTv2",
            _v2(a),
            PaperRow(
                p,
                m,
                256,
                f"{_V2} (MobileViTv2-{a:g})",
                0.1 if a == 0.5 else 0.05,
                "FLOPs printed to one decimal of a G: multiply-adds",
            ),
            patch=64,
        )
        for a, p, m in (
            (0.5, 1.4, 500),
            (0.75, 2.9, 1000),
            (1.0, 4.9, 1800),
            (1.25, 7.5, 2800),
            (1.5, 10.6, 4000),
            (1.75, 14.3, 5500),
            (2.0, 18.4, 7500),
        )
    },
    **{
        name: Spec(
            "MobileViTv3",
            lambda L, a, n=name: mobilevit_v3(L, n),
            PaperRow(
                p,
                m,
                256,
                f"Wadekar & Chaurasia 2022, ImageNet-1k results ({name})",
                0.05,
                "counts from the authors' configs; the paper's XXS MACs are lower",
            ),
            patch=64,
        )
        for name, p, m in (
            ("MobileViTv3-S", 5.8, 1841),
            ("MobileViTv3-XS", 2.5, 927),
            ("MobileViTv3-XXS", 1.2, 289),
        )
    },
    "EfficientFormer-L1": Spec(
        "EfficientFormer",
        efficientformer_l1,
        PaperRow(
            12.3,
            1300,
            224,
            "Li et al. 2022, Table 1 (EfficientFormer-L1)",
            0.02,
            "with the distillation classifier, as trained",
        ),
        oracle=12_289_928,
    ),
    **{
        name: Spec(
            "MobileFormer",
            lambda L, a, n=name: mobile_former(L, n),
            PaperRow(
                p,
                m,
                224,
                f"{_MF} ({name})",
                MACS_TOLERANCE[name],
                f"{top1} % top-1; the paper's MAdds run 2-5 % above conv + matmul MACs (the dynamic "
                "ReLU's per-element multiplies seem to be counted)",
            ),
        )
        for name, p, m, top1 in (
            ("MobileFormer-508M", 14.0, 508, 79.3),
            ("MobileFormer-294M", 11.4, 294, 77.9),
            ("MobileFormer-214M", 9.4, 214, 76.7),
            ("MobileFormer-151M", 7.6, 151, 75.2),
            ("MobileFormer-96M", 4.6, 96, 72.8),
            ("MobileFormer-52M", 3.5, 52, 68.7),
        )
    },
}
