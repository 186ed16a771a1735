"""Figures ready for the current view: presenter-mode type, and a per-view figure cache.

Words are not handled here: builders draw them already translated (see :mod:`viz.words`). Shared by
every lab; no streamlit here (the cache decorator is passed in).
"""

from __future__ import annotations

import inspect

import plotly.graph_objects as go

from .words import same


def adapt(fig: go.Figure, present: bool = False) -> go.Figure:
    """Ready a figure for the current view: larger type for presenter mode (a projector at 1280×720)."""
    if getattr(fig, "_adapted", False):  # built by a figure_cache builder: already done
        return fig
    if present:
        fig.update_layout(
            font_size=19,
            title_font_size=24,
            legend_font_size=18,
            height=int((fig.layout.height or 420) * 1.25),
            margin_t=(fig.layout.margin.t or 70) + 40,
        )  # room for the larger legend
    return fig


def takes_tr(fn) -> bool:
    """Whether a figure builder draws words (has a ``tr`` parameter)."""
    try:
        return "tr" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def figure_cache(cache, view):
    """Make figure builders build each figure once per (arguments, language, presenter mode).

    ``cache`` is a memoising decorator that hashes arguments (a page passes
    ``st.cache_resource(...)``: the figure object is shared, not copied, so building a plotly figure
    — tens of milliseconds — is paid once); ``view()`` returns ``(tr, present)`` for the current
    view, where ``tr`` is a hashable translator (ui.i18n.Translator). ``wrap(builder)`` returns a
    drop-in builder whose figures come back drawn in the view's language (``tr=`` passed to builders
    that take it), :func:`adapt`-ed and marked ``_adapted``; they must not be changed afterwards.
    """

    def wrap(fn):
        words = takes_tr(fn)

        def build(*args, tr=same, present: bool = False, **kwargs):
            fig = adapt(fn(*args, tr=tr, **kwargs) if words else fn(*args, **kwargs), present)
            fig._adapted = True
            return fig

        def build_keyed(key, _args, _kwargs, tr=same, present: bool = False):
            return build(*_args, tr=tr, present=present, **_kwargs)  # hashed: key, tr, present only

        for f, suffix in ((build, ""), (build_keyed, ".keyed")):
            f.__name__ = fn.__name__
            f.__qualname__ = f"figure_cache.{fn.__module__}.{fn.__qualname__}{suffix}"
        cached, cached_keyed = cache(build), cache(build_keyed)

        def call(*args, cache_key=None, **kwargs):
            """``cache_key``: a small hashable standing for big arguments (hashing them costs time)."""
            tr, present = view()
            if cache_key is not None:
                return cached_keyed(cache_key, args, kwargs, tr=tr, present=present)
            return cached(*args, tr=tr, present=present, **kwargs)

        return call

    return wrap
