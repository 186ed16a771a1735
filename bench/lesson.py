"""A scripted lesson for a class: N students walk through every lab, and the server's memory after they leave.

Stages of :func:`run_lesson` (``make loadtest``: N = 30 for 5 minutes; tests use a few labs for seconds):
  1. start K ``streamlit run app.py`` replicas (bench/st_client.py ``Server``; replica k pinned to
     core k mod the core count) with a short session grace (``AISL_SESSION_GRACE_S``: how long
     ui/janitor.py keeps a departed session for a reconnect);
  2. warm-up: on every replica one student visits every lab once and leaves, so every lab's imports
     and first results are in memory; when the servers are idle again their summed RSS is the level
     *before* the class;
  3. the class: N protocol clients (bench/st_client.py) arrive within 2 s, spread over the replicas
     in turn (as nginx's sticky hash spreads browsers, deploy/); each starts at a different
     lab and walks the lesson in catalogue order — on each lab it moves the first control
     ``moves_per_lab`` times (a think time of 3–6 s before every action), then opens the next lab in
     the same session, as the navigation does — until the window ends, then leaves;
  4. after: wait until the janitor has released the departed sessions and the RSS has settled; the
     level *after* must be within 10 % of *before* (a class leaves nothing behind but bounded caches).
Measured: action → settled (p50, p95), lab switches, errors (timeouts, exception elements), RSS
before / peak / after, and how many labs the class visited.
Not modelled: uploads, browsers (bench/bench_load.py has real chromium students), static assets,
nginx itself (tests/browser/test_replicas.py drives real browsers through it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import numpy as np

from bench.st_client import ROOT, ProtocolClient, Server

TIMEOUT_S = 90.0
THINK_S = (3.0, 6.0)
GRACE_S = 5  # ui/janitor.py: departed sessions are closed this long after they disconnect
SETTLE_S = 120.0  # how long to wait for the RSS after the class to settle


def lesson_labs() -> list[str]:
    """Every lab in the catalogue's (the curriculum's) order, home first."""
    from ui.catalog import LABS

    return [lab.page for lab in LABS if (ROOT / "labs" / f"{lab.page}.py").exists()]


@dataclass
class LessonTally:
    actions: list[float] = field(default_factory=list)
    switches: list[float] = field(default_factory=list)  # opening the next lab
    errors: list[str] = field(default_factory=list)
    visited: set[str] = field(default_factory=set)

    def note(self, result, page: str, switch: bool) -> None:
        (self.switches if switch else self.actions).append(result.seconds)
        self.visited.add(page)
        self.errors += [f"{page}: exception element: {e}" for e in result.exceptions]


async def open_lab(client: ProtocolClient, page: str, timeout: float = TIMEOUT_S):
    """Go to ``page`` in the same session, as the navigation does (a new page keeps no widget state)."""
    client.page = "" if page == "home" else page
    client.page_hash, client.values, client.widgets = "", {}, []
    return await client.rerun(timeout)


async def student(
    url_port: int,
    labs: list[str],
    first: int,
    rng: random.Random,
    start: float,
    end: float,
    tally: LessonTally,
    moves_per_lab: int = 2,
) -> None:
    """One student: from lab ``first`` onwards through ``labs`` (wrapping) until ``end``."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    client = ProtocolClient(url_port, labs[first])
    k = first
    try:
        await client.connect(TIMEOUT_S)
        tally.note(await client.rerun(TIMEOUT_S), labs[first], switch=True)
        while True:
            for _ in range(moves_per_lab):
                if not await _think(rng, end):
                    return
                tally.note(await client.move(rng, timeout=TIMEOUT_S), labs[k], switch=False)
            if not await _think(rng, end):
                return
            k = (k + 1) % len(labs)
            tally.note(await open_lab(client, labs[k]), labs[k], switch=True)
    except Exception as exc:  # noqa: BLE001 - a timeout or a closed socket is counted, not raised
        tally.errors.append(f"{labs[k]}: {type(exc).__name__}: {str(exc)[:120]}")
    finally:
        await client.close()


async def _think(rng: random.Random, end: float) -> bool:
    pause = rng.uniform(*THINK_S)
    if time.perf_counter() + pause > end:
        return False
    await asyncio.sleep(pause)
    return True


async def warm_up(port: int, labs: list[str], tally: LessonTally | None = None) -> LessonTally:
    """One student opens every lab once (and moves its first control once), then leaves."""
    tally = LessonTally() if tally is None else tally
    client = ProtocolClient(port, labs[0])
    await client.connect(TIMEOUT_S)
    try:
        for page in labs:
            tally.note(await open_lab(client, page, 300.0), page, switch=True)
            tally.note(await client.move(random.Random(0), timeout=300.0), page, switch=False)
    finally:
        await client.close()
    return tally


async def klass(ports: list[int], labs: list[str], sessions: int, seconds: float, seed: int, moves: int):
    """N students, student i on replica ``ports[i % K]``, starting at lab ``i``."""
    tally = LessonTally()
    rng = random.Random(seed)
    t0 = time.perf_counter()
    end = t0 + seconds
    students = []
    for i in range(sessions):
        port, first = ports[i % len(ports)], i % len(labs)
        arrive = t0 + rng.uniform(0, 2)
        students.append(student(port, labs, first, random.Random(rng.random()), arrive, end, tally, moves))
    await asyncio.gather(*students)
    return tally


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


def settled_rss(servers: list[Server], timeout: float = SETTLE_S, quiet_s: float = 6.0) -> float:
    """The servers' summed RSS once it has stopped falling (sampled every second, for at least
    ``quiet_s`` past the janitor's grace and release; at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    samples: list[float] = []
    while time.monotonic() < deadline:
        samples.append(sum(s.rss_mib() for s in servers))
        window = samples[-int(quiet_s) :]
        if len(samples) > GRACE_S + 2 * quiet_s and max(window) - min(window) < 0.5:
            break
        time.sleep(1.0)
    return samples[-1]


def health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
            return True
    except OSError:
        return False


def server_env(grace_s: float = GRACE_S) -> dict[str, str]:
    return {**os.environ, "AISL_SESSION_GRACE_S": str(grace_s), "AISL_JANITOR_TICK_S": "1"}


def replica_cores(replicas: int, cores: str) -> list[str]:
    """The cores each replica is pinned to: ``cores`` for one replica, else one core each in turn."""
    if replicas == 1:
        return [cores]
    count = os.cpu_count() or 1
    return [str(k % count) for k in range(replicas)]


def run_lesson(
    sessions: int,
    seconds: float,
    labs: list[str] | None = None,
    moves_per_lab: int = 2,
    cores: str = "0",
    seed: int = 0,
    replicas: int = 1,
    quiet_s: float = 6.0,
    classes: int = 1,
) -> dict:
    """Stages 1–4 of the module docstring on ``replicas`` fresh servers (one: pinned to ``cores``)."""
    labs = labs or lesson_labs()
    servers = [Server(c, env=server_env()) for c in replica_cores(replicas, cores)]
    try:
        for server in servers:
            server.wait_ready()
        ports = [server.port for server in servers]
        warm = LessonTally()
        t_warm = time.perf_counter()

        async def warm_all():
            await asyncio.gather(*(warm_up(port, labs, warm) for port in ports))

        asyncio.run(warm_all())
        warm_s = time.perf_counter() - t_warm
        before = settled_rss(servers, quiet_s=quiet_s)
        maps_before = [server.memory_map() for server in servers]
        peak = [before]

        async def run_class(seed: int):
            stop = asyncio.Event()

            async def sample():
                while not stop.is_set():
                    peak.append(sum(server.rss_mib() for server in servers))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            tally = await klass(ports, labs, sessions, seconds, seed, moves_per_lab)
            stop.set()
            await sampler
            return tally

        wall0 = time.perf_counter()
        tally, afters = LessonTally(), []
        for k in range(classes):  # the same lesson again: memory a class leaves must not add up
            one = asyncio.run(run_class(seed + k))
            tally.actions += one.actions
            tally.switches += one.switches
            tally.errors += one.errors
            tally.visited |= one.visited
            afters.append(settled_rss(servers, quiet_s=quiet_s))
        wall = time.perf_counter() - wall0
        after = afters[-1]
        maps_after = [server.memory_map() for server in servers]
        return {
            "sessions": sessions,
            "seconds": seconds,
            "replicas": replicas,
            "labs": len(labs),
            "visited": len(tally.visited),
            "wall_s": wall,
            "warm_up_s": warm_s,
            "warm_up_errors": warm.errors[:5],
            "actions": quantiles(tally.actions),
            "switches": quantiles(tally.switches),
            "errors": len(tally.errors),
            "error_list": tally.errors[:10],
            "classes": classes,
            "rss_mib": {"before": before, "peak": max(peak), "after": after, "after_each": afters},
            "memory_map_mib": {"before": maps_before, "after": maps_after},
            "memory_reports": [
                line
                for server in servers
                for line in server.log_text().splitlines()
                if "memory report" in line or line.startswith("# arenas allocated current")
            ],
            "server_tracebacks": sum(
                server.log_text().count("Traceback (most recent call last)") for server in servers
            ),
        }
    finally:
        for server in servers:
            server.stop()


def rows(r: dict) -> list[dict]:
    """Rows for bench/run.py's table."""
    replicas = r.get("replicas", 1)
    where = f", {replicas} replicas" if replicas > 1 else ""
    name = f"lesson N={r['sessions']}, {r['seconds']:g} s, {r['labs']} labs{where}"
    rss = r["rss_mib"]
    a, s = r["actions"], r["switches"]
    return [
        dict(
            name=f"{name}: errors",
            value=r["errors"],
            unit="",
            target="0",
            note=f"{'; '.join(r['error_list'][:2]) or 'none'}; server tracebacks {r['server_tracebacks']}",
        ),
        dict(
            name=f"{name}: action→settled p95",
            value=a["p95"],
            unit="s",
            target="≤ 1 s",
            note=f"p50 {a['p50']:.2f} s, {a['n']} actions; next lab p50 {s['p50']:.2f} p95 "
            f"{s['p95']:.2f} s ({s['n']} lab switches, {r['visited']} labs visited)",
        ),
        dict(
            name=f"{name}: RSS after the class left / before",
            value=rss["after"] / rss["before"],
            unit="×",
            target="≤ 1.10",
            note=f"before {rss['before']:.0f} MiB (after a warm-up visit of every lab), peak "
            f"{rss['peak']:.0f}, after {rss['after']:.0f} MiB (sessions released by ui/janitor.py)"
            + (
                f"; after each of {len(rss['after_each'])} classes: "
                + " → ".join(f"{v:.0f}" for v in rss["after_each"])
                if len(rss.get("after_each", ())) > 1
                else ""
            ),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.load_report import table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--moves-per-lab", type=int, default=2)
    ap.add_argument("--labs", default="", help="comma list (default: every lab)")
    ap.add_argument("--cores", default="0", help="cores the server is pinned to (one replica)")
    ap.add_argument("--replicas", type=int, default=1, help="servers, one core each in turn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=1, help="the class again this many times")
    ap.add_argument("--json", action="store_true", help="print the result as JSON, not a table")
    args = ap.parse_args(argv)
    labs = [x for x in args.labs.split(",") if x] or None
    before = os.sched_getaffinity(0)
    if args.replicas == 1 and 1 in before and args.cores == "0":
        os.sched_setaffinity(0, {1})  # the clients never take the server's core
    result = run_lesson(
        args.sessions,
        args.seconds,
        labs,
        args.moves_per_lab,
        args.cores,
        args.seed,
        args.replicas,
        classes=args.classes,
    )
    print(json.dumps(result, indent=1) if args.json else table(rows(result)))
    ok = result["errors"] == 0 and result["rss_mib"]["after"] <= 1.10 * result["rss_mib"]["before"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
