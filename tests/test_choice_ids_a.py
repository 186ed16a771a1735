"""Short URL ids on the labs' choice widgets (ui.by_id, issue 14), page by page: ``?KEY=<id>`` opens that
option, the label an older link carries opens it too, a change writes the id, the default leaves the URL.

Oracles: Streamlit's AppTest (the URL is the run's query string, as a browser sends it) and, per key, the
literal label the page wrote into the URL before the change (read off ``git show HEAD:labs/PAGE.py``:
``ui.both(X)`` is ``"X · <its Chinese>"``; a ``format_func=ui.t`` label was the Chinese one in Chinese).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_lab

TIMEOUT = 300  # seconds per run: far above a page's cold run here, so only a hang trips it

# (page, key, AppTest element kind, a non-default id, its old URL label, the default, other URL values)
CASES = [
    ("ai_compilers", "ac_level", "button_group", "tensor", "Tensor and loop IR · 张量与循环 IR", "graph", {}),
    ("ai_compilers", "ac_tvm_tile_m", "selectbox", 0, "none · 无", 16, {}),
    ("collectives", "co_algo", "radio", "tree", "树形 (tree)", "ring", {"lang": "zh"}),
    (
        "control_flow",
        "cf_example",
        "selectbox",
        "loop_until",
        "loop_until · a while loop whose trip count depends on the data · 循环次数依赖数据的 while 循环",
        "branch_on_value",
        {},
    ),
    ("control_flow", "cf_input", "select_slider", 2, "×0.2", 0, {}),
    ("conv_algorithms", "ca_kind", "selectbox", "grouped", "grouped · 分组卷积 (2 groups)", "standard", {}),
    (
        "custom_autograd",
        "ca_example",
        "selectbox",
        "mistake_scalar",
        "mistake_scalar · mistake: a gradient of the wrong shape · 错误：梯度形状不对",
        "swish",
        {},
    ),
    ("data_parallel_designs", "dpd_mode", "radio", "async", "异步", "sync", {"lang": "zh"}),
    ("data_parallel_designs", "dpd_design", "radio", "ps", "parameter server", "dp", {}),
    ("davinci_core", "dv_mode", "radio", "conv", "Convolution (img2col)", "matmul", {}),
    ("device_mapping", "dmap_kind", "radio", "pp", "pipeline groups", "tp", {}),
    ("dist_memory", "dm_recompute", "selectbox", "selective", "选择性重计算", "none", {"lang": "zh"}),
    (
        "dynamic_static",
        "ds_fn",
        "selectbox",
        "loop_until",
        "loop_until · a while loop whose trip count depends on the data · 循环次数依赖数据的 while 循环",
        "branch_on_value",
        {},
    ),
    ("edge_cloud", "ec_obj", "radio", "energy", "energy · 能耗", "latency", {}),
    ("execution_models", "em_pattern", "radio", "runs of 64", "runs of 64 lanes", "runs of 32", {}),
    (
        "framework_landscape",
        "fl_concepts",
        "multiselect",
        ["auto_parallel"],
        ["Automatic parallelism · 自动并行"],
        ["define_by_run", "static_graph", "unification", "autodiff", "auto_parallel", "compiler"],
        {},
    ),
    (
        "framework_landscape",
        "fl_component",
        "selectbox",
        "parallel",
        "Automatic parallelism · 自动并行",
        "autodiff",
        {},
    ),
    ("fsdp", "fs_policy", "selectbox", "none", "no wrapping (one unit)", "block", {}),
    ("fusion", "fu_dir", "radio", "LR", "left → right", "TB", {}),
    ("gemm_tiling", "gt_tile", "selectbox", 8, "8", 0, {}),
    ("gpu_occupancy", "go_cc", "selectbox", "9.0", "9.0 — Hopper (H100)", "7.0", {}),
    (
        "gpu_occupancy",
        "go_arch",
        "selectbox",
        "gfx90a",
        "gfx90a — CDNA2 (MI250X)",
        "gfx942",
        {"go_vendor": "AMD"},
    ),
    (
        "inference_engine",
        "ie_policy",
        "radio",
        "measured",
        "measured (autotune: timed fastest) · 实测（自动调优：计时最快）",
        "cost_model",
        {},
    ),
    ("layout_explorer", "le_endian", "radio", "big", "big · 大端", "little", {}),
    ("llm_analyzer", "la_phase", "radio", "decode", "decode · 解码", "prefill", {}),
    ("lowering", "lo_opt", "radio", 3, "-O3", 2, {}),
]


def _run(page: str, params: dict) -> AppTest:
    return open_lab(page, timeout=TIMEOUT, **params)


def _url(value) -> list[str]:
    """The URL text(s) of an option id or a list of them."""
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _in_url(at: AppTest, key: str) -> list[str]:
    value = at.query_params.get(key, [])
    return list(value) if isinstance(value, (list, tuple)) else [value]


@pytest.mark.parametrize(
    ("page", "key", "kind", "id_", "old", "default", "extra"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_the_url_keeps_the_option_id(page, key, kind, id_, old, default, extra):
    if key.startswith("ac_tvm_"):
        pytest.importorskip("tvm")  # the page draws its TVM controls only where TVM is installed
    assert id_ != default, "a case that proves nothing"

    # AppTest's set_value draws the label with the page's format_func outside the page's run, where
    # the page's language is not known: change the widget on the English page
    english = {k: v for k, v in extra.items() if k != "lang"}
    at = _run(page, {**english, key: _url(id_) if kind == "multiselect" else str(id_)})
    widget = getattr(at, kind)(key=key)
    assert widget.value == id_  # a hand-written link opens its option
    assert _in_url(at, key) == _url(id_)
    widget.set_value(default).run()
    assert getattr(at, kind)(key=key).value == default and key not in at.query_params  # the default drops it
    getattr(at, kind)(key=key).set_value(id_).run()
    assert _in_url(at, key) == _url(id_)  # a change writes the id, not its label

    at = _run(page, {**extra, key: old})
    assert getattr(at, kind)(key=key).value == id_  # a link made before still opens its option
    assert _in_url(at, key) == _url(id_)  # and the URL now says it by id

    at = _run(page, {**extra, key: ["bogus"] if kind == "multiselect" else "bogus"})
    assert getattr(at, kind)(key=key).value == default  # an unknown value opens the default
    assert key not in at.query_params


def test_labels_are_drawn_in_the_page_language_only():
    """The Chinese page shows Chinese labels, no ``"English · 中文"`` pair; the English one English."""
    zh = _run("edge_cloud", {"lang": "zh"})
    assert zh.radio(key="ec_obj").options == ["时延", "能耗"]
    assert _run("edge_cloud", {}).radio(key="ec_obj").options == ["latency", "energy"]
    zh = _run("layout_explorer", {"lang": "zh", "le_endian": "big"})
    assert zh.radio(key="le_endian").options == ["小端", "大端"] and zh.radio(key="le_endian").value == "big"


def test_the_graph_picker_keeps_an_example_name_and_your_graph_in_the_page_language():
    """ui/workspace.pick: "Your graph" (the default, never in the URL) in the page's language; an
    example by its name."""
    at = _run("inference_engine", {"lang": "zh"})
    box = at.selectbox(key="ie_graph")
    assert box.options[0] == "你的计算图" and box.value == "Your graph" and "ie_graph" not in at.query_params
    at = _run("inference_engine", {"ie_graph": "conv_bn_relu"})
    assert (
        at.selectbox(key="ie_graph").value == "conv_bn_relu" and at.query_params["ie_graph"] == "conv_bn_relu"
    )
    at.selectbox(key="ie_graph").set_value("Your graph").run()
    assert "ie_graph" not in at.query_params
