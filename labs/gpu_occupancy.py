"""GPU occupancy: how many warps (NVIDIA) or waves (AMD) a core keeps resident, and what runs out first."""
from __future__ import annotations

import streamlit as st

import ui
from engine import simulate
from engine.hw import SPECS, mma_vs_fma, occupancy, occupancy_curve
from engine.hw.graph_sim import GPU_SMS
from engine.hw.lab import layer_rows
from engine.hw.occupancy_amd import SPECS_AMD, occupancy_amd, occupancy_amd_curves
from ui import workspace as ws
from viz.hardware import gpu_layers_chart, lens_table, limit_labels, limiter_bars, occupancy_curve_fig
from viz.occupancy_amd import amd_limit_labels, amd_limiter_bars, amd_occupancy_curves_fig

ui.setup("gpu_occupancy", "GPU occupancy",
         "Registers, shared memory and block size decide how many warps hide each other's latency.")
t_ = ui.t
fit, shared = ui.figure_view()
limiter_bars, occupancy_curve_fig, gpu_layers_chart, amd_limiter_bars, amd_curves = map(shared, (
    limiter_bars, occupancy_curve_fig, gpu_layers_chart, amd_limiter_bars, amd_occupancy_curves_fig))


def on_gpu(g: str, hardware: str, precision: str):  # the workspace graph ``g`` on a GPU preset
    return simulate(ws.graph_of(ws.parse_g(g))[0], "gpu", hardware=hardware, precision=precision)


#: CUDA C++ Best Practices Guide, "Calculating Occupancy": (cc, threads, registers, smem) -> occupancy %
GUIDE = {("7.0", 128, 37, 0): 75, ("7.0", 320, 37, 0): 63, ("7.0", 256, 32, 0): 100}
LIMIT_NAMES, AMD_NAMES = limit_labels(ui.translator()), amd_limit_labels(ui.translator())


@ui.section   # the graph, hardware and precision picks and the roofline lens they drive
def graph_view() -> None:
    with ui.controls():
        c = st.columns([3, 2, 1])
        choice = ws.choose("go_graph", ("preset:conv_bn_relu", "preset:resnet_basic_block",
                                        "preset:mobilenetv2_inverted_residual", "zoo:tiny_cnn",
                                        "zoo:resnet18"), slot=c[0])
        hw = c[1].selectbox(t_("Hardware"), list(GPU_SMS), index=1, key="go_hw", bind="query-params")
        prec = c[2].radio(t_("Precision"), ["fp16", "fp32"], key="go_prec", bind="query-params")
    if choice is None:
        return
    with ui.guard():
        sim = ui.cached_resource(on_gpu)(choice.source.g, hw, prec)
        table, k = layer_rows(sim), dict(sim.config)
        title = t_("{name} on {hw} ({prec}): roofline time per layer", name=choice.name, hw=hw, prec=prec)
        ui.show_figure(fit(gpu_layers_chart(table, title, cache_key=(choice.source.g, hw, prec))),
                       "go_graph_layers", t_("Notice: layers with few FLOPs per byte are memory-bound — a "
                                             "faster Tensor Core would not make them faster."), rows=table)
        m = st.columns(4)
        m[0].metric(t_("Roofline time (all layers)"), f"{1e6 * sim.total('time_s'):.3g} µs")
        m[1].metric(t_("Compute-bound layers"), f"{sim.total('compute_bound_layers')} / {len(sim.layers)}")
        m[2].metric(t_("Kernel occupancy"), f"{100 * sim.total('occupancy'):.1f}%",
                    help=t_("{b} blocks per SM, limited by {lim}", b=sim.total("blocks_per_sm"),
                            lim=LIMIT_NAMES[sim.total("occupancy_limiter")]))
        m[3].metric(t_("Attainable (all layers)"), f"{sim.total('attainable') / 1e12:.1f} TFLOP/s")
        ui.table(lens_table(table, ui.translator(), ui.t_message))
        st.caption(t_("Stated GEMM kernel (an assumption, not a measurement): {threads} threads and "
                      "{regs} registers per thread, {smem} KiB shared memory, a {tm}×{tn} output tile per "
                      "block. Its occupancy and waves are shown beside the time, not folded into it. "
                      "Hardware: {source}", threads=k["threads_per_block"], regs=k["regs_per_thread"],
                      smem=k["smem_per_block"] // 1024, tm=k["block_tile_m"], tn=k["block_tile_n"],
                      source=sim.total("source")))


graph_view()


@st.fragment   # one kernel's occupancy: changing the vendor or the kernel reruns only this section
def kernel_view() -> None:
    st.subheader(t_("One kernel's occupancy"))
    with ui.controls("kernel"):
        vendor = st.radio(t_("Vendor"), ["NVIDIA", "AMD"], horizontal=True, key="go_vendor",
                          bind="query-params")
        c = st.columns(5)
        if vendor == "NVIDIA":
            cc = ui.by_id(c[0]).selectbox(t_("Compute capability"), list(SPECS), index=0, key="go_cc",
                                          format_func=lambda k: f"{k} — {SPECS[k].name}", bind="query-params")
            threads = c[1].number_input(t_("Threads per block"), 0, 2048, 128, step=32, key="go_threads",
                                        bind="query-params")
            regs = c[2].number_input(t_("Registers per thread"), 1, 300, 37, key="go_regs",
                                     bind="query-params")
            smem = int(1024 * c[3].number_input(t_("Shared memory per block (KB)"), 0.0, 256.0, 0.0,
                                                step=1.0, format="%.1f", key="go_smem", bind="query-params"))
        else:
            arch = ui.by_id(c[0]).selectbox(t_("AMD target"), list(SPECS_AMD), key="go_arch",
                                            bind="query-params", format_func=lambda k: (
                                                f"{k} — {SPECS_AMD[k].name} ({SPECS_AMD[k].product})"))
            wg = c[1].number_input(t_("Workgroup size"), 1, 1024, 256, step=64, key="go_wg",
                                   bind="query-params")
            vgprs = c[2].number_input(t_("VGPRs per work-item"), 1, 512, 102, key="go_vgpr",
                                      bind="query-params")
            sgprs = c[3].number_input(t_("SGPRs per wave"), 0, 108, 98, key="go_sgpr", bind="query-params")
            lds = int(1024 * c[4].number_input(t_("LDS per workgroup (KiB)"), 0.0, 64.0, 0.0, step=1.0,
                                               format="%.1f", key="go_lds", bind="query-params"))
    with ui.guard():
        if vendor == "AMD":
            a = ui.cached(occupancy_amd)(arch, int(wg), int(vgprs), int(sgprs), lds)
            m = st.columns(4)
            m[0].metric(t_("Waves per SIMD"), f"{a['waves_per_simd']} / 8")
            m[1].metric(t_("Occupancy"), f"{100 * a['occupancy']:.1f}%")
            m[2].metric(t_("Waves on the GPU"), f"{a['resident_waves_gpu']:,}",
                        help=t_("{w} waves per CU × {cus} CUs", w=a["waves_per_cu"], cus=a["cus"]))
            m[3].metric(t_("Limited by"), AMD_NAMES[a["limiter"]])
            ui.show_figure(fit(amd_limiter_bars(a)), "go_amd_limits", t_(
                "The smallest bar binds. A work-item holds {v} VGPRs (rounded up to 8) of 512 per SIMD "
                "lane, a workgroup {lds:,} B of the CU's 64 KiB LDS. AMD's register-pressure lab note "
                "(CDNA2): 102 VGPRs give 4 waves per SIMD, 96 give 5.", v=a["vgprs_allocated"],
                lds=a["lds_allocated"]), data=a)
            curves = ui.cached(occupancy_amd_curves)(arch, int(wg), int(vgprs), int(sgprs), lds)
            ui.show_figure(fit(amd_curves(curves, (int(vgprs), int(wg), lds))), "go_amd_curves", t_(
                "Each panel moves one resource, the others stay yours. Steps come from allocation granules: "
                "VGPRs in 8s, LDS in 512-byte blocks, a workgroup's waves spread over 4 SIMDs."), data=curves)
        else:
            r = ui.cached(occupancy)(cc, int(threads), int(regs), smem)
            m = st.columns(4)
            m[0].metric(t_("Occupancy"), f"{100 * r['occupancy']:.1f}%")
            m[1].metric(t_("Blocks per SM"), r["blocks_per_sm"])
            m[2].metric(t_("Active warps"), f"{r['active_warps']} / {r['max_warps_per_sm']}")
            m[3].metric(t_("Limited by"), LIMIT_NAMES[r["limiter"]])
            guide = GUIDE.get((cc, int(threads), int(regs), smem), 0)
            st.caption(t_("✓ matches NVIDIA's CUDA C++ Best Practices Guide (Calculating Occupancy): "
                          "{guide} % there, {v2:.1f} % here — difference {v3:.1f} points (the guide "
                          "rounds).", guide=guide, v2=100 * r['occupancy'],
                          v3=abs(100 * r['occupancy'] - guide)) if guide else t_(
                "The Best Practices Guide's worked example: cc 7.0, 128 threads per block, 37 registers."))
            bars = limiter_bars(r, t_("Blocks per SM allowed by each resource (outlined = binding)"))
            ui.show_figure(fit(bars), "go_limits", t_(
                "The smallest bar binds. Each warp gets {regs_per_warp} registers ({regs}×32 rounded up "
                "to 256); each block reserves {smem_allocated_per_block:,} B of shared memory.",
                regs_per_warp=r["regs_per_warp"], regs=regs,
                smem_allocated_per_block=r["smem_allocated_per_block"]), data=r)
            # only the open tab is drawn (switching reruns this section; the open tab is in the URL):
            # a move redraws one curve, not two
            tab1, tab2 = st.tabs([t_("vs block size"), t_("vs registers")], key="go_curve",
                                 on_change="rerun", bind="query-params")
            if tab1.open:
                with tab1:
                    rows = ui.cached(occupancy_curve)(cc, int(regs), smem, "threads")
                    title = t_("Occupancy vs threads per block (dashed = your block size)")
                    ui.show_figure(fit(occupancy_curve_fig(rows, "threads", title, int(threads))),
                                   "go_curve_t", t_("Saw-teeth appear where a block size leaves warp slots "
                                                    "or registers that no whole block can use."), rows=rows)
            if tab2.open:
                with tab2:
                    rows = ui.cached(occupancy_curve)(cc, 32, smem, "registers", int(threads))
                    title = t_("Occupancy vs registers per thread (dashed = your count)")
                    ui.show_figure(fit(occupancy_curve_fig(rows, "regs", title, int(regs))), "go_curve_r",
                                   t_("Occupancy falls in steps: registers are handed out per warp in units "
                                      "of 256."), rows=rows)


kernel_view()


@st.fragment   # Tensor Cores vs SIMT FMAs: a new M, N or K reruns only this section
def tensor_view() -> None:
    st.subheader(t_("Tensor Cores vs SIMT FMAs"))
    g = st.columns(3)
    gm = g[0].number_input("M", 1, 16384, 4096, key="go_m", bind="query-params")
    gn = g[1].number_input("N", 1, 16384, 4096, key="go_n", bind="query-params")
    gk = g[2].number_input("K", 1, 16384, 4096, key="go_k", bind="query-params")
    with ui.guard():
        ins = ui.cached(mma_vs_fma)(int(gm), int(gn), int(gk))
        st.markdown(t_("**{macs:,}** MACs = **{mma_instructions:,}** warp-level `mma.sync.{mma_shape}` "
                       "instructions ({macs_per_mma} MACs each) or **{fma_instructions:,}** SIMT FMA warp "
                       "instructions (32 MACs each): **{ratio:.0f}×** fewer instructions to issue.",
                       macs=ins['macs'], mma_instructions=ins['mma_instructions'], mma_shape=ins['mma_shape'],
                       macs_per_mma=ins['macs_per_mma'], fma_instructions=ins['fma_instructions'],
                       ratio=ins['ratio']))


tensor_view()

ui.checkpoint("go_ck", t_("cc 7.0, 320 threads per block, 37 registers per thread: what occupancy (%)?"),
              100 * occupancy("7.0", 320, 37)["occupancy"],
              t_("37×32 = 1184 → 1280 registers per warp; 16384 // 1280 = 12 warps per quarter-SM → 48 "
                 "warps; 48 // 10 warps = 4 blocks = 40 warps of 64 (the Best Practices Guide's 63 %)."))
ui.lesson("gpu_occupancy")
