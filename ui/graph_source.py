"""The Graph Builder's source controls — preset, program text, ONNX upload or torch zoo model — which
set the session's workspace graph (ui/workspace.py, URL key ``g``), and the cached engine calls and
exports on a graph. Large results (every intermediate value, ONNX bytes, figures) are cached with
``cache_resource`` keyed on the ``g`` string: shared, not copied per rerun (a ResNet-18's values are
70 MB), and never re-hashing an upload's bytes.

Stages of :func:`pick_source`:
  1. the requested graph (the URL's ``g``, an old Graph Builder link, or the session's) seeds the
     controls when it differs from what they last showed;
  2. the controls give a new source; an upload is kept in the content-addressed store
     (:mod:`ui.uploads`) and named by its SHA-256;
  3. that source becomes the workspace graph: every lab opens on it, and the URL carries it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

import engine
from engine import presets
from engine.core import budget
from engine.core.errors import EngineError
from engine.core.program_format import format_program
from engine.interop.torch_zoo import torch_param_counts, zoo_names
from viz.graph import graph_figure, value_figure
from viz.graph_text import graph_json, to_dot, to_mermaid

from . import workspace as ws
from .catalog import LABS
from .i18n import Translator, lang, t, t_message
from .uploads import STORE

# the source is not in the URL (the graph is, as `g`): labels are drawn in the page's language
SOURCES = {"preset": "Preset", "program": "Program", "onnx": "ONNX", "zoo": "torch zoo"}  # shown by t()
_SEEDED = "gb_seeded_g"  # the g the controls were last seeded from (or set)
_LEGACY_KEYS = ("gb_source", "gb_program", "gb_zoo", "gb_preset")

#: The labs that look at the workspace graph, in the order of the curriculum ("Open in …" links).
LENS_PAGES = (
    "autodiff",
    "scheduling",
    "graph_passes",
    "fusion",
    "memory_planning",
    "layout_explorer",
    "roofline",
    "quantization",
    "pruning",
    "gpu_occupancy",
    "davinci_core",
    "systolic_array",
    "tensor_parallel",
    "pipeline_parallel",
    "serving",
    "edge_cloud",
)


@st.cache_resource(max_entries=8, show_spinner=False)
def graph_values(g: str, seed: int):
    return engine.run(ws.build(g)[0], seed=seed)


@st.cache_resource(max_entries=8, show_spinner=False)
def onnx_bytes_of(g: str) -> bytes:
    return engine.to_onnx(ws.build(g)[0])


@st.cache_resource(max_entries=32, show_spinner=False)
def graph_fig(g: str, direction: str, fold: bool, code: str):
    graph, cost = ws.build(g)
    return graph_figure(
        graph, tr=Translator(code), costs=cost, title=graph.title, direction=direction, fold=fold
    )


@st.cache_resource(max_entries=32, show_spinner=False)
def node_value_fig(g: str, seed: int, node: str):
    return value_figure(node, graph_values(g, seed)[node])


torch_counts = st.cache_data(torch_param_counts, max_entries=16, show_spinner=False)  # one per zoo model


def _show_in_controls(source: ws.Source) -> None:
    """Put ``source`` into the (unbound) controls, unless they already show it."""
    if st.session_state.get(_SEEDED) == source.g and "gb_source" in st.session_state:
        return  # (widget states are dropped when the student visits another lab: then re-seed)
    st.session_state["gb_source"] = source.kind
    if source.kind == "preset":
        st.session_state["gb_preset"] = source.payload
    elif source.kind == "program":
        st.session_state["gb_program"] = source.payload
    elif source.kind == "zoo":
        st.session_state["gb_zoo"] = source.payload
    elif source.kind == "onnx":
        st.session_state["gb_onnx_key"] = source.payload
    if st.query_params.get("gb_source") == "ONNX" and ws.KEY not in st.query_params:
        st.session_state["gb_source"] = "onnx"  # an old link that opened the uploader
    st.session_state[_SEEDED] = source.g


def pick_source(source_slot=st, preset_slot=st) -> ws.Source:
    """The source controls (call inside the page's controls); returns the new workspace source."""
    _show_in_controls(ws.requested())
    st.session_state.setdefault("gb_preset", "mlp")
    kind = source_slot.radio(
        t("Source"), list(SOURCES), format_func=lambda k: t(SOURCES[k]), horizontal=True, key="gb_source"
    )
    name = preset_slot.selectbox(t("Preset"), presets.preset_names(), key="gb_preset")
    preset_slot.caption(t_message(presets.preset_info(name)))
    source = ws.Source("preset", name)
    if kind == "program":
        st.button(
            t("Load the {preset_name} preset into the editor", preset_name=name),
            key="gb_load",
            on_click=st.session_state.__setitem__,
            args=("gb_program", presets.program_text(name)),
        )
        st.session_state.setdefault("gb_program", presets.program_text(name))
        text = st.text_area(
            t("Program (one op per line; the link carries it)"),
            height=220,
            key="gb_program",
            max_chars=budget.MAX_PROGRAM_CHARS,
        )
        source = ws.Source("program", text) if text.strip() else source
    elif kind == "onnx":
        key = _uploaded_onnx()
        source = ws.Source("onnx", key) if key else source
    elif kind == "zoo":
        zoo = st.selectbox(t("Model (exported through ONNX)"), zoo_names(), key="gb_zoo")
        source = ws.Source("zoo", zoo)
    if kind != "program":
        with st.expander(t("Program text")):
            st.code(presets.program_text(name) if kind == "preset" else t("(not a program)"), "python")
    for key in _LEGACY_KEYS:  # an old link's keys: g carries the graph from now on
        st.query_params.pop(key, None)
    ws.set_current(source)
    st.session_state[_SEEDED] = source.g
    netron_action(source.g, "gb", slot=source_slot)
    return source


def _uploaded_onnx() -> str | None:
    """The store key of the uploaded model: a new upload is kept; else the one the link names."""
    up = st.file_uploader(t("ONNX model"), type=["onnx"], key="gb_upload")
    if up is not None:
        if st.session_state.get("gb_upload_id") != up.file_id:
            data = up.getvalue()
            try:
                st.session_state["gb_onnx_key"] = STORE.put(data)
            except EngineError as exc:
                st.error(t_message(str(exc)))
                return None
            st.session_state["gb_upload_id"] = up.file_id
    key = st.session_state.get("gb_onnx_key")
    if key is None:
        st.info(t("Upload an .onnx file; until then the preset is shown."))
    else:
        st.caption(t("Uploaded model {key}… (the link opens it while the server keeps it)", key=key[:12]))
    return key


def export_buttons(graph, key: str, onnx: Callable[[], bytes] | None, program: str | None = None) -> None:
    """DOT, Mermaid, JSON, program text and ONNX downloads of ``graph``, and Netron on the ONNX.
    ``key`` prefixes the widget keys; ``onnx`` makes the model's bytes (None: no ONNX offered). The
    ONNX export runs only once the student opens the ONNX popover or turns Netron on: a new graph
    (every move on the Graph passes lab) no longer pays for it (ResNet-18's export and full check:
    ~0.5 s), and an export that fails says why where it was asked for."""
    e = st.columns(5)
    e[0].download_button("DOT", to_dot(graph), "graph.dot", key=f"{key}_dl_dot", on_click="ignore")
    e[1].download_button("Mermaid", to_mermaid(graph), "graph.mmd", key=f"{key}_dl_mmd", on_click="ignore")
    e[2].download_button("JSON", graph_json(graph), "graph.json", key=f"{key}_dl_json", on_click="ignore")
    text = program if program is not None else format_program(graph)
    e[3].download_button(t("Program"), text, "graph.txt", key=f"{key}_dl_prog", on_click="ignore")
    if onnx is None:
        return
    pop = e[4].popover(
        "ONNX",
        icon=":material/download:",
        key=f"{key}_onnx_pop",
        on_change="rerun",
        help=t("Export this graph as ONNX (it is exported when you open this)"),
    )
    with pop:
        onnx_bytes = _onnx_or_warning(onnx) if pop.open else None
        if onnx_bytes is not None:
            st.download_button(
                "graph.onnx",
                lambda: onnx_bytes,
                "graph.onnx",
                key=f"{key}_dl_onnx",
                on_click="ignore",
                mime="application/octet-stream",
                icon=":material/download:",
            )
    with st.expander(t("Open in Netron")):
        if st.toggle(t("Show Netron here"), key=f"{key}_netron_on", bind="query-params"):
            onnx_bytes = _onnx_or_warning(onnx)
            if onnx_bytes is not None:
                from .netron import netron_view

                netron_view(onnx_bytes, key=f"{key}_netron")


def _onnx_or_warning(onnx: Callable[[], bytes]) -> bytes | None:
    """``onnx()``, or None after a warning that says why the export failed."""
    try:
        return onnx()
    except (ImportError, EngineError) as exc:
        st.warning(t("ONNX export unavailable: {exc}", exc=t_message(str(exc))))
        return None


def netron_action(g: str, key: str, slot=st) -> None:
    """An "Open in Netron" button (a popover) for the graph ``g``: on the first screen of every graph
    page. Lazy: the ONNX export runs and the model is published (:func:`ui.netron.publish_model`,
    with its HMAC name, per-session cleanup and expiry) only once the student opens it."""
    pop = slot.popover(
        t("Open in Netron"),
        icon=":material/account_tree:",
        key=f"{key}_netron_pop",
        on_change="rerun",
        help=t("Look at this graph in Netron, the model viewer (exported as ONNX)"),
    )
    with pop:
        if not pop.open:
            return  # nothing exported or written until it is opened
        try:
            onnx_bytes = onnx_bytes_of(g)
        except (ImportError, EngineError) as exc:
            st.warning(t("ONNX export unavailable: {exc}", exc=t_message(str(exc))))
            return
        from .netron import netron_url

        try:
            url = netron_url(onnx_bytes)
        except (ValueError, OSError) as exc:
            st.error(t("Cannot open Netron: {exc}", exc=exc))
            return
        st.link_button(t("Open Netron in a new tab"), url, type="primary", icon=":material/open_in_new:")
        st.caption(t("Netron runs inside this app: the model does not leave the server."))


def open_in_links(source: ws.Source) -> None:
    """ "Open in …" links to every lab that looks at the workspace graph, carrying ``g``."""
    titles = {lab.page: lab.title for lab in LABS}
    cols = st.columns(4)
    for k, page in enumerate(LENS_PAGES):
        with cols[k % 4]:
            ws.page_link(page, t(titles[page]), source, icon=":material/arrow_forward:")


def figure_of(g: str, direction: str, fold: bool):
    return graph_fig(g, direction, fold, lang())
