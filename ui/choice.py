"""Choice widgets whose URL value is the option's short, language-neutral id.

Streamlit 1.67 writes a bound choice widget's *shown label* into the URL (here the English and the
Chinese label joined by a middle dot), so a link depends on the label's wording and on the language
it was made in, and a hand-written link
in a slide (``?ad_mode=reverse``) opens the default. ``ui.by_id(slot)`` draws the same widget with the
same arguments, but keeps the URL itself::

    mode = ui.by_id(c2).radio(t_("Mode"), MODES, format_func=lambda m: t_(MODE_NAMES[m]),
                              key="ad_mode", bind="query-params", horizontal=True)

- the URL holds ``str(option)`` (the option is the id: ``"reverse"``, ``3``); the label is drawn in
  the page's language only;
- a link opens on the option whose id matches its value, or, for links made before, whose shown label
  does (any part of an old ``"English · Chinese"`` label, in either language) — else on the default, as a
  bound widget does with a value it cannot use;
- the URL follows every change (from the widget's callback, so the page's share link drawn above it is
  current in the same run) and drops the key at the default.
``bind="query-params"`` is taken by the proxy (it marks the widget as part of the share link, as on
every other widget); without it the widget is drawn as Streamlit's own. Supported: selectbox, radio,
select_slider, segmented_control and pills (one choice), multiselect (a list: repeated URL keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

REGISTRY = "_ui_by_id"  # session_state: key -> widget kind, for tests that tamper with every URL key
_DEFAULT_ARG = {
    "selectbox": "index",
    "radio": "index",
    "select_slider": "value",
    "segmented_control": "default",
    "pills": "default",
    "multiselect": "default",
}


class by_id:  # noqa: N801 - reads as a function at the call site: ui.by_id(slot).radio(...)
    """``slot`` (``st``, a column, a container) with choice widgets that keep ids in the URL."""

    def __init__(self, slot: Any = st) -> None:
        self._slot = slot

    def __getattr__(self, kind: str) -> Callable[..., Any]:
        if kind not in _DEFAULT_ARG:
            raise AttributeError(f"ui.by_id has no widget {kind!r}")
        widget = getattr(self._slot, kind)

        def draw(label: str, options: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
            return _draw(widget, kind, label, options, *args, **kwargs)

        return draw


def _draw(widget, kind: str, label: str, options, *args, key: str, bind: str | None = None, **kwargs) -> Any:
    if bind != "query-params":
        return widget(label, options, *args, key=key, bind=bind, **kwargs)
    options = list(options)
    many = kind == "multiselect"
    if kind in ("segmented_control", "pills") and kwargs.get("selection_mode", "single") != "single":
        many = True
    fmt = kwargs.get("format_func") or str
    if "format_func" in kwargs:  # labels drawn now, in this run's language (AppTest redraws a widget's
        shown = [fmt(option) for option in options]  # labels outside the run, where it reads English)
        kwargs["format_func"] = lambda o: shown[options.index(o)] if o in options else fmt(o)
    default = _default(kind, options, kwargs)
    st.session_state.setdefault(REGISTRY, {})[key] = kind
    if key not in st.session_state:  # a session's first run of this widget: the URL decides
        found = _from_url(key, options, fmt, many)
        if found is not None:
            st.session_state[key] = found
            kwargs.pop(_DEFAULT_ARG[kind], None)  # the value comes from session state
    user_change = kwargs.pop("on_change", None)
    user_args, user_kwargs = kwargs.pop("args", None) or (), kwargs.pop("kwargs", None) or {}

    def changed() -> None:
        _to_url(key, st.session_state.get(key), default, many)
        if user_change is not None:
            user_change(*user_args, **user_kwargs)

    value = widget(label, options, *args, key=key, on_change=changed, **kwargs)
    _to_url(key, value, default, many)
    return value


def _default(kind: str, options: list, kwargs: dict) -> Any:
    arg = _DEFAULT_ARG[kind]
    if arg == "index":
        index = kwargs.get("index", 0)
        return options[index] if index is not None and 0 <= index < len(options) else None
    if kind == "select_slider":
        value = kwargs.get("value")
        return value if value is not None else (options[0] if options else None)
    return kwargs.get("default")


def _label(option: Any, fmt: Callable[[Any], Any]) -> str | None:
    try:
        return str(fmt(option))
    except Exception:  # noqa: BLE001 - a label that cannot be drawn matches nothing
        return None


def _find(text: str, options: list, fmt: Callable[[Any], Any]) -> Any:
    """The option ``text`` names: by id, else by its whole shown label, else (an old link's
    ``"English · Chinese"`` label, made in either language) by a part both labels share; None if none."""
    labels = [_label(o, fmt) for o in options]
    for option in options:
        if text == str(option):
            return option
    for option, label in zip(options, labels):
        if text == label:
            return option
    parts = {part.strip() for part in text.split(" · ")}
    for option, label in zip(options, labels):
        if label is not None and parts & {part.strip() for part in label.split(" · ")}:
            return option
    return None


def _from_url(key: str, options: list, fmt: Callable[[Any], Any], many: bool) -> Any:
    texts = st.query_params.get_all(key)
    if not texts:
        return None
    picked = []
    for text in texts[:64]:  # a URL cannot pick more options than a page offers
        hit = _find(text[:1000], options, fmt)
        if hit is not None and hit not in picked:
            picked.append(hit)
    if many:
        return picked if picked else None
    return picked[0] if picked else None


def _to_url(key: str, value: Any, default: Any, many: bool) -> None:
    if many:
        value = list(value or [])
        wanted = [] if value == list(default or []) else [str(v) for v in value]
    else:
        wanted = [] if value is None or value == default else [str(value)]
    if st.query_params.get_all(key) == wanted:
        return
    if wanted:
        st.query_params[key] = wanted if many else wanted[0]
    elif key in st.query_params:
        del st.query_params[key]
