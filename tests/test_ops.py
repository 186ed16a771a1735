"""Every registered op against an independent oracle: torch for the NN ops, numpy for the rest.

Each case builds a one-op graph with engine.core.ir.GraphBuilder (so shape inference is exercised),
runs it with the reference interpreter and compares with the oracle; shape errors must be ShapeError.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.core.errors import GraphError, ShapeError
from engine.core.interpreter import run
from engine.core.ir import GraphBuilder, validate
from engine.core.registry import KINDS, all_ops, get_op

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(1234)


def rand(*shape, positive=False):
    a = RNG.standard_normal(shape).astype(np.float32)
    return np.abs(a) + 0.5 if positive else a


def apply(op, *arrays, **attrs):
    """Build op(*arrays, **attrs) as a graph, validate it, run it; return the output array."""
    b = GraphBuilder()
    refs = [b.input(value=a) for a in arrays]
    out = b.op(op, *refs, **attrs)
    g = b.build([out])
    validate(g)
    y = run(g)[g.outputs[0]]
    assert y.dtype == np.float32
    assert y.shape == g.node(g.outputs[0]).shape
    return y


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def close(a, b, tol=1e-5):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# -- registry -------------------------------------------------------------------------------------
REQUIRED = """add sub mul div neg pow exp log sin cos tanh sigmoid relu relu6 gelu hswish matmul gemm
conv2d batchnorm maxpool avgpool global_avgpool reshape flatten transpose concat split slice softmax
layernorm reduce_sum reduce_mean reduce_max identity""".split()

EXPECTED_KIND = {
    **{op: "elemwise" for op in "neg exp log sin cos tanh sigmoid relu relu6 gelu hswish".split()},
    **{op: "broadcast" for op in "add sub mul div pow batchnorm".split()},
    **{op: "out_elemwise_fusable" for op in "matmul gemm conv2d maxpool avgpool global_avgpool".split()},
    **{op: "injective" for op in "reshape flatten transpose concat split slice identity".split()},
    **{op: "reduce" for op in "reduce_sum reduce_mean reduce_max".split()},
    "softmax": "opaque",
    "layernorm": "opaque",
}


def test_required_ops_registered_with_tvm_kinds():
    ops = all_ops()
    for name in REQUIRED:
        assert name in ops, name
        assert ops[name].kind == EXPECTED_KIND[name], name
    for op in ops.values():
        assert op.kind in KINDS and op.doc and op.min_inputs <= op.max_inputs
    with pytest.raises(GraphError, match="unknown op 'nope'"):
        get_op("nope")


@pytest.mark.parametrize(
    "op,args,attrs,message",
    [
        ("conv2d", ((1, 2, 5, 5), (3, 2, 3, 3)), {"stride": 1.5}, "stride must be a whole number"),
        ("conv2d", ((1, 2, 5, 5), (3, 2, 3, 3)), {"pad": (1, 1, 1)}, "pair"),
        ("reshape", ((2, 3),), {"shape": ("a", 3)}, "shape must be a whole number"),
        ("batchnorm", ((1, 2), (2,), (2,), (2,), (2,)), {"epsilon": "small"}, "epsilon must be a number"),
        ("leaky_relu", ((3,),), {"alpha": None}, "alpha must be a number"),
        ("gemm", ((2, 3), (3, 4)), {"alpha": "x"}, "alpha must be a number"),
        ("split", ((4,),), {"parts": 2.5}, "parts must be a whole number"),
    ],
)
def test_bad_attribute_types_are_shape_errors(op, args, attrs, message):
    b = GraphBuilder()
    refs = [b.input(s) for s in args]
    with pytest.raises(ShapeError, match=message):
        b.op(op, *refs, **attrs)


def test_attributes_accept_arrays_and_whole_floats():
    x = rand(2, 3)
    close(apply("reshape", x, shape=np.array([3, 2])), x.reshape(3, 2))
    close(apply("split", x, parts=2.0, axis=0, index=1), x[1:])


def test_builder_rejects_unknown_attr_and_wrong_arity():
    b = GraphBuilder()
    x = b.input((2, 3))
    with pytest.raises(ShapeError, match="no attribute 'axiss'"):
        b.op("softmax", x, axiss=0)
    with pytest.raises(ShapeError, match="takes 2"):
        b.op("add", x)


# -- elementwise ----------------------------------------------------------------------------------
UNARY_NUMPY = {
    "neg": np.negative,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "abs": np.abs,
    "square": np.square,
    "identity": lambda x: x,
}
UNARY_TORCH = {
    "sigmoid": torch.sigmoid,
    "relu6": F.relu6,
    "gelu": F.gelu,
    "hswish": F.hardswish,
    "erf": torch.erf,
    "leaky_relu": F.leaky_relu,
}


@pytest.mark.parametrize("name", sorted(UNARY_NUMPY))
def test_unary_vs_numpy(name):
    x = rand(3, 7) * 3
    close(apply(name, x), UNARY_NUMPY[name](x))


@pytest.mark.parametrize("name", sorted(UNARY_TORCH))
def test_unary_vs_torch(name):
    x = np.concatenate([rand(200) * 4, [-100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0]])
    x = x.astype(np.float32)
    close(apply(name, x), UNARY_TORCH[name](T(x)), tol=2e-6)


def test_log_sqrt_on_positive_inputs():
    x = rand(4, 5, positive=True)
    close(apply("log", x), np.log(x))
    close(apply("sqrt", x), np.sqrt(x))


def test_clip_and_leaky_alpha():
    x = rand(10) * 5
    close(apply("clip", x, min=-1.0, max=2.0), np.clip(x, -1, 2))
    close(apply("leaky_relu", x, alpha=0.2), F.leaky_relu(T(x), 0.2))
    with pytest.raises(ShapeError, match="min=3"):
        apply("clip", x, min=3.0, max=1.0)


def test_sigmoid_saturates_without_overflow():
    x = np.array([-1000.0, 1000.0], np.float32)
    close(apply("sigmoid", x), np.array([0.0, 1.0]))


@pytest.mark.parametrize(
    "name,oracle",
    [
        ("add", np.add),
        ("sub", np.subtract),
        ("mul", np.multiply),
        ("div", np.divide),
        ("max", np.maximum),
        ("min", np.minimum),
    ],
)
@pytest.mark.parametrize("sa,sb", [((2, 1, 4), (3, 1)), ((4,), (2, 3, 4)), ((), (2, 2)), ((5, 1), (1, 6))])
def test_binary_broadcast_vs_numpy(name, oracle, sa, sb):
    a, b = rand(*sa), rand(*sb) + (3.0 if name == "div" else 0.0)
    close(apply(name, a, b), oracle(a, b))


def test_pow_vs_numpy():
    a, b = rand(3, 4, positive=True), rand(4)
    close(apply("pow", a, b), np.power(a, b))


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\[2, 3\].*\[4\]"):
        apply("add", rand(2, 3), rand(4))


# -- matmul / gemm --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
        ((2, 1, 3, 4), (5, 4, 6)),
    ],
)
def test_matmul_vs_torch(sa, sb):
    a, b = rand(*sa), rand(*sb)
    close(apply("matmul", a, b), torch.matmul(T(a), T(b)))


def test_matmul_errors():
    with pytest.raises(
        ShapeError,
        match=r"cannot multiply \[4, 8\] by \[7, 16\]: inner sizes 8 "
        r"and 7 differ",
    ):
        apply("matmul", rand(4, 8), rand(7, 16))
    with pytest.raises(ShapeError, match="batch"):
        apply("matmul", rand(2, 3, 4), rand(3, 4, 5))


@pytest.mark.parametrize(
    "ta,tb,alpha,beta,cshape",
    [
        (0, 0, 1.0, 1.0, None),
        (1, 0, 0.5, 2.0, (5,)),
        (0, 1, 1.0, 0.3, (3, 5)),
        (1, 1, 2.0, 1.0, (1, 5)),
        (0, 0, 1.0, 1.0, (3, 1)),
    ],
)
def test_gemm_vs_torch(ta, tb, alpha, beta, cshape):
    a = rand(4, 3) if ta else rand(3, 4)
    b = rand(5, 4) if tb else rand(4, 5)
    args = [a, b] + ([rand(*cshape)] if cshape else [])
    y = apply("gemm", *args, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    ref = alpha * (T(a).T if ta else T(a)) @ (T(b).T if tb else T(b))
    if cshape:
        ref = ref + beta * T(args[2])
    close(y, ref)


def test_gemm_errors():
    with pytest.raises(ShapeError, match="inner sizes 4 and 5"):
        apply("gemm", rand(3, 4), rand(5, 4))
    with pytest.raises(ShapeError, match=r"C of shape \[4\]"):
        apply("gemm", rand(3, 4), rand(4, 5), rand(4))


# -- conv2d ---------------------------------------------------------------------------------------
CONV_CASES = [  # cin, cout, groups, kernel, stride, pad, dilation, bias, hw
    (3, 8, 1, 3, 1, 1, 1, True, (9, 9)),
    (4, 6, 1, 3, 2, 0, 1, False, (10, 11)),
    (4, 6, 2, 3, 1, 2, 2, True, (9, 10)),
    (6, 6, 6, 3, 1, 1, 1, True, (8, 8)),  # depthwise
    (4, 8, 4, 3, 2, 1, 1, False, (9, 9)),  # grouped, channel multiplier 2
    (3, 5, 1, (3, 2), (2, 1), (1, 0), (1, 2), True, (9, 10)),
    (8, 4, 1, 1, 1, 0, 1, False, (5, 5)),  # pointwise
    (3, 4, 1, 7, 2, 3, 1, True, (16, 16)),  # ResNet stem-like
    (5, 5, 5, 3, 2, 2, 2, False, (9, 8)),  # depthwise, strided and dilated
    (2, 3, 1, 3, (1, 3), 4, 1, True, (4, 5)),  # pad wider than the kernel: empty spans
]


@pytest.mark.parametrize("cin,cout,groups,k,stride,pad,dil,bias,hw", CONV_CASES)
def test_conv2d_vs_torch(cin, cout, groups, k, stride, pad, dil, bias, hw):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rand(2, cin, *hw)
    w = rand(cout, cin // groups, kh, kw)
    args = [x, w] + ([rand(cout)] if bias else [])
    y = apply("conv2d", *args, stride=stride, pad=pad, dilation=dil, groups=groups)
    ref = F.conv2d(
        T(x), T(w), T(args[2]) if bias else None, stride=stride, padding=pad, dilation=dil, groups=groups
    )
    close(y, ref, tol=2e-5)


def test_conv2d_errors():
    with pytest.raises(ShapeError, match="groups=3 must divide"):
        apply("conv2d", rand(1, 4, 5, 5), rand(4, 1, 3, 3), groups=3)
    with pytest.raises(ShapeError, match="larger than the padded input 5x5"):
        apply("conv2d", rand(1, 2, 5, 5), rand(3, 2, 7, 7))
    with pytest.raises(ShapeError, match=r"weight \[3, 4, 3, 3\] expects 4 input channels"):
        apply("conv2d", rand(1, 2, 5, 5), rand(3, 4, 3, 3))
    with pytest.raises(ShapeError, match="must have 4 dimensions"):
        apply("conv2d", rand(2, 5, 5), rand(3, 2, 3, 3))
    with pytest.raises(ShapeError, match="stride must be at least 1"):
        apply("conv2d", rand(1, 2, 5, 5), rand(3, 2, 3, 3), stride=0)


# -- batchnorm, pools ----------------------------------------------------------------------------
def test_batchnorm_vs_torch():
    x = rand(2, 5, 4, 3)
    scale, bias, mean, var = rand(5), rand(5), rand(5), rand(5, positive=True)
    y = apply("batchnorm", x, scale, bias, mean, var, epsilon=1e-3)
    ref = F.batch_norm(T(x), T(mean), T(var), T(scale), T(bias), training=False, eps=1e-3)
    close(y, ref)
    with pytest.raises(ShapeError, match=r"var of shape \[4\] should be \[5\]"):
        apply("batchnorm", x, scale, bias, mean, rand(4, positive=True))


POOL_CASES = [
    (2, 0, 0, (8, 8)),
    (3, 2, 1, (9, 10)),
    ((3, 2), (2, 1), (1, 1), (7, 9)),
    (3, 1, 1, (5, 5)),
    (2, 2, 1, (7, 7)),
]


@pytest.mark.parametrize("k,s,p,hw", POOL_CASES)
def test_pools_vs_torch(k, s, p, hw):
    x = rand(2, 3, *hw)
    stride = None if s == 0 else s
    ref_max = F.max_pool2d(T(x), k, stride, p)
    ref_avg = F.avg_pool2d(T(x), k, stride, p, count_include_pad=False)
    close(apply("maxpool", x, kernel=k, stride=s, pad=p), ref_max)
    close(apply("avgpool", x, kernel=k, stride=s, pad=p), ref_avg)


def test_avgpool_differs_from_count_include_pad():
    x = rand(1, 1, 4, 4, positive=True)
    ours = apply("avgpool", x, kernel=3, stride=1, pad=1)
    incl = F.avg_pool2d(T(x), 3, 1, 1, count_include_pad=True).numpy()
    assert not np.allclose(ours, incl)  # corners average 4 real values, not 9


def test_global_avgpool_vs_torch():
    x = rand(2, 4, 5, 3)
    close(apply("global_avgpool", x), F.adaptive_avg_pool2d(T(x), 1))


def test_pool_errors():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        apply("maxpool", rand(1, 1, 3, 3), kernel=5)
    with pytest.raises(ShapeError, match="at most half"):
        apply("avgpool", rand(1, 1, 8, 8), kernel=2, pad=2)


# -- softmax, layernorm ---------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_vs_torch(axis):
    x = rand(3, 4, 5) * 10
    close(apply("softmax", x, axis=axis), F.softmax(T(x), dim=axis))


def test_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, 1002.0]], np.float32)
    y = apply("softmax", x)
    close(y, F.softmax(T(x), dim=-1))
    assert np.isfinite(y).all()


@pytest.mark.parametrize("axis,affine", [(-1, 0), (-1, 2), (1, 2), (2, 1)])
def test_layernorm_vs_torch(axis, affine):
    x = rand(2, 3, 4) * 3 + 1
    norm = x.shape[axis:]
    extra = [rand(*norm), rand(*norm)][:affine]
    y = apply("layernorm", x, *extra, axis=axis, epsilon=1e-5)
    ref = F.layer_norm(T(x), norm, *(T(e) for e in extra), eps=1e-5)
    close(y, ref, tol=2e-5)


def test_layernorm_error():
    with pytest.raises(ShapeError, match=r"scale of shape \[3\] does not broadcast"):
        apply("layernorm", rand(2, 4), rand(3))


# -- shape ops -----------------------------------------------------------------------------------
def test_reshape_flatten_transpose_vs_numpy():
    x = rand(2, 3, 4)
    close(apply("reshape", x, shape=(4, -1)), x.reshape(4, -1))
    close(apply("flatten", x, axis=2), x.reshape(6, 4))
    close(apply("flatten", x, axis=0), x.reshape(1, 24))
    close(apply("flatten", x, axis=-1), x.reshape(6, 4))
    close(apply("transpose", x), x.T)
    close(apply("transpose", x, perm=(1, 0, 2)), x.transpose(1, 0, 2))
    close(apply("identity", x), x)


def test_shape_op_errors():
    with pytest.raises(ShapeError, match=r"cannot reshape \[2, 3\] .* into \[4, -1\]"):
        apply("reshape", rand(2, 3), shape=(4, -1))
    with pytest.raises(ShapeError, match="more than one -1"):
        apply("reshape", rand(2, 3), shape=(-1, -1))
    with pytest.raises(ShapeError, match="not a permutation"):
        apply("transpose", rand(2, 3), perm=(0, 0))
    with pytest.raises(ShapeError, match=r"cannot join \[2, 3\] and \[2, 4\] along axis 0"):
        apply("concat", rand(2, 3), rand(2, 4), axis=0)
    with pytest.raises(ShapeError, match="does not split into 4"):
        apply("split", rand(6, 2), parts=4)
    with pytest.raises(ShapeError, match="out of range"):
        apply("flatten", rand(2, 3), axis=3)


def test_concat_split_vs_numpy():
    a, b, c = rand(2, 3), rand(2, 1), rand(2, 5)
    close(apply("concat", a, b, c, axis=1), np.concatenate([a, b, c], axis=1))
    close(apply("concat", a, a, axis=-2), np.concatenate([a, a], axis=0))
    x = rand(6, 4)
    for k, piece in enumerate(np.split(x, 3, axis=0)):
        close(apply("split", x, parts=3, axis=0, index=k), piece)


@pytest.mark.parametrize(
    "starts,ends,axes,steps,expect",
    [
        ((1,), (3,), None, None, lambda x: x[1:3]),
        ((-3, 0), (100, -1), (0, 1), None, lambda x: x[-3:100, 0:-1]),
        ((4,), (-100,), (1,), (-2,), lambda x: x[:, 4::-2]),
        ((-1,), (-1000,), (0,), (-1,), lambda x: x[::-1]),
        ((0, 1), (5, 5), (-1, 0), (2, 3), lambda x: x[1:5:3, 0:5:2]),
    ],
)
def test_slice_vs_numpy(starts, ends, axes, steps, expect):
    x = rand(5, 6)
    close(apply("slice", x, starts=starts, ends=ends, axes=axes, steps=steps), expect(x))


@pytest.mark.parametrize(
    "name,oracle", [("reduce_sum", np.sum), ("reduce_mean", np.mean), ("reduce_max", np.max)]
)
@pytest.mark.parametrize("axes,keep", [(None, 0), ((1,), 1), ((0, -1), 0), ((2,), 0)])
def test_reductions_vs_numpy(name, oracle, axes, keep):
    x = rand(2, 3, 4)
    close(apply(name, x, axes=axes, keepdims=keep), oracle(x, axis=axes, keepdims=bool(keep)), tol=1e-5)


def test_reduction_axis_error():
    with pytest.raises(ShapeError, match="axis 3 is out of range"):
        apply("reduce_sum", rand(2, 3), axes=(3,))


# -- flops conventions ------------------------------------------------------------------------------
def test_flops_conventions():
    mm = get_op("matmul").flops([(2, 3, 4), (4, 5)], (2, 3, 5), {})
    assert mm == (2 * 2 * 3 * 4 * 5, 2 * 3 * 4 * 5)
    conv = get_op("conv2d")
    at = {**conv.attrs, "pad": 1}
    assert conv.flops([(1, 64, 56, 56), (64, 64, 3, 3)], (1, 64, 56, 56), at)[1] == 64 * 56 * 56 * 64 * 3 * 3
    assert get_op("relu").flops([(3, 4)], (3, 4), {}) == (12, 0)
    assert get_op("reshape").flops([(3, 4)], (12,), {"shape": (12,)}) == (0, 0)
    assert get_op("reduce_sum").flops([(3, 4)], (), {"axes": None, "keepdims": 0}) == (12, 0)
    assert math.isfinite(get_op("softmax").flops([(3, 4)], (3, 4), {"axis": -1})[0])
