"""The framework landscape as data: what each framework introduced, when, and where it says so.

Three sourced tables (English; the UI translates through its catalog):
  1. :data:`CONCEPTS` — the ideas the timeline filters by (define-by-run, static graphs,
     dynamic-static unification, automatic differentiation, automatic parallelism, compilers), each
     with the labs of this app where a student tries it;
  2. :data:`MILESTONES` — one row per framework or major version: the year of its first public
     release, the organisation, the concepts it brought or made central, one sentence
     on what it introduced, and its primary sources (papers, official announcements and docs);
  3. :data:`MINDSPORE` — the components of MindSpore's architecture as its documentation draws them
     (r1.5 "Overall Architecture"), placed on a grid (row = layer) for the clickable diagram, each
     with a description, its source and the labs that show the idea.
:func:`milestones_with` filters by concept; :func:`check_tables` verifies the tables' own
consistency (every tag is a concept, every source an https address, years in order of release).
Not handled: a complete history — frameworks and versions that did not introduce one of the
concepts above are left out, and "introduced" means "brought into wide use", not "invented".
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import EngineError


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Concept:
    key: str
    name: str
    description: str
    labs: tuple[str, ...]  # page stems (labs/<page>.py) where the student tries it


@dataclass(frozen=True)
class Milestone:
    key: str
    name: str
    year: int  # year of the first public release
    org: str
    tags: tuple[str, ...]  # concept keys
    introduced: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Component:
    key: str
    name: str
    row: int  # layer in the diagram, 0 = hardware at the bottom
    col: float  # left edge, in columns of a 12-column grid
    width: float
    description: str
    labs: tuple[str, ...]
    source: Source


def _s(title: str, url: str) -> Source:
    return Source(title, url)


# fmt: off
# The tables keep one entry per call, as a table reads (ruff would put every string on its own line).
CONCEPTS = (
    Concept("define_by_run", "Define-by-run (dynamic graphs)",
            "The graph is recorded while ordinary Python runs, so if and while simply work and every "
            "call may build a different graph.", ("dynamic_static", "autodiff", "custom_autograd")),
    Concept("static_graph", "Static graphs (define-and-run)",
            "The whole graph is built first and then run many times, which lets a framework optimise "
            "and place it as a whole.", ("dynamic_static", "graph_passes", "memory_planning")),
    Concept("unification", "Dynamic-static unification",
            "Write eager code, get a graph: by tracing, by rewriting the Python syntax tree, or by "
            "capturing bytecode with guards.", ("control_flow", "dynamic_static")),
    Concept("autodiff", "Automatic differentiation",
            "Gradients from the program itself: a tape recorded by operator overloading, or a "
            "derivative program made by source transformation.",
            ("autodiff", "custom_autograd", "control_flow")),
    Concept("auto_parallel", "Automatic parallelism",
            "The framework decides how tensors and ops are split over devices from a few annotations "
            "or a cost model.", ("parallel_3d", "strategy_propagation", "tensor_parallel")),
    Concept("compiler", "Compilers",
            "Graphs are optimised and lowered to fused kernels by a compiler instead of calling one "
            "library kernel per op.", ("graph_passes", "fusion", "ai_compilers", "lowering")),
)

MS_ARCH = _s("MindSpore docs r1.5, Overall Architecture",
             "https://www.mindspore.cn/docs/programming_guide/en/r1.5/architecture.html")
MS_MODES = _s("MindSpore docs r2.0, Combination of Dynamic and Static Graphs",
              "https://www.mindspore.cn/docs/en/r2.0/design/dynamic_graph_and_static_graph.html")
MS_MINDIR = _s("MindSpore docs r1.5, MindSpore IR (MindIR)",
               "https://www.mindspore.cn/docs/programming_guide/en/r1.5/design/mindir.html")
MS_README = _s("MindSpore README: Automatic Differentiation, Automatic Parallel",
               "https://github.com/mindspore-ai/mindspore")

MILESTONES = (
    Milestone("theano", "Theano", 2010, "Université de Montréal (LISA)",
              ("static_graph", "autodiff", "compiler"),
              "Symbolic expression graphs, differentiated symbolically, optimised and compiled to C and "
              "CUDA code.",
              (_s("Bergstra et al., Theano: A CPU and GPU Math Compiler in Python, SciPy 2010",
                  "https://conference.scipy.org/proceedings/scipy2010/pdfs/bergstra.pdf"),)),
    Milestone("caffe", "Caffe", 2014, "BVLC, UC Berkeley", ("static_graph",),
              "A network declared as a fixed list of layers in a configuration file, run by a C++/CUDA "
              "core; a shared model zoo.",
              (_s("Jia et al., Caffe: Convolutional Architecture for Fast Feature Embedding, ACM MM 2014",
                  "https://arxiv.org/abs/1408.5093"),)),
    Milestone("tensorflow1", "TensorFlow 1.x", 2015, "Google", ("static_graph", "autodiff"),
              "A dataflow graph built first and run in sessions, placed over devices and machines, with "
              "gradients added to the graph as more graph.",
              (_s("Abadi et al., TensorFlow: Large-Scale Machine Learning on Heterogeneous Distributed "
                  "Systems (whitepaper, Nov 2015)", "https://arxiv.org/abs/1603.04467"),
               _s("Abadi et al., TensorFlow: A System for Large-Scale Machine Learning, OSDI 2016",
                  "https://www.usenix.org/conference/osdi16/technical-sessions/presentation/abadi"))),
    Milestone("chainer", "Chainer", 2015, "Preferred Networks", ("define_by_run", "autodiff"),
              "Define-by-run: the graph for backpropagation is recorded while ordinary Python code runs.",
              (_s("Tokui et al., Chainer: A Deep Learning Framework for Accelerating the Research Cycle, "
                  "KDD 2019", "https://arxiv.org/abs/1908.00213"),)),
    Milestone("mxnet", "MXNet", 2015, "DMLC", ("static_graph", "define_by_run", "unification"),
              "Symbolic graphs and imperative NDArray code mixed in one program (later Gluon's "
              "hybridize turned imperative blocks into graphs).",
              (_s("Chen et al., MXNet: A Flexible and Efficient Machine Learning Library for Heterogeneous "
                  "Distributed Systems, 2015", "https://arxiv.org/abs/1512.01274"),)),
    Milestone("paddle", "PaddlePaddle", 2016, "Baidu", ("static_graph", "unification", "auto_parallel"),
              "Static programs first; since 2.0 dynamic graphs by default, turned into static programs by "
              "rewriting the Python syntax tree (@to_static); adaptive automatic parallelism.",
              (_s("PaddlePaddle releases on GitHub", "https://github.com/PaddlePaddle/Paddle/releases"),
               _s("PaddlePaddle docs, dynamic-to-static conversion principle",
                  "https://www.paddlepaddle.org.cn/documentation/docs/zh/guides/jit/principle_cn.html"),
               _s("Ao et al., End-to-end Adaptive Distributed Training on PaddlePaddle, 2021",
                  "https://arxiv.org/abs/2112.02752"))),
    Milestone("pytorch", "PyTorch", 2017, "Facebook AI Research", ("define_by_run", "autodiff"),
              "Eager, define-by-run execution in ordinary Python with a tape-based reverse-mode autograd.",
              (_s("Paszke et al., Automatic differentiation in PyTorch, NIPS 2017 Autodiff Workshop",
                  "https://openreview.net/forum?id=BJJsrmfCZ"),
               _s("Paszke et al., PyTorch: An Imperative Style, High-Performance Deep Learning Library, "
                  "NeurIPS 2019", "https://arxiv.org/abs/1912.01703"))),
    Milestone("torchscript", "PyTorch 1.0 (TorchScript)", 2018, "Facebook AI Research", ("unification",),
              "torch.jit.trace and torch.jit.script turn eager models into a static graph that runs "
              "without Python.",
              (_s("The PyTorch Team, The road to 1.0: production ready PyTorch, May 2018",
                  "https://pytorch.org/blog/the-road-to-1_0/"),)),
    Milestone("jax", "JAX", 2018, "Google", ("autodiff", "compiler", "auto_parallel"),
              "Composable transformations (grad, jit, vmap) of pure functions, traced and compiled with "
              "XLA; sharding annotations propagated over the whole graph (GSPMD).",
              (_s("Frostig, Johnson, Leary, Compiling machine learning programs via high-level tracing, "
                  "SysML 2018", "https://research.google/pubs/pub47008/"),
               _s("Xu et al., GSPMD: General and Scalable Parallelization for ML Computation Graphs, 2021",
                  "https://arxiv.org/abs/2105.04663"))),
    Milestone("tensorflow2", "TensorFlow 2", 2019, "Google", ("define_by_run", "unification"),
              "Eager execution by default; tf.function with AutoGraph rewrites Python if and while into "
              "graph control-flow ops.",
              (_s("Moldovan et al., AutoGraph: Imperative-style Coding with Graph-based Performance, "
                  "SysML 2019", "https://arxiv.org/abs/1810.08061"),
               _s("Agrawal et al., TensorFlow Eager: A Multi-Stage, Python-Embedded DSL for Machine "
                  "Learning, SysML 2019", "https://arxiv.org/abs/1903.01855"),
               _s("The TensorFlow Team, What's coming in TensorFlow 2.0, Jan 2019",
                  "https://blog.tensorflow.org/2019/01/whats-coming-in-tensorflow-2-0.html"))),
    Milestone("mindspore", "MindSpore", 2020, "Huawei",
              ("unification", "autodiff", "auto_parallel", "compiler"),
              "One code for PyNative (dynamic) and Graph (static) modes, Graph mode made by source "
              "transformation of Python into MindIR; automatic differentiation by source transformation; "
              "automatic parallelism; graph-kernel fusion.",
              (_s("Huawei, Enabling the Open Source AI Native Ecosystem (MindSpore open-sourced), LF AI & "
                  "Data blog, Apr 2020", "https://lfaidata.foundation/blog/2020/04/06/enabling-the-open-"
                  "source-ai-native-ecosystem-with-an-ai-specific-computing-framework/"),
               MS_MODES, MS_README)),
    Milestone("megengine", "MegEngine", 2020, "Megvii", ("define_by_run", "unification"),
              "Imperative and tracing modes with the same code: a @jit.trace decorator turns eager code "
              "into a static graph for training and deployment.",
              (_s("MegEngine v0.3.1 release notes: Imperative and Tracing modes",
                  "https://discuss.megengine.org.cn/t/topic/131"),
               _s("MegEngine on GitHub", "https://github.com/MegEngine/MegEngine"),
               _s("Megvii makes deep learning AI framework open-source, South China Morning Post, Mar 2020",
                  "https://www.scmp.com/tech/start-ups/article/3077023/megvii-makes-deep-learning-ai-"
                  "framework-open-source-china-moves"))),
    Milestone("pytorch2", "PyTorch 2 (torch.compile)", 2023, "PyTorch Foundation",
              ("unification", "compiler"),
              "TorchDynamo captures graphs from Python bytecode with guards and graph breaks; "
              "TorchInductor generates fused kernels; torch.export gives one whole graph.",
              (_s("Ansel et al., PyTorch 2: Faster Machine Learning Through Dynamic Python Bytecode "
                  "Transformation and Graph Compilation, ASPLOS 2024", "https://doi.org/10.1145/3620665.3640366"),
               _s("PyTorch 2.x overview: torch.compile, TorchDynamo, TorchInductor (pytorch.org)",
                  "https://pytorch.org/get-started/pytorch-2.0/"))),
)

MINDSPORE = (
    Component("modelzoo", "ModelZoo", 5, 0, 4, "Ready-made networks to start from and to compare with.",
              ("lightweight_models",), MS_ARCH),
    Component("extend", "MindSpore Extend", 5, 4, 4,
              "Extension packages for new fields: graph neural networks, probabilistic programming, "
              "reinforcement learning.", (), MS_ARCH),
    Component("science", "MindScience", 5, 8, 4,
              "Suites for scientific computing built on the same framework: data sets, models, tools.",
              (), MS_ARCH),
    Component("expression", "MindExpression (Python API)", 4, 0, 6,
              "The Python front end. The same network code runs op by op in PyNative mode or is compiled "
              "whole in Graph mode, which turns the Python source into MindIR.",
              ("dynamic_static", "control_flow"), MS_MODES),
    Component("data", "MindData", 4, 6, 2,
              "Data loading and processing pipelines, run in parallel with training.", (), MS_ARCH),
    Component("insight", "MindInsight", 4, 8, 2, "Visual debugging and tuning of training runs.", (),
              MS_ARCH),
    Component("armour", "MindArmour", 4, 10, 2,
              "Security and privacy: adversarial robustness, differential-privacy training, model "
              "security tests.", (), MS_ARCH),
    Component("mindir", "MindIR", 3, 0, 3,
              "A functional, graph-based intermediate representation (close to ANF) designed so that "
              "automatic differentiation can transform it; shared by cloud and device.",
              ("graph_builder", "control_flow"), MS_MINDIR),
    Component("autodiff", "Automatic differentiation", 3, 3, 3,
              "Differentiation by source transformation of the IR, which keeps control flow and allows "
              "higher-order derivatives.", ("autodiff", "custom_autograd", "control_flow"), MS_README),
    Component("parallel", "Automatic parallelism", 3, 6, 3,
              "Sharding strategies for operators and tensors, searched and propagated through the graph, "
              "with the needed redistributions inserted.",
              ("parallel_3d", "strategy_propagation", "tensor_parallel"), MS_README),
    Component("optimise", "Graph-kernel fusion, memory optimisation", 3, 9, 3,
              "Hardware-related optimisations of the compiler: fused operators, memory reuse, pipelined "
              "execution; quantisation and pruning for deployment.",
              ("fusion", "graph_passes", "memory_planning"), MS_ARCH),
    Component("runtime", "MindRT (cloud runtime)", 2, 0, 6,
              "The runtime that executes compiled graphs on hosts and accelerators in the cloud.",
              ("scheduling",), MS_ARCH),
    Component("lite", "MindRT lite (device and IoT)", 2, 6, 6,
              "A lightweight runtime for phones, edge and IoT devices.", ("edge_cloud", "quantization"),
              MS_ARCH),
    Component("ascend", "Ascend", 1, 0, 4, "Huawei's AI processors, with DaVinci cores.", ("davinci_core",),
              MS_ARCH),
    Component("gpu", "GPU", 1, 4, 4, "Graphics processors from NVIDIA.", ("gpu_occupancy",), MS_ARCH),
    Component("cpu", "CPU", 1, 8, 4, "General-purpose processors.", ("execution_models",), MS_ARCH),
)
# fmt: on

#: The compiler layer's name, drawn around its row in the diagram.
COMPILER_LAYER = "MindCompiler"


def concept(key: str) -> Concept:
    for c in CONCEPTS:
        if c.key == key:
            return c
    raise EngineError(f"unknown concept {key!r}; choose one of {', '.join(c.key for c in CONCEPTS)}")


def component(key: str) -> Component:
    for c in MINDSPORE:
        if c.key == key:
            return c
    raise EngineError(f"unknown component {key!r}; choose one of {', '.join(c.key for c in MINDSPORE)}")


def milestones_with(keys) -> tuple[Milestone, ...]:
    """The milestones that carry any of the concept ``keys`` (all of them for an empty selection)."""
    wanted = set(keys)
    for k in wanted:
        concept(k)
    return tuple(m for m in MILESTONES if not wanted or wanted & set(m.tags))


def check_tables() -> list[str]:
    """Problems in the tables themselves (empty when consistent); tests call it."""
    problems = []
    keys = {c.key for c in CONCEPTS}
    for m in MILESTONES:
        problems += [f"{m.key}: unknown tag {t}" for t in m.tags if t not in keys]
        problems += [f"{m.key}: no source" for _ in [0] if not m.sources]
        problems += [
            f"{m.key}: source {s.url} is not https" for s in m.sources if not s.url.startswith("https://")
        ]
    years = [m.year for m in MILESTONES]
    if years != sorted(years):
        problems.append("milestones are not in order of year")
    cells = [(c.row, x) for c in MINDSPORE for x in range(int(c.col), int(c.col + c.width))]
    if len(cells) != len(set(cells)):
        problems.append("two MindSpore components overlap in the diagram")
    return problems
