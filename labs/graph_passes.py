"""Graph passes: build a pass pipeline, step through it, measure what each pass buys."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler.lab import pass_trace
from engine.compiler.passes import PASSES
from engine.core import budget
from viz.compiler import ledger_figure, ledger_rows, pass_figure

ui.setup("graph_passes",
         "Graph passes",
         "Choose passes and their order, then step through the pipeline: what changed, why, and what "
         "it bought.")
t_ = ui.t
ZOO = "resnet18 (torch → ONNX)"
PROGRAM = ui.both("program")       # one label in both languages: the URL keeps it
UPLOAD = ui.both("ONNX upload")
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


fit, shared = ui.figure_view()
ledger_figure, pass_figure = shared(ledger_figure), shared(pass_figure)


def headers(rows: list[dict]) -> dict[str, str]:
    """Column headers in the page's language (st.dataframe column_config); the data stays English."""
    return {column: t_(column) for column in (rows[0] if rows else ())}


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
        program = st.text_area(t_("Program (try x * 1, double transposes, repeated expressions)"),
                               EXAMPLE, height=230, key="gp_program", bind="query-params",
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
        st.subheader(f"{k}. {ui.t_message(PASSES[name].title) if name else t_('Input graph')}")
        left, right = st.columns(2)
        titles = (t_("Before (removed nodes ringed)"),
                  t_("After (new or changed nodes ringed)"))
        key = (model, tuple(passes), hw, hash(program), k)      # the step, without hashing its graph
        fig_b, fig_a = (pass_figure(step, side, title, cache_key=(*key, side))
                        for side, title in zip(("before", "after"), titles))
        with left:
            ui.show_figure(fit(fig_b), "gp_before",
                           t_("The graph this pass receives; ringed nodes disappear."))
        with right:
            ui.show_figure(fit(fig_a), "gp_after",
                           t_("The graph it returns; rectangles are fused kernels once fusion has run."),
                           data=[n.name for n in step.graph.nodes])
        st.markdown(t_("**The pass's own log**"))
        st.code("\n".join(map(ui.t_message, step.log.split("\n"))) if step.log else "—", language=None)
        if k + 1 < len(steps):       # predict the next step before seeing it
            nxt = steps[k + 1]
            family = PASSES[nxt.data["pass_name"]].family
            what, value = (("kernels", nxt.data["ledger"].kernels) if family == "fusion"
                           else ("ops", nxt.data["ledger"].ops))
            ui.checkpoint(f"gp_ck_{family}_{model}_{k}",
                          t_("Next pass: **{pass_name}**. How many {what} will the graph have after it "
                             "(now {now})?",
                             pass_name=nxt.data['pass_name'], what=t_(what),
                             now=getattr(step.data['ledger'], what)),
                          value, t_("Step on (→) to see why."), rel_tol=0.0)

        rows = ledger_rows(steps)[:k + 1]       # up to this step: the next row is the checkpoint's answer
        st.markdown(t_("**Cost ledger, steps 0–{k}** (bytes in float32; time = Σ over kernels of "
                       "max(FLOPs/peak, bytes/bandwidth), the roofline)", k=k))
        st.dataframe(rows, hide_index=True, width="stretch", column_config=headers(rows))
        title = t_("What each pass buys (on {hw}, % of the input graph)", hw=hw)
        ui.show_figure(fit(ledger_figure(rows, title)), "gp_ledger",
                       t_("Fusion cuts kernels and bytes moved; folding and simplification cut ops; "
                          "layout adds conversions."),
                       rows=rows)
    ui.stepper("gp_step", len(steps), render=show_pass)

    with st.expander(t_("Side by side with onnxruntime (basic / extended)"), expanded=True):
        with ui.guard("onnxruntime comparison failed"):
            ort = ui.cached(ort_rows)(model, program)
            st.dataframe(ort, hide_index=True, width="stretch", column_config=headers(ort))
            st.caption(t_("onnxruntime saved its optimised graph "
                          "(SessionOptions.optimized_model_filepath) and we read it back with onnx: "
                          "node counts and the fused op types it created."))

ui.lesson("graph_passes")
