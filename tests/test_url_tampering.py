"""Every URL value is user input: tampered share links over every page (issue 11).

What a tampered link reaches, and how this test drives it:
1. Every widget is bound to the URL (``bind="query-params"``). AppTest sends ``at.query_params`` as the
   run's query string through the same ``ScriptRunner`` and ``SessionState`` code the server uses, so
   Streamlit's own parsing of a bound widget's URL value (the type check, the range and option check,
   falling back to the default) runs here exactly as it does for a browser.
2. Discovery: one default run per page (and one per *mode*, a URL value that opens a conditional
   section) lists the bound widgets from the rendered protos (``query_param_key``) and their kind.
   A static check over the page source (ast, as in test_pages_contract.py) proves that discovery
   reached every bound key the page names, so no key escapes tampering.
3. Tampering, in rounds: in round r every bound key of the page gets hostile value (i + r) of its
   kind (a Latin square: each key meets a different value each round and, over all rounds, all of
   them), plus unknown extra keys. The short test runs a few rounds per page; the slow one all.
   Separate runs put every control at its ends (max, min, 10**18 where unbounded) at once, every
   stepper key at 0 / 10**9 / -1, and hostile app-wide flags (lang, present, controls) through app.py.
4. Expected of every run: no exception element, no hang (AppTest timeout), the page title drawn,
   every bound widget's value inside its domain, and the markup payload never in raw HTML output.
   A value the page cannot use shows as its default or as the page's st.error / st.warning.
Found this way: ``?key=inf`` crashed every integer number_input (Streamlit 1.67), fixed in ui.setup.
Not covered: uploads (not in the URL) and multi-step sessions (a URL seeds only a session's first run).
"""

from __future__ import annotations

import ast
import functools
import math
from pathlib import Path
from urllib.parse import urlencode

import pytest
from streamlit.testing.v1 import AppTest

from ui.choice import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.stem for p in (ROOT / "labs").glob("*.py"))
TIMEOUT = 60  # seconds per run: far above a page's cold run here, so only a hang trips it
MARKUP = "<img src=x onerror=alert(1)>"
LONG = "9" * 100_000
HOSTILE = {
    "number": (
        "1e300",
        "-1e300",
        "-1",
        "0",
        "1000000000",
        "nan",
        "inf",
        "-inf",
        "abc",
        LONG,
        "",
        ["1", "2"],
        MARKUP,
        "0x10",
        "1_000",
    ),
    "option": ("no such option", "", LONG, ["a", "b"], MARKUP, "-1", "nan", "0"),
    "bool": ("abc", "", "2", ["true", "false"], MARKUP, "-1"),
    "text": (
        LONG,
        MARKUP,
        "",
        ["a", "b"],
        "x = input([99999, 99999, 99999])\ny = relu(x)",
        "99999, 99999, 99999",
        "-1, 0",
        "\x00\u202e😀 " + MARKUP,
        "1e300",
        "x = relu(x)",
    ),
}
ROUNDS_SHORT = 3
ROUNDS_ALL = max(len(v) for v in HOSTILE.values())
EXTRA_KEYS = {"zz_not_a_key": "x" * 1000, MARKUP: MARKUP, "": "1"}
QUERY_LIMIT = 512 * 1024  # Streamlit ignores a longer query string whole: keep every run under it
# URL values that open a conditional section, so its widgets are tampered too (labels, as in the URL)
MODES = {
    "autodiff": [{"ad_mode": "reverse · 反向"}],
    "davinci_core": [{"dv_mode": "Convolution (img2col)"}],
    "edge_cloud": [{"ec_model": "custom"}],
    "graph_builder": [
        {"gb_source": "Program · 程序"},
        {"gb_source": "torch zoo · 模型库"},
        {"gb_tab": "Printout & code"},  # only the open tab is drawn
    ],
    "gpu_occupancy": [{"go_vendor": "AMD"}],
    "llm_analyzer": [{"la_model": "custom"}],
    "memory_planning": [{"mp_source": "Random intervals"}, {"mp_source": "Your intervals"}],
    "serving": [
        {"sv_part": "LLM decoding · 大模型解码"},
        {"sv_part": "KV cache · KV 缓存显存"},
        {"sv_served": "LLM-size model · 大模型规模的模型"},
    ],
    "serving_system": [
        {"ssy_part": "Ensemble · 模型组合（Ensemble）"},
        {"ssy_part": "Lifecycle & canary · 生命周期与金丝雀发布"},
        {"ssy_part": "Serve it for real · 真的跑一个服务"},
    ],
    "systolic_array": [{"sa_mode": "Conv layer (im2col)"}],
}
BINDABLE = {
    "slider",
    "select_slider",
    "selectbox",
    "radio",
    "multiselect",
    "number_input",
    "text_input",
    "text_area",
    "checkbox",
    "toggle",
    "segmented_control",
    "pills",
}
KIND_OF_PROTO = {
    "NumberInput": "number",
    "Selectbox": "option",
    "Radio": "option",
    "MultiSelect": "option",
    "ButtonGroup": "option",
    "Checkbox": "bool",
    "Expandable": "bool",  # an expander bound to the URL (open or folded)
    "TextArea": "text",
    "TextInput": "text",
}


def run_page(page: str, params: dict) -> AppTest:
    assert len(urlencode(params, doseq=True)) < QUERY_LIMIT, "this run would test nothing"
    at = AppTest.from_file(str(ROOT / "labs" / f"{page}.py"), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def _nodes(at: AppTest):
    stack = [at._tree]
    while stack:
        node = stack.pop()
        yield node
        children = getattr(node, "children", {})
        stack.extend(children.values() if isinstance(children, dict) else children)


def _kind(proto) -> str:
    name = type(proto).__name__
    if name == "Slider":
        return "option" if proto.options else "number"
    return KIND_OF_PROTO.get(name, "option")


def bound_widgets(at: AppTest) -> dict[str, object]:
    """URL key -> the AppTest widget bound to it, from the rendered protos; and the choice widgets
    ui.by_id keeps in the URL itself (by option id), which it lists in the session (ui/choice.py)."""
    by_id = at.session_state[REGISTRY] if REGISTRY in at.session_state else {}
    found = {}
    for node in _nodes(at):
        proto = getattr(node, "proto", None)
        if (
            proto is not None
            and "query_param_key" in proto.DESCRIPTOR.fields_by_name
            and proto.HasField("query_param_key")
        ):
            found[proto.query_param_key] = node
        elif proto is not None and getattr(node, "key", None) in by_id:
            found[node.key] = node
    return found


def _url_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _edges(widget) -> tuple | None:
    """(low, high): the URL values of the widget's two ends; unbounded numbers end at ±10**18."""
    kind, proto = _kind(widget.proto), widget.proto
    if kind == "number":
        lo, hi = getattr(widget, "min", None), getattr(widget, "max", None)
        return (
            str(-(10**18)) if lo is None else _url_number(lo),
            str(10**18) if hi is None else _url_number(hi),
        )
    if kind == "bool":
        return "false", "true"
    if kind == "option" and type(proto).__name__ == "MultiSelect":
        return list(proto.options[:1]), list(proto.options)
    if kind == "option" and proto.options:
        return proto.options[0], proto.options[-1]
    return None


@functools.cache
def discovered(page: str) -> tuple[tuple[dict, dict[str, str], dict[str, tuple]], ...]:
    """Per mode of the page: (its URL values, {bound key: kind}, {key: (low, high)}) of a clean run."""
    out = []
    for mode in [{}, *MODES.get(page, [])]:
        at = run_page(page, mode)
        assert not at.exception, (page, mode, [e.value for e in at.exception])
        widgets = {k: w for k, w in bound_widgets(at).items() if k not in mode}
        edges = {k: e for k, w in widgets.items() if (e := _edges(w)) is not None}
        out.append((mode, {k: _kind(w.proto) for k, w in widgets.items()}, edges))
    return tuple(out)


def _in_domain(widget) -> str:
    """'' when the widget's value is one it can take, else why not."""
    kind = _kind(widget.proto)
    value = getattr(widget, "value", None)  # an expander has none: open or folded, nothing to range-check
    if kind == "number":
        values = value if isinstance(value, (list, tuple)) else [value]
        lo, hi = getattr(widget, "min", None), getattr(widget, "max", None)
        for v in values:
            if v is not None and (
                not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi)
            ):
                return f"{v!r} outside [{lo}, {hi}]"
    elif type(widget.proto).__name__ in ("Selectbox", "Radio"):
        try:
            _ = widget.index
        except ValueError:
            return f"{value!r} is not an option"
    elif type(widget.proto).__name__ == "MultiSelect":
        extra = set(widget.values) - set(widget.options)
        return f"{sorted(extra)} are not options" if extra else ""
    elif kind == "text" and widget.proto.max_chars and len(value or "") > widget.proto.max_chars:
        return f"{len(value)} characters, over max_chars={widget.proto.max_chars}"
    return ""


def _raw_html(at: AppTest) -> list[str]:
    """Everything the page sent as HTML the browser will not escape."""
    out = [h.proto.body for h in at.get("html")]
    out += [
        m.value
        for m in _nodes(at)
        if type(getattr(m, "proto", None)).__name__ == "Markdown" and m.proto.allow_html
    ]
    return out


def check(at: AppTest, where: str) -> None:
    """The house promise for a tampered link: defaults or a message, never a crash."""
    assert not at.exception, f"{where}: {[e.value for e in at.exception]}"
    assert at.title, f"{where}: the page drew no title"
    wrong = {k: why for k, w in bound_widgets(at).items() if (why := _in_domain(w))}
    assert not wrong, f"{where}: widget values outside their domain {wrong}"
    leaks = [h[:200] for h in _raw_html(at) if "onerror" in h]
    assert not leaks, f"{where}: URL markup reached raw HTML {leaks}"


def hostile_round(keys: dict[str, str], r: int) -> dict:
    """Round ``r``: key i gets hostile value (i + r) of its kind."""
    params = dict(EXTRA_KEYS)
    for i, (key, kind) in enumerate(sorted(keys.items())):
        values = HOSTILE[kind]
        params[key] = values[(i + r) % len(values)]
    return params


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 40 else f"{text[:30]}…({len(text)} chars)"


def _run_and_check(page: str, params: dict, what: str) -> None:
    at = run_page(page, params)
    check(at, f"{page} {what}: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))


def tamper(page: str, rounds: range) -> None:
    for mode, keys, _ in discovered(page):
        for r in rounds:
            _run_and_check(page, {**hostile_round(keys, r), **mode}, f"round {r}")


# -- 1. discovery reaches every bound key the page names ----------------------------------------------
def _static_keys(page: str) -> set[str]:
    """Bound keys the page source names as constants, or the prefix of an f-string key + '*'."""
    tree = ast.parse((ROOT / "labs" / f"{page}.py").read_text(encoding="utf-8"))
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BINDABLE:
            key = {k.arg: k.value for k in node.keywords if k.arg}.get("key")
            if isinstance(key, ast.Constant):
                keys.add(key.value)
            elif isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant):
                keys.add(key.values[0].value + "*")
    return keys


@pytest.mark.parametrize("page", PAGES)
def test_discovery_reaches_every_bound_key_of_the_page(page):
    seen = set().union(*(keys for _, keys, _ in discovered(page)))
    missing = {
        k
        for k in _static_keys(page)
        if not (any(s.startswith(k[:-1]) for s in seen) if k.endswith("*") else k in seen)
    }
    assert not missing, f"{page}: bound keys never drawn in any MODES run: {sorted(missing)}"


# -- 2. hostile values on every bound key -----------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_hostile_values_leave_the_page_working(page):
    tamper(page, range(ROUNDS_SHORT))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_hostile_value_on_every_key(page):
    tamper(page, range(ROUNDS_SHORT, ROUNDS_ALL))


# -- 3. every control at its end at once: valid values, the heaviest (or emptiest) view -------------
@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.parametrize("page", PAGES)
def test_every_control_at_its_end_at_once(page, end):
    for mode, _, edges in discovered(page):
        params = {k: pair[end == "high"] for k, pair in edges.items()}
        _run_and_check(page, {**params, **mode}, f"all {end}")


# -- 4. the hook itself, and the hole it found --------------------------------------------------------
def test_apptest_seeds_bound_widgets_from_the_url():
    """The premise of this file: a URL value reaches a bound widget here as it does in a browser."""
    assert run_page("collectives", {"co_n": "7"}).slider(key="co_n").value == 7
    assert run_page("collectives", {"co_n": "700"}).slider(key="co_n").value == 4  # out of range


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e309", "9" * 400, ["3", "inf"]])
def test_an_infinite_number_in_the_url_falls_back_to_the_default(value):
    """Streamlit 1.67's integer number_input raised OverflowError on ?key=inf (ui.setup drops it)."""
    at = run_page("gpu_occupancy", {"go_m": value, "go_n": "512"})
    check(at, f"go_m={_short(value)}")
    assert at.number_input(key="go_m").value == 4096 and at.number_input(key="go_n").value == 512
    assert "go_m" not in at.query_params and at.query_params["go_n"] in ("512", ["512"])


# -- 5. step keys and the app-wide flags ----------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_step_keys_at_zero_and_far_past_the_end(page):
    steps = [k for _, keys, _ in discovered(page) for k in keys if k.endswith("_step")]
    for value in ("0", "1000000000", "-1"):
        if steps:
            _run_and_check(page, dict.fromkeys(steps, value), "steps")


FLAGS = [
    ({"lang": "xx", "present": "2", "controls": "abc"}, False),
    ({"lang": ["zh", "en"], "present": ["0", "1"], "controls": ["1", "0"]}, True),
    ({"lang": MARKUP, "present": LONG, "controls": ""}, False),
    ({"lang": "", "present": "inf", "controls": "nan"}, False),
    ({"lang": "ZH", "present": "TRUE", "controls": MARKUP}, False),
    ({"present": "yes", "controls": "0"}, True),
]


def _presenting(at: AppTest) -> bool:
    return any("font-size: 22px" in h.proto.body for h in at.get("html"))


@pytest.mark.parametrize(("flags", "presenting"), FLAGS)
def test_app_wide_flags_through_the_app(flags, presenting):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in flags.items():
        at.query_params[key] = value
    at.run()
    check(at, f"app.py {flags.keys()}")
    assert at.title[0].value == "AI System Lab"  # only lang=zh is Chinese
    assert _presenting(at) is presenting


@pytest.mark.parametrize(("flags", "presenting"), FLAGS)
def test_app_wide_flags_on_a_stepper_page(flags, presenting):
    at = run_page("collectives", {**flags, "co_step": "1000000000"})
    check(at, f"collectives {flags.keys()}")
    assert _presenting(at) is presenting


def test_the_checks_catch_a_leak_and_a_crash():
    """`check` is the oracle of every test above: it must fail on raw URL HTML and on an exception."""
    leak = AppTest.from_string("import streamlit as st\nst.title('t')\nst.html(st.query_params['x'])")
    leak.query_params["x"] = MARKUP
    with pytest.raises(AssertionError, match="raw HTML"):
        check(leak.run(), "leak")
    crash = AppTest.from_string("import streamlit as st\nst.title('t')\nint(st.query_params['x'])")
    crash.query_params["x"] = "abc"
    with pytest.raises(AssertionError, match="invalid literal"):
        check(crash.run(), "crash")
