"""The GEMM lab's schedule in TVM (engine/kernels/tvm_gemm.py): numpy is the oracle for the compiled
kernel; the printed TVMScript holds the loops we asked for; bad requests fail before TVM is touched;
the page section renders in both languages and follows its controls; without TVM it says how to
install it."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from engine.core.errors import EngineError, ShapeError
from engine.kernels import gemm
from engine.kernels import tvm_gemm as tg

needs_tvm = pytest.mark.skipif(not tg.tvm_available(), reason="apache-tvm is not installed")
LOOP = re.compile(
    r"for (?P<names>[\w, ]+) in (?P<kind>T\.grid|range|T\.vectorized|T\.unroll)\((?P<ext>[\d, ]+)\)"
)


def script_loops(script: str) -> list[tuple[str, int, str]]:
    """(loop name, trip count, kind) read back from TVMScript text, outermost first."""
    kinds = {"T.vectorized": "vectorize", "T.unroll": "unroll"}
    out = []
    for m in LOOP.finditer(script):
        names = [x.strip() for x in m["names"].split(",")]
        extents = [int(x) for x in m["ext"].split(",")]
        out += [(nm, e, kinds.get(m["kind"], "serial")) for nm, e in zip(names, extents, strict=True)]
    return out


# (m, n, k, tiles, order, vector, unroll): square and not, tiles that do not divide (guards),
# vectors over j and over i, a reduction loop innermost, untiled
SCHEDULES = [
    (64, 64, 64, (16, 16, 16), "ikj", 8, 2),
    (48, 48, 48, (32, 32, 0), "ijk", 4, 4),
    (37, 19, 23, (8, 0, 4), "jki", 4, 2),
    (33, 65, 17, (0, 0, 0), "kij", 8, 4),
    (16, 40, 24, (4, 32, 8), "kji", 1, 8),
]


@needs_tvm
@pytest.mark.parametrize("m,n,k,tiles,order,vector,unroll", SCHEDULES)
def test_the_compiled_kernel_equals_numpy(m, n, k, tiles, order, vector, unroll):
    s, _ = tg.lab_schedule(m, n, k, tiles, order, vector, unroll)
    kernel = tg.compile_gemm(s)
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(kernel(a, b), a @ b, rtol=1e-4, atol=1e-4 * k)
    # TVM's loop nest is ours, loop for loop (one-trip loops are not split off in TVM)
    ours = [(lp.extent, lp.kind) for lp in s.loops if lp.extent > 1]
    assert [(lp.extent, lp.kind) for lp in kernel.loops if lp.extent > 1] == ours
    assert [lp[1:] for lp in script_loops(kernel.script) if lp[1] > 1] == ours


@needs_tvm
def test_the_script_holds_the_split_loops_with_the_tile_sizes_asked_for():
    r = tg.tvm_gemm(64, 64, 64, tile_m=16, tile_n=8, tile_k=4, order="ijk", vectorize=1, unroll=1, repeats=1)
    assert "for i_0, j_0, k_0, i_1, j_1, k_1 in T.grid(4, 8, 16, 16, 8, 4):" in r.script
    r = tg.tvm_gemm(64, 64, 64, 32, 16, 8, "ikj", vectorize=4, unroll=2, repeats=1)
    assert script_loops(r.script) == [
        ("i_0", 2, "serial"),
        ("k_0", 8, "serial"),
        ("j_0", 4, "serial"),
        ("i_1", 32, "serial"),
        ("k_1", 8, "serial"),
        ("j_1", 2, "serial"),  # the j tile of 16 = 2 x unroll 2 x vector 4
        ("j_2", 2, "unroll"),
        ("j_3", 4, "vectorize"),
    ]
    assert r.max_abs_diff < 1e-3 and r.tvm_s > 0 and r.numpy_s > 0 and r.compile_s > 0
    assert r.estimate is not None and r.estimate.seconds > 0
    assert "for k_i in range(8):" in r.our_code  # the GEMM lab's notation for the same loops


def test_square_tiles_give_the_gemm_labs_own_schedule_and_cost():
    for order in ("ikj", "jki", "kij"):  # innermost i or j: nothing for TVM to refuse
        s, notes = tg.lab_schedule(32, 32, 32, (8, 8, 8), order, 4, 2)
        assert s == gemm.make_schedule(32, 32, 32, order, 8, unroll=2, vector=4) and notes == []
    est = tg.estimate(s)
    expected = gemm.run_gemm(s, tg.CoreModel().cache)
    assert est.misses == expected.stats.misses and est.loop_cycles == expected.loop_iterations
    assert est.compute_cycles == 32**3 / 4
    big, _ = tg.lab_schedule(128, 128, 128, (32, 32, 32), "ikj", 8, 2)  # TVM runs it; the simulator may not
    assert big.iterations > gemm.MAX_ITERATIONS and tg.estimate(big) is None


def test_a_reduction_loop_innermost_is_not_vectorized_and_the_note_says_so():
    s, notes = tg.lab_schedule(32, 32, 32, (0, 0, 0), "ijk", 8, 2)
    assert gemm.applied_factors(s) == {"vector": 1, "unroll": 2}
    assert len(notes) == 1 and "reduction loop (k)" in notes[0]


@pytest.mark.parametrize(
    "args,match",
    [
        ((0, 8, 8, 0, 0, 0, "ijk", 1, 1), "M = 0"),
        ((8, 257, 8, 0, 0, 0, "ijk", 1, 1), "N = 257"),
        ((8, 8, 8.0, 0, 0, 0, "ijk", 1, 1), "K = 8.0"),
        ((8, 8, 8, 3, 0, 0, "ijk", 1, 1), "tile_m = 3"),
        ((8, 8, 8, 0, 0, 0, "ijq", 1, 1), "loop order 'ijq'"),
        ((8, 8, 8, 0, 0, 0, "ijk", 3, 1), "vector width = 3"),
        ((8, 8, 8, 0, 0, 0, "ijk", 1, True), "unroll factor = True"),
    ],
)
def test_bad_requests_fail_before_tvm_is_touched(monkeypatch, args, match):
    def touched(*_a, **_k):
        raise AssertionError("TVM was reached")

    monkeypatch.setattr(tg, "tvm_available", touched)
    monkeypatch.setattr(tg, "compile_gemm", touched)
    with pytest.raises(ShapeError, match=re.escape(match)):
        tg.tvm_gemm(*args)


def test_without_tvm_the_availability_check_is_false_and_the_error_says_how_to_install(monkeypatch):
    saved = {name: mod for name, mod in sys.modules.items() if name == "tvm" or name.startswith("tvm.")}
    for name in saved:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tvm", None)  # "import tvm" now raises ImportError
    assert tg.tvm_available() is False
    with pytest.raises(EngineError, match="pip install apache-tvm==0.27.0.post1"):
        tg.tvm_gemm(16, 16, 16)


def _tvm_code(at) -> str:
    return next(c.value for c in at.code if "T.prim_func" in c.value)


@needs_tvm
def test_the_page_section_renders_in_both_languages_and_follows_the_tile_control(lab):
    at = lab("ai_compilers", strict=True)
    assert "The GEMM lab's schedule, written in TVM" in [s.value for s in at.subheader]
    before = _tvm_code(at)
    assert "T.grid(4, 4, 4, 16, 16)" in before  # defaults: 64³, tiles 16, ikj, vector 8, unroll 2
    assert any(c.value.startswith("max |TVM − numpy| = ") for c in at.caption)
    at.selectbox(key="ac_tvm_tile_m").set_value(8).run()
    assert not at.exception
    after = _tvm_code(at)
    assert after != before and "T.grid(8, 4, 4, 8, 16)" in after
    zh = lab("ai_compilers", lang="zh", strict=True, ac_tvm_tile_m="8")
    assert "用 TVM 写出 GEMM 实验的调度" in [s.value for s in zh.subheader]
    assert _tvm_code(zh) == after and any(c.value.startswith("最大 |TVM − numpy|") for c in zh.caption)


def test_the_page_says_how_to_install_tvm_when_it_is_missing(lab, monkeypatch):
    monkeypatch.setattr(tg, "tvm_available", lambda: False)
    at = lab("ai_compilers", strict=True)
    assert not at.exception
    assert any("pip install apache-tvm==0.27.0.post1" in w.value for w in at.warning)
    assert not [c for c in at.code if "T.prim_func" in c.value]
