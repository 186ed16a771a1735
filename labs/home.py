"""Home: the curriculum map, built from ui.catalog (a new lab appears here by itself)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

import ui
from ui.catalog import LABS, SECTIONS
from viz.graph import flow_figure, flow_svg
from viz.view import adapt

PAGES = Path(__file__).resolve().parent
t_ = ui.t
# a short first path through the labs: build a graph, differentiate it, optimise it, run it faster
FIRST_PATH = ("graph_builder", "autodiff", "graph_passes", "fusion", "roofline", "quantization",
              "pipeline_parallel")


def ready(page: str) -> bool:
    return (PAGES / f"{page}.py").exists()


def link(lab, label: str | None = None) -> None:
    """A link to a lab page (a plain markdown link when the page is not registered in navigation)."""
    text = label or t_(lab.title)
    try:
        st.page_link(f"labs/{lab.page}.py", label=text, icon=lab.icon)
    except StreamlitAPIException:   # the page runs on its own (tests, `streamlit run labs/home.py`)
        st.markdown(f"[{text}](/{lab.page})")


ui.setup("home",
         "AI System Lab",
         "One graph flows through every lens: build, differentiate, optimise, compress, run, "
         "parallelise, serve.")

st.markdown(ui.lesson_text("home", "what"))

labs_by_section = {key: [lab for lab in LABS if lab.section == key] for key in SECTIONS}
stages = [(t_(SECTIONS[key]), t_("{n} of {n_labs} labs open", n=sum(ready(lab.page) for lab in labs),
                                 n_labs=len(labs)))
          for key, labs in labs_by_section.items() if key != "start"]
# drawn as SVG, not plotly: the landing page (and a cold start) paints ~1 s sooner (ui.show_svg)
view = ui.presenting()
flow_title = t_("The curriculum as one flow")
ui.show_svg(flow_svg(stages, flow_title, view.theme, bool(view)), "home_flow",
            t_("Each stage is a section of the course; the same graph you build in the Graph "
               "Builder is the one later labs differentiate, optimise, compress and parallelise."),
            lambda: adapt(flow_figure(stages, flow_title), view))

st.subheader(t_("What to try first"))
path = [lab for page in FIRST_PATH for lab in LABS if lab.page == page and ready(page)]
# a wrapping row, each link as wide as its text (seven equal columns cut the titles off)
with st.container(horizontal=True, gap="small", key="home_first_path"):
    for k, lab in enumerate(path, start=1):
        link(lab, f"{k}. {t_(lab.title)}")
st.caption(ui.lesson_text("home", "path"))

for key, heading in SECTIONS.items():
    labs = [lab for lab in labs_by_section[key] if lab.page != "home"]
    if not labs:
        continue
    st.subheader(t_(heading))
    grid = st.columns(3)
    for k, lab in enumerate(labs):
        with grid[k % 3].container(border=True, key=f"home_card_{lab.page}"):
            if ready(lab.page):
                link(lab)
            else:
                st.markdown(f"{t_(lab.title)} · *{t_('coming soon')}*")
            st.caption(t_(lab.pitch))

st.subheader(t_("Sharing, presenter mode, language"))
st.markdown(ui.lesson_text("home", "how"))
with st.expander(t_("Sources")):
    st.markdown(ui.lesson_text("home", "sources"))
