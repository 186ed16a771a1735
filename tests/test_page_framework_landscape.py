"""AppTest for labs/framework_landscape.py: the timeline filtered by an idea, the MindSpore component
chosen, links to the labs, Chinese, and values in the URL that name nothing."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_default_view_lists_every_framework_and_links_labs(lab):
    at = lab("framework_landscape", strict=True)
    assert len(at.dataframe[0].value) == 13
    assert "Automatic differentiation" in " ".join(m.value for m in at.markdown)
    assert any("/custom_autograd" in m.value or "/control_flow" in m.value for m in at.markdown)


def test_filtering_by_an_idea_and_choosing_a_component(lab):
    at = lab("framework_landscape")
    at.multiselect(key="fl_concepts").set_value(["auto_parallel"]).run()
    names = list(at.dataframe[0].value["framework"])
    assert "MindSpore" in names and "Caffe" not in names and not at.exception
    at.selectbox(key="fl_component").set_value("parallel").run()
    assert any("Sharding strategies" in m.value for m in at.markdown)


def test_the_page_speaks_chinese(lab):
    at = lab("framework_landscape", lang="zh")
    assert CJK.search(at.title[0].value)
    assert any(CJK.search(m.value) for m in at.markdown)


def test_url_values_that_name_nothing_fall_back(lab):
    at = lab("framework_landscape", fl_component="nonsense", fl_concepts="bogus")
    assert not at.exception and len(at.dataframe[0].value) >= 1
