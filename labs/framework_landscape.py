"""Framework landscape: Theano to PyTorch 2 on a timeline filtered by what each introduced, MindSpore's
architecture as a clickable diagram, and every concept linked to the lab where the student tries it."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

import ui
from engine.framework import landscape as ls
from ui.catalog import lab as catalog_lab
from viz.framework import architecture_figure, timeline_figure

ui.setup("framework_landscape",
         "Framework landscape",
         "Theano to PyTorch 2: what each framework introduced, and where to try it here.")
t_ = ui.t
fit, shared = ui.figure_view()
timeline_chart, arch_chart = shared(timeline_figure), shared(architecture_figure)
PAGES = Path(__file__).resolve().parent
CONCEPT_KEYS = [c.key for c in ls.CONCEPTS]


def try_it(pages) -> None:
    """Links to the labs that show an idea (only labs that exist; others are named as coming)."""
    ready = [p for p in pages if (PAGES / f"{p}.py").exists()]
    cols = st.columns(max(1, len(ready)))
    for col, page in zip(cols, ready):
        lab = catalog_lab(page)
        with col:
            try:
                st.page_link(f"labs/{page}.py", label=t_(lab.title), icon=lab.icon)
            except StreamlitAPIException:        # the lab runs on its own (tests): a plain link
                st.markdown(f"[{t_(lab.title)}](/{page})")
    if not ready:
        st.caption(t_("No lab here shows this yet."))


def pick_component() -> None:
    """A click on a box of the diagram selects that component (the selectbox, in the URL, follows)."""
    points = st.session_state["fl_arch"].selection.get("points", [])
    if points and points[0].get("customdata") in {c.key for c in ls.MINDSPORE}:
        st.session_state["fl_component"] = points[0]["customdata"]


@st.fragment   # MindSpore's architecture: another component (or a click on a box) reruns only this section
def architecture_view() -> None:
    st.subheader(t_("MindSpore's architecture"))
    with ui.controls("arch"):
        key = ui.by_id(st).selectbox(t_("Component"), [c.key for c in ls.MINDSPORE], index=8,
                                     key="fl_component", bind="query-params",
                                     format_func=lambda k: t_(ls.component(k).name))
    with ui.guard():
        part = ls.component(key)
        fig = fit(arch_chart(ls.MINDSPORE, key, ls.COMPILER_LAYER,
                             t_("MindSpore, layer by layer (click a box)"), cache_key=key))
        st.plotly_chart(fig, key="fl_arch", on_select=pick_component, selection_mode="points",
                        config={"displaylogo": False})
        st.caption(t_("The layers as MindSpore's own documentation draws them; the dashed band is the "
                      "compiler layer, MindCompiler, working on MindIR."))
        with st.container(border=True, key="fl_part"):
            st.markdown(f"**{t_(part.name)}** — {t_(part.description)}")
            st.caption(t_("Source: {title}", title=part.source.title) + f" — {part.source.url}")
            try_it(part.labs)


@ui.section   # the concept filter and its timeline, table and idea boxes: a pick reruns only this section
def concepts_view() -> None:
    with ui.controls():
        picked = ui.by_id(st).multiselect(t_("What they introduced"), CONCEPT_KEYS, default=CONCEPT_KEYS,
                                          key="fl_concepts", bind="query-params",
                                          format_func=lambda k: t_(ls.concept(k).name))

    concepts = [ls.concept(k) for k in picked] or list(ls.CONCEPTS)
    shown = ls.milestones_with(picked)
    rows = [{t_("framework"): m.name, t_("year"): m.year, t_("organisation"): m.org,
             t_("what it introduced"): t_(m.introduced),
             t_("concepts"): ", ".join(t_(ls.concept(k).name) for k in m.tags),
             t_("primary source"): m.sources[0].url} for m in shown]
    ui.show_figure(fit(timeline_chart(shown, concepts,
                                      t_("Deep learning frameworks and what they introduced"),
                                      cache_key=tuple(picked))), "fl_timeline",
                   t_("One lane per idea: a framework sits in every lane it brought into wide use, at the "
                      "year of its first public release. Hover a dot for what it introduced."), rows=rows)
    st.dataframe(rows, hide_index=True,
                 column_config={t_("primary source"): st.column_config.LinkColumn(t_("primary source"))})

    st.subheader(t_("Try each idea here"))
    for c in concepts:
        with st.container(border=True, key=f"fl_concept_{c.key}"):
            st.markdown(f"**{t_(c.name)}** — {t_(c.description)}")
            try_it(c.labs)


concepts_view()
architecture_view()

ui.checkpoint("fl_ck", t_("MindSpore and PyTorch both differentiate your program. Which one writes a "
                          "derivative program from the code instead of recording a tape while it runs?"),
              "MindSpore",
              t_("MindSpore's automatic differentiation transforms its IR (source transformation); PyTorch's "
                 "autograd records the ops as they run (a tape). The control-flow lab runs both on your "
                 "function."),
              choices=["MindSpore", "PyTorch"])
ui.lesson("framework_landscape")
