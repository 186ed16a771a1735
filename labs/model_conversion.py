"""Model conversion: torch -> our IR directly (torch.fx / torch.export) and through ONNX, side by side."""
from __future__ import annotations

import streamlit as st

import ui
from engine.interop import conversion as cv
from engine.interop.conversion_models import describe, model_names
from engine.interop.opset_conversion import opset_table
from ui.heavy import cached_heavy
from viz import inference_engine as vi

ui.setup("model_conversion",
         "Model conversion",
         "torch to our IR directly and through ONNX: what each path keeps, folds or loses.")
t_ = ui.t
tr = ui.translator()
fit, shared = ui.figure_view()
sankey = shared(vi.conversion_sankey)
TRACERS = {"fx": "torch.fx symbolic_trace", "export": "torch.export"}


def verdict(result) -> str:
    if not result.ok:
        return "✗"
    return "✓" if result.max_diff < 1e-4 else "✗"


def show_path(col, result, label: str) -> None:
    with col:
        st.markdown(f"**{label}**")
        if not result.ok:
            st.error(ui.t_message(result.error))
            return
        m = st.columns(3)
        m[0].metric(t_("our ops"), sum(n for _, n in result.ops))
        m[1].metric(t_("max |ours − torch|"), f"{result.max_diff:.1e}", verdict(result), delta_color="off")
        m[2].metric(t_("converted in"), f"{1e3 * result.seconds:,.0f} ms")
        st.dataframe([{t_("source node"): r.source, t_("source op"): r.source_op,
                       t_("our ops"): " + ".join(r.ours) or "—", t_("our nodes"): ", ".join(r.nodes) or "—",
                       t_("note"): ui.t_message(r.note)} for r in result.rows],
                     hide_index=True, height=320)


@ui.section   # the model and tracer pickers and both comparisons they drive: a pick reruns only this section
def conversion_view() -> None:
    with ui.controls():
        c = st.columns([2, 2, 2])
        name = c[0].selectbox(t_("Model"), model_names(), index=model_names().index("view_by_size"),
                              key="mc_model", bind="query-params")
        tracer = ui.by_id(c[1]).radio(t_("Direct path traces with"), list(TRACERS), format_func=TRACERS.get,
                                      key="mc_tracer", bind="query-params")  # URL: the id (fx, export)
        dynamic = c[2].toggle(t_("Dynamic batch in the ONNX export"), True, key="mc_dynamic",
                              bind="query-params")
    st.caption(t_(describe(name)))

    with ui.guard("Conversion failed"), st.spinner(t_("Tracing and exporting with torch...")):
        comp = cached_heavy(cv.compare, "torch")(name, tracer, dynamic)
        ui.show_figure(fit(sankey(comp, t_("{name}: source ops → our ops ← ONNX ops", name=name),
                                  cache_key=(name, tracer, dynamic))), "mc_sankey",
                       t_("Ribbon width = how many source nodes map that way. Notice where the two sides "
                          "disagree: BatchNorm only on the left, Gemm only on the right, folded shape "
                          "nodes."),
                       rows=[{"path": p.path, "source": r.source, "source_op": r.source_op,
                              "ours": " ".join(r.ours)} for p in (comp.direct, comp.onnx) for r in p.rows])
        left, right = st.columns(2)
        show_path(left, comp.direct, t_("Direct: {tracer} → our IR", tracer=TRACERS[tracer]))
        show_path(right, comp.onnx, t_("Canonical: torch → ONNX → our IR"))
        if comp.onnx.ok and comp.onnx.other_diff is not None and comp.onnx.other_diff > 1e-3:
            st.warning(t_("The ONNX graph equals torch on the example input but not on −x (difference "
                          "{d:.2f}): the exporter traced the branch the example took and dropped the other.",
                          d=comp.onnx.other_diff))
        st.subheader(t_("What each path keeps, folds or adds"))
        for note in comp.notes:
            st.markdown("- " + ui.t_message(note))
        if not comp.notes:
            st.caption(t_("Nothing to compare: a path failed (its message names why)."))
        st.dataframe([{t_("our op"): op, t_("direct"): a, t_("through ONNX"): b, t_("difference"): a - b}
                      for op, a, b in comp.op_rows()], hide_index=True)
        st.caption(t_("Parameters: torch counts {p:,}; the direct graph holds {d:,} numbers, the ONNX graph "
                      "{o:,} (weights, biases, BatchNorm statistics and constants).",
                      p=comp.torch_params, d=comp.direct.params, o=comp.onnx.params))
        if comp.direct.ok and comp.onnx.ok:
            ui.checkpoint(f"mc_ck_{name}_{tracer}",
                          t_("How many more ops does the direct graph of {name} have than the ONNX one?",
                             name=name),
                          sum(n for _, n in comp.direct.ops) - sum(n for _, n in comp.onnx.ops),
                          t_("Count the 'difference' column above: folded BatchNorms and Linear as two ops "
                             "add to the direct side; a GELU spelled out adds to the ONNX side."),
                          rel_tol=0.0)

    def opsets() -> None:   # converted only while open (12 conversions: ~1.5 s for ResNet-18 the first time)
        st.caption(t_("The model exported at opset 17, converted to each target, imported and run on our "
                      "engine; then converted back to 17. A failed conversion names the op it has no "
                      "adapter for."))
        with ui.guard("Opset conversion failed"), st.spinner(t_("Converting opsets...")):
            rows = cached_heavy(opset_table, "torch")(name)
            st.dataframe(vi.opset_rows(rows, tr, ui.t_message), hide_index=True)
    ui.folded(t_("Opset conversion (onnx.version_converter)"), "mc_opset", opsets, in_url=True)

conversion_view()

ui.lesson("model_conversion")
