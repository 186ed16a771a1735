"""One student cannot reach another's files without the capability in their link (a real browser).

Student A uploads an ONNX model in the Graph Builder (the link now carries ``g=onnx:<sha256>``) and
opens it in Netron (the iframe's model URL is an HMAC of A's session id and the bytes). Student B, in a
second browser context with A's cookies nowhere in it, tries what it could derive or guess:
  - the Netron model under a name it can compute (the bytes' SHA-256, the old naming), under A's name
    with one digit changed, and the models folder itself (a listing);
  - a ``g=onnx:`` key it can compute (the SHA-256 of a model it knows but nobody uploaded) and A's
    key with one digit changed (malformed keys: tests/test_workspace.py);
  - Streamlit's media folder (a listing) and a media id it made up;
each is refused (404 or the "cannot be used" message with the default graph). Opening the same model
through a share link gives B its *own* Netron URL, never A's. A keeps working throughout.
Not here: a capability link is a bearer token — whoever is given A's exact URL may open it (that is
what a share link is for); a departed session's Netron models are deleted (tests/test_janitor.py).
"""

from __future__ import annotations

import hashlib
import re

from conftest import wait_app
from test_netron_browser import _tiny_model

NETRON_SRC = re.compile(
    r"/app/static/netron/index\.html\?url=(/app/static/netron/models/([0-9a-f]{32})\.onnx)"
)


def _flip(hex_text: str) -> str:
    """``hex_text`` with its last digit changed."""
    return hex_text[:-1] + ("0" if hex_text[-1] != "0" else "1")


def _netron_model_url(page) -> str:
    """Open the Graph Builder's Netron view; return the model URL its iframe loads.

    The toggle is bound to the URL (``…_netron_on=true``): a click that lands while the upload's
    rerun replaces the Export tab is lost on a busy machine (CI), so the helper waits for the URL to
    carry the toggle and clicks again (at most three times) before it waits for the iframe."""
    for _ in range(3):
        if "_netron_on=true" in page.url:
            break
        page.get_by_role("tab", name="Export").click()
        # the Export tab's expander (the first-screen "Open in Netron" popover: test_home_links)
        summary = page.locator("[data-testid='stExpander'] summary").filter(has_text="Open in Netron").first
        toggle = page.get_by_text("Show Netron here", exact=False).first
        if not toggle.is_visible():
            summary.click()
        toggle.click()
        try:
            page.wait_for_url(re.compile(r"_netron_on=true"), timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - the click was lost: try again
            wait_app(page)
    wait_app(page)
    frame = page.locator("iframe[src*='netron/index.html']").first
    frame.wait_for(state="attached", timeout=60_000)
    found = NETRON_SRC.search(frame.get_attribute("src") or "")
    assert found, frame.get_attribute("src")
    return found.group(1)


def _refused(page, server: str, g: str) -> None:
    page.goto(f"{server}/graph_builder?g={g}")
    wait_app(page, "Graph Builder")
    page.get_by_text("cannot be used", exact=False).first.wait_for(state="visible")


def test_a_second_context_cannot_reach_the_first_ones_files(server, browser, page, tmp_path):
    model = _tiny_model()
    upload = tmp_path / "tiny.onnx"
    upload.write_bytes(model)
    key = hashlib.sha256(model).hexdigest()

    # A: upload, then Netron on the upload
    page.goto(f"{server}/graph_builder")
    wait_app(page, "Graph Builder")
    page.locator(".st-key-gb_source").get_by_text("ONNX", exact=True).click()
    page.locator(".st-key-gb_upload input[type=file]").set_input_files(str(upload))
    page.wait_for_url(f"**g=onnx%3A{key}**", timeout=60_000)
    wait_app(page)
    a_model = _netron_model_url(page)
    a_name = a_model.rsplit("/", 1)[1][:-5]
    assert a_name not in (key[:32], hashlib.sha256(model).hexdigest()[:20])
    assert page.request.get(server + a_model).status == 200

    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        b = other.new_page()
        b.set_default_timeout(60_000)
        models = f"{server}/app/static/netron/models/"
        for guess in (
            models + f"{hashlib.sha256(model).hexdigest()[:20]}.onnx",  # content hash (old naming)
            models + f"{key[:32]}.onnx",
            models + f"{_flip(a_name)}.onnx",
            models,  # a listing
            f"{server}/media/",
            f"{server}/media/{'ab' * 28}.onnx",
        ):
            status = b.request.get(guess).status
            assert status == 404, f"{guess} answered {status} to a session without the link"

        never_uploaded = hashlib.sha256(model + b"\0").hexdigest()
        for g in (f"onnx:{never_uploaded}", f"onnx:{_flip(key)}"):
            _refused(b, server, g)

        # the share link is the capability: B opens the model, through its own Netron name
        b.goto(f"{server}/graph_builder?g=onnx:{key}")
        wait_app(b, "Graph Builder")
        b_model = _netron_model_url(b)
        assert b_model != a_model
        assert b.request.get(server + b_model).status == 200
    finally:
        other.close()

    # A is untouched: its model is still served and its page still shows the upload
    assert page.request.get(server + a_model).status == 200
    page.reload()
    wait_app(page, "Graph Builder")
    assert f"onnx%3A{key}" in page.url or f"onnx:{key}" in page.url
    page.get_by_text(f"Uploaded model {key[:12]}", exact=False).first.wait_for(state="visible")
