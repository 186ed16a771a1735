"""A short scripted lesson (bench/lesson.py) against a real server: no errors, and memory comes back.

`make loadtest` runs the same lesson for N = 30 students over every lab for 5 minutes; here 4 students
walk 3 labs for 12 s, so it fits the suite. The server is a real ``streamlit run`` (pinned to core 0),
the students are protocol clients (bench/st_client.py); the janitor (ui/janitor.py) must release the
departed sessions so that the resident memory after the class returns to within 10 % of its level
before (after a warm-up visit of the same labs). On the shared 2-core dev machine the ratio measured
1.0002–1.0018 in three runs (about 190 MiB before), so the issue's 10 % bound is kept as it is; the
run takes about 45 s.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bench.lesson import run_lesson

LABS = ["graph_builder", "autodiff", "roofline"]


def test_short_lesson_has_no_errors_and_gives_its_memory_back():
    # its own thread: asyncio.run() refuses a thread with a running loop (Playwright's, in one process)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(run_lesson, sessions=4, seconds=12.0, labs=LABS, moves_per_lab=1, quiet_s=3.0)
        result = job.result()
    assert result["errors"] == 0, result["error_list"]
    assert result["warm_up_errors"] == []
    assert result["server_tracebacks"] == 0
    assert result["actions"]["n"] >= 4 and result["switches"]["n"] >= 4  # every student did something
    assert result["visited"] >= 2
    rss = result["rss_mib"]
    assert rss["peak"] >= rss["before"]
    assert rss["after"] <= 1.10 * rss["before"], rss
