"""Exports for slides (issue 14): a stepper's whole run as an animated GIF and a ZIP of PNG frames
(viz/export.export_run, ui/run_export.py), and every figure's "PNG (slide)" (ui/figures.py).

Oracles: Pillow reads the GIF and the PNGs back (frame count, size, pixels); the ring all-reduce's
published step count, 2(N−1) (Patarasuk & Yuan 2009: N−1 reduce-scatter + N−1 all-gather steps), plus
the initial state, is the number of frames of the collectives page's run; numpy's ``linspace`` is the
even sampling of a run longer than the frame cap. The pages' frame functions are checked statically
(no streamlit, no name the page binds again later) and, in AppTest, by pressing each page's GIF button
with kaleido swapped for a recorder (rendering every page's run would take minutes).
"""

from __future__ import annotations

import ast
import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from page_scopes import function_defs, outside_reads, stepper_calls
from PIL import Image, ImageSequence
from streamlit.testing.v1 import AppTest

import ui.run_export
import viz.export
from ui.figures import SLIDE_LAYOUT, SLIDE_SCALE, _render_slide, slide_figure
from viz.export import HOLD_LAST, MAX_FRAMES, RunExport, export_run, sample_steps
from viz.view import adapt

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "labs").glob("*.py"))
HEAVY = {"autodiff", "flash_attention", "pruning"}  # > 5 s per AppTest run here (torch, training)


def _need_chromium():
    if shutil.which("chromium") is None and not os.environ.get("BROWSER_PATH"):
        if os.environ.get("CI"):
            pytest.fail("chromium is required for server-side export in CI")
        pytest.skip("no chromium")


def _frames(gif: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(gif)) as im:
        assert im.format == "GIF"
        return [f.convert("RGB") for f in ImageSequence.Iterator(im)]


# sampling and packing -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 59, 60, 61, 97, 500])
def test_a_long_run_is_sampled_evenly_down_to_the_cap(n):
    steps = sample_steps(n)
    assert steps == sorted(set(steps)) and len(steps) == min(n, MAX_FRAMES)
    assert steps[0] == 0 and steps[-1] == n - 1
    if n > MAX_FRAMES:
        assert steps == np.rint(np.linspace(0, n - 1, MAX_FRAMES)).astype(int).tolist()
    assert sample_steps(0) == []


def _solid_png(k) -> bytes:
    """A 32×18 PNG whose colour encodes ``k`` (stands in for kaleido in the packing test)."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), ((37 * k) % 256, (91 * k) % 256, (k * 5) % 256)).save(buf, "PNG")
    return buf.getvalue()


def test_the_frame_cap_holds_in_the_gif_and_the_zip(monkeypatch):
    monkeypatch.setattr(viz.export, "figure_bytes", lambda fig, fmt, width, height: _solid_png(fig))
    n = 137
    made = export_run(lambda k: k, n, "x_step", ms_per_frame=300)
    expected = np.rint(np.linspace(0, n - 1, MAX_FRAMES)).astype(int)
    assert made.sampled and made.total == n and list(made.steps) == expected.tolist()
    frames = _frames(made.gif)
    assert len(frames) == MAX_FRAMES
    for frame, k in zip(frames, expected):  # each frame is its step's picture, in order
        assert frame.getpixel((5, 5)) == ((37 * k) % 256, (91 * k) % 256, (k * 5) % 256)
    with Image.open(io.BytesIO(made.gif)) as im:
        assert im.info["loop"] == 0 and im.info["duration"] == 300
        im.seek(MAX_FRAMES - 1)
        assert im.info["duration"] == 300 * HOLD_LAST  # the end is held
    with zipfile.ZipFile(io.BytesIO(made.zip)) as archive:
        names = archive.namelist()
        assert names == [f"x_step_step{k + 1:03d}.png" for k in expected]
        assert archive.read(names[-1]) == _solid_png(n - 1)


# a real page's run, rendered by kaleido ------------------------------------------------------------


@pytest.fixture(scope="module")
def collectives_export():
    """The collectives page (ring all-reduce, N = 4 by default) in AppTest, GIF button pressed once."""
    _need_chromium()
    made: list[RunExport] = []

    def recording(*args, **kwargs):
        made.append(export_run(*args, **kwargs))
        return made[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ui.run_export, "export_run", recording)
        at = AppTest.from_file(str(ROOT / "labs" / "collectives.py"), default_timeout=120)
        at.run()
        assert not at.exception
        at.button(key="co_step_gif_make").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(made) == 1
    return at, made[0]


def test_the_ring_all_reduce_gif_has_one_frame_per_step_and_each_differs(collectives_export):
    at, made = collectives_export
    n_devices = at.slider(key="co_n").value
    expected = 2 * (n_devices - 1) + 1  # reduce-scatter and all-gather steps, and the starting buffers
    frames = _frames(made.gif)
    assert len(frames) == expected == made.total and not made.sampled
    assert all(f.size == (1280, 720) for f in frames)
    for before, after in zip(frames, frames[1:]):
        assert before.tobytes() != after.tobytes()
    with zipfile.ZipFile(io.BytesIO(made.zip)) as archive:
        pngs = [archive.read(name) for name in archive.namelist()]
    assert len(pngs) == expected
    for png, frame in zip(pngs, frames):
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size == frame.size
            # the GIF frame is the PNG with a 256-colour palette: nearly every pixel unchanged
            diff = np.abs(np.asarray(im.convert("RGB"), int) - np.asarray(frame, int)).max(axis=2)
            assert (diff <= 8).mean() > 0.99


def test_after_rendering_the_buttons_are_downloads(collectives_export):
    at, _ = collectives_export
    downloads = {d.proto.label: d.proto for d in at.get("download_button")}
    assert downloads["GIF"].url.endswith(".gif") and downloads["Frames (ZIP)"].url.endswith(".zip")
    assert not [b for b in at.button if b.key == "co_step_gif_make"]


# every page that passes frame= --------------------------------------------------------------------


def _frame_arg(call: ast.Call):
    return next((kw.value for kw in call.keywords if kw.arg == "frame"), None)


FRAMED = {}  # page stem -> stepper keys that pass frame=
for _path in PAGES:
    _tree = ast.parse(_path.read_text(encoding="utf-8"))
    _keys = [c.args[0].value for c in stepper_calls(_tree) if _frame_arg(c) is not None]
    if _keys:
        FRAMED[_path.stem] = _keys


def test_frame_functions_draw_nothing_and_read_no_later_name():
    """``frame`` runs on a later rerun of the stepper's fragment, with the globals the page left at the
    end of its run (as ``render`` does, tests/test_stepper.py): it must read no name bound again
    further down (module globals, or a section's names for a frame defined inside a section:
    tests/page_scopes.py), and call no streamlit (its figure goes to kaleido, not to the page)."""
    for path in PAGES:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        defs = function_defs(tree)
        for call in stepper_calls(tree):
            frame = _frame_arg(call)
            if frame is None:
                continue
            assert isinstance(frame, ast.Name), f"{path.name}:{call.lineno}: frame= must name a function"
            reads, late = outside_reads(source, tree, defs[frame.id], path.name)
            assert not reads & {"st"}, f"{path.name}: {frame.id} calls streamlit"
            assert not late, f"{path.name}: {frame.id} reads {sorted(late)}, bound again further down"
            shown = [
                c
                for c in ast.walk(tree)
                if isinstance(c, ast.Call)
                and getattr(c.func, "attr", "") == "show_figure"
                and any(isinstance(a, ast.Call) and getattr(a.func, "id", "") == frame.id for a in c.args)
            ]
            assert shown, f"{path.name}: the page never shows {frame.id}(k) itself"
    # the stepper pages whose step has one main figure (lowering shows code, the tensor-parallel
    # cross-entropy steps a table, micro_kernel's step is two packed operands side by side)
    assert sum(len(keys) for keys in FRAMED.values()) >= 17


def _press_gif(page: str, keys: list[str], monkeypatch) -> None:
    """Open ``page`` with GIF pressed on each framed stepper (the press's session flag set before the
    run: one run instead of two) and check its GIF / ZIP downloads, and that the page's ``frame(k)``
    gives a figure for every exported step (kaleido replaced by a recorder). The press itself is
    clicked on the collectives page above."""
    built: dict[str, list] = {}

    def recorder(frame, n, name, **kwargs):
        built[name] = [frame(k) for k in sample_steps(n)]
        return RunExport(b"GIF89a", b"PK", tuple(sample_steps(n)), n)

    monkeypatch.setattr(ui.run_export, "export_run", recorder)
    at = AppTest.from_file(str(ROOT / "labs" / f"{page}.py"), default_timeout=120)
    for key in keys:
        at.session_state[key + "_export_request"] = True
    at.run()
    assert not at.exception, at.exception
    downloads = {d.proto.label: d.proto for d in at.get("download_button")}
    assert {"GIF", "Frames (ZIP)"} <= set(downloads), f"{page}: no GIF / ZIP download"
    for key in keys:
        figs = built[key]
        n = at.slider(key=key).proto.max
        assert len(figs) == min(n, MAX_FRAMES) and all(isinstance(f, go.Figure) for f in figs)
        assert not [b for b in at.button if b.key == key + "_gif_make"]  # replaced by the downloads


@pytest.mark.parametrize("page", sorted(set(FRAMED) - HEAVY))
def test_stepper_pages_offer_the_run_as_gif_and_zip(page, monkeypatch):
    _press_gif(page, FRAMED[page], monkeypatch)


@pytest.mark.parametrize("page", sorted(set(FRAMED) & HEAVY))
def test_heavy_stepper_pages_offer_the_run_as_gif_and_zip(page, monkeypatch):
    _press_gif(page, FRAMED[page], monkeypatch)


# a figure for a slide ------------------------------------------------------------------------------


def test_slide_png_is_1920x1080_with_presenter_type_and_leaves_the_figure_alone():
    _need_chromium()
    fig = go.Figure(go.Bar(x=["F0", "F1"], y=[1, 2]), layout={"title": {"text": "t"}, "height": 420})
    before = fig.to_json()
    slide = slide_figure(fig, present=False)
    reference = adapt(go.Figure(fig), present=True)
    assert slide.layout.font.size == reference.layout.font.size is not None
    assert slide.layout.title.font.size == reference.layout.title.font.size
    assert fig.to_json() == before  # a cached, shared figure must not change
    again = slide_figure(reference, present=True)  # in presenter mode: already adapted, not twice
    assert (again.layout.margin.t, again.layout.height) == (
        reference.layout.margin.t,
        reference.layout.height,
    )
    png = _render_slide(fig, False)()
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        assert (
            im.size
            == (round(SLIDE_LAYOUT[0] * SLIDE_SCALE), round(SLIDE_LAYOUT[1] * SLIDE_SCALE))
            == (1920, 1080)
        )


def test_every_figure_offers_a_slide_png(lab):
    at = lab("collectives")
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels.count("PNG (slide)") == labels.count("PNG") >= 5
