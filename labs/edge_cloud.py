"""Cloud vs edge: run on the phone, send to the cloud, or split the network in between?"""
from __future__ import annotations

import dataclasses

import streamlit as st
from streamlit.errors import StreamlitAPIException

import engine
import ui
from engine.inference import edge_cloud as dp
from engine.inference import lab as il
from engine.inference.serving import md1_wait
from ui import workspace as ws
from viz import serving as vs

ui.setup("edge_cloud",
         "Cloud vs edge",
         "Every layer can run on the device or in the cloud; between them sits a radio link that costs "
         "time and battery. Find the cheapest place to cut.")
t_ = ui.t
TR = ui.translator()
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)
TARGETS, NETS = dp.targets(), dp.networks()
CLOUDS = ["A100 80GB SXM", "H100 SXM"]
DEVICES = [n for n in TARGETS if n not in CLOUDS]
RESNET = "resnet18 (torch → ONNX)"
MODELS = [*dp.ZOO, RESNET, *[p for p in engine.preset_names() if p != "autodiff_example"], "custom"]
ACT = {"fp32": 4, "fp16": 2, "int8": 1}
SOURCE = ws.current()   # your graph (the link's g), the default model


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:,.1f} µs"


def chain_for(name: str, act_bytes: int, g: str = "", title: str = ""):
    if name == ws.YOURS:   # the graph is looked up here, by its link value: never hashed on a rerun
        return il.graph_chain_checked(ws.graph_of(ws.parse_g(g))[0], title)
    if name in dp.ZOO:
        return dp.zoo_chain(name, act_bytes, float(act_bytes))
    if name == RESNET:   # exported by torch, read back from ONNX: the real conversion path (slow once)
        from engine.interop.torch_zoo import zoo_graph
        return dp.graph_chain(zoo_graph("resnet18"), "ResNet-18")
    return dp.graph_chain(engine.preset(name), name)


@ui.section   # the model, device and link pickers and the split they drive: a pick reruns only this section
def split_view() -> None:
    with ui.controls():
        c = st.columns(4)
        model_name = ws.pick(t_("Model"), MODELS, "ec_model", slot=c[0])   # "Your graph" first, key ec_model
        dev_name = c[1].selectbox(t_("Device"), DEVICES, key="ec_device", bind="query-params")
        cloud_name = c[2].selectbox(t_("Cloud GPU"), CLOUDS, key="ec_cloud", bind="query-params")
        net_name = c[3].selectbox(t_("Network"), list(NETS), key="ec_net", bind="query-params")
        if model_name == ws.YOURS:
            ws.chip(SOURCE, ws.graph_of(SOURCE)[0])
        net = NETS[net_name]
        slug = "".join(ch for ch in net_name.lower() if ch.isalnum())
        d = st.columns(4)
        up = d[0].number_input(t_("Uplink (Mbit/s)"), -1e4, 1e5, net.up_mbps,
                               key=f"ec_up_{slug}", bind="query-params")
        rtt_ms = d[1].number_input(t_("Round trip (ms)"), 0.0, 5000.0, net.rtt_s * 1e3,
                                   key=f"ec_rtt_{slug}", bind="query-params")
        dev_eff = d[2].slider(t_("Device efficiency (% of peak)"), 1, 100, 20,
                              key="ec_deveff", bind="query-params")
        rho = d[3].slider(t_("Cloud GPU utilisation ρ"), 0.0, 0.95, 0.5,
                          key="ec_rho", bind="query-params")
        e = st.columns(4)
        objective = ui.by_id(e[0]).radio(t_("Minimise"), ["latency", "energy"], horizontal=True,
                                         key="ec_obj", bind="query-params", format_func=t_)
        act = e[1].selectbox(t_("Activations / weights"), list(ACT), key="ec_act",
                             bind="query-params")
        jpeg = e[2].toggle(t_("JPEG upload"), False, key="ec_jpeg", bind="query-params",
                           help=t_("All-cloud uploads a 20 KB JPEG instead of the input tensor."))
        tail = e[3].toggle(t_("Radio tail"), False, key="ec_tail", bind="query-params",
                           help=t_("Count the energy of the radio staying in high power after a transfer "
                                   "(LTE: about 11.6 s)."))
        if model_name == "custom":
            f = st.columns(4)
            params_m = f[0].number_input(t_("Parameters (M)"), 0.0, 1e6, 7000.0, key="ec_params",
                                         bind="query-params")
            gflops = f[1].number_input("GFLOPs", 0.0, 1e7, 14.0, key="ec_gflops", bind="query-params")
            in_kb = f[2].number_input(t_("Input (KB)"), 0.0, 1e6, 4.0, key="ec_in", bind="query-params")
            out_kb = f[3].number_input(t_("Output (KB)"), 0.0, 1e6, 4.0, key="ec_out", bind="query-params")

    with ui.guard():
        net = dataclasses.replace(net, up_mbps=up, rtt_s=rtt_ms / 1e3)
        if model_name == "custom":
            chain = dp.custom_chain(params_m * 1e6, gflops * 1e9, in_kb * 1e3, out_kb * 1e3, float(ACT[act]))
        else:
            yours = (SOURCE.g, SOURCE.name) if model_name == ws.YOURS else ()  # the others do not vary with g
            chain = ui.cached(chain_for)(model_name, ACT[act], *yours)
        device, cloud = TARGETS[dev_name], TARGETS[cloud_name]
        service = sum(dp.layer_times(chain, cloud, 0.5))
        queue = md1_wait(rho / service, service) if rho > 0 else 0.0
        view = il.edge_view(chain, DEVICES, dev_name, cloud_name, net, dev_eff / 100, 0.5, queue, tail,
                            20e3 if jpeg else None, objective)   # the split-search budget is checked first
        points = list(view.points)
        best = dp.best_split(points, objective)
        m = st.columns(4)
        m[0].metric(t_("Best split"), vs.split_label(best.label, TR))
        m[1].metric(t_("Latency"), _time(best.latency),
                    t_("all on device: {_time}", _time=_time(points[-1].latency)),
                    delta_color="off", delta_arrow="off")
        m[2].metric(t_("Phone energy"), f"{best.energy * 1e3:,.3g} mJ")
        m[3].metric(t_("Weights"), il.si(chain.params * chain.weight_bytes, "B"),
                    t_("device holds {v2:.0f} GiB", v2=device.memory_bytes / 2**30),
                    delta_color="off", delta_arrow="off")
        if net_name == "LTE" and up == NETS["LTE"].up_mbps:
            st.badge(t_("LTE 6 / 13 Mbit/s up / down: matches Huang et al. 2012 (medians in its abstract), "
                        "difference 0"),
                     color="green", icon=":material/check:")
        if net.alpha_up:
            st.badge(t_("Radio power α_u, α_d, β and tail: transcribed from Huang et al. 2012 Tables 3-4, "
                        "not re-checked against the paper's text"), color="orange", icon=":material/warning:")
        fastest = best.k if objective == "latency" else dp.best_split(points).k
        ui.show_figure(fig(vs.split_latency)(points, fastest,
                                             t_("{name}: latency of every split point", name=chain.name),
                                             tr=TR),
                       "ec_latency", t_("Cutting early sends the big early activations; cutting late runs "
                                        "most of the network on the slow device. Hatched bars do not fit "
                                        "the device."),
                       rows=[dict(k=p.k, split=p.label, latency_ms=p.latency * 1e3, energy_mj=p.energy * 1e3,
                                  sent_bytes=p.sent_bytes, fits=p.fits) for p in points], main=True)
        ui.show_figure(fig(vs.split_energy)(points, dp.best_split(points, "energy").k,
                                            t_("Phone energy of every split point"), tr=TR),
                       "ec_energy", t_("Radio energy grows with the bytes sent (and the LTE tail, if "
                                       "counted); compute energy with the layers kept on the device."))
        ui.table([{t_(k): vs.split_label(v, TR) if k == "best cut" else v for k, v in row.items()}
                  for row in il.edge_rows(view.options)])
        st.caption(t_("Every device preset on the same link: on device, all in the cloud, and at its best "
                      "cut for the chosen objective (latency in ms, phone energy in mJ)."))
        st.caption(t_("Sources: ") + device.source + " · " + net.source +
                   t_(" · cloud queue: M/D/1 wait {v2:.2f} ms at ρ = {rho}.", v2=queue * 1e3, rho=rho))
        dev_ms, cloud_ms = points[-1].latency * 1e3, points[0].latency * 1e3
        ui.checkpoint("ec_where", t_("With these settings, is {name} faster all on the {dev_name} or all "
                                     "in the cloud?", name=chain.name, dev_name=dev_name),
                      t_("device") if dev_ms <= cloud_ms else t_("cloud"),
                      t_("All on device {dev_ms:,.1f} ms vs all in the cloud {cloud_ms:,.1f} ms (of which "
                         "upload {v2:,.1f} ms).",
                         dev_ms=dev_ms, cloud_ms=cloud_ms, v2=points[0].upload_s * 1e3),
                      choices=[t_("device"), t_("cloud")])


split_view()

st.subheader(t_("From a trained model to a phone"))
for name, what, page in dp.PIPELINE:
    cols = st.columns([1, 3])
    try:
        cols[0].page_link(f"labs/{page}.py", label=t_(name))
    except StreamlitAPIException:   # page run on its own (tests) or not built yet
        cols[0].markdown(f"**{t_(name)}**")
    cols[1].markdown(t_(what))

ui.lesson("edge_cloud")
