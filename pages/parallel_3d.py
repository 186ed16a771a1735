import numpy as np
import streamlit as st

import engine.parallel as par
import ui
from ui.heavy import cached_heavy
from engine.parallel.real_run import run_real
from viz.parallel import ZH, alpha_beta, cluster_map, GiB, step_breakdown, zh_text

ui.setup("parallel_3d", "3D parallel & auto-parallel", "3D 并行与自动并行",
         "Place DP × TP × PP on real nodes, search the configurations, and run a split for real.",
         "把 DP × TP × PP 放到真实节点上，搜索可行配置，再真实运行一次切分。")


fit, shared = ui.figure_view(ZH)
cluster_map = shared(cluster_map)
step_breakdown = shared(step_breakdown)
alpha_beta = shared(alpha_beta)


def say(text: str) -> str:
    return zh_text(text) if ui.lang() == "zh" else text


with ui.controls():
    c1, c2, c3, c4 = st.columns(4)
    model_name = c1.selectbox(ui.t("Model", "模型"), list(par.MODELS), index=3, key="p3_model",
                              bind="query-params")
    nodes = c2.select_slider(ui.t("Nodes (8 GPUs each)", "节点数（每节点 8 卡）"),
                             [1, 2, 4, 8, 16, 32, 64, 128, 256], 4, key="p3_nodes", bind="query-params")
    tp = c3.select_slider(ui.t("Tensor parallel", "张量并行"), [1, 2, 4, 8], 4, key="p3_tp",
                          bind="query-params")
    pp = c4.select_slider(ui.t("Pipeline stages", "流水线段数"), [1, 2, 4, 8, 16, 32], 2, key="p3_pp",
                          bind="query-params")

cluster = par.Cluster(nodes=nodes)
model = par.MODELS[model_name]
with ui.guard():
    dp = par.dp_degree(cluster, tp, pp)
    rows = ui.cached(par.map_devices)(dp, tp, pp, cluster)
    shown = min(nodes, 8)
    ui.show_figure(fit(cluster_map([r for r in rows if r["node"] < shown], shown, 8,
                                   ui.t(f"dp={dp} × tp={tp} × pp={pp} on {nodes} nodes (first {shown} shown; "
                                        "cell = d·t·p rank)",
                                        f"dp={dp} × tp={tp} × pp={pp}，共 {nodes} 个节点（显示前 {shown} 个；"
                                        "格内 = d·t·p 编号）"))),
                   "p3_map", ui.t("TP varies fastest, so each tensor-parallel group sits on one node's "
                                  "NVLink; data and pipeline groups cross the slower network.",
                                  "TP 编号变化最快，所以每个张量并行组都在同一节点的 NVLink 上；"
                                  "数据并行与流水线组跨越较慢的网络。"), rows=list(rows[:512]))
    e = ui.cached(par.estimate)(model, cluster, dp, tp, pp, 8 * cluster.gpus)
    c1, c2, c3 = st.columns(3)
    c1.metric(ui.t("Memory per GPU", "每卡显存"), f"{e.memory_bytes / GiB:.1f} GiB",
              ui.t("fits 80 GiB", "放得下 80 GiB") if e.fits else ui.t("does not fit", "放不下"), delta_color="normal" if e.fits else "inverse")
    c2.metric(ui.t("Estimated step", "估计单步时间"), f"{e.step_s:.2f} s")
    c3.metric(ui.t("Micro-batches m", "微批数 m"), e.micro_batches)

st.subheader(ui.t("Configuration search", "配置搜索"))
with ui.guard():
    batch = st.select_slider(ui.t("Global batch (sequences)", "全局批大小（序列数）"),
                             [64, 128, 256, 512, 1024, 1536, 2048, 4096], 512, key="p3_batch",
                             bind="query-params")
    found = ui.cached(par.search)(model, cluster, batch)
    table = [dict(dp=f.dp, tp=f.tp, pp=f.pp, m=f.micro_batches, GiB=round(f.memory_bytes / GiB, 1),
                  fits=ui.t("yes", "是") if f.fits else ui.t("no", "否"), step_s=round(f.step_s, 3),
                  bubble_s=round(f.bubble_s, 3), tp_comm_s=round(f.tp_comm_s, 3),
                  dp_comm_s=round(f.dp_comm_s, 3)) for f in found]
    ui.show_figure(fit(step_breakdown(found[:10], ui.t(f"Where the step time goes (top 10 of {len(found)}, "
                                                       f"batch {batch})", f"单步时间花在哪里（{len(found)} 个配置"
                                                       f"中的前 10 名，批大小 {batch}）"))), "p3_steps",
                   ui.t("More pipeline stages add bubble; more tensor parallelism adds per-layer "
                        "all-reduces; pure data parallelism pays one big gradient all-reduce.",
                        "流水线段数越多，气泡越大；张量并行越多，每层的 All-Reduce 越多；纯数据并行要付一次大的梯度 All-Reduce。"),
                   rows=table)
    st.dataframe(table, hide_index=True, column_config={
        "m": ui.t("micro-batches m", "微批数 m"), "GiB": ui.t("GiB per GPU", "每卡 GiB"),
        "fits": ui.t("fits?", "放得下？"), "step_s": ui.t("step (s)", "单步（秒）"),
        "bubble_s": ui.t("bubble (s)", "气泡（秒）"), "tp_comm_s": ui.t("TP comm (s)", "TP 通信（秒）"),
        "dp_comm_s": ui.t("DP comm (s)", "DP 通信（秒）")})
    st.caption(ui.t("Ranked: configurations that fit first, then by estimated step time (A100 80 GB, "
                    "50 % of peak, NVLink in a node, HDR InfiniBand between nodes, ZeRO-1, SP + "
                    "selective recomputation).", "排序：先放得下的，再按估计单步时间（A100 80 GB、峰值 50%、"
                    "节点内 NVLink、节点间 HDR InfiniBand、ZeRO-1、序列并行 + 选择性重计算）。"))

st.subheader(ui.t("Sharding strategies and redistribution", "切分策略与重排布"))
with ui.guard():
    options = {"((4,1),(1,1))": ((4, 1), (1, 1)), "((1,1),(1,4))": ((1, 1), (1, 4)),
               "((1,4),(4,1))": ((1, 4), (4, 1)), "((2,2),(2,1))": ((2, 2), (2, 1))}
    s1, s2 = st.columns(2)
    first = s1.selectbox(ui.t("MatMul 1 strategy", "MatMul 1 策略"), list(options), key="p3_s1",
                         bind="query-params")
    second = s2.selectbox(ui.t("MatMul 2 strategy", "MatMul 2 策略"), list(options), index=1,
                          key="p3_s2", bind="query-params")
    out = par.matmul_strategy(options[first], 4)
    ok = "✓" if out["equal"] else "✗"
    st.write(ui.t(f"MatMul 1 output: {out['output_layout'].describe()}; its own collective: "
                  f"{out['collective']}; {ok} equals X·W on 4 simulated devices.",
                  f"MatMul 1 的输出：{say(out['output_layout'].describe())}；自身需要的集合通信："
                  f"{say(out['collective'])}；{ok} 在 4 张模拟卡上与 X·W 相等。"))
    red = par.strategy_transition(options[first], options[second], 4)
    (st.success if red.equal else st.error)(
        f"{red.collective}: {say(red.detail)} — " + ui.t(
            "✓ verified on random data" if red.equal else "✗ differs on random data",
            "✓ 已用随机数据验证" if red.equal else "✗ 随机数据验证不一致"))

st.subheader(ui.t("Run it for real (torch.distributed, gloo)", "真实运行（torch.distributed，gloo）"))
world = st.radio(ui.t("Processes", "进程数"), [2, 3, 4], horizontal=True, key="p3_world",
                 bind="query-params")
if st.button(ui.t("Run it for real", "真实运行"), key="p3_run"):
    with ui.guard(), st.spinner(ui.t("Starting gloo workers (≤ 60 s)…", "启动 gloo 进程（≤ 60 秒）…")):
        st.session_state["p3_result"] = cached_heavy(run_real, "gloo", max_entries=4)(world, 60.0)
result = st.session_state.get("p3_result")
if result is not None:
    st.dataframe([{ui.t("quantity", "量"): k, ui.t("max |real − simulated|", "max |真实 − 模拟|"): f"{v:.1e}"}
                  for k, v in result.max_abs_diff.items()], hide_index=True)
    (st.success if result.agrees else st.error)(
        ui.t(f"{'✓' if result.agrees else '✗'} {result.world_size} processes finished in {result.wall_s:.1f} s; "
             f"{'every result equals' if result.agrees else 'some results differ from'} the simulation.",
             f"{'✓' if result.agrees else '✗'} {result.world_size} 个进程用时 {result.wall_s:.1f} 秒；"
             f"{'全部结果与模拟一致' if result.agrees else '部分结果与模拟不一致'}。"))
    sizes = np.logspace(np.log10(1024), np.log10(16 << 20), 30)
    fitted = par.Link("fitted", result.alpha, result.beta, "least squares on the measurements")
    curves = {ui.t("α-β fitted to gloo", "拟合 gloo 的 α-β"):
              (sizes, [par.allreduce_time(s, result.world_size, fitted) for s in sizes]),
              ui.t("PCIe 4.0 x16 model", "PCIe 4.0 x16 模型"): (sizes, [par.allreduce_time(s, result.world_size,
                                                                  par.LINKS["PCIe 4.0 x16"]) for s in sizes])}
    ui.show_figure(fit(alpha_beta(curves, ui.t("Measured gloo all-reduce vs the α-β model",
                                               "实测 gloo All-Reduce 与 α-β 模型"), result.timings)),
                   "p3_measured", ui.t(f"Fitted α = {result.alpha * 1e6:.0f} µs, β = "
                                       f"{result.beta / 1e9:.2f} GB/s: processes on one CPU pay far more "
                                       f"latency than NVLink.", f"拟合 α = {result.alpha * 1e6:.0f} µs，"
                                       f"β = {result.beta / 1e9:.2f} GB/s：同一 CPU 上的进程延迟远高于 NVLink。"))

ui.checkpoint("p3_ck", ui.t("GPT-3 175B with ZeRO-1 and no model parallelism: how many GB of weights + "
                            "gradients does each GPU hold, whatever the DP degree?",
                            "GPT-3 175B、ZeRO-1、无模型并行：无论数据并行度多大，每卡的权重 + 梯度是多少 GB？"),
              4 * 175.0, ui.t("2Ψ + 2Ψ = 700 GB stay replicated under ZeRO-1 — hence TP and PP.",
                              "ZeRO-1 下 2Ψ + 2Ψ = 700 GB 仍是复制的——所以需要 TP 与 PP。"))
ui.lesson("parallel_3d")
