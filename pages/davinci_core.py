"""Ascend DaVinci AI Core: a tiled fp16 matmul through L1/L0A/L0B/L0C/UB, engine by engine."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine.hw import cube_conv2d, cube_matmul
from engine.hw.davinci import ASCEND910_BUFFERS
from viz.hardware import ZH, davinci_diagram, davinci_gantt

ui.setup("davinci_core", "Ascend DaVinci AI Core", "昇腾达芬奇 AI Core",
         "A 16×16×16 Cube fed by a ladder of buffers: keep the Cube busy and the chip is fast.",
         "16×16×16 的 Cube 由多级缓冲喂数：让 Cube 一直忙碌，芯片才快。")
t_ = ui.t
KB = 1024


fit, shared = ui.figure_view(ZH)
davinci_diagram = shared(davinci_diagram)
davinci_gantt = shared(davinci_gantt)


def _fp16(x):
    return np.asarray(x).astype(np.float16).astype(np.float64)


def matmul_run(M, K, N, **kw):
    """The simulated run and the largest |difference| from numpy's matmul of the same fp16 operands."""
    res = cube_matmul(M, K, N, **kw)
    rng = np.random.default_rng(0)            # cube_matmul's own operands (seed 0, A then B)
    a, b = _fp16(rng.standard_normal((M, K))), _fp16(rng.standard_normal((K, N)))
    return res, float(np.abs(res.product - a @ b).max(initial=0.0))


def conv_run(cin, hw, cout, k, stride, pad, **kw):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((cin, hw, hw)), rng.standard_normal((cout, cin, k, k))
    y, res = cube_conv2d(x, w, stride=stride, pad=pad, **kw)
    xp = np.pad(_fp16(x), ((0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    ref = np.einsum("chwij,ocij->ohw", win, _fp16(w))          # direct convolution in numpy
    return res, float(np.abs(y - ref).max(initial=0.0))


with ui.controls():
    mode = st.radio(t_("Workload", "负载"), ["matmul", "conv"], horizontal=True, key="dv_mode",
                    format_func=lambda m: t_("Matmul", "矩阵乘") if m == "matmul" else
                    t_("Convolution (img2col)", "卷积 (img2col)"), bind="query-params")
    d = st.columns(4)
    if mode == "matmul":
        M = d[0].number_input("M", 0, 1536, 512, step=16, key="dv_m", bind="query-params")
        K = d[1].number_input("K", 0, 1536, 512, step=16, key="dv_k", bind="query-params")
        N = d[2].number_input("N", 0, 1536, 512, step=16, key="dv_n", bind="query-params")
    else:
        cin = d[0].number_input("Cin", 1, 256, 16, key="dv_cin", bind="query-params")
        hw = d[1].number_input("H = W", 3, 128, 32, key="dv_hw", bind="query-params")
        cout = d[2].number_input("Cout", 1, 256, 64, key="dv_cout", bind="query-params")
        kk = d[3].number_input(t_("Kernel", "卷积核"), 1, 7, 3, key="dv_kk", bind="query-params")
    tiles = [16, 32, 48, 64, 96, 128, 192, 256]
    t = st.columns(4)
    tm = t[0].select_slider(t_("Tile M", "分块 M"), tiles, 128, key="dv_tm", bind="query-params")
    tk = t[1].select_slider(t_("Tile K", "分块 K"), tiles, 128, key="dv_tk", bind="query-params")
    tn = t[2].select_slider(t_("Tile N", "分块 N"), tiles, 128, key="dv_tn", bind="query-params")
    db = t[3].toggle(t_("Double buffering", "双缓冲"), True, key="dv_db", bind="query-params")
    with st.expander(t_("What-if: buffer sizes (KB) and transfer rates", "假设分析：缓冲大小 (KB) 与传输速率")):
        b = st.columns(5)
        sizes = {name: int(b[i].number_input(name.upper(), 1, 4096, ASCEND910_BUFFERS[name] // KB,
                                             key=f"dv_{name}", bind="query-params")) * KB
                 for i, name in enumerate(ASCEND910_BUFFERS)}
        r3 = st.columns(3)
        rates = {"gm_bytes_per_cycle": r3[0].number_input(t_("GM bytes/cycle", "GM 字节/周期"), 1, 4096, 128,
                                                          key="dv_gm", bind="query-params"),
                 "l1_bytes_per_cycle": r3[1].number_input(t_("L1→L0 bytes/cycle", "L1→L0 字节/周期"), 1, 4096,
                                                          256, key="dv_l1bw", bind="query-params"),
                 "vector_elems_per_cycle": r3[2].number_input(t_("FixPipe elems/cycle", "FixPipe 元素/周期"),
                                                              1, 4096, 128, key="dv_vec", bind="query-params")}

with ui.guard():
    kw = dict(tile_m=tm, tile_k=tk, tile_n=tn, double_buffer=db, **sizes, **rates)
    if mode == "matmul":
        res, err = ui.cached(matmul_run)(int(M), int(K), int(N), **kw)
        ref = t_("numpy's A @ B", "numpy 的 A @ B")
    else:
        res, err = ui.cached(conv_run)(int(cin), int(hw), int(cout), int(kk), 1, int(kk) // 2, **kw)
        ref = t_("a direct numpy convolution", "numpy 直接卷积")
        st.caption(t_(f"img2col turned the convolution into a {res.padded[0]}×{res.padded[1]} by "
                      f"{res.padded[1]}×{res.padded[2]} matmul (padded to 16).",
                      f"img2col 把卷积变成 {res.padded[0]}×{res.padded[1]} 乘 {res.padded[1]}×{res.padded[2]} "
                      "的矩阵乘（已补齐到 16 的倍数）。"))
    m = st.columns(4)
    m[0].metric(t_("Total time (cycles)", "总时间（周期）"), f"{res.cycles:,.0f}")
    m[1].metric(t_("Cube utilisation", "Cube 利用率"), f"{100 * res.cube_utilization:.1f}%",
                help=t_(f"Cube busy / total time; useful MACs / (time × 4096) = {100 * res.mac_utilization:.1f}%",
                        f"Cube 忙碌时间 / 总时间；有效乘加 / (时间 × 4096) = {100 * res.mac_utilization:.1f}%"))
    m[2].metric(t_("Cube stalls (cycles)", "Cube 等待（周期）"), f"{res.stalls['Cube']:,.0f}")
    m[3].metric(t_("Max |error| vs numpy", "与 numpy 的最大误差"), f"{err:.1e}",
                help=t_(f"Compared with {ref} on the same fp16 operands; the Cube accumulates in fp32.",
                        f"与相同 fp16 操作数下{ref}的结果比较；Cube 以 fp32 累加。"))
    run_key = (mode, M, K, N) if mode == "matmul" else (mode, cin, hw, cout, kk)
    ui.show_figure(fit(davinci_gantt(res.timeline, t_(f"Pipeline per engine — tile {'×'.join(map(str, res.tile))} "
                                                      f"(m×k×n)", f"各引擎流水线 —— 分块 "
                                                      f"{'×'.join(map(str, res.tile))}（m×k×n）"),
                                     cache_key=(run_key, tuple(sorted(kw.items()))))), "dv_gantt",
                   t_("With double buffering the next tile's loads overlap the Cube's work on the current one; "
                      "turn it off and the engines take turns.", "开启双缓冲时，下一块的搬运与 Cube 对当前块的计算"
                      "重叠；关闭后各引擎只能轮流工作。"),
                   data={"stalls": res.stalls, "buffer_use": res.buffer_use, "cycles": res.cycles},
                   rows=[{"engine": e.unit, "start": e.start, "end": e.end, "label": e.label}
                         for e in res.timeline.events])
    st.dataframe([{t_("buffer", "缓冲"): k.upper(), t_("used (KB)", "已用 (KB)"): u / KB,
                   t_("capacity (KB)", "容量 (KB)"): c / KB} for k, (u, c) in res.buffer_use.items()],
                 hide_index=True)

ui.show_figure(fit(davinci_diagram(t_("One AI Core", "一个 AI Core"), "Cube 16×16×16", sizes)), "dv_arch",
               t_("Operands travel GM → L1 → L0A/L0B → Cube → L0C → UB → GM; each arrow is a separate engine "
                  "that can run at the same time as the others.", "操作数的路径：GM → L1 → L0A/L0B → Cube → L0C → "
                  "UB → GM；每个箭头是一个独立的搬运引擎，可以与其他引擎同时工作。"))

ui.checkpoint("dv_ck", t_("How many cycles does the Cube need for one 128×128×128 fp16 tile?",
                          "Cube 计算一个 128×128×128 的 fp16 分块需要多少个周期？"), (128 // 16) ** 3,
              t_("(128/16)³ = 512 fractal products, one per cycle.", "(128/16)³ = 512 次分形乘，每周期一次。"))
ui.lesson("davinci_core")
