"""Convolution algorithms: direct, im2col + GEMM, Winograd F(2x2, 3x3); grouped and depthwise."""
from __future__ import annotations

import numpy as np
import streamlit as st

import engine
import ui
from engine.kernels import conv
from viz import kernels as vk

ui.setup("conv_algorithms",
         "Convolution algorithms",
         "Three ways to compute the same convolution: they agree to the last digit and differ in "
         "multiplies and memory.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
KINDS = ("standard", "depthwise", "pointwise", "grouped")  # URL ids; shown in the page's language


def run_all(n, cin, hw, kout, ksize, stride, pad, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, hw, hw))
    w = rng.standard_normal((kout, cin // groups, ksize, ksize))
    outs = {}
    for alg in conv.ALGORITHMS:
        try:
            outs[alg] = engine.conv2d(x, w, stride, pad, alg, groups)
        except engine.ShapeError as exc:
            outs[alg] = str(exc)
    import torch  # the oracle, imported only here
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=stride, padding=pad,
                                     groups=groups).numpy()
    return x, w, outs, ref


@ui.section   # the convolution's controls and everything they drive: a change reruns only this section
def conv_view() -> None:
    with ui.controls():
        c = st.columns([2, 1, 1, 1, 1, 1])
        kind = ui.by_id(c[0]).selectbox(t_("Kind"), list(KINDS), format_func=t_, key="ca_kind",
                                        bind="query-params")
        cin = c[1].number_input(t_("Channels C"), 1, 64, 4, key="ca_c", bind="query-params")
        hw = c[2].number_input("H = W", 1, 64, 8, key="ca_hw", bind="query-params")
        kout = c[3].number_input(t_("Filters K"), 1, 64, 4, key="ca_k", bind="query-params")
        ksize = c[4].selectbox(t_("Kernel"), [1, 3, 5], index=1, key="ca_ks", bind="query-params")
        stride = c[5].selectbox(t_("Stride"), [1, 2], key="ca_stride", bind="query-params")
        pad = st.slider(t_("Padding"), 0, 2, 1, key="ca_pad", bind="query-params")

    with ui.guard():
        groups = {"standard": 1, "depthwise": cin, "pointwise": 1, "grouped": 2}[kind]
        if kind == "pointwise":
            ksize = 1
        if kind == "depthwise":
            kout = cin
        if kind == "grouped" and (cin % 2 or kout % 2):
            raise engine.ShapeError(f"2 groups need even C and K; got C = {cin}, K = {kout}")
        with st.spinner(t_("Running every algorithm and torch's conv2d (the first time loads torch)...")):
            x, w, outs, ref = ui.cached(run_all)(1, cin, hw, kout, ksize, stride, pad, groups)
        costs = conv.conv_costs(1, cin, hw, hw, kout, ksize, ksize, stride, pad, groups)
        by_alg = {r.algorithm: r for r in costs}
        direct = by_alg["direct"].multiplies
        rows = []
        for alg, out in outs.items():
            r = by_alg.get(alg)
            ok = not isinstance(out, str)
            rows.append({t_("algorithm"): alg,
                         t_("max |diff| vs torch"): f"{np.abs(out - ref).max():.1e}" if ok else "—",
                         t_("multiplies"): f"{r.multiplies:,}" if r else "—",
                         "FLOPs": f"{r.flops:,}" if r else "—",
                         t_("extra memory (bytes, fp32)"): f"{r.extra_bytes:,}" if r else "—",
                         t_("note"): (ui.t_message(r.note) if r else out)})
        ui.table(rows)
        worst = max(float(np.abs(o - ref).max()) for o in outs.values() if not isinstance(o, str))
        st.success(t_("Matches torch.nn.functional.conv2d: every algorithm within {worst:.1e} (float64, "
                      "same random input).", worst=worst))
        if "winograd" in by_alg:
            ratio = direct / by_alg["winograd"].multiplies
            st.success(t_("Matches Lavin & Gray (2016): F(2×2, 3×3) needs {ratio:.2f}× fewer multiplies; "
                          "the paper gives 36/16 = 2.25× (difference {v2:.2f}, from partial tiles at the "
                          "edge).",
                          ratio=ratio, v2=abs(ratio - 2.25)))
        st.caption(t_("Each output is compared with torch.nn.functional.conv2d on the same random input; "
                      "Winograd's transforms add extra additions not counted as multiplies."))
        ui.show_figure(vk.conv_cost_bars(costs, tr=TR), "ca_costs", rows=rows, main=True, caption=
                       t_("im2col does the same multiplies as direct but needs a workspace ~KH·KW times "
                          "the input; Winograd cuts multiplies 2.25× for 3×3 stride-1 layers."))

        st.subheader(t_("The unrolled matrix of im2col"))
        cols = conv.im2col(x[:, :cin // groups], ksize, ksize, stride, pad)[0]
        ui.show_figure(vk.im2col_heatmap(cols[:, :256], ksize, ksize, tr=TR), "ca_im2col",
                       t_("Each column is one receptive field: {v2} rows × {v3} columns = {v4:.2f}× the "
                          "input (first group, at most 256 columns shown). Neighbouring columns repeat the "
                          "same pixels.",
                          v2=cols.shape[0], v3=cols.shape[1], v4=cols.size / x[:, :cin // groups].size))
        ui.checkpoint("ca_blowup", t_("For a 3×3 kernel, stride 1 and 'same' padding, how many times "
                                      "larger than the input is the im2col matrix?"), 9.0,
                      t_("Every pixel is copied once per kernel tap: KH·KW = 9."))

        st.subheader(t_("Winograd F(2×2, 3×3): Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A"))
        m = st.columns(3)
        for col, (key, name, mat) in zip(m, (("bt", "Bᵀ", conv.WINOGRAD_BT), ("g", "G", conv.WINOGRAD_G),
                                             ("at", "Aᵀ", conv.WINOGRAD_AT))):
            with col:
                ui.show_figure(vk.matrix_table_fig(mat, name, tr=TR), f"ca_{key}",
                               t_("{name} from Lavin & Gray (2016).", name=name))
        st.caption(t_("A 4×4 input tile and the 3×3 filter are transformed to 4×4, multiplied element by "
                      "element (16 multiplies), and transformed back to a 2×2 output tile — direct "
                      "convolution needs 4 × 9 = 36."))


conv_view()

ui.lesson("conv_algorithms")
