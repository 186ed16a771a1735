"""Test set-up: the repository root on sys.path, and shared helpers."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every AppTest session has the same id, so the suite would share one student's heavy-start budget
# (engine/core/limits.py) and fail by timing; tests/test_limits.py checks the limit with its own limiter.
__import__("os").environ.setdefault("AISL_HEAVY_PER_MINUTE", "1000000")

# The served app shows only an uncaught error's type (.streamlit/config.toml, for a hosted class);
# AppTest reads the same file, so give tests the full message and trace to report.
from streamlit import config as _st_config  # noqa: E402

_st_config.set_option("client.showErrorDetails", "full")


import pytest  # noqa: E402
from hypothesis import settings as _hypothesis_settings  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

# Property tests draw the same examples on every machine and every run (derandomize, no example
# database): what passes here passes in CI. Fresh seeds are `make fuzz`'s job (tools/fuzz.py), which
# prints the command that replays a failure; HYPOTHESIS_PROFILE=explore draws fresh ones in pytest.
_hypothesis_settings.register_profile("suite", derandomize=True, database=None)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "suite"))


def open_lab(
    page: str, *, timeout: int = 120, run: bool = True, strict: bool = False, **query: str
) -> AppTest:
    """One lab (``labs/<page>.py``; ``"app"`` is the whole app through its navigation) in AppTest.

    ``query`` becomes the URL's query string. With ``run`` the page runs once and must raise nothing
    (``strict``: and show no ``st.error`` either); without it the caller sets state and runs.
    """
    path = ROOT / "app.py" if page == "app" else ROOT / "labs" / f"{page}.py"
    at = AppTest.from_file(str(path), default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    if run:
        at.run()
        assert not at.exception, at.exception
        if strict:
            assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture(scope="session")
def lab():
    """``lab(page, timeout=120, run=True, strict=False, **query)``: see :func:`open_lab`."""
    return open_lab


# ``make test-fast`` runs ``-m "not slow"``. Which tests are slow is kept in tests/slow_tests.txt (one node-id
# prefix per line, relative to the repository root, e.g. ``tests/test_x.py`` or ``tests/test_x.py::test_y``;
# ``#`` starts a comment), so the list can change without touching the test files themselves.
SLOW_LIST = ROOT / "tests" / "slow_tests.txt"


def slow_prefixes(path: Path = SLOW_LIST) -> list[str]:
    """The node-id prefixes listed in ``path``, comments and blank lines dropped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def is_slow(nodeid: str, prefixes: list[str]) -> bool:
    """A prefix matches a whole file, a test with all its parameters, or one parametrised case."""
    return any(nodeid == p or nodeid.startswith(p + "::") or nodeid.startswith(p + "[") for p in prefixes)


def pytest_collection_modifyitems(config, items):
    # pytest.ini sits in the repository root, so node ids are relative to ROOT, like the list.
    prefixes = slow_prefixes()
    for item in items:
        if is_slow(item.nodeid, prefixes):
            item.add_marker(pytest.mark.slow)
