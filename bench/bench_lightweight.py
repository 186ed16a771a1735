"""Lightweight-models lab: build + cost time of each network, and the block explorer's graph."""

from __future__ import annotations

from bench.run import median_time


def run() -> list[dict]:
    from engine.core.cost_model import cost
    from engine.models import analysis as la
    from engine.models import blocks as lw
    from engine.models import networks as nets

    rows = []
    for name in nets.NETWORKS:
        graph = nets.build_network(name)
        build = median_time(lambda n=name: nets.build_network(n), repeat=5)
        both = median_time(lambda n=name: cost(nets.build_network(n)), repeat=5)
        rows.append(
            dict(
                name=f"build+cost {name}",
                value=both * 1e3,
                unit="ms",
                target="< 200 ms",
                note=f"{len(graph.nodes)} nodes; build alone {build * 1e3:.1f} ms",
            )
        )
    graph = nets.build_network("MobileNetV2")
    t = median_time(lambda: la.layer_points(graph, "Phone CPU (assumed)"), repeat=5)
    rows.append(
        dict(
            name="layer roofline MobileNetV2",
            value=t * 1e3,
            unit="ms",
            target="< 100 ms",
            note="engine.core.cost_model + classification of 53 conv/linear layers",
        )
    )
    t = median_time(lambda: la.width_sweep(), repeat=3)
    rows.append(
        dict(
            name="MobileNetV1 Tables 6/7 sweep",
            value=t * 1e3,
            unit="ms",
            target="< 1000 ms",
            note="7 networks built and costed",
        )
    )
    t = median_time(lambda: cost(lw.build_block("mobilevit", 96, 96, 3, 32, d=144, layers=2)), repeat=5)
    rows.append(
        dict(
            name="MobileViT block 96ch 32x32 build+cost",
            value=t * 1e3,
            unit="ms",
            target="< 100 ms",
            note="d = 144, 2 transformer layers",
        )
    )
    rows += _page_times()
    return rows


def _page_times() -> list[dict]:
    """Seconds of the page's first render (cold caches) and of a rerun (warm)."""
    import time
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = str(Path(__file__).resolve().parent.parent / "labs" / "lightweight_models.py")
    at = AppTest.from_file(page, default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    warm = median_time(at.run, repeat=3, warmup=0)
    return [
        dict(
            name="page first render",
            value=cold,
            unit="s",
            target="< 10 s",
            note="all 9 networks built, costed and placed on the roofline",
        ),
        dict(name="page rerun (warm cache)", value=warm, unit="s", target="< 3 s", note=""),
    ]


if __name__ == "__main__":
    for r in run():
        print(r)
