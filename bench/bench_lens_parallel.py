"""The parallel lens: pipeline_split of the zoo ResNet-18 into 4 stages and its 1F1B timeline, and
tensor_split of ResNet-18 and of a large transformer-MLP program (median after a first call)."""

from __future__ import annotations

from bench.run import median_time
from engine.core.language import parse_program
from engine.interop.torch_zoo import zoo_graph
from engine.parallel.graph_split import pipeline_split, tensor_split
from engine.parallel.pipeline import bubble_formula, measured_bubble

MIB = float(1 << 20)


def large_mlp(blocks: int = 4, tokens: int = 512, hidden: int = 1024) -> str:
    """``blocks`` transformer MLPs (hidden -> 4·hidden -> hidden, GeLU, residual) as a program."""
    lines = [f"x = input([{tokens}, {hidden}])"]
    for k in range(blocks):
        lines += [
            f"W1_{k} = param([{hidden}, {4 * hidden}])",
            f"b1_{k} = param([{4 * hidden}])",
            f"W2_{k} = param([{4 * hidden}, {hidden}])",
            f"b2_{k} = param([{hidden}])",
            f"x = x + gelu(x @ W1_{k} + b1_{k}) @ W2_{k} + b2_{k}",
        ]
    return "\n".join(lines)


def run() -> list[dict]:
    graph = zoo_graph("resnet18")  # torch -> ONNX -> Graph once (cached), outside the timings
    rows = []
    split = pipeline_split(graph, 4)
    t = median_time(lambda: pipeline_split(graph, 4), repeat=7)
    stages = ", ".join(f"{len(s.nodes)} nodes {s.cost / 1e9:.2f} GFLOPs" for s in split.stages)
    rows.append(
        dict(
            name=f"pipeline_split ResNet-18 ({len(graph.op_nodes)} op nodes) into 4 stages",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{stages}; balance {split.balance:.2f}; sends "
            f"{', '.join(f'{s.send_bytes / MIB:.2f}' for s in split.stages[:-1])} MiB",
        )
    )
    timed = pipeline_split(graph, 4, "time", "A100 80GB SXM")
    t = median_time(lambda: pipeline_split(graph, 4, "time", "A100 80GB SXM"), repeat=7)
    rows.append(
        dict(
            name="pipeline_split ResNet-18, roofline time on A100 80GB",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"stage µs: {', '.join(f'{c * 1e6:.1f}' for c in timed.costs)}",
        )
    )
    tl = split.timeline(16, "1f1b")
    t = median_time(lambda: split.timeline(16, "1f1b"), repeat=7)
    rows.append(
        dict(
            name="1F1B timeline of those 4 stages, 16 micro-batches",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"bubble {measured_bubble(tl):.3f} measured vs "
            f"{bubble_formula(4, 16, '1f1b')['of_total']:.3f} for "
            f"equal stages",
        )
    )
    tp = tensor_split(graph, 4)
    t = median_time(lambda: tensor_split(graph, 4), repeat=7)
    rows.append(
        dict(
            name="tensor_split ResNet-18 over 4 devices",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{[layer.kind for layer in tp.layers]}; params per device "
            f"{tp.param_bytes[0] / MIB:.1f} of "
            f"{tp.unsplit_param_bytes / MIB:.1f} MiB",
        )
    )
    mlp = parse_program(large_mlp())
    tp = tensor_split(mlp, 8)
    t = median_time(lambda: tensor_split(mlp, 8), repeat=7)
    comm = sum(c.message_bytes for c in tp.collectives)
    rows.append(
        dict(
            name="tensor_split 4 transformer MLPs (1024 -> 4096) over 8 devices",
            value=t * 1e3,
            unit="ms",
            target="<= 300 ms",
            note=f"{len(tp.collectives)} all-reduces of {comm / len(tp.collectives) / MIB:.0f} MiB; "
            f"params per device {tp.param_bytes[0] / MIB:.0f} of "
            f"{tp.unsplit_param_bytes / MIB:.0f} MiB",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
