import numpy as np
import streamlit as st

import engine.parallel as par
import ui
from viz.parallel import alpha_beta, loss_curves, loss_scale_plot, named_lanes, ring_state, underflow_hist
from viz.timeline import gantt

ui.setup("collectives",
         "Collectives & data parallel",
         "All-reduce chunk by chunk, what it costs, and how data-parallel training hides it.")


fit, shared = ui.figure_view()
ring_state = shared(ring_state)
alpha_beta = shared(alpha_beta)
gantt = shared(gantt)
loss_curves = shared(loss_curves)
underflow_hist = shared(underflow_hist)
loss_scale_plot = shared(loss_scale_plot)


def model_curves(n: int, ring: str, tree: str) -> dict:
    """α-β all-reduce time vs message size for every link preset (ring) and InfiniBand (tree);
    ``ring``/``tree``: the curve names as ``{link}`` templates in the view's language."""
    sizes = np.logspace(2, 10, 40)
    curves = {ring.format(link=name): (sizes, [par.allreduce_time(s, n, link) for s in sizes])
              for name, link in par.LINKS.items()}
    ib = par.LINKS["InfiniBand HDR"]
    curves[tree.format(link=ib.name)] = (sizes, [par.allreduce_time(s, n, ib, "tree") for s in sizes])
    return curves


def step_log(step) -> str:
    """A step's engine log in the view's language: a sentence whole, a list of sends one by one."""
    if not step.data["sends"]:
        return ui.t_message(step.log)
    return ", ".join(ui.t_message(send) for send in step.log.split(", "))


@st.fragment   # the DDP buckets: a new bucket size or link reruns only this section
def ddp_view(n: int) -> None:
    st.subheader(ui.t("DDP: gradient buckets overlap backward"))
    with ui.guard():
        d1, d2 = st.columns(2)
        bucket_mb = d1.slider(ui.t("Bucket size (MB = 10⁶ bytes)"), 1, 200, 25,
                              key="co_bucket", bind="query-params")
        link_name = d2.selectbox(ui.t("Link"), list(par.LINKS), index=1, key="co_link",
                                 bind="query-params")
        res = ui.cached(par.ddp_buckets)([8e6] * 24, [2e-3] * 24, bucket_mb * 1e6, n, par.LINKS[link_name])
        ui.show_figure(fit(gantt(named_lanes(res.timeline, ui.t_message),
                                 ui.t("Backward and bucket all-reduces ({n} devices, {link_name})",
                                      n=n, link_name=link_name))),
                       "co_ddp", ui.t("Overlapped step {v2:.1f} ms vs {v3:.1f} ms if all-reduce waited for "
                                      "backward (PyTorch's default bucket is 25 MB).",
                                      v2=res.overlapped * 1e3, v3=res.serial * 1e3))


@st.fragment   # sync vs async SGD: a new staleness reruns only this section
def sgd_view(n: int) -> None:
    st.subheader(ui.t("Synchronous vs asynchronous SGD"))
    with ui.guard():
        stale = st.slider(ui.t("Staleness (updates)"), 0, 16, 4, key="co_stale",
                          bind="query-params")
        curves = ui.cached(par.sync_vs_async)(n, 80, stale, 0.1)
        ui.show_figure(fit(loss_curves({ui.t("sync"): curves.sync, ui.t("async (stale)"): curves.async_},
                                       ui.t("Linear regression on {n} workers, loss per update (staleness "
                                            "{stale})", n=n, stale=stale),
                                       curves.optimum)), "co_sgd",
                       ui.t("Stale gradients point where the weights used to be: with more staleness the "
                            "async curve slows, wobbles, and can diverge."))


@ui.section   # devices, length and algorithm and all they drive: all-reduce stepper, α-β, DDP, SGD
def allreduce_view() -> None:
    with ui.controls():
        c1, c2, c3 = st.columns(3)
        n = c1.slider(ui.t("Devices N"), 2, 8, 4, key="co_n", bind="query-params")
        length = c2.slider(ui.t("Elements per device"), 2, 24, 8, key="co_len",
                           bind="query-params")
        algo = ui.by_id(c3).radio(ui.t("Algorithm"), ["ring", "tree"], horizontal=True, key="co_algo",
                                  format_func=ui.t, bind="query-params")

    with ui.guard():
        data = np.random.default_rng(0).integers(0, 10, size=(n, length)).astype(float)
        run = ui.cached(par.ring_allreduce if algo == "ring" else par.tree_allreduce)(data)
        def main_figure(k: int):
            step = run[k]
            chunks = step.data.get("chunks", (0, length))
            title = f"{ui.t_message(run.title)}: {ui.t_message(step.title)}"
            return fit(ring_state(step.data["buffers"], chunks, step.data["sends"], title))

        def show_step(k: int) -> None:
            step = run[k]
            ui.show_figure(main_figure(k), "co_ring",
                           ui.t("Red outline = the chunk a device just received (its sender is named on "
                                "the left). Ring: after N−1 reduce-scatter steps every device owns one "
                                "finished chunk; N−1 all-gather steps hand them round."),
                           data=step.data["buffers"].tolist())
            st.caption(step_log(step))
            if k == len(run) - 1:
                if np.allclose(step.data["buffers"], data.sum(axis=0)):
                    st.success(ui.t("✓ Every device now holds the same vector as numpy's "
                                    "data.sum(axis=0)."))
                else:
                    st.error(ui.t("The buffers differ from numpy's sum."))
        ui.stepper("co_step", len(run), render=show_step, frame=main_figure)

    st.subheader(ui.t("α-β cost model"))
    with ui.guard():
        curves = ui.cached(model_curves)(n, ui.t("{link} ring"), ui.t("{link} tree"))
        ui.show_figure(fit(alpha_beta(curves, ui.t("All-reduce time on {n} devices (α-β model)", n=n))),
                       "co_ab", ui.t("Small messages pay latency α per step (tree wins); large ones pay "
                                     "bandwidth, 2(N−1)/N · n/β (ring wins)."))
        ui.table([{ui.t("link"): l.name, "α (µs)": l.alpha * 1e6, "β (GB/s)": l.beta / 1e9,
                   ui.t("source"): l.source} for l in par.LINKS.values()])

    ddp_view(n)
    sgd_view(n)


allreduce_view()


@st.fragment   # loss scaling: a new scale or growth interval reruns only this section
def precision_view() -> None:
    st.subheader(ui.t("Mixed precision: underflow and loss scaling"))
    with ui.guard():
        m1, m2 = st.columns(2)
        log_scale = m1.slider(ui.t("log2 loss scale"), 0, 24, 0, key="co_scale",
                              bind="query-params")
        interval = m2.slider(ui.t("Growth interval (good steps)"), 5, 200, 50,
                             key="co_interval", bind="query-params")
        under = ui.cached(par.underflow)(par.synthetic_gradients(), 2.0 ** log_scale)
        ui.show_figure(fit(underflow_hist(under, ui.t("Gradients vs the fp16 window, scale 2^{log_scale}",
                                                      log_scale=log_scale))),
                       "co_under", ui.t("{zero_fraction:.1%} of the gradients become 0 in fp16, "
                                        "{overflow_fraction:.1%} overflow.",
                                        zero_fraction=under.zero_fraction,
                                        overflow_fraction=under.overflow_fraction))
        hist = ui.cached(par.loss_scale_steps)(par.synthetic_grad_max(), 2.0 ** 16, interval)
        ui.show_figure(fit(loss_scale_plot(hist, ui.t("Dynamic loss scale over steps (starts at 2^16)"))),
                       "co_lscale", ui.t("Halve and skip on overflow; double after a run of good steps."))


precision_view()

ui.checkpoint("co_ck", ui.t("Ring all-reduce of 1 GB on 8 devices: how many GB does each device send?"),
              par.ring_bytes_per_device(1.0, 8),
              ui.t("2(N−1)/N · n = 14/8 GB: almost twice the message, whatever N is."))
ui.lesson("collectives")
