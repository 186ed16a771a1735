"""Figures ready for the current view: Chinese words through a lab's table, presenter-mode type,
and a per-view figure cache. Shared by every lab; no streamlit here (the cache decorator is passed in).
"""
from __future__ import annotations

import re

import plotly.graph_objects as go


def adapt(fig: go.Figure, table: dict[str, str] | None = None, present: bool = False,
          words: bool = True) -> go.Figure:
    """Ready a figure for the current view: Chinese words through ``table`` (see :func:`localize`),
    and larger type for presenter mode (a projector at 1280×720)."""
    if getattr(fig, "_adapted", False):      # built by a figure_cache builder: already done
        return fig
    localize(fig, table, words)
    if present:
        fig.update_layout(font_size=19, title_font_size=24, legend_font_size=18,
                          height=int((fig.layout.height or 420) * 1.25),
                          margin_t=(fig.layout.margin.t or 70) + 40)   # room for the larger legend
    return fig


def figure_cache(cache, table: dict[str, str] | None, view):
    """Make figure builders build each figure once per (arguments, language, presenter mode).

    ``cache`` is a memoising decorator that hashes arguments (a page passes
    ``st.cache_resource(...)``: the figure object is shared, not copied, so building a plotly figure
    — tens of milliseconds — is paid once); ``view()`` returns ``(zh, present)`` for the current
    view. ``wrap(builder)`` returns a drop-in builder whose figures come back already
    :func:`adapt`-ed and marked ``_adapted``; they must not be changed afterwards.
    """
    def wrap(fn, words: bool = True):
        def build(*args, zh: bool = False, present: bool = False, **kwargs):
            fig = adapt(fn(*args, **kwargs), table if zh else None, present, words)
            fig._adapted = True
            return fig

        def build_keyed(key, _args, _kwargs, zh: bool = False, present: bool = False):
            return build(*_args, zh=zh, present=present, **_kwargs)   # hashed: key, zh, present only

        for f, suffix in ((build, ""), (build_keyed, ".keyed")):
            f.__name__ = fn.__name__
            f.__qualname__ = f"figure_cache.{fn.__module__}.{fn.__qualname__}{suffix}"
        cached, cached_keyed = cache(build), cache(build_keyed)

        def call(*args, cache_key=None, **kwargs):
            """``cache_key``: a small hashable standing for big arguments (hashing them costs time)."""
            zh, present = view()
            if cache_key is not None:
                return cached_keyed(cache_key, args, kwargs, zh=zh, present=present)
            return cached(*args, zh=zh, present=present, **kwargs)
        return call
    return wrap


def localize(fig: go.Figure, table: dict[str, str] | None, words: bool = True) -> go.Figure:
    """Translate a figure's fixed English words (axis titles, tick labels, legend names, bar text,
    annotations, colour-bar titles) through ``table`` in place; titles come translated from the page.

    A whole string found in ``table`` is replaced; otherwise each key is replaced where it stands as
    a whole word (longest key first), so "24 cycles" becomes "24 个周期" with {"cycles": "个周期"}.
    ``words=False`` replaces whole strings only (graph figures, whose node labels are op names).
    """
    if not table:
        return fig
    keys = sorted(table, key=len, reverse=True)
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(re.escape(k) for k in keys) + r")(?![A-Za-z])")

    def tr(s):
        if not isinstance(s, str) or not s:
            return s
        if s in table:
            return table[s]
        return pattern.sub(lambda m: table[m.group(1)], s) if words else s

    def tr_seq(v):
        if isinstance(v, str):
            return tr(v)
        if isinstance(v, (list, tuple)):
            return [tr_seq(x) for x in v]
        return v

    def axis(ax):
        ax.update(title_text=tr(ax.title.text))
        if ax.ticktext is not None:
            ax.update(ticktext=tr_seq(ax.ticktext))
        if ax.categoryarray is not None:
            ax.update(categoryarray=tr_seq(ax.categoryarray))

    fig.for_each_xaxis(axis)
    fig.for_each_yaxis(axis)
    for trace in fig.data:
        if trace.name:
            trace.name = tr(trace.name)
        if isinstance(getattr(trace, "text", None), (str, tuple, list)):
            trace.text = tr_seq(trace.text)
        for dim in ("x", "y"):               # category names (bars, gantt lanes, heatmap rows)
            values = getattr(trace, dim, None)
            if isinstance(values, tuple) and values and isinstance(values[0], str):
                setattr(trace, dim, tr_seq(values))
        colorbar = getattr(trace, "colorbar", None)
        if colorbar is not None and colorbar.title.text:
            colorbar.title.text = tr(colorbar.title.text)
    fig.for_each_annotation(lambda a: a.update(text=tr(a.text)))
    return fig
