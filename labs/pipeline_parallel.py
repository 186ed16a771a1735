import streamlit as st

import engine.parallel as par
import ui
from engine.kernels.roofline_model import hardware_presets
from engine.parallel import lab as plab
from ui import workspace as ws
from viz.graph import graph_figure
from viz.parallel import grouped_lines, keep_lanes, named_lanes, stage_cost_bars, stage_rows
from viz.timeline import gantt
from viz.words import same

ui.setup("pipeline_parallel",
         "Pipeline parallel",
         "Cut the model into stages, feed micro-batches, and watch the bubble shrink.")
SCHEDULES = {"gpipe": "GPipe", "1f1b": "1F1B", "interleaved": ui.t("interleaved 1F1B")}
MEASURES = {"flops": "FLOPs", "time": ui.t("roofline time")}  # URL ids -> labels in the page's language
EXAMPLES = ("preset:mlp", "preset:self_attention", "preset:resnet_basic_block", "zoo:resnet18")


fit, shared = ui.figure_view()
schedule_gantt = shared(gantt)
stage_bars, stage_graph = shared(stage_cost_bars), shared(graph_figure)


def lens(g: str, p: int, m: int, schedule: str, v: int, measure: str, hw: str):
    """The graph ``g`` (a URL value: only this string is hashed) cut into stages and scheduled."""
    return plab.graph_pipeline(ws.graph_of(ws.parse_g(g))[0], p, m, schedule, v, measure, hw)


def so_far_figure(tl, now: float, title: str, tr=same):
    """The schedule up to time ``now``, every lane kept and the time axis fixed."""
    return keep_lanes(gantt(par.pipeline.timeline_until(tl, now), title, tr=tr), tl.lanes, tl.makespan)


def held_figure(tl, v: int, now: float, title: str, x_title: str, y_title: str):
    fig = grouped_lines(par.activations_held(tl, v), title, x_title, y_title)
    fig.add_vline(x=now, line_dash="dot")
    return fig


so_far_figure, held_figure = shared(so_far_figure), shared(held_figure)


@ui.section   # the graph, schedule, p, m, v and all they drive: the step-through, your stages, equal stages
def pipeline_view() -> None:
    with ui.controls():
        g1, g2, g3 = st.columns([2, 1, 1])
        choice = ws.choose("pp_graph", EXAMPLES, label="Graph", slot=g1)
        measure = ui.by_id(g2).radio(ui.t("Stage cost"), list(MEASURES), format_func=MEASURES.get,
                                     key="pp_measure", bind="query-params", horizontal=True)
        hw = g3.selectbox(ui.t("Hardware"), list(hardware_presets()), index=2, key="pp_hw",
                          bind="query-params", disabled=measure != "time")
        c1, c2, c3, c4 = st.columns(4)
        schedule = ui.by_id(c1).radio(ui.t("Schedule"), list(SCHEDULES), index=1,
                                      format_func=SCHEDULES.get, key="pp_schedule", bind="query-params")
        p = c2.slider(ui.t("Stages p"), 1, 8, 4, key="pp_p", bind="query-params")
        m = c3.slider(ui.t("Micro-batches m"), 1, 32, 8, key="pp_m", bind="query-params")
        v = c4.slider(ui.t("Chunks per device v"), 1, 4, 2, key="pp_v",
                      bind="query-params", disabled=schedule != "interleaved")
    v = v if schedule == "interleaved" else 1

    tl = shown = None
    with ui.guard():  # the step-through opens the page: in presenter mode it is the first screen
        tl = ui.cached(par.pipeline_schedule)(p, m, schedule, v)
        shown = named_lanes(tl, ui.t_message)             # "stage 0" and the time unit as the view reads them
        points = par.pipeline.time_points(tl)
        def main_figure(k: int):
            now = points[k]
            return fit(so_far_figure(shown, now, ui.t("Schedule at time {now:g}", now=now),
                                     cache_key=(p, m, schedule, v, now)))

        def show_time(k: int) -> None:
            now = points[k]
            key = (p, m, schedule, v, now)
            ui.show_figure(main_figure(k), "pp_so_far",
                           ui.t("Only the work started so far is drawn."))
            ui.show_figure(fit(held_figure(shown, v, now, ui.t("Activations held per stage (dotted = now)"),
                                           ui.t("time (time units)"),
                                           ui.t("micro-batches of activations"), cache_key=key)),
                           "pp_held", ui.t("GPipe keeps all m micro-batches alive until backward starts; "
                                           "1F1B caps stage d at p − d."))
            now_held = par.pipeline.held_at(tl, now, v)
            st.dataframe([{ui.t("stage"): ui.t_message(lane),
                           ui.t("held now (micro-batches)"): now_held[lane],
                           ui.t("peak"): peak} for lane, peak in par.peak_activations(tl, v).items()],
                         hide_index=True)
        ui.stepper("pp_step", len(points), render=show_time, frame=main_figure)


    if choice is not None:
        st.subheader(ui.t("{name} cut into {n} pipeline stages", name=choice.name, n=p * v))
        with ui.guard():
            gp = ui.cached(lens)(choice.source.g, p, m, schedule, v, measure, hw)
            key, split, TR = (choice.source.g, p, m, schedule, v, measure, hw), gp.split, ui.translator()
            cut = (choice.source.g, p, v, measure, hw)    # what the stages (not their schedule) depend on
            rows = stage_rows(split, gp.v, tr=TR)
            ui.show_figure(fit(stage_bars(split, ui.t("{name}: cost of each stage and the activations "
                                                      "crossing each cut", name=choice.name), gp.v,
                                          cache_key=cut)),
                           "pp_stages", ui.t("The cut minimises the most expensive stage (the bottleneck, "
                                             "dashed); a skip connection crosses every cut it spans."),
                           data=split, rows=rows)
            st.markdown(ui.t("Bubble on your stages: **{mine:.2f} %** · with {n} equal stages: "
                             "**{equal:.2f} %** · step time **{slow:.3f}×** an equal split's (stage "
                             "balance {balance:.3f})",
                             mine=100 * gp.bubble, n=p * v, equal=100 * gp.equal_bubble, slow=gp.slowdown,
                             balance=split.balance))
            ui.show_figure(fit(schedule_gantt(named_lanes(gp.timeline, ui.t_message),
                                              ui.t("{v2} on your stages: bubble {mine:.2f} % (equal stages: "
                                                   "{equal:.2f} %)", v2=SCHEDULES[schedule],
                                                   mine=100 * gp.bubble, equal=100 * gp.equal_bubble),
                                              cache_key=key)),
                           "pp_graph_gantt", ui.t("The slowest stage paces every micro-batch: more "
                                                  "micro-batches shrink the fill and drain, not the "
                                                  "{idle:.1f} % the other stages wait for it.",
                                                  idle=100 * gp.limit_bubble),
                           rows=[dict(stage=e.unit, start=e.start, end=e.end, op=e.label)
                                 for e in gp.timeline.events])
            ui.table(rows)   # node names from an uploaded model: shown as written
            def stages() -> None:   # a figure drawn only while its expander is open
                ui.show_figure(fit(stage_graph(choice.graph, groups=[list(s.nodes) for s in split.stages],
                                               title=choice.name, cache_key=cut)),
                               "pp_stage_graph",
                               ui.t("One coloured box per stage, in the colours of the bars."))
            ui.folded(ui.t("The stages on the graph"), "pp_stage_graph_box", stages)

    if tl is not None:  # (the first block showed the error)
        st.subheader(ui.t("Equal stages: the textbook pipeline"))
        with ui.guard():
            ui.show_figure(fit(schedule_gantt(shown, ui.t("{v2}: p = {p}, m = {m}, v = {v3} (backward = 2 × "
                                                       "forward)",
                                                       v2=SCHEDULES[schedule], p=p, m=m, v3=v))),
                           "pp_gantt", ui.t("Empty gaps are the bubble: stages waiting for the first forward "
                                            "to arrive or the last backward to come back."),
                           rows=[dict(stage=e.unit, start=e.start, end=e.end, op=e.label) for e in tl.events])
            measured = ui.cached(par.bubble_fraction)(p, m, schedule, v)
            formula = par.bubble_formula(p, m, schedule, v)
            work = "v·m" if schedule == "interleaved" else "m"
            c1, c2, c3 = st.columns(3)
            c1.metric(ui.t("Bubble, measured on the timeline"), f"{100 * measured:.2f} %")
            c2.metric(f"(p−1)/({work}+p−1)", f"{100 * formula['of_total']:.2f} %",
                      help=ui.t("Idle share of the total time"))
            c3.metric(f"(p−1)/{work} " + ui.t("(papers: relative to ideal)"),
                      f"{100 * formula['of_ideal']:.2f} %")
            gap = abs(measured - formula["of_total"])
            (st.success if gap < 1e-9 else st.warning)(
                ui.t("{v2} The timeline's idle share matches the formula (p−1)/({work}+p−1): difference "
                     "{gap:.1e}.", v2='✓' if gap < 1e-9 else '✗', work=work, gap=gap))


pipeline_view()

ui.checkpoint("pp_ck", ui.t("1F1B with p = 4 and m = 12: what share of the total time is bubble?"),
              round(par.bubble_fraction(4, 12, "1f1b"), 4),
              ui.t("(p−1)/(m+p−1) = 3/15 = 0.2 — the papers' (p−1)/m = 0.25 counts it against the "
                   "ideal time instead."))
ui.lesson("pipeline_parallel")
