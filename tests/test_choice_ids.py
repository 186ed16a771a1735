"""ui.by_id: a choice widget's URL value is its option's id (ui/choice.py), old label links still open.

The mechanism on a small script first, then every converted key of every lab page from one case table
(issue 14): ``?KEY=<id>`` opens that option, drawn in the page's language only; a change writes the id
and the default leaves the URL; the label an older link carries, in the language it was made in, opens
the same option and the URL then says it by id; a value no option has opens the default.

Oracles: Streamlit's own AppTest (the URL is the run's query string, as a browser sends it) and the
labels the app drew before. For the small script, ``ui.both`` of the English label read from the
catalog (``"reverse · 反向"``). For the pages, per key, the literal label the page wrote into the URL
before the change (read off ``git show HEAD:labs/PAGE.py``: ``ui.both(X)`` gave ``"X · <its
Chinese>"``; ``t_(X)``, ``format_func=ui.t`` or a plain dict gave the label of the page's language).
They are written out, not computed, so a later change to a label or to the catalog cannot quietly
change which old links keep working.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_lab
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


# --- every converted key of every lab page ---------------------------------------------------------------

PAGE_TIMEOUT = 300  # seconds per run: far above a page's cold run here, so only a hang trips it


class Case(NamedTuple):
    page: str
    key: str
    kind: str  # the AppTest element kind of the widget
    id_: Any  # a non-default option id (a list of them for a multiselect)
    default: Any  # the option the page opens on
    old: dict[str, Any]  # link language ("en", "zh") -> the label an old link made in it carries
    extra: dict[str, str] = {}  # other URL keys the widget needs to be drawn


# the label control_flow and dynamic_static both drew for this example: "name · English · 中文"
LOOP_UNTIL = "loop_until · a while loop whose trip count depends on the data · 循环次数依赖数据的 while 循环"
CASES = [
    Case(
        "ai_compilers",
        "ac_level",
        "button_group",
        "tensor",
        "graph",
        {"en": "Tensor and loop IR · 张量与循环 IR"},
    ),
    Case("ai_compilers", "ac_tvm_tile_m", "selectbox", 0, 16, {"en": "none · 无"}),
    Case("collectives", "co_algo", "radio", "tree", "ring", {"zh": "树形 (tree)"}),
    Case(
        "control_flow",
        "cf_example",
        "selectbox",
        "loop_until",
        "branch_on_value",
        {"en": LOOP_UNTIL},
    ),
    Case("control_flow", "cf_input", "select_slider", 2, 0, {"en": "×0.2"}),
    Case(
        "conv_algorithms",
        "ca_kind",
        "selectbox",
        "grouped",
        "standard",
        {"en": "grouped · 分组卷积 (2 groups)"},
    ),
    Case(
        "custom_autograd",
        "ca_example",
        "selectbox",
        "mistake_scalar",
        "swish",
        {"en": "mistake_scalar · mistake: a gradient of the wrong shape · 错误：梯度形状不对"},
    ),
    Case("data_parallel_designs", "dpd_mode", "radio", "async", "sync", {"zh": "异步"}),
    Case("data_parallel_designs", "dpd_design", "radio", "ps", "dp", {"en": "parameter server"}),
    Case("davinci_core", "dv_mode", "radio", "conv", "matmul", {"en": "Convolution (img2col)"}),
    Case("device_mapping", "dmap_kind", "radio", "pp", "tp", {"en": "pipeline groups"}),
    Case("dist_memory", "dm_recompute", "selectbox", "selective", "none", {"zh": "选择性重计算"}),
    Case(
        "dynamic_static",
        "ds_fn",
        "selectbox",
        "loop_until",
        "branch_on_value",
        {"en": LOOP_UNTIL},
    ),
    Case("edge_cloud", "ec_obj", "radio", "energy", "latency", {"en": "energy · 能耗"}),
    Case("execution_models", "em_pattern", "radio", "runs of 64", "runs of 32", {"en": "runs of 64 lanes"}),
    Case(
        "framework_landscape",
        "fl_concepts",
        "multiselect",
        ["auto_parallel"],
        ["define_by_run", "static_graph", "unification", "autodiff", "auto_parallel", "compiler"],
        {"en": ["Automatic parallelism · 自动并行"]},
    ),
    Case(
        "framework_landscape",
        "fl_component",
        "selectbox",
        "parallel",
        "autodiff",
        {"en": "Automatic parallelism · 自动并行"},
    ),
    Case("fsdp", "fs_policy", "selectbox", "none", "block", {"en": "no wrapping (one unit)"}),
    Case("fusion", "fu_dir", "radio", "LR", "TB", {"en": "left → right"}),
    # the page drew every tile but the default (0, "untiled") as str(tile), so an old link's "8" is the id
    # itself: the id-link test is its old-link test
    Case("gemm_tiling", "gt_tile", "selectbox", 8, 0, {}),
    Case("gpu_occupancy", "go_cc", "selectbox", "9.0", "7.0", {"en": "9.0 — Hopper (H100)"}),
    Case(
        "gpu_occupancy",
        "go_arch",
        "selectbox",
        "gfx90a",
        "gfx942",
        {"en": "gfx90a — CDNA2 (MI250X)"},
        {"go_vendor": "AMD"},
    ),
    Case(
        "inference_engine",
        "ie_policy",
        "radio",
        "measured",
        "cost_model",
        {"en": "measured (autotune: timed fastest) · 实测（自动调优：计时最快）"},
    ),
    Case("layout_explorer", "le_endian", "radio", "big", "little", {"en": "big · 大端"}),
    Case("llm_analyzer", "la_phase", "radio", "decode", "prefill", {"en": "decode · 解码"}),
    Case("lowering", "lo_opt", "radio", 3, 2, {"en": "-O3"}),
    Case(
        "lightweight_models",
        "lw_block",
        "selectbox",
        "standard",
        "depthwise_separable",
        {"en": "Standard conv · 标准卷积"},
    ),
    Case(
        "memory_planning",
        "mp_source",
        "radio",
        "random",
        "graph",
        {"en": "Random intervals", "zh": "随机区间"},
    ),
    Case(
        "memory_planning", "mp_strategy", "selectbox", "naive", "greedy_by_size", {"en": "naive (no reuse)"}
    ),
    Case("model_conversion", "mc_tracer", "radio", "export", "fx", {"en": "torch.export"}),
    Case(
        "pipeline_parallel", "pp_measure", "radio", "time", "flops", {"en": "roofline time · Roofline 时间"}
    ),
    Case(
        "pipeline_parallel",
        "pp_schedule",
        "radio",
        "interleaved",
        "1f1b",
        {"en": "interleaved 1F1B", "zh": "交错式 1F1B"},
    ),
    Case(
        "pruning",
        "pr_method",
        "selectbox",
        "ln_structured",
        "l1_unstructured",
        {"en": "structured (L2 channels) · 结构化（按 L2 剪通道）"},
    ),
    Case("pruning", "pr_norm", "radio", 1, 2, {"en": "L1"}),
    Case("roofline", "rf_hw", "selectbox", "Custom", "A100 40GB SXM", {"en": "Custom · 自定义"}),
    Case(
        "scheduling",
        "sc_mode",
        "radio",
        "op_by_op",
        "whole_graph",
        {"en": "op by op (eager) · 逐算子（动态图）"},
    ),
    Case(
        "scheduling",
        "sc_place",
        "selectbox",
        "halves",
        "heavy_on_accel",
        {
            "en": "halves on accel0 / accel1 · 前后两半分到 accel0 / accel1",
            "zh": "前后两半分到 accel0 / accel1",
        },
    ),
    Case("serving", "sv_part", "radio", "kv", "batching", {"en": "KV cache · KV 缓存显存"}),
    Case("serving", "sv_served", "selectbox", "llm", "graph", {"en": "LLM-size model · 大模型规模的模型"}),
    Case(
        "serving_system",
        "ssy_part",
        "radio",
        "ensemble",
        "batcher",
        {"en": "Ensemble · 模型组合（Ensemble）"},
    ),
    Case(
        "serving_system",
        "ssy_rollout",
        "radio",
        "swap",
        "canary",
        {"en": "Swap versions · 直接替换版本"},
        {"ssy_part": "rollout"},
    ),
    Case(
        "strategy_propagation",
        "sp_preset",
        "selectbox",
        "scores",
        "matmul_chain",
        {"en": "R = reduce_sum((X·Wq)·(X·Wk)ᵀ)"},
    ),
    Case("strategy_propagation", "sp_leaf0", "selectbox", "auto", "(0, -1)", {"en": "auto (propagated)"}),
    Case("systolic_array", "sa_df", "radio", "ws", "os", {"en": "weight stationary", "zh": "权重驻留"}),
    Case("systolic_array", "sa_mode", "radio", "conv", "gemm", {"en": "Conv layer (im2col)"}),
]
CASE_IDS = [f"{c.page}-{c.key}" for c in CASES]
# every old link of every case, with the language it was made in
OLD_LINKS = [(c, lang) for c in CASES for lang in c.old]
OLD_LINK_IDS = [f"{c.page}-{c.key}-{lang}" for c, lang in OLD_LINKS]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _open(case: Case, value, lang: str = "en") -> AppTest:
    """``case.page`` with ``?KEY=value`` (and ``case.extra``), in ``lang``; it ran without an exception."""
    if case.key.startswith("ac_tvm_"):
        pytest.importorskip("tvm")  # the page draws its TVM controls only where TVM is installed
    query = {**case.extra, case.key: value} | ({"lang": lang} if lang != "en" else {})
    return open_lab(case.page, timeout=PAGE_TIMEOUT, **query)


def _widget(at: AppTest, case: Case):
    return getattr(at, case.kind)(key=case.key)


def _in_url(id_) -> str | list[str]:
    """What a link says for an option id (a multiselect: a list of them, one repeated key each)."""
    return [str(v) for v in id_] if isinstance(id_, list) else str(id_)


def _assert_url_says(at: AppTest, case: Case, id_) -> None:
    """The URL holds exactly the id: one plain string for a one-choice widget, the ids for a multiselect."""
    got = at.query_params.get(case.key)
    if isinstance(id_, list):  # AppTest keeps one repeated key as a plain string
        got = list(got) if isinstance(got, (list, tuple)) else [got]
    assert got == _in_url(id_), (case.key, got)


def _assert_ran(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _labels(old) -> list[str]:
    return old if isinstance(old, list) else [old]


def _halves(label: str) -> tuple[str, str] | None:
    """An old both-language label's English and Chinese label: ``"English · 中文"`` -> (English, 中文);
    ``"name · English · 中文"`` (a named example) -> ("name · English", "name · 中文"); None for a label
    in one language."""
    parts = label.split(" · ")
    if len(parts) == 1:
        return None
    *name, english, chinese = parts
    assert CJK.search(chinese) and not CJK.search(english), f"not an 'English · 中文' label: {label!r}"
    return " · ".join([*name, english]), " · ".join([*name, chinese])


def _drawn_in(label: str, lang: str) -> str:
    """The part of an old link's label that the page draws in ``lang``."""
    halves = _halves(label)
    return label if halves is None else halves[lang == "zh"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_page_opens_a_link_by_its_id_and_writes_the_id_on_a_change(case):
    key, id_, default = case.key, case.id_, case.default
    assert id_ != default, "a case that proves nothing"

    # AppTest's set_value draws the label with the page's format_func outside the page's run, where
    # the page's language is not known: change the widget on the English page
    at = _open(case, _in_url(id_))
    assert _widget(at, case).value == id_  # a hand-written link opens its option
    _assert_url_says(at, case, id_)
    english = list(_widget(at, case).options)
    _widget(at, case).set_value(default).run()
    _assert_ran(at)
    assert _widget(at, case).value == default and key not in at.query_params  # the default drops it
    _widget(at, case).set_value(id_).run()
    _assert_ran(at)
    assert _widget(at, case).value == id_
    _assert_url_says(at, case, id_)  # a change writes the id, not its label

    at = _open(case, _in_url(id_), "zh")
    assert _widget(at, case).value == id_  # the same link opens the same option on the Chinese page
    _assert_url_says(at, case, id_)
    chinese = list(_widget(at, case).options)
    # drawn in the page's language only, never as "English · 中文": an option's English and Chinese
    # labels have as many " · " (a "name · description" label keeps its one, in both)
    assert len(english) == len(chinese)
    for en, zh in zip(english, chinese):
        assert en.count(" · ") == zh.count(" · "), (en, zh)
    for label in (label for old in case.old.values() for label in _labels(old)):
        halves = _halves(label)
        if halves:  # a both-language label drawn before: now each half on its own page, and only there
            en, zh = halves
            assert en in english and en not in chinese, (en, english, chinese)
            assert zh in chinese and zh not in english, (zh, english, chinese)


@pytest.mark.parametrize(("case", "lang"), OLD_LINKS, ids=OLD_LINK_IDS)
def test_every_page_opens_an_old_label_link_and_rewrites_it_to_the_id(case, lang):
    old = case.old[lang]
    assert old != _in_url(case.id_), "a case that proves nothing: the old link is the id link"
    at = _open(case, old, lang)
    assert _widget(at, case).value == case.id_  # a link made before still opens its option
    _assert_url_says(at, case, case.id_)  # and the URL now says it by id
    shown = list(_widget(at, case).options)
    for label in _labels(old):
        assert _drawn_in(label, lang) in shown, (label, shown)  # drawn as before, in the link's language


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_page_opens_the_default_for_an_unknown_value(case):
    key, id_, default = case.key, case.id_, case.default
    bogus = ["bogus"] if case.kind == "multiselect" else "bogus"
    for lang in ("zh", "en"):
        at = _open(case, bogus, lang)
        assert _widget(at, case).value == default, lang  # an unknown value opens the default
        assert key not in at.query_params, lang  # and the default leaves the URL
    _widget(at, case).set_value(id_).run()  # on the English page, as above
    _assert_ran(at)
    assert _widget(at, case).value == id_
    _assert_url_says(at, case, id_)  # a change from there writes the id


def test_labels_are_drawn_in_the_page_language_only():
    """The Chinese page shows Chinese labels, no ``"English · 中文"`` pair; the English one English."""
    zh = open_lab("edge_cloud", timeout=PAGE_TIMEOUT, lang="zh")
    assert zh.radio(key="ec_obj").options == ["时延", "能耗"]
    assert open_lab("edge_cloud", timeout=PAGE_TIMEOUT).radio(key="ec_obj").options == ["latency", "energy"]
    zh = open_lab("layout_explorer", timeout=PAGE_TIMEOUT, lang="zh", le_endian="big")
    assert zh.radio(key="le_endian").options == ["小端", "大端"] and zh.radio(key="le_endian").value == "big"


def test_the_graph_picker_keeps_an_example_name_and_your_graph_in_the_page_language():
    """ui/workspace.pick: "Your graph" (the default, never in the URL) in the page's language; an
    example by its name."""
    at = open_lab("inference_engine", timeout=PAGE_TIMEOUT, lang="zh")
    box = at.selectbox(key="ie_graph")
    assert box.options[0] == "你的计算图" and box.value == "Your graph" and "ie_graph" not in at.query_params
    at = open_lab("inference_engine", timeout=PAGE_TIMEOUT, ie_graph="conv_bn_relu")
    assert (
        at.selectbox(key="ie_graph").value == "conv_bn_relu" and at.query_params["ie_graph"] == "conv_bn_relu"
    )
    at.selectbox(key="ie_graph").set_value("Your graph").run()
    assert "ie_graph" not in at.query_params
