"""The lightweight model zoo: build + cost of one network per new family (target < 200 ms each), the
shapes-only count of EfficientNet-B7 at 600x600, the B0–B7 sweep (< 500 ms) and the G2 experiment."""

from __future__ import annotations

from bench.run import median_time

NETWORKS = (
    "MobileNetV4-Conv-S",
    "MobileNetV4-Hybrid-M",
    "ShuffleNetV1-g3",
    "EfficientNet-B3",
    "EfficientNetV2-S",
    "MobileViTv2-1",
    "MobileViTv3-S",
    "EfficientFormer-L1",
)


def run() -> list[dict]:
    from engine.core.cost_model import cost
    from engine.models import guidelines, zoo, zoo_views

    rows = []
    for name in NETWORKS:
        t = median_time(lambda name=name: cost(zoo.build_network(name)), repeat=3)
        rows.append(dict(name=f"build + cost {name}", value=1e3 * t, unit="ms", target="< 200 ms", note=""))
    t = median_time(lambda: zoo.count_network("EfficientNet-B7"), repeat=3)
    rows.append(
        dict(
            name="count EfficientNet-B7 @600 (shapes only)",
            value=1e3 * t,
            unit="ms",
            target="< 200 ms",
            note="the graph itself is over the element budget",
        )
    )
    t = median_time(zoo_views.efficientnet_sweep, repeat=3)
    rows.append(dict(name="EfficientNet B0–B7 sweep", value=1e3 * t, unit="ms", target="< 500 ms", note=""))
    t = median_time(lambda: guidelines.g2_groups(repeats=1), repeat=1)
    rows.append(
        dict(
            name="G2 experiment (4 graphs, 1 timed run each)",
            value=1e3 * t,
            unit="ms",
            target="",
            note="depends on the server's load",
        )
    )
    return rows
