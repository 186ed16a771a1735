"""Your graph: the one model a session works on, carried by every lab's URL as ``g``.

The Graph Builder sets it (a preset, a program, an ONNX upload or a torch zoo model); every lab that
works on a graph opens on it, shows a chip "Your graph: <name> · <n> nodes · change", and can still
switch to its own teaching examples. The value of ``g``:

  ``preset:<name>``   one of engine.preset_names()
  ``zoo:<name>``      one of the torch zoo's models (exported through ONNX)
  ``onnx:<sha256>``   an upload kept by :mod:`ui.uploads` (the hash is the only way to reach it)
  anything else       program text in the Graph Builder's language (parsed, never evaluated)

Stages of :func:`current`, on every run of a graph-taking lab:
  1. the URL's ``g`` wins (a share link), else the session's last graph, else :data:`DEFAULT`;
  2. a ``g`` that cannot be read (unknown preset, malformed or unknown hash, a program with an
     error) shows the engine's message and the lab falls back to :data:`DEFAULT`;
  3. the graph is kept in the session and written back to the URL, so navigating between labs keeps
     it and every share link carries it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

import engine
from engine.core import budget
from engine.core.cost_model import cost as graph_cost
from engine.core.errors import BudgetError, EngineError
from engine.core.program_format import format_program
from engine.interop.torch_zoo import zoo_graph, zoo_names

from .choice import by_id
from .i18n import t, t_message
from .page import plain
from .uploads import STORE

KEY = "g"
DEFAULT = "preset:mlp"
_SESSION = "workspace_g"
_OLD_PROGRAM_KEYS = ("gp_program", "fu_program")  # labs' own program boxes, before g


@dataclass(frozen=True)
class Source:
    """Where the workspace graph comes from: kind ``preset``/``zoo``/``onnx``/``program``."""

    kind: str
    payload: str  # preset or zoo name, upload hash, or program text

    @property
    def g(self) -> str:
        """The URL value that restores this source."""
        return self.payload if self.kind == "program" else f"{self.kind}:{self.payload}"

    @property
    def name(self) -> str:
        """A short name for the chip and titles."""
        if self.kind == "onnx":
            return f"ONNX {self.payload[:8]}"
        return t("program") if self.kind == "program" else self.payload


def parse_g(value: str) -> Source:
    """The source a ``g`` value names; an EngineError naming what is wrong otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise EngineError("the graph link (g) is empty")
    if len(value) > budget.MAX_PROGRAM_CHARS:
        raise BudgetError(
            f"the graph link (g) has {len(value):,} characters; the limit is {budget.MAX_PROGRAM_CHARS:,}"
        )
    head, _, rest = value.partition(":")
    if head == "preset":
        if rest not in engine.preset_names():
            raise EngineError(
                f"unknown preset {rest[:40]!r}; choose one of {', '.join(engine.preset_names())}"
            )
        return Source("preset", rest)
    if head == "zoo":
        if rest not in zoo_names():
            raise EngineError(f"unknown zoo model {rest[:40]!r}; choose one of {', '.join(zoo_names())}")
        return Source("zoo", rest)
    if head == "onnx":
        STORE.get(rest)  # validates the key and that the file is still kept
        return Source("onnx", rest)
    return Source("program", value)


def _build(g: str):
    source = parse_g(g)
    if source.kind == "preset":
        graph = engine.preset(source.payload)
    elif source.kind == "zoo":
        graph = zoo_graph(source.payload)
    elif source.kind == "onnx":
        graph = engine.from_onnx(STORE.get(source.payload))
    else:
        graph = engine.parse_program(source.payload)
    return graph, graph_cost(graph)


# Graph objects are immutable and can be large (a zoo ResNet-18 holds 11.7 M weights): shared, not copied.
build = st.cache_resource(_build, max_entries=32, show_spinner=False)


def graph_of(source: Source):
    """(graph, cost report) of ``source`` (cached for every session)."""
    return build(source.g)


def _unusable(exc: EngineError) -> Source:
    st.error(
        t(
            "Your graph (the link's g) cannot be used: {msg} — showing the default graph.",
            msg=t_message(str(exc)),
        )
    )
    return parse_g(DEFAULT)


def current() -> Source:
    """This session's graph (see the module docstring); the URL and the session are kept in step."""
    url = st.query_params.get(KEY)
    if url is None:  # a link from before g existed: the program box of graph_passes or fusion
        url = next((st.query_params[k] for k in _OLD_PROGRAM_KEYS if st.query_params.get(k)), None)
    value = url if url is not None else st.session_state.get(_SESSION, DEFAULT)
    try:
        source = parse_g(value)
        build(source.g)
    except EngineError as exc:
        source = _unusable(exc)
    set_current(source, write_url=url is not None or source.g != DEFAULT)
    return source


def _legacy_g() -> str | None:
    """The graph an old Graph Builder link names (its source radio's label and the matching key)."""
    q = st.query_params
    label, preset = q.get("gb_source", ""), q.get("gb_preset")
    if label.startswith("Program"):
        name = preset if preset in engine.preset_names() else "mlp"
        return q.get("gb_program") or engine.presets.program_text(name)
    if label.startswith("torch zoo"):
        return f"zoo:{q.get('gb_zoo') or zoo_names()[0]}"
    return f"preset:{preset}" if preset else None


def requested() -> Source:
    """What the URL (or the session) asks for, checked for form only — a program is not parsed, so
    the Graph Builder can show a program with an error as it is, beside its message. Old Graph
    Builder links (``gb_source``/``gb_program``/``gb_zoo``/``gb_preset``) are read too."""
    value = st.query_params.get(KEY) or _legacy_g()
    if value is None:
        value = st.session_state.get(_SESSION, DEFAULT)
    try:
        return parse_g(value)
    except EngineError as exc:
        return _unusable(exc)


def set_current(source: Source, write_url: bool = True) -> None:
    """Make ``source`` the session's graph; with ``write_url`` the address bar carries it too."""
    st.session_state[_SESSION] = source.g
    if write_url and st.query_params.get(KEY) != source.g:
        with contextlib.suppress(StreamlitAPIException):  # bare mode (tests): no browser URL
            st.query_params[KEY] = source.g


def link_params(source: Source) -> dict[str, str]:
    """Query parameters that open another lab on ``source`` in the same language and mode."""
    params = {KEY: source.g}
    for flag in ("lang", "present"):
        if st.query_params.get(flag):
            params[flag] = st.query_params[flag]
    return params


def page_link(page: str, label: str, source: Source, icon: str | None = None) -> None:
    """A link to ``labs/<page>.py`` carrying ``g``; a plain link where the page is not in the
    navigation (a lab run alone, as in tests)."""
    params = link_params(source)
    try:
        st.page_link(f"labs/{page}.py", label=label, icon=icon, query_params=params)
    except StreamlitAPIException:
        from urllib.parse import urlencode

        st.markdown(f"[{label}](/{page}?{urlencode(params)})")


def chip(source: Source, graph) -> None:
    """ "Your graph: <name> · <n> nodes · <ops> ops → <outputs> · change · Open in Netron" (change
    opens the Graph Builder on it; Netron shows it, see :func:`netron_action`). Names come from the
    graph (an upload's may be anything): shown as plain text."""
    outputs = ", ".join(graph.outputs[:3]) + (" …" if len(graph.outputs) > 3 else "")
    cols = st.columns([3, 2], vertical_alignment="center")
    cols[0].caption(
        t(
            "Your graph: **{name}** · {n} nodes · {ops} ops → {outputs}",
            name=plain(source.name),
            n=len(graph.nodes),
            ops=len(graph.op_nodes),
            outputs=plain(outputs),
        )
    )
    with cols[1].container(horizontal=True, horizontal_alignment="right"):
        page_link("graph_builder", t("change"), source, icon=":material/edit:")
        netron_action(source)


def netron_action(source: Source) -> None:
    """ "Open in Netron" on ``source`` (the chip's first-screen action; see ui/graph_source.py)."""
    from .graph_source import netron_action as action  # (graph_source imports this module)

    action(source.g, "ws")


YOURS = "Your graph"


@dataclass(frozen=True)
class Choice:
    """What a graph-taking lab works on: the student's graph or one of the lab's examples."""

    source: Source  # where the graph comes from (an example is a Source too)
    graph: object  # engine Graph
    cost: object  # engine CostReport
    yours: bool  # True: the workspace graph; False: a lab example

    @property
    def name(self) -> str:
        return self.source.name


def example_label(g: str) -> str:
    """The shown (URL-kept, language-neutral) label of an example ``g`` value: its name."""
    return g.partition(":")[2] or g


def pick(label: str, examples: list[str], key: str, slot=st) -> str:
    """A selectbox: "Your graph" (the default) or one of the lab's own ``examples`` (names); returns
    :data:`YOURS` or the name chosen. The URL keeps the option itself (ui.by_id): an example's name,
    or nothing for your graph (the default); "Your graph" is drawn in the page's language (looked up
    now: a test's rerun draws the labels again outside the page's run, where the language is unknown)."""
    yours = t(YOURS)
    return by_id(slot).selectbox(
        label,
        [YOURS, *examples],
        key=key,
        bind="query-params",
        format_func=lambda x: yours if x == YOURS else x,
    )


def choose(
    key: str,
    examples: tuple[str, ...] | list[str] = (),
    label: str = "Graph",
    slot=st,
    show_chip: bool = True,
) -> Choice | None:
    """The graph a lab works on: "Your graph" (the default) or one of ``examples`` (``g`` values such
    as ``"preset:conv_bn_relu"`` or ``"zoo:resnet18"``). Shows the selectbox (bound to the URL as
    ``key``) and, for your graph, the chip. Returns None (after showing the engine's message) when
    the chosen graph cannot be built."""
    source = current()
    labels = {example_label(g): g for g in examples}
    picked = pick(t(label), list(labels), key, slot=slot)
    chosen = source if picked == YOURS else parse_g(labels[picked])
    try:
        graph, cost = graph_of(chosen)
    except EngineError as exc:
        st.error(t_message(str(exc)))
        return None
    if show_chip and picked == YOURS:
        chip(source, graph)
    elif show_chip:  # a lab example: Netron on it all the same
        with st.container(horizontal=True, horizontal_alignment="right"):
            netron_action(chosen)
    return Choice(chosen, graph, cost, picked == YOURS)


def program_of(source: Source) -> str:
    """The program text of ``source`` (presets are stored as programs; other graphs are printed)."""
    if source.kind == "program":
        return source.payload
    if source.kind == "preset":
        return engine.presets.program_text(source.payload)
    return format_program(graph_of(source)[0])
