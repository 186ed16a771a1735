"""AppTests of the compiler lab pages: graph_passes, fusion, memory_planning."""

from __future__ import annotations

from apptables import tables


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def reveal(at) -> None:
    """Press the checkpoint's "Reveal the answer" (what it asks is hidden until then)."""
    next(b for b in at.button if b.label == "Reveal the answer").click().run()


def test_graph_passes_steps_and_pipeline_choice(lab):
    at = lab("graph_passes")
    assert len(at.get("plotly_chart")) >= 3
    first_log = at.code[0].value
    at.button(key="gp_step_next").click().run()
    assert not at.exception
    assert at.code[0].value != first_log
    at.multiselect(key="gp_passes").set_value(["simplify", "fusion"]).run()
    assert not at.exception
    at.slider(key="gp_step").set_value(3).run()
    assert "fusion:" in at.code[0].value


def test_graph_passes_bad_program_shows_error(lab):
    # programs come through the workspace graph (the link's g) now, not a program box on the page
    at = lab("graph_passes", g="x = input([2, 3])\ny = relu(x, z)")
    assert not at.exception and at.error
    assert len(at.get("plotly_chart")) >= 3  # and the page goes on with the default graph


TVM_CONV2D_FUSE = """# TVM's own test (test_pass_fuse_ops.py::test_conv2d_fuse)
x = input([1, 16, 8, 8])
x1 = x + 1.0
y0 = conv2d(x1, param([16, 16, 3, 3]), pad=1)
y1 = 1.0 + y0
y = y0 + y1
z2 = conv2d(y, param([16, 16, 1, 1]))
z3 = conv2d(y, param([16, 16, 3, 3]), pad=1)
z = z2 + z3
"""


def test_fusion_page_counts_kernels_of_tvm_example(lab):
    at = lab("fusion", g=TVM_CONV2D_FUSE)  # the page's teaching example, as the workspace graph
    assert metrics(at)["kernels after fusion"] == "?"  # hidden until the checkpoint is answered
    assert not any("kernel" in d.value.columns for d in at.dataframe)  # and so is the kernel table
    reveal(at)
    assert metrics(at)["kernels after fusion"] == "4"
    assert len(at.dataframe[0].value) == 4  # TVM's expected four segments
    at.selectbox(key="fu_model").set_value("conv_bn_relu").run()
    reveal(at)  # a new graph is a new question
    before = len(at.dataframe[0].value)
    at.toggle(key="fu_simplify").set_value(True).run()
    reveal(at)
    assert not at.exception
    assert metrics(at)["ops"] == "2" and before == len(at.dataframe[0].value) == 1
    at = lab("fusion", g="y = relu(")
    assert at.error


def test_memory_planning_strategies_and_bad_intervals(lab):
    at = lab("memory_planning")
    m = metrics(at)
    assert m["lower bound (bytes)"] == "?"  # hidden until the checkpoint is answered
    ratios = dict(zip(tables(at)[0]["strategy"], tables(at)[0]["arena / lower bound"]))
    assert ratios["greedy by size (Pisarchyk & Lee)"] == 1.0
    at.selectbox(key="mp_strategy").set_value("naive").run()
    assert metrics(at)["arena (bytes)"] == metrics(at)["naive: no reuse (bytes)"]
    at.radio(key="mp_source").set_value("custom").run()
    at.selectbox(key="mp_strategy").set_value("greedy_by_size").run()
    assert metrics(at)["arena (bytes)"] == "96"  # TFLite's ComplexRecords total
    at.text_area(key="mp_text").set_value("8 0 1\n8 5 2").run()
    assert not at.exception and at.error


def test_arena_figure_draws_each_buffer_at_its_offset():
    from engine.compiler.lab import parse_buffers
    from engine.compiler.memory_plan import plan_buffers
    from viz.compiler import arena_figure, lifetime_timeline

    plan = plan_buffers(parse_buffers("32 0 1\n32 1 4\n8 2 5\n16 3 5\n8 4 5\n64 5 7\n8 6 8\n8 7 8\n16 8 9"))
    fig = arena_figure(plan)
    ys = [y for tr in fig.data if tr.fill == "toself" for y in tr.y if y is not None]
    for off, size in zip(plan.offsets, plan.sizes):
        assert off in ys and off + size in ys
    assert max(ys) == plan.arena == 96
    tl = lifetime_timeline(plan)
    assert [(e.start, e.end) for e in tl.events][:2] == [(0, 2), (1, 5)]  # inclusive last op -> end+1


def test_uploaded_onnx_model_goes_through_the_pipeline():
    # AppTest cannot drive a file_uploader; an upload is engine.from_onnx(bytes) -> the same trace
    import numpy as np

    import engine
    from engine.compiler.lab import pass_trace as pipeline_trace

    data = engine.to_onnx(engine.preset("conv_bn_relu"))
    g = engine.from_onnx(data)
    steps = list(pipeline_trace(g, ["simplify", "fusion"]))
    assert steps[-1].data["ledger"].ops == 2 and steps[-1].data["ledger"].kernels == 1
    before, after = engine.run(g), engine.run(steps[-1].graph)
    for o in g.outputs:
        np.testing.assert_allclose(after[o], before[o], rtol=1e-4, atol=1e-5)


def test_arena_figure_draws_its_words_in_the_view_language():
    from engine.compiler.lab import parse_buffers
    from engine.compiler.memory_plan import plan_buffers
    from ui.i18n import Translator
    from viz.compiler import arena_figure

    plan = plan_buffers(parse_buffers("32 0 1\n64 1 2"))
    fig = arena_figure(plan, tr=Translator("zh"))
    assert [tr.name for tr in fig.data if tr.name] == ["内存池 96 B", "下界 96 B"]
    assert fig.layout.yaxis.title.text == "内存池中的偏移（字节）"
