"""The AI-compiler landscape table (engine/compiler/landscape.py): complete, sourced, linked, bilingual.

There are no numbers to check here; what can be wrong is a fact without a source, a source the lesson
does not list, a level that links to a lab that does not exist, or a sentence the Chinese page would
show in English. Each of those is checked, and the table's own consistency check is shown to fire.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.compiler import landscape as land
from engine.core.errors import EngineError
from ui.catalog import LABS
from ui.i18n import load_catalog

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def table():
    return land.landscape()


def test_one_cell_per_compiler_and_level(table):
    pairs = [(c.compiler, c.level) for c in table.cells]
    assert len(pairs) == len(set(pairs)) == len(table.compilers) * len(table.levels) == 25
    assert [c.key for c in table.compilers] == ["tvm", "xla", "mlir", "inductor", "ge"]
    assert [lv.key for lv in table.levels] == ["frontend", "graph", "tensor", "lowlevel", "hardware"]
    assert all(c.facts and c.ir.strip() for c in table.cells)


def test_every_fact_has_a_source_with_a_web_address(table):
    for fact in table.facts:
        src = table.source(fact.source)
        assert src.url.startswith("https://"), src
        assert len(fact.text) > 20 and fact.text.endswith("."), fact.text
    used = {f.source for f in table.facts}
    assert used == set(land.SOURCES), f"sources nobody cites: {set(land.SOURCES) - used}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lesson_lists_every_source(table, lang):
    text = (ROOT / "content" / lang / "ai_compilers.md").read_text(encoding="utf-8")
    sources = text.split("## Sources" if lang == "en" else "## 参考资料", 1)[1]
    assert [s.url for s in table.sources if s.url not in sources] == []


def test_every_level_links_to_labs_that_exist(table):
    pages = {lab.page for lab in LABS}
    for level in table.levels:
        assert level.labs, level.key
        for page in level.labs:
            assert page in pages and (ROOT / "labs" / f"{page}.py").exists(), (level.key, page)


def test_the_chinese_page_has_every_sentence_of_the_table(table):
    zh = load_catalog("zh")
    texts = [f.text for f in table.facts] + [lv.title for lv in table.levels]
    texts += [lv.description for lv in table.levels]
    missing = [t for t in texts if not CJK.search(zh.text(t))]
    assert missing == []


def test_the_table_is_frozen_and_english(table):
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.cells[0].ir = "changed"
    words = [c.ir for c in table.cells] + [f.text for f in table.facts] + [c.name for c in table.compilers]
    assert [w for w in words if CJK.search(w)] == []


def test_lookups_refuse_unknown_keys(table):
    assert table.level("tensor").title == "Tensor and loop IR"
    assert table.cell("inductor", "lowlevel").ir.startswith("Triton IR")
    with pytest.raises(EngineError, match="unknown level 'npu'"):
        table.level("npu")
    with pytest.raises(EngineError, match="no cell for compiler 'glow'"):
        table.cell("glow", "graph")
    with pytest.raises(EngineError, match="unknown source"):
        table.source("wikipedia")


def test_the_consistency_check_catches_a_missing_source_and_a_missing_cell(monkeypatch):
    bad = land.Cell("tvm", "graph", "Relay", (land.Fact("Cites nothing we list.", "blog"),))
    monkeypatch.setattr(land, "CELLS", (bad, *land.CELLS[1:]))
    with pytest.raises(EngineError, match="unknown source 'blog'"):
        land.landscape()
    monkeypatch.setattr(land, "CELLS", land.CELLS[1:])
    with pytest.raises(EngineError, match="exactly one cell"):
        land.landscape()
