"""A control-flow graph drawn as basic blocks: each block a box with its instructions, edges as arrows.

Stages of :func:`cfg_figure`:
  1. **Layers.** Blocks keep the program's order; an edge to a later block goes forward, an edge to
     the same or an earlier block is a loop's back edge (the language writes a loop's head before
     its body). A block's layer is one below its lowest forward predecessor; a block without one
     (the entry, or a block no edge reaches any more) sits one below the block before it.
  2. **Places.** The blocks of one layer stand side by side, centred; a layer is as tall as its
     tallest box (one unit per text line), so the figure's height in pixels follows its lines.
  3. **Boxes** are annotations with a border, so each sizes itself to its text (monospace); the
     block name is bold, the terminator grey; highlighted instructions (``block:index``) are bold
     and coloured, highlighted blocks get a thick border: orange for what a step changed or marked,
     vermillion for what it removes.
  4. **Edges.** A forward edge to the next layer is a straight arrow; one that skips layers runs
     down the left side, a back edge (blue) up the right side, so neither crosses a box. A branch's two
     edges are labelled true / false.
Not handled: more than :data:`MAX_BLOCKS` blocks (the first ones are drawn, the title says so),
blocks longer than :data:`MAX_LINES` lines (the rest is summarised), crossing-free placement of
wide unstructured graphs.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from engine.compiler.cfg.blocks import Branch, format_instr, format_term

from .theme import MEANING, OKABE_ITO, apply_theme
from .words import Translate, same

MAX_BLOCKS = 60
MAX_LINES = 24
MAX_CHARS = 44
_PX_PER_LINE = 17  # one text line of 12 px monospace
_GAP = 2.2  # lines between layers
_MIN_SPAN = 130  # x units (characters) the figure spans at least: ~7 px each on a laptop column


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _layers(blocks) -> dict[str, int]:
    pos = {b.name: k for k, b in enumerate(blocks)}
    fwd: dict[str, list[str]] = {b.name: [] for b in blocks}
    loops = []  # (head, tail) positions of each back edge: the blocks of the loop lie between
    for b in blocks:
        for s in b.successors:
            if s in pos and pos[s] > pos[b.name]:
                fwd[s].append(b.name)
            elif s in pos:
                loops.append((pos[s], pos[b.name]))
    layer: dict[str, int] = {}
    for k, b in enumerate(blocks):
        below = []
        for p in fwd[b.name]:
            base = layer[p]
            for head, tail in loops:  # an edge leaving a loop lands below the whole loop
                if head <= pos[p] <= tail < k:
                    base = max(base, *(layer[blocks[j].name] for j in range(head, tail + 1)))
            below.append(base + 1)
        layer[b.name] = max(below) if below else (layer[blocks[k - 1].name] + 1 if k else 0)
    return layer


def _lines(block, marked: set[str], colour: str, tr: Translate) -> list[str]:
    out = [f"<b>{html.escape(block.name, quote=False)}:</b>"]
    for k, ins in enumerate(block.instrs[:MAX_LINES]):
        text = html.escape(_clip(format_instr(ins)), quote=False)
        if f"{block.name}:{k}" in marked:
            text = f"<span style='color:{colour}'><b>{text}</b></span>"
        out.append("  " + text)
    if len(block.instrs) > MAX_LINES:
        out.append("  " + tr("… {n} more").format(n=len(block.instrs) - MAX_LINES))
    out.append(
        f"  <span style='color:#777777'>{html.escape(_clip(format_term(block.term)), quote=False)}</span>"
    )
    return out


def _width(blocks) -> float:
    """The widest box, in characters (x units), with its padding."""
    texts = [b.name + ":" for b in blocks] + [format_term(b.term) for b in blocks]
    texts += [format_instr(i) for b in blocks for i in b.instrs[:MAX_LINES]]
    return min(MAX_CHARS, max(map(len, texts), default=8)) + 5


def _place(blocks, layer, col: float):
    """(x centre, y top, height in lines) of each block, and the figure's total height in units."""
    rows: dict[int, list] = {}
    for b in blocks:
        rows.setdefault(layer[b.name], []).append(b)
    where, top = {}, 0.0
    for lv in sorted(rows):
        row = rows[lv]
        tall = max(min(len(b.instrs), MAX_LINES + 1) + 2 for b in row)
        for i, b in enumerate(row):
            height = min(len(b.instrs), MAX_LINES + 1) + 2
            where[b.name] = ((i - (len(row) - 1) / 2) * col, -top, height)
        top += tall + _GAP
    return where, top


class _Drawing:
    """Edges and boxes collected first and added at once, after the layout is set (plotly validates
    each ``add_*`` call, and re-reads every annotation on each later layout update)."""

    def __init__(self):
        self.lines: dict[str, tuple[list, list]] = {}  # colour -> polyline x, y (None separated)
        self.notes: list[dict] = []  # arrowheads, edge labels, boxes

    def arrow(self, points, colour: str, label: str = "") -> None:
        xs, ys = self.lines.setdefault(colour, ([], []))
        xs += [p[0] for p in points] + [None]
        ys += [p[1] for p in points] + [None]
        (x0, y0), (x1, y1) = points[-2], points[-1]
        self.notes.append(
            dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                 showarrow=True, arrowhead=2, arrowsize=1.2, arrowcolor=colour)
        )  # fmt: skip
        if label:
            (sx, sy), (nx, ny) = points[0], points[1]
            w = 0.5 if len(points) > 2 else 0.3
            self.notes.append(
                dict(x=sx + (nx - sx) * w, y=sy + (ny - sy) * w, text=label, showarrow=False,
                     font=dict(size=11, color="#555555"), bgcolor="white")
            )  # fmt: skip

    def figure(self) -> go.Figure:
        traces = [
            go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=c, width=1.5), hoverinfo="skip",
                       showlegend=False)
            for c, (xs, ys) in self.lines.items()
        ]  # fmt: skip
        return go.Figure(data=traces)


def _route(pos, layer, a: str, b: str) -> str:
    if pos[b] <= pos[a]:
        return "back"
    return "skip" if layer[b] - layer[a] > 1 else "straight"


def _starts(term, routes: dict[str, str]) -> dict[str, float]:
    """Where each edge leaves the box's bottom: a branch's two edges apart, side routes outwards."""
    if len(routes) < 2:
        return {}
    a, b = (term.then, term.other) if isinstance(term, Branch) else tuple(routes)
    if routes.get(a) == "back" or routes.get(b) == "skip":
        a, b = b, a
    return {a: -2.0, b: 2.0}


def _edges(draw: _Drawing, blocks, layer, where, col: float, tr: Translate) -> tuple[float, float]:
    """Draw every edge (leaving a box's bottom, entering a box's top); returns the leftmost and
    rightmost x of the side routes."""
    pos = {b.name: k for k, b in enumerate(blocks)}
    xs = [x for x, _, _ in where.values()]
    left, right = min(xs) - col / 2, max(xs) + col / 2
    for b in blocks:
        t = b.term
        routes = {s: _route(pos, layer, b.name, s) for s in b.successors if s in where}
        sides = _starts(t, routes)
        for s, route in routes.items():
            (x0, y0, h0), (x1, y1, _) = where[b.name], where[s]
            label = ""
            if isinstance(t, Branch) and t.then != t.other:
                label = tr("true") if s == t.then else tr("false")
            start, bottom = x0 + sides.get(s, 0), y0 - h0
            if route == "straight":
                draw.arrow([(start, bottom), (x1, y1)], "#555555", label)
                continue
            if route == "back":  # a loop's back edge: up the right side
                right += 1.8
                lane, end = right, x1 + 3
            else:  # skips a layer: down the left side
                left -= 1.8
                lane, end = left, x1 - 3
            pts = [
                (start, bottom),
                (start, bottom - 0.8),
                (lane, bottom - 0.8),
                (lane, y1 + 0.9),
                (end, y1 + 0.9),
                (end, y1),
            ]
            draw.arrow(pts, OKABE_ITO["blue"] if route == "back" else "#555555", label)
    return left, right


def cfg_figure(program, highlight=(), removed: bool = False, title: str = "", tr: Translate = same):
    """``program`` (a CfgProgram) as boxes and arrows; ``highlight`` holds block names and
    ``block:index`` instruction ids, drawn as removed (vermillion) or changed (orange)."""
    blocks = program.blocks[:MAX_BLOCKS]
    marked = set(highlight)
    colour = MEANING["highlight"] if removed else MEANING["changed"]
    layer = _layers(blocks)
    width = _width(blocks)
    where, total = _place(blocks, layer, width + 4)
    draw = _Drawing()
    left, right = _edges(draw, blocks, layer, where, width, tr)
    for b in blocks:
        x, y, h = where[b.name]
        hit = b.name in marked
        draw.notes.append(
            dict(x=x, y=y - h / 2, text="<br>".join(_lines(b, marked, colour, tr)), showarrow=False,
                 align="left", font=dict(family="DejaVu Sans Mono, Menlo, monospace", size=12),
                 bgcolor="#FFF4E0" if hit else "white", bordercolor=colour if hit else "#888888",
                 borderwidth=3 if hit else 1, borderpad=4)
        )  # fmt: skip
    fig = draw.figure()
    if len(program.blocks) > MAX_BLOCKS:
        title += " " + tr("(first {n} of {total} blocks)").format(n=MAX_BLOCKS, total=len(program.blocks))
    lo, hi = left - 2, right + 2
    pad = max(0.0, _MIN_SPAN - (hi - lo)) / 2
    fig.update_xaxes(visible=False, range=[lo - pad, hi + pad])
    fig.update_yaxes(visible=False, range=[-total, 1.5])
    fig = apply_theme(fig, title, height=int(total * _PX_PER_LINE) + 110)
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=10), showlegend=False)
    fig.layout.annotations = draw.notes  # last: every layout update re-reads existing annotations
    return fig


def cfg_step_figure(step, title: str = "", tr: Translate = same) -> go.Figure:
    """One step of ``engine.compiler.cfg.cfg_trace``: what it removes ringed on the program before
    it, anything else (changed, marked, visited) on the program it returns."""
    data = step.data or {}
    removed = bool(data.get("removed"))
    program = data["before"] if removed else step.graph
    return cfg_figure(program, step.highlight, removed, title or step.title, tr)


_STAGES = (
    ("our program", "blocks_before", "instructions_before"),
    ("after our passes", "blocks_after_ours", "instructions_after_ours"),
)


def llvm_rows(cmp, tr: Translate = same) -> list[dict]:
    """Blocks and instructions: our program, after our passes, our LLVM IR, after LLVM's pipeline."""
    rows = [
        {tr("stage"): tr(word), tr("blocks"): getattr(cmp, b), tr("instructions"): getattr(cmp, i)}
        for word, b, i in _STAGES
    ]
    for word, stats in (("LLVM IR of the program", cmp.llvm_before), ("after LLVM -O2", cmp.llvm_after)):
        rows.append(
            {tr("stage"): tr(word), tr("blocks"): stats.blocks, tr("instructions"): stats.instructions}
        )
    return rows


def llvm_compare_figure(cmp, title: str | None = None, tr: Translate = same) -> go.Figure:
    """Grouped bars of :func:`llvm_rows`: blocks and instructions at each stage, ours and LLVM's."""
    rows = llvm_rows(cmp, tr)
    fig = go.Figure()
    for k, word in enumerate(("blocks", "instructions")):
        fig.add_bar(
            x=[r[tr("stage")] for r in rows],
            y=[r[tr(word)] for r in rows],
            name=tr(word),
            marker_color=(MEANING["forward"], MEANING["backward"])[k],
            text=[r[tr(word)] for r in rows],
            textposition="outside",
        )
    fig.update_xaxes(title=None)
    fig.update_yaxes(title=tr("count"))
    fig.update_layout(barmode="group")
    return apply_theme(fig, title or tr("Our passes and LLVM's -O2 on the same program"), 360)
