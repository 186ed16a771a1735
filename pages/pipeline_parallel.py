import streamlit as st

import engine.parallel as par
import ui
from viz.parallel import ZH, grouped_lines, keep_lanes
from viz.timeline import gantt

ui.setup("pipeline_parallel", "Pipeline parallel", "流水线并行",
         "Cut the model into stages, feed micro-batches, and watch the bubble shrink.",
         "把模型切成多段、送入微批，看气泡如何缩小。")
SCHEDULES = {"gpipe": "GPipe", "1f1b": "1F1B", "interleaved": ui.t("interleaved 1F1B", "交错式 1F1B")}


fit, shared = ui.figure_view(ZH)
schedule_gantt = shared(gantt)


def so_far_figure(tl, now: float, title: str):
    """The schedule up to time ``now``, every lane kept and the time axis fixed."""
    return keep_lanes(gantt(par.pipeline.timeline_until(tl, now), title), tl.lanes, tl.makespan)


def held_figure(tl, v: int, now: float, title: str, x_title: str, y_title: str):
    fig = grouped_lines(par.activations_held(tl, v), title, x_title, y_title)
    fig.add_vline(x=now, line_dash="dot")
    return fig


so_far_figure, held_figure = shared(so_far_figure), shared(held_figure)


with ui.controls():
    c1, c2, c3, c4 = st.columns(4)
    schedule = c1.radio(ui.t("Schedule", "调度"), list(SCHEDULES), index=1,
                        format_func=SCHEDULES.get, key="pp_schedule", bind="query-params")
    p = c2.slider(ui.t("Stages p", "段数 p"), 1, 8, 4, key="pp_p", bind="query-params")
    m = c3.slider(ui.t("Micro-batches m", "微批数 m"), 1, 32, 8, key="pp_m", bind="query-params")
    v = c4.slider(ui.t("Chunks per device v", "每卡模型块数 v"), 1, 4, 2, key="pp_v",
                  bind="query-params", disabled=schedule != "interleaved")
v = v if schedule == "interleaved" else 1

with ui.guard():
    tl = ui.cached(par.pipeline_schedule)(p, m, schedule, v)
    ui.show_figure(fit(schedule_gantt(tl, ui.t(f"{SCHEDULES[schedule]}: p = {p}, m = {m}, v = {v} (backward = 2 × forward)",
                                      f"{SCHEDULES[schedule]}：p = {p}，m = {m}，v = {v}（反向 = 2 × 前向）"))),
                   "pp_gantt", ui.t("Empty gaps are the bubble: stages waiting for the first forward "
                                    "to arrive or the last backward to come back.",
                                    "空白处就是气泡：各段在等第一个前向到来或最后一个反向返回。"),
                   rows=[dict(stage=e.unit, start=e.start, end=e.end, op=e.label) for e in tl.events])
    measured = ui.cached(par.bubble_fraction)(p, m, schedule, v)
    formula = par.bubble_formula(p, m, schedule, v)
    work = "v·m" if schedule == "interleaved" else "m"
    c1, c2, c3 = st.columns(3)
    c1.metric(ui.t("Bubble, measured on the timeline", "时间线上实测的气泡占比"), f"{100 * measured:.2f} %")
    c2.metric(f"(p−1)/({work}+p−1)", f"{100 * formula['of_total']:.2f} %",
              help=ui.t("Idle share of the total time", "空闲时间占总时间的比例"))
    c3.metric(f"(p−1)/{work} " + ui.t("(papers: relative to ideal)", "（论文：相对理想时间）"),
              f"{100 * formula['of_ideal']:.2f} %")
    gap = abs(measured - formula["of_total"])
    (st.success if gap < 1e-9 else st.warning)(
        ui.t(f"{'✓' if gap < 1e-9 else '✗'} The timeline's idle share matches the formula (p−1)/({work}+p−1): "
             f"difference {gap:.1e}.", f"{'✓' if gap < 1e-9 else '✗'} 时间线上的空闲占比与公式 (p−1)/({work}+p−1) "
             f"一致：相差 {gap:.1e}。"))

st.subheader(ui.t("Step through the schedule", "逐步查看调度"))
with ui.guard():
    points = par.pipeline.time_points(tl)
    def show_time(k: int) -> None:
        now = points[k]
        key = (p, m, schedule, v, now)
        ui.show_figure(fit(so_far_figure(tl, now, ui.t(f"Schedule at time {now:g}", f"时刻 {now:g} 的调度"),
                                         cache_key=key)), "pp_so_far",
                       ui.t("Only the work started so far is drawn.", "只画出到此刻为止已开始的工作。"))
        ui.show_figure(fit(held_figure(tl, v, now, ui.t("Activations held per stage (dotted = now)",
                                                       "各段持有的激活（点线 = 此刻）"),
                                       ui.t("time (time units)", "时间（时间单位）"),
                                       ui.t("micro-batches of activations", "激活（微批数）"), cache_key=key)),
                       "pp_held", ui.t("GPipe keeps all m micro-batches alive until backward starts; "
                                       "1F1B caps stage d at p − d.",
                                       "GPipe 要一直保存全部 m 个微批的激活；1F1B 让第 d 段最多保存 p − d 个。"))
        now_held = par.pipeline.held_at(tl, now, v)
        st.dataframe([{ui.t("stage", "段"): ui.t(lane, lane.replace("stage", "段")),
                       ui.t("held now (micro-batches)", "此刻持有（微批）"): now_held[lane],
                       ui.t("peak", "峰值"): peak} for lane, peak in par.peak_activations(tl, v).items()],
                     hide_index=True)
    ui.stepper("pp_step", len(points), render=show_time)

ui.checkpoint("pp_ck", ui.t("1F1B with p = 4 and m = 12: what share of the total time is bubble?",
                            "1F1B，p = 4、m = 12：气泡占总时间的比例是多少？"),
              round(par.bubble_fraction(4, 12, "1f1b"), 4),
              ui.t("(p−1)/(m+p−1) = 3/15 = 0.2 — the papers' (p−1)/m = 0.25 counts it against the "
                   "ideal time instead.", "(p−1)/(m+p−1) = 3/15 = 0.2；论文中的 (p−1)/m = 0.25 是相对理想时间计算的。"))
ui.lesson("pipeline_parallel")
