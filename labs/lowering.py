"""Lowering to LLVM: one op of your graph as a tensor expression, loops, SSA and machine code."""
from __future__ import annotations

import streamlit as st

import ui
from engine.compiler import lab_lowering as ll
from engine.core.errors import EngineError
from ui import workspace as ws
from ui.heavy import cached_heavy
from ui.page import plain
from viz import lowering as vl

ui.setup("lowering",
         "Lowering to LLVM",
         "Your graph's op as loops, then SSA, then machine code from real LLVM: JIT vs AOT.")
t_, tr = ui.t, ui.translator()
EXAMPLES = ("preset:mlp", "preset:conv_bn_relu", "preset:resnet_basic_block", "preset:self_attention",
            "preset:autodiff_example")
CHAIN = """# an elementwise chain: one fused kernel instead of five numpy passes
x = input([256, 1024])
a = x * 2.0
b = a + 1.0
c = relu(b)
d = c * x
y = d - x
"""
LANGUAGE = {"LLVM IR": "llvm", "optimised IR": "llvm", "machine code": "nasm", "graph": None}

fit, shared = ui.figure_view()
opt_figure, modes_figure = shared(vl.opt_level_figure), shared(vl.run_modes_figure)
shapes_figure = shared(vl.shape_calls_figure)


def graph_of(g: str):
    return ws.graph_of(ws.parse_g(g))[0]


@st.cache_resource(max_entries=32, show_spinner=False)
def choices(g: str):
    return ll.kernel_choices(graph_of(g))


def report(g: str, label: str, tile: int, vector: int, unroll: int, level: int):
    """Everything the page shows for one kernel (compiled, so it runs behind the heavy-work limiter)."""
    schedule = {"tile": tile, "vector": vector, "unroll": unroll}
    return ll.lowering_report(graph_of(g), choices(g).names(label), schedule, level)


def shapes(g: str, node: str, level: int):
    return ll.shape_report(graph_of(g), node, level)


def use_chain() -> None:
    ws.set_current(ws.Source("program", CHAIN))
    st.session_state["lo_graph"] = ws.YOURS


@ui.section   # the graph, kernel and schedule, and all they drive: a change reruns only this section
def lowering_view() -> None:
    with ui.controls():
        c = st.columns([2, 2, 2])
        choice = ws.choose("lo_graph", EXAMPLES, slot=c[0])
        kc = choices(choice.source.g) if choice is not None else None
        if choice is not None and st.session_state.get("lo_seen_g", choice.source.g) != choice.source.g:
            st.session_state.pop("lo_kernel", None)  # a new graph opens on its default kernel
        st.session_state["lo_seen_g"] = choice.source.g if choice is not None else ""
        labels = kc.labels if kc is not None else ()
        label = c[1].selectbox(t_("Node or fused group"), labels, index=kc.default if labels else None,
                               key="lo_kernel", bind="query-params")
        level = ui.by_id(c[2]).radio(t_("LLVM optimisation level"), [0, 1, 2, 3], index=2,
                                     format_func=lambda n: f"-O{n}", horizontal=True, key="lo_opt",
                                     bind="query-params")
        s = st.columns([1, 1, 1, 2], vertical_alignment="bottom")
        tile = s[0].select_slider(t_("Tile"), [1, 2, 4, 8, 16, 32], 8, key="lo_tile", bind="query-params")
        vector = s[1].select_slider(t_("Vector width"), [1, 2, 4, 8, 16], 4, key="lo_vec",
                                    bind="query-params")
        unroll = s[2].select_slider(t_("Unroll"), [1, 2, 4, 8, 16], 2, key="lo_unroll", bind="query-params")
        s[3].button(t_("A fused elementwise chain as your graph"), key="lo_chain",
                    on_click=use_chain, icon=":material/school:")

    rep, g = None, choice.source.g if choice is not None else ""
    if choice is not None and not label:
        st.info(t_("This graph has no op that lowers to loops (matmul, gemm, conv2d, pools, reductions, "
                   "batchnorm or elementwise ops). Try the mlp example."))
    elif label:
        with ui.guard("Cannot lower this kernel"):
            rep = cached_heavy(report, "compile")(g, label, tile, vector, unroll, level)
    if rep is None:
        return
    key = (g, label, tile, vector, unroll, level)
    st.subheader(t_("From graph op to machine code, one level at a time"))
    st.caption(t_("Schedule: {schedule}", schedule=plain(rep.schedule)))

    def show_step(k: int) -> None:
        step = rep.steps[k]
        st.markdown(f"**{ui.t_message(step.level)}** — {plain(ui.t_message(step.title))}")
        left, right = st.columns([3, 2])
        lang = LANGUAGE.get(step.level, "python")
        left.code(step.text, language=lang, height=440 if step.text.count("\n") > 24 else "content")
        with right:
            st.markdown(t_("**This level knows**"))
            st.markdown("\n".join(f"- {plain(ui.t_message(x))}" for x in step.knows) or "—")
            st.markdown(t_("**and has forgotten**"))
            st.markdown("\n".join(f"- {plain(ui.t_message(x))}" for x in step.forgets) or "—")
    ui.stepper("lo_step", len(rep.steps), render=show_step)

    st.subheader(t_("LLVM's optimisation pipeline"))
    ours, after = rep.levels[0].instructions, rep.levels[level + 1].instructions
    answer = t_("more") if after > ours else t_("fewer") if after < ours else t_("the same number")
    ui.checkpoint(f"lo_ck_{hash(key)}", t_("Our IR for this kernel has {ours} instructions. After -O{level}, "
                                           "does LLVM leave more or fewer?", ours=ours, level=level),
                  answer, t_("-O{level} leaves {after} instructions: unrolling and vectorising add code "
                             "while other passes remove it.", level=level, after=after),
                  choices=[t_("more"), t_("fewer"), t_("the same number")])
    ui.show_figure(fit(opt_figure(rep.levels, t_("Instructions and blocks of the kernel at each level"),
                                  cache_key=key)),
                   "lo_levels", t_("Notice: more optimisation is not always less code — vectorising and "
                                   "unrolling trade instructions for speed."),
                   data=rep.levels, rows=vl.level_rows(rep.levels, tr))
    # drawn only while open: two listings of hundreds of highlighted lines, on every move otherwise
    ui.folded(t_("The IR after LLVM -O{level}", level=level), "lo_ir_box",
              lambda: st.code(rep.optimized_ir, language="llvm", height=440))
    ui.folded(t_("The machine code (host assembly, -O{level})", level=level), "lo_asm_box",
              lambda: st.code(rep.assembly, language="nasm", height=440))

    st.subheader(t_("Measured on this machine"))
    tm = rep.times
    m = st.columns(4)
    m[0].metric(t_("JIT kernel (-O{level})", level=level), vl.duration(tm.jit_s))
    m[1].metric(t_("numpy's kernels"), vl.duration(tm.numpy_s))
    m[2].metric(t_("our interpreter"), vl.duration(tm.interpreter_s))
    m[3].metric(t_("max |JIT − numpy|"), f"{tm.max_abs_diff:.1e}")
    if tm.agree:
        st.success(t_("✓ The compiled kernel's output {shape} equals numpy's to float32 rounding.",
                      shape=list(tm.output_shape)))
    else:
        st.warning(t_("The compiled kernel's output differs from numpy's by {d:.1e}.", d=tm.max_abs_diff))
    st.caption(t_("Medians of 5 calls each, on a shared machine: read the ratios, not the digits. numpy may "
                  "use several threads; the compiled kernel uses one."))

    st.subheader(t_("AOT vs JIT, compiler vs interpreter"))
    modes = rep.modes
    ui.show_figure(fit(modes_figure(modes, t_("Total time at run time after n calls"), cache_key=key)),
                   "lo_modes", t_("Where a compiled line crosses the interpreter's, compiling has paid for "
                                  "itself; parallel lines that never cross mean it never does."),
                   data=modes, rows=vl.mode_rows(modes, tr))
    st.dataframe(vl.mode_rows(modes, tr), hide_index=True, width="stretch")
    st.caption(t_("AOT: compiled once ahead of time to a {n:,}-byte object file for {host}, then only "
                  "loaded and linked at run time.", n=modes.object_bytes, host=modes.host))

    st.subheader(t_("Shapes: recompile per shape, or one generic kernel"))
    try:
        sr = cached_heavy(shapes, "compile")(g, rep.nodes[0], level)
    except EngineError as exc:  # e.g. a conv: the generic kernel covers elementwise ops and 2-D matmuls
        sr = None
        st.info(plain(ui.t_message(str(exc))))
    if sr is not None:
        m = st.columns(4)
        m[0].metric(t_("recompiles"), sr.recompiles)
        m[1].metric(t_("guard hits"), sr.hits)
        m[2].metric(t_("fallbacks to the interpreter"), sr.fallbacks)
        m[3].metric(t_("generic kernel: one compile"), vl.duration(sr.generic_compile_s))
        ui.show_figure(fit(shapes_figure(sr, t_("{node}: one call per input shape", node=sr.node),
                                         cache_key=(g, rep.nodes[0], level))),
                       "lo_shapes", t_("Each new shape costs the specialising JIT a compile (tall bars); a "
                                       "repeated shape hits its guard. The generic kernel never recompiles "
                                       "but reads its sizes at run time."),
                       rows=vl.guard_rows(sr, tr))
        st.dataframe(vl.guard_rows(sr, tr), hide_index=True, width="stretch")
    ws.page_link("dynamic_static", t_("torch.compile's own guards and recompiles, on a real function"),
                 choice.source, icon=":material/alt_route:")


lowering_view()

ui.lesson("lowering")
