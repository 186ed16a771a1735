"""AI System Lab engine: numpy + stdlib only (torch/onnx imported lazily inside interop code).

The engine is laid out like the book. ``core`` is what every chapter stands on and imports nothing
outside itself; each chapter package imports ``core`` and, where a lab really builds on another
chapter, that chapter (see tests/test_architecture.py and docs/house.md for the picture):

  core         ir, registry + ops/, interpreter, cost_model, language (parser) and program_format
               (printer), presets, budget, errors, trace, limits
  framework    autodiff (+ autodiff_rules), four_ways (manual/numeric/symbolic/automatic),
               graph_capture (dynamic vs static in PyTorch), scheduling, lab (page glue)
  compiler     passes/ (one file per pass), memory_plan, layouts, lab (cost ledger, buffer text)
  kernels      gemm, conv, conv_engine (float32 kernels an engine picks), micro_kernel (register
               blocking), tvm_gemm (the GEMM schedule in real TVM), cache_sim, roofline_model,
               flash_attention
  compression  models, training, datasets, quant/, prune, distill, lowrank, lab (the Pareto view)
  models       blocks (lightweight block algebra), networks (whole networks), analysis
  hw           simd/simt execution, occupancy (NVIDIA) and occupancy_amd (CDNA), davinci, systolic
  parallel     memory, memory_conventions, collectives, data_parallel, tensor_parallel, pipeline,
               sharding, auto, fsdp, dp_designs (DP vs DDP vs parameter server), rpc_run,
               device_mapping, strategy_propagation, graph_split,
               mixed_precision, real_run (real gloo processes)
  inference    serving, serving_system (Triton-style) and real_server, engine_pipeline and
               kernel_choice, kv_cache, llm_serving, llm_layers, edge_cloud, graph_serving
  interop      ONNX export and import, torch import, direct vs ONNX conversion, the torch zoo,
               onnxruntime comparison

The public API below is re-exported lazily, so ``import engine`` stays fast and a page that needs only
the layout math does not pay for the compiler passes.
"""

from __future__ import annotations

import importlib

from .core.errors import BudgetError, EngineError, GraphError, ProgramError, ShapeError  # noqa: F401 (re-exported)

# public name -> (module, attribute); attribute None means the module itself
_LAZY = {
    # core
    "Graph": ("core.ir", "Graph"),
    "Node": ("core.ir", "Node"),
    "GraphBuilder": ("core.ir", "GraphBuilder"),
    "Tensor": ("core.ir", "Tensor"),
    "validate": ("core.ir", "validate"),
    "format_graph": ("core.ir", "format_graph"),
    "get_op": ("core.registry", "get_op"),
    "op_names": ("core.registry", "op_names"),
    "run": ("core.interpreter", "run"),
    "parse_program": ("core.language", "parse_program"),
    "presets": ("core.presets", None),
    "preset": ("core.presets", "preset"),
    "preset_names": ("core.presets", "preset_names"),
    "cost": ("core.cost_model", "cost"),
    # interop
    "from_onnx": ("interop.onnx_import", "from_onnx"),
    "to_onnx": ("interop.onnx_export", "to_onnx"),
    "from_torch": ("interop.torch_import", "from_torch"),
    "convert": ("interop.conversion", "convert"),
    # framework
    "grad": ("framework.autodiff", "grad"),
    "forward_trace": ("framework.autodiff", "forward_trace"),
    "reverse_trace": ("framework.autodiff", "reverse_trace"),
    # compiler
    "plan_memory": ("compiler.memory_plan", "plan_memory"),
    "fuse": ("compiler.passes.fusion", "fuse"),
    "optimize": ("compiler.passes", "optimize"),
    "passes": ("compiler.passes", None),
    "layout": ("compiler.layouts", None),
    "graph_layouts": ("compiler.layouts", "graph_layouts"),
    "lower": ("compiler.lowering", "lower"),
    "parse_cfg_program": ("compiler.cfg", "parse_cfg_program"),
    "run_cfg": ("compiler.cfg", "run_cfg"),
    "cfg_passes": ("compiler.cfg", "cfg_passes"),
    "optimize_cfg": ("compiler.cfg", "optimize_cfg"),
    # kernels
    "roofline": ("kernels.roofline_model", "roofline"),
    "hardware_presets": ("kernels.roofline_model", "hardware_presets"),
    "conv2d": ("kernels.conv", "conv2d"),
    "micro_kernel": ("kernels.micro_kernel", "tile"),
    "tvm_gemm": ("kernels.tvm_gemm", "tvm_gemm"),
    # compression, hardware, distributed
    "quant": ("compression.quant", None),
    "hw": ("hw", None),
    "occupancy_amd": ("hw.occupancy_amd", "occupancy_amd"),
    "parallel": ("parallel", None),
    "pipeline_split": ("parallel.graph_split", "pipeline_split"),
    "tensor_split": ("parallel.graph_split", "tensor_split"),
    "fsdp_run": ("parallel.fsdp", "fsdp_run"),
    "dp_designs": ("parallel.dp_designs", None),
    "run_rpc": ("parallel.rpc_run", "run_rpc"),
    "map_cluster": ("parallel.device_mapping", "map_cluster"),
    "compare_orders": ("parallel.device_mapping", "compare_orders"),
    "propagate_strategy": ("parallel.strategy_propagation", "propagate"),
    "search_strategies": ("parallel.strategy_propagation", "search"),
    "quantize": ("compression.graph_quant", "quantize"),
    "quant_report": ("compression.graph_quant", "quant_report"),
    # inference lenses on the student's graph
    "model_from_graph": ("inference.graph_serving", "model_from_graph"),
    "batch_cost_curve": ("inference.graph_serving", "batch_cost_curve"),
    "graph_edge_report": ("inference.graph_serving", "graph_edge_report"),
    "run_engine": ("inference.engine_pipeline", "run_pipeline"),
    "simulate_serving": ("inference.serving_system", "simulate_serving"),
    "serve_real": ("inference.real_server", "serve_real"),
    "analyze_llm": ("inference.llm_layers", "analyze"),
    "simulate": ("hw.graph_sim", "simulate"),
    "prune": ("compression.graph_prune", "prune"),
    "prune_report": ("compression.graph_prune", "prune_report"),
    "network_names": ("models.zoo", "network_names"),
    "build_network": ("models.zoo", "build_network"),
}

__all__ = sorted([*_LAZY, "EngineError", "ProgramError", "ShapeError", "BudgetError", "GraphError"])


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
