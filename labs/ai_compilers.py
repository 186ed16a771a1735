"""AI compiler landscape: TVM, XLA, MLIR-based stacks, TorchInductor/Triton and the Ascend GE, by level."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

import ui
from engine.compiler.landscape import landscape
from engine.kernels import tvm_gemm as tg
from engine.kernels.gemm import LOOP_ORDERS
from ui.catalog import lab as catalog_lab
from ui.heavy import cached_heavy
from viz.compiler_landscape import landscape_figure, tvm_timing_figure

ui.setup("ai_compilers",
         "AI compiler landscape",
         "TVM, XLA, MLIR, TorchInductor and the Ascend graph engine, level by level.")
t_ = ui.t
TR = ui.translator()
TABLE = landscape()
fit, shared = ui.figure_view()
figure = shared(landscape_figure)


def link(page: str, label: str, icon: str = ":material/science:") -> None:
    """A link to another lab (plain text when this page runs on its own, as in tests)."""
    try:
        st.page_link(f"labs/{page}.py", label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")


@st.fragment   # the TVM schedule: another size, order, vector, unroll or tile recompiles only this section
def tvm_view() -> None:
    with ui.controls("tvm"):
        c = st.columns(4)
        size = c[0].selectbox("M = N = K", [16, 32, 64, 128, 256], index=2, key="ac_tvm_size",
                              bind="query-params")
        order = c[1].selectbox(t_("Loop order"), LOOP_ORDERS, index=LOOP_ORDERS.index("ikj"),
                               key="ac_tvm_order", bind="query-params")
        vector = c[2].selectbox(t_("Vector width"), [1, 4, 8], index=2, key="ac_tvm_vector",
                                bind="query-params")
        unroll = c[3].selectbox(t_("Unroll"), [1, 2, 4, 8], index=1, key="ac_tvm_unroll", bind="query-params")
        tiles = [ui.by_id(col).selectbox(t_("Tile of {axis}", axis=axis), [0, 4, 8, 16, 32], index=3,
                                         format_func=lambda v: t_("none") if v == 0 else str(v),
                                         key=f"ac_tvm_tile_{axis.lower()}", bind="query-params")
                 for col, axis in zip(st.columns(3), "MNK")]
    with ui.guard():
        with st.spinner(t_("Compiling the schedule with TVM and LLVM...")):
            r = cached_heavy(tg.tvm_gemm, "compile")(size, size, size, *tiles, order, vector, unroll)
        for note in r.notes:
            st.caption(ui.t_message(note))
        left, right = st.columns([3, 2])
        with left:
            st.markdown(t_("**TensorIR after the schedule (TVMScript)**, compiled for {cpu} in {ms:.0f} ms",
                           cpu=r.target, ms=r.compile_s * 1e3))
            st.code(r.script, language="python")
        with right:
            model = r.estimate.seconds if r.estimate else None
            ui.show_figure(tvm_timing_figure(r.tvm_s, r.numpy_s, model, t_("One GEMM, three numbers"), tr=TR),
                           "ac_tvm_time", t_("Measured medians on this shared server (numpy with one BLAS "
                                             "thread, like the kernel): read the ratios. The cost model "
                                             "ranks schedules; it is not a stopwatch."),
                           rows=[{"tvm_s": r.tvm_s, "numpy_s": r.numpy_s, "model_s": model}])
            st.caption(t_("max |TVM − numpy| = {d:.1e}", d=r.max_abs_diff))
            if r.estimate:
                st.caption(t_(r.estimate.source))
        with st.expander(t_("The same schedule in the GEMM lab's notation")):
            st.code(r.our_code, language="python")
        link("gemm_tiling", t_("GEMM optimisation"), ":material/grid_on:")


@ui.section   # the level picker and the map, facts and links it drives: a pick reruns only this section
def level_view() -> None:
    with ui.controls():
        key = ui.by_id(st).segmented_control(t_("Level"), [lv.key for lv in TABLE.levels], default="graph",
                                             required=True, format_func=lambda k: t_(TABLE.level(k).title),
                                             key="ac_level", bind="query-params")
    level = TABLE.level(key if key in [lv.key for lv in TABLE.levels] else "graph")

    ui.show_figure(fit(figure(TABLE, level.key, t_("Five AI compilers, level by level"),
                              cache_key=level.key)),
                   "ac_map", t_("Read a column top to bottom to follow one compiler as it lowers a model; "
                                "read a row to compare what each compiler uses at that level. Hover a cell "
                                "for its facts."),
                   data=TABLE, rows=[{"level": c.level, "compiler": c.compiler, "representation": c.ir,
                                      "facts": " ".join(f.text for f in c.facts)} for c in TABLE.cells])

    st.subheader(t_(level.title))
    st.markdown(t_(level.description))
    sources = []
    for comp in TABLE.compilers:
        cell = TABLE.cell(comp.key, level.key)
        with st.container(border=True):
            st.markdown(f"**{comp.name}** · `{cell.ir}`")
            lines = []
            for fact in cell.facts:
                src = TABLE.source(fact.source)
                if src not in sources:
                    sources.append(src)
                lines.append(f"- {t_(fact.text)} [[{sources.index(src) + 1}]]({src.url})")
            st.markdown("\n".join(lines))
    with st.expander(t_("Sources for this level")):
        st.markdown("\n".join(f"{k + 1}. [{s.title}]({s.url})" for k, s in enumerate(sources)))

    st.markdown(t_("**See this level at work in this app:**"))
    cols = st.columns(len(level.labs))
    for col, page in zip(cols, level.labs):
        with col:
            link(page, t_(catalog_lab(page).title))


level_view()

st.subheader(t_("The GEMM lab's schedule, written in TVM"))
st.markdown(t_("The same algorithm (C = A·B) and the same schedule as the GEMM lab, this time in TVM: a "
               "tensor expression (`te.compute`) becomes TensorIR, a `tvm.s_tir.Schedule` splits, reorders, "
               "vectorizes and unrolls its loops, and `tvm.compile` turns it into machine code with LLVM."))
with st.spinner(t_("Loading TVM (the first time takes a few seconds)...")):
    tvm_ok = ui.cached_resource(tg.tvm_available)()
if not tvm_ok:
    st.warning(t_("TVM is not installed on this server, so nothing can be compiled here. Install it with "
                  "`{hint}` and restart the app.", hint=tg.INSTALL_HINT))
else:
    tvm_view()

st.subheader(t_("Triton's blocks against the SIMT model"))
st.markdown(t_("In CUDA a kernel is a scalar program and the programmer arranges threads into blocks: "
               "each thread computes one element, and coalescing, shared memory and synchronisation inside a "
               "block are the programmer's job. Triton turns this around: a Triton program is written for "
               "one block of data at a time (a tile such as 128 elements or 64×64), as if it were one vector "
               "instruction, and the compiler decides how the block's elements map onto threads, shared "
               "memory and coalesced loads. The SIMT lab shows what that mapping must get right: warps that "
               "diverge and memory accesses that do or do not coalesce."))
link("execution_models", t_("SIMD vs SIMT"), ":material/developer_board:")

st.subheader(t_("The five compilers in one line each"))
st.dataframe([{t_("compiler"): c.name, t_("in one line"): t_(c.summary.text),
               t_("source"): TABLE.source(c.summary.source).url} for c in TABLE.compilers],
             hide_index=True, width="stretch",
             column_config={t_("source"): st.column_config.LinkColumn(display_text=t_("open"))})

titles = [t_(lv.title) for lv in TABLE.levels]
ui.checkpoint("ac_ck", t_("TVM's schedule primitives (split, reorder, vectorize, unroll) work on which "
                          "level?"),
              t_(TABLE.level("tensor").title),
              t_("They rewrite one kernel's loop nest: the tensor and loop level. The graph level decides "
                 "which ops form that kernel; the level below turns its loops into machine code."),
              choices=titles)
ui.lesson("ai_compilers")
