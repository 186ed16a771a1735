"""AppTests for the four compression-lab pages: smoke, one interaction, one bad input."""

from __future__ import annotations

from apptables import tables
from streamlit.testing.v1 import AppTest


def _metric(at, label_part: str) -> str:
    return next(m.value for m in at.metric if label_part in m.label)


def test_quantization_page(lab):
    at = lab("quantization")
    assert _metric(at, "grid") == "[-128, 127]"
    assert int(_metric(at, "integer − float requant")) <= 1
    before = _metric(at, "scale s")
    at.selectbox(key="qz_obs").set_value("percentile").run()
    assert not at.exception and _metric(at, "scale s") != before
    at.selectbox(key="qz_dtype").set_value("quint4").run()
    assert not at.exception and _metric(at, "grid") == "[0, 15]"
    at.toggle(key="qz_pc").set_value(True).run()  # fc1 weights: 32 output channels
    assert not at.exception and "…" in _metric(at, "scale s")
    at.selectbox(key="qz_obs").set_value("entropy").run()
    assert not at.exception
    at.selectbox(key="qz_tensor_mlp").set_value("activations:fc2").run()
    assert at.error and "per-channel ranges are for weights" in at.error[0].value
    at.toggle(key="qz_pc").set_value(False).run()
    assert not at.error and any("lowest point wins" in c.value for c in at.caption)  # the KL curve
    at.selectbox(key="qz_tensor_mlp").set_value("synthetic:zeros").run()  # degenerate tensor
    assert not at.exception and not at.error
    assert any("every value is 0" in w.value for w in at.warning)
    assert _metric(at, "scale s") == "1.19209e-07"  # float32 eps, as torch
    at.selectbox(key="qz_dtype").set_value("quint8").run()
    at.toggle(key="qz_rr").set_value(True).run()  # symmetric quint8 + reduce_range
    assert at.error and "reduce_range" in at.error[0].value


def test_pruning_page(lab):
    at = lab("pruning")
    assert _metric(at, "sparsity") == "50.0%"
    at.slider(key="pr_amount").set_value(0.8).run()
    assert not at.exception and _metric(at, "sparsity") == "80.0%"
    before = _metric(at, "relative error")
    at.slider(key="pr_rank_mlp_fc1").set_value(2).run()
    assert not at.exception and _metric(at, "relative error") != before
    cap = lambda: next(c.value for c in at.caption if "this step's fine-tuning" in c.value)
    first = cap()
    at.slider(key="pr_step").set_value(8).run()
    assert not at.exception and cap() != first
    at.selectbox(key="pr_method").set_value("ln_structured").run()
    at.radio(key="pr_norm").set_value(1).run()
    # round(0.8 * 32) = 26 hidden units of fc1 go: 26 * 64 of the 2,048 + 320 weights = 70.3 %
    assert not at.exception and _metric(at, "sparsity") == "70.3%"
    at.slider(key="pr_amount").set_value(1.0).run()
    assert at.error and "leaves none" in at.error[0].value
    assert not at.exception  # the gradual and low-rank sections still draw


def test_distillation_page(lab):
    at = lab("distillation")
    before = _metric(at, "student with KD")
    at.slider(key="kd_t").set_value(1.0).run()
    assert not at.exception and _metric(at, "student with KD") != before
    at.slider(key="kd_seeds").set_value(1).run()
    assert not at.exception
    at.number_input(key="kd_index").set_value(359).run()
    assert not at.exception


def test_distillation_page_bad_image_index():
    at = AppTest.from_string(
        "import streamlit as st, ui\nfrom engine.compression import distill\n"
        "with ui.guard():\n    distill.softened(0, 9999)\n",
        default_timeout=60,
    )
    at.run()
    assert at.error and "image index 9999" in at.error[0].value


def test_compression_pareto_page(lab):
    at = lab("compression_pareto")
    assert len(at.table) == 1 and len(tables(at)[0]) >= 12 and not at.dataframe  # no data grid's code
    before = tables(at)[0].iloc[0, 3]
    at.selectbox(key="cp_hw").set_value("A100 40GB SXM").run()
    assert not at.exception and tables(at)[0].iloc[0, 3] != before
    at.selectbox(key="cp_model").set_value("cnn").run()
    assert not at.exception
