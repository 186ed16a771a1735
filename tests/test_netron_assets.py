"""Our copy of Netron's web assets is patched: no telemetry, no consent/ip lookup, no update lock."""

from __future__ import annotations

import re

from ui.netron import publish_model
from ui.netron_assets import TARGET, ensure_netron


def test_patched_copy_is_neutralised():
    folder = ensure_netron()
    html = (folder / "index.html").read_text(encoding="utf-8")
    js = (folder / "browser.js").read_text(encoding="utf-8")
    assert '<meta name="version" content="0.0.0">' in html
    assert re.search(r"connect-src 'self' data: blob:", html)
    assert "ipinfo.io" not in js
    assert "if (false && days > 180)" in js
    assert "if (this._environment.packaged) {" not in js
    assert "no consent dialog" in js


def test_published_models_are_capped_and_content_addressed():
    ensure_netron()
    a = publish_model(b"model-a")
    assert a == publish_model(b"model-a")
    assert (TARGET.parent / a).read_bytes() == b"model-a"
    for k in range(70):
        publish_model(f"m{k}".encode())
    assert len(list((TARGET / "models").glob("*.onnx"))) <= 64
