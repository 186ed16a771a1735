"""AI System Lab engine: numpy + stdlib only (torch/onnx imported lazily inside interop code).

The public API is re-exported here lazily, so ``import engine`` stays fast and a page that needs only
the layout math does not pay for the compiler passes.

Labs and their modules:
  house        ir, registry, ops_*, interpreter, language, presets, cost, interop
  framework    autodiff, autodiff_rules, symbolic, torch_graphs, scheduling
  compiler     passes/ (one file per pass), memory_plan
  kernels      layout, conv, gemm, cache_sim, roofline, flash_attention
  compression  quant/, prune, distill, lowrank, train, datasets
  hardware     hw/ (simd, occupancy, davinci, systolic)
  distributed  parallel/ (memory, collectives, tensor_parallel, pipeline, auto, real_run)
"""
from __future__ import annotations

import importlib
import sys
import types

from .errors import BudgetError, EngineError, GraphError, ProgramError, ShapeError

# public name -> (module, attribute); attribute None means the module itself
_LAZY = {
    # house
    "Graph": ("ir", "Graph"), "Node": ("ir", "Node"), "GraphBuilder": ("ir", "GraphBuilder"),
    "Tensor": ("ir", "Tensor"), "validate": ("ir", "validate"), "format_graph": ("ir", "format_graph"),
    "get_op": ("registry", "get_op"), "op_names": ("registry", "op_names"),
    "run": ("interpreter", "run"),
    "parse_program": ("language", "parse_program"),
    "presets": ("presets", None), "preset": ("presets", "preset"),
    "preset_names": ("presets", "preset_names"),
    "cost": ("cost", "cost"),
    "from_onnx": ("interop", "from_onnx"), "to_onnx": ("interop", "to_onnx"),
    "from_torch": ("interop", "from_torch"),
    # framework core
    "grad": ("autodiff", "grad"), "forward_trace": ("autodiff", "forward_trace"),
    "reverse_trace": ("autodiff", "reverse_trace"),
    # compiler
    "plan_memory": ("memory_plan", "plan_memory"),
    "fuse": ("passes.fusion", "fuse"), "optimize": ("passes", "optimize"),
    "passes": ("passes", None),
    # kernels
    "layout": ("layout", None), "roofline": ("roofline", "roofline"),
    "hardware_presets": ("roofline", "hardware_presets"), "conv2d": ("conv", "conv2d"),
    # compression, hardware, distributed
    "quant": ("quant", None), "hw": ("hw", None), "parallel": ("parallel", None),
}

__all__ = sorted([*_LAZY, "EngineError", "ProgramError", "ShapeError", "BudgetError",
                  "GraphError"])


def __getattr__(name: str):
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__


# Public functions named like the module that defines them (``engine.cost`` is cost.cost,
# ``engine.roofline`` is roofline.roofline). Importing such a submodule makes Python bind the module
# to the package attribute, which would shadow the function; the package keeps the function instead
# (the module stays reachable through sys.modules / importlib.import_module).
_FUNCTIONS_NAMED_LIKE_MODULES = {name for name, (mod, attr) in _LAZY.items() if mod == attr == name}


class _EnginePackage(types.ModuleType):
    def __setattr__(self, name, value):
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _EnginePackage
