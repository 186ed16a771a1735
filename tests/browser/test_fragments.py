"""Moving a control inside a lab's section reruns that section only (``st.fragment``), in a real browser.

For each lab below, one control inside one of its ``@st.fragment`` sections is changed the way a
student does it (a key press on a slider thumb, a new number typed into a number input, another
option picked in a selectbox). The page's websocket (read from Chrome DevTools' frames, decoded as
Streamlit's ForwardMsg) must then report a *fragment* run finished — not a full run of the page —
and the address bar must carry the control's new value (the share link still restores the view).
Without the fragment, the same move finishes a full run and the test fails.

Not here: what each section draws (the labs' AppTests), sections with heavy first visits (distillation,
QAT training, TVM), whose fragments are the same pattern.
"""

from __future__ import annotations

import re

import pytest
from conftest import wait_app
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.bench_browser import Runs

# lab, widget key, how it is moved
CASES = [
    ("davinci_core", "dv_m", "number"),
    ("gpu_occupancy", "go_threads", "number"),
    ("systolic_array", "sa_m", "number"),
    ("execution_models", "em_bank", "slider"),
    ("lightweight_zoo", "lz_phi", "slider"),
    ("lightweight_models", "lw_c", "slider"),
    ("pruning", "pr_rank_mlp_fc1", "slider"),
    ("tensor_parallel", "tp_rows", "slider"),
    ("control_flow", "cf_input", "slider"),
    ("framework_landscape", "fl_component", "select"),
    ("layout_explorer", "le_pass", "select"),
    ("autodiff", "ad_n", "slider"),
    ("collectives", "co_bucket", "slider"),
    ("dist_memory", "dm_tact", "slider"),
    ("parallel_3d", "p3_batch", "slider"),
    ("data_parallel_designs", "dpd_rpc_steps", "slider"),
]


def _next_status(page, runs: Runs, before: int, timeout_ms: int = 60_000) -> int:
    """The status of the first run that finished after ``before`` runs (full or fragment run)."""
    for _ in range(timeout_ms // 20):
        if runs.finished > before:
            return runs.statuses[before]
        page.wait_for_timeout(20)  # events reach Python only while Playwright waits
    raise AssertionError("no run finished after the move")


def _move(page, key: str, kind: str) -> None:
    box = page.locator(f".st-key-{key}")
    box.wait_for(state="visible")
    if kind == "number":
        field = box.locator("input")
        field.fill(str(int(field.input_value()) + 16))
        field.press("Enter")
    elif kind == "slider":
        thumb = box.locator("[role='slider'], input[type='range']").first
        thumb.focus()
        thumb.press("ArrowRight")
    else:
        field = box.locator("input").first
        field.click()
        options = page.locator("[role='listbox'] [role='option']")
        try:
            options.first.wait_for(state="visible", timeout=5_000)
        except Exception:  # noqa: BLE001 - a click on the field did not open the list: the keyboard does
            field.press("ArrowDown")
            options.first.wait_for(state="visible")
        chosen = [
            i for i in range(options.count()) if options.nth(i).get_attribute("aria-selected") == "true"
        ]
        options.nth(((chosen[0] if chosen else -1) + 1) % options.count()).click()


@pytest.mark.parametrize(("lab", "key", "kind"), CASES, ids=[c[0] for c in CASES])
def test_a_control_in_a_section_reruns_that_section_only(server, page, lab, key, kind):
    runs = Runs(page.context, page)
    page.goto(f"{server}/{lab}")
    wait_app(page)
    assert f"{key}=" not in page.url  # the default is not in the link
    before = runs.finished
    _move(page, key, kind)
    status = _next_status(page, runs, before)
    assert status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, (
        f"{lab}: moving {key} finished a {ForwardMsg.ScriptFinishedStatus.Name(status)}, not a fragment run"
    )
    page.wait_for_url(re.compile(rf"[?&]{key}="), timeout=20_000)
    wait_app(page)
    assert not page.locator("[data-testid='stException']").count()
