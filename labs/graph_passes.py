"""Graph passes: build a pass pipeline, step through it, measure what each pass buys."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.core import budget
from engine.compiler.lab import pass_trace
from engine.compiler.passes import PASSES
from viz.compiler import ZH, ledger_figure, ledger_rows, pass_figures

ui.setup("graph_passes",
         "Graph passes",
         "Choose passes and their order, then step through the pipeline: what changed, why, and what "
         "it bought.")
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
    model = c[0].selectbox(t_("Model"), [*engine.preset_names(), ZOO, PROGRAM, UPLOAD],
                           index=3,
                           key="gp_model", bind="query-params")
    passes = c[1].multiselect(t_("Passes, in order"), list(PASSES), DEFAULT,
                              key="gp_passes", bind="query-params",
                              help=t_("The order matters: try fusion before simplify."))
    hw = c[2].selectbox(t_("Device for the time estimate"), list(HW), index=1,
                        key="gp_hw", bind="query-params")
    program = ""
    if model == PROGRAM:
        program = st.text_area(t_("Program (try x * 1, double transposes, repeated expressions)"), EXAMPLE, height=230,
                               key="gp_program", bind="query-params",
                               max_chars=budget.MAX_PROGRAM_CHARS)
    elif model == UPLOAD:
        up = st.file_uploader(t_("ONNX model"), type=["onnx"], key="gp_upload")
        program = up.getvalue() if up is not None else b""

steps = None
with ui.guard("Cannot run the pipeline"):
    if model == UPLOAD and not program:
        st.info(t_("Upload an .onnx file to optimise it."))
    else:
        steps = trace(model, tuple(passes), hw, program)

if steps:
    def show_pass(k: int) -> None:
        step = steps[k]
        name = step.data["pass_name"]
        title = PASSES[name].title if name else "Input graph"
        st.subheader(f"{k}. {t_(title)}")
        left, right = st.columns(2)
        titles = (t_("Before (removed nodes ringed)"),
                  t_("After (new or changed nodes ringed)"))
        key = (model, tuple(passes), hw, hash(program), k)      # the step, without hashing its graph
        fig_b, fig_a = before_figure(step, *titles, cache_key=key), after_figure(step, *titles, cache_key=key)
        with left:
            ui.show_figure(fit(fig_b, words=False), "gp_before",
                           t_("The graph this pass receives; ringed nodes disappear."))
        with right:
            ui.show_figure(fit(fig_a, words=False), "gp_after",
                           t_("The graph it returns; rectangles are fused kernels once fusion has run."),
                           data=[n.name for n in step.graph.nodes])
        st.markdown(t_("**The pass's own log**"))
        st.code(step.log or "—", language=None)
        if k + 1 < len(steps):       # predict the next step before seeing it
            nxt = steps[k + 1]
            family = PASSES[nxt.data["pass_name"]].family
            what, value = (("kernels", nxt.data["ledger"].kernels) if family == "fusion"
                           else ("ops", nxt.data["ledger"].ops))
            ui.checkpoint(f"gp_ck_{family}_{model}_{k}",
                          t_("Next pass: **{pass_name}**. How many {what} will the graph have after it "
                             "(now {now})?",
                             pass_name=nxt.data['pass_name'], what=t_(what), now=getattr(step.data['ledger'], what)),
                          value, t_("Step on (→) to see why."), rel_tol=0.0)

        rows = ledger_rows(steps)[:k + 1]       # up to this step: the next row is the checkpoint's answer
        st.markdown(t_("**Cost ledger, steps 0–{k}** (bytes in float32; time = Σ over kernels of "
                       "max(FLOPs/peak, bytes/bandwidth), the roofline)", k=k))
        st.dataframe(rows, hide_index=True, width="stretch", column_config=labels(LEDGER_ZH))
        ui.show_figure(fit(ledger_figure(rows, t_("What each pass buys (on {hw}, % of the input graph)", hw=hw))), "gp_ledger",
                       t_("Fusion cuts kernels and bytes moved; folding and simplification cut ops; "
                          "layout adds conversions."),
                       rows=rows)
    ui.stepper("gp_step", len(steps), render=show_pass)

    with st.expander(t_("Side by side with onnxruntime (basic / extended)"), expanded=True):
        with ui.guard("onnxruntime comparison failed"):
            st.dataframe(ui.cached(ort_rows)(model, program), hide_index=True, width="stretch",
                         column_config=labels(ORT_ZH))
            st.caption(t_("onnxruntime saved its optimised graph "
                          "(SessionOptions.optimized_model_filepath) and we read it back with onnx: "
                          "node counts and the fused op types it created."))

ui.lesson("graph_passes")
