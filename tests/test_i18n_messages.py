"""Every message a student can see from the engine has a Chinese template (ui/locales/zh/messages.toml).

The walk (by AST, over engine/**/*.py):
  1. **error messages**: the message of every call that builds an error of the EngineError family
     (``raise ShapeError(f"...")``, ``return BudgetError(...)``), and of every helper that passes one of
     its parameters on as such a message (``_fail(node, f"...")``), with ``msg = f"..."`` variables
     and ``a + b`` concatenations resolved. A field whose text the code spells out in place is
     written out as variants: ``{'s' if n > 1 else ''}``, a local ``hint = ... if ... else ...``, a
     module table ``_NAMES[k]``, a helper that returns strings (``_suggest(...)``: "; did you mean
     ...?" or ""). Other errors (ValueError, NotImplementedError, ...) are bugs, not shown to students;
  2. **compiler logs**: every line the compiler passes log (``log = [...]``, ``log.append(...)``, the
     lists a pass returns, a ``Step``'s log, a ``ConversionStep``'s detail) in engine/compiler/;
  3. **fragments**: the words that fill a message's fields — a string passed to a parameter that
     ends up in a message (``check_tensor(shape, "conv output")``, ``positive("parameters", x)``; the
     parameter's default too), a local ``what = "..."`` put into one, simplify's rule names, the
     statement names the program checker uses.
Each message is rendered with sample values ('x', 3, [1, 2]; optional parts empty too) and must
come back in Chinese with none of its English words left, except those the engine catalogs keep
on purpose in their Chinese (code, op, option and layout names). A new message without a template
fails here. Then concrete messages from real engine calls, the shape of the catalog, and the speed
of :meth:`ui.i18n.Catalog.message`.
"""

from __future__ import annotations

import ast
import itertools
import keyword
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ui import i18n

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: An English word of 4+ letters, not a piece of code (``from_onnx``, ``'relu'``, ``x.shape``, ``f(``).
WORD = re.compile(r"(?<![A-Za-z0-9_.\-'\"/=*])[A-Za-z][a-z]{3,}(?![A-Za-z0-9_(\-'\"/=*])")
ZH = i18n.load_catalog("zh")
SAMPLES = ("x", 3, [1, 2])


@dataclass(frozen=True)
class Field:
    """One ``{...}`` of an f-string: its expression (with where it sits) and how it is formatted."""

    expr: ast.AST
    conversion: int
    spec: str
    func: ast.AST | None  # the enclosing function, to resolve names
    path: Path


@dataclass
class Site:
    path: Path
    line: int
    variants: list  # each a list of literal str / Field


# -- building templates -----------------------------------------------------------------------------
def _dotted(f: ast.AST) -> str:
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _field_name(e: ast.AST) -> str:
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Attribute):
        return e.attr
    if isinstance(e, ast.Subscript):
        return _field_name(e.value)
    if isinstance(e, ast.BoolOp):
        return _field_name(e.values[0])
    if isinstance(e, ast.Call):
        fn = _dotted(e.func)
        inner = _field_name(e.args[0]) if e.args else fn
        if fn == "len":
            return "n_" + inner.lstrip("_")
        if (
            fn
            in (
                "str",
                "repr",
                "_short",
                "_describe",
                "list",
                "tuple",
                "int",
                "float",
                "round",
                "abs",
                "sorted",
                "names_preview",
                "join",
                "type",
            )
            and e.args
        ):
            return inner
        return fn or "value"
    if isinstance(e, ast.BinOp):
        return _field_name(e.left)
    return "value"


def _literal_choices(e: ast.AST) -> list[str] | None:
    """``'s' if n > 1 else ''`` inside an f-string: its literal choices."""
    if isinstance(e, ast.IfExp):
        a, b = _literal_choices(e.body), _literal_choices(e.orelse)
        return a + b if a is not None and b is not None else None
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return [e.value]
    return None


def variants(expr: ast.AST, func=None, path: Path = ENGINE, known=None, depth: int = 0) -> list[list]:
    """The texts a string expression can build, each a list of literal str / Field; [] when it is
    not a string built in place. ``known(expr, func, path, depth)`` gives the texts a ``{name}`` or
    ``{helper(...)}`` is known to hold (a local ``hint = ...``, a helper returning strings), which
    are then written out in place of the field."""

    def more(e):
        return variants(e, func, path, known, depth)

    def field(e, conversion=-1, spec=""):
        if conversion == -1 and not spec and known is not None and depth < 3:
            texts = known(e, func, path, depth + 1)
            if texts:
                return texts
        return [[Field(e, conversion, spec, func, path)]]

    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [[expr.value]]
    if isinstance(expr, ast.JoinedStr):
        out: list[list] = [[]]
        for v in expr.values:
            if isinstance(v, ast.Constant):
                out = [o + [v.value] for o in out]
                continue
            choices = _literal_choices(v.value) if v.format_spec is None else None
            if choices is not None:
                out = [o + [c] for o in out for c in choices]
            else:
                spec = ast.unparse(v.format_spec)[2:-1] if v.format_spec is not None else ""
                texts = field(v.value, v.conversion, spec)
                out = (
                    [o + t for o in out for t in texts]
                    if len(out) * len(texts) <= 64
                    else [o + [Field(v.value, v.conversion, spec, func, path)] for o in out]
                )
        return out
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = more(expr.left), more(expr.right)
        if not left and not right:
            return []
        left = left or field(expr.left)
        right = right or field(expr.right)
        return [a + b for a, b in itertools.product(left, right)]
    if isinstance(expr, ast.IfExp):
        return more(expr.body) + more(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return [v for e in expr.values for v in more(e)]
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Dict):
        return [v for e in expr.value.values for v in more(e)]
    return []


def template(parts: list) -> str:
    """A catalog key: literal braces doubled, each field a {name} of its own."""
    out, used = [], set()
    for p in parts:
        if isinstance(p, str):
            out.append(p.replace("{", "{{").replace("}", "}}"))
            continue
        name = re.sub(r"\W", "_", _field_name(p.expr)).strip("_") or "value"
        name = "v" + name if name[0].isdigit() else name
        base, k = name, 2
        while name in used:
            name, k = f"{base}{k}", k + 1
        used.add(name)
        out.append("{" + name + "}")
    return "".join(out)


def render(parts: list, sample) -> str:
    """The text with every field filled with ``sample`` (a number where a format spec needs one)."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif p.spec:
            for v in (1234.5, 3, sample):
                try:
                    out.append(format(v, p.spec))
                    break
                except (ValueError, TypeError):
                    continue
        else:
            out.append(repr(sample) if p.conversion == ord("r") else str(sample))
    return "".join(out)


# -- the walk -------------------------------------------------------------------------------------
def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(ENGINE.rglob("*.py"))}


def _error_classes(classes: list[ast.ClassDef]) -> set[str]:
    """EngineError and every class derived from it, in any module."""
    names = {"EngineError"}
    grew = True
    while grew:
        grew = False
        for node in classes:
            if node.name not in names and any(_dotted(b) in names for b in node.bases):
                names.add(node.name)
                grew = True
    return names


def _enclosing(tree) -> dict:
    """node -> its innermost enclosing function."""
    out = {}

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            out[child] = func
            visit(child, child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func)

    visit(tree, None)
    return out


def _params(func) -> list[str]:
    a = func.args
    names = [x.arg for x in a.posonlyargs + a.args]
    return names[1:] if names and names[0] in ("self", "cls") else names


def _arg(call: ast.Call, index: int | None, name: str):
    if (
        index is not None
        and index < len(call.args)
        and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1])
    ):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _default(func, name: str):
    a = func.args
    pos = a.posonlyargs + a.args
    for arg, d in zip(pos[len(pos) - len(a.defaults) :], a.defaults):
        if arg.arg == name:
            return d
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        if arg.arg == name:
            return d
    return None


class Walk:
    """Messages, compiler logs and fragments of the engine (see the module docstring)."""

    def __init__(self):
        self.trees = _trees()
        self.nodes = {p: list(ast.walk(t)) for p, t in self.trees.items()}
        self.errors = _error_classes(
            [n for ns in self.nodes.values() for n in ns if isinstance(n, ast.ClassDef)]
        )
        self.parent = {p: _enclosing(t) for p, t in self.trees.items()}
        self.funcs: dict[str, list] = {}  # function name -> [(path, def)]
        self.calls: dict[str, list] = {}  # called name -> [(path, call, enclosing def)]
        self.assigns: dict[int, dict] = {}  # id(def) -> {name: [assigned values]}
        self.returns: dict[int, list] = {}  # id(def) -> [returned values]
        self.module_level: dict[Path, dict] = {p: {} for p in self.trees}  # NAME = ... at the top
        for path, tree in self.trees.items():
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            self.module_level[path].setdefault(t.id, []).append(node.value)
        for path in self.trees:
            parent = self.parent[path]
            for node in self.nodes[path]:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.funcs.setdefault(node.name, []).append((path, node))
                elif isinstance(node, ast.Call):
                    self.calls.setdefault(_dotted(node.func), []).append((path, node, parent.get(node)))
                elif isinstance(node, ast.Return) and node.value is not None and parent.get(node):
                    self.returns.setdefault(id(parent[node]), []).append(node.value)
                elif isinstance(node, ast.Assign) and parent.get(node) is not None:
                    table = self.assigns.setdefault(id(parent[node]), {})
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            table.setdefault(t.id, []).append(node.value)
        self.messages: list[Site] = []
        self.logs: list[Site] = []
        self.fragments: list[Site] = []
        self.unresolved: list[str] = []
        self._collect_messages()
        self._collect_logs()
        self._collect_fragments()

    # stage 1
    def _collect_messages(self):
        for path in self.trees:
            parent = self.parent[path]
            calls = [c for c in self.nodes[path] if isinstance(c, ast.Call)]
            helpers: dict[str, int] = {}  # a function passing its parameter on as a message
            for c in calls:
                f = parent.get(c)
                if f is not None and _dotted(c.func) in self.errors:
                    m = _arg(c, 0, "message")
                    if isinstance(m, ast.Name) and m.id in _params(f):
                        helpers[f.name] = _params(f).index(m.id)
            for call in calls:
                name, func = _dotted(call.func), parent.get(call)
                if name in self.errors:
                    m = _arg(call, 0, "message")
                    if (
                        isinstance(m, ast.Name)
                        and func is not None
                        and func.name in helpers
                        and m.id in _params(func)
                    ):
                        continue  # collected at the helper's callers
                elif name in helpers:
                    m = _arg(call, helpers[name], "message")
                elif isinstance(call.func, ast.Call) and _dotted(call.func.func) == "type":
                    m = _arg(call, 0, "message")  # type(exc)(f"{exc} (in ...)"): the same error
                else:
                    continue
                if m is None:
                    continue
                found = variants(m, func, path, self.known)
                if not found and isinstance(m, ast.Name) and func is not None:
                    for value in self.assigned(func, m.id):  # msg = f"..." earlier on
                        found += variants(value, func, path, self.known)
                if found:
                    self.messages.append(Site(path, call.lineno, found))
                else:  # str(exc) of an engine error caught and raised again: already covered
                    self.unresolved.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(m)}")

    # stage 2
    def _collect_logs(self):
        paths = [p for p in self.trees if p.parent.name in ("compiler", "passes") and "compiler" in p.parts]
        for path in paths:
            parent = self.parent[path]
            exprs = []
            for node in self.nodes[path]:
                if isinstance(node, ast.Assign) and any("log" in _dotted(t) for t in node.targets):
                    v = node.value
                    exprs += (
                        v.elts if isinstance(v, ast.List) else [v.elt] if isinstance(v, ast.ListComp) else []
                    )
                elif (
                    isinstance(node, ast.Call)
                    and _dotted(node.func) == "append"
                    and "log" in _dotted(node.func.value)
                    and node.args
                ):
                    exprs.append(node.args[0])
                elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                    exprs += [x for e in node.value.elts if isinstance(e, ast.List) for x in e.elts]
                elif isinstance(node, ast.Call) and _dotted(node.func) in ("Step", "ConversionStep"):
                    step = _dotted(node.func) == "Step"
                    m = _arg(node, 2 if step else 1, "log" if step else "detail")
                    if m is not None:
                        exprs.append(m)
            for e in exprs:
                found = variants(e, parent.get(e), path, self.known)
                if found:
                    self.logs.append(Site(path, e.lineno, found))

    # stage 3
    def _collect_fragments(self):
        sinks: set[tuple[str, int, str]] = set()  # (function name, parameter index, parameter)
        todo: list[Field] = [
            p for s in self.messages + self.logs for v in s.variants for p in v if _describes(p)
        ]
        seen_fields: set[int] = set()
        seen_sinks: set[tuple[str, int, str]] = set()
        while todo or sinks - seen_sinks:
            while todo:
                fld = todo.pop()
                if id(fld.expr) in seen_fields:
                    continue
                seen_fields.add(id(fld.expr))
                e, func = fld.expr, fld.func
                if isinstance(e, ast.BoolOp):
                    for v in e.values:
                        self._fragment(v, func, fld.path, todo)
                    continue
                if not isinstance(e, ast.Name) or func is None:
                    continue
                if e.id in _params(func):
                    sinks.add((func.name, _params(func).index(e.id), e.id))
                for value in self.assigned(func, e.id):  # what = "..." / f"..." / {...}[k]
                    self._fragment(value, func, fld.path, todo)
            for sink in sorted(sinks - seen_sinks):
                seen_sinks.add(sink)
                fname, index, pname = sink
                for path, f in self.funcs.get(fname, []):
                    d = _default(f, pname)
                    if d is not None:
                        self._fragment(d, None, path, todo)
                for path, call, func in self.calls.get(fname, []):
                    a = _arg(call, index, pname)
                    if a is None:
                        continue
                    if isinstance(a, ast.Name) and func is not None and a.id in _params(func):
                        sinks.add((func.name, _params(func).index(a.id), a.id))
                    else:
                        self._fragment(a, func, path, todo)
        # simplify's rule names fill "simplify: {count}× {rule}"
        simplify = ENGINE / "compiler" / "passes" / "simplify.py"
        for node in self.nodes[simplify]:
            if isinstance(node, ast.Call) and _dotted(node.func) == "drop" and len(node.args) == 3:
                self._fragment(node.args[2], self.parent[simplify].get(node), simplify, [])
            elif isinstance(node, ast.Subscript) and _dotted(node.value) == "counts":
                self._fragment(node.slice, None, simplify, [])

    def known(self, expr, func, path, depth):
        """What a field holds when the code says so in place (see :func:`variants`), else None."""
        if isinstance(expr, ast.Name) and func is not None and expr.id not in _params(func):
            values = self.assigned(func, expr.id)
        elif isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
            table = self.assigned(func, expr.value.id) or self.module_level[path].get(expr.value.id, [])
            values = [v for t in table if isinstance(t, ast.Dict) for v in t.values]  # _NAMES[k]
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
            defs = [f for p, f in self.funcs.get(expr.func.id, []) if p == path]
            values = [r for f in defs for r in self.returns.get(id(f), [])]
        else:
            return None
        texts = [variants(v, func, path, self.known, depth) for v in values]
        return [t for ts in texts for t in ts] if values and all(texts) else None

    def assigned(self, func, name: str) -> list:
        return self.assigns.get(id(func), {}).get(name, [])

    def _fragment(self, expr, func, path, todo):
        found = variants(expr, func, path, self.known)
        if found:
            self.fragments.append(Site(path, getattr(expr, "lineno", 0), found))
            todo += [p for v in found for p in v if _describes(p)]


def _describes(p) -> bool:
    """A field that may hold words: not a repr'd value (``{x!r}``), not a formatted number."""
    return isinstance(p, Field) and p.conversion != ord("r") and not p.spec


@pytest.fixture(scope="module")
def walk() -> Walk:
    return Walk()


def _extra_fragments() -> list[str]:
    """Words the engine puts into messages through tables rather than literals at the call."""
    from engine.core import language

    return sorted(set(language._NODE_NAMES.values())) + ["fields", "sub-messages", "packed integers"]


def _kept_words() -> set[str]:
    """English words the engine catalogs keep on purpose in their Chinese (op and option names,
    code, units, proper names): whole tokens of messages.toml and engine.toml, ``{fields}`` aside."""
    import tomllib

    out = set()
    for name in ("messages", "engine"):
        data = tomllib.loads((ROOT / "ui" / "locales" / "zh" / f"{name}.toml").read_text(encoding="utf-8"))
        for table in ("messages", "strings"):
            for zh in data.get(table, {}).values():
                out.update(re.findall(r"[A-Za-z]\w*", re.sub(r"\{\w*\}", "", zh)))
    return out


KEPT = _kept_words()


def _english_left(zh: str) -> list[str]:
    return [w for w in WORD.findall(zh) if w not in KEPT]


def _renders(site: Site) -> list[tuple[str, str]]:
    """(text, its literal words) for each variant with every sample, and with each optional field
    alone left empty."""
    out = []
    for parts in site.variants:
        words = "".join(p if isinstance(p, str) else "0" for p in parts)  # "conv{n}": a name
        out += [(render(parts, s), words) for s in SAMPLES]
        for k, p in enumerate(parts):
            if _describes(p) and _maybe_empty(p):
                out.append((render([("" if j == k else q) for j, q in enumerate(parts)], "x"), words))
    return out


def _maybe_empty(f: Field) -> bool:
    """A field that may render as '': a parameter with the default ``""`` (``detail: str = ""``) or
    a local that is sometimes ``""``. (Helpers returning ``""`` are written out by the walk.)"""
    e = f.expr
    if not isinstance(e, ast.Name) or f.func is None:
        return False
    d = _default(f.func, e.id)
    return (isinstance(d, ast.Constant) and d.value == "") or any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == e.id for t in n.targets)
        and any(isinstance(c, ast.Constant) and c.value == "" for c in ast.walk(n.value))
        for n in ast.walk(f.func)
    )


# -- the tests ------------------------------------------------------------------------------------
def test_the_walk_finds_the_engine_messages(walk):
    assert len(walk.messages) > 450 and len(walk.logs) >= 20 and len(walk.fragments) > 50
    # only re-raises of a message that is itself an engine message are left unresolved
    assert all("str(exc)" in u or "refused" in u for u in walk.unresolved), walk.unresolved


def _untranslated(sites, need_chinese: bool = True) -> list[str]:
    """Renders that come back without Chinese, or with a word of the English text still in them
    (the sample values are not words, so only the template's own words are looked for)."""
    bad = []
    for site in sites:
        for text, literal in _renders(site):
            zh = ZH.message(text)
            left = [w for w in _english_left(zh) if w in set(WORD.findall(literal))]
            if (need_chinese and not CJK.search(zh)) or left:
                bad.append(f"{site.path.relative_to(ROOT)}:{site.line}: {text!r} -> {zh!r} {left}")
    return bad


def test_a_message_without_a_template_is_caught():
    call = ast.parse('raise EngineError(f"the flux capacitor of {name!r} needs {n:,} gigawatts")').body[0]
    site = Site(ENGINE / "new.py", 1, variants(call.exc.args[0]))
    assert template(site.variants[0]) == "the flux capacitor of {name} needs {n} gigawatts"
    assert len(_untranslated([site])) == len(SAMPLES)


def test_every_error_message_has_a_chinese_template(walk):
    assert _untranslated(walk.messages) == []


def test_every_compiler_pass_log_has_a_chinese_template(walk):
    assert _untranslated(walk.logs) == []


def test_every_fragment_put_into_a_message_is_translated(walk):
    """A fragment of one word may stay as it is: it is an op, attribute or option name (``maxpool``,
    ``dilation``, ``unroll``) or a Python keyword; single descriptive words are catalogued anyway."""

    def one_word(site):
        return all(
            re.fullmatch(r"\s*\w+\s*", "".join(p for p in v if isinstance(p, str))) for v in site.variants
        )

    sites = [s for s in walk.fragments if not one_word(s) and any(_english_left(t) for t, _ in _renders(s))]
    extra = [
        f"{w!r} -> {ZH.message(w)!r}"
        for w in _extra_fragments()
        if not keyword.iskeyword(w) and _english_left(ZH.message(w))
    ]
    assert _untranslated(sites, need_chinese=False) + extra == []


def test_the_message_catalog_is_well_formed():
    """In messages.toml: Chinese fields within the English ones, a field-less text under [strings],
    never two fields side by side (``{a}{b}`` cannot be split: the first would take one character),
    and a template that starts with a field starts its Chinese with it too: a longer template such
    as ``{what} of shape ...`` also takes ``line 2, column 5: `` into its first field when a
    ProgramError wraps the message, and that prefix must stay in front."""
    import string
    import tomllib

    data = tomllib.loads((ROOT / "ui" / "locales" / "zh" / "messages.toml").read_text(encoding="utf-8"))
    fields = lambda t: {f for _, f, _, _ in string.Formatter().parse(t) if f is not None}  # noqa: E731
    messages = data["messages"]
    assert [en for en, zh in messages.items() if not fields(zh) <= fields(en)] == []
    assert [en for en in messages if not fields(en)] == []
    assert [en for en in messages if re.search(r"(?<!\{)\{\w+\}\{\w+\}", en)] == []
    assert [en for en, zh in data["strings"].items() if not CJK.search(zh)] == []
    assert [
        en for en, zh in messages.items() if (m := re.match(r"\{\w+\}", en)) and not zh.startswith(m.group(0))
    ] == []


# -- concrete messages from real engine calls --------------------------------------------------------
def _fully_chinese(text: str) -> str:
    zh = ZH.message(text)
    assert CJK.search(zh), (text, zh)
    assert _english_left(zh) == [], (text, zh)
    return zh


def test_a_program_error_is_translated():
    import engine
    from engine.core.errors import ProgramError

    with pytest.raises(ProgramError) as e:
        engine.parse_program("x = input([2, 3])\ny = relu(z)\noutput(y)")
    zh = _fully_chinese(str(e.value))
    assert zh.startswith("第 2 行第 ") and "'z'" in zh
    with pytest.raises(ProgramError) as e:
        engine.parse_program("x = input([2, 3])\ny = relu(x\noutput(y)")
    _fully_chinese(str(e.value))
    with pytest.raises(ProgramError) as e:
        engine.parse_program("x = input([2, 3])\ny = rellu(x)\noutput(y)")
    assert "relu" in _fully_chinese(str(e.value))
    with pytest.raises(ProgramError) as e:  # "{node} is not part ..." is longer than "line ..."
        engine.parse_program("x = input([2, 3])\ny = x.shape\noutput(y)")
    assert _fully_chinese(str(e.value)).startswith("第 2 行第 5 列：属性访问")


def test_a_budget_error_is_translated():
    import engine
    from engine.core.errors import BudgetError, EngineError

    g = engine.parse_program("x = input([2048, 2048])\nw = param([2048, 2048])\ny = x @ w\noutput(y)")
    with pytest.raises(BudgetError) as e:
        engine.run(g)
    zh = _fully_chinese(str(e.value))
    assert "FLOPs" in zh or "MiB" in zh
    with pytest.raises(EngineError) as e:  # a BudgetError, located in the program
        engine.parse_program("x = input([100000, 100000])\ny = relu(x)\noutput(y)")
    zh = _fully_chinese(str(e.value))
    assert zh.startswith("第 1 行第 11 列：一个张量（形状 [100000, 100000]）")


def test_a_shape_error_is_translated():
    import engine
    from engine.compiler.layouts import conversion_steps
    from engine.core.errors import EngineError, ShapeError

    with pytest.raises(ShapeError) as e:
        conversion_steps((2, 3), "NCHW", "NHWC")
    assert _fully_chinese(str(e.value)) == "布局转换只适用于 4 维 (N, C, H, W) 形状；实际是 [2, 3]"
    with pytest.raises(EngineError) as e:  # the op's ShapeError, located in the program
        engine.parse_program("a = input([2, 3])\nb = input([4, 5])\nc = a @ b\noutput(c)")
    assert _fully_chinese(str(e.value)) == (
        "第 3 行第 5 列：matmul：无法将 [2, 3] 与 [4, 5] 相乘：内侧维度 3 和 4 不相等"
    )


def test_pass_logs_are_translated():
    import engine
    from engine.compiler.lab import pass_trace
    from engine.compiler.passes import PASSES

    g = engine.parse_program(
        "x = input([1, 3, 8, 8])\nw = param([4, 3, 3, 3])\nc = conv2d(x, w, pad=1)\n"
        "b = batchnorm(c, param([4]), param([4]), param([4]), param([4]))\n"
        "r = relu(b)\ni = identity(r)\nu = relu(c)\nk = constant(2.0)\nm = k * k\n"
        "y = i * m\ny2 = i * m\nz = y + y2\noutput(z)"
    )
    steps = list(pass_trace(g, list(PASSES)))
    lines = [line for s in steps for line in s.log.split("\n") if line]
    assert len(lines) > 8
    zh = [_fully_chinese(line) for line in lines]
    assert "dce：删除了 1 个死节点：u" in zh and "cse：合并了 1 个重复表达式：y2→y" in zh
    _, log = engine.optimize(g, ["constant_folding", "cse", "dce"])
    assert all(CJK.search(ZH.message(line)) for line in log)


def test_optional_parts_left_empty_and_default_words_are_translated():
    from engine.core import budget
    from engine.core.errors import BudgetError

    with pytest.raises(BudgetError) as e:  # no detail after "FLOPs"
        budget.check_flops(10**13, "the mesh matmul (and its reference)")
    assert _fully_chinese(str(e.value)).startswith("网格上的 matmul（及其参考计算）需要 10,000.00 GFLOPs；")
    with pytest.raises(BudgetError) as e:  # what="graph" by default
        budget.check_nodes(10**6)
    assert _fully_chinese(str(e.value)).startswith("图有 1,000,000 个节点；")


# -- speed -----------------------------------------------------------------------------------------
def test_translating_one_message_is_fast(walk):
    """Hundreds of templates: Catalog.message tries only those whose literals the text holds."""
    texts = [render(v, "x") for s in walk.messages + walk.logs for v in s.variants]
    texts += ["line 2, column 5: " + t for t in texts[:100]]
    texts += ["a message no template knows, with some words in it: " + "x" * 200] * 20
    start = time.perf_counter()
    for text in texts:
        ZH.message(text)
    per = (time.perf_counter() - start) / len(texts)
    assert per < 0.005, f"{per * 1e3:.2f} ms per message"
