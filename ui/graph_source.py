"""Where a lab's graph comes from — preset, program text, ONNX upload or torch zoo model — and the
cached engine calls on it. The Graph Builder uses it; any lab that takes "a graph" can too.

A source is ``(kind, payload, title)``: kind "program" (payload = program text; presets are shown
as their program), "onnx" (payload = file bytes) or "zoo" (payload = model name).
Large results (every intermediate value, ONNX bytes, figures) are cached with ``cache_resource``:
they are shared, not copied per rerun — a ResNet-18's values are 70 MB.
"""
from __future__ import annotations

import streamlit as st

import engine
from engine.core import budget
from engine import presets
from engine.core.cost_model import cost as graph_cost
from engine.core.program_format import format_program
from engine.interop.torch_zoo import torch_param_counts, zoo_graph, zoo_names
from viz.graph import graph_figure, value_figure
from viz.graph_text import graph_json, to_dot, to_mermaid

from .i18n import Translator, lang, t

# a bound widget stores its *label* in the URL, so these labels are the same in both languages
SOURCES = {"preset": "Preset · 预设", "program": "Program · 程序", "onnx": "ONNX",
           "zoo": "torch zoo · 模型库"}


@st.cache_data(max_entries=64, show_spinner=False)
def build(kind: str, payload, title: str):
    """(graph, cost report) of a source."""
    if kind == "onnx":
        graph = engine.from_onnx(payload)
    else:
        graph = zoo_graph(payload) if kind == "zoo" else engine.parse_program(payload, title=title)
    return graph, graph_cost(graph)


@st.cache_resource(max_entries=8, show_spinner=False)
def graph_values(kind, payload, title, seed: int):
    return engine.run(build(kind, payload, title)[0], seed=seed)


@st.cache_resource(max_entries=8, show_spinner=False)
def onnx_bytes_of(kind, payload, title) -> bytes:
    return engine.to_onnx(build(kind, payload, title)[0])


@st.cache_resource(max_entries=32, show_spinner=False)
def graph_fig(kind, payload, title, direction, fold, code):
    graph, cost = build(kind, payload, title)
    return graph_figure(graph, tr=Translator(code), costs=cost, title=graph.title, direction=direction,
                        fold=fold)


@st.cache_resource(max_entries=32, show_spinner=False)
def node_value_fig(kind, payload, title, seed: int, node: str):
    return value_figure(node, graph_values(kind, payload, title, seed)[node])


torch_counts = st.cache_data(torch_param_counts, show_spinner=False)


def pick_source(preset_name: str, radio_slot=st) -> tuple[str, object, str]:
    """The source controls (call inside the page's controls); returns (kind, payload, title).

    ``radio_slot``: where the source radio goes (e.g. a column); the editor or uploader goes below.
    """
    kind = radio_slot.radio(t("Source"), list(SOURCES), format_func=SOURCES.get,
                    horizontal=True, key="gb_source", bind="query-params")
    payload = presets.program_text(preset_name)
    if kind == "program":
        st.button(t("Load the {preset_name} preset into the editor", preset_name=preset_name),
                  key="gb_load", on_click=st.session_state.__setitem__, args=("gb_program", payload))
        st.session_state.setdefault("gb_program", payload)   # the URL's program, if any, wins
        payload = st.text_area(t("Program (one op per line; the link carries it)"), height=220,
                               key="gb_program", bind="query-params", max_chars=budget.MAX_PROGRAM_CHARS)
    elif kind == "onnx":
        payload = _uploaded_onnx()
    elif kind == "zoo":
        payload = st.selectbox(t("Model (exported through ONNX)"),
                               zoo_names(), key="gb_zoo", bind="query-params")
    if kind != "program":
        with st.expander(t("Program text")):
            st.code(payload if kind == "preset" else t("(not a program)"), "python")
    if payload is None:
        kind, payload = "preset", presets.program_text(preset_name)
    title = preset_name if kind == "preset" else ""
    return ("program" if kind == "preset" else kind), payload, title


def _uploaded_onnx() -> bytes | None:
    up = st.file_uploader(t("ONNX model"), type=["onnx"], key="gb_upload")
    payload = up.getvalue() if up is not None else None
    if payload is None:
        st.info(t("Upload an .onnx file; until then the preset is shown."))
    elif len(payload) > budget.MAX_ONNX_BYTES:
        st.error(t("The file is {size} MiB; the limit is {limit} MiB.",
                   size=len(payload) >> 20, limit=budget.MAX_ONNX_BYTES >> 20))
        payload = None
    return payload


def export_buttons(graph, kind: str, payload, title: str) -> None:
    """DOT, Mermaid, JSON, program text and ONNX downloads, and Netron on the ONNX."""
    e = st.columns(5)
    e[0].download_button("DOT", to_dot(graph), "graph.dot", key="gb_dl_dot", on_click="ignore")
    e[1].download_button("Mermaid", to_mermaid(graph), "graph.mmd", key="gb_dl_mmd", on_click="ignore")
    e[2].download_button("JSON", graph_json(graph), "graph.json", key="gb_dl_json", on_click="ignore")
    program = payload if kind == "program" else format_program(graph)
    e[3].download_button(t("Program"), program, "graph.txt", key="gb_dl_prog", on_click="ignore")
    try:
        onnx_bytes = onnx_bytes_of(kind, payload, title)
    except (ImportError, engine.EngineError) as exc:
        e[4].caption(t("ONNX export unavailable: {exc}", exc=exc))
        return
    e[4].download_button("ONNX", lambda: onnx_bytes, "graph.onnx", key="gb_dl_onnx",
                         on_click="ignore", mime="application/octet-stream")
    with st.expander(t("Open in Netron")):
        if st.toggle(t("Show Netron here"), key="gb_netron_on", bind="query-params"):
            from .netron import netron_view
            netron_view(onnx_bytes, key="gb_netron")


def figure_of(kind, payload, title, direction, fold):
    return graph_fig(kind, payload, title, direction, fold, lang())
