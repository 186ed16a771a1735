"""Figures and table rows for the autodiff lab: the evaluation trace, error vs h, expression swell,
Jacobian sweep cost. Engine data in, plotly figures (or plain rows) out; never streamlit."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from .theme import MEANING, OKABE_ITO, apply_theme


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def forward_rows(trace, upto: int) -> list[dict]:
    """The forward evaluation-trace table (Baydin Table 2) filled in up to step ``upto``."""
    rows = []
    for k, step in enumerate(trace.steps[:upto + 1]):
        d = step.data
        row = {"v": d.get("v", ""), "node": d["node"], "expression": d["expression"],
               "value": _num(d["value"])}
        if d.get("tangent") is not None:
            row["tangent"] = _num(d["tangent"])
            row["rule"] = d.get("rule", "")
        rows.append(row)
    return rows


def reverse_rows(trace, upto: int) -> list[dict]:
    """Adjoint contributions (Baydin Table 3) up to step ``upto`` of a reverse trace."""
    rows = []
    for step in trace.steps[:upto + 1]:
        for c in (step.data or {}).get("contributions", ()) or ():
            rows.append({"from (consumer)": c["source"], "to (adjoint)": f"{c['to']}_bar",
                         "contribution": _num(c["contribution"]),
                         "accumulate": "+=" if c["accumulated"] else "=",
                         "adjoint now": _num(c["adjoint"])})
    return rows


def node_text(trace, upto: int, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Text beside each node of the graph figure: value, tangent (dot) or adjoint (bar) so far."""
    value: dict[str, str] = {}
    extra: dict[str, str] = {}
    for step in trace.steps[:upto + 1]:
        d = step.data or {}
        if "value" in d:
            value[d["node"]] = _num(d["value"])
            if d.get("tangent") is not None:
                extra[d["node"]] = f"dot = {_num(d['tangent'])}"
        for c in d.get("contributions", ()) or ():
            extra[c["to"]] = f"bar = {_num(c['adjoint'])}"
        if "adjoint" in d and "value" not in d:
            extra[d["node"]] = f"bar = {_num(d['adjoint'])}"
    text = {}
    for k in value:
        head = f"{labels[k]} = " if labels and k in labels else ""
        text[k] = f"{head}{value[k]}" + (f", {extra[k]}" if k in extra else "") + "\u2003\u2003"
    return text


def error_vs_h_figure(rows, title: str = "Finite-difference error vs step h") -> go.Figure:
    """Log-log: forward and central difference error against h, the truncation/round-off U."""
    fig = go.Figure()
    for attr, name, color in (("forward_error", "forward (f(x+h)-f(x))/h", OKABE_ITO["blue"]),
                              ("central_error", "central (f(x+h)-f(x-h))/2h",
                               OKABE_ITO["vermillion"])):
        pts = [(r.h, getattr(r, attr)) for r in rows
               if math.isfinite(getattr(r, attr)) and getattr(r, attr) > 0]
        fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                        name=name, line=dict(color=color))
    fig.update_xaxes(type="log", title="step h", autorange="reversed", exponentformat="power")
    fig.update_yaxes(type="log", title="absolute error of the derivative", exponentformat="power")
    return apply_theme(fig, title, 420)


def swell_figure(rows, title: str = "Expression swell: size vs nesting depth") -> go.Figure:
    """Log-scale sizes: l_n, its symbolic derivative (naive, simplified), the AD trace."""
    ns = [r.n for r in rows]
    fig = go.Figure()
    for attr, name, color in (("f_size", "l_n itself (tree nodes)", OKABE_ITO["grey"]),
                              ("naive_size", "symbolic d/dx, textbook rules", OKABE_ITO["vermillion"]),
                              ("simplified_size", "symbolic d/dx, simplified", OKABE_ITO["orange"]),
                              ("ad_trace", "AD evaluation trace (ops)", OKABE_ITO["blue"])):
        fig.add_scatter(x=ns, y=[max(1, getattr(r, attr)) for r in rows], mode="lines+markers",
                        name=name, line=dict(color=color))
    fig.update_xaxes(title="nesting depth n of the logistic map l_(n+1) = 4 l_n (1 - l_n)",
                     dtick=1)
    fig.update_yaxes(type="log", title="size (nodes, log scale)")
    return apply_theme(fig, title, 420)


def jacobian_cost_figure(fwd, rev, title: str = "Cost of the full Jacobian") -> go.Figure:
    """Sweeps and measured rule applications for forward vs reverse mode."""
    fig = go.Figure()
    modes = ["forward mode (JVP)", "reverse mode (VJP)"]
    fig.add_bar(x=modes, y=[fwd.sweeps, rev.sweeps], name="sweeps",
                marker_color=[MEANING["forward"], MEANING["backward"]],
                text=[fwd.sweeps, rev.sweeps], textposition="outside")
    fig.add_scatter(x=modes, y=[fwd.rule_calls, rev.rule_calls], name="rule applications (measured)",
                    mode="markers+text", text=[fwd.rule_calls, rev.rule_calls],
                    textposition="top right", marker=dict(size=14, color=OKABE_ITO["black"],
                                                          symbol="diamond"))
    fig.update_yaxes(title="count (sweeps / rule applications)", rangemode="tozero")
    fig.update_xaxes(title="mode")
    return apply_theme(fig, title, 380)
