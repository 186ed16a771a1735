"""Lecture playlists: "Add this view to my lecture" on every lab, presenter stepping, a notes window.

A playlist is an ordered list of views (a share link's path + query, relative to the app), each with a
title, optional speaker notes and an optional one-line question to the class (ui/playlist_format.py
reads and writes it, strictly: it is user input). ``ui.setup`` calls :func:`panel` on every page; in
stages, on every run:
  1. the link: ``pl=`` carries a playlist and ``pi=`` this view's position in it. A ``pl`` this session
     has not seen replaces the session's playlist; one that cannot be read is shown as an error.
  2. ``notes=1``: the speaker-notes view (this position's notes, the next view's title, large type),
     and the page stops there. It follows the presenter window: a BroadcastChannel (same origin, same
     browser) carries the position; the notes window reloads itself at the new ``pi``. No server
     state is shared between the two sessions.
  3. a view at a position: the question banner; in presenter mode PageDown / PageUp open the next /
     previous view's link (``pl`` and ``pi`` carried, with ``present``, ``controls``, ``lang``, ``theme``
     and Streamlit's own ``embed_options``, which the server does not see), and
     the position is announced on the channel (again whenever a notes window says hello).
  4. the sidebar, each part drawn only while its expander is open: the playlist (add, up / down,
     remove, export / import JSON, one share link, the notes window) and this view's link and QR
     code (presenter mode: a "Link & QR" popover instead).
Not kept: the playlist lives in the session and the link, not in the browser: a reload of a page
without ``pl`` starts an empty one (export it, or keep its share link).
"""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import segno
import streamlit as st

from . import page as scaffold
from . import playlist_format as fmt
from .catalog import LABS
from .i18n import lang, t, t_message

PAGES = frozenset(lab.page for lab in LABS)
CHANNEL = "aisl-lecture"
_ITEMS, _SOURCE, _MSG = "pl_items", "pl_source", "pl_msg"  # session keys (UI state only)

_NOTES_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header { display: none; }
[data-testid="stMainBlockContainer"] { max-width: 100%; }
.st-key-pl_notes_view p, .st-key-pl_notes_view li { font-size: 2.2rem; line-height: 1.35; }
.st-key-pl_notes_view h1 { font-size: 3rem !important; }
</style>
"""

# a keyed container sits in a layout wrapper that the block's gap still spaces: style the wrapper
_HIDDEN_CSS = (
    "<style>[data-testid='stLayoutWrapper']:has(> .st-key-pl_script), .st-key-pl_script "
    "{ display: none; }</style>"
)
_FLOATING_CSS = """
<style>
[data-testid="stLayoutWrapper"]:has(> .st-key-pl_float) {
  position: fixed; top: 0.5rem; right: 3.5rem; z-index: 999990; width: auto;
}
</style>
"""

_PRESENTER_JS = """
<script>
(function () {
  const win = window.parent || window;      // st.html is not iframed; kept safe if it ever is
  const doc = win.document;
  const NAV = __NAV__;
  doc.__aislLecture = NAV;
  const current = () => {                   // the playlist position this document shows now
    const q = new URLSearchParams(win.location.search), n = doc.__aislLecture;
    return n && n.pl === q.get('pl') && n.pi === q.get('pi') ? n : null;
  };
  if ('BroadcastChannel' in win) {
    if (!win.__aislChannel) {
      win.__aislChannel = new win.BroadcastChannel('__CHANNEL__');
      win.__aislChannel.onmessage = (e) => {
        const n = current();
        if (n && e.data && e.data.type === 'hello')
          win.__aislChannel.postMessage({type: 'pos', pl: n.pl, pi: n.pi});
      };
    }
    win.__aislChannel.postMessage({type: 'pos', pl: NAV.pl, pi: NAV.pi});
  }
  if (doc.__aislLectureKeys) return;
  doc.__aislLectureKeys = true;
  doc.addEventListener('keydown', function (e) {
    if (e.key !== 'PageDown' && e.key !== 'PageUp') return;
    if (!/[?&]present=(1|true|yes)(&|$)/.test(win.location.search)) return;
    const tag = (e.target && e.target.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
    const n = current();
    const target = n && (e.key === 'PageDown' ? n.next : n.prev);
    if (!target) return;
    e.preventDefault();
    const url = new URL(target, win.location.href);
    const embed = new URLSearchParams(win.location.search).getAll('embed_options');  // the theme's
    embed.forEach(v => url.searchParams.append('embed_options', v));
    win.location.href = url.href;
  });
})();
</script>
"""

_NOTES_JS = """
<script>
(function () {
  const win = window.parent || window;
  if (!('BroadcastChannel' in win)) return;
  win.__aislNotesAt = __AT__;                // where this notes view is now
  if (win.__aislNotes) return;
  win.__aislNotes = new win.BroadcastChannel('__CHANNEL__');
  win.__aislNotes.onmessage = (e) => {
    const d = e.data || {}, at = win.__aislNotesAt;
    if (d.type !== 'pos' || !/^[A-Za-z0-9_-]{1,6000}$/.test(d.pl) || !/^[0-9]{1,4}$/.test(d.pi)) return;
    if (d.pl === at.pl && d.pi === at.pi) return;
    const q = new URLSearchParams(win.location.search);
    q.set('notes', '1'); q.set('pl', d.pl); q.set('pi', d.pi);
    win.location.replace(win.location.pathname + '?' + q.toString());
  };
  win.__aislNotes.postMessage({type: 'hello'});
})();
</script>
"""


# -- links --------------------------------------------------------------------------------------------
def _js_value(value: object) -> str:
    """``value`` as a JavaScript literal that cannot close the script element it sits in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def _query_pairs() -> list[tuple[str, str]]:
    return [(k, v) for k in st.query_params for v in st.query_params.get_all(k)]


def current_view(page_id: str) -> str:
    """This page's view: its path and the query of what it shows (watch keys dropped)."""
    return fmt.make_view(page_id, _query_pairs())


def _watch_flags() -> list[tuple[str, str]]:
    """How this window watches (presenter mode, hidden controls, language), carried from view to view."""
    return [(k, st.query_params[k]) for k in ("present", "controls", "lang", "theme") if k in st.query_params]


def relative_link(view: str, extra: list[tuple[str, str]]) -> str:
    """``view`` with ``extra`` query pairs, as a link relative to any page of the app (pages are
    siblings, so ``fusion?…`` or ``./?…`` for the home page work under any base path)."""
    parts = urlsplit(view)
    pairs = [*parse_qsl(parts.query, keep_blank_values=True), *extra]
    path = parts.path.lstrip("/") or "./"
    return path + ("?" + urlencode(pairs) if pairs else "")


def absolute(link: str) -> tuple[str, bool]:
    """``link`` as a full URL on the host this browser opened, and whether the host was known."""
    try:
        here = st.context.url
    except Exception:  # noqa: BLE001 - outside a browser session (bare or test runs) there is none
        here = None
    if not here or urlsplit(here).scheme not in ("http", "https"):
        return "/" + link.removeprefix("./"), False
    return urljoin(here, link), True


# -- session state ----------------------------------------------------------------------------------
def items() -> tuple[fmt.Item, ...]:
    """The session's playlist."""
    return st.session_state.get(_ITEMS, ())


def _set_items(new: tuple[fmt.Item, ...]) -> None:
    st.session_state[_ITEMS] = tuple(new)


def _say(kind: str, text: str) -> None:
    st.session_state[_MSG] = (kind, text)


def _lab_title(page_id: str) -> str:
    return next((t(lab.title) for lab in LABS if lab.page == page_id), page_id)


def _add(page_id: str) -> None:
    state = st.session_state
    if len(items()) >= fmt.MAX_ITEMS:
        _say("error", t("The lecture already has {n} views, the most it can hold.", n=fmt.MAX_ITEMS))
        return
    raw = {
        "view": current_view(page_id),
        "title": state.get("pl_title", "").strip() or _lab_title(page_id),
        "notes": state.get("pl_notes", ""),
        "question": state.get("pl_question", "").replace("\n", " "),
    }
    try:
        item = fmt.check_item(raw, PAGES, "this view")
    except fmt.PlaylistError as exc:
        _say("error", t_message(str(exc)))
        return
    _set_items((*items(), item))
    for key in ("pl_title", "pl_notes", "pl_question"):
        state[key] = ""
    _say("success", t("Added “{title}” as view {n}.", title=item.title, n=len(items())))


def _move(k: int, delta: int) -> None:
    order = list(items())
    j = k + delta
    if 0 <= k < len(order) and 0 <= j < len(order):
        order[k], order[j] = order[j], order[k]
        _set_items(tuple(order))


def _remove(k: int) -> None:
    _set_items(tuple(item for i, item in enumerate(items()) if i != k))


def _import() -> None:
    upload = st.session_state.get("pl_import")
    if upload is None:
        return
    try:
        new = fmt.from_json(upload.getvalue()[: fmt.MAX_JSON_BYTES + 1], PAGES)
    except fmt.PlaylistError as exc:
        _say("error", t("The file cannot be imported: {msg}", msg=t_message(str(exc))))
        return
    _set_items(new)
    _say("success", t("Imported {n} views.", n=len(new)))


def _read_link() -> tuple[tuple[fmt.Item, ...], int | None, str] | None:
    """The playlist and position the link carries (stage 1), or None."""
    value = st.query_params.get("pl")
    if value is None:
        return None
    try:
        loaded = fmt.decode(value, PAGES)
    except fmt.PlaylistError as exc:
        st.error(
            t(
                "This link's lecture playlist (pl) cannot be used: {msg}",
                msg=scaffold.plain(t_message(str(exc))),
            )
        )
        return None
    if st.session_state.get(_SOURCE) != value:
        st.session_state[_SOURCE] = value
        _set_items(loaded)
    return loaded, fmt.position(st.query_params.get("pi"), len(loaded)), value


# -- drawing ------------------------------------------------------------------------------------------
def panel(page_id: str) -> None:
    """Everything a page shows of lecture playlists (stages 1-4 of the module docstring)."""
    link = _read_link()
    if scaffold.flag("notes"):
        _notes_view(link)
        st.stop()
    if link is not None and link[1] is not None:
        _at_position(*link)
    if scaffold.presenting():  # a button in the top bar: no room taken from the first screen
        st.html(_FLOATING_CSS)
        with st.container(key="pl_float"), st.popover(t("Link & QR"), icon=":material/qr_code_2:"):
            _share_view(page_id, qr_width=320)
    with st.sidebar:
        # Both expanders are lazy: drawn only while open. Closed, "My lecture" sends no widgets, so a
        # page's rerun and first paint skip its six (and the browser never loads the text, file
        # and download widgets' code for them); the share box's code block loads the browser's
        # syntax highlighter (about 0.4 s of script on a first visit here) and its QR code is made on
        # the server. A title typed and left unsent is dropped when the panel closes.
        lecture = st.expander(
            t("My lecture"), key="pl_panel", icon=":material/playlist_play:", on_change="rerun"
        )
        if lecture.open:
            with lecture:
                _editor(page_id)
        share = st.expander(
            t("Link & QR code of this view"), key="pl_share", icon=":material/qr_code_2:", on_change="rerun"
        )
        if share.open:
            with share:
                _share_view(page_id, qr_width=220)


def _at_position(loaded: tuple[fmt.Item, ...], k: int, value: str) -> None:
    """Stage 3: the question banner, the keys and the announcement of this position."""
    item = loaded[k]
    if item.question:
        st.info(f"**{t('Question to the class:')}** {scaffold.plain(item.question)}", icon=":material/help:")
    flags = _watch_flags()

    def link_to(j: int) -> str | None:
        if not 0 <= j < len(loaded):
            return None
        return relative_link(loaded[j].view, [*flags, ("pl", value), ("pi", str(j))])

    nav = {"pl": value, "pi": str(k), "next": link_to(k + 1), "prev": link_to(k - 1)}
    script = _PRESENTER_JS.replace("__NAV__", _js_value(nav)).replace("__CHANNEL__", CHANNEL)
    st.html(_HIDDEN_CSS)
    with st.container(key="pl_script"):  # hidden: the script takes no room on the first screen
        st.html(script, unsafe_allow_javascript=True)


def _notes_view(link) -> None:
    """Stage 2: this position's notes and the next view's title, in large type."""
    st.html(_NOTES_CSS)
    at = {"pl": link[2], "pi": str(link[1])} if link and link[1] is not None else {"pl": "", "pi": ""}
    st.html(
        _NOTES_JS.replace("__AT__", _js_value(at)).replace("__CHANNEL__", CHANNEL),
        unsafe_allow_javascript=True,
    )
    with st.container(key="pl_notes_view"):
        if not at["pl"]:
            st.title(t("Speaker notes"))
            st.markdown(
                t(
                    "Waiting for the presenter window: open a view of the lecture in another window "
                    "of this browser."
                )
            )
            return
        loaded, k = link[0], link[1]
        item = loaded[k]
        st.title(f"{k + 1} / {len(loaded)} · {scaffold.plain(item.title)}")
        notes = (
            scaffold.plain(item.notes).replace("\n", "  \n") if item.notes else t("No notes for this view.")
        )
        st.markdown(notes)
        if item.question:
            st.markdown(f"**{t('Question to the class:')}** {scaffold.plain(item.question)}")
        nxt = loaded[k + 1].title if k + 1 < len(loaded) else ""
        st.caption(t("Next: {title}", title=scaffold.plain(nxt)) if nxt else t("This is the last view."))


def _message() -> None:
    kind, text = st.session_state.pop(_MSG, (None, ""))
    if kind == "error":
        st.error(scaffold.plain(text))
    elif kind == "success":
        st.success(scaffold.plain(text))


def _editor(page_id: str) -> None:
    """Stage 4: add this view, the list, export / import, the share link and the notes window."""
    st.text_input(t("Title"), key="pl_title", placeholder=_lab_title(page_id), max_chars=fmt.MAX_TITLE_CHARS)
    st.text_area(t("Speaker notes (optional)"), key="pl_notes", max_chars=fmt.MAX_NOTES_CHARS, height=80)
    st.text_input(t("Question to the class (optional)"), key="pl_question", max_chars=fmt.MAX_QUESTION_CHARS)
    st.button(
        t("Add this view to my lecture"), key="pl_add", on_click=_add, args=(page_id,), icon=":material/add:"
    )
    _message()
    _item_list()
    current = items()
    st.download_button(
        t("Export (JSON)"),
        data=fmt.to_json(current),
        file_name="lecture.json",
        mime="application/json",
        key="pl_export",
        disabled=not current,
        icon=":material/download:",
    )
    st.file_uploader(t("Import a lecture (JSON)"), type=["json"], key="pl_import", on_change=_import)
    if current:
        _share_playlist(page_id, current)
        st.button(t("Clear the lecture"), key="pl_clear", on_click=_set_items, args=((),))


def _item_list() -> None:
    link = _read_position()
    for k, item in enumerate(items()):
        with st.container(key=f"pl_item_{k}"):
            mark = "▶ " if k == link else ""
            st.markdown(f"{mark}**{k + 1}.** {scaffold.plain(item.title)}")
            st.caption(scaffold.plain(item.view if len(item.view) < 60 else item.view[:57] + "…"))
            last = len(items()) - 1
            actions = (
                ("up", "arrow_upward", _move, (k, -1), k == 0, t("Move up")),
                ("down", "arrow_downward", _move, (k, 1), k == last, t("Move down")),
                ("remove", "close", _remove, (k,), False, t("Remove")),
            )
            for column, (name, icon, action, args, disabled, tip) in zip(st.columns(3), actions):
                column.button(
                    "",
                    key=f"pl_{name}_{k}",
                    icon=f":material/{icon}:",
                    on_click=action,
                    args=args,
                    disabled=disabled,
                    help=tip,
                )


def _read_position() -> int | None:
    value = st.query_params.get("pl")
    if value is None or st.session_state.get(_SOURCE) != value:
        return None
    return fmt.position(st.query_params.get("pi"), len(items()))


def _share_playlist(page_id: str, current: tuple[fmt.Item, ...]) -> None:
    try:
        value = fmt.encode(current)
    except fmt.PlaylistError as exc:
        st.warning(scaffold.plain(t_message(str(exc))))
        return
    flags = [("lang", "zh")] if lang() == "zh" else []
    share, known = absolute(relative_link(current[0].view, [*flags, ("pl", value), ("pi", "0")]))
    st.caption(t("The whole lecture as one link (opens its first view):"))
    st.code(share, language=None)
    present = relative_link(current[0].view, [("present", "1"), *flags, ("pl", value), ("pi", "0")])
    st.link_button(t("Present it (PageDown / PageUp)"), present, icon=":material/slideshow:")
    here = _read_position()
    notes = relative_link(
        fmt.make_view(page_id, []), [("notes", "1"), *flags, ("pl", value), ("pi", str(here or 0))]
    )
    st.link_button(t("Speaker notes window"), notes, icon=":material/speaker_notes:")


@st.cache_data(max_entries=64, show_spinner=False)
def qr_png(text: str, scale: int = 6) -> bytes:
    """A QR code of ``text`` as PNG bytes (segno, error correction M, quiet zone of 2 modules)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def _share_view(page_id: str, qr_width: int) -> None:
    """This view's link (with a copy button) and its QR code, for students' phones."""
    flags = [("lang", "zh")] if lang() == "zh" else []
    url, known = absolute(relative_link(current_view(page_id), flags))
    st.code(url, language=None, wrap_lines=len(url) < 200)
    if len(url) > 2_000:
        st.caption(t("This link is too long for a QR code a phone can read; share the link instead."))
        return
    st.image(qr_png(url), width=qr_width)
    if not known:
        st.caption(
            t("The server could not tell the address this browser opened: this is the path inside the app.")
        )
    elif urlsplit(url).hostname in ("localhost", "127.0.0.1", "::1"):
        st.caption(
            t("This address is this computer's own (localhost): phones need the server's network address.")
        )
