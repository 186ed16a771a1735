"""Layout transformation: run layout-sensitive ops in a target layout (NCHW, NHWC or NC1HWC0).

Our kernels compute in NCHW only, so "conv2d in NHWC" is drawn as its *kernel view*: the NCHW kernel
between an input view (target -> NCHW) and an output view (NCHW -> target); a real backend has a
native kernel there. What the pass decides is where data has to change layout *between* kernels.

Stages (one forward sweep; every tensor may have an NCHW version, a target version, or both):
  1. a layout-sensitive op (conv2d, maxpool, avgpool, global_avgpool, batchnorm on 4-D data) reads
     the target version of its data input and leaves only a target version of its result;
  2. a layout-agnostic op (unary elementwise; a binary elementwise op whose inputs have its 4-D
     shape or hold one element) runs in the target layout when one of its inputs exists only there;
  3. any other op (reshape, flatten, matmul, softmax, broadcasts against (C,1,1) weights …) reads
     NCHW versions;
  4. a missing version is made once by a conversion node and reused by every later reader — so the
     back-to-back pairs that converting around every op would create (to-target then straight back)
     never appear; the log counts them as cancelled. Graph outputs are converted back to NCHW under
     their own names, so results and names are unchanged.
Kernel-view nodes carry the attribute ``layout_view`` = the op they belong to, so the cost ledger
counts them inside that op's kernel (:func:`kernel_views`). Conversions: NHWC = transpose(0,2,3,1);
NC1HWC0 = reshape (N,C1,C0,H,W) + transpose(0,1,3,4,2), with
C0 the largest of 16, 8, 4, 2, 1 dividing C (Ascend's C0 is 16 for fp16; we do not pad channels).
Not handled: 5-D data, ops that are layout-sensitive on an axis attribute (softmax over axis 1,
concat on channels: they read NCHW), choosing layouts per op by cost.
"""

from __future__ import annotations

from ...core import budget
from ...core.errors import EngineError
from ...core.ir import Graph, Node, fresh_name, rebuild
from ...core.registry import get_op

LAYOUTS = ("NCHW", "NHWC", "NC1HWC0")
SENSITIVE = frozenset({"conv2d", "maxpool", "avgpool", "global_avgpool", "batchnorm"})


def c0_for(channels: int) -> int:
    return next(c for c in (16, 8, 4, 2, 1) if channels % c == 0)


def target_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    n, c, h, w = shape
    if layout == "NHWC":
        return (n, h, w, c)
    c0 = c0_for(c)
    return (n, c // c0, h, w, c0)


class _Layout:
    def __init__(self, graph: Graph, layout: str):
        self.graph, self.layout = graph, layout
        self.nodes: list[Node] = []
        self.taken = set(graph.by_name)
        self.nchw: dict[str, str] = {}
        self.lay: dict[str, str] = {}
        self.boundary = 0
        self.sensitive: list[str] = []

    def fresh(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def emit(self, node: Node) -> str:
        self.nodes.append(node)
        return node.name

    def to_target(self, src: str, shape, name: str, view_of: str = "") -> str:
        tag = (("layout_view", view_of),) if view_of else ()
        if self.layout == "NHWC":
            return self.emit(
                Node(name, "transpose", (src,), (("perm", (0, 2, 3, 1)),) + tag, target_shape(shape, "NHWC"))
            )
        n, c, h, w = shape
        c0 = c0_for(c)
        split = self.emit(
            Node(
                self.fresh(f"{name}.split_c"),
                "reshape",
                (src,),
                tag + (("shape", (n, c // c0, c0, h, w)),),
                (n, c // c0, c0, h, w),
            )
        )
        return self.emit(
            Node(
                name,
                "transpose",
                (split,),
                (("perm", (0, 1, 3, 4, 2)),) + tag,
                target_shape(shape, "NC1HWC0"),
            )
        )

    def to_nchw(self, src: str, shape, name: str, view_of: str = "") -> str:
        tag = (("layout_view", view_of),) if view_of else ()
        if self.layout == "NHWC":
            return self.emit(Node(name, "transpose", (src,), (("perm", (0, 3, 1, 2)),) + tag, shape))
        n, c, h, w = shape
        c0 = c0_for(c)
        moved = self.emit(
            Node(
                self.fresh(f"{name}.move_c0"),
                "transpose",
                (src,),
                (("perm", (0, 1, 4, 2, 3)),) + tag,
                (n, c // c0, c0, h, w),
            )
        )
        return self.emit(Node(name, "reshape", (moved,), tag + (("shape", (n, c, h, w)),), shape))

    def need_nchw(self, t: str) -> str:
        if t not in self.nchw:
            self.nchw[t] = self.to_nchw(self.lay[t], self.graph.by_name[t].shape, t)
            self.boundary += 1
        return self.nchw[t]

    def need_target(self, t: str) -> str:
        if t not in self.lay:
            self.lay[t] = self.to_target(
                self.nchw[t], self.graph.by_name[t].shape, self.fresh(f"{t}@{self.layout}")
            )
            self.boundary += 1
        return self.lay[t]

    def visit(self, n: Node) -> None:
        if n.is_source:
            self.nchw[n.name] = self.emit(n)
        elif n.op in SENSITIVE and len(self.graph.by_name[n.inputs[0]].shape) == 4:
            self.sensitive_op(n)
        elif self.agnostic(n) and any(i not in self.nchw for i in n.inputs):
            ins = tuple(
                self.need_target(i) if self.graph.by_name[i].shape == n.shape else self.need_nchw(i)
                for i in n.inputs
            )
            self.lay[n.name] = self.emit(
                n.replace(
                    name=self.fresh(f"{n.name}@{self.layout}"),
                    inputs=ins,
                    shape=target_shape(n.shape, self.layout),
                )
            )
        else:
            ins = tuple(self.need_nchw(i) for i in n.inputs)
            self.nchw[n.name] = self.emit(n if ins == n.inputs else n.replace(inputs=ins))

    def agnostic(self, n: Node) -> bool:
        kind = get_op(n.op).kind
        if len(n.shape) != 4 or kind not in ("elemwise", "broadcast"):
            return False
        shapes = [self.graph.by_name[i].shape for i in n.inputs]
        # a same-shape operand is converted; a one-element operand broadcasts in any layout
        return all(s == n.shape or budget.numel(s) == 1 for s in shapes)

    def sensitive_op(self, n: Node) -> None:
        x = n.inputs[0]
        x_shape = self.graph.by_name[x].shape
        core = self.fresh(f"{n.name}.kernel")
        view_in = self.to_nchw(self.need_target(x), x_shape, self.fresh(f"{n.name}.view_in"), core)
        rest = tuple(self.need_nchw(i) for i in n.inputs[1:])
        self.emit(n.replace(name=core, inputs=(view_in, *rest)))
        self.lay[n.name] = self.to_target(core, n.shape, self.fresh(f"{n.name}@{self.layout}"), core)
        self.sensitive.append(n.name)


def kernel_views(graph: Graph) -> dict[str, str]:
    """View node -> the layout-sensitive op it belongs to (the ``layout_view`` attribute)."""
    return {
        n.name: n.attr("layout_view")
        for n in graph.nodes
        if n.attr("layout_view") and n.attr("layout_view") in graph.by_name
    }


def layout_transform(graph: Graph, layout: str = "NHWC") -> tuple[Graph, list[str]]:
    """``graph`` with layout-sensitive ops in ``layout`` and conversions only where needed."""
    if layout not in LAYOUTS:
        raise EngineError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout == "NCHW":
        return graph, ["layout: the graph is already NCHW; nothing to convert"]
    by_name = graph.by_name
    if not any(n.op in SENSITIVE and len(by_name[n.inputs[0]].shape) == 4 for n in graph.nodes):
        return graph, ["layout: no layout-sensitive op on 4-D data; the graph stays NCHW"]
    lt = _Layout(graph, layout)
    for n in graph.nodes:
        lt.visit(n)
    for o in graph.outputs:
        lt.need_nchw(o)
    naive = 2 * len(lt.sensitive)
    cancelled = max(naive - lt.boundary, 0) // 2
    return rebuild(lt.nodes, graph.outputs, graph.title), [
        f"layout {layout}: {len(lt.sensitive)} layout-sensitive op(s) run in {layout} (each drawn "
        "as its NCHW kernel between two views, since our kernels are NCHW-only)",
        f"layout {layout}: {lt.boundary} conversion(s) between kernels instead of {naive} for "
        f"converting around every op; {cancelled} back-to-back pair(s) cancelled",
    ]
