"""Server-side export: PNG/SVG/PDF through kaleido and the system chromium; data as JSON/CSV."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from engine.core.trace import Event, Timeline
from viz.export import ExportError, figure_bytes, to_csv, to_json
from viz.timeline import gantt


@pytest.fixture(scope="module")
def fig():
    if shutil.which("chromium") is None and not os.environ.get("BROWSER_PATH"):
        if os.environ.get("CI"):
            pytest.fail("chromium is required for server-side export in CI")
        pytest.skip("no chromium")
    tl = Timeline(
        (Event("Cube", 0, 4, "mm 0"), Event("MTE2", 0, 2, "load 0", "transfer")), time_unit="cycles"
    )
    f = gantt(tl, "计算与搬运 / compute and transfer")
    return f


def test_png_is_a_png_of_the_requested_size(fig):
    data = figure_bytes(fig, "png", width=640, height=360)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (640, 360)


def test_svg_keeps_text_as_text(fig):
    svg = figure_bytes(fig, "svg").decode()
    assert svg.lstrip().startswith("<svg") and "</svg>" in svg
    assert "计算与搬运" in svg and "mm 0" in svg


def test_pdf_and_unknown_format(fig):
    assert figure_bytes(fig, "pdf")[:5] == b"%PDF-"
    with pytest.raises(ExportError, match="unknown export format"):
        figure_bytes(fig, "bmp")


def test_data_exports_are_plain():
    data = {"a": np.arange(3), "b": np.float32(1.5), "t": Event("u", 0, 1, "x")}
    parsed = json.loads(to_json(data))
    assert parsed["a"] == [0, 1, 2] and parsed["b"] == 1.5 and parsed["t"]["unit"] == "u"
    csv = to_csv([{"x": 1, "y": 2}, {"x": 3, "z": 4}])
    assert csv.splitlines() == ["x,y,z", "1,2,", "3,,4"]
    assert to_csv([]) == ""
