import numpy as np
import plotly.graph_objects as go
import streamlit as st

import engine
import engine.parallel as par
import ui
from engine.parallel import lab as plab
from ui import workspace as ws
from viz.graph import graph_figure
from viz.parallel import mlp_shards, simple_bars, tp_layer_rows, tp_memory_bars
from viz.theme import apply_theme

ui.setup("tensor_parallel",
         "Tensor parallel",
         "Split one layer's matrices over N devices and get exactly the unsplit answer.")


fit, shared = ui.figure_view()
mlp_shards = shared(mlp_shards)
split_graph, memory_bars = shared(graph_figure), shared(tp_memory_bars)
EXAMPLES = ("preset:mlp", "preset:self_attention", "zoo:mlp", "zoo:resnet18")


def lens(g: str, n: int):
    """The graph ``g`` (a URL value: only this string is hashed) split over ``n`` devices."""
    split = engine.tensor_split(ws.graph_of(ws.parse_g(g))[0], n)
    return split, plab.tensor_view(split)


def ce_figure(loss, wrong, title, y_title, name_split, name_wrong):
    """Bars: the vocab-parallel loss per token; crosses: the loss with MAX for the exp-sum."""
    tokens = [f"token {i}" for i in range(len(loss))]
    fig = simple_bars(tokens, loss, title, y_title, x_title="token", name=name_split)
    fig.add_trace(go.Scatter(x=tokens, y=wrong, mode="markers", name=name_wrong,
                             marker=dict(size=12, symbol="x", color="black")))
    return apply_theme(fig)


ce_figure = shared(ce_figure)


@st.fragment   # the 2-D mesh: other mesh rows or columns rerun only this section
def mesh_view(n: int, x: np.ndarray, w: np.ndarray) -> None:
    st.subheader(ui.t("2-D mesh and communication per layer"))
    r1, r2 = st.columns(2)
    rows = r1.select_slider(ui.t("Mesh rows"), [1, 2, 4], 2, key="tp_rows", bind="query-params")
    cols = r2.select_slider(ui.t("Mesh columns"), [1, 2, 4], 2, key="tp_cols", bind="query-params")
    with ui.guard():
        mesh = ui.cached(par.mesh_matmul)(x, w, rows, cols)
        st.write(ui.t("Device ids {tolist}: X cut by rows over mesh axis 0, W by columns over axis 1; "
                      "error {v2:.0e}.",
                      tolist=mesh['device_ids'].tolist(),
                      v2=np.max(np.abs(mesh['output'] - mesh['reference']))))
        vol = par.comm_volume_per_layer(2048, 1, 12288, max(n, 1))
        st.write(ui.t("GPT-3 layer (s=2048, h=12288), t={n}: {allreduces} all-reduces of {v2:.0f} MiB; "
                      "each device sends {v3:.0f} MiB per layer per micro-batch.",
                      n=n, allreduces=vol['allreduces'], v2=vol['message_bytes'] / 2**20,
                      v3=vol['sent_per_device_bytes'] / 2**20))


@ui.section   # the graph, N, h and heads and all they drive: the split graph, MLP, attention, vocab, mesh
def split_view() -> None:
    with ui.controls():
        choice = ws.choose("tp_graph", EXAMPLES, label="Graph")
        c1, c2, c3 = st.columns(3)
        n = c1.select_slider(ui.t("Devices N"), [1, 2, 3, 4, 8], 2, key="tp_n",
                             bind="query-params")
        h = c2.slider(ui.t("Hidden h"), 2, 12, 4, key="tp_h", bind="query-params")
        heads = c3.select_slider(ui.t("Heads"), [1, 2, 3, 4, 6, 8, 12], 4, key="tp_heads",
                                 bind="query-params")

    if choice is not None:
        st.subheader(ui.t("{name} split over {n} devices", name=choice.name, n=n))
        with ui.guard():
            split, view = ui.cached(lens)(choice.source.g, n)
            key, TR, size = (choice.source.g, n), ui.translator(), plab.size_text
            rows = tp_layer_rows(split, choice.graph, plab.KIND_WORDS, tr=TR)
            ui.show_figure(fit(split_graph(choice.graph, highlight=view.split_layers,
                                           groups=[list(x) for x in view.pairs],
                                           node_text={k: ui.t(w) for k, w in view.labels},
                                           title=ui.t("{name}: the layers split over {n} devices (ringed)",
                                                      name=choice.name, n=n), cache_key=key)),
                           "tp_graph_split", ui.t("A column layer and the row layer it feeds (one box) need "
                                                  "one all-reduce; a column layer alone gathers its output."),
                           data=split, rows=rows)
            c = st.columns(4)
            for col, label, mine, whole in (
                    (c[0], ui.t("Parameters per device"), view.max_param_bytes, split.unsplit_param_bytes),
                    (c[1], ui.t("Activations per device"), view.max_activation_bytes,
                     split.unsplit_activation_bytes)):
                col.metric(label, size(mine), ui.t("{v2:+.1f} % vs unsplit", v2=100 * (mine / whole - 1)),
                           delta_color="inverse")
            c[2].metric(ui.t("Collectives per forward"), len(split.collectives))
            c[3].metric(ui.t("Sent per device per forward"), size(view.sent_per_device_bytes))
            ui.show_figure(fit(memory_bars(split, ui.t("Memory per device on {n} devices, beside the unsplit "
                                                       "graph", n=n), cache_key=key)),
                           "tp_memory", ui.t("Split weights are held as shards; everything else (and a "
                                             "gathered output) is held whole on every device."))
            st.dataframe(rows, hide_index=True)

    st.subheader(ui.t("The Megatron MLP, shard by shard"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, h))
    a_w, b_w = rng.normal(size=(h, 4 * h)), rng.normal(size=(4 * h, h))
    with ui.guard():
        mlp = ui.cached(par.megatron_mlp)(x, a_w, b_w, n)
        ui.show_figure(fit(mlp_shards(a_w, b_w, n, ui.t("Megatron MLP on {n} devices (colour = owning "
                                                        "device)", n=n))),
                       "tp_mlp", ui.t("A is cut by columns, so GeLU runs locally; B is cut by rows, so "
                                      "each device produces a full-size partial sum — one all-reduce adds "
                                      "them."), data=mlp.output.tolist())
        err = float(np.max(np.abs(mlp.output - mlp.reference)))
        (st.success if err < 1e-9 else st.error)(
            ui.t("{v2} Split MLP output equals the unsplit GeLU(xA)B: max |split − unsplit| = {err:.1e}.",
                 v2='✓' if err < 1e-9 else '✗', err=err))

    st.subheader(ui.t("Attention split by heads"))
    with ui.guard():
        hh = 2 * heads
        xs = rng.normal(size=(5, hh))
        mats = [rng.normal(size=(hh, hh)) for _ in range(4)]
        att = ui.cached(par.attention_by_heads)(xs, *mats, heads, n)
        st.write(ui.t("{heads} heads on {n} devices: {heads_per_device} heads each; max |split − unsplit| "
                      "= {v2:.1e}.",
                      heads=heads, n=n, heads_per_device=att.heads_per_device,
                      v2=np.max(np.abs(att.output - att.reference))))

    st.subheader(ui.t("Vocab-parallel embedding and cross-entropy"))
    with ui.guard():
        vocab = 4 * n
        table = rng.normal(size=(vocab, 3))
        ids = rng.integers(0, vocab, size=6)
        emb = ui.cached(par.vocab_parallel_embedding)(ids, table, n)
        st.write(ui.t("Embedding: device r owns ids [{v2}r, {v2}(r+1)); the others write zeros and a SUM "
                      "all-reduce assembles the rows (error {v3:.0e}).",
                      v2=vocab // n, v3=np.max(np.abs(emb['output'] - emb['reference']))))
        logits = rng.normal(scale=2, size=(6, vocab))
        ce = ui.cached(par.vocab_parallel_cross_entropy)(logits, ids, n)
        steps = [ui.t("1. each device: max of its logits"),
                 ui.t("2. all-reduce MAX → global max"),
                 ui.t("3. each device: Σ exp(z − max) over its slice"),
                 ui.t("4. all-reduce SUM → softmax denominator (not MAX!)"),
                 ui.t("5. all-reduce SUM of the target logit (only its owner adds it)"),
                 ui.t("6. loss = log Σ − (z_target − max)")]
        def show_step(k: int) -> None:
            st.markdown("**" + steps[k] + "**")
            if k in (2, 3) and n > 1:
                st.dataframe({ui.t("device {r}", r=r): np.round(s, 3)
                              for r, s in enumerate(ce.local_sums)})
        ui.stepper("tp_ce_step", len(steps), render=show_step, main=False)  # the page's figure is the split
        fig = ce_figure(list(ce.loss), list(ce.wrong_max_loss),
                        ui.t("Per-token loss, vocabulary split over {n} devices", n=n), ui.t("loss (nats)"),
                        ui.t("split: MAX, SUM, SUM (= torch)"),
                        ui.t("MAX for the exp-sum (the book, wrong)"))
        ui.show_figure(fit(fig), "tp_ce", ui.t("Bars: the split loss (equal to torch's cross_entropy). "
                                               "Crosses: reducing the exp-sums with MAX keeps one shard's "
                                               "mass and under-reports the loss."))

    # X and W come from this section's rng in its run: a rerun of mesh_view alone reuses them
    mesh_view(n, rng.normal(size=(4, 3)), rng.normal(size=(3, 8)))


split_view()

ui.checkpoint("tp_ck", ui.t("How many all-reduces does one Megatron transformer layer need per "
                            "micro-batch (forward + backward)?"), 4,
              ui.t("Forward: one after attention, one after the MLP (g). Backward: the two f operators."),
              rel_tol=0)
ui.lesson("tensor_parallel")
