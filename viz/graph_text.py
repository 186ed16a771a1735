"""A graph as text for other tools: Graphviz DOT and Mermaid flowcharts.

Both list every node once (label: name, op, shape) and every distinct edge ``input -> consumer`` once.
Names may contain characters such as ``#`` and ``.`` (``matmul#2``), so
  * DOT: every id is a double-quoted string with ``\\`` and ``"`` escaped;
  * Mermaid: ids are generated (``n0``, ``n1``, ...; Mermaid ids must be plain words) and the name
    goes into a quoted label, with ``"`` replaced by ``#quot;`` (Mermaid's entity syntax).
Sources are drawn as ellipses/rounded boxes, ops as boxes; node fill colours follow
:data:`viz.theme.KIND_COLORS`. Not handled: subgraphs/clusters (groups) and edge shapes in Mermaid.
"""

from __future__ import annotations

from .graph import node_kind
from .theme import KIND_COLORS
from .words import Translate, same

_SOURCES = ("input", "param", "constant")


def _shape(node) -> str:
    return "×".join(str(d) for d in node.shape) or "scalar"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph, rankdir: str = "TB") -> str:
    """Graphviz DOT text of ``graph`` (render with ``dot -Tsvg``)."""
    lines = [
        f"digraph {_dot_quote(graph.title or 'graph')} {{",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11, style=filled];',
        '  edge [fontname="Helvetica", fontsize=9, color="#777777"];',
    ]
    cache: dict = {}
    for n in graph.nodes:
        kind = node_kind(n, cache)
        shape = "ellipse" if n.op in _SOURCES else "box"
        label = f"{n.name}\n{n.op} {_shape(n)}" if n.name != n.op else f"{n.op} {_shape(n)}"
        color = KIND_COLORS.get(kind, KIND_COLORS["opaque"])
        lines.append(
            f'  {_dot_quote(n.name)} [label={_dot_quote(label)}, shape={shape}, fillcolor="{color}"];'
        )
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            label = _shape(graph.by_name[i])
            lines.append(f"  {_dot_quote(i)} -> {_dot_quote(n.name)} [label={_dot_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def mermaid_ids(graph) -> dict[str, str]:
    """Node name -> the Mermaid id used for it (``n0``, ``n1``, ... in graph order)."""
    return {n.name: f"n{k}" for k, n in enumerate(graph.nodes)}


def to_mermaid(graph, direction: str = "TD") -> str:
    """Mermaid flowchart text of ``graph`` (paste into a Markdown ```mermaid block)."""
    ids = mermaid_ids(graph)
    lines = [f"flowchart {direction}"]
    cache: dict = {}
    used_kinds: dict[str, str] = {}
    for n in graph.nodes:
        label = _mermaid_label(f"{n.name}: {n.op} {_shape(n)}")
        box = f"({label})" if n.op in _SOURCES else f"[{label}]"
        kind = node_kind(n, cache)
        used_kinds[ids[n.name]] = kind
        lines.append(f"  {ids[n.name]}{box}")
    for n in graph.nodes:
        for i in dict.fromkeys(n.inputs):
            lines.append(f"  {ids[i]} -->|{_shape(graph.by_name[i])}| {ids[n.name]}")
    for kind in dict.fromkeys(used_kinds.values()):
        color = KIND_COLORS.get(kind, KIND_COLORS["opaque"])
        members = ",".join(i for i, k in used_kinds.items() if k == kind)
        lines.append(f"  classDef {kind} fill:{color},stroke:#333")
        lines.append(f"  class {members} {kind}")
    return "\n".join(lines) + "\n"


def _plain_attr(value):
    """An attribute value for JSON: a small tensor as nested lists, a large one as its shape only."""
    array = getattr(value, "array", None)
    if array is not None:
        if array.size <= 64:
            return array.tolist()
        return {"tensor": list(array.shape), "dtype": str(array.dtype)}
    if isinstance(value, tuple):
        return [_plain_attr(v) for v in value]
    return value


def graph_json(graph) -> str:
    """JSON of the graph's structure (weights larger than 64 numbers are written as their shape)."""
    import json

    data = {
        "title": graph.title,
        "outputs": list(graph.outputs),
        "nodes": [
            {
                "name": n.name,
                "op": n.op,
                "inputs": list(n.inputs),
                "shape": list(n.shape),
                "dtype": n.dtype,
                "attrs": {k: _plain_attr(v) for k, v in n.attrs},
            }
            for n in graph.nodes
        ],
    }
    return json.dumps(data, indent=1, ensure_ascii=False, default=str)


def flops_formula(op: str, in_shapes, out_shape, flops: int, macs: int, tr: Translate = same) -> str:
    """How a node's FLOPs follow from its MACs, in words (in the view's language through ``tr``)."""

    def shape(s) -> str:
        return "×".join(map(str, s)) or tr("scalar")

    head = f"{op}({', '.join(shape(s) for s in in_shapes)}) → {shape(out_shape)}: "
    if macs:
        extra = flops - 2 * macs
        tail = tr(" + {extra} (one add per output for the bias)").format(extra=f"{extra:,}") if extra else ""
        return head + tr("MACs = {macs}; FLOPs = 2 × MACs{tail} = {flops}.").format(
            macs=f"{macs:,}", tail=tail, flops=f"{flops:,}"
        )
    return head + tr("no multiply-accumulates: {flops} FLOPs (1 per element touched).").format(
        flops=f"{flops:,}"
    )


def cost_table(report, total_label: str = "TOTAL") -> list[dict]:
    """Rows of an engine CostReport for a table/CSV (shape as text), plus a totals row."""
    rows = [{**r, "shape": "×".join(map(str, r["shape"]))} for r in report.rows()]
    moved = report.bytes_read + report.bytes_written
    rows.append(
        {
            "name": total_label,
            "op": "",
            "kind": "",
            "shape": "",
            "flops": report.flops,
            "macs": report.macs,
            "params": report.params,
            "bytes_read": report.bytes_read,
            "bytes_written": report.bytes_written,
            "arithmetic_intensity": report.flops / moved if moved else 0.0,
        }
    )
    return rows
