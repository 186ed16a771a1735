"""The AI-compiler landscape as data: five compilers, five levels of lowering, a source for every fact.

The table, in stages:
  1. :data:`SOURCES` — every primary source (paper or official documentation) by a short key;
  2. :data:`LEVELS` — the levels every stack passes through, top to bottom (front end, graph IR,
     tensor/loop IR, low-level IR and code generation, hardware), each with the labs of this app
     that show that level;
  3. :data:`COMPILERS` — TVM, XLA, an MLIR-based stack (IREE), TorchInductor with Triton, and the
     Ascend graph engine (GE) of CANN, each with a one-line summary;
  4. :data:`CELLS` — one cell per (compiler, level): the representation used there and what that
     level does, each fact with its source key.
:func:`landscape` returns the whole table as a :class:`Landscape` (checked: every source key
resolves, every pair has its cell); :meth:`Landscape.level` finds a level by key.
Not handled: versions (each fact is as its cited source describes it), compilers beyond these
five, and numbers (this is a map of who does what, not a benchmark). TVM itself is not installed
here: the GEMM lab's schedule language is the stand-in for its tensor level.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    url: str


@dataclass(frozen=True)
class Fact:
    text: str
    source: str  # key of SOURCES


@dataclass(frozen=True)
class Level:
    key: str
    title: str
    description: str
    labs: tuple[str, ...]  # pages of this app (labs/<page>.py) that show this level


@dataclass(frozen=True)
class Compiler:
    key: str
    name: str
    summary: Fact


@dataclass(frozen=True)
class Cell:
    compiler: str
    level: str
    ir: str  # what the program is at this level, in this compiler
    facts: tuple[Fact, ...]


def _s(key: str, title: str, url: str) -> Source:
    return Source(key, title, url)


def _c(compiler: str, level: str, ir: str, *facts: tuple[str, str]) -> Cell:
    return Cell(compiler, level, ir, tuple(Fact(text, src) for text, src in facts))


# fmt: off
# The table keeps one entry per call, as a table reads (ruff would put every string on its own line).
SOURCES = {s.key: s for s in (
    _s("tvm", "Chen et al., TVM: An Automated End-to-End Optimizing Compiler for Deep Learning, "
       "OSDI 2018", "https://www.usenix.org/conference/osdi18/presentation/chen"),
    _s("autotvm", "Chen et al., Learning to Optimize Tensor Programs, NeurIPS 2018",
       "https://arxiv.org/abs/1805.08166"),
    _s("ansor", "Zheng et al., Ansor: Generating High-Performance Tensor Programs for Deep Learning, "
       "OSDI 2020", "https://www.usenix.org/conference/osdi20/presentation/zheng"),
    _s("tensorir", "Feng et al., TensorIR: An Abstraction for Automatic Tensorized Program "
       "Optimization, ASPLOS 2023", "https://arxiv.org/abs/2207.04296"),
    _s("relax", "Lai et al., Relax: Composable Abstractions for End-to-End Dynamic Machine Learning, "
       "2023", "https://arxiv.org/abs/2311.02103"),
    _s("xla-arch", "OpenXLA documentation: XLA architecture", "https://openxla.org/xla/architecture"),
    _s("xla", "OpenXLA documentation: XLA overview", "https://openxla.org/xla"),
    _s("stablehlo", "OpenXLA documentation: StableHLO", "https://openxla.org/stablehlo"),
    _s("jax", "JAX repository README", "https://github.com/jax-ml/jax"),
    _s("mlir", "Lattner et al., MLIR: Scaling Compiler Infrastructure for Domain Specific Computation, "
       "CGO 2021", "https://arxiv.org/abs/2002.11054"),
    _s("linalg", "MLIR documentation: the linalg dialect", "https://mlir.llvm.org/docs/Dialects/Linalg/"),
    _s("iree", "IREE documentation: overview", "https://iree.dev/"),
    _s("iree-deploy", "IREE documentation: deployment configurations",
       "https://iree.dev/guides/deployment-configurations/"),
    _s("pt2", "Ansel et al., PyTorch 2: Faster Machine Learning Through Dynamic Python Bytecode "
       "Transformation and Graph Compilation, ASPLOS 2024", "https://doi.org/10.1145/3620665.3640366"),
    _s("torch-ir", "PyTorch documentation: IRs (Core ATen IR and Prims IR)",
       "https://pytorch.org/docs/stable/torch.compiler_ir.html"),
    _s("triton", "Tillet, Kung and Cox, Triton: An Intermediate Language and Compiler for Tiled Neural "
       "Network Computations, MAPL 2019",
       "https://www.eecs.harvard.edu/~htk/publication/2019-mapl-tillet-kung-cox.pdf"),
    _s("triton-intro", "Triton documentation: introduction (blocked programs, scalar threads)",
       "https://triton-lang.org/main/programming-guide/chapter-1/introduction.html"),
    _s("triton-stages", "Triton source: the compile stages of the NVIDIA back end",
       "https://github.com/triton-lang/triton/blob/main/third_party/nvidia/backend/compiler.py"),
    _s("triton-backends", "Triton source: the back ends under third_party/ (amd, nvidia)",
       "https://github.com/triton-lang/triton/tree/main/third_party"),
    _s("ge-background", "Huawei CANN documentation: background of introducing the GE",
       "https://www.hiascend.com/document/detail/en/canncommercial/850/graph/graphdevg/"
       "atlasag_25_0081.html"),
    _s("ge-principles", "Huawei CANN documentation: working principles of the GE",
       "https://www.hiascend.com/document/detail/en/canncommercial/850/graph/graphdevg/"
       "atlasag_25_0086.html"),
    _s("ge-arch", "CANN GE repository: GE architecture introduction",
       "https://gitcode.com/cann/ge/blob/master/docs/en/design/architecture.md"),
    _s("ge-split", "CANN GE repository: graph split feature analysis",
       "https://gitcode.com/cann/ge/blob/master/docs/en/design/features/graph_splitter.md"),
    _s("tbe", "Huawei CANN documentation: TBE introduction",
       "https://www.hiascend.com/document/detail/en/canncommercial/800/opdevg/tbeaicpudevg/"
       "atlasopdev_10_0010.html"),
    _s("tbe-dsl", "Huawei TBE custom operator development guide: DSL overview",
       "https://support.huawei.com/enterprise/en/doc/EDOC1100164852/e076983c/overview"),
    _s("ascend", "Liao et al., Ascend: a Scalable and Unified Architecture for Ubiquitous Deep Neural "
       "Network Computing, HPCA 2021", "https://doi.org/10.1109/HPCA51647.2021.00071"),
)}

LEVELS = (
    Level("frontend", "Front end", "How the model reaches the compiler: captured from running code, "
          "traced, or imported from a model file.", ("graph_builder", "dynamic_static", "model_conversion")),
    Level("graph", "Graph IR", "The whole model as a dataflow graph of tensor ops: fusion, constant "
          "folding, layouts and memory planning see every op at once.",
          ("graph_passes", "fusion", "memory_planning")),
    Level("tensor", "Tensor and loop IR", "One kernel as loops over tensors: tiling, reordering, "
          "vectorising and mapping onto threads or cores decide its speed.", ("gemm_tiling", "lowering")),
    Level("lowlevel", "Low-level IR and code generation", "SSA code in basic blocks, turned into machine "
          "code by a general-purpose back end (often LLVM) or a vendor's tools.", ("lowering", "cfg_passes")),
    Level("hardware", "Hardware targets", "Where the machine code runs, and what its execution model asks "
          "of the levels above.", ("execution_models", "davinci_core", "roofline")),
)

COMPILERS = (
    Compiler("tvm", "Apache TVM", Fact("An open deep-learning compiler: a graph IR above a tensor-level "
             "schedule language, with a learned search for fast schedules.", "tvm")),
    Compiler("xla", "XLA (OpenXLA)", Fact("A compiler for linear algebra in ML: framework programs in, "
             "HLO passes in the middle, LLVM-generated code out.", "xla-arch")),
    Compiler("mlir", "MLIR-based (IREE)", Fact("An end-to-end compiler and runtime built on MLIR's "
             "stacked dialects, from the datacenter down to bare-metal devices.", "iree")),
    Compiler("inductor", "TorchInductor + Triton", Fact("PyTorch 2's compiler: Dynamo captures graphs "
             "from running Python, Inductor fuses them and writes Triton or C++ kernels.", "pt2")),
    Compiler("ge", "Ascend GE (CANN)", Fact("The graph engine of Huawei's CANN: builds, optimises and "
             "runs Ascend IR graphs on Ascend processors.", "ge-background")),
)

CELLS = (
    _c("tvm", "frontend", "framework model → graph",
       ("Takes a model from an existing deep-learning framework and turns it into a computational "
        "graph.", "tvm")),
    _c("tvm", "graph", "Relay, then Relax",
       ("Graph rewrites: operator fusion by each op's pattern kind, constant folding, static memory "
        "planning and data layout transformation.", "tvm"),
       ("Relax keeps symbolic shapes in the graph and calls loop-level functions directly, for dynamic "
        "models.", "relax")),
    _c("tvm", "tensor", "tensor expression + schedule, TensorIR",
       ("An operator is a tensor expression; schedule primitives (split, reorder, tile, vectorize, "
        "unroll, bind to threads, tensorize) turn it into loops.", "tvm"),
       ("Schedules are searched with a learned cost model (AutoTVM).", "autotvm"),
       ("Ansor generates the search space itself instead of filling in hand-written templates.", "ansor"),
       ("TensorIR makes a block of loops the unit that schedules transform and map onto tensor "
        "instructions.", "tensorir")),
    _c("tvm", "lowlevel", "LLVM IR, GPU source code",
       ("Code generation uses LLVM for CPUs and writes source code for GPU back ends such as CUDA, "
        "OpenCL and Metal.", "tvm")),
    _c("tvm", "hardware", "CPUs, GPUs, accelerators",
       ("Competitive with hand-tuned libraries on low-power CPUs, mobile GPUs and server GPUs, and able "
        "to target a new FPGA-based accelerator (VTA).", "tvm")),
    _c("xla", "frontend", "StableHLO",
       ("Takes models from PyTorch, TensorFlow and JAX.", "xla"),
       ("StableHLO is the portable set of operations between ML frameworks and ML compilers.",
        "stablehlo")),
    _c("xla", "graph", "HLO",
       ("Target-independent passes on HLO: common-subexpression elimination, op fusion, and buffer "
        "analysis that assigns run-time memory.", "xla-arch"),
       ("Specialising to known tensor shapes allows more aggressive constant propagation.", "xla-arch")),
    _c("xla", "tensor", "target-specific HLO: fusions and library calls",
       ("A back end optimises HLO again for its target: the GPU back end fuses in ways that suit the GPU "
        "programming model and decides how to split the work into streams.", "xla-arch"),
       ("A back end may also match ops or groups of ops to optimised library calls.", "xla-arch")),
    _c("xla", "lowlevel", "LLVM IR",
       ("The CPU and GPU back ends emit LLVM IR and let LLVM optimise it and generate native code; "
        "NVIDIA GPUs are reached through LLVM's NVPTX back end.", "xla-arch")),
    _c("xla", "hardware", "CPUs, GPUs, TPUs",
       ("Runs on GPUs, CPUs and ML accelerators, with a pluggable way to add back ends.", "xla"),
       ("JAX uses XLA to compile NumPy-style programs for TPUs, GPUs and other accelerators.", "jax")),
    _c("mlir", "frontend", "framework dialects",
       ("IREE imports models from JAX, ONNX, PyTorch, TensorFlow and TensorFlow Lite.", "iree")),
    _c("mlir", "graph", "dialects lowered step by step",
       ("MLIR is one infrastructure for many IRs: each dialect is a level, and a program is lowered "
        "progressively from one dialect to the next.", "mlir"),
       ("IREE's IR holds the scheduling logic (which kernels run, when, on which buffers) together with "
        "the kernels, so both are optimised together.", "iree")),
    _c("mlir", "tensor", "linalg, then vector and loops",
       ("Linalg's structured ops keep their loops implicit, so tiling and fusion transform the op itself "
        "before any loop is written out.", "linalg")),
    _c("mlir", "lowlevel", "LLVM IR, SPIR-V",
       ("Dense computations for CPUs are compiled by LLVM; GPUs are reached through Vulkan (SPIR-V), "
        "CUDA, ROCm or Metal back ends.", "iree-deploy")),
    _c("mlir", "hardware", "CPUs, GPUs, bare metal",
       ("Stable targets: CPUs, bare-metal CPUs, and GPUs through Vulkan, ROCm, CUDA and Metal.",
        "iree-deploy")),
    _c("inductor", "frontend", "TorchDynamo → FX graph",
       ("TorchDynamo reads Python bytecode as it runs and extracts FX graphs of tensor ops, guarded by "
        "conditions that trigger a recompile; what it cannot capture falls back to Python.", "pt2"),
       ("AOTAutograd traces the backward pass ahead of time, so forward and backward both reach the "
        "back end as graphs.", "pt2")),
    _c("inductor", "graph", "ATen: Core ATen IR, Prims IR",
       ("Ops are decomposed into smaller sets: Core ATen IR is functional, Prims IR adds explicit type "
        "promotion and broadcasting.", "torch-ir"),
       ("Inductor's scheduler fuses ops, along a chain and across siblings, before writing kernels.",
        "pt2")),
    _c("inductor", "tensor", "Inductor loop IR → Triton",
       ("Inductor lowers to a define-by-run loop-level IR and generates Triton kernels for GPUs and "
        "C++/OpenMP for CPUs.", "pt2"),
       ("Triton is a language and compiler for tiled computations: a program works on blocks (tiles) "
        "of data rather than on one element per thread.", "triton"),
       ("Within a block, memory coalescing, shared-memory management and scheduling are the compiler's "
        "job; across blocks they stay the programmer's.", "triton-intro")),
    _c("inductor", "lowlevel", "Triton IR → TritonGPU IR → LLVM IR → PTX",
       ("Triton compiles in stages: Triton IR and TritonGPU IR (MLIR dialects), then LLVM IR, then PTX "
        "and a cubin on NVIDIA GPUs.", "triton-stages")),
    _c("inductor", "hardware", "GPUs, CPUs",
       ("Triton has back ends for NVIDIA and AMD GPUs.", "triton-backends"),
       ("Inductor's C++/OpenMP kernels run on CPUs.", "pt2")),
    _c("ge", "frontend", "Ascend IR",
       ("Online, framework adapters convert graphs to Ascend IR: TorchAir from PyTorch's ATen IR, "
        "TF Adapter from TensorFlow's GraphDef.", "ge-arch"),
       ("Offline, the ATC tool parses model files such as ONNX or TensorFlow .pb into Ascend IR and "
        "compiles them to an offline .om model.", "ge-principles")),
    _c("ge", "graph", "Ascend IR graph",
       ("Shapes, types and formats are inferred ahead of time, so memory for every tensor can be "
        "allocated statically.", "ge-principles"),
       ("Hardware-independent optimisations such as constant folding and redundant-branch elimination "
        "run on the graph.", "ge-principles"),
       ("The graph is split by execution engine (AI Core, AI CPU, DVPP) and by static versus dynamic "
        "shapes.", "ge-split")),
    _c("ge", "tensor", "TBE: compute + schedule",
       ("TBE develops AI Core operators on top of TVM: a compute description plus a schedule.", "tbe"),
       ("Its passes add double buffering, pipeline synchronisation, memory allocation, instruction "
        "mapping and tiling for the Cube unit.", "tbe-dsl")),
    _c("ge", "lowlevel", "C-style code → operator binary",
       ("A code generator writes C-style code that the compiler turns into the operator's binary.",
        "tbe-dsl")),
    _c("ge", "hardware", "Ascend processors (DaVinci cores)",
       ("One architecture from IoT devices to data centres, with heterogeneous compute units in each "
        "core: Cube (matrices), Vector and Scalar.", "ascend")),
)
# fmt: on


@dataclass(frozen=True)
class Landscape:
    levels: tuple[Level, ...]
    compilers: tuple[Compiler, ...]
    cells: tuple[Cell, ...]
    sources: tuple[Source, ...]

    def level(self, key: str) -> Level:
        for lv in self.levels:
            if lv.key == key:
                return lv
        raise EngineError(f"unknown level {key!r}; the levels are {', '.join(lv.key for lv in self.levels)}")

    def cell(self, compiler: str, level: str) -> Cell:
        for c in self.cells:
            if (c.compiler, c.level) == (compiler, level):
                return c
        raise EngineError(f"no cell for compiler {compiler!r} at level {level!r}")

    def source(self, key: str) -> Source:
        if key not in SOURCES:
            raise EngineError(f"unknown source {key!r}")
        return SOURCES[key]

    @property
    def facts(self) -> tuple[Fact, ...]:
        return tuple(c.summary for c in self.compilers) + tuple(f for c in self.cells for f in c.facts)


def landscape() -> Landscape:
    """The whole table, checked: every fact's source exists, every (compiler, level) has one cell."""
    table = Landscape(LEVELS, COMPILERS, CELLS, tuple(SOURCES.values()))
    for fact in table.facts:
        if fact.source not in SOURCES:
            raise EngineError(f"the fact {fact.text[:40]!r} cites an unknown source {fact.source!r}")
    pairs = [(c.compiler, c.level) for c in CELLS]
    want = [(c.key, lv.key) for c in COMPILERS for lv in LEVELS]
    if sorted(pairs) != sorted(want):
        raise EngineError("the landscape needs exactly one cell per compiler and level")
    return table
