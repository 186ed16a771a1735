"""Packaging: every third-party import is declared in the right requirements file, the declared pins are
the installed versions, the digits data ships inside the engine, and tests/slow_tests.txt has no stale
entries (it drives ``make test-fast``)."""

from __future__ import annotations

import ast
import functools
import gzip
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

RUNTIME = ("engine", "ui", "viz", "labs", "app.py")  # what the served app imports
DEV = ("bench", "tools", "tests")  # make test / make bench only
# Our own top-level modules: the repository's folders and scripts, and the helpers tests import by name.
LOCAL = {
    p.stem for p in ROOT.iterdir() if p.suffix == ".py" or (p.is_dir() and not p.name.startswith("."))
} | {p.stem for p in (ROOT / "tests").rglob("*.py")}


@pytest.fixture(scope="module")
def conftest(request):
    """tests/conftest.py as pytest loaded it (``import conftest`` could find tests/browser/conftest.py)."""
    plugin = request.config.pluginmanager.get_plugin(str(ROOT / "tests" / "conftest.py"))
    assert plugin is not None and hasattr(plugin, "pytest_collection_modifyitems")
    return plugin


def declared(name: str) -> dict[str, Requirement]:
    """The requirements a file lists itself (``-r`` includes and comments left out), by canonical name."""
    out = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


@functools.cache
def imports(targets: tuple[str, ...]) -> dict[str, set[str]]:
    """Top-level module name -> files importing it (lazy imports inside functions included)."""
    found: dict[str, set[str]] = {}
    for target in targets:
        path = ROOT / target
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".", 1)[0], set()).add(str(file.relative_to(ROOT)))
    return found


def undeclared(targets: tuple[str, ...], allowed: set[str]) -> list[str]:
    dists = packages_distributions()  # import name -> installed distributions providing it
    problems = []
    for module, files in sorted(imports(targets).items()):
        if module in sys.stdlib_module_names or module in LOCAL:
            continue
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        if not providers & allowed:
            problems.append(
                f"{module} (distribution {sorted(providers) or 'not installed'}) "
                f"imported by {sorted(files)[:3]}"
            )
    return problems


def test_runtime_imports_are_declared_in_requirements_txt():
    assert undeclared(RUNTIME, set(declared("requirements.txt"))) == []


def test_dev_imports_are_declared_in_one_of_the_requirements_files():
    allowed = set(declared("requirements.txt")) | set(declared("requirements-dev.txt"))
    assert undeclared(DEV, allowed) == []


def test_the_import_scan_sees_lazy_and_from_imports():
    found = imports(RUNTIME)
    assert "engine/interop/ort_compare.py" in found["onnxruntime"]  # imported inside a function
    assert "google" in found and "threadpoolctl" in found  # from-import, engine-internal


def test_runtime_and_dev_requirements_do_not_overlap_and_test_tools_stay_dev_only():
    runtime, dev = declared("requirements.txt"), declared("requirements-dev.txt")
    assert set(runtime) & set(dev) == set()
    assert {"pytest", "hypothesis", "scikit-learn", "scipy", "playwright"} <= set(dev)
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_pin_is_the_installed_version(name):
    wrong = []
    for dist, req in declared(name).items():
        try:
            installed = version(dist)
        except PackageNotFoundError:
            wrong.append(f"{req}: not installed")
            continue
        if not req.specifier.contains(installed, prereleases=True):
            wrong.append(f"{req}: installed {installed}")
    assert wrong == []


def test_digits_data_ships_with_its_source_and_licence_note():
    from engine.compression.datasets import DIGITS_FILE

    assert DIGITS_FILE.is_relative_to(ROOT / "engine") and DIGITS_FILE.is_file()
    with gzip.open(DIGITS_FILE, "rt") as f:
        rows = f.read().splitlines()
    assert len(rows) == 1797 and all(len(r.split(",")) == 65 for r in rows)
    note = (DIGITS_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "BSD 3-Clause" in note and "archive.ics.uci.edu" in note
    assert "scikit-learn" not in " ".join(declared("requirements.txt"))
    assert "engine/compression/data" not in (ROOT / ".dockerignore").read_text(encoding="utf-8")


WRONG_SHAPE = gzip.compress(b"1,2,3\n4,5,6\n", mtime=0)  # mtime fixed: xdist workers need equal ids


@pytest.mark.parametrize(
    "content",
    [None, b"", b"not gzip at all", WRONG_SHAPE],
    ids=["missing", "empty", "not-gzip", "wrong-shape"],
)
def test_a_missing_or_damaged_digits_file_is_an_engine_error(tmp_path, monkeypatch, content):
    from engine.compression import datasets
    from engine.core.errors import EngineError

    path = tmp_path / "digits.csv.gz"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(datasets, "DIGITS_FILE", path)
    datasets._raw.cache_clear()
    try:
        with pytest.raises(EngineError, match="digits data file"):
            datasets._raw()
    finally:
        monkeypatch.undo()
        datasets._raw.cache_clear()
    assert datasets._raw()[0].shape == (1797, 64)  # the shipped file again


def test_every_slow_list_entry_names_an_existing_test_file(conftest):
    prefixes = conftest.slow_prefixes()
    assert prefixes, "tests/slow_tests.txt lists nothing: make test-fast would run everything"
    files = [Path(p.split("::", 1)[0]) for p in prefixes]
    stale = [
        str(f)
        for f in files
        if not (f.parts[0] == "tests" and f.name.startswith("test_") and (ROOT / f).is_file())
    ]
    assert stale == []
    assert len(prefixes) == len(set(prefixes)), "a duplicated line in tests/slow_tests.txt"


def test_slow_prefixes_match_files_tests_and_parameters_only(conftest):
    is_slow, prefixes = conftest.is_slow, ["tests/test_a.py", "tests/test_b.py::test_x"]
    assert is_slow("tests/test_a.py::test_anything[3]", prefixes)
    assert is_slow("tests/test_b.py::test_x[p0]", prefixes) and is_slow("tests/test_b.py::test_x", prefixes)
    assert not is_slow("tests/test_b.py::test_xy", prefixes)
    assert not is_slow("tests/test_a.py.bak::t", prefixes)
    assert not is_slow("tests/test_b.py::test_y", prefixes)


def test_the_slow_marker_is_registered():
    assert "slow:" in (ROOT / "pytest.ini").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_help_lists_every_phony_target_and_plain_make_stays_the_venv():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    described = {line.split()[0] for line in shown.stdout.splitlines() if len(line.split()) > 1}
    assert set(phony) <= described, set(phony) - described
    goal = subprocess.run(["make", "-pn"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"^\.DEFAULT_GOAL := (.*)$", goal, re.M).group(1) == ".venv/bin/python"
