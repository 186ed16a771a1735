"""Manual / numeric / symbolic / automatic differentiation agree where they should, and the
numeric and symbolic ways fail the way the theory says (U-shaped error, expression swell)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine
from engine.core.errors import EngineError
from engine.framework.four_ways import (
    best_step,
    dag_size,
    diff,
    difference_sweep,
    evaluate,
    expr_from_graph,
    logistic_expr,
    logistic_graph,
    simplify,
    swell_table,
    to_text,
    tree_size,
)


def test_symbolic_derivative_of_the_survey_example_is_the_closed_form():
    e = expr_from_graph(engine.preset("autodiff_example"))
    d1, d2 = simplify(diff(e, "x1")), simplify(diff(e, "x2"))
    assert to_text(d1) == "((1 / x1) + x2)"
    point = {"x1": 2.0, "x2": 5.0}
    assert evaluate(d1, point) == pytest.approx(1 / 2 + 5)  # manual: 1/x1 + x2
    assert evaluate(d2, point) == pytest.approx(2 - math.cos(5.0))  # manual: x1 - cos x2
    assert round(evaluate(d2, point), 3) == 1.716  # Baydin Table 3


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_logistic_map_derivative_matches_table_1_and_ad(n):
    """Baydin et al. (2018) Table 1: l_2' = 4 - 8x, l_3' = 16(1-x)(1-2x)^2 - 16x(1-2x)^2
    - 64x(1-x)(1-2x); autodiff on the graph gives the same number."""
    x = 0.3
    d = diff(logistic_expr(n), "x")
    closed = {
        2: 4 - 8 * x,
        3: 16 * (1 - x) * (1 - 2 * x) ** 2 - 16 * x * (1 - 2 * x) ** 2 - 64 * x * (1 - x) * (1 - 2 * x),
    }
    if n in closed:
        assert evaluate(d, {"x": x}) == pytest.approx(closed[n], rel=1e-12)
    graph = logistic_graph(n)
    ad = engine.grad(graph, graph.outputs[0], ["x"])["x"]
    assert float(ad) == pytest.approx(evaluate(d, {"x": x}), rel=1e-4)


def test_expression_swell_grows_faster_than_the_ad_trace():
    rows = swell_table(8)
    naive = [r.naive_size for r in rows]
    assert all(b > 2 * a for a, b in zip(naive[2:], naive[3:]))  # roughly doubling
    assert [r.ad_trace for r in rows] == [3 * (r.n - 1) for r in rows]  # linear
    assert all(r.simplified_size <= r.naive_size for r in rows)
    assert rows[-1].naive_size > 100 * rows[-1].ad_trace
    # the swell is in the *printed tree*: as a DAG the derivative stays small
    d = diff(logistic_expr(8), "x")
    assert dag_size(d) < tree_size(d) / 20


def test_difference_errors_have_the_textbook_u_shape():
    e = expr_from_graph(engine.preset("autodiff_example"))
    rows = difference_sweep(e, "x1", {"x1": 2.0, "x2": 5.0}, exact=5.5)
    fwd, cen = best_step(rows, "forward"), best_step(rows, "central")
    # optimal h ~ sqrt(eps) = 1.5e-8 for forward and eps^(1/3) = 6e-6 for central (float64)
    assert 1e-9 <= fwd.h <= 1e-6 and 1e-7 <= cen.h <= 1e-3
    assert cen.central_error < fwd.forward_error
    big = rows[0]
    assert big.forward_error > 100 * fwd.forward_error  # truncation side
    tiny = [r for r in rows if r.h == pytest.approx(1e-14)][0]
    assert tiny.forward_error > 100 * fwd.forward_error  # round-off side
    # truncation orders: forward O(h), central O(h^2) (h from 1e-1 to 1e-2)
    a, b = [r for r in rows if math.isclose(r.h, 0.1)][0], [r for r in rows if math.isclose(r.h, 0.01)][0]
    assert 8 < a.forward_error / b.forward_error < 12
    assert 80 < a.central_error / b.central_error < 120
    # in float32 the bottom of the U moves to a larger h and is much higher
    rows32 = difference_sweep(e, "x1", {"x1": 2.0, "x2": 5.0}, 5.5, dtype="float32")
    assert best_step(rows32).h > cen.h and best_step(rows32).central_error > 100 * cen.central_error


def test_bad_inputs():
    with pytest.raises(EngineError, match="scalar programs"):
        expr_from_graph(engine.preset("mlp"))
    with pytest.raises(EngineError, match="nesting depth"):
        swell_table(1000)
    e = expr_from_graph(engine.preset("autodiff_example"))
    with pytest.raises(EngineError, match="positive"):
        difference_sweep(e, "x1", {"x1": 2.0, "x2": 5.0}, 5.5, hs=[0.0])
    assert np.isfinite(evaluate(e, {"x1": 2.0, "x2": 5.0}))


def test_four_ways_on_the_example_and_the_fallback():
    from engine.framework.four_ways import four_ways

    ways = four_ways(engine.preset("autodiff_example"))
    assert (ways.var, ways.derivative, ways.exact, ways.trace_ops) == ("x1", "((1 / x1) + x2)", 5.5, 5)
    assert not ways.fallback
    other = four_ways(engine.preset("mlp"), "float32", 4)
    assert other.fallback and other.exact == 5.5 and len(other.swell) == 4
