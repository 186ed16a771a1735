"""The GEMM lab's schedule in TVM (engine/kernels/tvm_gemm.py): TVM's import, the compile of one
scheduled 256³ kernel, and the kernel's time against numpy's (one BLAS thread each) for the untiled
schedule and a tiled, vectorised one; the page's default 64³ call end to end, cost model included.
The machine is shared: read the ratios."""

from __future__ import annotations

import time

from engine.kernels import tvm_gemm as tg

SCHEDULES = (
    ("untiled ijk", dict(order="ijk")),
    ("untiled ikj, vector 8", dict(order="ikj", vectorize=8)),
    ("tiles 32, ikj, vector 8", dict(tile_m=32, tile_n=32, tile_k=32, order="ikj", vectorize=8)),
    (
        "tiles 32, ikj, vector 8, unroll 4",
        dict(tile_m=32, tile_n=32, tile_k=32, order="ikj", vectorize=8, unroll=4),
    ),
)
PAGE_DEFAULT = dict(tile_m=16, tile_n=16, tile_k=16, order="ikj", vectorize=8, unroll=2)


def run() -> list[dict]:
    t0 = time.perf_counter()
    if not tg.tvm_available():
        return [
            dict(
                name="TVM GEMM",
                value=float("nan"),
                unit="",
                target="",
                note=f"TVM missing: {tg.INSTALL_HINT}",
            )
        ]
    rows = [
        dict(
            name="import tvm (first tvm_available call)",
            value=time.perf_counter() - t0,
            unit="s",
            target="",
            note="imports torch too",
        )
    ]
    for label, sched in SCHEDULES:
        r = tg.tvm_gemm(256, 256, 256, **sched)
        rows.append(
            dict(
                name=f"TVM GEMM 256³, {label}",
                value=r.tvm_s / r.numpy_s,
                unit="x numpy",
                target="",
                note=f"kernel {r.tvm_s * 1e3:.2f} ms, numpy {r.numpy_s * 1e3:.2f} ms (one BLAS thread), "
                f"compile {r.compile_s * 1e3:.0f} ms for {r.target}, max |diff| {r.max_abs_diff:.1e}",
            )
        )
    t0 = time.perf_counter()
    r = tg.tvm_gemm(64, 64, 64, **PAGE_DEFAULT)
    rows.append(
        dict(
            name="page default: TVM GEMM 64³ end to end",
            value=(time.perf_counter() - t0) * 1e3,
            unit="ms",
            target="<= 2000 ms",
            note=f"kernel {r.tvm_s * 1e6:.1f} µs, numpy {r.numpy_s * 1e6:.1f} µs, "
            f"cost model {r.estimate.seconds * 1e6:.1f} µs (estimate)",
        )
    )
    return rows
