"""The pruning lens on the zoo ResNet-18 (11.7 M weights in 21 conv/gemm layers, real values).

Rows: engine.prune for each method (median of 5 after a warm-up call; target <= 300 ms), torch's
l1_unstructured over the same 21 weight arrays for scale, and engine.prune_report (median of 3),
which runs the graph twice (unpruned and pruned) for the output drift, so it costs about two
engine.run calls of ResNet-18 on top of the counting.
"""

from __future__ import annotations

from bench.run import median_time


def _torch_l1(arrays) -> float:
    import torch
    from torch.nn.utils import prune as tprune

    def go():
        for w in arrays:
            holder = torch.nn.Module()
            holder.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
            tprune.l1_unstructured(holder, "weight", amount=0.5)

    return median_time(go, repeat=5)


def run() -> list[dict]:
    import engine
    from engine.compression.graph_prune import prunable_layers
    from engine.core.interpreter import source_value
    from engine.interop.torch_zoo import zoo_graph

    graph = zoo_graph("resnet18", 1)
    layers = prunable_layers(graph)
    rows = []
    for method in ("magnitude", "structured", "2:4"):
        t = median_time(lambda m=method: engine.prune(graph, 0.5, m), repeat=5)
        rows.append(
            dict(
                name=f"engine.prune ResNet-18, {method} 0.5 (median of 5)",
                value=t * 1e3,
                unit="ms",
                target="<= 300",
                note=f"{len(layers)} layers, 11.7 M weights",
            )
        )
    arrays = [source_value(graph.node(ly.weight)) for ly in layers]
    rows.append(
        dict(
            name="torch.nn.utils.prune.l1_unstructured, the same 21 weights",
            unit="ms",
            value=_torch_l1(arrays) * 1e3,
            target="",
            note="for scale: the same masks",
        )
    )
    pruned = engine.prune(graph, 0.5, "magnitude")
    t_report = median_time(lambda: engine.prune_report(graph, pruned), repeat=3)
    t_run = median_time(lambda: engine.run(graph), repeat=3)
    report = engine.prune_report(graph, pruned)
    rows.append(
        dict(
            name="engine.prune_report ResNet-18, magnitude 0.5 (median of 3)",
            value=t_report * 1e3,
            unit="ms",
            target="",
            note=f"two runs for the drift (engine.run alone {t_run * 1e3:.0f} ms); drift "
            f"{report.drift:.3f}, skippable {100 * report.skippable_fraction:.1f}% "
            "of FLOPs",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
