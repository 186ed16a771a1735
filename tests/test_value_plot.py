"""Issue 14, Graph Builder value plot: the caption's colour words are the colours the heatmap really
draws (read from the figure's resolved colour scale), the colour bar sits clear of every axis title,
and the plot speaks Chinese in the Chinese view."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go

from viz.graph import VALUE_COLOURS, value_figure

CJK = re.compile(r"[\u4e00-\u9fff]")


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.strip()
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", colour)[:3])


def _name(colour: str) -> str:
    r, _, b = _rgb(colour)
    return "blue" if b > r else "red"


def _ends(heatmap: dict) -> dict[str, str]:
    """{"positive": colour word, "negative": colour word} of a heatmap drawn with zmid = 0, from its
    resolved colour scale (plotly: first entry = lowest value, last = highest; reversescale flips)."""
    scale = go.Heatmap(colorscale=heatmap["colorscale"]).colorscale  # a name resolves to its entries
    low, high = scale[0][1], scale[-1][1]
    if heatmap.get("reversescale"):
        low, high = high, low
    assert heatmap.get("zmid") == 0
    return {"positive": _name(high), "negative": _name(low)}


def _heatmap(fig: dict) -> dict:
    return next(t for t in fig["data"] if t["type"] == "heatmap")


def test_the_colour_words_are_the_scales_ends():
    fig = value_figure("h", np.linspace(-3, 5, 200).reshape(10, 20)).to_plotly_json()
    assert _ends(_heatmap(fig)) == VALUE_COLOURS == {"positive": "blue", "negative": "red"}
    # the oracle can tell: the reversed scale reads the other way round
    flipped = {**_heatmap(fig), "reversescale": True}
    assert _ends(flipped) == {"positive": "red", "negative": "blue"}


def test_the_colour_bar_sits_between_the_panels_clear_of_the_axis_titles():
    fig = value_figure("h", np.random.default_rng(0).standard_normal((32, 100)))
    bar = fig.data[0].colorbar
    heat, hist = fig.layout.xaxis.domain, fig.layout.xaxis2.domain
    assert bar.xanchor == "left" and bar.x >= heat[1]  # right of the heatmap (its y title is on the left)
    # the bar and its tick labels (about 60 px at presenter type) end before the histogram at 700 px wide
    width = 700
    assert bar.x + (bar.thickness + 60) / width < hist[0]
    assert fig.layout.yaxis2.side == "right"  # the histogram's count title is on the far side
    assert not any(t.type == "histogram" and t.marker.showscale is not False for t in fig.data)


def test_a_big_tensor_is_cut_and_says_so():
    fig = value_figure("big", np.ones((3, 300, 400)))
    assert np.asarray(fig.data[0].z).shape == (256, 256)
    assert "first 256×256" in fig.layout.annotations[0].text and "900×400" in fig.layout.annotations[0].text


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _value_chart(at) -> dict:
    return next(f for f in _charts(at) if any(t["type"] == "heatmap" for t in f["data"]))


def test_the_page_caption_says_the_colours_the_page_draws(lab):
    at = lab("graph_builder", g="preset:conv_bn_relu")  # its output is too big for a table
    caption = next(c.value for c in at.caption if "positive" in c.value)
    said = re.search(r"\((\w+) positive, (\w+) negative\)", caption)
    assert said is not None, caption
    drawn = _ends(_heatmap(_value_chart(at)))
    assert {"positive": said.group(1), "negative": said.group(2)} == drawn


def test_the_value_plot_is_translated(lab):
    at = lab("graph_builder", run=False, g="preset:conv_bn_relu")
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    fig = _value_chart(at)
    layout = fig["layout"]
    words = [
        layout["title"]["text"],
        layout["xaxis"]["title"]["text"],
        layout["yaxis"]["title"]["text"],
        layout["xaxis2"]["title"]["text"],
        layout["yaxis2"]["title"]["text"],
        _heatmap(fig)["colorbar"]["title"]["text"],
        *(a["text"] for a in layout["annotations"]),
    ]
    assert all(CJK.search(w) for w in words), words
    caption = next(c.value for c in at.caption if "蓝" in c.value and "红" in c.value)
    assert caption.index("蓝") < caption.index("正") and "蓝正红负" in caption
