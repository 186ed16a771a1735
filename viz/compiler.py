"""Figures of the compiler lab: pass before/after, the post-dominator tree, lifetimes and the arena.

* :func:`pass_figures` — the graph before a pass (nodes it removes ringed) and after (nodes it added
  or changed ringed), fused groups as rectangles once fusion has run;
* :func:`postdom_figure` — TVM's post-dominator tree: each op hangs under its post-dominator, the
  graph outputs under a virtual "exit"; colour = pattern kind, hover = path kind and fused group;
* :func:`lifetime_gantt` — one bar per tensor from its first to its last op (a Timeline drawn by
  :func:`viz.timeline.gantt`);
* :func:`arena_figure` — the packing: each buffer a rectangle (time × bytes) at its offset, with the
  arena size and the lower bound as lines;
* :func:`ledger_rows` / :func:`ledger_figure` — the per-pass cost ledger as a table and a chart.
"""
from __future__ import annotations

import plotly.graph_objects as go

from engine.core.trace import Event, Timeline

from .graph import graph_figure
from .theme import KIND_COLORS, MEANING, SEQUENCE, apply_theme
from .timeline import gantt

MAX_LANES = 60        # lifetime chart: at most this many tensors (the largest ones) as lanes

#: Chinese for the fixed words in this module's figures and in viz.graph's legend (whole strings
#: only for graph figures: node labels are op names).
ZH = {
    "input": "输入", "param": "参数", "constant": "常量", "exit (graph outputs)": "出口（图的输出）",
    "depth in the tree (0 = exit)": "树中深度（0 = 出口）", "tensor": "张量",
    "time (op index; a tensor lives from its producer to its last reader)":
    "时间（算子序号；张量从生产者一直存活到最后一个读者）", "time (op index)": "时间（算子序号）",
    "offset in the arena (bytes)": "内存池中的偏移（字节）", "pipeline step": "流水线步骤",
    "% of the input graph": "占输入图的 %", "kernels": "内核数", "bytes moved": "访存字节",
    "peak bytes": "峰值字节", "time µs": "时间 µs", "compute": "计算", "before": "之前", "after": "之后",
    "arena": "内存池", "lower bound": "下界",
    "Constant folding": "常量折叠", "Algebraic simplification": "代数化简",
    "Common-subexpression elimination": "公共子表达式消除", "Dead-code elimination": "死代码消除",
    "Operator fusion (TVM FuseOps)": "算子融合", "Layout transform to NHWC": "布局转换为 NHWC",
    "Layout transform to NC1HWC0": "布局转换为 NC1HWC0",
}


def _themed(fig: go.Figure, title: str, height: int) -> go.Figure:
    """apply_theme, with the title on its own line above the legend."""
    apply_theme(fig, title, height)
    fig.update_layout(margin=dict(t=90), title=dict(y=0.99, yanchor="top"),
                      legend=dict(y=1.0, yanchor="bottom", x=0, xanchor="left"))
    return fig


def lab_graph_figure(graph, **kwargs) -> go.Figure:
    """:func:`viz.graph.graph_figure` with its legend anchored at the left edge (the theme anchors
    legends on the right; graph_figure moves it to x=0 only, which pushed it off the plot)."""
    fig = graph_figure(graph, **kwargs)
    fig.update_layout(legend_xanchor="left")
    return fig


def pass_figures(step, title_before: str = "before", title_after: str = "after",
                 direction: str = "TB") -> tuple[go.Figure, go.Figure]:
    """(before, after) graph figures of one pipeline step (``engine.compiler.passes.pipeline_trace``)."""
    data = step.data or {}
    before = data.get("before", step.graph)
    groups = data.get("groups")
    fig_b = lab_graph_figure(before, highlight=data.get("removed", ()), title=title_before,
                             direction=direction)
    fig_a = lab_graph_figure(step.graph, changed=step.highlight, groups=groups, title=title_after,
                             direction=direction)
    return fig_b, fig_a


def _tree_positions(parent: dict, order: list[str]) -> tuple[dict, dict]:
    children: dict[str | None, list[str]] = {None: []}
    for n in order:
        children.setdefault(n, [])
    for n in order:
        children.setdefault(parent[n], []).append(n)
    xs: dict[str, float] = {}
    depth: dict[str, int] = {}
    cursor = [0.0]

    def place(node, d):            # iterative post-order: leaves left to right, parents centred
        stack = [(node, d, False)]
        while stack:
            n, dd, done = stack.pop()
            kids = children.get(n, [])
            if done or not kids:
                if not kids:
                    xs[n] = cursor[0]
                    cursor[0] += 1
                else:
                    xs[n] = sum(xs[k] for k in kids) / len(kids)
                depth[n] = dd
                continue
            stack.append((n, dd, True))
            for k in reversed(kids):
                stack.append((k, dd + 1, False))

    for root in children[None]:
        place(root, 1)
    return xs, depth


def postdom_figure(result, title: str = "Post-dominator tree", height: int | None = None) -> go.Figure:
    """The post-dominator tree of an ``engine.compiler.passes.fusion.FusionResult``."""
    order = list(result.kinds)
    xs, depth = _tree_positions(result.postdom, order)
    exit_x = sum(xs[r] for r in order if result.postdom[r] is None) / max(
        1, sum(1 for r in order if result.postdom[r] is None))
    ex, ey = [], []
    for n in order:
        p = result.postdom[n]
        px, py = (exit_x, 0) if p is None else (xs[p], -depth[p])
        ex += [xs[n], px, None]
        ey += [-depth[n], py, None]
    fig = go.Figure(go.Scatter(x=ex, y=ey, mode="lines", line=dict(color="#8a8a8a", width=1.2),
                               hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[exit_x], y=[0], mode="markers+text", text=["exit"],
                             textposition="top center", name="exit (graph outputs)",
                             marker=dict(symbol="star", size=16, color="black")))
    small = len(order) <= 40
    for kind in dict.fromkeys(result.kinds.values()):
        names = [n for n in order if result.kinds[n] == kind]
        hover = [f"<b>{n}</b> ({kind})<br>post-dominator: {result.postdom[n] or 'exit'}<br>"
                 f"path kind: {result.path_kind[n]}<br>kernel #{result.group_of[n] + 1}"
                 for n in names]
        fig.add_trace(go.Scatter(
            x=[xs[n] for n in names], y=[-depth[n] for n in names], name=kind,
            mode="markers+text" if small else "markers", text=names, textposition="middle right",
            hovertext=hover, hoverinfo="text",
            marker=dict(size=16 if small else 9, color=KIND_COLORS.get(kind, SEQUENCE[0]),
                        line=dict(color="black", width=1))))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(title="depth in the tree (0 = exit)", tickvals=[-d for d in
                     range(0, max(depth.values(), default=0) + 1)],
                     ticktext=[str(d) for d in range(0, max(depth.values(), default=0) + 1)])
    return _themed(fig, title, height or max(360, 120 + 60 * max(depth.values(), default=1)))


def lifetime_timeline(plan) -> Timeline:
    """Tensor lifetimes of an ``engine.compiler.memory_plan.MemoryPlan`` as a Timeline (ops as time)."""
    idx = sorted(range(len(plan.names)), key=lambda i: -plan.sizes[i])[:MAX_LANES]
    idx.sort(key=lambda i: (plan.firsts[i], i))
    events = tuple(Event(plan.names[i], plan.firsts[i], plan.lasts[i] + 1,
                         f"{plan.sizes[i]:,} B", "compute",
                         (("offset", plan.offsets[i]), ("bytes", plan.sizes[i]))) for i in idx)
    return Timeline(events, tuple(plan.names[i] for i in idx), "op index")


def lifetime_gantt(plan, title: str = "Tensor lifetimes") -> go.Figure:
    fig = gantt(lifetime_timeline(plan), title, highlight_critical=False,
                colors={"compute": MEANING["forward"]})
    fig.update_yaxes(title="tensor")
    fig.update_xaxes(title="time (op index; a tensor lives from its producer to its last reader)")
    fig.update_layout(margin=dict(t=60))
    return fig


def arena_figure(plan, title: str = "Arena packing", height: int = 460, show_bound: bool = True) -> go.Figure:
    """Each buffer a rectangle: x = its op interval, y = its bytes in the arena."""
    fig = go.Figure()
    buckets: dict[int, tuple[list, list]] = {}
    hx, hy, ht = [], [], []
    for i, name in enumerate(plan.names):
        x0, x1 = plan.firsts[i], plan.lasts[i] + 1
        y0, y1 = plan.offsets[i], plan.offsets[i] + plan.sizes[i]
        xs, ys = buckets.setdefault(i % len(SEQUENCE), ([], []))
        xs += [x0, x1, x1, x0, x0, None]
        ys += [y0, y0, y1, y1, y0, None]
        hx.append((x0 + x1) / 2)
        hy.append((y0 + y1) / 2)
        ht.append(f"<b>{name}</b><br>{plan.sizes[i]:,} B at offset {plan.offsets[i]:,}<br>"
                  f"ops {plan.firsts[i]}..{plan.lasts[i]}")
    for k, (xs, ys) in buckets.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", showlegend=False,
                                 line=dict(color="white", width=1), fillcolor=SEQUENCE[k],
                                 opacity=0.75, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=hx, y=hy, mode="markers", hovertext=ht, hoverinfo="text",
                             marker=dict(size=6, color="rgba(0,0,0,0)"), showlegend=False))
    end = max((l + 1 for l in plan.lasts), default=1)
    lines = [(plan.arena, f"arena {plan.arena:,} B", MEANING["highlight"])]
    if show_bound:                  # hidden while a checkpoint asks for it
        lines.append((plan.lower_bound, f"lower bound {plan.lower_bound:,} B", MEANING["compute"]))
    for value, label, color in lines:
        fig.add_trace(go.Scatter(x=[0, end], y=[value, value], mode="lines", name=label,
                                 line=dict(color=color, width=2, dash="dash")))
    fig.update_xaxes(title="time (op index)")
    fig.update_yaxes(title="offset in the arena (bytes)")
    return _themed(fig, title, height)


def ledger_rows(steps) -> list[dict]:
    """One row per pipeline step: the ledger and its change from the previous step."""
    rows = []
    for k, step in enumerate(steps):
        now, prev = step.data["ledger"], step.data["ledger_before"]
        rows.append({"step": k, "pass": step.data.get("pass_name") or "input",
                     "ops": now.ops, "Δops": now.ops - prev.ops,
                     "kernels": now.kernels, "Δkernels": now.kernels - prev.kernels,
                     "bytes moved": now.bytes_moved, "Δbytes": now.bytes_moved - prev.bytes_moved,
                     "peak bytes": now.peak_bytes, "Δpeak": now.peak_bytes - prev.peak_bytes,
                     "time µs": round(now.time_s * 1e6, 3),
                     "Δtime µs": round((now.time_s - prev.time_s) * 1e6, 3)})
    return rows


def ledger_figure(rows: list[dict], title: str = "What each pass buys") -> go.Figure:
    """Kernels, bytes moved and peak memory per step, relative to the input graph (= 100 %)."""
    fig = go.Figure()
    labels = [f"{r['step']}: {r['pass']}" for r in rows]
    for key, color in (("kernels", SEQUENCE[0]), ("bytes moved", SEQUENCE[1]),
                       ("peak bytes", SEQUENCE[2]), ("time µs", SEQUENCE[3])):
        base = rows[0][key] or 1
        fig.add_trace(go.Bar(x=labels, y=[100 * r[key] / base for r in rows], name=key,
                             marker_color=color,
                             hovertext=[f"{key}: {r[key]:,}" for r in rows], hoverinfo="text"))
    fig.update_xaxes(title="pipeline step")
    fig.update_yaxes(title="% of the input graph")
    fig.update_layout(barmode="group")
    return _themed(fig, title, 380)
