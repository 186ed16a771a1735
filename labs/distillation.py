"""Knowledge distillation: a teacher's softened outputs train a smaller student."""
from __future__ import annotations

import streamlit as st

import ui
from engine.compression import distill
from ui.heavy import cached_heavy
from viz import compression as vc

ui.setup("distillation",
         "Knowledge distillation",
         "Raise the temperature and the teacher's wrong answers start to speak; a small student "
         "trained on them can learn more than from the labels alone.")
t_ = ui.t
TR = ui.translator()   # figures draw their words in the view's language
fig = ui.cached_resource   # figures are rebuilt only when their inputs change (read-only)


@st.fragment   # the image and its checkpoint: a new test image reruns only this section
def softened_view(temp: float) -> None:
    with ui.controls("image"):
        index = st.number_input(t_("Test image"), 0, 359, 3, key="kd_index", bind="query-params")
    with ui.guard():
        temps = tuple(sorted({1.0, 2.0, float(temp), 8.0}))
        with st.spinner(t_("Training the teacher (the first time takes a few seconds)...")):
            soft = cached_heavy(distill.softened, "train")(0, int(index), temps)
        left, right = st.columns([1, 3])
        left.image(soft["image"], caption=t_("label {label}", label=soft['label']),
                   width=160, clamp=True)
        with right:
            ui.show_figure(fig(vc.softened_figure)(soft["probs"], soft["label"],
                                              t_("The teacher's softmax(z / T) for this image"), tr=TR),
                           "kd_soft", t_("At T = 1 almost all mass sits on one digit; as T grows the "
                                         "runner-up digits (the ones that look alike) become visible — "
                                         "that is what the student learns from."),
                           rows=[{"T": t, **{str(d): float(p[d]) for d in range(10)}}
                                 for t, p in soft["probs"].items()])
        hi = soft["probs"][max(soft["probs"])]
        ui.checkpoint("kd_ck", t_("As T → ∞, what probability does softmax(z / T) give each of the 10 "
                                  "digits?"),
                      0.1, t_("z / T → 0 for every digit, so all are equal: 1/10 (at T = {v2:g} the "
                              "largest is already down to {v3:.2f}).",
                              v2=max(soft['probs']), v3=hi.max()))


@st.fragment   # the seeds comparison: more or fewer seeds reruns (and trains) only this section
def seeds_view(temp: float, alpha: float) -> None:
    with ui.controls("seeds"):
        n_seeds = st.slider(t_("Seeds"), 1, 5, 3, key="kd_seeds", bind="query-params")
    with ui.guard():
        with st.spinner(t_("Training the teacher and two students on each seed (a few seconds per "
                           "new setting)..."), show_time=True):
            rows = cached_heavy(distill.kd_over_seeds, "train")(tuple(range(int(n_seeds))), float(temp),
                                                                float(alpha))
        ui.show_figure(fig(vc.kd_seeds_figure)(rows, t_("Teacher, student alone, student with KD (T = "
                                                        "{temp:g}, α = {alpha:g})",
                                                        temp=temp, alpha=alpha), tr=TR),
                       "kd_seeds", t_("Each seed is a different split and initialisation; compare the "
                                      "mean gap, not one seed — 360 test images make ±1.5 pt noise."),
                       rows=rows)
        mean = lambda k: sum(r[k] for r in rows) / len(rows)
        m = st.columns(3)
        m[0].metric(t_("teacher (mean)"), f"{mean('teacher'):.1%}")
        m[1].metric(t_("student alone (mean)"), f"{mean('student_alone'):.1%}")
        m[2].metric(t_("student with KD (mean)"), f"{mean('student_kd'):.1%}",
                    f"{100 * (mean('student_kd') - mean('student_alone')):+.1f} pt")


@ui.section   # T and α and the two sections they drive (all of the page below the header)
def kd_view() -> None:
    with ui.controls():
        c = st.columns(4)
        temp = c[0].slider(t_("Temperature T"), 1.0, 20.0, 4.0, 0.5, key="kd_t", bind="query-params")
        alpha = c[1].slider(t_("α (weight of the teacher term)"), 0.0, 1.0, 0.7, 0.05,
                            key="kd_alpha", bind="query-params")
    softened_view(float(temp))
    st.latex(r"L = \alpha\,T^2\,\mathrm{KL}\!\left(p_t^{T}\,\|\,p_s^{T}\right) + (1-\alpha)\,"
             r"\mathrm{CE}\!\left(y,\,p_s^{1}\right)")
    seeds_view(float(temp), float(alpha))


kd_view()

ui.lesson("distillation")
