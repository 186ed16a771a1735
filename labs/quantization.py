"""Quantization: observers, the grid, PTQ, QAT with the STE, integer-only inference."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine import quant
from engine.compression import lab as CL
from engine.compression.quant import integer as QI
from engine.compression.quant import qat as Q
from ui import workspace as ws
from ui.heavy import cached_heavy, run_heavy
from viz import compression as vc

ui.setup("quantization", "Quantization",
         "Pick a tensor of a model trained here, pick an observer, and see the range it chooses, the "
         "grid it makes and what that costs in accuracy.")
t_, TR, fig = ui.t, ui.translator(), ui.cached_resource   # figures: in the view's language, cached

# your graph, quantised: ResNet-18 takes ~1.5 s, so shared by every session, real work via the limiter
lens = fig(run_heavy(lambda g, *q: CL.quant_lens(ws.graph_of(ws.parse_g(g))[0], *q), "graph"))
graph_fig = fig(lambda *a, title, tr: vc.quant_graph_figure(lens(*a), title, tr=tr))
ort = cached_heavy(lambda *a: CL.ort_check(lens(*a)), "graph")

@ui.section   # your graph, quantised: a new graph, bit width, scheme or granularity reruns only this section
def graph_view() -> None:
    st.subheader(t_("Quantize your graph"))
    with ui.controls("graph"):
        c = st.columns([2, 1, 1, 1])
        choice = ws.choose("qz_graph", ("preset:conv_bn_relu", "zoo:tiny_cnn", "zoo:resnet18"), slot=c[0])
        gq = (c[1].slider(t_("Bits"), 2, 8, 8, key="qz_gbits", bind="query-params"),
              c[2].selectbox(t_("Scheme"), ["symmetric", "affine"], key="qz_gscheme", bind="query-params"),
              c[3].selectbox(t_("Granularity"), ["per_tensor", "per_channel"], key="qz_ggran",
                             bind="query-params"))
    with ui.guard():
        if choice is not None:
            rows, name, bits = CL.quant_rows(r := lens(g := choice.source.g, *gq).report), choice.name, gq[0]
            title = t_("{name} at int{bits}: the error each layer adds", name=name, bits=bits)
            ui.show_figure(fig(vc.sensitivity_figure)(rows, title, tr=TR), "qz_gsens", t_(
                "Blue: only that layer quantised; red: every layer, upstream errors included. The tallest "
                "blue bar is the layer to keep in higher precision."), data=r, rows=rows)
            m = st.columns(4)
            m[0].metric(t_("model size, float"), CL.size_text(r.bytes_before))
            m[1].metric(t_("model size, int{bits}", bits=bits), CL.size_text(r.bytes_after),
                        f"÷{r.compression:.2f}", delta_color="off")
            m[2].metric(t_("Q / DQ nodes"), f"{r.quantize_nodes} / {r.dequantize_nodes}")
            m[3].metric(t_("output error, all quantised"), f"{max(e for _, e in r.outputs):.2%}")
            ui.show_figure(graph_fig(g, *gq, title=t_("{name} with Q/DQ nodes", name=name), tr=TR),
                           "qz_ggraph", t_("Orange rings: the inserted Q/DQ ops (the diamonds beside them: "
                                           "integer weights, scales, zero points); red rings: the layers."))
            if st.button(t_("Check with onnxruntime"), key="qz_gort"):   # heavy: only on demand
                st.caption(ui.t_message(ort(g, *gq).summary))

graph_view()

st.subheader(t_("One tensor of a model trained here"))
with ui.controls():
    c = st.columns(5)
    model = c[0].selectbox(t_("Model"), ["mlp", "cnn"], key="qz_model", bind="query-params")
    tensor = c[1].selectbox(t_("Tensor"), Q.tensor_names(model), key=f"qz_tensor_{model}",
                            bind="query-params")
    method = c[2].selectbox(t_("Observer"), list(quant.METHODS), key="qz_obs", bind="query-params")
    dtype = c[3].selectbox(t_("Integer grid"), ["qint8", "quint8", "qint4", "quint4"],
                           key="qz_dtype", bind="query-params")
    scheme = c[4].selectbox(t_("Scheme"), ["symmetric", "affine"], key="qz_scheme", bind="query-params")
    c2 = st.columns([1, 1, 2])
    reduce_range = c2[0].toggle("reduce_range", False, key="qz_rr", bind="query-params",
                                help=t_("Use one bit less of the grid (x86 VPMADDUBSW overflow guard)."))
    per_channel = c2[1].toggle(t_("per channel"), False, key="qz_pc", bind="query-params")
    pct = c2[2].slider(t_("Percentile p (percentile observer)"), 90.0, 100.0,
                       99.9, 0.1, key="qz_pct", bind="query-params")
with ui.guard():
    x, obs, refused = cached_heavy(Q.compare_observers, "train")(model, 0, tensor, dtype, scheme,
                                                                 reduce_range, pct, per_channel)
    for name, why in refused.items():
        st.warning(f"{name}: {ui.t_message(why)}")
    if method not in obs:
        method = next(iter(obs))
        st.info(t_("Showing {method} instead.", method=method))
    o = obs[method]
    if per_channel:
        ui.show_figure(fig(vc.channel_ranges_figure)(obs, method, t_("Per-channel ranges of {tensor}",
                                                                     tensor=tensor), tr=TR),
                       "qz_channels", t_("One range per output channel: a channel with small weights "
                                         "gets its own fine grid instead of sharing the widest one."))
    else:
        ui.show_figure(fig(vc.observer_figure)(x, obs, method, t_("Where each observer clips {tensor}",
                                                                  tensor=tensor), tr=TR),
                       "qz_hist", t_("Grey: the values (log count). Lines: each observer's [min, max]; "
                                     "the thick one is the observer you picked. Outliers pull min-max "
                                     "wide; percentile, MSE and entropy clip them."),
                       rows=[dict(observer=k, min=float(v.min_val), max=float(v.max_val),
                                  scale=float(v.scale), zero_point=int(v.zero_point))
                             for k, v in obs.items()])
    axis = (0 if x.ndim == 4 else 1) if per_channel else None
    scales, zps = np.ravel(o.scale), np.ravel(o.zero_point)
    m = st.columns(4)
    m[0].metric(t_("scale s"), f"{scales[0]:.6g}" if scales.size == 1
                else f"{scales.min():.3g} … {scales.max():.3g}")
    m[1].metric(t_("zero point z"), str(zps[0]) if len(set(zps)) == 1 else f"{zps.min()} … {zps.max()}")
    m[2].metric(t_("grid"), f"[{o.qmin}, {o.qmax}]")
    xq = quant.fake_quant(x, o.scale, o.zero_point, dtype, axis=axis, reduce_range=reduce_range)
    m[3].metric(t_("RMS error"), f"{float(np.sqrt(np.mean((xq - x) ** 2))):.3g}")
    st.caption(t_("{method}: {note}.", method=method, note=ui.t_message(o.note)))
    c = int(np.argmax(np.ravel(o.max_val) - np.ravel(o.min_val))) if per_channel else 0
    pick = (lambda a: np.take(a, c, axis=axis)) if per_channel else (lambda a: a)
    ui.show_figure(fig(vc.grid_figure)(pick(x), pick(xq), float(scales[c if per_channel else 0]),
                                  float(np.ravel(o.min_val)[c]), float(np.ravel(o.max_val)[c]),
                                  t_("The quantisation grid: x → q = round(x/s) + z → x^ = s (q − z)")
                                  + (t_(" (channel {c}, the widest)", c=c) if per_channel else ""), tr=TR),
                   "qz_grid", t_("Inside the green band the error stays within ±s/2 (dashed); outside "
                                 "it values saturate and the error grows linearly."))
    if method == "entropy" and not per_channel:
        hist, edges = quant.abs_histogram(x)
        unsigned = dtype.startswith("quint") and scheme == "affine" and float(x.min()) >= 0
        cand, div = ui.cached(quant.entropy_divergences)(hist, edges, int(dtype[-1]), unsigned)
        ui.show_figure(fig(vc.kl_figure)(edges, cand, div, float(o.max_val),
                                    t_("Entropy calibration: KL divergence of every candidate "
                                       "threshold"), tr=TR),
                       "qz_kl", t_("Each point clips |x| at t, folds the clipped mass into the last "
                                   "bin and compares with its coarse quantised copy; the lowest point wins."))
    _, z_ck = quant.qparams_from_range(-1.0, 3.0, "quint8", "affine")
    ui.checkpoint("qz_ck_zp", t_("Min-max affine quint8 sees values from −1 to 3. Which zero point "
                                 "does it pick?"),
                  int(z_ck), t_("s = 4/255; z = 0 − round(−1 / s) = round(63.75) = 64: the real 0 "
                                "lands exactly on q = 64."), rel_tol=0.0)

st.subheader(t_("Post-training quantisation: accuracy vs bit width"))
with ui.guard():
    rows = cached_heavy(Q.bitwidth_sweep, "train")(model, 0,
                                                   method if method != "moving_average" else "minmax")
    ui.show_figure(fig(vc.bitwidth_figure)(rows, t_("{model}: PTQ accuracy, 8 → 2 bits ({method} "
                                                    "calibration)", model=model, method=method), tr=TR),
                   "qz_bits", t_("Weight-only holds up longest; quantising activations too (dynamic: "
                                 "per batch at run time; static: ranges fixed by calibration) costs "
                                 "more below 4 bits."), rows=rows)

@st.fragment   # QAT: a new bit width or number of epochs retrains and reruns only this section
def qat_view(model: str) -> None:
    st.subheader(t_("Quantisation-aware training with the straight-through estimator"))
    with ui.controls("qat"):
        q = st.columns(2)
        bits = q[0].slider(t_("QAT bit width"), 2, 8, 3, key="qz_qbits", bind="query-params")
        epochs = q[1].slider(t_("QAT epochs"), 1, 6, 3, key="qz_qep", bind="query-params")
    with ui.guard():
        r, dt = cached_heavy(Q.qat, "train")(model, 0, bits, epochs), f"qint{bits}"
        layer, clip = r.clips[0]
        w = Q.model_tensor(model, 0, f"weights:{layer}")
        s, z = quant.qparams_from_range(-np.float32(clip), np.float32(clip), dt, "symmetric")
        ui.show_figure(fig(vc.ste_figure)(w, quant.fake_quant(w, s, z, dt), quant.ste_mask(w, s, z, dt), clip,
                                          t_("FakeQuant on {layer} weights ({bits} bits, clip ±{clip:.3f})",
                                             layer=layer, bits=bits, clip=clip), tr=TR),
                       "qz_ste", t_("Forward: the staircase. Backward: round() has zero gradient almost "
                                    "everywhere, so the STE pretends it is the identity inside the grid "
                                    "(between the dashed lines, mask 1) and blocks the gradient outside "
                                    "(mask 0). A symmetric int grid has one more level below zero, so the "
                                    "lower edge sits further out."))
        ui.show_figure(fig(vc.accuracy_bars)(["fp32", f"PTQ int{bits}", f"QAT int{bits}"],
                                        [r.fp32_accuracy, r.ptq_accuracy, r.qat_accuracy],
                                        t_("Fine-tuning through the quantiser recovers accuracy"), tr=TR),
                       "qz_qat", t_("{masked_fraction:.1%} of weight gradients were masked in the last "
                                    "epoch.", masked_fraction=r.masked_fraction))

qat_view(model)

st.subheader(t_("Integer-only inference of one layer (Jacob et al. 2018)"))
with ui.guard():
    il = cached_heavy(QI.integer_layer, "train")(model, 0, "fc1", 8)
    st.latex(rf"M = \frac{{s_1 s_2}}{{s_3}} = \frac{{{il.s1:.4g}\times{il.s2:.4g}}}{{{il.s3:.4g}}}"
             rf" = {il.multiplier:.6g} = {il.m0:.6f}\times 2^{{-{il.shift}}},\quad "
             rf"M_0 = {il.m0_q31} / 2^{{31}}")
    st.latex(rf"q_3 = z_3 + \mathrm{{round}}\!\left(\frac{{M_0 \cdot \sum (q_1 - {il.z1})(q_2 - {il.z2}) "
             rf"+ q_b}}{{2^{{31 + {il.shift}}}}}\right),\; z_3 = {il.z3}")
    k = st.columns(2)
    k[0].metric(t_("max |integer − float requant| (LSB)"), il.max_lsb_diff_float)
    k[1].metric(t_("max |integer − quantised float layer| (LSB)"), il.max_lsb_diff_reference)
    ui.table(il.rows())

ui.lesson("quantization")
