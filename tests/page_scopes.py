"""What a function a lab hands to a fragment reads, read from the page's source (ast + symtable; no
page is run). Used by tests/test_stepper.py (a stepper's ``render``), tests/test_gif_export.py
(its ``frame``) and tests/test_folded.py (what a ``ui.folded`` expander draws).

A fragment rerun calls such a function again with the values its names hold at the end of the run
that defined it. A module global the page binds again further down, or — for a function defined
inside another one (a ``ui.section``) — a name of an enclosing function bound again further down
that function, would be read with its later value.
"""

from __future__ import annotations

import ast
import symtable

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def ui_calls(tree: ast.Module, name: str) -> list[ast.Call]:
    """Every ``ui.<name>(...)`` call of the page, at any depth."""
    return [
        c
        for c in ast.walk(tree)
        if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Attribute)
        and c.func.attr == name
        and getattr(c.func.value, "id", "") == "ui"
    ]


def stepper_calls(tree: ast.Module) -> list[ast.Call]:
    """Every ``ui.stepper(...)`` call of the page, at any depth."""
    return ui_calls(tree, "stepper")


def stores_after(body: list[ast.stmt], line: int) -> set[str]:
    """Names these statements bind after ``line`` in their own scope: assignments, loop targets,
    imports, and the names of functions and classes defined there (not what nested scopes bind)."""
    names: set[str] = set()
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, _SCOPES):
            if not isinstance(node, ast.Lambda) and node.lineno > line:
                names.add(node.name)
            continue
        if isinstance(node, _COMPREHENSIONS):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.lineno > line:
            names.add(node.id)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno > line:
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        todo.extend(ast.iter_child_nodes(node))
    return names


def function_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The page's functions by name, at any depth (a later one of the same name wins)."""
    return {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}


def _enclosing(tree: ast.Module, func: ast.FunctionDef) -> list[ast.FunctionDef]:
    """The functions ``func`` is defined in, innermost first."""
    chain: list[ast.FunctionDef] = []

    def visit(node: ast.AST, outer: list[ast.FunctionDef]) -> bool:
        for child in ast.iter_child_nodes(node):
            if child is func:
                chain.extend(reversed(outer))
                return True
            inner = [*outer, child] if isinstance(child, ast.FunctionDef) else outer
            if visit(child, inner):
                return True
        return False

    visit(tree, [])
    return chain


def _scope(table: symtable.SymbolTable, name: str, line: int) -> symtable.SymbolTable | None:
    for child in table.get_children():
        if child.get_name() == name and child.get_lineno() == line:
            return child
        found = _scope(child, name, line)
        if found is not None:
            return found
    return None


def outside_reads(source: str, tree: ast.Module, func: ast.FunctionDef | ast.Lambda, path: str = "<page>"):
    """(the module globals ``func`` (a function or a lambda) reads, the names it reads that are bound
    again after its definition: globals at module level, free variables in an enclosing function)."""
    table = symtable.symtable(source, path, "exec")
    name = "lambda" if isinstance(func, ast.Lambda) else func.name
    lines = {func.lineno, *(d.lineno for d in getattr(func, "decorator_list", ()))}
    inner = next((s for s in (_scope(table, name, n) for n in sorted(lines)) if s is not None), None)
    assert inner is not None, f"{path}: no scope for {name}"
    symbols = [s for s in inner.get_symbols() if s.is_referenced()]
    # not is_local: Python 3.11's symtable calls a module-level function's parameter global too
    globals_read = {s.get_name() for s in symbols if s.is_global() and not s.is_local()}
    free = {s.get_name() for s in symbols if s.is_free()}
    late = globals_read & stores_after(tree.body, func.lineno)
    for outer in _enclosing(tree, func):
        late |= free & stores_after(outer.body, func.lineno)
    return globals_read, late
