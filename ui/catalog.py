"""The curriculum map: every lab page, its section, title and one-line pitch (EN / 中文).

app.py builds the navigation from this table and the Home page draws the map from it, so a new lab
is one row here plus its page file.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    page: str          # file stem under pages/ (= url path)
    section: str       # key of SECTIONS
    title_en: str
    title_zh: str
    pitch_en: str
    pitch_zh: str
    icon: str = ":material/science:"


SECTIONS = {
    "start": ("Start", "开始"),
    "framework": ("Framework core", "AI 框架核心"),
    "compiler": ("Compiler", "AI 编译器"),
    "compression": ("Compression & models", "模型压缩与轻量模型"),
    "hardware": ("Hardware", "AI 芯片"),
    "distributed": ("Distributed training", "分布式训练"),
    "inference": ("Inference", "推理系统"),
}

LABS = (
    Lab("home", "start", "Curriculum map", "课程地图",
        "Every lab in one place, and what to try first.", "所有实验一览，以及从哪里开始。",
        ":material/map:"),
    Lab("graph_builder", "start", "Graph Builder", "计算图构建器",
        "Write a model in a few lines, see its graph, run it, count its FLOPs.",
        "用几行代码写出模型，查看计算图、运行它并统计 FLOPs。", ":material/account_tree:"),
    Lab("autodiff", "framework", "Automatic differentiation", "自动微分",
        "Step through forward and reverse mode on any program.",
        "在任意程序上单步执行前向模式与反向模式。", ":material/functions:"),
    Lab("dynamic_static", "framework", "Dynamic vs static graphs", "动态图与静态图",
        "What eager autograd, torch.fx, jit.trace and export see in the same code.",
        "同一段代码在 eager、torch.fx、jit.trace 与 export 眼中的样子。", ":material/alt_route:"),
    Lab("scheduling", "framework", "Graph scheduling", "计算图调度与执行",
        "Ready queues, streams, devices and the critical path on a timeline.",
        "就绪队列、多流、多设备与关键路径的时间线。", ":material/view_timeline:"),
    Lab("graph_passes", "compiler", "Graph passes", "图优化 Pass",
        "Build a pass pipeline, step through it, measure what each pass buys.",
        "搭建 Pass 流水线，逐步执行，量化每个 Pass 的收益。", ":material/tune:"),
    Lab("fusion", "compiler", "Operator fusion", "算子融合",
        "TVM's pattern kinds and post-dominator tree decide what fuses.",
        "TVM 的算子模式与后支配树决定哪些算子能融合。", ":material/merge:"),
    Lab("memory_planning", "compiler", "Memory planning", "内存规划",
        "Tensor lifetimes packed into one arena: naive vs greedy strategies.",
        "把张量生命周期装进同一块内存：朴素与贪心策略对比。", ":material/memory:"),
    Lab("gemm_tiling", "compiler", "GEMM optimisation", "GEMM 优化",
        "Loop orders, tiling and a cache simulator count the misses.",
        "循环顺序、分块与缓存模拟器统计缺失次数。", ":material/grid_on:"),
    Lab("roofline", "compiler", "Roofline", "Roofline 模型",
        "Is this kernel memory-bound or compute-bound on that chip?",
        "这个算子在那块芯片上是访存受限还是计算受限？", ":material/show_chart:"),
    Lab("quantization", "compression", "Quantization", "量化",
        "Observers, PTQ and QAT on a model trained right here.",
        "在这里训练的模型上做观察器、PTQ 与 QAT。", ":material/exposure:"),
    Lab("pruning", "compression", "Pruning & low-rank", "剪枝与低秩分解",
        "Magnitude, structured and 2:4 pruning; SVD with a rank slider.",
        "幅值、结构化与 2:4 剪枝；带秩滑块的 SVD 分解。", ":material/content_cut:"),
    Lab("distillation", "compression", "Knowledge distillation", "知识蒸馏",
        "A teacher's softened outputs train a smaller student.",
        "教师模型的软化输出训练更小的学生模型。", ":material/school:"),
    Lab("lightweight_models", "compression", "Lightweight models", "轻量化模型",
        "Depthwise, group and inverted-residual blocks: MobileNet, ShuffleNet, EfficientNet, MobileViT.",
        "深度可分离、分组与倒残差：MobileNet、ShuffleNet、EfficientNet、MobileViT。",
        ":material/phone_android:"),
    Lab("compression_pareto", "compression", "Compression Pareto view", "压缩帕累托视图",
        "Every variant: accuracy vs size vs latency on one chart.",
        "所有变体：精度、大小与时延画在一张图上。", ":material/scatter_plot:"),
    Lab("execution_models", "hardware", "SIMD vs SIMT", "SIMD 与 SIMT",
        "One kernel as SISD, SIMD, SIMT and SPMD; divergence and coalescing.",
        "同一内核的 SISD、SIMD、SIMT、SPMD 执行；分支发散与访存合并。", ":material/developer_board:"),
    Lab("gpu_occupancy", "hardware", "GPU occupancy", "GPU 占用率",
        "Registers, shared memory and block size decide active warps.",
        "寄存器、共享内存与线程块大小决定活跃 warp 数。", ":material/speed:"),
    Lab("davinci_core", "hardware", "Ascend DaVinci AI Core", "昇腾达芬奇 AI Core",
        "Cube, vector and data-movement engines pipeline a tiled matmul.",
        "Cube、Vector 与搬运引擎流水化执行分块矩阵乘。", ":material/memory_alt:"),
    Lab("systolic_array", "hardware", "Systolic arrays", "脉动阵列",
        "Output-, weight- and input-stationary dataflows, cycle by cycle.",
        "输出、权重、输入驻留数据流，逐周期演示。", ":material/apps:"),
    Lab("dist_memory", "distributed", "Training memory & ZeRO", "训练显存与 ZeRO",
        "Weights, gradients, optimizer states and activations per device.",
        "每张卡上的权重、梯度、优化器状态与激活。", ":material/storage:"),
    Lab("collectives", "distributed", "Collectives & data parallel", "集合通信与数据并行",
        "Ring all-reduce step by step, buckets, loss scaling.",
        "逐步演示 Ring All-Reduce、梯度桶与损失缩放。", ":material/sync_alt:"),
    Lab("tensor_parallel", "distributed", "Tensor parallel", "张量并行",
        "Megatron splits of MLP, attention and the vocabulary.",
        "Megatron 对 MLP、注意力与词表的切分。", ":material/view_column:"),
    Lab("pipeline_parallel", "distributed", "Pipeline parallel", "流水线并行",
        "GPipe, 1F1B and interleaved schedules and their bubbles.",
        "GPipe、1F1B 与交错调度及其气泡。", ":material/view_week:"),
    Lab("parallel_3d", "distributed", "3D parallel & auto-parallel", "3D 并行与自动并行",
        "DP × TP × PP on a cluster; sharding strategies and redistribution.",
        "集群上的 DP × TP × PP；切分策略与重排布。", ":material/view_in_ar:"),
    Lab("layout_explorer", "inference", "Memory layouts", "内存布局",
        "Strides, views, NCHW/NHWC/NC1HWC0 and fractal formats.",
        "步长、视图、NCHW/NHWC/NC1HWC0 与分形格式。", ":material/view_module:"),
    Lab("conv_algorithms", "inference", "Convolution algorithms", "卷积算法",
        "Direct, im2col, Winograd and depthwise: same result, different cost.",
        "直接卷积、im2col、Winograd 与深度可分离：结果相同，代价不同。", ":material/filter:"),
    Lab("flash_attention", "inference", "Flash attention", "Flash Attention",
        "Tiled attention with online softmax and its memory traffic.",
        "分块注意力、在线 softmax 及其访存量。", ":material/bolt:"),
    Lab("serving", "inference", "Serving & batching", "推理服务与批处理",
        "Static, dynamic and continuous batching; KV-cache memory; latency vs throughput.",
        "静态、动态与连续批处理；KV 缓存显存；时延与吞吐的权衡。", ":material/dns:"),
    Lab("edge_cloud", "inference", "Cloud vs edge", "云侧与端侧推理",
        "Where should this model run? Latency, energy and size on phone, edge box and cloud.",
        "模型该放在哪里跑？手机、边缘盒子与云端的时延、能耗与体积。", ":material/cloud_sync:"),
)


def lab(page: str) -> Lab:
    for item in LABS:
        if item.page == page:
            return item
    raise KeyError(page)
