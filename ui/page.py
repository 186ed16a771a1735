"""Page scaffolding every lab uses: title, language, presenter mode, lesson text, error guard.

A page starts with ``ui.setup("page_id", "Title", "one-line intro")`` (English; see ui/i18n.py) and
keeps its controls inside ``with ui.controls():`` so presenter mode can hide them (``?controls=0``)
while their values, bound to the URL, still drive the page.

URL flags (all restored by a share link):
  lang=zh        Chinese text
  present=1      presenter mode: large type, sidebar and toolbar hidden, the page's title compacted
                 and its controls folded into a "Controls" expander, so the main figure and its
                 stepper fit the first screen (1280×720 and up); keyboard stepping
  controls=0     hide the controls (presenter mode only)
  theme=dark     Streamlit's dark theme, figures drawn dark (viz.theme.THEMES)
  theme=contrast a projector's high contrast: pure black text on white, thick lines, large markers
  gsize=S|M|L    the sidebar's "Graph size": nodes, labels and height of every graph drawing

How a theme is switched: Streamlit 1.67 has no per-session theme API (config ``theme.*`` is
server-wide; ``st.context.theme`` only reads). .streamlit/config.toml defines both a light and a
dark variant (``[theme.light]``, ``[theme.dark]``); the frontend picks the dark one for the URL
option ``embed_options=dark_theme`` (and the light one for ``light_theme``) when the page loads, so a
small script adds the matching option to the address and reloads once when the theme shown differs
from the flag. Contrast is the light theme with CSS for black text; figures follow the flag through
:func:`viz.view.adapt`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from engine.core.errors import EngineError
from viz.theme import THEMES
from viz.view import GRAPH_SIZES, View, graph_zoom

from . import janitor, playlist
from .i18n import LANGS, lang, set_lang, t, t_message

CONTENT = Path(__file__).resolve().parent.parent / "content"
_ALWAYS_ESCAPED = frozenset("\\`*[]<>$~|&#")
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i):(?=//)|\bwww(?=\.)|@")  # where GFM autolinks start
_LINE_START_MARK = re.compile(r"(?m)^([ \t]*)([-+=>])")  # list, setext rule, quote
_ORDERED_ITEM = re.compile(r"(?m)^([ \t]*\d+)([.)])")  # "1." or "1)" opens an ordered list

# Presenter mode. The page's head, the folded controls and a stepper take about 290 px at 22 px type,
# leaving viz.view.PRESENT_MAX_HEIGHT for the figure on a 720-pixel-high screen.
_PRESENTER_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
h1 { font-size: 2.4rem !important; padding: 0 !important; line-height: 1.15 !important; }
h2 { font-size: 2.0rem !important; }
[data-testid="stMetricValue"] { font-size: 2.8rem !important; line-height: 1.2 !important; }
[data-testid="stMetricLabel"] p { font-size: 1.15rem !important; }
[data-testid="stSidebar"], [data-testid="stHeader"] { display: none; }
[data-testid="stMainBlockContainer"] { max-width: 100%; padding-top: 0.6rem; padding-bottom: 3rem; }
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.55rem; }
.st-key-page_head [data-testid="stCaptionContainer"] p {
  font-size: 1rem; margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
[class*="st-key-controls"] { padding-top: 0.4rem; }
[data-testid="stExpander"] details summary { padding-top: 0.3rem; padding-bottom: 0.3rem; }
</style>
"""
# Contrast: black text on white (the figures get theirs from viz.theme.THEMES["contrast"]).
_CONTRAST_CSS = """
<style>
[data-testid="stApp"], [data-testid="stApp"] p, [data-testid="stApp"] li, [data-testid="stApp"] label,
[data-testid="stApp"] h1, [data-testid="stApp"] h2, [data-testid="stApp"] h3,
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #000 !important; }
[data-testid="stApp"] input, [data-testid="stApp"] textarea, [data-baseweb="select"] > div,
[data-testid="stExpander"] details { border-color: #000 !important; }
</style>
"""
# Reload once with Streamlit's own embed option for the wanted base theme (see the module docstring).
_THEME_JS = """
<script>
(function () {
  const win = window.parent || window;
  const flag = new URLSearchParams(win.location.search).get('theme');
  const want = flag === 'dark' ? 'dark_theme' : 'light_theme';
  const url = new URL(win.location.href);
  const have = url.searchParams.getAll('embed_options');
  if (have.includes(want)) return;
  url.searchParams.delete('embed_options');
  have.filter(v => v !== 'dark_theme' && v !== 'light_theme').concat([want])
    .forEach(v => url.searchParams.append('embed_options', v));
  win.location.replace(url.toString());
})();
</script>
"""
_HIDE_CONTROLS_CSS = '<style>[class*="st-key-controls"] { display: none; }</style>'


def flag(name: str) -> bool:
    """A URL flag such as ``present=1``."""
    return st.query_params.get(name, "") in ("1", "true", "yes")


def theme() -> str:
    """The colour theme from the URL: ``light`` (default), ``dark`` or ``contrast``."""
    name = st.query_params.get("theme", "")
    return name if name in THEMES else "light"


GRAPH_SIZE_KEY = "gsize"  # the sidebar's "Graph size" (S / M / L), bound to the URL


def section(fn):
    """``st.fragment`` for an independent section of a lab (a group of controls and what they
    drive, nothing the rest of the page reads): moving one of its controls reruns that section
    only, so the browser redraws it and not the page's other figures (measured on the lightweight
    zoo: a family pick 1.34–1.48 s -> 0.81–0.93 s). Use it as a decorator and call the function
    once where the section belongs.

    In presenter mode the section runs with the page instead (a plain function): its main figure
    may sit on the presenter stage (:func:`stage_box`), a container outside every fragment that a
    fragment's own rerun could not redraw."""
    return fn if flag("present") else st.fragment(fn)


def presenting() -> View:
    """Presenter mode, theme and graph zoom of this view; truthy exactly in presenter mode
    (``?present=1``). The zoom comes from ``?gsize=S|M|L``; any other value reads as M (1.0)."""
    return View(flag("present"), theme(), graph_zoom(st.query_params.get(GRAPH_SIZE_KEY, "M")))


def _graph_size() -> None:
    """The sidebar's "Graph size": node markers, labels and height of every graph drawing."""
    with st.sidebar:
        # a radio, not a select_slider: the language picker above is one already, so a page whose
        # own controls have no slider never loads the browser's slider code (and its date and number
        # formatting libraries) for this one control
        st.radio(
            t("Graph size"),
            list(GRAPH_SIZES),
            index=list(GRAPH_SIZES).index("M"),
            key=GRAPH_SIZE_KEY,
            bind="query-params",
            horizontal=True,
            help=t("Scales the nodes, labels and height of every graph drawing on the page."),
        )


def _drop_infinite_url_values() -> None:
    """Remove URL values that read as an infinite number (``inf``, ``1e309``, 400 nines), then rerun.

    Streamlit 1.67 seeds a bound *integer* ``number_input`` with ``int(float(url_value))``;
    ``int(inf)`` raises OverflowError, which its URL seeding does not catch (it catches ValueError),
    so ``?go_m=inf`` would crash the page inside ``st.number_input``. No widget here takes an
    infinite value (float inputs and sliders refuse one themselves), so dropping it shows the
    widget's default, as Streamlit does for any other value it cannot use. Seeding reads the run's
    query string, not ``st.query_params``, hence the rerun. A key already bound to a widget (a
    later run of the session) is not seeded from the URL again, so it is left alone.
    """
    dropped = False
    for key in list(st.query_params):
        if any(_is_infinite(value) for value in st.query_params.get_all(key)):
            with contextlib.suppress(StreamlitAPIException):  # bound: not seeded again
                del st.query_params[key]
                dropped = True
    if dropped:
        st.rerun()


def _is_infinite(text: str) -> bool:
    try:
        return math.isinf(float(text))
    except ValueError:
        return False


def setup(page_id: str, title: str, intro: str = "") -> None:
    """Title, language picker, presenter mode and share-link hint for one page (English text,
    translated through the catalog)."""
    _drop_infinite_url_values()
    janitor.touch()  # this session is alive (ui/janitor.py releases it once it has gone)
    st.session_state["current_page"] = page_id
    _language_picker()
    _graph_size()
    if presenting():
        st.html(_PRESENTER_CSS)
        if st.query_params.get("controls") == "0":
            st.html(_HIDE_CONTROLS_CSS)
    _theme()
    playlist.panel(page_id)  # the lecture playlist in the sidebar; with ?notes=1 the notes view (stops)
    with st.container(key="page_head"):
        st.title(t(title))
        if intro:
            st.caption(t(intro))
    # presenter stage: an empty box right under the title; the page's main stepper draws into it
    st.session_state[_STAGE] = st.container(key="presenter_stage") if presenting() else None


_STAGE = "_presenter_stage_box"


def stage_box():
    """Take the presenter stage (the box under the title) for this run, once: the first caller gets
    it, later callers and every call outside presenter mode get ``None`` and draw in place."""
    return st.session_state.pop(_STAGE, None)


def _theme() -> None:
    """Show the URL's theme: contrast CSS; Streamlit's dark or light base when the page shows the other."""
    name = theme()
    if name == "contrast":
        st.html(_CONTRAST_CSS)
    base = "dark" if name == "dark" else "light"
    shown = st.context.theme.type  # None in a test without a browser
    if name == "dark" or (shown is not None and shown != base):
        st.html(_THEME_JS, unsafe_allow_javascript=True)


def _language_picker() -> None:
    current = lang()
    with st.sidebar:
        choice = st.radio(
            "Language / 语言",
            list(LANGS),
            index=list(LANGS).index(current),
            format_func=LANGS.get,
            horizontal=True,
            key="ui_lang_picker",
        )
        st.caption(
            t(
                "Every control is in the URL: copy it to share this exact view. Add `present=1` "
                "for presenter mode."
            )
        )
    if choice != current:
        set_lang(choice)
        st.rerun()
    if choice == "zh":
        st.query_params["lang"] = "zh"
    elif "lang" in st.query_params:
        del st.query_params["lang"]


def controls(name: str = ""):
    """Container for a page's controls (use it with ``with``); hidden by ``?present=1&controls=0``.

    In presenter mode the container sits folded in a "Controls" expander, so the page's figure and
    stepper reach the first screen; the widgets, their keys and their URL values are the same.
    A page with several control groups names the later ones: ``ui.controls("blocks")``.
    """
    key = f"controls_{name}" if name else "controls"
    if not presenting():
        return st.container(key=key)
    return _folded(key)


@contextlib.contextmanager
def _folded(key: str):
    with st.expander(t("Controls"), icon=":material/tune:"), st.container(key=key):
        yield


def lesson_text(page_id: str, section: str | None = None) -> str:
    """The lesson markdown for ``page_id`` in the current language (falls back to English).

    Sections are delimited by ``<!-- section: name -->`` lines.
    """
    for code in (lang(), "en"):
        path = CONTENT / code / f"{page_id}.md"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            return _section(text, section) if section else text
    return ""


def _section(text: str, name: str) -> str:
    marker = f"<!-- section: {name} -->"
    if marker not in text:
        return ""
    body = text.split(marker, 1)[1]
    return body.split("<!-- section:", 1)[0].strip()


def lesson(page_id: str, section: str | None = None, expanded: bool = False) -> None:
    """Render lesson text (or one section of it) in an expander, drawn only while it is open
    (:func:`folded`); in presenter mode it starts open."""
    text = lesson_text(page_id, section)
    if text:
        key, opened = f"lesson_{section}" if section else "lesson", expanded or bool(presenting())
        folded(t("Lesson"), key, functools.partial(st.markdown, text), expanded=opened)


def folded(
    label: str, key: str, draw: Callable[[], object], expanded: bool = False, in_url: bool = False
) -> None:
    """An expander whose contents ``draw()`` draws only while it is open, in a fragment of its own.

    The expander is stateful (``on_change="rerun"``, its state in Session State under ``key``): the
    page's first paint and every rerun of the page or section around it skip the folded contents
    (a lesson's markdown, a listing of machine code, a figure nobody opened), and opening it reruns
    this fragment alone, with the ``draw`` of the last run around it. ``draw`` must only draw.
    ``in_url``: the URL keeps it open (``?<key>=true``), so a shared link opens it too.
    """
    _folded_box(label, key, draw, expanded, in_url)


@st.fragment
def _folded_box(label: str, key: str, draw: Callable[[], object], expanded: bool, in_url: bool) -> None:
    box = st.expander(
        label, expanded=expanded, key=key, on_change="rerun", bind="query-params" if in_url else None
    )
    if box.open:
        with box:
            draw()


@contextlib.contextmanager
def guard(what: str = ""):
    """Show an engine error as ``st.error`` and let the rest of the page keep working.

    Usage::

        with ui.guard():
            graph = engine.parse_program(text)
    Only :class:`EngineError` (bad input) is shown as a message, translated (``what`` through the
    catalog, the engine's message through its templates); a bug still raises so tests see it.
    """
    try:
        yield
    except EngineError as exc:
        prefix = t(what) if what else ""
        message = plain(t_message(str(exc)))
        st.error(f"{prefix}: {message}" if prefix else message)


def plain(text: str) -> str:
    """``text`` (which may echo what a user typed) escaped so markdown shows it exactly as typed.

    A backslash escapes ASCII punctuation in CommonMark. Escaped: what opens inline markup anywhere
    (code, emphasis, links, HTML, ``$latex$``, strikethrough, Streamlit's ``:icon:`` and
    ``:red[...]``), a ``_`` not inside a word, and block markers at a line's start. Left alone, so
    messages read as written: ``=``, ``-``, ``.`` mid-line and ``snake_case``. GFM's autolinks
    (``http://``, ``www.``, ``a@b.c``) are found after escapes are read, so an invisible word
    joiner breaks their pattern instead.
    """
    text = _AUTOLINK.sub("\\g<0>" + WORD_JOINER, text)
    out = []
    for i, ch in enumerate(text):
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        if (
            ch in _ALWAYS_ESCAPED
            or (ch == ":" and after.strip())
            or (ch == "_" and not (before.isalnum() and after.isalnum()))
        ):
            out.append("\\")
        out.append(ch)
    escaped = _LINE_START_MARK.sub(r"\g<1>\\\g<2>", "".join(out))
    return _ORDERED_ITEM.sub(r"\g<1>\\\g<2>", escaped)
