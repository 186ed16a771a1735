"""The lecture playlist format: an ordered list of views, as a JSON file and as one URL value (``pl=``).

A playlist is user input (an uploaded file, a link someone sent), so reading one is bounded and strict,
in stages:
  1. size: the link text (:data:`MAX_LINK_CHARS`) or the file (:data:`MAX_JSON_BYTES`) is measured
     before anything is decoded; a link is base64url of zlib-compressed JSON, inflated at most to
     :data:`MAX_JSON_BYTES` (a decompression bomb stops there);
  2. JSON: UTF-8 text, one object ``{"format": "aisl-playlist", "version": 1, "items": [...]}``;
  3. schema: each item is ``{"view", "title", "notes"?, "question"?}``, every field text with a length
     cap, no unknown fields, at most :data:`MAX_ITEMS` items;
  4. views: a path inside this app (``/autodiff?ad_mode=reverse``) whose page is one of the app's
     pages; no scheme, host, fragment or backslash (so never ``javascript:`` or another site), query
     keys plain identifiers, values text with a length cap. A view is rewritten in one canonical form
     (keys that say how to watch rather than what — ``pl``, ``pi``, ``notes``, ``present``,
     ``controls``, ``lang``, ``theme`` — are dropped), so two spellings of one view are equal.
Every refusal is a :class:`PlaylistError` (an EngineError: pages show it translated, never a traceback).

Not handled: a view's widget values are not checked against the page's widgets (the page does that
when it opens, as it does for any link).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from engine.core.errors import EngineError

FORMAT = "aisl-playlist"
VERSION = 1
MAX_LINK_CHARS = 6_000  # pl= text; with the view's own query it stays under nginx's 8 KiB request line
MAX_JSON_BYTES = 256 * 1024  # an exported file, and a link once inflated
MAX_ITEMS = 60
MAX_TITLE_CHARS = 120
MAX_NOTES_CHARS = 4_000
MAX_QUESTION_CHARS = 300
MAX_VIEW_CHARS = 6_000
MAX_PARAMS = 40  # query keys of one view
MAX_VALUE_CHARS = 4_000  # one query value (a program in g= is the long one)
#: URL keys that say how a view is watched (or where in a lecture), not what it shows.
WATCH_KEYS = frozenset({"pl", "pi", "notes", "present", "controls", "lang", "theme"})
HOME = "home"  # the page served at "/"

_KEY = re.compile(r"[A-Za-z0-9_]{1,40}")
_PATH = re.compile(r"/([a-z0-9_]*)")
_FIELDS = {"view", "title", "notes", "question"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_POSITION = re.compile(r"[0-9]{1,4}")


class PlaylistError(EngineError):
    """A playlist (file or link) that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Item:
    """One view of a lecture: ``view`` is the canonical path + query (``/fusion?fu_graph=mlp``)."""

    view: str
    title: str
    notes: str = ""
    question: str = ""

    @property
    def page(self) -> str:
        return page_of(self.view)


def _short(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[:n] + "…")


# -- views --------------------------------------------------------------------------------------------
def page_of(view: str) -> str:
    """The page a canonical view opens (``"home"`` for ``/``)."""
    stem = urlsplit(view).path.lstrip("/")
    return stem or HOME


def make_view(page: str, pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical view of ``page`` with the query ``pairs`` (watch keys dropped, order kept)."""
    kept = [(k, v) for k, v in pairs if k not in WATCH_KEYS]
    path = "/" if page == HOME else f"/{page}"
    return path + ("?" + urlencode(kept, quote_via=quote) if kept else "")


def check_view(view: object, pages: Collection[str], where: str = "the view") -> str:
    """``view`` as a canonical path inside this app, or a PlaylistError naming what is wrong."""
    if not isinstance(view, str):
        raise PlaylistError(f"{where} must be text such as /autodiff?ad_mode=reverse")
    if len(view) > MAX_VIEW_CHARS:
        raise PlaylistError(f"{where} has {len(view):,} characters; the limit is {MAX_VIEW_CHARS:,}")
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in view) or not view.startswith("/"):
        raise PlaylistError(
            f"{where} must be a path inside this app such as /autodiff?ad_mode=reverse, not {_short(view)}"
        )
    parts = urlsplit(view)
    match = _PATH.fullmatch(parts.path)
    if parts.scheme or parts.netloc or parts.fragment or view.startswith("//") or match is None:
        raise PlaylistError(
            f"{where} must be a path inside this app such as /autodiff?ad_mode=reverse, not {_short(view)}"
        )
    page = match.group(1) or HOME
    if page not in pages:
        raise PlaylistError(f"{where} opens {_short(page)}, which is not a page of this app")
    return make_view(page, _query_pairs(parts.query, where))


def _query_pairs(query: str, where: str) -> list[tuple[str, str]]:
    if not query:
        return []
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_PARAMS)
    except ValueError:
        raise PlaylistError(
            f"{where} has a query that is not key=value pairs, or more than {MAX_PARAMS} of them"
        ) from None
    for key, value in pairs:
        if _KEY.fullmatch(key) is None:
            raise PlaylistError(
                f"{where} has the query key {_short(key, 40)}; keys are letters, digits and _"
            )
        if len(value) > MAX_VALUE_CHARS:
            raise PlaylistError(
                f"{where} has a value of {len(value):,} characters for {key}; "
                f"the limit is {MAX_VALUE_CHARS:,}"
            )
    return pairs


# -- items and playlists -------------------------------------------------------------------------------
def _text(item: dict, field: str, limit: int, where: str, one_line: bool) -> str:
    value = item.get(field, "")
    if not isinstance(value, str):
        raise PlaylistError(f"{where}: {field} must be text")
    value = value.strip()
    if len(value) > limit:
        raise PlaylistError(f"{where}: {field} has {len(value):,} characters; the limit is {limit:,}")
    if one_line and ("\n" in value or "\r" in value):
        raise PlaylistError(f"{where}: {field} must be one line")
    return value


def check_item(raw: object, pages: Collection[str], where: str = "item 1") -> Item:
    """One item of a playlist, checked field by field."""
    if not isinstance(raw, dict):
        raise PlaylistError(f"{where} must be an object with a view and a title")
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise PlaylistError(f"{where} has unknown fields {', '.join(_short(k, 30) for k in unknown[:5])}")
    if "view" not in raw:
        raise PlaylistError(f"{where} has no view")
    view = check_view(raw["view"], pages, f"{where}: the view")
    title = _text(raw, "title", MAX_TITLE_CHARS, where, one_line=True)
    if not title:
        raise PlaylistError(f"{where} has no title")
    notes = _text(raw, "notes", MAX_NOTES_CHARS, where, one_line=False)
    question = _text(raw, "question", MAX_QUESTION_CHARS, where, one_line=True)
    return Item(view, title, notes, question)


def from_data(data: object, pages: Collection[str]) -> tuple[Item, ...]:
    """The items of a decoded JSON document (stage 3 and 4 of the module docstring)."""
    if not isinstance(data, dict) or "items" not in data:
        raise PlaylistError('a playlist must be a JSON object with "format", "version" and "items"')
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise PlaylistError(
            f"this is not a playlist of this app (format {_short(str(data.get('format')), 30)}, "
            f"version {_short(str(data.get('version')), 10)}); expected {FORMAT} version {VERSION}"
        )
    extra = sorted(str(k) for k in data if k not in ("format", "version", "items"))
    if extra:
        raise PlaylistError(f"the playlist has unknown fields {', '.join(_short(k, 30) for k in extra[:5])}")
    items = data["items"]
    if not isinstance(items, list):
        raise PlaylistError("the playlist's items must be a list")
    if len(items) > MAX_ITEMS:
        raise PlaylistError(f"the playlist has {len(items):,} items; the limit is {MAX_ITEMS}")
    return tuple(check_item(raw, pages, f"item {i}") for i, raw in enumerate(items, 1))


def to_data(items: Iterable[Item]) -> dict:
    """The JSON document of ``items`` (empty notes and questions left out)."""
    out = []
    for item in items:
        entry = {"view": item.view, "title": item.title}
        entry.update({k: v for k, v in (("notes", item.notes), ("question", item.question)) if v})
        out.append(entry)
    return {"format": FORMAT, "version": VERSION, "items": out}


def to_json(items: Iterable[Item]) -> str:
    """The exported file: readable, indented JSON."""
    return json.dumps(to_data(items), ensure_ascii=False, indent=2) + "\n"


def from_json(raw: bytes | str, pages: Collection[str]) -> tuple[Item, ...]:
    """Read an exported (or hand-written) playlist file."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_JSON_BYTES:
        raise PlaylistError(f"the playlist is {size:,} bytes; the limit is {MAX_JSON_BYTES:,}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PlaylistError("the playlist is not UTF-8 text") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PlaylistError(
            f"the playlist is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):  # a 5,000-digit number, nesting thousands deep
        raise PlaylistError(
            "the playlist is not valid JSON (a number too long or nesting too deep)"
        ) from None
    return from_data(data, pages)


# -- the link value pl= ----------------------------------------------------------------------------------
def encode(items: Iterable[Item]) -> str:
    """``items`` as one URL value: base64url (no padding) of zlib-compressed compact JSON.

    Raises PlaylistError when the result is over :data:`MAX_LINK_CHARS` (export the file instead).
    """
    text = json.dumps(to_data(items), ensure_ascii=False, separators=(",", ":"))
    packed = base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii").rstrip("=")
    if len(packed) > MAX_LINK_CHARS:
        raise PlaylistError(
            f"the playlist needs {len(packed):,} characters in a link; the limit is {MAX_LINK_CHARS:,} "
            "(share the exported file instead)"
        )
    return packed


def decode(value: str, pages: Collection[str]) -> tuple[Item, ...]:
    """The items of a ``pl=`` value (stages 1-4 of the module docstring)."""
    if len(value) > MAX_LINK_CHARS:
        raise PlaylistError(
            f"the playlist link (pl) has {len(value):,} characters; the limit is {MAX_LINK_CHARS:,}"
        )
    if not value or _BASE64URL.fullmatch(value) is None or len(value) % 4 == 1:
        raise PlaylistError("the playlist link (pl) is not base64url text; was the link cut short?")
    try:
        packed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise PlaylistError("the playlist link (pl) is not base64url text; was the link cut short?") from None
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(packed, MAX_JSON_BYTES + 1)
    except zlib.error:
        raise PlaylistError(
            "the playlist link (pl) is not compressed playlist data; was the link cut short?"
        ) from None
    if len(text) > MAX_JSON_BYTES or inflater.unconsumed_tail:
        raise PlaylistError(f"the playlist link (pl) inflates to more than {MAX_JSON_BYTES:,} bytes")
    if not inflater.eof:
        raise PlaylistError("the playlist link (pl) is not compressed playlist data; was the link cut short?")
    return from_json(text, pages)


def position(value: str | None, count: int) -> int | None:
    """The 0-based position a ``pi=`` value names in a playlist of ``count`` items, or None."""
    if value is None or _POSITION.fullmatch(value) is None:
        return None
    k = int(value)
    return k if k < count else None
