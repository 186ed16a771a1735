"""AppTests for the inference-systems labs: serving & batching, cloud vs edge."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def _metric(at, label_part: str) -> str:
    return next(m.value for m in at.metric if label_part in m.label)


def test_serving_batching_default_interaction_and_bad_input(lab):
    at = lab("serving")
    assert len(at.get("plotly_chart")) == 4 and not at.error
    table = at.dataframe[0].value
    assert list(table["policy"]) == ["none", "static", "dynamic"]
    # Little's law on the page's own runs (the dynamic run is stable at the default load)
    dyn = table.set_index("policy").loc["dynamic"]
    assert abs(dyn["little_L"] / (dyn["offered λ (req/s)"] * dyn["mean_latency (ms)"] / 1e3) - 1) < 0.1
    before = dyn["mean batch"]
    at.slider(key="sv_batch").set_value(32).run()
    assert not at.exception
    assert at.dataframe[0].value.set_index("policy").loc["dynamic", "mean batch"] != before
    assert "Batch 0" in at.info[0].value
    at.slider(key="sv_step").set_value(3).run()
    assert not at.exception and "Batch 2" in at.info[0].value  # the slider counts from 1
    at.selectbox(key="sv_served").set_value("llm").run()  # the LLM-size model (default: your graph)
    at.number_input(key="sv_params_batching").set_value(0.0).run()
    assert at.error and "parameters = 0" in at.error[0].value


def test_serving_llm_and_kv_parts(lab):
    at = lab("serving")
    at.radio(key="sv_part").set_value("llm").run()
    assert not at.exception and not at.error
    assert not at.dataframe  # the sweep table would answer the checkpoint: hidden until it is answered
    next(b for b in at.button if b.label == "Reveal the answer").click().run()
    rows = at.dataframe[0].value
    busiest = rows[rows["rate (req/s)"] == rows["rate (req/s)"].max()].set_index("policy")
    assert busiest.loc["continuous", "tokens/s"] > busiest.loc["static", "tokens/s"]
    at.radio(key="sv_part").set_value("kv").run()
    assert not at.exception
    assert _metric(at, "KV bytes per token") == "512 KiB"  # Llama-2-7B, fp16
    before = _metric(at, "Sequences (contiguous)")
    at.selectbox(key="sv_model").set_value("Llama-2-70B").run()
    assert at.error and "GiB" in at.error[0].value  # 138 GB of fp16 weights
    at.selectbox(key="sv_model").set_value("Mistral-7B").run()
    assert _metric(at, "KV bytes per token") == "128 KiB"  # GQA: 8 KV heads
    assert _metric(at, "Sequences (contiguous)") != before


def test_edge_cloud_default_interaction_and_bad_input(lab):
    at = lab("edge_cloud", ec_model="AlexNet")  # the default model is your graph
    assert len(at.get("plotly_chart")) == 2 and not at.error
    assert _metric(at, "Best split") == "all device"  # AlexNet, phone CPU, LTE
    at.selectbox(key="ec_net").set_value("Wi-Fi").run()
    at.toggle(key="ec_jpeg").set_value(True).run()
    assert not at.exception and _metric(at, "Best split") == "all cloud"
    at.selectbox(key="ec_model").set_value("custom").run()
    at.number_input(key="ec_params").set_value(1e6).run()  # a trillion parameters
    assert at.error and "no card" in at.error[0].value
    at.selectbox(key="ec_model").set_value("AlexNet").run()
    at.number_input(key="ec_up_wifi").set_value(-5.0).run()
    assert at.error and "uplink" in at.error[0].value


def test_edge_cloud_pipeline_links_through_the_app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("labs/edge_cloud.py").run()
    assert not at.exception
    linked = [p.proto.page for p in at.get("page_link")]
    assert {"graph_builder", "graph_passes", "quantization"} <= set(linked)
