"""AI System Lab: entry point. Page config and navigation by curriculum section.

Stages, on every run of every session:
  1. the server's upload cap follows the engine's ONNX budget (one number: engine/core/budget.py);
  2. page config, with a favicon from our own files (nothing is fetched off the machine);
  3. the navigation, one section per curriculum chapter, and a hidden ``/home`` that opens ``/``.
The first run in the process also starts the pre-warm thread (ui/prewarm.py), which never blocks it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit import config as st_config

from engine.core import budget
from ui import prewarm
from ui.catalog import LABS, SECTIONS
from ui.i18n import t

ROOT = Path(__file__).resolve().parent
FAVICON = ROOT / "static" / "favicon.png"
HOME_RESERVED = "curriculum"  # the default page's internal pathname, never linked
UPLOAD_CAP_MB = -(-budget.MAX_ONNX_BYTES // 2**20)  # Streamlit's "MB" is MiB; round up


def apply_upload_cap() -> None:
    """Make ``server.maxUploadSize`` the engine's ONNX budget.

    The server reads the option on every upload request and each uploader copies it when drawn, so
    setting it here, before any page (and so any uploader) exists, covers the server's refusal and
    the browser's message alike. ``st.set_option`` refuses server options, hence ``config``.
    """
    if st_config.get_option("server.maxUploadSize") != UPLOAD_CAP_MB:
        st_config.set_option("server.maxUploadSize", UPLOAD_CAP_MB, "engine/core/budget.py MAX_ONNX_BYTES")


def build_sections() -> tuple[dict[str, list], st.Page | None]:
    """The navigation's sections and the home page (the default page, served at ``/``)."""
    sections: dict[str, list] = {}
    home = None
    for lab in LABS:
        path = ROOT / "labs" / f"{lab.page}.py"
        if not path.exists():  # a lab still being built is left out of the menu
            continue
        title = t(lab.title)
        if lab.page == "home":  # served at "/"; its own pathname would reserve "/home" unserved
            page = st.Page(str(path), title=title, icon=lab.icon, default=True, url_path=HOME_RESERVED)
        else:
            page = st.Page(str(path), title=title, icon=lab.icon)
        home = page if lab.page == "home" else home
        heading = t(SECTIONS[lab.section])
        sections.setdefault(heading, []).append(page)
    return sections, home


apply_upload_cap()
prewarm.start()  # once per process: torch, onnx imported on a daemon thread (ui/prewarm.py)
st.set_page_config(
    page_title="AI System Lab",
    page_icon=FAVICON,
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto",
)
sections, home = build_sections()
if home is not None:
    # the default page lives at "/"; "/home" (typed, or the file stem) opens it too, query string kept
    alias = st.Page(
        lambda: st.switch_page(home, query_params=st.query_params.to_dict()),
        title=home.title,
        url_path="home",
        visibility="hidden",
    )
    sections[next(iter(sections))].append(alias)
st.navigation(sections, expanded=True).run()
