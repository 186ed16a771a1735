"""AI System Lab: entry point. Page config and navigation by curriculum section."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.catalog import LABS, SECTIONS
from ui.i18n import lang

ROOT = Path(__file__).resolve().parent

st.set_page_config(
    page_title="AI System Lab",
    page_icon=":material/science:",
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto",
)

zh = lang() == "zh"
sections: dict[str, list] = {}
for lab in LABS:
    path = ROOT / "pages" / f"{lab.page}.py"
    if not path.exists():  # a lab still being built is left out of the menu
        continue
    title = lab.title_zh if zh else lab.title_en
    page = st.Page(str(path), title=title, icon=lab.icon, default=lab.page == "home")
    heading = SECTIONS[lab.section][1 if zh else 0]
    sections.setdefault(heading, []).append(page)

st.navigation(sections, expanded=True).run()
