"""The curriculum map: every lab page, its section, title and one-line pitch (English;
ui/locales/<lang>/labs.toml translates them).

app.py builds the navigation from this table and the Home page draws the map from it, so a new lab
is one row here plus its page file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    page: str  # file stem under labs/ (= url path)
    section: str  # key of SECTIONS
    title: str
    pitch: str
    icon: str = ":material/science:"


SECTIONS = {
    "start": "Start",
    "framework": "Framework core",
    "compiler": "Compiler",
    "compression": "Compression & models",
    "hardware": "AI chips",
    "distributed": "Distributed training",
    "inference": "Inference",
}

LABS = (
    Lab(
        "home", "start", "Curriculum map", "Every lab in one place, and what to try first.", ":material/map:"
    ),
    Lab(
        "graph_builder",
        "start",
        "Graph Builder",
        "Write a model in a few lines, see its graph, run it, count its FLOPs.",
        ":material/account_tree:",
    ),
    Lab(
        "autodiff",
        "framework",
        "Automatic differentiation",
        "Step through forward and reverse mode on any program.",
        ":material/functions:",
    ),
    Lab(
        "dynamic_static",
        "framework",
        "Dynamic vs static graphs",
        "What eager autograd, torch.fx, jit.trace and export see in the same code.",
        ":material/alt_route:",
    ),
    Lab(
        "scheduling",
        "framework",
        "Graph scheduling",
        "Ready queues, streams, devices and the critical path on a timeline.",
        ":material/view_timeline:",
    ),
    Lab(
        "custom_autograd",
        "framework",
        "Custom autograd functions",
        "Write a new op's forward and backward; the checker finds the classic mistakes.",
        ":material/edit_note:",
    ),
    Lab(
        "control_flow",
        "framework",
        "Control flow in graphs",
        "If and while on data: eager, tracing, AST conversion and torch.export each see something else.",
        ":material/fork_right:",
    ),
    Lab(
        "framework_landscape",
        "framework",
        "Framework landscape",
        "Theano to PyTorch 2: what each framework introduced, and where to try it here.",
        ":material/timeline:",
    ),
    Lab(
        "graph_passes",
        "compiler",
        "Graph passes",
        "Build a pass pipeline, step through it, measure what each pass buys.",
        ":material/tune:",
    ),
    Lab(
        "fusion",
        "compiler",
        "Operator fusion",
        "TVM's pattern kinds and post-dominator tree decide what fuses.",
        ":material/merge:",
    ),
    Lab(
        "memory_planning",
        "compiler",
        "Memory planning",
        "Tensor lifetimes packed into one arena: naive vs greedy strategies.",
        ":material/memory:",
    ),
    Lab(
        "gemm_tiling",
        "compiler",
        "GEMM optimisation",
        "Loop orders, tiling and a cache simulator count the misses.",
        ":material/grid_on:",
    ),
    Lab(
        "micro_kernel",
        "compiler",
        "GEMM micro-kernel",
        "Register blocking, packing and SIMD width: the best mr × nr tile for NEON, AVX2 and AVX-512.",
        ":material/grid_view:",
    ),
    Lab(
        "roofline",
        "compiler",
        "Roofline",
        "Is this kernel memory-bound or compute-bound on that chip?",
        ":material/show_chart:",
    ),
    Lab(
        "lowering",
        "compiler",
        "Lowering to LLVM",
        "Your graph's op as loops, then SSA, then machine code from real LLVM: JIT vs AOT.",
        ":material/stairs:",
    ),
    Lab(
        "cfg_passes",
        "compiler",
        "Passes on a control-flow graph",
        "Constant propagation, DCE, value numbering and LICM on basic blocks, step by step.",
        ":material/account_tree:",
    ),
    Lab(
        "ai_compilers",
        "compiler",
        "AI compiler landscape",
        "TVM, XLA, MLIR, TorchInductor and the Ascend graph engine, level by level.",
        ":material/layers:",
    ),
    Lab(
        "quantization",
        "compression",
        "Quantization",
        "Observers, PTQ and QAT on a model trained right here.",
        ":material/exposure:",
    ),
    Lab(
        "pruning",
        "compression",
        "Pruning & low-rank",
        "Magnitude, structured and 2:4 pruning; SVD with a rank slider.",
        ":material/content_cut:",
    ),
    Lab(
        "distillation",
        "compression",
        "Knowledge distillation",
        "A teacher's softened outputs train a smaller student.",
        ":material/school:",
    ),
    Lab(
        "lightweight_models",
        "compression",
        "Lightweight models",
        "Depthwise, group and inverted-residual blocks: MobileNet, ShuffleNet, EfficientNet, MobileViT.",
        ":material/phone_android:",
    ),
    Lab(
        "lightweight_zoo",
        "compression",
        "Lightweight model zoo",
        "MobileNet V1–V4, ShuffleNet V1/V2, EfficientNet B0–B7 and V2, MobileViT, MobileFormer and"
        " EfficientFormer, built and counted.",
        ":material/view_module:",
    ),
    Lab(
        "compression_pareto",
        "compression",
        "Compression Pareto view",
        "Every variant: accuracy vs size vs latency on one chart.",
        ":material/scatter_plot:",
    ),
    Lab(
        "execution_models",
        "hardware",
        "SIMD vs SIMT",
        "One kernel as SISD, SIMD, SIMT and SPMD; divergence and coalescing.",
        ":material/developer_board:",
    ),
    Lab(
        "gpu_occupancy",
        "hardware",
        "GPU occupancy",
        "Registers, shared memory and block size decide active warps.",
        ":material/speed:",
    ),
    Lab(
        "davinci_core",
        "hardware",
        "Ascend DaVinci AI Core",
        "Cube, vector and data-movement engines pipeline a tiled matmul.",
        ":material/memory_alt:",
    ),
    Lab(
        "systolic_array",
        "hardware",
        "Systolic arrays",
        "Output-, weight- and input-stationary dataflows, cycle by cycle.",
        ":material/apps:",
    ),
    Lab(
        "dist_memory",
        "distributed",
        "Training memory & ZeRO",
        "Weights, gradients, optimizer states and activations per device.",
        ":material/storage:",
    ),
    Lab(
        "fsdp",
        "distributed",
        "FSDP step by step",
        "Shard, all-gather, compute, reshard, reduce-scatter: one layer at a time.",
        ":material/stacks:",
    ),
    Lab(
        "collectives",
        "distributed",
        "Collectives & data parallel",
        "Ring all-reduce step by step, buckets, loss scaling.",
        ":material/sync_alt:",
    ),
    Lab(
        "data_parallel_designs",
        "distributed",
        "DP vs DDP vs parameter server",
        "GPU 0's bottleneck, the ring and server shards, and a real PyTorch RPC parameter server.",
        ":material/hub:",
    ),
    Lab(
        "tensor_parallel",
        "distributed",
        "Tensor parallel",
        "Megatron splits of MLP, attention and the vocabulary.",
        ":material/view_column:",
    ),
    Lab(
        "pipeline_parallel",
        "distributed",
        "Pipeline parallel",
        "GPipe, 1F1B and interleaved schedules and their bubbles.",
        ":material/view_week:",
    ),
    Lab(
        "parallel_3d",
        "distributed",
        "3D parallel & auto-parallel",
        "DP × TP × PP on a cluster; sharding strategies and redistribution.",
        ":material/view_in_ar:",
    ),
    Lab(
        "device_mapping",
        "distributed",
        "Topology-aware 3-D mapping",
        "Which GPU gets which TP, PP and DP rank, and what the links cost.",
        ":material/hub:",
    ),
    Lab(
        "strategy_propagation",
        "distributed",
        "Strategy propagation",
        "MindSpore-style sharding strategies spread through a graph, with the redistributions they need.",
        ":material/share:",
    ),
    Lab(
        "layout_explorer",
        "inference",
        "Memory layouts",
        "Strides, views, NCHW/NHWC/NC1HWC0 and fractal formats.",
        ":material/view_module:",
    ),
    Lab(
        "conv_algorithms",
        "inference",
        "Convolution algorithms",
        "Direct, im2col, Winograd and depthwise: same result, different cost.",
        ":material/filter:",
    ),
    Lab(
        "flash_attention",
        "inference",
        "Flash attention",
        "Tiled attention with online softmax and its memory traffic.",
        ":material/bolt:",
    ),
    Lab(
        "serving",
        "inference",
        "Serving & batching",
        "Static, dynamic and continuous batching; KV-cache memory; latency vs throughput.",
        ":material/dns:",
    ),
    Lab(
        "llm_analyzer",
        "inference",
        "LLM per-layer analyzer",
        "Every op of a decoder layer in prefill and decode: bytes, intensity, roofline, TTFT and TPOT.",
        ":material/stacked_bar_chart:",
    ),
    Lab(
        "model_conversion",
        "inference",
        "Model conversion",
        "torch to our IR directly and through ONNX: what each path keeps, folds or loses.",
        ":material/swap_horiz:",
    ),
    Lab(
        "inference_engine",
        "inference",
        "Inference engine pipeline",
        "Load, optimise, plan memory, pick a kernel per layer, run: measured on this machine.",
        ":material/settings:",
    ),
    Lab(
        "serving_system",
        "inference",
        "Serving system",
        "A Triton-style server: model repository, dynamic batching, ensembles, canary and rollback.",
        ":material/dns:",
    ),
    Lab(
        "edge_cloud",
        "inference",
        "Cloud vs edge",
        "Where should this model run? Latency, energy and size on phone, edge box and cloud.",
        ":material/cloud_sync:",
    ),
)


def lab(page: str) -> Lab:
    for item in LABS:
        if item.page == page:
            return item
    raise KeyError(page)
