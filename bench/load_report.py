"""Rows for bench/run.py's table from the load bench's raw results (bench/bench_load.py).

One scenario's result (a dict, also what ``--json`` writes) becomes rows: errors with their causes,
protocol action → settled p95, first page, server RSS and CPU, the browsers beside the protocol clients
on the same labs, and the heavy user's own time; ``heavy_row`` compares the others' p95 with and
without the heavy user.
"""

from __future__ import annotations


def label(sc: dict) -> str:
    text = f"N={sc['sessions']}" + (f", K={sc['servers']}" if sc["servers"] > 1 else "")
    return text + (" + heavy user" if sc["heavy"] else "")


def _short(error: str) -> str:
    """An error without Streamlit's redaction boilerplate."""
    return error.split(" This app has encountered an error")[0][:100]


def _error_row(name: str, r: dict) -> dict:
    groups = [r["protocol"], r["browser"], r["heavy"]]
    seen = "; ".join(_short(e) for g in groups for e in g["error_list"][:1])
    alerts = sum(g["error_alerts"] for g in groups)
    note = (
        f"{seen or 'none'}; EngineError alerts shown {alerts}; server log: {r['server_tracebacks']} "
        f"tracebacks {'; '.join(r['server_errors'])}"
    )
    return dict(
        name=f"{name}: errors", value=sum(g["errors"] for g in groups), unit="", target="0", note=note[:320]
    )


def _browser_row(name: str, r: dict) -> dict:
    b = r["browser"]
    same, bf = r["protocol_on_browser_labs"], b["sent_to_finished"]
    return dict(
        name=f"{name}: action→settled p95 (browser)",
        value=b["actions"]["p95"],
        unit="s",
        target="≈ protocol",
        note=f"p50 {b['actions']['p50']:.2f} s, key press → settled; rerun sent → "
        f"script_finished p50 {bf['p50']:.2f} p95 {bf['p95']:.2f} s (browser clock) vs "
        f"protocol on the same labs p50 {same['p50']:.2f} p95 {same['p95']:.2f} s; first page "
        f"p50 {b['first_page']['p50']:.2f} s; {b['actions']['n']} actions",
    )


def _demand_row(name: str, r: dict, think_s: float) -> dict:
    """Server CPU per run barely depends on what else shares the core, so it sizes the deployment:
    N students each rerunning every ``think_s`` need N / think_s × (CPU per run) cores."""
    per_run = r["server_cpu_s"] / max(1, r["runs"])
    cores = r["scenario"]["sessions"] / think_s * per_run
    return dict(
        name=f"{name}: server CPU per run",
        value=per_run,
        unit="s",
        target="",
        note=f"{r['runs']} runs; demand at this N ≈ {cores:.1f} cores (one rerun per {think_s:g} s "
        f"each); one process uses at most 1 (one GIL); ≤ 50 % busy per core for short queues",
    )


def rows_for(r: dict, generator_core: int = 1, think_s: float = 4.5) -> list[dict]:
    sc, p, rss = r["scenario"], r["protocol"], r["rss_mib"]
    name = label(sc)
    rows = [
        _error_row(name, r),
        dict(
            name=f"{name}: action→settled p95 (protocol)",
            value=p["actions"]["p95"],
            unit="s",
            target="≤ 1 s",
            note=f"p50 {p['actions']['p50']:.2f} s, max {p['actions']['max']:.2f} s, "
            f"{p['actions']['n']} actions, {sc['seconds']:g} s window",
        ),
        dict(
            name=f"{name}: first page p50 (protocol)",
            value=p["first_page"]["p50"],
            unit="s",
            target="",
            note=f"max {p['first_page']['max']:.2f} s; all arrive within 2 s on a fresh server",
        ),
        dict(
            name=f"{name}: server RSS peak",
            value=rss["peak"],
            unit="MiB",
            target="end within 20 % of peak",
            note=f"start {rss['start']:.0f}, end {rss['end']:.0f} MiB "
            f"(end/peak {rss['end'] / rss['peak']:.2f})",
        ),
        dict(
            name=f"{name}: server CPU",
            value=r["server_cpu_pct"],
            unit="% of a core",
            target="",
            note=f"its core(s) {sc['server_cores']} were busy {r['server_cores_busy_pct']:.0f} % "
            f"(the rest of that is other processes); generator {r['generator_cpu_pct']:.0f} %, "
            f"browsers {r['browser_cpu_pct']:.0f} % (core {generator_core})",
        ),
        _demand_row(name, r, think_s),
    ]
    if r["browser"]["actions"]["n"]:
        rows.append(_browser_row(name, r))
    if sc["heavy"]:
        h = r["heavy"]["actions"]
        rows.append(
            dict(
                name=f"{name}: heavy user's own action p50",
                value=h["p50"],
                unit="s",
                target="",
                note=f"distillation at an unseen (T, α), back to back; {h['n']} retrains; its "
                f"first page {r['heavy']['first_page']['p50']:.1f} s",
            )
        )
    return rows


def heavy_row(base: dict, heavy: dict) -> dict:
    before, after = base["protocol"]["actions"]["p95"], heavy["protocol"]["actions"]["p95"]
    return dict(
        name=f"{label(heavy['scenario'])}: others' p95 / without",
        value=after / before,
        unit="×",
        target="≤ 2×",
        note=f"{after:.2f} s vs {before:.2f} s",
    )


def meets_target(r: dict) -> bool:
    errors = r["protocol"]["errors"] + r["browser"]["errors"]
    return errors == 0 and r["protocol"]["actions"]["p95"] <= 1.0


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | value | unit | target | note |", "|---|---:|---|---|---|"]
    for r in rows:
        v = r["value"]
        shown = f"{v:.3g}" if isinstance(v, float) else str(v)
        lines.append(f"| {r['name']} | {shown} | {r['unit']} | {r['target']} | {r['note']} |")
    return "\n".join(lines)
