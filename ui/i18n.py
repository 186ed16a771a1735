"""English / 简体中文: one way to translate every string the app shows.

Text is written in English where it is used — ``t("Model")``, ``t("{n} nodes", n=len(g))`` — and
looked up in a catalog per language: every ``*.toml`` under ``ui/locales/<lang>/`` (``labs.toml`` for
the labs' and ui's own words, ``viz.toml`` for figure words, ``engine.toml`` for the names and messages
the engine returns). A catalog maps the English text (a ``{name}`` template where the call passes
values) to its translation; a missing entry falls back to English, and tests/test_i18n.py fails on any
literal ``t(...)`` without an entry or with placeholders that differ between the two languages.

Figures are built with words already translated: a page passes :func:`translator` (a plain
``str -> str``) to the viz builders, which call it on each label as they draw. Engine errors and pass
logs are English data; :func:`t_message` translates them through the catalog's ``[messages]``
templates (``"line {line}, column {col}: {rest}"``), recursively on the captured parts, so one entry
covers every value the engine fills in.

The choice of language lives in the URL (``?lang=zh``) so a share link restores it, and in the
session so it survives navigation between pages.
"""

from __future__ import annotations

import functools
import heapq
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

LANGS = {"en": "English", "zh": "简体中文"}
_KEY = "app_lang"
LOCALES = Path(__file__).resolve().parent / "locales"


def lang() -> str:
    """The current language code, "en" or "zh"."""
    if _KEY not in st.session_state:
        code = st.query_params.get("lang", "en")
        st.session_state[_KEY] = code if code in LANGS else "en"
    return st.session_state[_KEY]


def set_lang(code: str) -> None:
    st.session_state[_KEY] = code if code in LANGS else "en"


class Catalog:
    """One language's strings and message templates, merged from ``ui/locales/<code>/*.toml``."""

    def __init__(self, strings: dict[str, str], messages: dict[str, str]):
        self.strings = strings
        self.messages = messages
        ordered = sorted(messages.items(), key=lambda kv: -len(kv[0]))
        self._patterns = [(_template_regex(en), zh) for en, zh in ordered]
        # Index for message(): each template under the first (up to) 3 characters of the literal
        # text it starts with ("" for a template that starts with a field), as
        # (rank, leading literal, trailing literal, inner literals, shortest match, regex, zh).
        self._by_lead: dict[str, list[tuple]] = {}
        for rank, ((en, _), (pattern, zh)) in enumerate(zip(ordered, self._patterns)):
            pieces = list(string.Formatter().parse(en)) or [("", None, None, None)]
            literals = [lit for lit, _, _, _ in pieces]
            tail = literals[-1] if pieces[-1][1] is None else ""
            inner = tuple(lit for lit in literals[1 : len(literals) - (tail != "")] if lit)
            shortest = sum(map(len, literals)) + sum(f is not None for _, f, _, _ in pieces)
            self._by_lead.setdefault(literals[0][:3], []).append(
                (rank, literals[0], tail, inner, shortest, pattern, zh)
            )

    def text(self, en: str) -> str:
        return self.strings.get(en, en)

    def _candidates(self, text: str):
        """The templates that can match ``text``, in the order of ``_patterns`` (longest first): its
        leading and trailing literals sit at the ends of ``text`` and every other literal is in it
        (necessary for a match, and cheap to test), so only these are tried as regexes."""
        lists = [self._by_lead[k] for k in {text[:n] for n in range(4)} if k in self._by_lead]
        merged = heapq.merge(*lists) if len(lists) > 1 else lists[0] if lists else ()
        for _, lead, tail, inner, shortest, pattern, zh in merged:
            if (
                len(text) >= shortest
                and text.startswith(lead)
                and text.endswith(tail)
                and all(lit in text for lit in inner)
            ):
                yield pattern, zh

    def message(self, text: str, depth: int = 0) -> str:
        """Translate an engine message: an exact string, else the first (longest) matching template,
        with each captured part translated the same way (three levels deep at most)."""
        if text in self.strings:
            return self.strings[text]
        if depth > 3:
            return text
        for pattern, zh in self._candidates(text):
            m = pattern.fullmatch(text)
            if m:
                parts = {k: self.message(v, depth + 1) for k, v in m.groupdict().items()}
                return zh.format(**parts)
        return text


def _template_regex(template: str) -> re.Pattern:
    out = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if field is not None:
            out.append(f"(?P<{field}>.+?)")
    return re.compile("".join(out), re.S)


def load_catalog(code: str, root: Path = LOCALES) -> Catalog:
    """Read every TOML file of one language; the same English key twice with two translations is an
    error (tests/test_i18n.py loads every catalog)."""
    strings: dict[str, str] = {}
    messages: dict[str, str] = {}
    for path in sorted((root / code).glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for table, target in (("strings", strings), ("messages", messages)):
            for en, zh in data.get(table, {}).items():
                if en in target and target[en] != zh:
                    raise ValueError(f"{path.name}: {en!r} is translated twice ({target[en]!r} and {zh!r})")
                target[en] = zh
    return Catalog(strings, messages)


@functools.cache
def catalog(code: str) -> Catalog | None:
    return None if code == "en" else load_catalog(code)


def t(en: str, /, **params) -> str:
    """``en`` in the current language; with ``params``, a ``str.format`` template filled after lookup."""
    cat = catalog(lang())
    text = cat.text(en) if cat else en
    return text.format(**params) if params else text


@dataclass(frozen=True)
class Translator:
    """One language's ``str -> str`` for viz builders (identity for English).

    A small frozen value rather than a bound method, so that figure caches hash it cheaply and key
    their entries on the language: ``builder(..., tr=ui.translator())``.
    """

    code: str = "en"

    def __call__(self, text: str) -> str:
        cat = catalog(self.code)
        return cat.text(text) if cat else text


def translator() -> Translator:
    """The current view's translator (see :mod:`viz.words`)."""
    return Translator(lang())


def t_message(text: str) -> str:
    """An engine message or pass log line in the current language (English when not catalogued)."""
    cat = catalog(lang())
    return cat.message(text) if cat else text


def both(en: str) -> str:
    """``"English · 中文"``: one label for both languages, for choices whose label the URL keeps."""
    zh = catalog("zh").text(en)
    return en if zh == en else f"{en} · {zh}"
