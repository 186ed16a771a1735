"""Netron inside the app: opens a model from the same port, shows no dialogs, sends nothing away."""

from __future__ import annotations

from urllib.parse import urlparse

from ui.netron import publish_model


def _tiny_model() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["h"], name="relu_node"),
        helper.make_node("Sigmoid", ["h"], ["y"], name="sigmoid_node"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "tiny", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_netron_opens_model_offline_without_dialogs(server, page):
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    model_path = publish_model(_tiny_model())
    page.goto(f"{server}/app/static/netron/index.html?url=/app/static/{model_path}")
    # the graph is drawn: Netron renders node boxes into its SVG canvas
    page.wait_for_selector("#canvas .node", state="attached", timeout=45_000)
    body = page.inner_text("body")
    assert "Relu" in body or page.locator("#canvas").inner_text().find("Relu") >= 0
    assert "cookies" not in body.lower()
    assert "Please update" not in body
    page.wait_for_timeout(1500)  # give any late beacon a chance to show up
    hosts = {urlparse(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1", "localhost"}, f"requests left the machine: {hosts}"


def test_netron_has_no_update_lock_a_year_after_its_build_date(server, page):
    import datetime as dt

    model_path = publish_model(_tiny_model())
    page.clock.install(time=dt.datetime.now() + dt.timedelta(days=400))
    page.goto(f"{server}/app/static/netron/index.html?url=/app/static/{model_path}")
    page.wait_for_selector("#canvas .node", state="attached", timeout=45_000)
    assert "Please update" not in page.inner_text("body")
