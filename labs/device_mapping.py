import streamlit as st

import engine.parallel as par
import ui
from engine.parallel import device_mapping as dm
from viz.device_mapping import group_grid, order_bars

ui.setup("device_mapping",
         "Topology-aware 3-D mapping",
         "Choose the order of TP, DP and PP in the rank layout and see which groups leave a node — "
         "and what the slower network costs them.")
KINDS = {"tp": ui.t("tensor-parallel groups"), "dp": ui.t("data-parallel groups"),
         "pp": ui.t("pipeline groups")}

fit, shared = ui.figure_view()
group_grid, order_bars = shared(group_grid), shared(order_bars)


@ui.section   # the model, cluster and mapping controls and all they drive (the whole page below the header)
def mapping_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns(4)
        model_name = c1.selectbox(ui.t("Model"), list(par.MODELS), index=1, key="dmap_model",
                                  bind="query-params")
        nodes = c2.select_slider(ui.t("Nodes"), [1, 2, 4, 8, 16, 32, 64], 4, key="dmap_nodes",
                                 bind="query-params")
        gpn = c3.select_slider(ui.t("GPUs per node"), [2, 4, 8, 16], 8, key="dmap_gpn", bind="query-params")
        order = c4.selectbox(ui.t("Rank order (fastest-varying first)"), list(dm.ORDERS), key="dmap_order",
                             bind="query-params")
        c5, c6, c7, c8 = st.columns(4)
        tp = c5.select_slider(ui.t("Tensor parallel t"), [1, 2, 4, 8, 16], 8, key="dmap_tp",
                              bind="query-params")
        pp = c6.select_slider(ui.t("Pipeline stages p"), [1, 2, 4, 8, 16], 2, key="dmap_pp",
                              bind="query-params")
        nvlink = c7.number_input(ui.t("NVLink GB/s per direction"), 1.0, 2000.0, dm.NVLINK_GBPS,
                                 key="dmap_nvlink", bind="query-params",
                                 help=ui.t("DGX A100: 600 GB/s per GPU, both directions together"))
        ib = c8.number_input(ui.t("Network Gb/s per GPU"), 1.0, 3200.0, dm.IB_GBITS, key="dmap_ib",
                             bind="query-params",
                             help=ui.t("DGX A100: 8 × 200 Gb/s HDR InfiniBand, one per GPU"))

    model = par.MODELS[model_name]
    with ui.guard():
        mp = ui.cached(dm.map_cluster)(model, nodes, gpn, tp, pp, order, 512, nvlink, ib)
        best = ui.cached(dm.compare_orders)(model, nodes, gpn, tp, pp, nvlink_gbps=nvlink, ib_gbits=ib)
        c1, c2, c3 = st.columns(3)
        c1.metric(ui.t("Estimated step"), f"{mp.step_s:.2f} s",
                  f"{mp.step_s - best[0].step_s:+.2f} s " + ui.t("vs the best order"), delta_color="inverse")
        c2.metric(ui.t("Communication per step"), f"{mp.comm_s:.2f} s")
        c3.metric(ui.t("dp × tp × pp"), f"{mp.dp} × {mp.tp} × {mp.pp}")
        ui.table([{ui.t("group"): KINDS[c.kind], ui.t("size"): c.size, ui.t("groups"): c.groups,
                       ui.t("groups crossing nodes"): c.crossing,
                       ui.t("link"): ui.t("NVLink") if c.link == "NVLink" else ui.t("network"),
                       ui.t("time per step (s)"): round(c.seconds, 3)} for c in mp.costs])

        st.subheader(ui.t("The cluster, coloured by group"))
        kind = ui.by_id(st).radio(ui.t("Show"), list(KINDS), format_func=KINDS.get, horizontal=True,
                                  key="dmap_kind", bind="query-params")
        shown = min(nodes, 8)
        cost = next(c for c in mp.costs if c.kind == kind)
        ui.show_figure(fit(group_grid(mp, kind, shown, ui.t(
            "{kinds} under {order}: {crossing} of {groups} cross a node boundary (first {shown} nodes)",
            kinds=KINDS[kind], order=order, crossing=cost.crossing, groups=cost.groups, shown=shown))),
            "dmap_grid", ui.t("Cells of one colour form one group; ✕ marks a group whose ranks sit on more "
                              "than one node, so its collectives run at the network's speed."),
            rows=list(mp.rows[:1024]), main=True)

        st.subheader(ui.t("All six orders"))
        ui.show_figure(fit(order_bars(best, ui.t("Estimated step time per rank order ({model})",
                                                 model=model_name))), "dmap_orders",
                       ui.t("Tensor parallelism all-reduces activations four times per layer per "
                            "micro-batch; only the orders that keep it inside a node avoid paying that on "
                            "the network — Megatron-LM's TP-innermost convention."),
                       rows=[dict(order=m.order, step_s=m.step_s, comm_s=m.comm_s) for m in best])
        st.success(ui.t("Best order here: {order} (TP innermost: {inner}).", order=best[0].order,
                        inner=ui.t("yes") if best[0].order.startswith("tp") else ui.t("no")))


mapping_view()

ui.checkpoint("dmap_ck", ui.t("t = 8 on nodes of 8 GPUs, order dp-tp-pp, DP degree 4: how many nodes "
                              "does one TP group span?"), 4,
              ui.t("DP varies fastest, so TP neighbours are 4 ranks apart: ranks 0, 4, ..., 28 lie on "
                   "nodes 0-3."))
ui.lesson("device_mapping")
