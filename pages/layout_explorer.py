"""Memory layouts: strides, views vs copies, NCHW/NHWC/NC1HWC0/FRACTAL_NZ, bytes and endianness."""
from __future__ import annotations

import math

import streamlit as st

import ui
from engine import layout as L
from viz import kernels as vk

ui.setup("layout_explorer", "Memory layouts", "内存布局",
         "The same tensor, many orders in memory: pick a shape and a layout and watch the addresses.",
         "同一个张量，内存里有多种排法：选一个形状和布局，看地址怎么走。")
t_, zh = ui.t, ui.lang() == "zh"
DRAW_LIMIT = 2048
PLAIN = ("row_major", "col_major", "NCHW", "NHWC")



with ui.controls():
    c = st.columns([2, 2, 1, 1])
    text = c[0].text_input(t_("Shape (comma separated)", "形状（逗号分隔）"), "1,3,4,4",
                           key="le_shape", bind="query-params")
    layout = c[1].selectbox(t_("Layout", "布局"), L.LAYOUTS, index=3, key="le_layout",
                            bind="query-params")
    dtype = c[2].selectbox(t_("dtype", "数据类型"), list(L.DTYPE_BYTES), index=1, key="le_dtype",
                           bind="query-params")
    boundary = c[3].selectbox(t_("Align to (bytes)", "对齐（字节）"), [16, 32, 64, 128, 512], index=1,
                              key="le_align", bind="query-params")

with ui.guard():
    shape = L.parse_shape(text)
    c0 = L.C0_FOR_DTYPE[dtype] if layout != "FRACTAL_NZ" else 16
    try:
        slots = L.stored_slots(shape, layout, c0)
    except L.ShapeError as exc:       # e.g. NHWC asked of a 2-D shape: say so, show row-major instead
        st.warning(t_(f"{exc} — showing row-major instead.", f"{exc}——改为显示行主序。"))
        layout, slots = "row_major", L.stored_slots(shape, "row_major", c0)
    numel = math.prod(shape)
    st.subheader(t_("1. Walk the memory", "1. 沿内存地址走一遍"))
    if slots > DRAW_LIMIT:
        st.info(t_(f"{slots:,} slots are too many to draw (limit {DRAW_LIMIT}); the numbers "
                   "below still apply.", f"{slots:,} 个存储位置太多无法绘制（上限 {DRAW_LIMIT}）；"
                   "下面的数字依然有效。"))
    else:
        order = ui.cached(L.memory_order)(shape, layout, c0)
        def walk(step: int) -> None:
            left, right = st.columns(2)
            with left:
                ui.show_figure(vk.address_grid(shape, order, step + 1, t_("Logical grid: address of each "
                               "element", "逻辑网格：每个元素的地址"), zh=zh), "le_grid",
                               t_("Coloured cells are stored at addresses up to the current step; step "
                                  "through to see which way the layout walks the tensor.",
                                  "已着色的格子存放在当前步之前的地址；单步前进，看布局按什么方向遍历张量。"))
            with right:
                color_dim = 1 if len(shape) == 4 else -1
                ui.show_figure(vk.memory_strip(shape, order, step + 1, t_("Memory, address by address",
                               "逐地址看内存"), color_dim, width=8 if slots <= 128 else 16, zh=zh), "le_strip",
                               t_("Each slot holds one element (label = logical index without size-1 "
                                  "dims, colour = channel for 4-D shapes); light grey slots are padding.",
                                  "每个位置存一个元素（标签为逻辑下标，省略大小为 1 的维度；4 维时颜色表示通道）；"
                                  "浅灰色为填充。"))
        ui.stepper("le_step", int(order.size), delay=0.3, render=walk)

    st.subheader(t_("2. Strides, padding and alignment", "2. 步长、填充与对齐"))
    rows = [{t_("dim", "维度"): i, t_("size", "大小"): s, t_("row-major stride (elements)", "行主序步长（元素）"): rs}
            for i, (s, rs) in enumerate(zip(shape, L.strides(shape)))]
    if layout in PLAIN and (layout != "NHWC" or len(shape) == 4):
        for r, s in zip(rows, L.strides(shape, layout)):
            r[t_(f"{layout} stride (elements)", f"{layout} 步长（元素）")] = s
    st.dataframe(rows, hide_index=True)
    ref = L.numpy_strides(shape, layout) if layout in PLAIN else None
    if ref is not None:
        ok = ref == L.strides(shape, layout)
        (st.success if ok else st.error)(vk.numpy_badge(ref, ok, zh))
    nbytes = slots * L.DTYPE_BYTES[dtype]
    aligned, waste = L.align(nbytes, boundary)
    m = st.columns(4)
    m[0].metric(t_("Elements", "元素数"), f"{numel:,}")
    m[1].metric(t_("Stored slots", "存储位置"), f"{slots:,}")
    m[2].metric(t_("Padding waste", "填充浪费"), f"{L.padding_waste(shape, layout, c0):.1f} %")
    m[3].metric(t_(f"Bytes aligned to {boundary}", f"按 {boundary} 字节对齐后"), f"{aligned:,} B",
                f"+{waste} B" if waste else None, delta_color="off")
    if layout == "NC1HWC0":
        st.caption(t_(f"C0 = {c0} for {dtype} (32 bytes per C0 vector, as CANN uses); "
                      f"C1 = ceil(C / C0).", f"{dtype} 的 C0 = {c0}（每个 C0 向量 32 字节，与 CANN "
                      "一致）；C1 = ceil(C / C0)。"))

    ui.checkpoint("le_pad", t_("An RGB image (1, 3, 4, 4) in fp16 stored as NC1HWC0 (C0 = 16): what "
                               "percentage of the stored slots is padding?",
                               "一张 RGB 图像 (1, 3, 4, 4) 以 fp16 的 NC1HWC0（C0 = 16）存放：存储位置中有百分之几是填充？"),
                  L.padding_waste((1, 3, 4, 4), "NC1HWC0", 16),
                  t_("C1 = ceil(3 / 16) = 1, so each pixel keeps 16 channel slots for 3 real channels: 13/16.",
                     "C1 = ceil(3 / 16) = 1，每个像素为 3 个真实通道留了 16 个通道位置：13/16。"))
    st.subheader(t_("3. Views share storage, copies do not", "3. 视图共享存储，拷贝不共享"))
    with ui.guard():  # a huge shape may refuse the expanded view; the other sections go on
        base = L.contiguous_view(shape)
        ndim = len(shape)
        trans = L.transpose_view(base, list(reversed(range(ndim))))
        views = {t_("transpose (reverse dims)", "转置（维度倒序）"): trans,
                 t_("slice dim 0, step 2", "第 0 维切片，步长 2"): L.slice_view(base, 0, 0, shape[0], 2),
                 t_("expand a new leading dim of 3", "在最前面扩展出大小为 3 的新维度"): L.expand_view(base, (3, *shape))}
        view_rows = []
        for name, v in views.items():
            ok, why = L.is_contiguous(v)
            view_rows.append({t_("view", "视图"): name, t_("shape", "形状"): str(v.shape),
                              t_("strides", "步长"): str(v.strides), t_("offset", "偏移"): v.offset,
                              t_("contiguous", "连续"): ok, t_("why", "原因"): t_(why.split(" (")[0], vk.contiguity_reason_zh(why))})
        st.dataframe(view_rows, hide_index=True, column_config={t_("why", "原因"): st.column_config.TextColumn(width="large")})
        st.caption(t_("Row-major order needs every stride to equal the product of the sizes to its right.",
                      "行主序要求每个步长都等于其右侧各维大小之积。"))
        flat = L.reshape_view(trans, (numel,))
        st.markdown(t_(f"Flattening the transposed view to ({numel},) **{'is a free view' if flat else 'needs a copy'}**: "
                       "a reshape stays a view only when the dimensions it merges are contiguous with each other.",
                       f"把转置后的视图展平成 ({numel},) **{'仍是免费的视图' if flat else '需要一次拷贝'}**："
                       "只有被合并的维度彼此连续时，reshape 才能保持为视图。"))

    st.subheader(t_("4. Bytes and endianness", "4. 字节与字节序"))
    b = st.columns([3, 1])
    values_text = b[0].text_input(t_("Values", "数值"), "1.0, -2.5, 65504", key="le_values",
                                  bind="query-params")
    endian = b[1].radio(t_("Byte order", "字节序"), ["little", "big"], key="le_endian",
                        bind="query-params", horizontal=True,
                        format_func=lambda e: f"{e} · {'小端' if e == 'little' else '大端'}")
    try:
        values = [float(v) for v in values_text.split(",") if v.strip()][:16]
    except ValueError:
        values = []
        st.error(t_("Values must be numbers separated by commas.", "数值须为逗号分隔的数字。"))
    if values:
        shown = values if dtype != "int8" else [max(-128, min(127, int(v))) for v in values]
        st.dataframe([{t_("value", "数值"): v, t_("bytes (address order, hex)", "字节（按地址顺序，十六进制）"): " ".join(bs)} for v, bs in
                      zip(shown, L.byte_view(shown, dtype, endian))], hide_index=True)

    st.subheader(t_("5. Converting layouts", "5. 布局转换"))
    if len(shape) == 4:
        target = st.selectbox(t_("Convert NCHW to", "把 NCHW 转成"), ["NHWC", "NC1HWC0", "NC4HW4"],
                              key="le_target", bind="query-params")
        steps = L.conversion_steps(shape, "NCHW", target, dtype)
        st.dataframe([{t_("op", "操作"): s.op, t_("detail", "说明"): t_(s.detail, vk.conversion_detail_zh(s.detail)),
                       t_("shape after", "之后的形状"): str(s.shape),
                       t_("bytes moved", "搬运字节"): s.bytes_moved} for s in steps], hide_index=True)
        st.caption(t_(f"Total bytes moved: {sum(s.bytes_moved for s in steps):,} (read + write); "
                      "a reshape of a contiguous array is free.",
                      f"总搬运字节：{sum(s.bytes_moved for s in steps):,}（读 + 写）；连续数组的 reshape 不花钱。"))
    else:
        st.caption(t_("Layout conversions need a 4-D (N, C, H, W) shape.",
                      "布局转换需要 4 维 (N, C, H, W) 形状。"))

ui.lesson("layout_explorer")
