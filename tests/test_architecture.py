"""The house by chapter (docs/house.md): no import circles, core stands alone, the picture is current."""

from __future__ import annotations

from tools import house


def test_engine_has_no_import_circle():
    assert house.cycles(house.import_edges()) == []


def test_core_imports_nothing_outside_core():
    edges = house.import_edges()
    outside = {
        (src, dst)
        for src, targets in edges.items()
        if house.chapter(src) == "core"
        for dst in targets
        if house.chapter(dst) not in ("core", "engine")
    }
    assert outside == set()


def test_every_engine_module_belongs_to_a_chapter():
    strays = [m for m in house.engine_modules() if m != "engine" and house.chapter(m) not in house.CHAPTERS]
    assert strays == []


def test_the_circle_detector_finds_a_circle():
    # the checker itself must be able to fail: a two-module and a three-module circle, one clean arrow
    edges = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(house.cycles(edges)) == [["a", "b"], ["c", "d", "e"]]


def test_relative_imports_resolve_like_python():
    edges = house.import_edges()
    assert "engine.core.errors" in edges["engine.core.registry"]  # from .errors import ...
    assert "engine.core.ops.elementwise" in edges["engine.core.registry"]  # from .ops import elementwise
    assert "engine.core.ir" in edges["engine.compiler.passes.fusion"]  # from ...core.ir import ...


def test_house_picture_is_current():
    assert house.DOC.read_text(encoding="utf-8") == house.render(), "run: python -m tools.house"
