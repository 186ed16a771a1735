"""Words on figures: every builder that draws text takes ``tr``, the view's ``str -> str``.

A builder calls ``tr`` on each fixed English word *as it draws* — axis titles, legend names, tick
labels, annotations — so a figure is built in its language once, never patched afterwards::

    fig.update_xaxes(title_text=tr("time (cycles)"))
    name=tr("{n} cycles").format(n=n)          # a template: looked up first, then filled

The English text is the catalog key (ui/locales/<lang>/*.toml; tests/test_i18n.py checks that every
literal ``tr("...")`` in viz/ has a Chinese entry). English views pass :func:`same`, the default, so
a builder called without ``tr`` draws English. Names the engine returns (op names, node names, units)
are data and are not translated.
"""

from __future__ import annotations

from collections.abc import Callable

#: The view's translation: English text (or a ``{name}`` template) -> the shown text.
Translate = Callable[[str], str]


def same(text: str) -> str:
    """English: every word as written."""
    return text


def each(tr: Translate, words):
    """``tr`` over a sequence of labels (strings translated, anything else kept)."""
    return [tr(w) if isinstance(w, str) else w for w in words]
