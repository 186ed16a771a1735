"""Figures of the compiler lab: pass before/after, the post-dominator tree, lifetimes and the arena.

* :func:`pass_figure` — the graph before a pass (nodes it removes ringed) or after it (nodes it added
  or changed ringed), fused groups as rectangles once fusion has run;
* :func:`postdom_figure` — TVM's post-dominator tree: each op hangs under its post-dominator, the
  graph outputs under a virtual "exit"; colour = pattern kind, hover = path kind and fused group;
* :func:`lifetime_gantt` — one bar per tensor from its first to its last op (a Timeline drawn by
  :func:`viz.timeline.gantt`);
* :func:`arena_figure` — the packing: each buffer a rectangle (time × bytes) at its offset, with the
  arena size and the lower bound as lines;
* :func:`ledger_rows` / :func:`ledger_figure` — the per-pass cost ledger as a table and a chart.

Every builder draws its fixed words through ``tr`` (see :mod:`viz.words`); titles come from the page.
"""

from __future__ import annotations

import plotly.graph_objects as go

from engine.core.trace import Event, Timeline

from .graph import graph_figure
from .theme import KIND_COLORS, MEANING, SEQUENCE, apply_theme
from .timeline import gantt
from .words import Translate, same

MAX_LANES = 60  # lifetime chart: at most this many tensors (the largest ones) as lanes


def _themed(fig: go.Figure, title: str, height: int) -> go.Figure:
    """apply_theme, with the title on its own line above the legend."""
    apply_theme(fig, title, height)
    fig.update_layout(
        margin=dict(t=90),
        title=dict(y=0.99, yanchor="top"),
        legend=dict(y=1.0, yanchor="bottom", x=0, xanchor="left"),
    )
    return fig


def lab_graph_figure(graph, tr: Translate = same, **kwargs) -> go.Figure:
    """:func:`viz.graph.graph_figure` with its legend anchored at the left edge (the theme anchors
    legends on the right; graph_figure moves it to x=0 only, which pushed it off the plot)."""
    fig = graph_figure(graph, tr=tr, **kwargs)
    fig.update_layout(legend_xanchor="left")
    return fig


def pass_figure(
    step, side: str, title: str | None = None, direction: str = "TB", tr: Translate = same
) -> go.Figure:
    """One pipeline step (``engine.compiler.passes.pipeline_trace``) seen from one ``side``:
    "before" (the graph it receives, the nodes it removes ringed) or "after" (the graph it returns,
    nodes added or changed ringed, fused groups as rectangles). ``title`` defaults to the side."""
    data = step.data or {}
    title = title or (tr("before") if side == "before" else tr("after"))
    if side == "before":
        return lab_graph_figure(
            data.get("before", step.graph),
            highlight=data.get("removed", ()),
            title=title,
            direction=direction,
            tr=tr,
        )
    return lab_graph_figure(
        step.graph, changed=step.highlight, groups=data.get("groups"), title=title, direction=direction, tr=tr
    )


def _tree_positions(parent: dict, order: list[str]) -> tuple[dict, dict]:
    children: dict[str | None, list[str]] = {None: []}
    for n in order:
        children.setdefault(n, [])
    for n in order:
        children.setdefault(parent[n], []).append(n)
    xs: dict[str, float] = {}
    depth: dict[str, int] = {}
    cursor = [0.0]

    def place(node, d):  # iterative post-order: leaves left to right, parents centred
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


def postdom_figure(
    result, title: str | None = None, height: int | None = None, tr: Translate = same
) -> go.Figure:
    """The post-dominator tree of an ``engine.compiler.passes.fusion.FusionResult``."""
    order = list(result.kinds)
    xs, depth = _tree_positions(result.postdom, order)
    exit_x = sum(xs[r] for r in order if result.postdom[r] is None) / max(
        1, sum(1 for r in order if result.postdom[r] is None)
    )
    ex, ey = [], []
    for n in order:
        p = result.postdom[n]
        px, py = (exit_x, 0) if p is None else (xs[p], -depth[p])
        ex += [xs[n], px, None]
        ey += [-depth[n], py, None]
    fig = go.Figure(
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line=dict(color="#8a8a8a", width=1.2),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[exit_x],
            y=[0],
            mode="markers+text",
            text=[tr("exit")],
            textposition="top center",
            name=tr("exit (graph outputs)"),
            marker=dict(symbol="star", size=16, color="black"),
        )
    )
    small = len(order) <= 40
    for kind in dict.fromkeys(result.kinds.values()):
        names = [n for n in order if result.kinds[n] == kind]
        hover = [
            f"<b>{n}</b> ({tr(kind)})<br>"
            + tr("post-dominator: {post}<br>path kind: {path}<br>kernel #{k}").format(
                post=result.postdom[n] or tr("exit"), path=tr(result.path_kind[n]), k=result.group_of[n] + 1
            )
            for n in names
        ]
        fig.add_trace(
            go.Scatter(
                x=[xs[n] for n in names],
                y=[-depth[n] for n in names],
                name=tr(kind),
                mode="markers+text" if small else "markers",
                text=names,
                textposition="middle right",
                hovertext=hover,
                hoverinfo="text",
                marker=dict(
                    size=16 if small else 9,
                    color=KIND_COLORS.get(kind, SEQUENCE[0]),
                    line=dict(color="black", width=1),
                ),
            )
        )
    fig.update_xaxes(visible=False)
    levels = range(0, max(depth.values(), default=0) + 1)
    fig.update_yaxes(
        title=tr("depth in the tree (0 = exit)"),
        tickvals=[-d for d in levels],
        ticktext=[str(d) for d in levels],
    )
    return _themed(
        fig, title or tr("Post-dominator tree"), height or max(360, 120 + 60 * max(depth.values(), default=1))
    )


def lifetime_timeline(plan) -> Timeline:
    """Tensor lifetimes of an ``engine.compiler.memory_plan.MemoryPlan`` as a Timeline (ops as time)."""
    idx = sorted(range(len(plan.names)), key=lambda i: -plan.sizes[i])[:MAX_LANES]
    idx.sort(key=lambda i: (plan.firsts[i], i))
    events = tuple(
        Event(
            plan.names[i],
            plan.firsts[i],
            plan.lasts[i] + 1,
            f"{plan.sizes[i]:,} B",
            "compute",
            (("offset", plan.offsets[i]), ("bytes", plan.sizes[i])),
        )
        for i in idx
    )
    return Timeline(events, tuple(plan.names[i] for i in idx), "op index")


def lifetime_gantt(plan, title: str | None = None, tr: Translate = same) -> go.Figure:
    fig = gantt(
        lifetime_timeline(plan),
        title or tr("Tensor lifetimes"),
        highlight_critical=False,
        colors={"compute": MEANING["forward"]},
        tr=tr,
    )
    fig.update_yaxes(title=tr("tensor"))
    fig.update_xaxes(title=tr("time (op index; a tensor lives from its producer to its last reader)"))
    fig.update_layout(margin=dict(t=60))
    return fig


def arena_figure(
    plan, title: str | None = None, height: int = 460, show_bound: bool = True, tr: Translate = same
) -> go.Figure:
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
        ht.append(
            f"<b>{name}</b><br>"
            + tr("{size} B at offset {offset}<br>ops {first}..{last}").format(
                size=f"{plan.sizes[i]:,}",
                offset=f"{plan.offsets[i]:,}",
                first=plan.firsts[i],
                last=plan.lasts[i],
            )
        )
    for k, (xs, ys) in buckets.items():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                fill="toself",
                showlegend=False,
                line=dict(color="white", width=1),
                fillcolor=SEQUENCE[k],
                opacity=0.75,
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=hx,
            y=hy,
            mode="markers",
            hovertext=ht,
            hoverinfo="text",
            marker=dict(size=6, color="rgba(0,0,0,0)"),
            showlegend=False,
        )
    )
    end = max((l + 1 for l in plan.lasts), default=1)
    lines = [(plan.arena, tr("arena {size} B").format(size=f"{plan.arena:,}"), MEANING["highlight"])]
    if show_bound:  # hidden while a checkpoint asks for it
        lines.append(
            (
                plan.lower_bound,
                tr("lower bound {size} B").format(size=f"{plan.lower_bound:,}"),
                MEANING["compute"],
            )
        )
    for value, label, color in lines:
        fig.add_trace(
            go.Scatter(
                x=[0, end],
                y=[value, value],
                mode="lines",
                name=label,
                line=dict(color=color, width=2, dash="dash"),
            )
        )
    fig.update_xaxes(title=tr("time (op index)"))
    fig.update_yaxes(title=tr("offset in the arena (bytes)"))
    return _themed(fig, title or tr("Arena packing"), height)


def ledger_rows(steps) -> list[dict]:
    """One row per pipeline step: the ledger and its change from the previous step."""
    rows = []
    for k, step in enumerate(steps):
        now, prev = step.data["ledger"], step.data["ledger_before"]
        rows.append(
            {
                "step": k,
                "pass": step.data.get("pass_name") or "input",
                "ops": now.ops,
                "Δops": now.ops - prev.ops,
                "kernels": now.kernels,
                "Δkernels": now.kernels - prev.kernels,
                "bytes moved": now.bytes_moved,
                "Δbytes": now.bytes_moved - prev.bytes_moved,
                "peak bytes": now.peak_bytes,
                "Δpeak": now.peak_bytes - prev.peak_bytes,
                "time µs": round(now.time_s * 1e6, 3),
                "Δtime µs": round((now.time_s - prev.time_s) * 1e6, 3),
            }
        )
    return rows


def ledger_figure(rows: list[dict], title: str | None = None, tr: Translate = same) -> go.Figure:
    """Kernels, bytes moved and peak memory per step, relative to the input graph (= 100 %)."""
    fig = go.Figure()
    labels = [f"{r['step']}: {tr('input') if r['step'] == 0 else r['pass']}" for r in rows]
    for key, color in (
        ("kernels", SEQUENCE[0]),
        ("bytes moved", SEQUENCE[1]),
        ("peak bytes", SEQUENCE[2]),
        ("time µs", SEQUENCE[3]),
    ):
        base = rows[0][key] or 1
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[100 * r[key] / base for r in rows],
                name=tr(key),
                marker_color=color,
                hovertext=[f"{tr(key)}: {r[key]:,}" for r in rows],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title=tr("pipeline step"))
    fig.update_yaxes(title=tr("% of the input graph"))
    fig.update_layout(barmode="group")
    return _themed(fig, title or tr("What each pass buys"), 380)
