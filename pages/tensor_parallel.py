import numpy as np
import plotly.graph_objects as go
import streamlit as st

import engine.parallel as par
import ui
from viz.parallel import ZH, mlp_shards, simple_bars
from viz.theme import apply_theme

ui.setup("tensor_parallel", "Tensor parallel", "张量并行",
         "Split one layer's matrices over N devices and get exactly the unsplit answer.",
         "把一层的矩阵切到 N 张卡上，结果与不切分完全相同。")


fit, shared = ui.figure_view(ZH)
mlp_shards = shared(mlp_shards)


def ce_figure(loss, wrong, title, y_title, name_split, name_wrong):
    """Bars: the vocab-parallel loss per token; crosses: the loss with MAX for the exp-sum."""
    tokens = [f"token {i}" for i in range(len(loss))]
    fig = simple_bars(tokens, loss, title, y_title, x_title="token", name=name_split)
    fig.add_trace(go.Scatter(x=tokens, y=wrong, mode="markers", name=name_wrong,
                             marker=dict(size=12, symbol="x", color="black")))
    return apply_theme(fig)


ce_figure = shared(ce_figure)


with ui.controls():
    c1, c2, c3 = st.columns(3)
    n = c1.select_slider(ui.t("Devices N", "设备数 N"), [1, 2, 3, 4, 8], 2, key="tp_n",
                         bind="query-params")
    h = c2.slider(ui.t("Hidden h", "隐藏维 h"), 2, 12, 4, key="tp_h", bind="query-params")
    heads = c3.select_slider(ui.t("Heads", "注意力头"), [1, 2, 3, 4, 6, 8, 12], 4, key="tp_heads",
                             bind="query-params")

rng = np.random.default_rng(0)
x = rng.normal(size=(3, h))
a_w, b_w = rng.normal(size=(h, 4 * h)), rng.normal(size=(4 * h, h))
with ui.guard():
    mlp = ui.cached(par.megatron_mlp)(x, a_w, b_w, n)
    ui.show_figure(fit(mlp_shards(a_w, b_w, n, ui.t(f"Megatron MLP on {n} devices (colour = owning device)",
                                                    f"{n} 卡上的 Megatron MLP（颜色 = 所在的卡）"))),
                   "tp_mlp", ui.t("A is cut by columns, so GeLU runs locally; B is cut by rows, so each "
                                  "device produces a full-size partial sum — one all-reduce adds them.",
                                  "A 按列切，GeLU 可在本地算；B 按行切，每卡得到完整形状的部分和，"
                                  "一次 All-Reduce 把它们加起来。"), data=mlp.output.tolist())
    err = float(np.max(np.abs(mlp.output - mlp.reference)))
    (st.success if err < 1e-9 else st.error)(
        ui.t(f"{'✓' if err < 1e-9 else '✗'} Split MLP output equals the unsplit GeLU(xA)B: max |split − unsplit| "
             f"= {err:.1e}.", f"{'✓' if err < 1e-9 else '✗'} 切分后的 MLP 输出与不切分的 GeLU(xA)B 相同：max |切分 − 不切分| "
             f"= {err:.1e}。"))

st.subheader(ui.t("Attention split by heads", "按头切分注意力"))
with ui.guard():
    hh = 2 * heads
    xs = rng.normal(size=(5, hh))
    ws = [rng.normal(size=(hh, hh)) for _ in range(4)]
    att = ui.cached(par.attention_by_heads)(xs, *ws, heads, n)
    st.write(ui.t(f"{heads} heads on {n} devices: {att.heads_per_device} heads each; "
                  f"max |split − unsplit| = {np.max(np.abs(att.output - att.reference)):.1e}.",
                  f"{heads} 个头分到 {n} 张卡：每卡 {att.heads_per_device} 个头；"
                  f"max |切分 − 不切分| = {np.max(np.abs(att.output - att.reference)):.1e}。"))

st.subheader(ui.t("Vocab-parallel embedding and cross-entropy", "词表并行的嵌入与交叉熵"))
with ui.guard():
    vocab = 4 * n
    table = rng.normal(size=(vocab, 3))
    ids = rng.integers(0, vocab, size=6)
    emb = ui.cached(par.vocab_parallel_embedding)(ids, table, n)
    st.write(ui.t(f"Embedding: device r owns ids [{vocab // n}r, {vocab // n}(r+1)); the others write "
                  f"zeros and a SUM all-reduce assembles the rows (error "
                  f"{np.max(np.abs(emb['output'] - emb['reference'])):.0e}).",
                  f"嵌入：第 r 张卡只负责 [{vocab // n}r, {vocab // n}(r+1)) 的 id，其余写 0，"
                  f"SUM All-Reduce 拼出完整结果（误差 {np.max(np.abs(emb['output'] - emb['reference'])):.0e}）。"))
    logits = rng.normal(scale=2, size=(6, vocab))
    ce = ui.cached(par.vocab_parallel_cross_entropy)(logits, ids, n)
    steps = [ui.t("1. each device: max of its logits", "1. 每卡：本地 logits 最大值"),
             ui.t("2. all-reduce MAX → global max", "2. All-Reduce MAX → 全局最大值"),
             ui.t("3. each device: Σ exp(z − max) over its slice", "3. 每卡：本地 Σ exp(z − max)"),
             ui.t("4. all-reduce SUM → softmax denominator (not MAX!)", "4. All-Reduce SUM → 分母（不是 MAX！）"),
             ui.t("5. all-reduce SUM of the target logit (only its owner adds it)", "5. 目标 logit 的 SUM All-Reduce"),
             ui.t("6. loss = log Σ − (z_target − max)", "6. 损失 = log Σ − (z_target − max)")]
    def show_step(k: int) -> None:
        st.markdown("**" + steps[k] + "**")
        if k in (2, 3) and n > 1:
            st.dataframe({ui.t(f"device {r}", f"第 {r} 张卡"): np.round(s, 3)
                          for r, s in enumerate(ce.local_sums)})
    ui.stepper("tp_ce_step", len(steps), render=show_step)
    fig = ce_figure(list(ce.loss), list(ce.wrong_max_loss),
                    ui.t(f"Per-token loss, vocabulary split over {n} devices",
                         f"每个 token 的损失（词表切到 {n} 张卡）"), ui.t("loss (nats)", "损失（nats）"),
                    ui.t("split: MAX, SUM, SUM (= torch)", "切分：MAX、SUM、SUM（= torch）"),
                    ui.t("MAX for the exp-sum (the book, wrong)", "对指数和用 MAX（书中写法，错误）"))
    ui.show_figure(fit(fig), "tp_ce", ui.t("Bars: the split loss (equal to torch's cross_entropy). Crosses: "
                                      "reducing the exp-sums with MAX keeps one shard's mass and "
                                      "under-reports the loss.",
                                      "柱：切分计算的损失（与 torch 的 cross_entropy 相同）。叉：对指数和用 MAX "
                                      "只保留了一个分片的概率质量，损失被低估。"))

st.subheader(ui.t("2-D mesh and communication per layer", "二维网格与每层通信量"))
with ui.guard():
    r1, r2 = st.columns(2)
    rows = r1.select_slider(ui.t("Mesh rows", "网格行数"), [1, 2, 4], 2, key="tp_rows", bind="query-params")
    cols = r2.select_slider(ui.t("Mesh columns", "网格列数"), [1, 2, 4], 2, key="tp_cols", bind="query-params")
    mesh = ui.cached(par.mesh_matmul)(rng.normal(size=(4, 3)), rng.normal(size=(3, 8)), rows, cols)
    st.write(ui.t(f"Device ids {mesh['device_ids'].tolist()}: X cut by rows over mesh axis 0, W by "
                  f"columns over axis 1; error {np.max(np.abs(mesh['output'] - mesh['reference'])):.0e}.",
                  f"设备编号 {mesh['device_ids'].tolist()}：X 沿网格第 0 维按行切，W 沿第 1 维按列切；"
                  f"误差 {np.max(np.abs(mesh['output'] - mesh['reference'])):.0e}。"))
    vol = par.comm_volume_per_layer(2048, 1, 12288, max(n, 1))
    st.write(ui.t(f"GPT-3 layer (s=2048, h=12288), t={n}: {vol['allreduces']} all-reduces of "
                  f"{vol['message_bytes'] / 2**20:.0f} MiB; each device sends "
                  f"{vol['sent_per_device_bytes'] / 2**20:.0f} MiB per layer per micro-batch.",
                  f"GPT-3 单层（s=2048, h=12288），t={n}：{vol['allreduces']} 次 All-Reduce，每次 "
                  f"{vol['message_bytes'] / 2**20:.0f} MiB；每卡每层每个微批发送 "
                  f"{vol['sent_per_device_bytes'] / 2**20:.0f} MiB。"))

ui.checkpoint("tp_ck", ui.t("How many all-reduces does one Megatron transformer layer need per "
                            "micro-batch (forward + backward)?",
                            "一个 Megatron Transformer 层每个微批（前向 + 反向）需要几次 All-Reduce？"), 4,
              ui.t("Forward: one after attention, one after the MLP (g). Backward: the two f operators.",
                   "前向：注意力后一次、MLP 后一次（g）；反向：两个 f 算子各一次。"), rel_tol=0)
ui.lesson("tensor_parallel")
