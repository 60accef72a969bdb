"""Test configuration shared by the package tests and the nbval run over the chapters.

The chapter budget is enforced here: while nbval re-runs a notebook we add up the time of its
cells, and the session fails if any chapter took longer than EMBEDLAB_CHAPTER_BUDGET_S
(default 90 s, the book's promise for 2 CPU cores; CI may set a looser value for slow runners).
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # tools/chapters.py is imported by the chapter tests

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _notebook_seconds:
        return
    budget = float(os.environ.get("EMBEDLAB_CHAPTER_BUDGET_S", "90"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    over = {p: s for p, s in _notebook_seconds.items() if s > budget}
    if reporter is not None:
        reporter.write_sep("-", "chapter run times under nbval")
        for p, s in sorted(_notebook_seconds.items()):
            reporter.write_line(f"{s:7.1f} s  {p}{'   OVER BUDGET' if p in over else ''}")
    if over:
        if reporter is not None:
            reporter.write_line(f"chapters over the {budget:.0f} s budget: {sorted(over)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
