"""Home page: the curriculum map is built from the catalog and links every existing lab."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.catalog import LABS, SECTIONS

ROOT = Path(__file__).resolve().parents[1]


def _existing_labs() -> set[str]:
    return {lab.page for lab in LABS if (ROOT / "labs" / f"{lab.page}.py").exists()} - {"home"}


def test_home_through_the_app_links_every_existing_lab():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    linked = {p.proto.page for p in at.get("page_link")}
    assert linked == _existing_labs()
    # every catalogued lab has a card, open or not, and every section with labs a heading
    cards = {k.removeprefix("home_card_") for k in _keys(at) if k.startswith("home_card_")}
    assert cards == {lab.page for lab in LABS} - {"home"}
    headings = {h.value for h in at.subheader}
    assert {SECTIONS[lab.section] for lab in LABS if lab.page != "home"} <= headings


def _keys(at) -> set[str]:
    """Keys of every keyed element or container in the rendered tree."""
    found, stack = set(), [at._tree]
    while stack:
        node = stack.pop()
        if isinstance(getattr(node, "key", None), str):
            found.add(node.key)
        stack.extend(getattr(node, "children", {}).values())
    return found


def test_home_in_chinese_and_standalone_falls_back_to_plain_links():
    at = AppTest.from_file(str(ROOT / "labs" / "home.py"), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "AI 系统实验室"
    text = " ".join(m.value for m in at.markdown)
    for page in _existing_labs():
        assert f"](/{page})" in text
    assert "分享画面" in text and "present=1" in text


def test_home_draws_its_flow_as_svg_with_exports_and_no_plotly_figure():
    """The home page's only figure is an SVG image (the browser loads no plotly code for the landing
    page); it offers its three exports (tests/browser/test_home_flow.py downloads them)."""
    import base64
    import xml.etree.ElementTree as ET

    from ui.i18n import catalog

    for query in ({}, {"lang": "zh", "theme": "dark"}):
        at = AppTest.from_file(str(ROOT / "labs" / "home.py"), default_timeout=60)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception
        assert at.get("plotly_chart") == []
        labels = [b.proto.label for b in at.get("download_button")]
        assert labels[:3] == ["PNG", "PNG（幻灯片）" if query else "PNG (slide)", "SVG"]
        (image,) = at.get("image")
        (url,) = [img.url for img in image.proto.imgs]
        assert url.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(url.split(",", 1)[1]).decode()
        root = ET.fromstring(svg)
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        title = "The curriculum as one flow"
        assert texts[0] == (catalog("zh").text(title) if query else title) != ""
        assert len(root.findall("{http://www.w3.org/2000/svg}rect")) == len(SECTIONS) - 1  # "start" left out
