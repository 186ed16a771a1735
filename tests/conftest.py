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
