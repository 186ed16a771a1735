"""Graph passes: build a pass pipeline, step through it, measure what each pass buys."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.core import budget
from engine.compiler.lab import pass_trace
from engine.compiler.passes import PASSES
from viz.compiler import ZH, ledger_figure, ledger_rows, pass_figures

ui.setup("graph_passes", "Graph passes", "图优化 Pass",
         "Choose passes and their order, then step through the pipeline: what changed, why, and "
         "what it bought.", "选择 Pass 及其顺序，再逐步执行流水线：改了什么、为什么、换来了什么。")
t_ = ui.t
ZOO = "resnet18 (torch → ONNX)"
PROGRAM = "program · 程序"
UPLOAD = "ONNX upload · 上传"
EXAMPLE = """x = input([1, 8, 16, 16])
W = param([8, 8, 3, 3])
g = param([8], init="uniform")
b = param([8])
m = param([8])
v = param([8], init="uniform")
c = conv2d(x, W, pad=1)
n = batchnorm(c, g, b, m, v)
y = relu(n) * 1.0
t = transpose(transpose(y, perm=[0, 2, 3, 1]), perm=[0, 3, 1, 2])
z = t + relu(n) * 1.0
"""
DEFAULT = ["constant_folding", "simplify", "cse", "dce", "fusion", "layout"]
HW = engine.hardware_presets()


LEDGER_ZH = {"step": "步骤", "pass": "Pass", "ops": "算子数", "Δops": "Δ算子", "kernels": "内核数",
             "Δkernels": "Δ内核", "bytes moved": "访存字节", "Δbytes": "Δ字节", "peak bytes": "峰值字节",
             "Δpeak": "Δ峰值", "time µs": "时间 µs", "Δtime µs": "Δ时间 µs"}
ORT_ZH = {"side": "一方", "level": "优化级别", "nodes": "节点数", "fused": "融合出的算子"}


fit, shared = ui.figure_view(ZH)
ledger_figure = shared(ledger_figure)


def before_figure(step, title_before: str, title_after: str):
    return pass_figures(step, title_before, title_after)[0]


def after_figure(step, title_before: str, title_after: str):
    return pass_figures(step, title_before, title_after)[1]


before_figure, after_figure = shared(before_figure, words=False), shared(after_figure, words=False)


def labels(table: dict[str, str]) -> dict[str, str] | None:
    """Column headers in Chinese (st.dataframe column_config) when the page is in Chinese."""
    return table if ui.lang() == "zh" else None


def load(model: str, program: str | bytes = ""):
    if model == UPLOAD:
        return engine.from_onnx(program)
    if model == PROGRAM:
        return engine.parse_program(program, title="program")
    if model == ZOO:
        from engine.interop.torch_zoo import zoo_graph
        return zoo_graph("resnet18")
    return engine.preset(model)


@st.cache_resource(max_entries=32, show_spinner=False)   # graphs are immutable: share, don't copy
def trace(model: str, passes: tuple[str, ...], hw: str, program: str | bytes = ""):
    spec = HW[hw]
    device = (spec.peak_fp32 or spec.peak_flops, spec.bandwidth)
    return tuple(pass_trace(load(model, program), list(passes), device))


def ort_rows(model: str, program: str | bytes = "") -> list[dict]:
    from engine.interop.ort_compare import compare_with_ort
    if model == UPLOAD:
        return compare_with_ort(program).rows()
    if model == PROGRAM:
        return compare_with_ort(load(model, program)).rows()
    if model == ZOO:
        from engine.interop.torch_zoo import zoo_onnx
        return compare_with_ort(zoo_onnx("resnet18")).rows()
    return compare_with_ort(engine.preset(model)).rows()


with ui.controls():
    c = st.columns([2, 4, 2])
    model = c[0].selectbox(t_("Model", "模型"), [*engine.preset_names(), ZOO, PROGRAM, UPLOAD],
                           index=3,
                           key="gp_model", bind="query-params")
    passes = c[1].multiselect(t_("Passes, in order", "Pass（按顺序）"), list(PASSES), DEFAULT,
                              key="gp_passes", bind="query-params",
                              help=t_("The order matters: try fusion before simplify.",
                                      "顺序很重要：试试把融合放在化简之前。"))
    hw = c[2].selectbox(t_("Device for the time estimate", "用于估时的设备"), list(HW), index=1,
                        key="gp_hw", bind="query-params")
    program = ""
    if model == PROGRAM:
        program = st.text_area(t_("Program (try x * 1, double transposes, repeated expressions)",
                                  "程序（试试 x * 1、两次转置、重复的表达式）"), EXAMPLE, height=230,
                               key="gp_program", bind="query-params",
                               max_chars=budget.MAX_PROGRAM_CHARS)
    elif model == UPLOAD:
        up = st.file_uploader(t_("ONNX model", "ONNX 模型"), type=["onnx"], key="gp_upload")
        program = up.getvalue() if up is not None else b""

steps = None
with ui.guard(t_("Cannot run the pipeline", "无法运行流水线")):
    if model == UPLOAD and not program:
        st.info(t_("Upload an .onnx file to optimise it.", "上传一个 .onnx 文件来优化它。"))
    else:
        steps = trace(model, tuple(passes), hw, program)

if steps:
    def show_pass(k: int) -> None:
        step = steps[k]
        name = step.data["pass_name"]
        title = PASSES[name].title if name else "Input graph"
        st.subheader(f"{k}. {t_(title, ZH.get(title, '输入图'))}")
        left, right = st.columns(2)
        titles = (t_("Before (removed nodes ringed)", "之前（将被删除的节点加框）"),
                  t_("After (new or changed nodes ringed)", "之后（新增或改变的节点加框）"))
        key = (model, tuple(passes), hw, hash(program), k)      # the step, without hashing its graph
        fig_b, fig_a = before_figure(step, *titles, cache_key=key), after_figure(step, *titles, cache_key=key)
        with left:
            ui.show_figure(fit(fig_b, words=False), "gp_before",
                           t_("The graph this pass receives; ringed nodes disappear.",
                              "该 Pass 接收的图；加框的节点将被删除。"))
        with right:
            ui.show_figure(fit(fig_a, words=False), "gp_after",
                           t_("The graph it returns; rectangles are fused kernels once fusion has run.",
                              "该 Pass 输出的图；融合之后，矩形框表示融合后的内核。"),
                           data=[n.name for n in step.graph.nodes])
        st.markdown(t_("**The pass's own log**", "**Pass 自己的日志**"))
        st.code(step.log or "—", language=None)
        if k + 1 < len(steps):       # predict the next step before seeing it
            nxt = steps[k + 1]
            family = PASSES[nxt.data["pass_name"]].family
            what, value = (("kernels", nxt.data["ledger"].kernels) if family == "fusion"
                           else ("ops", nxt.data["ledger"].ops))
            ui.checkpoint(f"gp_ck_{family}_{model}_{k}",
                          t_(f"Next pass: **{nxt.data['pass_name']}**. How many {what} will the graph "
                             f"have after it (now {getattr(step.data['ledger'], what)})?",
                             f"下一个 Pass：**{nxt.data['pass_name']}**。执行后图中有多少个"
                             f"{'内核' if what == 'kernels' else '算子'}（现在是 "
                             f"{getattr(step.data['ledger'], what)}）？"),
                          value, t_("Step on (→) to see why.", "点下一步 (→) 查看原因。"), rel_tol=0.0)

        rows = ledger_rows(steps)[:k + 1]       # up to this step: the next row is the checkpoint's answer
        st.markdown(t_(f"**Cost ledger, steps 0–{k}** (bytes in float32; time = Σ over kernels of max(FLOPs/peak, "
                       "bytes/bandwidth), the roofline)",
                       f"**代价账本，第 0–{k} 步**（字节按 float32；时间 = 各内核 max(FLOPs/峰值, 字节/带宽) 之和，即 Roofline）"))
        st.dataframe(rows, hide_index=True, width="stretch", column_config=labels(LEDGER_ZH))
        ui.show_figure(fit(ledger_figure(rows, t_(f"What each pass buys (on {hw}, % of the input graph)",
                                                  f"每个 Pass 带来的收益（{hw}，相对输入图的 %）"))), "gp_ledger",
                       t_("Fusion cuts kernels and bytes moved; folding and simplification cut ops; "
                          "layout adds conversions.", "融合减少内核数与访存字节；折叠与化简减少算子；布局转换会增加转换算子。"),
                       rows=rows)
    ui.stepper("gp_step", len(steps), render=show_pass)

    with st.expander(t_("Side by side with onnxruntime (basic / extended)",
                        "与 onnxruntime 对照（basic / extended）"), expanded=True):
        with ui.guard(t_("onnxruntime comparison failed", "onnxruntime 对照失败")):
            st.dataframe(ui.cached(ort_rows)(model, program), hide_index=True, width="stretch",
                         column_config=labels(ORT_ZH))
            st.caption(t_("onnxruntime saved its optimised graph (SessionOptions."
                          "optimized_model_filepath) and we read it back with onnx: node counts and "
                          "the fused op types it created.",
                          "onnxruntime 保存优化后的图（SessionOptions.optimized_model_filepath），"
                          "再用 onnx 读回：节点数以及它生成的融合算子类型。"))

ui.lesson("graph_passes")
