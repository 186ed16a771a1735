"""Passes on a control-flow graph: constant propagation, DCE, value numbering and LICM, step by step."""
from __future__ import annotations

import streamlit as st

import engine
import ui
from engine.compiler.cfg import cfg_trace
from engine.compiler.cfg.blocks import same_value
from engine.compiler.cfg.llvm import compare_with_llvm
from ui.heavy import cached_heavy
from ui.page import plain
from viz import cfg as vc

ui.setup("cfg_passes",
         "Passes on a control-flow graph",
         "Constant propagation, DCE, value numbering and LICM on basic blocks, step by step.")
t_ = ui.t
tr = ui.translator()
PASSES = {p.name: p for p in engine.cfg_passes()}
EXAMPLE = """n = input(10)
k = input(3)
total = 0
unused = n * 7          # dead: nothing ever reads it
debug = 0
i = 0
while i < n:
    step = k * 2        # loop-invariant: k never changes inside the loop
    if i > 4:
        total = total + (i * step) * (i * step)
    else:
        total = total - 1
    i += 1
if debug > 0:           # never true: constants decide this branch
    total = total + 1000
output(total)
"""

fit, shared = ui.figure_view()
step_figure, compare_figure = shared(vc.cfg_step_figure), shared(vc.llvm_compare_figure)


@st.cache_resource(max_entries=32, show_spinner=False)
def trace(text: str, passes: tuple[str, ...]):
    """The program, every step of the pipeline, and the outputs before and after (shared, immutable)."""
    program = engine.parse_cfg_program(text)
    steps = tuple(cfg_trace(program, passes))
    return program, steps, engine.run_cfg(program), engine.run_cfg(steps[-1].graph)


def with_llvm(text: str, passes: tuple[str, ...]):
    return compare_with_llvm(engine.parse_cfg_program(text), None, 2, passes)


def title_of(step) -> str:
    name = (step.data or {}).get("pass_name")
    what = plain(ui.t_message(step.title))
    return f"{t_(PASSES[name].title)}: {what}" if name else what


@ui.section   # the program and the pass pipeline and all they drive (the whole page below the header)
def pipeline_view() -> None:
    with ui.controls():
        left, right = st.columns([3, 2])
        text = left.text_area(t_("Program (a tiny imperative language: assignments, if/else, while, output)"),
                              EXAMPLE, height=380, key="cf_program", bind="query-params")
        passes = right.multiselect(t_("Pass pipeline, run in the order picked"), list(PASSES),
                                   default=list(PASSES), key="cf_passes", bind="query-params")
        right.markdown("\n".join(f"{k + 1}. `{p}` — {t_(PASSES[p].title)}: {t_(PASSES[p].what)}"
                                 for k, p in enumerate(passes))
                       or t_("No pass picked: the program stays as it is."))

    result = None
    with ui.guard("Cannot run the program"):
        result = trace(text, tuple(passes))

    if result is not None:
        program, steps, before, after = result
        final = steps[-1].graph
        m = st.columns(4)
        m[0].metric(t_("basic blocks"), len(program.blocks), len(final.blocks) - len(program.blocks))
        m[1].metric(t_("instructions"), program.instruction_count,
                    final.instruction_count - program.instruction_count)
        m[2].metric(t_("steps"), len(steps))
        m[3].metric(t_("outputs kept"), "✓" if before.keys() == after.keys() and
                    all(same_value(before[k], after[k]) for k in before) else "✗")
        ui.checkpoint(f"cf_ck_{hash((text, tuple(passes)))}",
                      t_("This program has {n} instructions (terminators included). How many are left "
                         "after the pipeline?", n=program.instruction_count), final.instruction_count,
                      t_("Step through the passes below: each one removes, folds or moves a few."),
                      rel_tol=0.0)

        def main_figure(k: int):
            return fit(step_figure(steps[k], title_of(steps[k]), cache_key=(text, tuple(passes), k)))

        def show_step(k: int) -> None:
            step = steps[k]
            removing = bool((step.data or {}).get("removed"))
            ui.show_figure(main_figure(k), "cf_cfg",
                           t_("Vermillion: what this step removes (drawn on the program before it). Orange: "
                              "what it changed, marked or visited. Blue arrows are loop back edges.")
                           if removing else
                           t_("Orange: what this step changed, marked or visited. Blue arrows are loop back "
                              "edges; a branch's edges say which way is true."))
            st.code("\n".join(ui.t_message(line) for line in step.log.split("\n")) or "—", language=None)
        st.subheader(t_("The pipeline, one step at a time"))
        ui.stepper("cf_step", len(steps), render=show_step, frame=main_figure)

        st.subheader(t_("The program's outputs, before and after"))
        rows = [{t_("output"): k, t_("before the passes"): before[k], t_("after the passes"): after.get(k)}
                for k in before]
        ui.table(rows)
        if all(same_value(before[k], after.get(k)) for k in before):
            st.success(t_("✓ Every output is the same: the passes changed the program, not its meaning."))
        else:
            st.error(t_("The outputs differ: a pass changed the program's meaning."))

        st.subheader(t_("LLVM's -O2 on the same program"))
        with ui.guard("LLVM could not compile the program"):
            cmp = cached_heavy(with_llvm, "compile")(text, tuple(passes))
            ui.show_figure(fit(compare_figure(cmp, t_("Blocks and instructions: ours and LLVM's"),
                                              cache_key=(text, tuple(passes)))), "cf_llvm",
                           t_("Our instructions are three-address code; LLVM's include the loads and stores "
                              "of every variable's stack slot, which -O2 turns into registers and phi nodes "
                              "— compare the drop, not the absolute counts."), rows=vc.llvm_rows(cmp, tr))
            if cmp.agree:
                st.success(t_("✓ LLVM's compiled program returns {out}, as our interpreter does.",
                              out=plain(str(cmp.compiled))))
            else:
                st.error(t_("LLVM's program returns {out}, our interpreter {ours}.",
                            out=plain(str(cmp.compiled)), ours=plain(str(cmp.interpreted))))
            c = st.columns(2)
            with c[0].expander(t_("Our program as LLVM IR (the way clang -O0 writes C)")):
                st.code(cmp.llvm_ir, language="llvm", height=420)
            with c[1].expander(t_("After LLVM -O2")):
                st.code(cmp.optimized_ir, language="llvm", height=420)


pipeline_view()

ui.lesson("cfg_passes")
