"""The lesson expander (ui.lesson) draws its markdown only while it is open.

Folded, the page's runs skip the lesson's markdown (the browser would draw it again on every full
rerun); opened (its state is Session State under the key ``lesson``), the text is there; in presenter
mode it starts open. The text is the lesson file's own, in the view's language.
"""

from __future__ import annotations

from ui.page import lesson_text


def _shown(at, text: str) -> bool:
    return any(m.value == text.strip() for m in at.markdown)


def test_a_folded_lesson_draws_no_text_and_an_opened_one_draws_the_lessons_own(lab):
    at = lab("roofline")
    text = lesson_text("roofline")
    assert "Lesson" in [e.label for e in at.expander] and not _shown(at, text)
    at.session_state["lesson"] = True
    at.run()
    assert not at.exception and _shown(at, text)
    at.session_state["lesson"] = False
    at.run()
    assert not _shown(at, text)


def test_in_presenter_mode_the_lesson_starts_open(lab):
    at = lab("roofline", present="1")
    assert _shown(at, lesson_text("roofline"))


def test_the_opened_lesson_follows_the_language(lab):
    at = lab("roofline", lang="zh", run=False)
    at.session_state["lesson"] = True
    at.run()
    assert "讲解" in [e.label for e in at.expander]
    zh = next(m.value for m in at.markdown if "参考资料" in m.value)
    assert zh != lesson_text("roofline") and "## 参考资料" in zh
