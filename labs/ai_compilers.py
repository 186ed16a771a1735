"""AI compiler landscape: TVM, XLA, MLIR-based stacks, TorchInductor/Triton and the Ascend GE, by level."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException

import ui
from engine.compiler.landscape import landscape
from ui.catalog import lab as catalog_lab
from viz.compiler_landscape import landscape_figure

ui.setup("ai_compilers",
         "AI compiler landscape",
         "TVM, XLA, MLIR, TorchInductor and the Ascend graph engine, level by level.")
t_ = ui.t
TABLE = landscape()
fit, shared = ui.figure_view()
figure = shared(landscape_figure)


def link(page: str, label: str, icon: str = ":material/science:") -> None:
    """A link to another lab (plain text when this page runs on its own, as in tests)."""
    try:
        st.page_link(f"labs/{page}.py", label=label, icon=icon)
    except StreamlitAPIException:
        st.markdown(f"**{label}**")


with ui.controls():
    key = st.segmented_control(t_("Level"), [lv.key for lv in TABLE.levels], default="graph", required=True,
                               format_func=lambda k: ui.both(TABLE.level(k).title), key="ac_level",
                               bind="query-params")
level = TABLE.level(key if key in [lv.key for lv in TABLE.levels] else "graph")

ui.show_figure(fit(figure(TABLE, level.key, t_("Five AI compilers, level by level"), cache_key=level.key)),
               "ac_map", t_("Read a column top to bottom to follow one compiler as it lowers a model; read "
                            "a row to compare what each compiler uses at that level. Hover a cell for its "
                            "facts."),
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

st.info(t_("TVM itself is not installed here: the apache-tvm package is large and heavy to build. The GEMM "
           "lab's schedule language (split, reorder, tile, vectorize, unroll) is our stand-in for TVM's "
           "tensor level, and the lowering lab runs those schedules through real LLVM."))

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
