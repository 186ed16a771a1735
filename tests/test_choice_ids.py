"""ui.by_id: a choice widget's URL value is its option's id (ui/choice.py), old label links still open.

Oracles: Streamlit's own AppTest (the URL is the run's query string, as a browser sends it) and the
labels the app drew before (``"reverse · 反向"``: ui.both of the English label, read from the catalog).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.i18n import both

ROOT = Path(__file__).resolve().parents[1]


def _script():
    import streamlit as st

    import ui

    names = {"forward": "forward", "reverse": "reverse"}
    mode = ui.by_id(st).radio(
        "Mode", list(names), format_func=lambda m: ui.t(names[m]), key="m", bind="query-params"
    )
    size = ui.by_id(st).selectbox("Size", [1, 2, 4, 8], index=2, key="s", bind="query-params")
    picks = ui.by_id(st).multiselect(
        "Picks", ["a", "b", "c"], default=["a"], format_func=str.upper, key="p", bind="query-params"
    )
    level = ui.by_id(st).select_slider(
        "Level", ["low", "mid", "high"], value="mid", key="l", bind="query-params"
    )
    plain = ui.by_id(st).radio("Plain", ["x", "y"], key="plain")  # no bind: Streamlit's own widget
    st.write(f"{mode}|{size}|{','.join(picks)}|{level}|{plain}")


def _run(**params) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=30)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _shown(at: AppTest) -> str:
    return at.markdown[-1].value


def test_defaults_leave_the_url_empty():
    at = _run()
    assert not at.exception and _shown(at) == "forward|4|a|mid|x"
    assert not {"m", "s", "p", "l"} & set(at.query_params)


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"m": "reverse"}, "reverse|4|a|mid|x"),  # the id, as a slide's hand-written link has it
        ({"m": both("reverse")}, "reverse|4|a|mid|x"),  # an old link's "reverse · 反向"
        ({"m": "反向", "lang": "zh"}, "reverse|4|a|mid|x"),  # an old link made in Chinese
        ({"s": "8"}, "forward|8|a|mid|x"),
        ({"p": ["b", "C"]}, "forward|4|b,c|mid|x"),  # ids, or the shown labels of an old link
        ({"l": "high"}, "forward|4|a|high|x"),
    ],
)
def test_a_link_opens_the_option_its_id_or_old_label_names(params, shown):
    at = _run(**params)
    assert not at.exception and _shown(at) == shown


@pytest.mark.parametrize("value", ["bogus", "", "9" * 5000, "<img src=x onerror=alert(1)>", ["reverse", "x"]])
def test_a_value_no_option_has_opens_the_default(value):
    at = _run(m=value, s=value, l=value)
    assert not at.exception
    mode, size, _, level, _ = _shown(at).split("|")
    assert size == "4" and level == "mid"
    assert mode == ("reverse" if value == ["reverse", "x"] else "forward")  # a repeated key: the first wins


def test_the_url_follows_every_change_as_ids_and_drops_defaults():
    at = _run()
    at.radio(key="m").set_value("reverse")
    at.selectbox(key="s").set_value(1)
    at.multiselect(key="p").set_value(["c", "b"])
    at.run()
    assert at.query_params["m"] == "reverse" and at.query_params["s"] == "1"
    assert at.query_params["p"] == ["c", "b"]  # repeated keys, in the student's order
    at.radio(key="m").set_value("forward").run()
    assert "m" not in at.query_params
    assert "plain" not in at.query_params  # an unbound widget stays out of the link


def test_a_label_link_is_rewritten_to_the_id():
    at = _run(m=both("reverse"))
    assert at.query_params["m"] == "reverse"


def test_the_autodiff_page_keeps_its_mode_by_id():
    def page(**params) -> AppTest:
        at = AppTest.from_file(str(ROOT / "labs" / "autodiff.py"), default_timeout=60)
        for key, value in params.items():
            at.query_params[key] = value
        return at.run()

    at = page(ad_mode="reverse")
    assert not at.exception and at.radio(key="ad_mode").value == "reverse"
    assert page(ad_mode="reverse · 反向").radio(key="ad_mode").value == "reverse"
    zh = page(ad_mode="reverse", lang="zh")
    assert zh.radio(key="ad_mode").options == ["前向", "反向"]  # shown in the page's language only
    assert zh.radio(key="ad_mode").value == "reverse"
