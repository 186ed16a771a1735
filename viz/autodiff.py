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


def _t(zh: bool, en: str, cn: str) -> str:
    return cn if zh else en


HEADERS_ZH = {"node": "节点", "expression": "表达式", "value": "值", "tangent": "切向量 (dot)",
              "rule": "求导规则", "from (consumer)": "来自（使用者）", "to (adjoint)": "流向（伴随值）",
              "contribution": "贡献", "accumulate": "累加", "adjoint now": "当前伴随值",
              "source": "论文", "engine": "本引擎", "|difference|": "|差|"}


def localize(rows: list[dict], zh: bool) -> list[dict]:
    """Table rows with Chinese column headers when ``zh``."""
    if not zh:
        return rows
    return [{HEADERS_ZH.get(k, k): ("种子" if v == "seed" else v) for k, v in r.items()} for r in rows]


def step_text(step, zh: bool = False) -> tuple[str, str]:
    """(title, log) of one autodiff step in the page's language, rebuilt from the step's data."""
    if not zh:
        return step.title, step.log or step.title
    d = step.data or {}
    if "value" in d:                                   # a primal (and tangent) evaluation
        dot = f"，切向量 {_num(d['tangent'])}" if d.get("tangent") is not None else ""
        if d.get("rule") == "seed":
            return step.title, f"{d['node']} 是源节点：值 {_num(d['value'])}{dot}"
        return step.title, f"{d['expression']} → 值 {_num(d['value'])}{dot}"
    contributions = d.get("contributions") or []
    if not contributions and "adjoint" in d:            # the seed of the backward sweep
        return f"设定 {d['node']}_bar = 1", "输出对自身的伴随值 dy/dy = 1"
    parts = [f"{c['to']}_bar {'+=' if c['accumulated'] else '='} {c['source']}_bar × "
             f"d{c['source']}/d{c['to']} = {_num(c['contribution'])}" for c in contributions]
    title = step.title.replace("back through", "反向经过")
    return title, ("；".join(parts) or "没有需要求导的输入") + "（扇出时累加）" * any(
        c["accumulated"] for c in contributions)


def survey_badge(rows: list[dict], table: int, zh: bool = False) -> str:
    """'Matches Baydin et al. Table n' with the key numbers and the largest difference."""
    diff = max(r["diff"] for r in rows)
    got = {r["v"]: r.get("tangent", r.get("adjoint")) for r in rows}
    key = (f"y_dot = {got['v5']:.3f}" if table == 2
           else f"x1_bar = {got['v-1']:.3f}, x2_bar = {got['v0']:.3f}")
    return _t(zh, f"Matches Baydin et al. (2018) Table {table}: {key}; every row within {diff:.1e} "
                  "(the survey prints 3 decimals).",
              f"与 Baydin 等 (2018) 表 {table} 一致：{key}；每一行的差都不超过 {diff:.1e}（论文保留 3 位小数）。")


def survey_table(rows: list[dict], zh: bool = False) -> list[dict]:
    """engine.framework.lab.survey_rows as display rows: the survey's number, ours, the difference."""
    out = []
    for r in rows:
        if "tangent" in r:
            out.append({"v": r["v"], _t(zh, "value (survey)", "值（论文）"): r["source_value"],
                        _t(zh, "value (engine)", "值（本引擎）"): f"{r['value']:.4f}",
                        _t(zh, "tangent (survey)", "切向量（论文）"): r["source_tangent"],
                        _t(zh, "tangent (engine)", "切向量（本引擎）"): f"{r['tangent']:.4f}",
                        _t(zh, "|difference|", "|差|"): f"{r['diff']:.1e}"})
        else:
            out.append({"v": r["v"], _t(zh, "adjoint (survey)", "伴随值（论文）"): r["source_adjoint"],
                        _t(zh, "adjoint (engine)", "伴随值（本引擎）"): f"{r['adjoint']:.4f}",
                        _t(zh, "|difference|", "|差|"): f"{r['diff']:.1e}"})
    return out


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


def error_vs_h_figure(rows, title: str = "Finite-difference error vs step h", zh: bool = False) -> go.Figure:
    """Log-log: forward and central difference error against h, the truncation/round-off U."""
    fig = go.Figure()
    for attr, name, color in (("forward_error", _t(zh, "forward", "前向差分") + " (f(x+h)-f(x))/h",
                               OKABE_ITO["blue"]),
                              ("central_error", _t(zh, "central", "中心差分") + " (f(x+h)-f(x-h))/2h",
                               OKABE_ITO["vermillion"])):
        pts = [(r.h, getattr(r, attr)) for r in rows
               if math.isfinite(getattr(r, attr)) and getattr(r, attr) > 0]
        fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                        name=name, line=dict(color=color))
    fig.update_xaxes(type="log", title=_t(zh, "step h (log, shrinking to the right)", "步长 h（对数轴，向右变小）"),
                     autorange="reversed", exponentformat="power")
    fig.update_yaxes(type="log", title=_t(zh, "absolute error of the derivative (log)", "导数的绝对误差（对数轴）"),
                     exponentformat="power")
    return apply_theme(fig, title, 420)


def swell_figure(rows, title: str = "Expression swell: size vs nesting depth", zh: bool = False) -> go.Figure:
    """Log-scale sizes: l_n, its symbolic derivative (naive, simplified), the AD trace."""
    ns = [r.n for r in rows]
    fig = go.Figure()
    for attr, name, color in (("f_size", _t(zh, "l_n itself (tree nodes)", "l_n 本身（树节点）"), OKABE_ITO["grey"]),
                              ("naive_size", _t(zh, "symbolic d/dx, textbook rules", "符号 d/dx，教科书规则"),
                               OKABE_ITO["vermillion"]),
                              ("simplified_size", _t(zh, "symbolic d/dx, simplified", "符号 d/dx，化简后"),
                               OKABE_ITO["orange"]),
                              ("ad_trace", _t(zh, "AD evaluation trace (ops)", "AD 求值轨迹（运算数）"), OKABE_ITO["blue"])):
        fig.add_scatter(x=ns, y=[max(1, getattr(r, attr)) for r in rows], mode="lines+markers",
                        name=name, line=dict(color=color))
    fig.update_xaxes(title=_t(zh, "nesting depth n of the logistic map l_(n+1) = 4 l_n (1 - l_n)",
                              "logistic 映射 l_(n+1) = 4 l_n (1 - l_n) 的嵌套深度 n"), dtick=1)
    fig.update_yaxes(type="log", dtick=1, title=_t(zh, "size (nodes, log scale)", "规模（节点数，对数轴）"))
    return apply_theme(fig, title, 420)


def jacobian_cost_figure(fwd, rev, title: str = "Cost of the full Jacobian", zh: bool = False) -> go.Figure:
    """Sweeps and measured rule applications for forward vs reverse mode."""
    fig = go.Figure()
    modes = [_t(zh, "forward mode (JVP)", "前向模式 (JVP)"), _t(zh, "reverse mode (VJP)", "反向模式 (VJP)")]
    fig.add_bar(x=modes, y=[fwd.sweeps, rev.sweeps], name=_t(zh, "sweeps", "扫描次数"),
                marker_color=[MEANING["forward"], MEANING["backward"]],
                text=[fwd.sweeps, rev.sweeps], textposition="outside")
    fig.add_scatter(x=modes, y=[fwd.rule_calls, rev.rule_calls],
                    name=_t(zh, "rule applications (measured)", "求导规则调用次数（实测）"),
                    mode="markers+text", text=[fwd.rule_calls, rev.rule_calls],
                    textposition="top right", marker=dict(size=14, color=OKABE_ITO["black"],
                                                          symbol="diamond"))
    top = max(fwd.sweeps, rev.sweeps, fwd.rule_calls, rev.rule_calls)
    fig.update_yaxes(title=_t(zh, "count (sweeps / rule applications)", "次数（扫描 / 规则调用）"),
                     range=[0, top * 1.2 + 1])     # room for the labels above the tallest mark
    fig.update_xaxes(title=_t(zh, "mode", "模式"))
    return apply_theme(fig, title, 380)
