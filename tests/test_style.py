"""House style, checked by ruff (ruff.toml): lint rules (pyflakes, pycodestyle with lines <= 110
characters, import order, bugbear, pyupgrade) over the whole repository, and ruff's formatter over
everything but labs/ (see ruff.toml for why). `make format` applies both fixes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if RUFF is None:
        pytest.fail("ruff is not installed: it is in requirements-dev.txt (make test installs it)")
    return subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint_passes():
    done = _ruff("check", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_applied():
    done = _ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr
