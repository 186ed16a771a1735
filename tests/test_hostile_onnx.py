"""Hostile ONNX uploads: every case ends in an EngineError, fast, small, and touching no file.

The app is hosted for anonymous students, and anyone may upload an ONNX file. Each case of the
table is generated here (no fixture files); each must raise an :class:`engine.EngineError` (never
another type) within 2 s of CPU time, with a traced memory peak well under the graph budget
(:data:`engine.core.budget.MAX_GRAPH_ELEMENTS` fp32 = 256 MiB). protobuf decodes in C, where tracemalloc
cannot see, so the decompression-bomb case measures the process's peak RSS in a subprocess.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine import from_onnx, to_onnx
from engine.core import budget

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
F = TensorProto.FLOAT
TIME_LIMIT_S = 2.0
PEAK_LIMIT = 96 << 20  # traced bytes; the graph budget is 256 MiB


# -- builders -------------------------------------------------------------------------------------
def _vi(name: str, dims) -> object:
    return helper.make_tensor_value_info(name, F, list(dims))


def _model(nodes, inputs=(("x", [4]),), outputs=(("y", [4]),), inits=(), opset=17, **kw) -> bytes:
    g = helper.make_graph(
        list(nodes), "g", [_vi(n, d) for n, d in inputs], [_vi(n, d) for n, d in outputs], list(inits)
    )
    ops = [] if opset is None else [helper.make_opsetid("", opset)]
    m = helper.make_model(g, opset_imports=ops, **kw)
    return m.SerializeToString()


def _relu(i: str = "x", o: str = "y", **kw):
    return helper.make_node("Relu", [i], [o], **kw)


def _external(name: str, location: str, *, entries: bool = True, flag: bool = True):
    t = TensorProto(name=name, data_type=F, dims=[4])
    if flag:
        t.data_location = TensorProto.EXTERNAL
    if entries:
        for k, v in (("location", location), ("offset", "0"), ("length", "16")):
            t.external_data.add(key=k, value=v)
    return t


def _add_w(w_tensor=None, **kw) -> bytes:
    """y = x + w with the initializer ``w`` (or an attribute-held tensor, see callers)."""
    return _model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[w_tensor] if w_tensor else [], **kw)


def _raw_init(dims, raw: bytes, dtype=F):
    return TensorProto(name="w", data_type=dtype, dims=list(dims), raw_data=raw)


def _chain(n: int, use_last_extra: bool) -> bytes:
    """n Relu nodes, each declaring an unused second output (the quadratic case of issue 11)."""
    nodes = [helper.make_node("Relu", [f"v{k}"], [f"v{k + 1}", f"aux{k}"]) for k in range(n)]
    if use_last_extra:  # consuming one extra output makes the import fail, after the whole scan
        nodes.append(helper.make_node("Relu", [f"aux{n - 1}"], ["z"]))
    return _model(nodes, inputs=[("v0", [4])], outputs=[(f"v{n}", [4])])


def _colliding_names(n: int, output_made: bool = False) -> bytes:
    """n nodes whose output names all sanitise to the same base ("v"): naming must stay linear.
    The graph output is the last of them, or (a failing case) a value nothing makes."""
    marks = "!@$%^&*()-"
    names = ["".join(marks[(k // 10**p) % 10] for p in range(5)) for k in range(n)]
    nodes = [_relu(a, b) for a, b in zip(["x", *names[:-1]], names)]
    return _model(nodes, outputs=[(names[-1] if output_made else "never_made", [4])])


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand to build malformed wire data."""

    def varint(v: int) -> bytes:
        out = bytearray()
        while v >= 0x80:
            out.append(v & 0x7F | 0x80)
            v >>= 7
        return bytes(out + bytes([v]))

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _many_nodes(n: int) -> bytes:
    node = _field(1, _relu().SerializeToString())  # GraphProto.node = 1, ModelProto.graph = 7
    return _field(7, node * n) + _field(8, helper.make_opsetid("", 17).SerializeToString())


def _nested_if(depth: int) -> bytes:
    """If nodes nested ``depth`` deep, written as wire bytes (upb refuses to build them past 100)."""
    graph = helper.make_graph([_relu()], "leaf", [], [_vi("y", [4])]).SerializeToString()
    for _ in range(depth):  # AttributeProto: name = 1, g = 6, type = 20 (GRAPH = 5)
        attr = _field(1, b"then_branch") + _field(6, graph) + b"\xa0\x01\x05"
        node = _field(1, b"c") + _field(2, b"y") + _field(4, b"If") + _field(5, attr)
        graph = _field(1, node)
    return _field(7, graph) + _field(8, helper.make_opsetid("", 17).SerializeToString())


def _subgraph_with(tensor) -> bytes:
    branch = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "b", [], [_vi("y", [4])], [tensor]
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
    return _model([node], inputs=[("c", []), ("x", [4])])


def _function_model(*, nested: bool, const=None) -> bytes:
    inner = helper.make_function(
        "lab", "Inner", ["a"], ["b"], [_relu("a", "b")], [helper.make_opsetid("", 17)]
    )
    body = [helper.make_node("Inner", ["a"], ["b"], domain="lab")] if nested else [_relu("a", "b")]
    if const is not None:
        body = [helper.make_node("Constant", [], ["k"], value=const), *body]
    outer = helper.make_function(
        "lab", "Outer", ["a"], ["b"], body, [helper.make_opsetid("", 17), helper.make_opsetid("lab", 1)]
    )
    g = helper.make_graph(
        [helper.make_node("Outer", ["x"], ["y"], domain="lab")], "g", [_vi("x", [4])], [_vi("y", [4])]
    )
    m = helper.make_model(
        g,
        functions=[inner, outer],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("lab", 1)],
    )
    return m.SerializeToString()


def _const_of_shape(dims, out: str = "big") -> list:
    """Constant(dims) -> ConstantOfShape: a tensor of zeros folded at import."""
    shape = helper.make_tensor(out + "_dims", TensorProto.INT64, [len(dims)], list(dims))
    return [
        helper.make_node("Constant", [], [out + "_shape"], value=shape),
        helper.make_node("ConstantOfShape", [out + "_shape"], [out]),
    ]


def _broadcast_bomb() -> bytes:
    """Two 8k-element constants whose folded sum would hold 67 M elements."""
    nodes = [
        *_const_of_shape([8192, 1], "a"),
        *_const_of_shape([1, 8192], "b"),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    return _model(nodes, inputs=[])


def _many_folds() -> bytes:
    """Ten 16-MiB ConstantOfShape folds: each is under the tensor budget, together they are not."""
    nodes = [n for k in range(10) for n in _const_of_shape([4 << 20], f"big{k}")]
    return _model(nodes + [_relu("big9", "y")], inputs=[])


def _sparse_model() -> bytes:
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("s", F, [1], [1.0]), helper.make_tensor("i", TensorProto.INT64, [1], [0]), [4]
    )
    g = helper.make_graph([_relu()], "g", [_vi("x", [4])], [_vi("y", [4])], sparse_initializer=[sparse])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


_VALID = to_onnx(engine.preset("mlp"))
_SECRET = np.arange(4, dtype=np.float32) + 1234.5  # what a leaked read would bring back


# -- the table ------------------------------------------------------------------------------------
CASES = {
    # garbage
    "empty bytes": (lambda: b"", "empty model"),
    "random bytes": (lambda: np.random.default_rng(0).bytes(4096), "not an ONNX model|malformed"),
    "truncated half": (lambda: _VALID[: len(_VALID) // 2], "not an ONNX model"),
    "truncated one byte short": (lambda: _VALID[:-1], "not an ONNX model"),
    "group wire type": (lambda: b"\x0b\x0c", "not an ONNX model"),
    "nested 200 deep": (lambda: _nested_if(200), "levels deep"),
    # sizes
    "huge input dims": (lambda: _model([_relu()], inputs=[("x", [1 << 31, 1 << 31])]), "model input"),
    "huge initializer dims": (lambda: _add_w(_raw_init([1 << 20, 1 << 20], b"")), "'w'.*limit"),
    "negative initializer dim": (lambda: _add_w(_raw_init([-4], b"")), "negative"),
    "raw_data too short": (lambda: _add_w(_raw_init([4], b"\0" * 12)), "raw_data holds 12"),
    "raw_data too long": (lambda: _add_w(_raw_init([4], b"\0" * 20)), "raw_data holds 20"),
    "float_data count": (
        lambda: _add_w(TensorProto(name="w", data_type=F, dims=[4], float_data=[1.0])),
        "'w'",
    ),
    "string initializer": (
        lambda: _add_w(TensorProto(name="w", data_type=TensorProto.STRING, dims=[1], string_data=[b"a"])),
        "data type",
    ),
    "undefined data type": (lambda: _add_w(TensorProto(name="w", dims=[1], raw_data=b"\0")), "data type"),
    "100k nodes": (lambda: _many_nodes(100_000), "over 20,000 nodes"),
    "ConstantOfShape 2^40": (
        lambda: _model(_const_of_shape([1 << 20, 1 << 20]), inputs=[], outputs=[("big", [1])]),
        "ConstantOfShape",
    ),
    "broadcast bomb": (_broadcast_bomb, "folding Add"),
    "ten 16-MiB folds": (_many_folds, "folded at import"),
    "Range 2^40": (
        lambda: _model(
            [helper.make_node("Range", ["a", "b", "c"], ["y"])],
            inputs=[],
            inits=[helper.make_tensor(k, F, [], [v]) for k, v in (("a", 0.0), ("b", 2.0**40), ("c", 1.0))],
        ),
        "Range",
    ),
    "decompression bomb": (lambda: _field(7, b"\x0a\x00" * (1 << 20)), "over 20,000 nodes"),
    "attribute bomb": (lambda: _field(7, _field(1, b"\x2a\x00" * (1 << 20))), "protobuf sub-messages"),
    "packed varint bomb": (lambda: _field(7, _field(5, _field(7, b"\x01" * (9 << 20)))), "packed integers"),
    "unpacked dims bomb": (lambda: _field(7, _field(5, b"\x08\x01" * 900_000)), "protobuf fields"),
    # structure
    "graph cycle": (
        lambda: _model([_relu("b", "a"), _relu("a", "b"), _relu("b", "y")]),
        "used before it is produced",
    ),
    "missing input": (lambda: _model([_relu("nowhere", "y")]), "used before it is produced"),
    "missing output": (lambda: _model([_relu()], outputs=[("ghost", [4])]), "used before"),
    "duplicate node outputs": (lambda: _model([_relu("x", "y"), _relu("x", "y")]), "defined twice"),
    "output shadows input": (lambda: _model([_relu("x", "x"), _relu("x", "y")]), "defined twice"),
    "duplicate initializers": (
        lambda: _model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[_raw_init([4], b"\0" * 16)] * 2),
        "two initializers",
    ),
    "duplicate graph inputs": (
        lambda: _model([_relu()], inputs=[("x", [4]), ("x", [4])]),
        "two graph inputs",
    ),
    "multi-output chain 5k": (lambda: _chain(5_000, use_last_extra=True), "extra output"),
    "colliding names 5k": (lambda: _colliding_names(5_000), "used before it is produced"),
    # ops and opsets
    "unknown op": (lambda: _model([helper.make_node("FancyOp", ["x"], ["y"])]), "FancyOp"),
    "unknown domain": (lambda: _model([helper.make_node("Relu", ["x"], ["y"], domain="evil")]), "Relu"),
    "opset 0": (lambda: _model([_relu()], opset=0), "opset 0"),
    "opset 1": (lambda: _model([_relu()], opset=1), "opset 1"),
    "opset 999": (lambda: _model([_relu()], opset=999), "opset 999"),
    "missing opset import": (lambda: _model([_relu()], opset=None), "no opset"),
    "If subgraph": (lambda: _subgraph_with(_raw_init([4], b"\0" * 16)), "If"),
    "Loop": (
        lambda: _model(
            [helper.make_node("Loop", ["n", "c"], ["y"], body=helper.make_graph([], "b", [], []))],
            inputs=[("n", []), ("c", [])],
        ),
        "Loop",
    ),
    "Scan": (
        lambda: _model(
            [
                helper.make_node(
                    "Scan", ["x"], ["y"], num_scan_inputs=1, body=helper.make_graph([], "b", [], [])
                )
            ]
        ),
        "Scan",
    ),
    "nested functions": (lambda: _function_model(nested=True), "functions it defines"),
    "sparse initializer": (_sparse_model, "sparse initializer"),
    "Constant value_float": (
        lambda: _model([helper.make_node("Constant", [], ["y"], value_float=1.0)], inputs=[]),
        "other than 'value'",
    ),
    "Conv with string strides": (
        lambda: _model(
            [helper.make_node("Conv", ["x", "w"], ["y"], strides="22")],
            inputs=[("x", [1, 1, 4, 4])],
            inits=[helper.make_tensor("w", F, [1, 1, 1, 1], [1.0])],
            outputs=[("y", [1, 1, 4, 4])],
        ),
        "Conv",
    ),
}

# external data: every place a tensor can hide, and locations in the repo, absolute and "../"
_LOCATIONS = [
    ".git/config",
    "README.md",
    "app.py",
    "/etc/passwd",
    "../secret.bin",
    "secret.bin",
    "sub/../../secret.bin",
]
for _loc in _LOCATIONS:
    CASES[f"external initializer {_loc}"] = (lambda loc=_loc: _add_w(_external("w", loc)), "'w'.*external")
_EXTERNAL_SPOTS = {
    "flag only": lambda: _add_w(_external("w", "", entries=False)),
    "entries only": lambda: _add_w(_external("w", "secret.bin", flag=False)),
    "Constant value": lambda: _model(
        [helper.make_node("Constant", [], ["y"], value=_external("w", "secret.bin"))], inputs=[]
    ),
    "Constant sparse_value": lambda: _model(
        [
            helper.make_node(
                "Constant",
                [],
                ["y"],
                sparse_value=(
                    helper.make_sparse_tensor(
                        _external("w", "secret.bin"),
                        helper.make_tensor("i", TensorProto.INT64, [1], [0]),
                        [4],
                    )
                ),
            )
        ],
        inputs=[],
    ),
    "tensors attribute": lambda: _model(
        [helper.make_node("Relu", ["x"], ["y"], hidden=[_external("w", "secret.bin")])]
    ),
    "If subgraph initializer": lambda: _subgraph_with(_external("w", "secret.bin")),
    "function Constant": lambda: _function_model(nested=False, const=_external("w", "secret.bin")),
}
for _spot, _make in _EXTERNAL_SPOTS.items():
    CASES[f"external data in {_spot}"] = (_make, "'w'.*external")


# -- checks ---------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _secret_dir(tmp_path, monkeypatch):
    """Run each case in a directory holding secret.bin (and one above it), so a location that
    resolves against the working directory would find real bytes to leak."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    for d in (work, tmp_path):
        (d / "secret.bin").write_bytes(_SECRET.tobytes())
    monkeypatch.chdir(work)
    return work


def _run_case(data: bytes) -> tuple[engine.EngineError, float, int]:
    """(the error, CPU seconds, traced peak bytes). CPU time, not wall time: other processes on a
    shared machine stretch the wall clock but not this process's own work."""
    t0 = time.process_time()
    with pytest.raises(engine.EngineError) as info:
        from_onnx(data)
    elapsed = time.process_time() - t0
    tracemalloc.start()
    try:
        with pytest.raises(engine.EngineError):
            from_onnx(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value, elapsed, peak


# the traced run (tracemalloc slows allocation-heavy Python several times) of these takes seconds
_SLOW = {"attribute bomb", "unpacked dims bomb", "multi-output chain 5k", "colliding names 5k"}


@pytest.mark.parametrize(
    "name", [pytest.param(k, marks=pytest.mark.slow) if k in _SLOW else k for k in CASES]
)
def test_hostile_case_is_a_fast_small_engine_error(name):
    make, pattern = CASES[name]
    err, elapsed, peak = _run_case(make())
    assert re.search(pattern, str(err)), f"{name}: {err}"
    assert elapsed < TIME_LIMIT_S, f"{name}: {elapsed:.2f} s of CPU"
    assert peak < PEAK_LIMIT, f"{name}: traced peak {peak / 2**20:.1f} MiB"


# -- external data: refused before any file is touched ---------------------------------------------
_OPENED: list | None = None  # the audit hook below records into this list only while it is set


def _audit(event: str, args) -> None:
    if _OPENED is not None and (event == "open" or event.startswith(("os.", "shutil."))):
        _OPENED.append((event, args[0] if args else None))


sys.addaudithook(_audit)  # process-wide and permanent, but inert while _OPENED is None


def _loaders_that_read_files(monkeypatch) -> list:
    """Wrap every onnx helper that can resolve external data (or check it on disk) so that each
    call is recorded, then goes through: what it would open still reaches the audit hook."""
    import onnx.external_data_helper as ext

    calls: list = []

    def recorded(name, real):
        def call(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return call

    for owner, name in [
        (ext, "load_external_data_for_tensor"),
        (ext, "load_external_data_for_model"),
        (onnx, "load_model"),
        (onnx, "load"),
        (onnx, "load_model_from_string"),
        (onnx.checker, "check_model"),
        (onnx.shape_inference, "infer_shapes"),
    ]:
        monkeypatch.setattr(owner, name, recorded(name, getattr(owner, name)))
    return calls


_EXTERNAL = [k for k in CASES if k.startswith("external")]


_IN_REPO = (".git/config", "README.md", "app.py")  # resolved from the repository root, as served


@pytest.mark.parametrize("name", _EXTERNAL)
def test_external_data_is_refused_before_any_file_is_opened(name, monkeypatch):
    global _OPENED
    if name.endswith(_IN_REPO):
        monkeypatch.chdir(ROOT)
    data = CASES[name][0]()
    from_onnx(_VALID)  # warm-up: lazy imports may open module files
    calls = _loaders_that_read_files(monkeypatch)
    _OPENED = []
    try:
        with pytest.raises(engine.EngineError, match="'w'.*external file"):
            from_onnx(data)
        opened = _OPENED
    finally:
        _OPENED = None
    assert opened == [] and calls == [], (opened, calls)


def test_a_resolvable_location_would_leak_its_bytes(_secret_dir, monkeypatch):
    """The oracle for the cases above: onnx itself does read these files from the working
    directory, so refusing (not a failing read) is what keeps them out of the graph."""
    from onnx import numpy_helper

    np.testing.assert_array_equal(numpy_helper.to_array(_external("w", "secret.bin")), _SECRET)
    monkeypatch.chdir(ROOT)
    leaked = numpy_helper.to_array(_external("w", "README.md"))
    assert leaked.tobytes() == (ROOT / "README.md").read_bytes()[:16]


# -- any onnx / protobuf / numpy exception becomes an EngineError ---------------------------------
def _validation_error():
    return onnx.checker.ValidationError("checker says no")


@pytest.mark.parametrize(
    "make_exc",
    [_validation_error, lambda: RuntimeError("x"), lambda: MemoryError(), lambda: RecursionError("deep")],
    ids=["ValidationError", "RuntimeError", "MemoryError", "RecursionError"],
)
def test_any_exception_inside_the_reader_becomes_an_engine_error(make_exc, monkeypatch):
    def explode(*args, **kwargs):
        raise make_exc()

    monkeypatch.setattr(helper, "get_attribute_value", explode)
    with pytest.raises(engine.EngineError, match="malformed"):
        from_onnx(_model([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1)]))


# -- decompression bomb: protobuf's C allocations are invisible to tracemalloc --------------------
@pytest.mark.slow
def test_decompression_bomb_is_refused_before_protobuf_allocates():
    script = (
        "import resource, sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + '/tests')\n"
        "import engine, onnx\n"
        "from test_hostile_onnx import _field\n"
        "data = _field(7, _field(1, b'\\x2a\\x00' * (2 << 20)))  # 4 MiB of empty attributes: ~400 MiB\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    engine.from_onnx(data)\nexcept engine.EngineError as e:\n    print('refused', e)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and lines[0].startswith("refused"), out.stdout + out.stderr
    assert int(lines[-1]) < 64, f"peak RSS grew by {lines[-1]} MiB"


# -- fuzz: mutated bytes of a valid model ----------------------------------------------------------
_SMALL = to_onnx(engine.parse_program("x = input([2, 8])\nw = param([8, 4])\ny = relu(x @ w)"))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_mutated_models_import_or_raise_engine_errors(data):
    model = bytearray(_SMALL)
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        at = data.draw(st.integers(0, len(model) - 1), label="at")
        kind = data.draw(st.sampled_from(["set", "insert", "delete"]), label="kind")
        byte = data.draw(st.integers(0, 255), label="byte")
        if kind == "set":
            model[at] = byte
        elif kind == "insert":
            model.insert(at, byte)
        else:
            del model[at]
    try:
        graph = from_onnx(bytes(model))
    except engine.EngineError:
        return
    assert isinstance(graph, engine.Graph) and len(graph.nodes) <= budget.MAX_NODES


# -- controls: the guards leave real models alone --------------------------------------------------
def test_long_multi_output_chain_with_unused_extras_imports_exactly():
    graph = from_onnx(_chain(3_000, use_last_extra=False))
    assert [n.op for n in graph.op_nodes] == ["relu"] * 3_000
    x = np.linspace(-2, 2, 4, dtype=np.float32)
    out = engine.run(graph, {graph.inputs[0].name: x})[graph.outputs[0]]
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_colliding_names_are_made_unique_in_order():
    graph = from_onnx(_colliding_names(50, output_made=True))
    names = [n.name for n in graph.op_nodes]
    assert len(set(names)) == 50 and graph.outputs[0] == names[-1]
