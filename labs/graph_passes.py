"""Graph passes: build a pass pipeline, step through it, measure what each pass buys."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler.lab import pass_trace
from engine.compiler.passes import PASSES, optimize
from ui import workspace as ws
from ui.graph_source import export_buttons
from ui.heavy import run_heavy
from viz.compiler import ledger_figure, ledger_rows, pass_figure

ui.setup("graph_passes",
         "Graph passes",
         "Choose passes and their order, then step through the pipeline: what changed, why, and what "
         "it bought.")
t_ = ui.t
EXAMPLES = (*(f"preset:{n}" for n in engine.preset_names()), "zoo:resnet18")
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


@st.cache_resource(max_entries=32, show_spinner=False)   # graphs are immutable: share, don't copy
def trace(g: str, passes: tuple[str, ...], hw: str):
    spec = HW[hw]
    device = (spec.peak_fp32 or spec.peak_flops, spec.bandwidth)
    return tuple(pass_trace(ws.graph_of(ws.parse_g(g))[0], list(passes), device))


def optimised_onnx(g: str, passes: tuple[str, ...]) -> bytes:     # keyed on the pipeline, not the device
    return engine.to_onnx(optimize(ws.graph_of(ws.parse_g(g))[0], list(passes))[0])


def ort_rows(g: str) -> list[dict]:
    from engine.interop.ort_compare import compare_with_ort
    from engine.interop.torch_zoo import zoo_onnx
    from ui.uploads import STORE
    source = ws.parse_g(g)       # onnxruntime reads the model as it came: the upload, the torch export
    model = {"onnx": STORE.get, "zoo": zoo_onnx}.get(source.kind)
    return compare_with_ort(model(source.payload) if model else ws.graph_of(source)[0]).rows()


def use_example() -> None:
    """The teaching example becomes your graph (the link's g), and the lab shows your graph."""
    ws.set_current(ws.Source("program", EXAMPLE))
    st.session_state["gp_model"] = ws.YOURS


@ui.section   # the graph and its pass pipeline, and all they drive: a change reruns only this section
def passes_view() -> None:
    with ui.controls():
        c = st.columns([2, 4, 2])
        choice = ws.choose("gp_model", EXAMPLES, label="Model", slot=c[0])
        passes = c[1].multiselect(t_("Passes, in order"), list(PASSES), DEFAULT,
                                  key="gp_passes", bind="query-params",
                                  help=t_("The order matters: try fusion before simplify."))
        hw = c[2].selectbox(t_("Device for the time estimate"), list(HW), index=1,
                            key="gp_hw", bind="query-params")
        st.button(t_("Teaching example as your graph: x * 1, a double transpose, a repeated expression"),
                  key="gp_example", on_click=use_example, icon=":material/school:")

    steps, g = None, choice.source.g if choice is not None else ""
    with ui.guard("Cannot run the pipeline"):
        steps = trace(g, tuple(passes), hw) if g else None
    if not steps:
        return

    def after_fig(k: int):  # the step's result, also a frame of the run's GIF
        return fit(pass_figure(steps[k], "after", t_("After (new or changed nodes ringed)"),
                               cache_key=(g, tuple(passes), hw, k, "after")))

    def show_pass(k: int) -> None:
        step = steps[k]
        name = step.data["pass_name"]
        st.subheader(f"{k}. {ui.t_message(PASSES[name].title) if name else t_('Input graph')}")
        left, right = st.columns(2)
        titles = (t_("Before (removed nodes ringed)"),
                  t_("After (new or changed nodes ringed)"))
        key = (g, tuple(passes), hw, k)      # the step, without hashing its graph
        fig_b = pass_figure(step, "before", titles[0], cache_key=(*key, "before"))
        with left:
            ui.show_figure(fit(fig_b), "gp_before",
                           t_("The graph this pass receives; ringed nodes disappear."))
        with right:
            ui.show_figure(after_fig(k), "gp_after",
                           t_("The graph it returns; rectangles are fused kernels once fusion has run."),
                           data=[n.name for n in step.graph.nodes])
        st.markdown(t_("**The pass's own log**"))
        st.code("\n".join(map(ui.t_message, step.log.split("\n"))) if step.log else "—", language=None)
        if k + 1 < len(steps):       # predict the next step before seeing it
            nxt = steps[k + 1]
            family = PASSES[nxt.data["pass_name"]].family
            what, value = (("kernels", nxt.data["ledger"].kernels) if family == "fusion"
                           else ("ops", nxt.data["ledger"].ops))
            ui.checkpoint(f"gp_ck_{family}_{hash(g)}_{k}",
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
    ui.stepper("gp_step", len(steps), render=show_pass, frame=after_fig)

    st.markdown(t_("**The optimised graph** (after the whole pipeline): download it or open it in "
                   "Netron"))
    export_buttons(steps[-1].graph, "gp_opt", onnx=lambda: ui.cached_resource(
        run_heavy(optimised_onnx, "onnx"))(g, tuple(passes)))

    def ort_view() -> None:     # onnxruntime's session on a new graph: run only while it is open
        with ui.guard("onnxruntime comparison failed"):
            ort = ui.cached(run_heavy(ort_rows, "onnx"))(g)
            st.dataframe(ort, hide_index=True, width="stretch", column_config=headers(ort))
            st.caption(t_("onnxruntime saved its optimised graph "
                          "(SessionOptions.optimized_model_filepath) and we read it back with onnx: "
                          "node counts and the fused op types it created."))
    ui.folded(t_("Side by side with onnxruntime (basic / extended)"), "gp_ort_box", ort_view, in_url=True)


passes_view()

ui.lesson("graph_passes")
