"""Pruning & low rank: magnitude, structured, 2:4 and gradual pruning; SVD with a rank slider."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from engine.compression import lab as CL
from engine.compression import lowrank, prune
from engine.compression.models import model_spec
from engine.compression.training import train_model
from ui import workspace as ws
from ui.heavy import cached_heavy, cached_heavy_or_stop
from viz import compression as vc

ui.setup("pruning",
         "Pruning & low-rank",
         "Zero the weights that matter least — one by one, whole channels, or two of every four — or "
         "replace a layer by two thin ones; then see what accuracy survives.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
# your graph, pruned (engine.prune + prune_report): ResNet-18 takes ~0.3 s, so through the limiter
report = cached_heavy(lambda g, *p: CL.prune_lens(ws.graph_of(ws.parse_g(g))[0], *p), "graph")


@st.fragment   # your graph, pruned: a new graph, method or sparsity reruns only this section
def graph_view() -> None:
    st.subheader(t_("Prune your graph"))
    with ui.controls("graph"):
        c = st.columns([2, 1.5, 1.5])
        choice = ws.choose("pr_graph", ("preset:conv_bn_relu", "zoo:tiny_cnn", "zoo:resnet18"), slot=c[0])
        gmethod = c[1].selectbox(t_("Method"), ["magnitude", "structured", "2:4"], key="pr_gmethod",
                                 bind="query-params")
        gsparsity = c[2].slider(t_("Sparsity"), 0.0, 0.95, 0.5, 0.05, key="pr_gsparsity", bind="query-params",
                                help=t_("Ignored by 2:4 (always half)."))
    with ui.guard():
        if choice is None:
            return
        r = report(choice.source.g, gsparsity, gmethod)
        rows = CL.prune_rows(r)
        ui.show_figure(fig(vc.prune_layers_figure)(rows, t_("{name}: {method} pruning, layer by layer",
                                                            name=choice.name, method=gmethod), tr=TR),
                       "pr_glayers", t_("Each layer loses about the same share of its weights (per layer, "
                                        "never global), but the big layers hold most FLOPs and decide the "
                                        "skippable work; at the same share, structured pruning usually "
                                        "moves the output most."), data=r, rows=rows)
        m = st.columns(4)
        m[0].metric(t_("nonzero weights"), f"{r.nonzero:,} / {r.total:,}")
        m[1].metric(t_("weights zeroed"), f"{r.sparsity:.1%}")
        m[2].metric(t_("skippable FLOPs"), f"{r.skippable_fraction:.1%}",
                    help=t_("{skip:,} of the graph's {flops:,} FLOPs multiply a zero weight.",
                            skip=r.skippable_flops, flops=r.flops))
        m[3].metric(t_("output drift ‖ŷ − y‖/‖y‖"), f"{r.drift:.1%}")
        ui.table(rows)


graph_view()


def masks_for(model: str, method: str, amount: float, norm: int) -> dict:
    return prune.model_masks(model, train_model(model, 0).params, method, amount, norm)


@ui.section   # the trained model, method and amount, and all they drive (the rest of the page)
def model_view() -> None:
    st.subheader(t_("A model trained here, with its accuracy"))
    with ui.controls():
        c = st.columns([1, 2, 1.5, 1.5])
        model = c[0].selectbox(t_("Model"), ["mlp", "cnn"], key="pr_model", bind="query-params")
        method = ui.by_id(c[1]).selectbox(t_("Method"), list(vc.METHOD_NAMES), key="pr_method",
                                          format_func=lambda k: t_(vc.METHOD_NAMES[k]), bind="query-params")
        amount = c[2].slider(t_("Amount to prune"), 0.0, 1.0, 0.5, 0.05, key="pr_amount",
                             bind="query-params", help=t_("Ignored by 2:4 (always half)."))
        tune = c[3].slider(t_("Fine-tuning epochs"), 0, 5, 0, key="pr_tune", bind="query-params")
        d = st.columns(4)
        layers = [ly.name for ly in model_spec(model).weighted]
        layer = d[0].selectbox(t_("Layer shown"), layers, key=f"pr_layer_{model}", bind="query-params")
        dense = [ly.name for ly in model_spec(model).weighted if ly.kind == "dense"]
        lr_layer = d[1].selectbox(t_("Low-rank layer"), dense, key=f"pr_lrl_{model}",
                                  bind="query-params")
        norm = ui.by_id(d[3]).radio(t_("Channel norm (structured)"), [2, 1], horizontal=True,
                                    format_func=lambda n: f"L{n}", key="pr_norm", bind="query-params")
        final = d[2].slider(t_("Gradual: final sparsity"), 0.5, 0.98, 0.9, 0.01,
                            key="pr_final", bind="query-params")

    # the later sections use it even if this one fails; busy -> nothing below can draw, so it stops
    w = cached_heavy_or_stop(train_model, "train", model, 0).params[f"{layer}.w"]
    with ui.guard():
        res = cached_heavy(prune.prune_model, "train")(model, 0, method, amount, tune, norm)
        masks = cached_heavy(masks_for, "train")(model, method, amount, norm)
        m = st.columns(4)
        m[0].metric(t_("sparsity (all weights)"), f"{res.sparsity:.1%}")
        m[1].metric(t_("accuracy, pruned"), f"{res.accuracy:.1%}",
                    f"{100 * (res.accuracy - res.fp32_accuracy):+.1f} pt")
        if res.finetuned_accuracy is not None:
            m[2].metric(t_("after fine-tuning"), f"{res.finetuned_accuracy:.1%}")
        m[3].metric(t_("dense fp32"), f"{res.fp32_accuracy:.1%}")
        ui.show_figure(fig(vc.mask_heatmap)(w, masks[f"{layer}.w"],
                                            t_("{layer} weights after {v2}", layer=layer,
                                               v2=t_(vc.METHOD_NAMES[method])), tr=TR),
                       "pr_heat", t_("Grey cells are pruned. Magnitude pruning leaves a speckle; "
                                     "structured pruning removes whole columns (output units / filters); "
                                     "2:4 keeps two of every four consecutive inputs."))
        w_demo = np.random.default_rng(0).standard_normal((64, 32))
        ui.checkpoint("pr_ck_24", t_("A 64×32 dense layer gets 2:4 sparsity. How many weights are left?"),
                      int(prune.n_m_mask(w_demo, 2, 4).sum()),
                      t_("Half of 2,048, in every group of four: exactly 1,024, whatever the values."),
                      rel_tol=0.0)
        rows = cached_heavy(prune.sparsity_curve, "train")(model, 0)
        ui.show_figure(fig(vc.sparsity_figure)(rows, t_("{model}: accuracy vs sparsity, one shot, no "
                                                        "fine-tuning",
                                                        model=model), tr=TR),
                       "pr_curve", t_("Global magnitude pruning beats per-layer at the same sparsity "
                                      "(small layers are spared); removing whole channels hurts soonest."),
                       rows=rows)

    st.subheader(t_("Gradual pruning (Zhu & Gupta 2017)"))
    st.latex(r"s_t = s_f + (s_i - s_f)\left(1 - \frac{t - t_0}{n\,\Delta t}\right)^3")
    with ui.guard():
        g = cached_heavy(prune.gradual_prune, "train")(model, 0, final)
        ui.show_figure(fig(vc.schedule_figure)(g.schedule, g.accuracies, g.one_shot_accuracy,
                                               t_("Prune to {final:.0%} in 8 steps, fine-tuning in between",
                                                  final=final), tr=TR),
                       "pr_grad", t_("Gradual: {accuracy:.1%}; one shot to the same sparsity: "
                                     "{one_shot_accuracy:.1%}. Prune fast while there is slack, slowly "
                                     "near the end.",
                                     accuracy=g.accuracy, one_shot_accuracy=g.one_shot_accuracy))
        def main_figure(k: int):
            step, target = g.schedule[k]
            return fig(vc.mask_heatmap)(w, g.masks[k][f"{layer}.w"],
                                        t_("{layer} after pruning step {step}: target {target:.1%} overall",
                                           layer=layer, step=step, target=target), tr=TR)

        def show_mask(k: int) -> None:
            ui.show_figure(main_figure(k),
                           "pr_grad_mask", t_("Test accuracy after this step's fine-tuning: {v2:.1%}.",
                                              v2=g.accuracies[k]))
        ui.stepper("pr_step", len(g.schedule), render=show_mask, frame=main_figure)

    lowrank_view(model, lr_layer)


@st.fragment   # low rank: a new rank reruns only this section (model and layer come from model_view)
def lowrank_view(model: str, lr_layer: str) -> None:
    st.subheader(t_("Low rank: a layer as two thin ones (truncated SVD)"))
    with ui.guard():
        sweep = cached_heavy(lowrank.lowrank_sweep, "train")(model, 0, lr_layer)
        with ui.controls("lowrank"):
            rank = st.slider(t_("Rank r"), 1, len(sweep), min(8, len(sweep)),
                             key=f"pr_rank_{model}_{lr_layer}", bind="query-params")
        row = sweep[rank - 1]
        k = st.columns(4)
        k[0].metric(t_("relative error ‖W − W_r‖/‖W‖"), f"{row['rel_error']:.1%}")
        k[1].metric(t_("layer params"), f"{row['layer_params']:,}",
                    f"{row['layer_params'] - row['dense_layer_params']:+,}", delta_color="inverse")
        k[2].metric(t_("model FLOPs per image"), f"{row['flops']:,}",
                    f"{row['flops'] - row['dense_flops']:+,}", delta_color="inverse")
        k[3].metric(t_("accuracy"), f"{row['accuracy']:.1%}",
                    f"{100 * (row['accuracy'] - row['fp32_accuracy']):+.1f} pt")
        ui.show_figure(fig(vc.lowrank_figure)(sweep, rank, t_("{lr_layer}: rank vs error, accuracy, params "
                                                              "and FLOPs",
                                                              lr_layer=lr_layer), tr=TR),
                       "pr_lowrank", t_("Params r·(in + out) beat in·out only below the crossover; "
                                        "accuracy survives far lower ranks than the reconstruction error "
                                        "suggests."),
                       rows=sweep)


model_view()

ui.lesson("pruning")
