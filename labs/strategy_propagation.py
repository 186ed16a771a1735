import streamlit as st

import engine.parallel as par
import ui
from engine.parallel import strategy_propagation as sp
from viz.strategy_propagation import cost_bars, shard_map

ui.setup("strategy_propagation",
         "Strategy propagation",
         "Shard a few tensors on a device matrix; the rest of the graph follows op by op, and a "
         "redistribution appears wherever two layouts disagree.")
PRESETS = {k: p.name for k, p in sp.PRESETS.items()}
MAPS = ["auto"] + [f"({a}, {b})" for a, b in sp.MAPS]
AUTO = ui.t("auto (propagated)")

fit, shared = ui.figure_view()
cost_bars, shard_map = shared(cost_bars), shared(shard_map)


def moves_rows(moves, tensor: str) -> list[dict]:
    return [{ui.t("tensor"): tensor, ui.t("collective"): m.collective, ui.t("mesh axis"): m.axis,
             ui.t("received per device (KiB)"): round(m.bytes / 1024, 1),
             ui.t("time (µs)"): round(m.seconds * 1e6, 2)} for m in moves]


@ui.section   # the program, device matrix, link, sizes and layouts and all they drive: op by op, search
def propagation_view() -> None:
    with ui.controls():
        c1, c2, c3, c4 = st.columns(4)
        preset = ui.by_id(c1).selectbox(ui.t("Program"), list(PRESETS), format_func=PRESETS.get,
                                        key="sp_preset", bind="query-params")  # URL: the id (matmul_chain)
        d0 = c2.select_slider(ui.t("Device matrix d0"), [1, 2, 4], 2, key="sp_d0", bind="query-params")
        d1 = c3.select_slider(ui.t("Device matrix d1"), [1, 2, 4], 2, key="sp_d1", bind="query-params")
        link = c4.selectbox(ui.t("Link"), list(par.LINKS), key="sp_link", bind="query-params")
        c5, c6 = st.columns(2)
        tokens = c5.select_slider(ui.t("Tokens B"), [256, 1024, 4096, 16384], 4096, key="sp_tokens",
                                  bind="query-params")
        hidden = c6.select_slider(ui.t("Hidden H (F = 4H)"), [256, 1024, 4096], 1024, key="sp_hidden",
                                  bind="query-params")
        program = sp.PRESETS[preset]
        st.caption(ui.t("Tensor map: the mesh axis that cuts each tensor dimension (rows, columns); "
                        "-1 = not cut."))
        cols = st.columns(3)
        picks = [ui.by_id(cols[i]).selectbox(ui.t("Layout of {name}", name=name), MAPS,
                                             index=2 if i == 0 else 0,
                                             format_func=lambda m: AUTO if m == "auto" else m,
                                             key=f"sp_leaf{i}", bind="query-params")
                 for i, (name, _) in enumerate(program.leaves)]

    mesh, dims = (d0, d1), {"B": tokens, "H": hidden, "F": 4 * hidden}
    fixed = {name: tuple(int(v) for v in m.strip("()").split(","))
             for (name, _), m in zip(program.leaves, picks) if m != "auto"}
    with ui.guard():
        plan = ui.cached(sp.propagate)(program, mesh, fixed, dims, link)
        ok, err = ui.cached(sp.execute)(plan)
        if not ui.presenting():  # presenter mode: the stepper opens the first screen
            st.subheader(ui.t("Op by op"))

        def main_figure(k: int):
            return fit(cost_bars(plan, ui.t("Cost of each op so far"), min(k, len(plan.ops) - 1),
                                 cache_key=(plan, k)))

        def show_op(k: int) -> None:
            if k == len(plan.ops):
                st.markdown(ui.t("**Output** {name}: made complete as {layout}",
                                 name=plan.program.ops[-1].out, layout=plan.output.text()))
                rows = moves_rows(plan.final, plan.program.ops[-1].out)
                lay, name = plan.output, plan.program.ops[-1].out
            else:
                o = plan.ops[k]
                st.markdown(f"**{o.op.out} = {o.op.kind}({', '.join(o.op.inputs)})** · " + ui.t(
                    "inputs as {ins} → output {out}", ins=", ".join(x.text() for x in o.inputs),
                    out=o.out.text()))
                rows = [r for n, ms in zip(o.op.inputs, o.moves) for r in moves_rows(ms, n)]
                lay, name = o.out, o.op.out
            ui.show_figure(main_figure(k), "sp_costs",
                           ui.t("Green is the local compute of each op; purple the redistribution its "
                                "inputs needed, named on the bar."),
                           rows=[dict(op=o.op.out, compute_s=o.compute_s, comm_s=o.comm_s) for o in plan.ops])
            if rows:
                st.dataframe(rows, hide_index=True)
            else:
                st.caption(ui.t("No redistribution: the layouts already agree."))
            ui.show_figure(fit(shard_map(lay, mesh, ui.t("Who holds what of {name}", name=name))),
                           "sp_shards", ui.t("Each cell is one device of the device matrix and the block "
                                             "of the tensor it keeps."))
        ui.stepper("sp_step", len(plan.ops) + 1, render=show_op, frame=main_figure)
        c1, c2, c3 = st.columns(3)
        c1.metric(ui.t("Estimated time"), f"{plan.cost_s * 1e6:.1f} µs")
        c2.metric(ui.t("of which redistribution"), f"{plan.comm_s * 1e6:.1f} µs")
        c3.metric(ui.t("Weights and inputs per device"), f"{plan.leaf_bytes / 2**20:.2f} MiB")
        (st.success if ok else st.error)(ui.t(
            "{ok} Run shard by shard on {n} simulated devices in numpy, every device's output equals the "
            "slice of the unsharded result (max error {err:.1e}).", ok="✓" if ok else "✗", n=d0 * d1,
            err=err))
        st.dataframe([{ui.t("tensor"): n, ui.t("tensor map"): lay.text(),
                       ui.t("chosen by"): ui.t("you") if n in fixed else ui.t("propagation")}
                      for n, lay in plan.leaves], hide_index=True)

        st.subheader(ui.t("Search: the cheapest layouts"))
        best = ui.cached(sp.search)(program, mesh, dims, link)
        ok_best, _ = ui.cached(sp.execute)(best)
        st.dataframe([{ui.t("tensor"): n, ui.t("searched"): lay.text(), ui.t("yours"): mine.text()}
                      for (n, lay), (_, mine) in zip(best.leaves, plan.leaves)], hide_index=True)
        st.write(ui.t("Searched: {best:.1f} µs and {mib:.2f} MiB per device; yours: {mine:.1f} µs. {ok}",
                      best=best.cost_s * 1e6, mib=best.leaf_bytes / 2**20, mine=plan.cost_s * 1e6,
                      ok=ui.t("✓ verified in numpy") if ok_best else "✗"))
        st.caption(ui.t("Every layout of every leaf, pruned by branch and bound; least time first, then "
                        "least memory. The 3D-parallel page's four MatMul strategies are the first program "
                        "on a 4 × 1 device matrix."))


propagation_view()

ui.checkpoint("sp_ck", ui.t("Y = gelu(X·W1)·W2 with W1 cut by columns and W2 by rows over 4 devices: which "
                            "collective does the output need?"), "AllReduce",
              ui.t("Each device holds a partial sum of Y; summing them is an AllReduce (or a "
                   "ReduceScatter if the output may stay cut)."),
              choices=["AllGather", "AllReduce", "AllToAll", "Split"])
ui.lesson("strategy_propagation")
