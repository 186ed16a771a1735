"""The presenter stage without a browser: figure type and themes (viz/view.py), the URL flags (ui/page.py).

Oracles: the WCAG 2.x definition of relative luminance and contrast ratio, checked first on its
published values (black on white 21:1; #777777 on white 4.48:1, WebAIM's contrast checker), then used
to require legible text in each theme (WCAG AAA: 7:1); plotly's own figure model for what a figure
carries; Streamlit's AppTest for what a page sends.
"""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots
from streamlit.testing.v1 import AppTest

from viz.theme import THEMES
from viz.view import View, adapt, luminance

ROOT = Path(__file__).resolve().parents[1]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio (L1 + 0.05) / (L2 + 0.05)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_luminance_matches_the_published_wcag_values():
    assert luminance("#FFFFFF") == pytest.approx(1.0) and luminance("black") == 0.0
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)  # WebAIM's worked example
    assert luminance("rgb(119, 119, 119)") == pytest.approx(luminance("#777"))
    assert luminance("not a colour") is None


def _two_panels() -> go.Figure:
    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Bar(x=[f"F{i}" for i in range(8)], y=list(range(8)), name="forward"), 1, 1)
    fig.add_trace(go.Scatter(x=[0, 1, 2], y=[2, 1, 3], mode="lines+markers", name="loss"), 1, 2)
    fig.update_xaxes(tickfont_size=10, row=1, col=2)  # a builder's own small ticks on one axis
    fig.update_layout(title="t", height=420)
    fig.add_annotation(text="note", x=1, y=1, font_size=11, showarrow=False)
    return fig


def test_presenter_type_reaches_every_axis_title_legend_and_note():
    fig = adapt(_two_panels(), View(present=True))
    axes = [*fig.select_xaxes(), *fig.select_yaxes()]
    assert len(axes) == 4
    assert all(axis.tickfont.size >= 18 for axis in axes)
    assert fig.layout.title.font.size >= 22 and fig.layout.legend.font.size >= 18
    assert fig.layout.annotations[0].font.size >= 18
    assert fig.layout.xaxis.tickangle == 0  # F0–F7 stay horizontal
    assert fig.layout.height <= 430  # fits under the page head and a stepper at 720 px


def test_long_category_labels_are_left_to_plotly():
    names = [f"a_rather_long_operator_name_{i}" for i in range(12)]
    fig = adapt(go.Figure(go.Bar(x=names, y=list(range(12)))), True)
    assert fig.layout.xaxis.tickangle is None


def test_outside_presenter_mode_and_light_theme_a_figure_is_untouched():
    fig = _two_panels()
    before = fig.to_plotly_json()
    assert adapt(fig, View()).to_plotly_json() == before


@pytest.mark.parametrize("name", ["dark", "contrast"])
def test_a_theme_colours_the_figure_legibly(name):
    theme = THEMES[name]
    fig = _two_panels()
    fig.update_layout(paper_bgcolor="white", plot_bgcolor="white")  # as viz.theme.apply_theme draws
    fig.add_annotation(text="dark grey", x=0, y=0, font_color="#333333", showarrow=False)
    adapt(fig, View(theme=name))
    assert fig.layout.paper_bgcolor == theme.paper and fig.layout.plot_bgcolor == theme.plot
    assert contrast(fig.layout.font.color, fig.layout.paper_bgcolor) >= 7.0
    assert contrast(fig.layout.annotations[1].font.color, fig.layout.paper_bgcolor) >= 7.0
    if name == "dark":
        assert luminance(fig.layout.paper_bgcolor) < 0.05
    else:
        assert fig.layout.font.color == "#000000" and fig.layout.paper_bgcolor == "#FFFFFF"
        assert fig.data[1].line.width >= 3 and fig.data[1].marker.size >= 10


def test_the_view_is_truthy_only_in_presenter_mode_and_reads_an_unknown_theme_as_light():
    assert not View() and View(present=True) and not View(theme="dark")
    assert View(theme="<b>x</b>").theme == "light"
    assert hash(View(True, "dark")) != hash(View(True, "light"))  # a figure cache tells them apart


def _run(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "labs" / f"{page}.py"), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _papers(at: AppTest) -> set[str]:
    return {json.loads(c.proto.spec)["layout"].get("paper_bgcolor") for c in at.get("plotly_chart")}


@pytest.mark.parametrize(
    ("flag", "paper"), [("dark", "#171614"), ("contrast", "#FFFFFF"), ("<i>x</i>", "white")]
)
def test_the_theme_flag_reaches_every_figure_of_a_page(flag, paper):
    at = _run("collectives", {"theme": flag, "co_step": "2"})
    assert not at.exception
    assert _papers(at) == {paper}


def test_presenter_mode_folds_the_controls_and_keeps_their_keys():
    plain, stage = _run("collectives", {"co_n": "6"}), _run("collectives", {"co_n": "6", "present": "1"})
    assert not plain.exception and not stage.exception
    assert stage.slider(key="co_n").value == plain.slider(key="co_n").value == 6
    labels = [e.label for e in stage.expander]
    assert "Controls" in labels and "Controls" not in [e.label for e in plain.expander]


def test_labels_plotly_would_shrink_are_kept_large_or_left_out():
    import numpy as np

    few = adapt(go.Figure(go.Heatmap(z=np.arange(12).reshape(3, 4), texttemplate="%{z}")), True)
    many = adapt(go.Figure(go.Heatmap(z=np.arange(64 * 32).reshape(64, 32), texttemplate="%{z}")), True)
    bars = adapt(go.Figure(go.Bar(x=["a", "b"], y=[3, 4], text=["hold", "b=8"])), True)
    assert few.data[0].texttemplate == "%{z}" and few.data[0].textfont.size >= 18
    assert many.data[0].texttemplate is None  # 64 rows of 18 px labels cannot fit 430 px
    assert bars.layout.uniformtext.minsize >= 18 and bars.layout.uniformtext.mode == "hide"


def test_colour_bars_get_presenter_type_and_a_column_keeps_only_labels_that_fit():
    import numpy as np

    from viz.view import in_column

    z = np.arange(12 * 12).reshape(12, 12)
    heat = adapt(go.Figure(go.Heatmap(z=z)), True)
    dots = adapt(go.Figure(go.Scatter(x=[1], y=[1], marker=dict(color=[1], showscale=True))), True)
    assert heat.data[0].colorbar.tickfont.size >= 18 and dots.data[0].marker.colorbar.tickfont.size >= 18
    whole = adapt(go.Figure(go.Heatmap(z=z, texttemplate="%{z}")), True)
    narrow = adapt(in_column(go.Figure(go.Heatmap(z=z, texttemplate="%{z}")), 0.4), True)
    # 12 columns of 3-digit labels at 18 px fit ~1100 px, not the 40 % column the figure is drawn in
    assert whole.data[0].texttemplate == "%{z}" and narrow.data[0].texttemplate is None


def test_the_main_stepper_takes_the_presenter_stage_under_the_title():
    """?present=1: the page's main stepper and its step are drawn into the box right under the title
    (Streamlit's element tree: the stage is the block after the page head); without the flag, in place."""

    def stage_block(at: AppTest):
        main = at.main
        heads = [i for i, b in enumerate(main.children.values()) if getattr(b, "key", None) == "page_head"]
        blocks = list(main.children.values())
        return blocks[heads[0] + 1] if heads else None

    stage = _run("pruning", {"present": "1"})
    plain = _run("pruning", {})
    assert not stage.exception and not plain.exception
    box = stage_block(stage)
    assert box is not None and "presenter_stage" in str(getattr(box, "key", ""))
    assert box.get("plotly_chart") and box.slider(key="pr_step") is not None
    assert "presenter_stage" not in str([getattr(b, "key", None) for b in plain.main.children.values()])
