"""The gantt chart draws a bar's label inside it only where the label fits; the hover keeps every one."""

from __future__ import annotations

from engine.core.trace import Event, Timeline
from viz.timeline import PLOT_PX, PX_PER_CHAR, gantt


def _bars(fig):
    return [(tr.text[i], tr.hovertext[i], tr.x[i]) for tr in fig.data for i in range(len(tr.x))]


def test_a_few_wide_bars_keep_every_label():
    tl = Timeline(tuple(Event("GPU", 2 * i, 2 * i + 2, f"F{i}") for i in range(8)), time_unit="ms")
    bars = _bars(gantt(tl, "t"))
    assert [t for t, _, _ in bars] == [f"F{i}" for i in range(8)]
    assert all(t == h for t, h, _ in bars)


def test_many_narrow_bars_draw_no_label_but_hover_every_one():
    # 600 one-cycle bars: 1.5 px each on a 900 px plot, far less than a label needs
    tl = Timeline(tuple(Event("Cube", i, i + 1, f"mm {i}") for i in range(600)))
    bars = _bars(gantt(tl, "t"))
    assert len(bars) == 600 and not any(t for t, _, _ in bars)
    assert [h for _, h, _ in bars] == [f"mm {i}" for i in range(600)]
    assert "%{hovertext}" in gantt(tl, "t").data[0].hovertemplate


def test_the_label_rule_is_the_bar_width_against_the_label_length():
    span = 100.0
    need = PX_PER_CHAR * len("load") * span / PLOT_PX  # the narrowest bar that shows "load"
    tl = Timeline(
        (Event("A", 0, 1.01 * need, "load"), Event("B", 0, 0.9 * need, "load"), Event("C", 0, span, ""))
    )
    texts = {tr.y[i]: tr.text[i] for tr in gantt(tl, "t").data for i in range(len(tr.x))}
    assert texts == {"A": "load", "B": "", "C": ""}
