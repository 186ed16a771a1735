"""timm (PyTorch Image Models) as a second, independent parameter-count oracle: for every zoo network
that timm also builds, ``sum(p.numel())`` of ``timm.create_model(name, pretrained=False)`` equals our
count. timm has no ShuffleNet V1/V2, MobileViT v3 or Mobile-Former (see tests/test_mobileformer.py).

timm is a test-only oracle that requirements-dev.txt does not install: a plain ``pip install timm``
pulls a CUDA build of torch, and the only torchvision matching torch 2.13.0 on the index is a CUDA build
whose import fails against the CPU torch. Install it with ``pip install --no-deps timm==1.0.31
huggingface_hub safetensors pyyaml``. timm imports torchvision at import time only for its data
transforms and FrozenBatchNorm2d, which no model built here uses; where torchvision is not importable,
a stand-in module answers those imports while timm loads and is removed right after. Without timm
the module is skipped."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

import pytest

from engine.models import zoo


class _Anything(type):
    """A class whose every attribute is another such class (enums, transforms, norm layers)."""

    def __getattr__(cls, key):
        if key.startswith("__"):
            raise AttributeError(key)
        sub = type(cls)(key, (cls,), {})
        setattr(cls, key, sub)
        return sub


class _Stand(metaclass=_Anything):
    def __init__(self, *args, **kwargs):
        pass


class _StandInTorchvision(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda key: getattr(_Stand, key)
        return module

    def exec_module(self, module):
        pass


def _forget_torchvision() -> None:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def _import_timm():
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing, or a CUDA build that cannot load against the CPU torch
        _forget_torchvision()
        finder = _StandInTorchvision()
        sys.meta_path.insert(0, finder)
        try:
            import timm
        finally:
            sys.meta_path.remove(finder)
            _forget_torchvision()
        return timm
    import timm

    return timm


try:
    timm = _import_timm()
except ImportError as exc:
    pytest.skip(f"timm is not installed ({exc}); see this module's docstring", allow_module_level=True)

#: zoo name -> timm model name (timm 1.0.31's registry).
TIMM_NAMES = {
    "MobileNetV1": "mobilenetv1_100",
    "MobileNetV2": "mobilenetv2_100",
    "MobileNetV3-Large": "mobilenetv3_large_100",
    "MobileNetV3-Small": "mobilenetv3_small_100",
    "GhostNet": "ghostnet_100",
    "MobileViT-S": "mobilevit_s",
    "MobileViT-XS": "mobilevit_xs",
    "MobileNetV4-Conv-S": "mobilenetv4_conv_small",
    "MobileNetV4-Conv-M": "mobilenetv4_conv_medium",
    "MobileNetV4-Hybrid-M": "mobilenetv4_hybrid_medium",
    **{f"EfficientNet-B{i}": f"tf_efficientnet_b{i}" for i in range(8)},
    "EfficientNetV2-S": "tf_efficientnetv2_s",
    **{
        f"MobileViTv2-{a}": f"mobilevitv2_{s}"
        for a, s in (("0.5", "050"), ("0.75", "075"), ("1", "100"), ("1.25", "125"), ("1.5", "150"))
        + (("1.75", "175"), ("2", "200"))
    },
    "EfficientFormer-L1": "efficientformer_l1",
}


def _ours(name: str) -> int:
    if name in zoo.SPECS:  # counted from shapes; EfficientFormer's bias table needs its 7x7 map
        res = 224 if "Former" in name else 64 if "ViT" in name else 32
        return zoo.count_network(name, 1.0, res)[0]
    return zoo.count_network(name)[0]


def test_every_timm_family_is_compared():
    assert set(TIMM_NAMES) <= set(zoo.network_names())
    missing = {zoo.family_of(n) for n in zoo.network_names()} - {zoo.family_of(n) for n in TIMM_NAMES}
    assert missing == {"ShuffleNetV1", "ShuffleNetV2", "MobileViTv3", "MobileFormer"}
    for name in TIMM_NAMES.values():
        assert timm.is_model(name), name


@pytest.mark.parametrize("name", list(TIMM_NAMES))
def test_params_equal_timm(name):
    import torch

    with torch.device("meta"):  # shapes only: no weights are allocated or initialised
        model = timm.create_model(TIMM_NAMES[name], pretrained=False)
    assert _ours(name) == sum(p.numel() for p in model.parameters())
