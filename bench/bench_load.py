"""Class-sized load: N students on one small server, measured with protocol clients, not browsers.

Stages of one scenario (N sessions, K server processes, optionally one heavy user):
  1. start K fresh ``streamlit run app.py`` processes pinned with ``taskset`` (default: all on core 0)
     and pin this load generator to core 1, so the clients never take the server's core;
  2. N students arrive within the first 2 s, each on a different lab (round-robin over ui/catalog.py
     LABS, sticky to server i % K, like a load balancer with sticky sessions): B of them are real
     chromium pages (Playwright, also on core 1), the rest lightweight websocket clients
     (bench/st_client.py) driven by one asyncio loop;
  3. each student moves its page's first control to a new legal value every 3–6 s (seeded) until the
     window ends; the heavy user instead retrains the distillation lab at an unseen (T, α) back to back;
  4. per scenario: errors (failed connections, timeouts, exception elements = a traceback was shown),
     first page (connect → first settled run), action → settled (p50, p95), server RSS (start, peak,
     end) and CPU (utime+stime), and this generator's own CPU.
A browser action is timed from the key press to settled (script_finished and no status widget; includes
the slider's debounce and the render), and, comparable with the protocol figure, from the rerun the
browser sent to the script_finished it received (DevTools timestamps).
Not modelled: network latency, reconnects, static assets (the protocol clients fetch no JS/CSS; the
browsers do).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import resource
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from bench.load_report import heavy_row, meets_target, rows_for, table
from bench.st_client import ROOT, ProtocolClient, Server

TIMEOUT_S = 60.0  # an action still unsettled after this counts as an error
FIRST_PAGE_TIMEOUT_S = 120.0
BROWSER_PAGES = ("collectives", "pipeline_parallel", "execution_models")  # a slider in the main area
GENERATOR_CORE = 1
MEAN_THINK_S = 4.5  # students move a control every 3–6 s


@dataclass(frozen=True)
class Scenario:
    sessions: int
    seconds: float
    browsers: int = 2
    servers: int = 1
    server_cores: str = "0"  # comma list; server k is pinned to core k % len
    heavy: bool = False
    seed: int = 0


@dataclass
class Tally:
    """What one group of students (protocol, browser, heavy) saw."""

    first_page: list[float] = field(default_factory=list)
    actions: list[float] = field(default_factory=list)
    sent_to_finished: list[float] = field(default_factory=list)  # browsers: rerun sent → finished
    errors: list[str] = field(default_factory=list)
    error_alerts: int = 0
    by_page: dict[str, list[float]] = field(default_factory=dict)  # action times per lab

    def record(self, result, first: bool = False, page: str = "") -> None:
        (self.first_page if first else self.actions).append(result.seconds)
        if not first:
            self.by_page.setdefault(page, []).append(result.seconds)
        self.errors += [f"exception element: {e}" for e in result.exceptions]
        self.error_alerts += result.error_alerts


def pages_for(count: int, first: tuple[str, ...] = ()) -> list[str]:
    """``count`` labs round-robin over the catalogue, ``first`` (the browsers' labs) leading, so a
    protocol client works on each browser's lab too and the two can be compared like for like."""
    from ui.catalog import LABS

    labs = [lab.page for lab in LABS if (ROOT / "labs" / f"{lab.page}.py").exists()]
    labs = [*first, *(lab for lab in labs if lab not in first)]
    return [labs[i % len(labs)] for i in range(count)]


async def protocol_student(
    port: int, page: str, rng: random.Random, start: float, end: float, tally: Tally
) -> None:
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    client = ProtocolClient(port, page)
    try:
        t0 = time.perf_counter()
        await client.connect(FIRST_PAGE_TIMEOUT_S)
        first = await client.rerun(FIRST_PAGE_TIMEOUT_S)
        first.seconds = time.perf_counter() - t0
        tally.record(first, first=True)
        while True:
            think = rng.uniform(MEAN_THINK_S - 1.5, MEAN_THINK_S + 1.5)
            if time.perf_counter() + think > end:
                break
            await asyncio.sleep(think)
            tally.record(await client.move(rng, timeout=TIMEOUT_S), page=page)
    except Exception as exc:  # noqa: BLE001 - a timeout or a closed socket is counted, not raised
        tally.errors.append(f"{page}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await client.close()


def heavy_values(seed: int):
    """(T, α) pairs of the distillation lab in a seeded order, the default (4.0, 0.7) left out."""
    temps = [1.0 + 0.5 * k for k in range(39)]
    alphas = [round(0.05 * k, 2) for k in range(21)]
    pairs = [p for p in itertools.product(temps, alphas) if p != (4.0, 0.7)]
    random.Random(seed).shuffle(pairs)
    return iter(pairs)


async def heavy_student(port: int, seed: int, end: float, tally: Tally) -> None:
    """Retrain the distillation lab (3 seeds of students) at an unseen (T, α), back to back."""
    client = ProtocolClient(port, "distillation")
    try:
        await client.connect(FIRST_PAGE_TIMEOUT_S)
        tally.record(await client.rerun(FIRST_PAGE_TIMEOUT_S), first=True)
        by_key = {w.id.rsplit("-", 1)[-1]: w for w in client.widgets}
        for temp, alpha in heavy_values(seed):
            if time.perf_counter() > end:
                break
            client.values[by_key["kd_t"].id] = (by_key["kd_t"], temp)
            client.values[by_key["kd_alpha"].id] = (by_key["kd_alpha"], alpha)
            tally.record(await client.rerun(TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001
        tally.errors.append(f"heavy: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await client.close()


def core_busy(cores: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies of ``cores`` from /proc/stat: how much of the server's cores anything used."""
    busy = total = 0
    for line in open("/proc/stat"):
        name, *ticks = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            values = [int(t) for t in ticks]
            total += sum(values[:8])
            busy += sum(values[:8]) - values[3] - values[4]  # minus idle and iowait
    return busy, total


async def sample_rss(servers: list[Server], stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        out.append(sum(s.rss_mib() for s in servers))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


def quantiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    arr = np.asarray(values)
    return {
        "n": len(values),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
    }


def start_servers(sc: Scenario) -> list[Server]:
    cores = sc.server_cores.split(",")
    servers = [Server(cores[k % len(cores)]) for k in range(sc.servers)]
    for server in servers:
        server.wait_ready()
    return servers


async def drive(sc: Scenario, servers: list[Server]) -> dict:
    """Run every student of the scenario to the end of its window; return the tallies."""
    from bench import load_browser

    rng = random.Random(sc.seed)
    tallies = {"protocol": Tally(), "browser": Tally(), "heavy": Tally()}
    t0 = time.perf_counter()
    end = t0 + sc.seconds
    n_browsers = min(sc.browsers, sc.sessions)
    tasks = []
    for i, page in enumerate(pages_for(sc.sessions - n_browsers, BROWSER_PAGES[:n_browsers])):
        port = servers[i % len(servers)].port
        tasks.append(
            protocol_student(
                port, page, random.Random(rng.random()), t0 + rng.uniform(0, 2), end, tallies["protocol"]
            )
        )
    if sc.heavy:
        tasks.append(heavy_student(servers[-1].port, sc.seed, end, tallies["heavy"]))
    browser_ports = [servers[(sc.sessions - n_browsers + j) % len(servers)].port for j in range(n_browsers)]
    if n_browsers:
        tasks.append(
            load_browser.students(
                browser_ports, BROWSER_PAGES[:n_browsers], rng.random(), end, tallies["browser"]
            )
        )
    await asyncio.gather(*tasks)
    return tallies


async def scenario_async(sc: Scenario, servers: list[Server]) -> dict:
    rss: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(servers, stop, rss))
    cpu0 = [s.cpu_seconds() for s in servers]
    cores = {int(c) for c in sc.server_cores.split(",")}
    busy0 = core_busy(cores)
    gen0, wall0 = time.process_time(), time.perf_counter()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # chromium and its driver, once reaped
    tallies = await drive(sc, servers)
    wall = time.perf_counter() - wall0
    cpu = sum(s.cpu_seconds() - c for s, c in zip(servers, cpu0))
    busy1 = core_busy(cores)
    core_pct = 100 * len(cores) * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    browser_cpu = kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
    await asyncio.sleep(3.0)  # let the server drop the closed sessions before "end"
    stop.set()
    await sampler
    return {
        "scenario": sc.__dict__,
        "wall_s": wall,
        "server_cpu_pct": 100 * cpu / wall,
        "server_cores_busy_pct": core_pct,
        "server_cpu_s": cpu,
        "runs": sum(len(t.first_page) + len(t.actions) for t in tallies.values()),
        "generator_cpu_pct": 100 * (time.process_time() - gen0) / wall,
        "browser_cpu_pct": 100 * browser_cpu / wall,
        "rss_mib": {"start": rss[0], "peak": max(rss), "end": rss[-1]},
        "protocol_on_browser_labs": quantiles(
            [x for lab in tallies["browser"].by_page for x in tallies["protocol"].by_page.get(lab, [])]
        ),
        **{name: summarise(t) for name, t in tallies.items()},
    }


def summarise(t: Tally) -> dict:
    return {
        "first_page": quantiles(t.first_page),
        "actions": quantiles(t.actions),
        "sent_to_finished": quantiles(t.sent_to_finished),
        "errors": len(t.errors),
        "error_list": t.errors[:10],
        "error_alerts": t.error_alerts,
    }


def log_errors(log: str) -> dict:
    """How many tracebacks the servers logged, and their distinct final lines (most frequent first)."""
    finals = [line for line in log.splitlines() if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    counts = sorted(((finals.count(f), f) for f in set(finals)), reverse=True)
    return {
        "server_tracebacks": log.count("Traceback (most recent call last)"),
        "server_errors": [f"{n}× {line[:160]}" for n, line in counts[:3]],
    }


def run_scenario(sc: Scenario) -> dict:
    """One scenario on fresh servers, this process pinned to the generator core meanwhile."""
    before = os.sched_getaffinity(0)
    servers = start_servers(sc)
    try:
        os.sched_setaffinity(0, {GENERATOR_CORE} if GENERATOR_CORE in before else before)
        result = asyncio.run(scenario_async(sc, servers))
        result.update(log_errors("".join(s.log_text() for s in servers)))
        return result
    finally:
        os.sched_setaffinity(0, before)
        for server in servers:
            server.stop()


def measure(
    sessions: list[int],
    seconds: float,
    browsers: int = 2,
    servers: int = 1,
    server_cores: str = "0",
    heavy: bool = True,
    seed: int = 0,
) -> tuple[list[dict], list[dict]]:
    """Every N, then the heavy user beside the largest N that met the target (else the smallest N)."""
    results = [
        run_scenario(Scenario(n, seconds, browsers, servers, server_cores, seed=seed)) for n in sessions
    ]
    rows = [row for r in results for row in rows_for(r, GENERATOR_CORE, MEAN_THINK_S)]
    if heavy and results:
        ok = [r for r in results if meets_target(r)]
        base = max(ok, key=lambda r: r["scenario"]["sessions"]) if ok else results[0]
        sc = Scenario(**{**base["scenario"], "heavy": True})
        with_heavy = run_scenario(sc)
        results.append(with_heavy)
        rows += rows_for(with_heavy, GENERATOR_CORE, MEAN_THINK_S) + [heavy_row(base, with_heavy)]
    return rows, results


def _env_sessions(default: str) -> list[int]:
    return [int(n) for n in os.environ.get("LOAD_SESSIONS", default).split(",") if n.strip()]


def run() -> list[dict]:
    """``make bench``: N = 10, 20, 30 for 30 s each (LOAD_SESSIONS, LOAD_SECONDS, LOAD_BROWSERS,
    LOAD_SERVERS, LOAD_SERVER_CORES override it; the full measurement is 90 s)."""
    rows, _ = measure(
        _env_sessions("10,20,30"),
        float(os.environ.get("LOAD_SECONDS", "30")),
        int(os.environ.get("LOAD_BROWSERS", "2")),
        int(os.environ.get("LOAD_SERVERS", "1")),
        os.environ.get("LOAD_SERVER_CORES", "0"),
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="10,20,30", help="comma list of N")
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--browsers", type=int, default=2, help="real chromium sessions among the N")
    ap.add_argument("--servers", type=int, default=1, help="K streamlit processes, sticky clients")
    ap.add_argument("--server-cores", default="0", help="cores for the servers, round-robin")
    ap.add_argument("--no-heavy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="development: N=2,4 for 12 s, 1 browser")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.sessions, args.seconds, args.browsers = "2,4", 12.0, 1
    rows, results = measure(
        [int(n) for n in args.sessions.split(",")],
        args.seconds,
        args.browsers,
        args.servers,
        args.server_cores,
        not args.no_heavy,
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
