"""AppTests for the serving-system lab: the simulated server's parts, a real run, Chinese, bad input."""

from __future__ import annotations

import pytest


def _metric(at, label_part: str) -> str:
    return next(m.value for m in at.metric if label_part in m.label)


def _table(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_default_render_batcher_and_an_interaction(lab):
    at = lab("serving_system", strict=True)
    assert len(at.get("plotly_chart")) == 2  # the dashboard and the batch Gantt
    assert _metric(at, "Answered") == "4,000 / 4,000"
    assert "Why now" in at.info[0].value
    assert _table(at, "mean batch").set_index("model").loc["model", "mean batch"] > 1
    at.slider(key="ssy_batch").set_value(1).run()
    assert not at.exception and not at.error
    assert _table(at, "mean batch").set_index("model").loc["model", "mean batch"] == 1
    mmc = _table(at, "P(wait) Erlang C").iloc[0]  # M/M/1 at load 0.7: P(wait) = ρ
    assert mmc["P(wait) Erlang C"] == pytest.approx(0.7) and mmc["P(wait) simulated"] == pytest.approx(
        0.7, abs=0.05
    )
    at.multiselect(key="ssy_pref").set_value([4, 16]).run()  # 16 > max batch 1: left out, said so
    assert any("left out" in c.value for c in at.caption)


def test_ensemble_rollouts_and_stacks(lab):
    at = lab("serving_system")
    at.radio(key="ssy_part").set_value("ensemble").run()
    assert not at.exception and not at.error
    models = list(_table(at, "mean batch")["model"])
    assert models == ["preprocess", "model", "postprocess"]
    at.radio(key="ssy_part").set_value("rollout").run()
    assert "Rollback: 0." in " ".join(c.value for c in at.caption)  # 8% errors against a 5% SLO
    at.slider(key="ssy_bad").set_value(0.0).run()
    assert "Rollback: none" in " ".join(c.value for c in at.caption)
    at.radio(key="ssy_rollout").set_value("swap").run()
    assert " 0 found no ready version" not in " ".join(c.value for c in at.caption)
    at.radio(key="ssy_rollout").set_value("overlap").run()
    assert "0 requests failed with a model error, 0 found no ready version" in " ".join(
        c.value for c in at.caption
    )
    at.radio(key="ssy_part").set_value("stacks").run()
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_serve_it_for_real(lab):
    at = lab("serving_system")
    at.radio(key="ssy_part").set_value("real").run()
    assert at.info and "127.0.0.1" in at.info[0].value
    at.slider(key="ssy_nreq").set_value(150).run()
    at.button(key="ssy_go").click().run()
    assert not at.exception and not at.error
    assert _metric(at, "Answered") == "150 / 150"
    assert (at.success or at.warning) and "measured / simulated" in (at.success or at.warning)[0].value


def test_chinese_and_bad_input(lab):
    at = lab("serving_system", lang="zh")
    assert at.title[0].value == "推理服务系统" and not at.exception
    assert "为什么是现在" in at.info[0].value
    at = lab("serving_system", g="preset:autodiff_example")  # no weights: nothing to serve
    assert not at.exception and at.error and "no parameters" in at.error[0].value
    at.radio(key="ssy_part").set_value("real").run()
    at.button(key="ssy_go").click().run()
    assert not at.exception and at.error and "one input" in at.error[0].value


def test_model_repository_is_drawn_only_when_opened(lab):
    """The repository, config.pbtxt and /metrics listing sit in a ui.folded: a move draws none of it,
    opening it draws the repository's config of the scenario shown (its dynamic batcher)."""
    at = lab("serving_system", strict=True)
    assert "Model repository and config.pbtxt" in [e.label for e in at.expander]
    assert not any("max_batch_size" in c.value for c in at.code)
    tables = len(at.dataframe)
    at.session_state["ssy_repo_box"] = True  # a click on its expander
    at.run()
    assert not at.exception and len(at.dataframe) == tables + 1
    config = next(c.value for c in at.code if "max_batch_size" in c.value)
    assert "dynamic_batching" in config
