"""The framework landscape's tables (engine/framework/landscape.py): consistent, sourced, linked to labs
that exist in the curriculum, readable in Chinese, and in agreement with the dates their sources print."""

from __future__ import annotations

import re

import pytest

from engine.core.errors import EngineError
from engine.framework import landscape as ls
from ui import i18n
from ui.catalog import LABS

PAGES = {lab.page for lab in LABS}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_tables_are_consistent():
    assert ls.check_tables() == []


def test_the_consistency_check_can_fail():
    broken = ls.Milestone("x", "X", 1999, "org", ("no_such_idea",), "text", (ls.Source("t", "http://x"),))
    original = ls.MILESTONES
    try:
        ls.MILESTONES = (*original, broken)
        problems = ls.check_tables()
    finally:
        ls.MILESTONES = original
    assert any("unknown tag" in p for p in problems) and any("not https" in p for p in problems)
    assert any("order of year" in p for p in problems)


def test_the_issue_s_frameworks_are_all_there():
    names = " ".join(m.name for m in ls.MILESTONES)
    for want in (
        "Theano",
        "Caffe",
        "TensorFlow 1",
        "TensorFlow 2",
        "PyTorch",
        "MXNet",
        "PaddlePaddle",
        "MindSpore",
        "MegEngine",
        "JAX",
        "PyTorch 2",
    ):
        assert want in names


def test_a_release_year_is_never_after_a_year_its_sources_print():
    """A paper or post describing a framework comes at or after its first release."""
    for m in ls.MILESTONES:
        printed = [int(y) for s in m.sources for y in re.findall(r"\b(20[0-2]\d)\b", s.title)]
        assert printed, m.key
        assert m.year <= min(printed), m.key


def test_every_idea_and_component_links_to_labs_of_the_curriculum():
    for c in ls.CONCEPTS:
        assert c.labs and set(c.labs) <= PAGES, c.key
    for c in ls.MINDSPORE:
        assert set(c.labs) <= PAGES, c.key
    linked = {p for c in ls.CONCEPTS for p in c.labs}
    assert {"custom_autograd", "control_flow", "dynamic_static"} <= linked


def test_mindspore_components_are_the_ones_its_documentation_lists():
    # MindSpore docs r1.5, "Overall Architecture": these nine parts, plus the compiler's work and the hardware
    documented = {
        "ModelZoo",
        "MindSpore Extend",
        "MindScience",
        "MindData",
        "MindInsight",
        "MindArmour",
        "MindIR",
    }
    names = {c.name for c in ls.MINDSPORE}
    assert documented <= names
    assert any(c.name.startswith("MindExpression") for c in ls.MINDSPORE)
    assert any(c.name.startswith("MindRT") for c in ls.MINDSPORE)
    assert all(c.source.url.startswith("https://") for c in ls.MINDSPORE)


def test_filtering_by_an_idea():
    unification = {m.key for m in ls.milestones_with(["unification"])}
    assert {"tensorflow2", "paddle", "mindspore", "pytorch2", "torchscript", "megengine"} <= unification
    assert "caffe" not in unification and "theano" not in unification
    assert ls.milestones_with([]) == ls.MILESTONES
    with pytest.raises(EngineError, match="unknown concept"):
        ls.milestones_with(["nonsense"])


def test_every_shown_text_reads_in_chinese():
    zh = i18n.load_catalog("zh")
    texts = [ls.COMPILER_LAYER]
    texts += [t for c in ls.CONCEPTS for t in (c.name, c.description)]
    texts += [m.introduced for m in ls.MILESTONES]
    texts += [t for c in ls.MINDSPORE for t in (c.name, c.description)]
    missing = [t for t in texts if t not in zh.strings]
    assert missing == []
    assert all(CJK.search(zh.text(t)) or t.isascii() and len(t) <= 8 for t in texts)
