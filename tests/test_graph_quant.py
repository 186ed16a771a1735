"""engine.quantize / engine.quant_report and the quantize_linear / dequantize_linear ops, against
onnxruntime (ONNX's own QuantizeLinear/DequantizeLinear, and whole quantised graphs), torch's
observers (MinMaxObserver / PerChannelMinMaxObserver) and torch's fake quantisation."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import random_cnn_graphs, random_graphs

import engine
from engine.compression.graph_quant import LAYERS, model_bytes, relative_error
from engine.compression.quant.observers import qparams
from engine.compression.quant.observers import quantize as observer_quantize
from engine.core.errors import BudgetError, EngineError, ShapeError
from engine.core.interpreter import evaluate, source_value
from engine.core.ir import GraphBuilder, rebuild

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

PRESETS = [p for p in engine.preset_names() if any(n.op in LAYERS for n in engine.preset(p).op_nodes)]
SETTINGS = [
    (bits, scheme, gran)
    for bits in (8, 4)
    for scheme in ("symmetric", "affine")
    for gran in ("per_tensor", "per_channel")
]


def grid_name(bits: int, scheme: str) -> str:
    return f"{'qint' if scheme == 'symmetric' else 'quint'}{bits}"


def ort_session(data: bytes):
    """onnxruntime running every ONNX node as the standard defines it (no graph optimisation).

    Its optimisers change a QDQ model's numbers, so they are off for the oracle: the basic level
    rewrites a float conv bias read by Q/DQ inputs into an int32 bias on the s_x * s_w grid; the
    extended level fuses into QLinearMatMul / MatMulIntegerToFloat, whose int8 x int8 kernels on an
    AVX2 CPU without VNNI saturate 16-bit sums (the self_attention preset moved by 0.6 here)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def assert_onnxruntime_agrees(graph, q, bits: int, scheme: str) -> onnx.ModelProto:
    """ORT's output of the exported q equals engine.run(q) within one step of the output's scale.

    Every quantize_linear's codes are compared too (exposed as extra outputs): float sums in another
    order can put a value on the other side of a rounding tie, and a code one step off upstream can
    move an output by more than one of *its* steps. So: codes may differ only by 1, at a handful of
    elements; with ORT's codes put into our run, the outputs agree to float precision; with no code
    off, they agree within one output step.
    """
    codes = tuple(n.name for n in q.op_nodes if n.op == "quantize_linear")
    data = engine.to_onnx(rebuild(q.nodes, q.outputs + codes, q.title))
    feeds = {n.name: source_value(n, 0) for n in q.inputs}
    got = ort_session(data).run(None, feeds)
    theirs = dict(zip(q.outputs + codes, got))
    ours, ref = engine.run(q), engine.run(graph)
    flipped = {c: np.abs(ours[c].astype(int) - theirs[c].astype(int)) for c in codes}
    for c, off in flipped.items():
        assert off.max(initial=0) <= 1 and np.count_nonzero(off) <= max(1, off.size // 1000), c
    if any(off.any() for off in flipped.values()):
        ours = evaluate(q, {**feeds, **{c: theirs[c] for c in codes}})
    for o, oq in zip(graph.outputs, q.outputs):
        step = float(np.max(qparams(ref[o], grid_name(bits, scheme), scheme)[0]))
        tol = step if not any(off.any() for off in flipped.values()) else 1e-3 * step
        assert np.abs(theirs[oq] - ours[oq]).max() <= tol, (o, np.abs(theirs[oq] - ours[oq]).max(), step)
    return onnx.load_model_from_string(engine.to_onnx(q))


# -- the whole pass against onnxruntime ------------------------------------------------------------
@pytest.mark.parametrize("bits,scheme,gran", SETTINGS)
@pytest.mark.parametrize("name", PRESETS)
def test_quantised_presets_run_in_onnxruntime_as_in_our_interpreter(name, bits, scheme, gran):
    graph = engine.preset(name)
    q = engine.quantize(graph, bits=bits, scheme=scheme, granularity=gran)
    engine.validate(q)
    model = assert_onnxruntime_agrees(graph, q, bits, scheme)
    ops = [n.op for n in q.op_nodes]
    types = [n.op_type for n in model.graph.node]
    assert types.count("QuantizeLinear") == ops.count("quantize_linear") > 0
    assert types.count("DequantizeLinear") == ops.count("dequantize_linear")
    stored = {TensorProto.INT8 if scheme == "symmetric" else TensorProto.UINT8}
    weights = [t for t in model.graph.initializer if t.name.endswith(".q")]
    assert weights and {t.data_type for t in weights} == stored  # weights travel as int8/uint8
    back = engine.from_onnx(model.SerializeToString())  # and read back as they were
    env = engine.run(back, {n.name: source_value(n, 0) for n in back.inputs})
    np.testing.assert_array_equal(env[back.outputs[0]], engine.run(q)[q.outputs[0]])


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(st.one_of(random_graphs(max_nodes=8), random_cnn_graphs(max_nodes=6)), st.sampled_from(SETTINGS))
def test_quantised_random_programs_run_in_onnxruntime_as_in_our_interpreter(graph, setting):
    assume(any(n.op in LAYERS for n in graph.op_nodes))
    bits, scheme, gran = setting
    q = engine.quantize(graph, bits=bits, scheme=scheme, granularity=gran)
    engine.validate(q)
    assert_onnxruntime_agrees(graph, q, bits, scheme)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("name", ["conv_bn_relu", "mlp", "resnet_basic_block"])
def test_models_quantised_by_onnxruntime_import_and_run_as_onnxruntime_runs_them(name, per_channel, tmp_path):
    """An independent QDQ producer: onnxruntime.quantization.quantize_static (int8 weights, int32
    biases with a one-element scale, uint8 activations) -> from_onnx -> engine.run == onnxruntime."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    graph = engine.preset(name)
    x = graph.inputs[0]

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.left = iter([{x.name: source_value(x, seed)} for seed in range(3)])

        def get_next(self):
            return next(self.left, None)

    (tmp_path / "f.onnx").write_bytes(engine.to_onnx(graph))
    quantize_static(
        str(tmp_path / "f.onnx"),
        str(tmp_path / "q.onnx"),
        Batches(),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    data = (tmp_path / "q.onnx").read_bytes()
    back = engine.from_onnx(data)
    assert {"quantize_linear", "dequantize_linear"} <= {n.op for n in back.op_nodes}
    feed = source_value(x, 7)
    theirs = ort_session(data).run(None, {x.name: feed})[0]
    ours = engine.run(back, {back.inputs[0].name: feed})[back.outputs[0]]
    # The output is quantised, so the two differ only where float sums in a different order put
    # an upstream value on the other side of a rounding tie: a few elements, by whole steps.
    out = back.node(back.outputs[0])
    assert out.op == "dequantize_linear"
    steps = (ours - theirs) / float(back.node(out.inputs[1]).attr("value").array)
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-3)
    assert np.count_nonzero(steps) <= max(1, steps.size // 1000) and np.abs(steps).max() <= 4
    again = ort_session(engine.to_onnx(back)).run(None, {back.inputs[0].name: feed})[0]
    np.testing.assert_array_equal(again, theirs)  # and our export of it runs as the original


# -- the two ops against onnxruntime's QuantizeLinear / DequantizeLinear ---------------------------
def _ort_op(op_type: str, x: np.ndarray, scale, zero, axis: int | None):
    """One ONNX node built by hand (not by our exporter), run by onnxruntime."""
    inits = [
        numpy_helper.from_array(np.asarray(scale, np.float32), "s"),
        numpy_helper.from_array(np.asarray(zero), "z"),
    ]
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node(op_type, ["x", "s", "z"], ["y"], **attrs)
    x_type = helper.np_dtype_to_tensor_dtype(x.dtype)
    y_type = (
        helper.np_dtype_to_tensor_dtype(np.asarray(zero).dtype)
        if op_type == "QuantizeLinear"
        else TensorProto.FLOAT
    )
    g = helper.make_graph(
        [node],
        "one",
        [helper.make_tensor_value_info("x", x_type, x.shape)],
        [helper.make_tensor_value_info("y", y_type, x.shape)],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _ours(op: str, x, scale, zero, axis, **attrs):
    b = GraphBuilder()
    refs = [
        b.input(value=x, dtype=str(x.dtype)),
        b.constant(scale),
        b.constant(zero, dtype=str(np.asarray(zero).dtype)),
    ]
    g = b.build([b.op(op, *refs, axis=1 if axis is None else axis, **attrs)])
    engine.validate(g)
    return engine.run(g)[g.outputs[0]]


def _ties(scale: float, zero: int, size: int, rng) -> np.ndarray:
    """Exact halves (k + 0.5) * scale (scale a power of two), saturating values, signed zeros."""
    halves = (rng.integers(-300, 300, size) + 0.5) * scale
    return np.concatenate(
        [
            halves,
            [
                1e6,
                -1e6,
                0.0,
                -0.0,
                np.inf,
                -np.inf,
                (127.5 - zero) * scale,
                (-128.5 - zero) * scale,
                (255.5 - zero) * scale,
            ],
        ]
    ).astype(np.float32)


@pytest.mark.parametrize("dtype,zero", [("int8", 0), ("int8", -7), ("uint8", 128), ("uint8", 3)])
def test_quantize_linear_equals_onnxruntime_on_ties_and_saturation(dtype, zero):
    rng = np.random.default_rng(0)
    for scale in (0.5, 0.125, 2.0):
        x = _ties(scale, zero, 400, rng)
        theirs = _ort_op("QuantizeLinear", x, np.float32(scale), np.array(zero, dtype), None)
        ours = _ours("quantize_linear", x, np.float32(scale), np.array(zero, dtype), None)
        assert ours.dtype == theirs.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(ours, theirs)
    assert np.array_equal(np.rint(np.float32([0.5, 1.5, 2.5, -0.5])), [0, 2, 2, -0])  # half to even


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("axis", [None, 1, -1])
def test_quantize_and_dequantize_linear_equal_onnxruntime_on_random_arrays(dtype, axis):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 5, 4)) * rng.uniform(0.1, 40)).astype(np.float32)
    lo, hi = (-128, 127) if dtype == "int8" else (0, 255)
    channels = None if axis is None else x.shape[axis]
    shape = () if channels is None else (channels,)
    scale = rng.uniform(0.01, 0.3, shape).astype(np.float32)
    zero = rng.integers(lo // 4 + hi // 4, hi // 2 + 1, shape).astype(dtype)
    q_theirs = _ort_op("QuantizeLinear", x, scale, zero, axis)
    q_ours = _ours("quantize_linear", x, scale, zero, axis)
    np.testing.assert_array_equal(q_ours, q_theirs)
    codes = rng.integers(lo, hi + 1, x.shape).astype(dtype)
    np.testing.assert_array_equal(
        _ours("dequantize_linear", codes, scale, zero, axis),
        _ort_op("DequantizeLinear", codes, scale, zero, axis),
    )


def test_dequantize_linear_reads_an_int32_bias_like_onnxruntime():
    codes = np.array([-(2**31), -5, 0, 7, 2**31 - 1], np.int32)
    np.testing.assert_array_equal(
        _ours("dequantize_linear", codes, np.float32(0.01), np.int32(0), None),
        _ort_op("DequantizeLinear", codes, np.float32(0.01), np.int32(0), None),
    )


def test_narrow_grid_fake_quantises_and_exports_exactly():
    """bits < 8: the grid -8..7 held in int8; ONNX export clamps in float first, with equal codes."""
    x = _ties(0.25, 0, 200, np.random.default_rng(2))
    b = GraphBuilder()
    q = b.op(
        "quantize_linear",
        b.input(value=x),
        b.constant(np.float32(0.25)),
        b.constant(np.int8(0), dtype="int8"),
        qmin=-8,
        qmax=7,
    )
    g = b.build([q])
    ours = engine.run(g)[g.outputs[0]]
    assert ours.min() == -8 and ours.max() == 7
    np.testing.assert_array_equal(ours, np.clip(np.rint(x / np.float32(0.25)), -8, 7))
    theirs = ort_session(engine.to_onnx(g)).run(None, {g.inputs[0].name: x})[0]
    np.testing.assert_array_equal(ours, theirs)


# -- weights: the observers' scales and torch's ------------------------------------------------------
def _torch_qparams(w: np.ndarray, bits: int, scheme: str, axis: int | None):
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

    signed = scheme == "symmetric"
    dtype = torch.qint8 if signed else torch.quint8
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    kind = "symmetric" if signed else "affine"
    custom = {} if bits == 8 else {"quant_min": qmin, "quant_max": qmax}
    if axis is None:
        obs = MinMaxObserver(dtype=dtype, qscheme=getattr(torch, f"per_tensor_{kind}"), **custom)
    else:
        obs = PerChannelMinMaxObserver(
            ch_axis=axis, dtype=dtype, qscheme=getattr(torch, f"per_channel_{kind}"), **custom
        )
    obs(torch.from_numpy(np.array(w)))
    s, z = obs.calculate_qparams()
    return s.numpy(), z.numpy()


@pytest.mark.parametrize("bits,scheme,gran", SETTINGS)
@pytest.mark.parametrize("name", ["mlp", "conv_bn_relu", "mobilenetv2_inverted_residual", "self_attention"])
def test_weight_scales_are_torch_observers(name, bits, scheme, gran):
    graph = engine.preset(name)
    q = engine.quantize(graph, bits=bits, scheme=scheme, granularity=gran)
    checked = 0
    for dq in (n for n in q.op_nodes if n.op == "dequantize_linear"):
        codes, scale, zero = (q.node(i) for i in dq.inputs)
        if codes.op != "constant":
            continue  # an activation's pair
        w = source_value(graph.node(codes.name[:-2]), 0)
        axis = dq.attr("axis") if gran == "per_channel" else None
        s_torch, z_torch = _torch_qparams(w, bits, scheme, axis)
        np.testing.assert_allclose(np.ravel(scale.attr("value").array), np.ravel(s_torch), rtol=1e-7)
        np.testing.assert_array_equal(np.ravel(zero.attr("value").array), np.ravel(z_torch))
        stored = codes.attr("value").array
        expected = observer_quantize(w, s_torch, z_torch, grid_name(bits, scheme), axis)
        np.testing.assert_array_equal(stored, expected)  # observers.quantize, ONNX rounding
        checked += 1
    assert checked == sum(
        1 for n in graph.op_nodes if n.op in LAYERS for i in n.inputs[:2] if graph.node(i).op == "param"
    )


def test_per_channel_axis_is_the_output_channel():
    g = engine.parse_program(
        "x = input([3, 4])\nA = param([5, 4])\nB = param([4, 6])\n"
        "y = gemm(x, A, trans_b=1)\nz = matmul(y, param([5, 2]))\n"
        "c = conv2d(input([1, 2, 5, 5]), param([7, 2, 3, 3]))\n"
    )
    q = engine.quantize(g, granularity="per_channel")
    scales = {n.name: n.shape for n in q.nodes if n.name.endswith(".scale")}
    weight_scales = sorted(s for name, s in scales.items() if s)
    assert weight_scales == [(2,), (5,), (7,)]  # gemm B^T rows, matmul columns, conv filters


# -- calibration against torch's MinMaxObserver over several batches -------------------------------
def test_activation_scales_are_torch_minmax_over_the_calibration_batches():
    graph = engine.preset("mlp")
    rng = np.random.default_rng(3)
    batches = [{"x": rng.standard_normal((4, 16)).astype(np.float32) * k} for k in (1, 3, 0.5)]
    q = engine.quantize(graph, scheme="affine", calibration=batches)
    from torch.ao.quantization import MinMaxObserver

    for act in ("x", "h"):
        obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
        for batch in batches:
            obs(torch.from_numpy(engine.run(graph, batch)[act]))
        s, z = obs.calculate_qparams()
        assert q.node(f"{act}.scale").attr("value").array == pytest.approx(float(s), rel=1e-7)
        assert int(q.node(f"{act}.zero_point").attr("value").array) == int(z)


# -- the report: per-layer errors against torch, bytes against the cost model ----------------------
def _torch_fake(x, s, z, qmin, qmax, axis=None):
    t = torch.from_numpy(np.array(x))
    if axis is None:
        return torch.fake_quantize_per_tensor_affine(
            t, float(np.ravel(s)[0]), int(np.ravel(z)[0]), qmin, qmax
        )
    return torch.fake_quantize_per_channel_affine(
        t, torch.from_numpy(s), torch.from_numpy(z).int(), axis, qmin, qmax
    )


def test_report_layer_errors_match_torch_fake_quantisation():
    graph = engine.preset("conv_bn_relu")
    q = engine.quantize(graph, granularity="per_channel")
    rep = engine.quant_report(graph, q)
    env = engine.run(graph)
    x, w = env["x"], env["W"]
    sx, zx = _torch_qparams(x, 8, "symmetric", None)
    sw, zw = _torch_qparams(w, 8, "symmetric", 0)
    y = torch.nn.functional.conv2d(
        _torch_fake(x, sx, zx, -128, 127), _torch_fake(w, sw, zw.astype(np.int64), -128, 127, 0), padding=1
    )
    expected = relative_error(y.numpy(), env["c"])
    (layer,) = rep.layers
    assert layer.layer == "c" and layer.quantised == ("x", "W")
    assert layer.alone == pytest.approx(expected, rel=1e-3)
    assert layer.with_all == layer.alone  # nothing upstream is quantised
    assert rep.outputs[0][0] == "y" and 0 < rep.outputs[0][1] < 0.02


def test_report_sees_upstream_error_and_counts_bytes_and_nodes():
    graph = engine.preset("mlp")
    q = engine.quantize(graph)
    rep = engine.quant_report(graph, q)
    assert [ly.layer for ly in rep.layers] == ["matmul#1", "matmul#2"]
    assert rep.layers[1].with_all > rep.layers[1].alone > 0  # layer 1's error reaches layer 2
    params = engine.cost(graph).params  # the cost model's count, fp32
    assert rep.bytes_before == 4 * params == model_bytes(graph)
    weights = 16 * 32 + 32 * 10
    assert rep.bytes_after == 4 * (params - weights) + weights + 4 * (4 + 1)  # + 4 scale/zp pairs
    assert (rep.quantize_nodes, rep.dequantize_nodes) == (2, 4)
    assert rep.compression == pytest.approx(rep.bytes_before / rep.bytes_after)
    assert {"layer", "alone", "with_all"} <= set(rep.rows()[0])


# -- properties ------------------------------------------------------------------------------------
def _output_errors(graph, bits_list, scheme, gran, seed) -> list[float]:
    ref = engine.run(graph, seed=seed)
    errors = []
    for bits in bits_list:
        q = engine.quantize(graph, bits=bits, scheme=scheme, granularity=gran, seed=seed)
        out = engine.run(q, seed=seed)
        errors.append(max(relative_error(out[oq], ref[o]) for o, oq in zip(graph.outputs, q.outputs)))
    return errors


@pytest.mark.parametrize("name", PRESETS)
def test_output_error_shrinks_with_every_bit_on_the_presets(name):
    for scheme, gran in [("symmetric", "per_tensor"), ("affine", "per_channel")]:
        errors = _output_errors(engine.preset(name), range(2, 9), scheme, gran, seed=1)
        assert all(b < a for a, b in zip(errors, errors[1:])), (scheme, gran, errors)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    random_cnn_graphs(max_nodes=5),
    st.sampled_from(["symmetric", "affine"]),
    st.sampled_from(["per_tensor", "per_channel"]),
    st.integers(0, 3),
)
def test_output_error_shrinks_as_bits_grow_on_random_networks(graph, scheme, gran, seed):
    """Three bits apart the step is 8x finer. (A few values can be lucky: their rounding errors may
    all be small on a coarse grid; so every layer input and output here has 16 values or more.)"""
    layers = [n for n in graph.op_nodes if n.op in LAYERS]
    sizes = [np.prod(graph.node(n.inputs[0]).shape) for n in layers]
    sizes += [np.prod(graph.node(o).shape) for o in graph.outputs]
    assume(layers and min(sizes) >= 16)
    errors = _output_errors(graph, (2, 5, 8), scheme, gran, seed)
    assume(errors[0] > 1e-6)  # not an output no quantisation can change (all zeros)
    assert errors[0] > errors[1] >= errors[2], errors  # equal only when both are exact (0)


def test_quantize_is_deterministic_and_keeps_the_float_graph():
    graph = engine.preset("resnet_basic_block")
    assert engine.quantize(graph) == engine.quantize(graph)
    assert engine.quantize(graph, seed=1) != engine.quantize(graph)
    assert not any(n.op in ("quantize_linear", "dequantize_linear") for n in graph.op_nodes)


def test_gradients_flow_through_the_quantised_graph_as_through_torch_fake_quantisation():
    """engine.grad (reverse and forward mode) on a quantised graph uses the straight-through
    estimator: the same gradient as torch autograd through fake_quantize on the same numbers."""
    graph = engine.parse_program(
        "x = input([4, 16])\nW = param([16, 8])\nh = relu(x @ W)\ny = reduce_sum(h * h)\n"
    )
    q = engine.quantize(graph, scheme="affine", granularity="per_channel")
    env = engine.run(q)
    xt = torch.tensor(env["x"], requires_grad=True)
    s, z = float(env["x.scale"]), int(env["x.zero_point"])
    h = torch.relu(torch.fake_quantize_per_tensor_affine(xt, s, z, 0, 255) @ torch.tensor(env["W.dq"]))
    (h * h).sum().backward()
    for mode in ("reverse", "forward"):
        ours = engine.grad(q, "y", ["x"], mode=mode)["x"]
        np.testing.assert_allclose(ours, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def _qdq_model(zero: np.ndarray, scale: np.ndarray, x_shape=(2, 3), **attrs) -> bytes:
    g = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)],
        "h",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero, "z")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


@pytest.mark.parametrize(
    "zero,scale,message",
    [
        (np.int16(0), np.float32(0.1), "only int8, uint8"),
        (np.int8(0), np.ones((2, 2), np.float32), "scale of shape \\[2, 2\\] does not fit x"),
        (np.zeros(2, np.int8), np.ones(3, np.float32), "zero_point of shape \\[2\\] should have the scale"),
        (np.int8(0), np.ones(4, np.float32), "scale has 4 values but x of shape \\[2, 3\\] has 3"),
    ],
)
def test_malformed_qdq_uploads_are_engine_errors(zero, scale, message):
    with pytest.raises(EngineError, match=message):
        engine.from_onnx(_qdq_model(zero, scale))


# -- refusals ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"bits": 1}, "bits must be a whole number from 2 to 8, got 1"),
        ({"bits": 16}, "from 2 to 8, got 16"),
        ({"bits": 8.5}, "got 8.5"),
        ({"bits": True}, "got True"),
        ({"scheme": "asymmetric"}, "scheme must be 'symmetric' or 'affine', got 'asymmetric'"),
        ({"granularity": "per_row"}, "granularity must be 'per_tensor' or 'per_channel'"),
        ({"calibration": {"x": 1}}, "calibration must be None or a non-empty list"),
        ({"calibration": []}, "non-empty list"),
        ({"calibration": [[1, 2]]}, "calibration batch 0 must be a dict"),
        ({"calibration": [{"W1": np.zeros((16, 32))}]}, "'W1', which is not an input of the graph"),
        ({"calibration": [{"x": np.zeros((2, 16))}]}, r"input 'x' has shape \[4, 16\], the batch gives"),
        ({"seed": "zero"}, "seed must be a whole number"),
    ],
)
def test_bad_arguments_are_clear_engine_errors(kwargs, message):
    with pytest.raises(EngineError, match=message):
        engine.quantize(engine.preset("mlp"), **kwargs)


def test_graphs_it_cannot_quantise_say_why():
    with pytest.raises(EngineError, match="no conv2d, matmul or gemm layer to quantise; try the"):
        engine.quantize(engine.preset("autodiff_example"))
    q = engine.quantize(engine.preset("mlp"))
    with pytest.raises(EngineError, match="already quantised"):
        engine.quantize(q)
    with pytest.raises(EngineError, match="needs a Graph, got str"):
        engine.quantize("mlp")
    with pytest.raises(EngineError, match="q_graph has no quantised layer"):
        engine.quant_report(engine.preset("mlp"), engine.preset("mlp"))
    with pytest.raises(EngineError, match="is not in float_graph"):
        engine.quant_report(engine.preset("conv_bn_relu"), q)
    with pytest.raises(ShapeError, match="scale has 3 values but x of shape"):
        b = GraphBuilder()
        b.op("quantize_linear", b.input((2, 4)), b.constant(np.ones(3)), axis=1)
    with pytest.raises(ShapeError, match=r"the grid \[-200, 7\] must be non-empty and lie inside int8"):
        b = GraphBuilder()
        b.op(
            "quantize_linear",
            b.input((2,)),
            b.constant(1.0),
            b.constant(np.int8(0), dtype="int8"),
            qmin=-200,
            qmax=7,
        )
    b = GraphBuilder()
    g = b.build([b.op("quantize_linear", b.input((2,)), b.constant(-1.0))])
    with pytest.raises(EngineError, match="scale must be positive and finite"):
        engine.run(g)


def test_calibration_over_budget_is_refused_before_any_run():
    graph = engine.parse_program(
        "x = input([8, 64, 64, 64])\ny = conv2d(x, param([64, 64, 3, 3]), pad=1)\n"
    )  # 2.4 GFLOPs a run: 4 runs are too many
    start = time.perf_counter()
    with pytest.raises(BudgetError, match="calibrating on 4 batch"):
        engine.quantize(graph, calibration=[{}] * 4)
    assert time.perf_counter() - start < 1.0
