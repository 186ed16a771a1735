"""tests/page_scopes.py finds the late names it exists to find (the stepper and GIF tests rely on it)."""

from __future__ import annotations

import ast
import textwrap

from page_scopes import function_defs, outside_reads, stepper_calls

PAGE = textwrap.dedent(
    """
    import ui
    size = 3

    def top(k):
        return k + size + later

    later = 1

    @ui.section
    def section():
        scale = 2
        cols = 4

        def render(k):
            return k * scale * cols + size

        def frame(k):
            return k * scale

        ui.stepper("s", 5, render=render, frame=frame)
        cols = 8
        for scale in range(2):
            pass

    section()
    size = 4
    """
)


def _reads(name: str):
    tree = ast.parse(PAGE)
    return outside_reads(PAGE, tree, function_defs(tree)[name])


def test_a_module_level_function_reads_globals_bound_again_further_down():
    reads, late = _reads("top")
    assert reads == {"size", "later"}  # not its parameter k
    assert late == {"size", "later"}  # both bound (again) after top is defined


def test_a_function_in_a_section_reads_the_sections_names_bound_again_after_it():
    reads, late = _reads("render")
    assert reads == {"size"}
    assert late == {"scale", "cols", "size"}
    _, late = _reads("frame")
    assert late == {"scale"}


def test_stepper_calls_are_found_inside_sections():
    (call,) = stepper_calls(ast.parse(PAGE))
    assert call.args[0].value == "s"
