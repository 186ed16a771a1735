"""Lecture playlists (ui/playlist_format.py, ui/playlist.py): the format and its hostile inputs, the panel.

Oracles: the standard library builds the link values and files independently of our encoder (json, zlib,
base64 by hand), urllib parses the links the panel draws, and segno's own QR matrix for the expected
URL is compared with the pixels of the PNG the panel shows (read back with Pillow).
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from ui import playlist_format as fmt
from ui.catalog import LABS
from ui.i18n import load_catalog

PAGES = frozenset(lab.page for lab in LABS)


def _doc(*items: dict, **top) -> dict:
    return {"format": "aisl-playlist", "version": 1, "items": list(items), **top}


def _link(data: object) -> str:
    """A pl= value built by hand with the standard library (not with fmt.encode)."""
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- the format -------------------------------------------------------------------------------------
def test_round_trip_through_file_and_link_keeps_every_field():
    items = (
        fmt.Item("/autodiff?ad_mode=reverse&ad_step=3", "Reverse mode", "Say: one sweep back.", "Why one?"),
        fmt.Item("/", "Map", "", ""),
        fmt.Item("/fusion?g=x%20%3D%20input%28%5B1%5D%29", "Fusion · 融合", "line 1\nline 2", ""),
    )
    assert fmt.from_json(fmt.to_json(items), PAGES) == items
    assert fmt.decode(fmt.encode(items), PAGES) == items
    # the link is plain base64url of zlib-compressed JSON: the standard library reads it back
    value = fmt.encode(items)
    data = json.loads(zlib.decompress(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))))
    assert [i["view"] for i in data["items"]] == [i.view for i in items]


def test_a_link_built_by_hand_reads_and_views_become_canonical():
    value = _link(_doc({"view": "/home?lang=zh&present=1&x=a+b&pl=zzz", "title": " T "}))
    (item,) = fmt.decode(value, PAGES)
    assert item == fmt.Item("/?x=a%20b", "T")  # watch keys dropped, "+" is a space, title stripped
    assert item.page == "home"


def test_a_long_playlist_compresses_into_a_link():
    program = "x = input([1, 3, 32, 32])\n" + "y = relu(x)\n" * 200
    items = tuple(fmt.Item(fmt.make_view("graph_builder", [("g", program)]), f"v{i}") for i in range(20))
    value = fmt.encode(items)
    assert len(value) < fmt.MAX_LINK_CHARS < len(json.dumps(fmt.to_data(items)))
    assert fmt.decode(value, PAGES) == items


HOSTILE_LINKS = {
    "too long": ("A" * (fmt.MAX_LINK_CHARS + 1), "limit is 6,000"),
    "empty": ("", "not base64url"),
    "bad base64 alphabet": ("abc$def", "not base64url"),
    "bad base64 length": ("abcde", "not base64url"),
    "standard base64 +/": ("ab+/", "not base64url"),
    "not zlib": (_b64(b'{"items": []}'), "not compressed"),
    "cut short": (
        _link(_doc({"view": "/autodiff", "title": "a"}))[:-8],
        "not compressed playlist data; was the link cut short?",
    ),
    "zlib bomb": (_b64(zlib.compress(b" " * (fmt.MAX_JSON_BYTES * 8), 9)), "inflates to more than"),
    "not utf-8": (_b64(zlib.compress(b"\xff\xfe{}")), "not UTF-8"),
    "not json": (_b64(zlib.compress(b"{items: 1}")), "not valid JSON (line 1, column 2)"),
    "deep nesting": (_b64(zlib.compress(b"[" * 100_000 + b"]" * 100_000)), "nesting too deep"),
    "json list": (_link([1, 2]), "must be a JSON object"),
    "wrong format": (_link({"format": "x", "version": 1, "items": []}), "not a playlist of this app"),
    "wrong version": (_link(_doc(version=2)), "version '2'"),
    "extra top field": (_link(_doc(evil=1)), "unknown fields 'evil'"),
    "items not a list": (_link({"format": "aisl-playlist", "version": 1, "items": {}}), "must be a list"),
    "too many items": (_link(_doc(*[{"view": "/", "title": "t"}] * 61)), "61 items; the limit is 60"),
    "item not an object": (_link(_doc("x")), "item 1 must be an object"),
    "unknown item field": (
        _link(_doc({"view": "/", "title": "t", "onclick": "x"})),
        "unknown fields 'onclick'",
    ),
    "no view": (_link(_doc({"title": "t"})), "item 1 has no view"),
    "no title": (_link(_doc({"view": "/", "title": " "})), "item 1 has no title"),
    "title not text": (_link(_doc({"view": "/", "title": 5})), "title must be text"),
    "title too long": (_link(_doc({"view": "/", "title": "t" * 121})), "121 characters; the limit is 120"),
    "question two lines": (_link(_doc({"view": "/", "title": "t", "question": "a\nb"})), "one line"),
    "notes too long": (_link(_doc({"view": "/", "title": "t", "notes": "n" * 4001})), "limit is 4,000"),
    "view not text": (_link(_doc({"view": ["/"], "title": "t"})), "must be text such as"),
    "unknown page": (_link(_doc({"view": "/admin", "title": "t"})), "'admin', which is not a page"),
    "nested path": (_link(_doc({"view": "/autodiff/../x", "title": "t"})), "must be a path inside this app"),
    "absolute url": (
        _link(_doc({"view": "https://evil.example/autodiff", "title": "t"})),
        "not 'https://evil",
    ),
    "protocol-relative": (
        _link(_doc({"view": "//evil.example/autodiff", "title": "t"})),
        "path inside this app",
    ),
    "javascript url": (
        _link(_doc({"view": "javascript:alert(1)", "title": "t"})),
        "not 'javascript:alert(1)'",
    ),
    "javascript after slash": (_link(_doc({"view": "/javascript:alert(1)", "title": "t"})), "path inside"),
    "backslash host": (_link(_doc({"view": "/\\evil.example", "title": "t"})), "path inside this app"),
    "fragment": (_link(_doc({"view": "/autodiff#x", "title": "t"})), "path inside this app"),
    "control character": (_link(_doc({"view": "/autodiff?a=\x00", "title": "t"})), "path inside this app"),
    "bad query key": (
        _link(_doc({"view": "/autodiff?%3Cscript%3E=1", "title": "t"})),
        "the query key '<script>'",
    ),
    "query not pairs": (_link(_doc({"view": "/autodiff?novalue", "title": "t"})), "not key=value pairs"),
    "too many keys": (
        _link(_doc({"view": "/autodiff?" + "&".join(f"k{i}=1" for i in range(41)), "title": "t"})),
        "more than 40",
    ),
    "value too long": (
        _link(_doc({"view": "/autodiff?g=" + "x" * 4001, "title": "t"})),
        "4,001 characters for g",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE_LINKS))
def test_every_hostile_link_is_a_clear_playlist_error(case):
    value, expected = HOSTILE_LINKS[case]
    with pytest.raises(fmt.PlaylistError) as info:
        fmt.decode(value, PAGES)
    assert expected in str(info.value)


def test_hostile_files_are_clear_errors_before_parsing():
    with pytest.raises(fmt.PlaylistError, match="262,145 bytes; the limit is 262,144"):
        fmt.from_json(b" " * (fmt.MAX_JSON_BYTES + 1), PAGES)
    with pytest.raises(fmt.PlaylistError, match="number too long"):
        fmt.from_json(b"1" * 5000, PAGES)
    good = json.dumps(_doc({"view": "/fusion", "title": "F"})).encode()
    assert fmt.from_json(b"\xef\xbb\xbf" + good, PAGES) == (fmt.Item("/fusion", "F"),)  # a BOM is fine


def test_an_over_long_playlist_is_refused_for_a_link_not_silently_cut():
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    noise = ["".join(rng.choice(alphabet) for _ in range(3_900)) for _ in range(3)]
    items = tuple(fmt.Item(fmt.make_view("graph_builder", [("g", n)]), "v") for n in noise)
    with pytest.raises(fmt.PlaylistError, match="share the exported file instead"):
        fmt.encode(items)
    assert fmt.from_json(fmt.to_json(items), PAGES) == items  # the file still carries it


@pytest.mark.parametrize(
    ("value", "count", "expected"),
    [
        ("0", 3, 0),
        ("2", 3, 2),
        ("3", 3, None),
        ("-1", 3, None),
        ("x", 3, None),
        ("²", 3, None),
        (None, 3, None),
        ("9" * 400, 3, None),
    ],
)
def test_position_is_an_index_into_the_playlist_or_nothing(value, count, expected):
    assert fmt.position(value, count) == expected


def test_every_error_message_has_a_chinese_template():
    zh = load_catalog("zh")
    messages = []
    for value, _ in HOSTILE_LINKS.values():
        try:
            fmt.decode(value, PAGES)
        except fmt.PlaylistError as exc:
            messages.append(str(exc))
    messages += [
        "the playlist needs 7,000 characters in a link; the limit is 6,000 (share the exported file instead)",
        "the playlist is 262,145 bytes; the limit is 262,144",
        "this view: the view has 7,000 characters; the limit is 6,000",
        "item 2: question has 301 characters; the limit is 300",
    ]
    untranslated = [
        m for m in messages if zh.message(m) == m or re.search(r"\b(limit|item)\b", zh.message(m))
    ]
    assert untranslated == []


# -- the panel (AppTest) ------------------------------------------------------------------------------
def _app(page_id: str = "autodiff", open_panel: bool = True, **query: str) -> AppTest:
    """The panel on ``page_id`` with ``query`` in the URL; ``open_panel``: "My lecture" opened (a
    student's click: its widgets are drawn only while it is open)."""

    def script(page_id: str) -> None:
        import streamlit as st

        from ui import playlist

        playlist.panel(page_id)
        st.text(f"page body of {page_id}")

    at = AppTest.from_function(script, args=(page_id,), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if open_panel:
        at.session_state["pl_panel"] = True
    return at.run()


def test_my_lecture_draws_its_widgets_only_while_open():
    """Closed (how every page opens), the panel sends none of its six widgets, so a rerun of any
    page and its first paint skip them; opened, all are there, and closing drops them again."""
    editor = ("pl_title", "pl_question", "pl_add", "pl_export", "pl_import")

    def drawn(at: AppTest) -> set[str]:
        widgets = [*at.text_input, *at.text_area, *at.button]
        widgets += [*at.get("download_button"), *at.get("file_uploader")]
        return {w.key for w in widgets} & {*editor, "pl_notes"}

    at = _app("roofline", open_panel=False)
    assert not at.exception
    assert [e.label for e in at.sidebar.expander][:1] == ["My lecture"]
    assert drawn(at) == set()
    at.session_state["pl_panel"] = True
    assert drawn(at.run()) == {*editor, "pl_notes"}
    at.session_state["pl_panel"] = False
    assert drawn(at.run()) == set()


def _titles(at: AppTest) -> list[str]:
    return [item.title for item in at.session_state["pl_items"]]


def _add(at: AppTest, title: str = "", notes: str = "", question: str = "") -> AppTest:
    at.text_input(key="pl_title").input(title)
    at.text_area(key="pl_notes").input(notes)
    at.text_input(key="pl_question").input(question)
    return at.button(key="pl_add").click().run()


def test_panel_adds_reorders_removes_and_exports():
    at = _app("autodiff", ad_mode="reverse", present="1", lang="en")
    assert not at.exception
    _add(at, "Reverse mode", "one sweep back", "How many sweeps?")
    _add(at)  # default title: the lab's title from the catalog
    _add(at, "Third")
    assert _titles(at) == ["Reverse mode", "Automatic differentiation", "Third"]
    first = at.session_state["pl_items"][0]
    assert first.view == "/autodiff?ad_mode=reverse"  # present and lang are how to watch, not what
    assert (first.notes, first.question) == ("one sweep back", "How many sweeps?")
    assert at.text_input(key="pl_title").value == ""  # the form is cleared for the next view
    at.button(key="pl_down_0").click().run()
    assert _titles(at) == ["Automatic differentiation", "Reverse mode", "Third"]
    at.button(key="pl_up_2").click().run()
    assert _titles(at) == ["Automatic differentiation", "Third", "Reverse mode"]
    assert at.button(key="pl_up_0").disabled and at.button(key="pl_down_2").disabled
    at.button(key="pl_remove_1").click().run()
    assert _titles(at) == ["Automatic differentiation", "Reverse mode"]
    assert not at.exception and not at.error
    exported = json.loads(fmt.to_json(at.session_state["pl_items"]))
    assert exported["items"][1] == {
        "view": "/autodiff?ad_mode=reverse",
        "title": "Reverse mode",
        "notes": "one sweep back",
        "question": "How many sweeps?",
    }
    assert at.get("download_button")[0].proto.label == "Export (JSON)"


def test_share_link_and_present_link_open_the_first_view_with_the_playlist():
    at = _app("fusion", fu_graph="mlp")
    _add(at, "Fusion")
    at.button(key="pl_clear")  # drawn once there is something to clear
    codes = [c.value for c in at.code]
    share = next(c for c in codes if "pl=" in c)
    parts = urlsplit(share)
    query = parse_qs(parts.query)
    assert parts.path == "/fusion" and query["fu_graph"] == ["mlp"] and query["pi"] == ["0"]
    assert fmt.decode(query["pl"][0], PAGES) == at.session_state["pl_items"]
    links = {b.proto.label: b.proto.url for b in at.get("link_button")}
    present = parse_qs(urlsplit(links["Present it (PageDown / PageUp)"]).query)
    assert present["present"] == ["1"] and present["pi"] == ["0"]
    notes = links["Speaker notes window"]
    assert notes.startswith("fusion?notes=1&") and "pl=" in notes


def test_import_replaces_the_playlist_and_a_hostile_file_is_a_message():
    at = _app("home")
    good = {
        "format": "aisl-playlist",
        "version": 1,
        "items": [
            {"view": "/roofline", "title": "R"},
            {"view": "/serving?sv_rate=4", "title": "S", "notes": "n"},
        ],
    }
    at.file_uploader(key="pl_import").set_value(
        ("lecture.json", json.dumps(good).encode(), "application/json")
    )
    at.run()
    assert _titles(at) == ["R", "S"] and not at.exception
    assert any("Imported 2 views." in s.value for s in at.success)
    bad = json.dumps({**good, "items": [{"view": "javascript:alert(1)", "title": "x"}]}).encode()
    at.file_uploader(key="pl_import").set_value(("evil.json", bad, "application/json"))
    at.run()
    assert not at.exception and _titles(at) == ["R", "S"]  # the old playlist is kept
    (error,) = at.error
    assert "cannot be imported" in error.value and "path inside this app" in error.value


@pytest.mark.parametrize(
    "value", ["%%%", "A" * 7000, _b64(zlib.compress(b"[]")), _link(_doc({"view": "//x"}))]
)
def test_a_hostile_pl_in_the_url_is_a_message_and_the_page_still_runs(value):
    at = _app("autodiff", pl=value, pi="0", present="1")
    assert not at.exception
    assert len(at.error) == 1 and "This link's lecture playlist (pl) cannot be used" in at.error[0].value
    assert at.text[-1].value == "page body of autodiff"


def _lecture() -> tuple[fmt.Item, ...]:
    return (
        fmt.Item("/autodiff?ad_mode=reverse", "One", "notes *one*", "Why reverse?"),
        fmt.Item("/fusion", "Two", "notes two"),
        fmt.Item("/", "Three"),
    )


def test_a_position_shows_the_question_and_wires_page_keys_to_the_neighbours():
    value = fmt.encode(_lecture())
    at = _app("fusion", pl=value, pi="1", present="1", lang="zh", controls="0", theme="dark")
    assert not at.exception
    assert _titles(at) == ["One", "Two", "Three"]  # the link's playlist becomes the session's
    (script,) = [h.proto.body for h in at.get("html") if "aislLecture" in h.proto.body]
    nav = json.loads(script.split("const NAV = ", 1)[1].split(";\n", 1)[0])
    assert nav["pi"] == "1" and nav["pl"] == value
    nxt, prev = urlsplit(nav["next"]), urlsplit(nav["prev"])
    assert nxt.path == "./" and prev.path == "autodiff"
    for link, k in ((nxt, "2"), (prev, "0")):
        q = parse_qs(link.query)
        assert (
            q["present"] == ["1"]
            and q["controls"] == ["0"]
            and q["lang"] == ["zh"]
            and q["theme"] == ["dark"]
        )
        assert q["pl"] == [value] and q["pi"] == [k]
    assert parse_qs(prev.query)["ad_mode"] == ["reverse"]
    at = _app("autodiff", pl=value, pi="0", present="1")
    assert [i.value for i in at.info] == ["**Question to the class:** Why reverse?"]
    script = next(h.proto.body for h in at.get("html") if "aislLecture" in h.proto.body)
    assert '"prev": null' in script


def test_notes_view_shows_only_notes_and_the_next_title():
    value = fmt.encode(_lecture())
    at = _app("home", notes="1", pl=value, pi="0")
    assert not at.exception
    assert at.title[0].value == "1 / 3 · One"
    texts = [m.value for m in at.markdown]
    assert "notes \\*one\\*" in texts  # user text shown as typed, never as markup
    assert any("Next: Two" in c.value for c in at.caption)
    assert not at.text  # the page body never ran
    assert not at.sidebar.button  # nor the editor
    at = _app("home", notes="1", pl=value, pi="2")
    assert any("This is the last view." in c.value for c in at.caption)
    at = _app("home", notes="1")
    assert at.title[0].value == "Speaker notes" and not at.exception


def test_qr_png_encodes_the_view_url():
    import segno
    from PIL import Image

    from ui.playlist import qr_png

    url = "https://lab.example.edu/autodiff?ad_mode=reverse&lang=zh"
    scale, border = 6, 2
    image = Image.open(io.BytesIO(qr_png.__wrapped__(url, scale))).convert("L")
    expected = segno.make(url, error="m", micro=False).matrix
    n = len(expected)
    assert image.size == ((n + 2 * border) * scale,) * 2
    modules = [
        [
            image.getpixel(((c + border) * scale + scale // 2, (r + border) * scale + scale // 2)) < 128
            for c in range(n)
        ]
        for r in range(n)
    ]
    assert modules == [[bool(v) for v in row] for row in expected]
