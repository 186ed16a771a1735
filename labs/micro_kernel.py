"""Kernel layer: a register-blocked GEMM micro-kernel, its packed operands, the best tile per SIMD width."""
from __future__ import annotations

import streamlit as st

import ui
from engine.kernels import micro_kernel as mk
from ui.heavy import cached_heavy
from viz import micro_kernel as vm

ui.setup("micro_kernel",
         "GEMM micro-kernel",
         "An mr × nr tile of C lives in vector registers; packed A and B stream past it. Which tile keeps "
         "the FMA units fed on NEON, AVX2 and AVX-512?")
t_ = ui.t
_, shared = ui.figure_view()
search_fig, regs_fig, packed_fig = shared(vm.tile_search), shared(vm.register_file), shared(vm.packed_matrix)
HOW_A = {"broadcast": "broadcast-loads", "embedded": "broadcasts inside the FMA",
         "by-element": "vector-loads"}
SHOWN = 12  # k-steps and columns the packed-layout figures show


@ui.section   # the ISA, tile and sizes and everything they drive: a change reruns only this section
def kernel_view() -> None:
    with ui.controls():
        c = st.columns([3, 2, 2])
        isa_name = c[0].radio(t_("SIMD instruction set"), list(mk.ISAS), index=1, horizontal=True,
                              key="mk_isa", bind="query-params")
        mr = c[1].slider("mr", 1, mk.MAX_MR, 6, key="mk_mr", bind="query-params")
        vectors = c[2].slider(t_("B vectors per k-step (nr / lanes)"), 1, 12, 2, key="mk_vec",
                              bind="query-params")
        d = st.columns(3)
        m = d[0].slider("M", 1, mk.MAX_DIM, 96, key="mk_m", bind="query-params")
        n = d[1].slider("N", 1, mk.MAX_DIM, 96, key="mk_n", bind="query-params")
        k = d[2].slider("K", 1, mk.MAX_DIM, 96, key="mk_k", bind="query-params")

    with ui.guard():
        spec = mk.isa(isa_name)
        nr = vectors * spec.lanes
        tile = mk.tile(isa_name, mr, nr)
        best = ui.cached(mk.model_best)(isa_name)
        known = next(r for r in ui.cached(mk.known_rows)() if r["isa"] == isa_name)
        known_tile = mk.tile(isa_name, *map(int, known["known_as_mr_x_nr"].split("x")))
        st.caption(t_("{isa}: {width}-bit vectors = {lanes} fp32 lanes, {regs} vector registers. "
                      "Source: {src}", isa=isa_name, width=spec.width_bits, lanes=spec.lanes,
                      regs=spec.registers, src=spec.source))
        g = st.columns(5)
        g[0].metric(t_("Tile"), f"{mr} × {nr}")
        g[1].metric(t_("Registers used"), f"{tile.used} / {tile.registers}", "✓" if tile.fits else "✗",
                    delta_color="normal" if tile.fits else "inverse")
        g[2].metric(t_("FMAs per k-step"), f"{tile.fmas}")
        g[3].metric(t_("Loads per k-step"), f"{tile.loads}",
                    t_("A {a} + B {b}", a=tile.a_loads, b=tile.b_loads), delta_color="off")
        g[4].metric(t_("FMAs per load"), f"{tile.fmas_per_load:.3g}",
                    t_("{v:.3g} FLOP per byte", v=tile.flops_per_byte), delta_color="off")
        if not tile.fits:
            st.warning(t_("{need} registers needed, {have} exist: the compiler would spill accumulators to "
                          "the stack and reload them every k-step.", need=tile.used, have=tile.registers))
        left, right = st.columns([3, 2])
        with left:
            grid = ui.cached(mk.search_grid)(isa_name)
            title = t_("FMAs per load of every tile that fits ({isa})", isa=isa_name)
            fig = search_fig(grid, tile, best, known_tile, title, cache_key=(isa_name, mr, nr))
            ui.show_figure(fig, "mk_search",
                           t_("Brighter = more FMAs per load. Blank tiles do not fit in the register file; "
                              "the star is the model's pick, the diamond BLIS's kernel."),
                           rows=[t.row() for t in grid])
        with right:
            ui.show_figure(regs_fig(tile, t_("The register file during the k loop")), "mk_regs",
                           t_("Accumulators stay for the whole k loop; A and B registers are refilled every "
                              "k-step."), rows=[tile.row()])

        st.subheader(t_("The model's pick beside the well-known kernels"))
        rows = ui.cached(mk.known_rows)()
        st.dataframe(rows, hide_index=True)
        if known["model"] == known["known_as_mr_x_nr"]:
            st.success(t_("On {isa} the model and BLIS agree: {tile}.", isa=isa_name, tile=known["model"]))
        else:
            st.info(t_("On {isa} the model picks {model} ({f1} FMAs per load, {b1} FLOP/B) and BLIS uses "
                       "{known} ({f2} FMAs per load, {b2} FLOP/B). The model counts load instructions only; "
                       "BLIS's tile loads fewer bytes per FLOP, its B row is whole cache lines, and x86 "
                       "cores issue two loads per cycle, so a broadcast is nearly free while bytes from L1 "
                       "and L2 are not.",
                       isa=isa_name, model=known["model"], f1=known["model_fmas_per_load"],
                       b1=known["model_flops_per_byte"], known=known["known_as_mr_x_nr"],
                       f2=known["known_fmas_per_load"], b2=known["known_flops_per_byte"]))

        st.subheader(t_("Packed operands, k-step by k-step"))
        ia, ib = mk.packed_index_a(m, k, mr), mk.packed_index_b(k, n, nr)
        rows_a, cols_b, steps = min(m, 2 * mr, 24), min(n, 2 * nr, 48), min(k, SHOWN)

        def show_step(s: int) -> None:
            a, b = st.columns([2, 3])
            mask_a = ia[:rows_a, :steps] < 0
            mask_a[:min(mr, m), s] = True
            mask_b = ib[:steps, :cols_b] < 0
            mask_b[s, :min(nr, n)] = True
            with a:
                title = t_("A packed in {mr}-row panels", mr=mr)
                ui.show_figure(packed_fig(ia[:rows_a, :steps], mr, "rows", mask_a, title, page_share=0.4),
                               "mk_pack_a",
                               t_("Each number is the element's offset in the packed buffer: down a panel's "
                                  "column first, so a k-step reads mr neighbours."))
            with b:
                title = t_("B packed in {nr}-column panels", nr=nr)
                ui.show_figure(packed_fig(ib[:steps, :cols_b], nr, "cols", mask_b, title, page_share=0.6),
                               "mk_pack_b",
                               t_("Along a panel's row first: a k-step reads nr neighbours, {v} whole "
                                  "vectors.", v=tile.b_loads))
            st.info(t_("k-step {s} of {k}: {bl} vector loads read {nr} consecutive floats of B's panel "
                       "(offsets {b0}–{b1}); the core {how} {mr} consecutive floats of A's panel (offsets "
                       "{a0}–{a1}); {fmas} vector FMAs update all {acc} accumulators.", s=s + 1, k=k,
                       bl=tile.b_loads, nr=min(nr, n), b0=s * nr, b1=s * nr + nr - 1,
                       how=t_(HOW_A[spec.a_operand]),
                       mr=min(mr, m), a0=s * mr, a1=s * mr + mr - 1, fmas=tile.fmas, acc=tile.accumulators))
        ui.stepper("mk_step", steps, render=show_step)

        st.subheader(t_("The blocked loop, emulated with numpy"))
        emu = cached_heavy(mk.emulate, "micro_kernel")(m, n, k, mr, nr)
        e = st.columns(4)
        e[0].metric(t_("Emulated (ms)"), f"{1e3 * emu.emulated_s:,.2f}")
        e[1].metric(t_("numpy A @ B (ms)"), f"{1e3 * emu.blas_s:,.3f}")
        e[2].metric(t_("max |C − A @ B|"), f"{emu.max_abs_error:.1e}",
                    "✓" if emu.max_abs_error < 1e-3 else "✗", delta_color="off")
        e[3].metric(t_("Work on zero padding"), f"{emu.padded_fraction:.1%}")
        st.caption(t_("Every tile's rank-1 update of one k-step runs as one numpy operation, k after k. It "
                      "shows the loop's order and packing, not a core's speed: BLAS (medians of 3 runs here) "
                      "runs the real micro-kernel in assembly."))
        st.dataframe([emu.row()], hide_index=True)
        ui.checkpoint("mk_ck_avx2", t_("AVX2 has 16 ymm registers of 8 floats. How many accumulator "
                                       "registers does a 6 × 16 tile need?"), 12,
                      t_("6 rows × 16 columns / 8 lanes = 12; with 2 for B and 1 broadcast register, 15 of "
                         "16."))


kernel_view()

ui.lesson("micro_kernel")
