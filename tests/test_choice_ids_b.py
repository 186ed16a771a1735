"""Issue 14 on the pages converted to ``ui.by_id`` (ui/choice.py): a choice widget's URL value is its
option's short id, a hand-written link with the id opens it, and links made before, which held the
label the page drew then, still open the same option.

Oracle for the old labels: the literal strings the pages drew before the change (``git show
HEAD:labs/PAGE.py``: ``ui.both(name)`` gave ``"English · 中文"`` from the catalog; ``t_(name)`` or a
plain dict gave the English label). They are written out here, not computed, so a later change to a
label or to the catalog cannot quietly change which old links this file keeps working.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_lab

TIMEOUT = 120  # seconds per run: far above a page's cold run, so only a hang trips it

# (page, widget kind, URL key, a non-default id, the old link's label for it, the default id, other URL keys)
CASES = [
    (
        "lightweight_models",
        "selectbox",
        "lw_block",
        "standard",
        "Standard conv · 标准卷积",
        "depthwise_separable",
        {},
    ),
    ("memory_planning", "radio", "mp_source", "random", "Random intervals", "graph", {}),
    ("memory_planning", "selectbox", "mp_strategy", "naive", "naive (no reuse)", "greedy_by_size", {}),
    ("model_conversion", "radio", "mc_tracer", "export", "torch.export", "fx", {}),
    ("pipeline_parallel", "radio", "pp_measure", "time", "roofline time · Roofline 时间", "flops", {}),
    ("pipeline_parallel", "radio", "pp_schedule", "interleaved", "interleaved 1F1B", "1f1b", {}),
    (
        "pruning",
        "selectbox",
        "pr_method",
        "ln_structured",
        "structured (L2 channels) · 结构化（按 L2 剪通道）",
        "l1_unstructured",
        {},
    ),
    ("pruning", "radio", "pr_norm", 1, "L1", 2, {}),
    ("roofline", "selectbox", "rf_hw", "Custom", "Custom · 自定义", "A100 40GB SXM", {}),
    ("scheduling", "radio", "sc_mode", "op_by_op", "op by op (eager) · 逐算子（动态图）", "whole_graph", {}),
    (
        "scheduling",
        "selectbox",
        "sc_place",
        "halves",
        "halves on accel0 / accel1 · 前后两半分到 accel0 / accel1",
        "heavy_on_accel",
        {},
    ),
    ("serving", "radio", "sv_part", "kv", "KV cache · KV 缓存显存", "batching", {}),
    ("serving", "selectbox", "sv_served", "llm", "LLM-size model · 大模型规模的模型", "graph", {}),
    ("serving_system", "radio", "ssy_part", "ensemble", "Ensemble · 模型组合（Ensemble）", "batcher", {}),
    (
        "serving_system",
        "radio",
        "ssy_rollout",
        "swap",
        "Swap versions · 直接替换版本",
        "canary",
        {"ssy_part": "rollout"},
    ),
    (
        "strategy_propagation",
        "selectbox",
        "sp_preset",
        "scores",
        "R = reduce_sum((X·Wq)·(X·Wk)ᵀ)",
        "matmul_chain",
        {},
    ),
    ("strategy_propagation", "selectbox", "sp_leaf0", "auto", "auto (propagated)", "(0, -1)", {}),
    ("systolic_array", "radio", "sa_df", "ws", "weight stationary", "os", {}),
    ("systolic_array", "radio", "sa_mode", "conv", "Conv layer (im2col)", "gemm", {}),
]
# links made in Chinese: the label the page drew then in Chinese, with the link's lang
LEGACY_ZH = [
    ("pipeline_parallel", "radio", "pp_schedule", "interleaved", "交错式 1F1B"),
    ("memory_planning", "radio", "mp_source", "random", "随机区间"),
    ("systolic_array", "radio", "sa_df", "ws", "权重驻留"),
    ("scheduling", "selectbox", "sc_place", "halves", "前后两半分到 accel0 / accel1"),
]
IDS = [f"{page}-{key}" for page, _, key, *_ in CASES]


def run(page: str, **params) -> AppTest:
    return open_lab(page, timeout=TIMEOUT, **params)


def widget(at: AppTest, kind: str, key: str):
    return getattr(at, kind)(key=key)


def url(at: AppTest, key: str):
    return at.query_params.get(key)


@pytest.mark.parametrize(("page", "kind", "key", "id_", "old", "default", "extra"), CASES, ids=IDS)
def test_the_id_in_the_url_opens_its_option_drawn_in_the_pages_language(
    page, kind, key, id_, old, default, extra
):
    at = run(page, **extra, **{key: str(id_)}, lang="zh")
    w = widget(at, kind, key)
    assert w.value == id_
    assert url(at, key) == str(id_)
    shown = list(w.options)
    assert not any(" · " in label for label in shown), shown  # one language, not "English · 中文"
    if " · " in old:  # the Chinese half of the both-language label drawn before, not the English one
        english, chinese = old.split(" · ", 1)
        assert chinese in shown and english not in shown, shown


@pytest.mark.parametrize(("page", "kind", "key", "id_", "old", "default", "extra"), CASES, ids=IDS)
def test_an_old_link_with_the_label_opens_the_same_option_and_the_url_becomes_the_id(
    page, kind, key, id_, old, default, extra
):
    assert old != str(id_)  # else this case would prove nothing
    at = run(page, **extra, **{key: old})
    w = widget(at, kind, key)
    assert w.value == id_
    assert url(at, key) == str(id_)
    assert old.split(" · ", 1)[0] in w.options  # drawn as before, in English only


@pytest.mark.parametrize(("page", "kind", "key", "id_", "old"), LEGACY_ZH, ids=[c[2] for c in LEGACY_ZH])
def test_an_old_link_made_in_chinese_opens_the_same_option(page, kind, key, id_, old):
    at = run(page, **{key: old}, lang="zh")
    assert widget(at, kind, key).value == id_
    assert url(at, key) == str(id_)


@pytest.mark.parametrize(("page", "kind", "key", "id_", "old", "default", "extra"), CASES, ids=IDS)
def test_a_bogus_value_opens_the_default_and_a_change_writes_the_id(
    page, kind, key, id_, old, default, extra
):
    at = run(page, **extra, **{key: "bogus"})
    w = widget(at, kind, key)
    assert w.value == default
    assert key not in at.query_params  # the default leaves the URL
    w.set_value(id_).run()
    assert not at.exception, [e.value for e in at.exception]
    assert widget(at, kind, key).value == id_
    assert url(at, key) == str(id_)
