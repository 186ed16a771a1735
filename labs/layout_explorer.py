"""Memory layouts: strides, views vs copies, NCHW/NHWC/NC1HWC0/FRACTAL_NZ, bytes and endianness."""
from __future__ import annotations

import math

import streamlit as st

import engine
import ui
from engine import layout as L
from engine.compiler.lab import layout_pass
from ui import workspace as ws
from viz import kernels as vk
from viz.compiler import lab_graph_figure

ui.setup("layout_explorer", "Memory layouts",
         "The same tensor, many orders in memory: pick a shape and a layout and watch the addresses.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
DRAW_LIMIT = 2048
PLAIN = ("row_major", "col_major", "NCHW", "NHWC")
EXAMPLES = ("preset:conv_bn_relu", "preset:mobilenetv2_inverted_residual", "zoo:resnet18")
bars, pass_figure = map(ui.figure_view()[1], (vk.layout_overhead_figure, lab_graph_figure))


@st.cache_resource(max_entries=16, show_spinner=False)     # graphs are immutable: share, don't copy
def lens(g: str, target: str):
    graph = ws.graph_of(ws.parse_g(g))[0]
    return engine.graph_layouts(graph), layout_pass(graph, target)


@st.fragment   # your graph in each layout: another graph or pass target reruns only this section
def graph_view() -> None:
    st.subheader(t_("Your graph in each layout"))
    with ui.controls("graph"):
        gc = st.columns([3, 1])
        choice = ws.choose("le_graph", EXAMPLES, label="Graph", slot=gc[0])
        target = gc[1].selectbox(t_("Layout pass to"), ["NHWC", "NC1HWC0"], key="le_pass",
                                 bind="query-params")
    with ui.guard():
        lays, lp = lens(g := choice.source.g, target) if choice else (None, None)
        if lays is not None:
            rows = vk.layout_rows(lays, TR, ui.t_message)
            title = t_("Padding each layout adds to {name} (C0 = 16)", name=choice.name)
            ui.show_figure(bars(lays, title, cache_key=(g, title)), "le_graph_bars",
                           t_("Blocked layouts pad channels to C0 and matrices to 16 × 16 fractals: small "
                              "channel counts pay most. FRACTAL_NZ is applied literally to the H × W of 4-D "
                              "conv weights (CANN stores those as FRACTAL_Z)."), rows=rows)
            st.dataframe(rows, hide_index=True)
            if lp.inserted:
                title = t_("The layout pass to {layout} on {name}", layout=target, name=choice.name)
                ui.show_figure(pass_figure(lp.graph, highlight=lp.between, changed=lp.views, title=title,
                                           cache_key=(g, target, title)), "le_graph_pass",
                               t_("Red rings: conversions between kernels, the data movement the "
                                  "layout costs; orange rings: the views around each op's NCHW kernel "
                                  "(a real backend has a native kernel there)."), data=list(lp.inserted))
            st.code("\n".join(map(ui.t_message, lp.log)), language=None)

graph_view()

@ui.section   # shape, layout, dtype and alignment, and all five sections they drive
def layout_view() -> None:
    with ui.controls():
        c = st.columns([2, 2, 1, 1])
        text = c[0].text_input(t_("Shape (comma separated)"), "1,3,4,4", key="le_shape", bind="query-params")
        layout = c[1].selectbox(t_("Layout"), L.LAYOUTS, index=3, key="le_layout", bind="query-params")
        dtype = c[2].selectbox(t_("dtype"), list(L.DTYPE_BYTES), index=1, key="le_dtype", bind="query-params")
        boundary = c[3].selectbox(t_("Align to (bytes)"), [16, 32, 64, 128, 512], index=1,
                                  key="le_align", bind="query-params")

    with ui.guard():
        shape = L.parse_shape(text)
        c0 = L.C0_FOR_DTYPE[dtype] if layout != "FRACTAL_NZ" else 16
        try:
            slots = L.stored_slots(shape, layout, c0)
        except L.ShapeError as exc:       # e.g. NHWC asked of a 2-D shape: say so, show row-major instead
            st.warning(t_("{exc} — showing row-major instead.", exc=exc))
            layout, slots = "row_major", L.stored_slots(shape, "row_major", c0)
        numel = math.prod(shape)
        st.subheader(t_("1. Walk the memory"))
        if slots > DRAW_LIMIT:
            st.info(t_("{slots:,} slots are too many to draw (limit {DRAW_LIMIT}); the numbers below still "
                       "apply.", slots=slots, DRAW_LIMIT=DRAW_LIMIT))
        else:
            order = ui.cached(L.memory_order)(shape, layout, c0)
            def main_figure(step: int):
                return vk.address_grid(shape, order, step + 1, t_("Logical grid: address of each element"),
                                       tr=TR)
            def walk(step: int) -> None:
                left, right = st.columns(2)
                with left:
                    ui.show_figure(main_figure(step), "le_grid", t_("Coloured cells are stored at addresses "
                    "up to the current step; step through to see which way the layout walks the tensor."))
                with right:
                    color_dim = 1 if len(shape) == 4 else -1
                    strip = vk.memory_strip(shape, order, step + 1, t_("Memory, address by address"),
                                            color_dim, width=8 if slots <= 128 else 16, tr=TR)
                    ui.show_figure(strip, "le_strip", t_("Each slot holds one element (label = logical index "
                    "without size-1 dims, colour = channel for 4-D shapes); light grey slots are padding."))
            ui.stepper("le_step", int(order.size), delay=0.3, render=walk, frame=main_figure)

        st.subheader(t_("2. Strides, padding and alignment"))
        rows = [{t_("dim"): i, t_("size"): s, t_("row-major stride (elements)"): rs}
                for i, (s, rs) in enumerate(zip(shape, L.strides(shape)))]
        if layout in PLAIN and (layout != "NHWC" or len(shape) == 4):
            for r, s in zip(rows, L.strides(shape, layout)):
                r[t_("{layout} stride (elements)", layout=layout)] = s
        st.dataframe(rows, hide_index=True)
        if layout in PLAIN and (ref := L.numpy_strides(shape, layout)) is not None:
            ok = ref == L.strides(shape, layout)
            (st.success if ok else st.error)(vk.numpy_badge(ref, ok, TR))
        aligned, waste = L.align(slots * L.DTYPE_BYTES[dtype], boundary)
        m = st.columns(4)
        m[0].metric(t_("Elements"), f"{numel:,}")
        m[1].metric(t_("Stored slots"), f"{slots:,}")
        m[2].metric(t_("Padding waste"), f"{L.padding_waste(shape, layout, c0):.1f} %")
        m[3].metric(t_("Bytes aligned to {boundary}", boundary=boundary), f"{aligned:,} B",
                    f"+{waste} B" if waste else None, delta_color="off")
        if layout == "NC1HWC0":
            st.caption(t_("C0 = {c0} for {dtype} (32 bytes per C0 vector, as CANN uses); C1 = ceil(C / C0).",
                          c0=c0, dtype=dtype))

        ui.checkpoint("le_pad", t_("An RGB image (1, 3, 4, 4) in fp16 stored as NC1HWC0 (C0 = 16): what "
                                   "percentage of the stored slots is padding?"),
                      L.padding_waste((1, 3, 4, 4), "NC1HWC0", 16),
                      t_("C1 = ceil(3 / 16) = 1, so each pixel keeps 16 channel slots for 3 real channels: "
                         "13/16."))
        st.subheader(t_("3. Views share storage, copies do not"))
        with ui.guard():  # a huge shape may refuse the expanded view; the other sections go on
            base = L.contiguous_view(shape)
            trans = L.transpose_view(base, list(reversed(range(len(shape)))))
            views = {t_("transpose (reverse dims)"): trans,
                     t_("slice dim 0, step 2"): L.slice_view(base, 0, 0, shape[0], 2),
                     t_("expand a new leading dim of 3"): L.expand_view(base, (3, *shape))}
            view_rows = []
            for name, v in views.items():
                ok, why = L.is_contiguous(v)
                view_rows.append({t_("view"): name, t_("shape"): str(v.shape),
                                  t_("strides"): str(v.strides), t_("offset"): v.offset,
                                  t_("contiguous"): ok, t_("why"): ui.t_message(why)})
            st.dataframe(view_rows, hide_index=True,
                         column_config={t_("why"): st.column_config.TextColumn(width="large")})
            st.caption(t_("Row-major order needs every stride to equal the product of the sizes to its "
                          "right."))
            flat = L.reshape_view(trans, (numel,))
            st.markdown(t_("Flattening the transposed view to ({numel},) **{v2}**: a reshape stays a view "
                           "only when the dimensions it merges are contiguous with each other.",
                           numel=numel, v2=t_('is a free view') if flat else t_('needs a copy')))

        st.subheader(t_("4. Bytes and endianness"))
        b = st.columns([3, 1])
        values_text = b[0].text_input(t_("Values"), "1.0, -2.5, 65504", key="le_values", bind="query-params")
        endian = ui.by_id(b[1]).radio(t_("Byte order"), ["little", "big"], key="le_endian",
                                      bind="query-params", horizontal=True, format_func=t_)
        try:
            values = [float(v) for v in values_text.split(",") if v.strip()][:16]
        except ValueError:
            values = []
            st.error(t_("Values must be numbers separated by commas."))
        if values:
            shown = values if dtype != "int8" else [max(-128, min(127, int(v))) for v in values]
            st.dataframe([{t_("value"): v, t_("bytes (address order, hex)"): " ".join(bs)} for v, bs in
                          zip(shown, L.byte_view(shown, dtype, endian))], hide_index=True)

        st.subheader(t_("5. Converting layouts"))
        if len(shape) == 4:
            target = st.selectbox(t_("Convert NCHW to"), ["NHWC", "NC1HWC0", "NC4HW4"],
                                  key="le_target", bind="query-params")
            steps = L.conversion_steps(shape, "NCHW", target, dtype)
            st.dataframe([{t_("op"): s.op, t_("detail"): ui.t_message(s.detail),
                           t_("shape after"): str(s.shape),
                           t_("bytes moved"): s.bytes_moved} for s in steps], hide_index=True)
            st.caption(t_("Total bytes moved: {v2:,} (read + write); a reshape of a contiguous array is "
                          "free.", v2=sum(s.bytes_moved for s in steps)))
        else:
            st.caption(t_("Layout conversions need a 4-D (N, C, H, W) shape."))

layout_view()

ui.lesson("layout_explorer")
